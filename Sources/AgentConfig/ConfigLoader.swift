import Foundation
import NetPollerCore
import TOMLKit

/// Loads `--config FILE` and `--config-dir DIR` into a validated `AgentConfiguration`, or every problem at once.
public enum ConfigLoader {
    public static let defaultPort = 161
    public static let defaultListen = "127.0.0.1:9271"

    /// The files to read: `file` first, then every `*.conf` in `directory` in name order.
    public static func files(config: String?, configDirectory: String?) throws(ConfigError) -> [String] {
        var files: [String] = []
        if let config { files.append(config) }
        if let configDirectory {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: configDirectory) else {
                throw ConfigError(problems: [
                    ConfigProblem(
                        file: configDirectory, path: "",
                        message: "cannot read the config directory (does it exist and is it readable?)")
                ])
            }
            let dir = configDirectory.hasSuffix("/") ? String(configDirectory.dropLast()) : configDirectory
            files += names.filter { $0.hasSuffix(".conf") }.sorted().map { "\(dir)/\($0)" }
        }
        if files.isEmpty {
            throw ConfigError(problems: [
                ConfigProblem(file: configDirectory ?? "", path: "", message: "no config file given or found")
            ])
        }
        return files
    }

    /// Reads, merges and validates `files`; `outputs` are the output plugins whose `[[outputs.<type>]]` tables the
    /// config may hold (`BuiltinPlugins.outputs` in the agent).
    public static func load(
        files: [String], outputs: [any OutputPlugin],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        hostName: String = ProcessInfo.processInfo.hostName
    ) throws(ConfigError) -> AgentConfiguration {
        var sources: [(file: String, data: Data?)] = []
        for file in files { sources.append((file, FileManager.default.contents(atPath: file))) }
        return try load(sources: sources, outputs: outputs, environment: environment, hostName: hostName)
    }

    /// Merges and validates config texts as if read from files of these names (nil data: the file could not be read).
    /// The fuzz target feeds it directly.
    public static func load(
        sources: [(file: String, data: Data?)], outputs: [any OutputPlugin], environment: [String: String],
        hostName: String
    ) throws(ConfigError) -> AgentConfiguration {
        let files = sources.map(\.file)
        var problems: [ConfigProblem] = []
        var merged: Node?
        var hash = ConfigHash()
        for (file, data) in sources {
            guard let data else {
                problems.append(ConfigProblem(file: file, path: "", message: "cannot read the file (does it exist?)"))
                continue
            }
            hash.add(Array(data))
            guard data.count <= KeyBounds.maxFileBytes else {
                problems.append(
                    ConfigProblem(
                        file: file, path: "",
                        message: "the file is \(data.count) bytes; a config file may hold at most 4 MiB"))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: file, path: "", message: "the file is not UTF-8 text"))
                continue
            }
            if let bad = KeyBounds.check(text) {
                problems.append(ConfigProblem(file: file, line: bad.line, path: "", message: bad.message))
                continue
            }
            do {
                let table = try TOMLTable(string: text)
                let node = Node(table, file: file, path: "", locator: SourceLocator(text: text))
                // TOMLKit never frees a parsed document (no deinit: LebJe/TOMLKit#26), so every load and reload would
                // keep the whole tree (about 0.9 KiB per device). The node tree above is a copy: free the document's
                // values now (only the empty top-level table, a few dozen bytes, stays).
                table.clear()
                merged = merged.map { $0.merged(with: node) } ?? node
            } catch let error as TOMLParseError {
                problems.append(
                    ConfigProblem(
                        file: file, line: error.source.begin.line, path: "",
                        message: "TOML syntax error: \(error.description)"))
            } catch {
                problems.append(ConfigProblem(file: file, path: "", message: "TOML syntax error"))
            }
        }
        guard problems.isEmpty, let root = merged else { throw ConfigError(problems: problems) }
        let decoder = ConfigDecoder(environment: environment, hostName: hostName)
        let config = decoder.decodeRoot(root, files: files, plugins: outputs)
        if var config, decoder.problems.isEmpty {
            config.hash = hash.hex
            return config
        }
        throw ConfigError(problems: decoder.problems)
    }
}

extension ConfigDecoder {
    func decodeRoot(_ node: Node, files: [String], plugins: [any OutputPlugin]) -> AgentConfiguration? {
        guard var root = ConfigTable(node, path: "", decoder: self) else { return nil }
        defer { root.finish() }
        let agentTable = root.table("agent")
        let agent = decodeAgent(agentTable)
        let http = decodeHTTP(root.table("http"))
        let log = decodeLog(root.table("log"))
        var credentialsTable = root.table("credentials")
        let credentials = decodeCredentials(credentialsTable?.table("snmp"))
        let sshCredentials = decodeSSHCredentials(credentialsTable?.table("ssh"))
        credentialsTable?.finish()
        let ssh = decodeSSH(root.table("ssh"))
        let discovery = decodeDiscovery(root.table("discovery"), credentials: credentials)
        let profiles = decodeProfiles(&root)
        let outputs = decodeOutputs(root.table("outputs"), plugins: plugins)

        var known = Set((BuiltinProfiles.all + BuiltinSSHProfiles.all).map(\.name))
        for (index, profile) in profiles.enumerated() {
            if known.contains(profile.name) {
                root.problem(
                    "profiles", path: "profiles[\(index)].name",
                    "a profile named \"\(profile.name)\" already exists (built-in or earlier); choose another name")
            }
            known.insert(profile.name)
        }
        for (index, name) in agent.defaultProfiles.enumerated() where !known.contains(name) {
            problem(
                agentTable?.node["default_profiles"], "agent.default_profiles[\(index)]",
                "unknown profile \"\(name)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        let sshProfiles = Set((BuiltinSSHProfiles.all + profiles).filter(\.isSSH).map(\.name))
        let devices = decodeDevices(
            &root, agent: agent, credentials: credentials, profiles: known, ssh: ssh, sshCredentials: sshCredentials,
            sshProfiles: sshProfiles)
        var config = AgentConfiguration(
            agent: agent, http: http, log: log, credentials: credentials, devices: devices, profiles: profiles,
            outputs: outputs, files: files, hash: "")
        config.sshCredentials = sshCredentials
        config.ssh = ssh
        config.discovery = discovery
        config.secretFiles = self.log.secretFiles
        return config
    }
}

/// FNV-1a 64 over the config files' bytes, in merge order.
struct ConfigHash {
    private var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: [UInt8]) {
        for byte in bytes + [0] {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
    }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
