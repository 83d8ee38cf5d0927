import CLibPQ
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

    public static func load(
        files: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        hostName: String = ProcessInfo.processInfo.hostName
    ) throws(ConfigError) -> AgentConfiguration {
        var problems: [ConfigProblem] = []
        var merged: Node?
        var hash = ConfigHash()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                problems.append(ConfigProblem(file: file, path: "", message: "cannot read the file (does it exist?)"))
                continue
            }
            hash.add(Array(data))
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: file, path: "", message: "the file is not UTF-8 text"))
                continue
            }
            do {
                let table = try TOMLTable(string: text)
                let node = Node(table, file: file, path: "", locator: SourceLocator(text: text))
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
        var decoder = ConfigDecoder(environment: environment, hostName: hostName)
        let config = decoder.decodeRoot(root, files: files)
        if var config, decoder.problems.isEmpty {
            config.hash = hash.hex
            return config
        }
        throw ConfigError(problems: decoder.problems)
    }
}

extension ConfigDecoder {
    mutating func decodeRoot(_ root: Node, files: [String]) -> AgentConfiguration? {
        let file = files.first ?? ""
        _ = table(root, "", allowed: ["agent", "http", "log", "credentials", "devices", "profiles", "outputs"])
        let agent = decodeAgent(root["agent"], file: file)
        let http = decodeHTTP(root["http"], file: file)
        let log = decodeLog(root["log"])
        let credentials = decodeCredentials(root["credentials"])
        let profiles = decodeProfiles(root["profiles"])
        let outputs = decodeOutputs(root["outputs"])

        var known = Set(BuiltinProfiles.all.map(\.name))
        for (index, profile) in profiles.enumerated() {
            if known.contains(profile.name) {
                problem(
                    root["profiles"].flatMap { if case .array(let a) = $0.value { a[index] } else { nil } },
                    "profiles[\(index)].name",
                    "a profile named \"\(profile.name)\" already exists (built-in or earlier); choose another name")
            }
            known.insert(profile.name)
        }
        for (index, name) in agent.defaultProfiles.enumerated() where !known.contains(name) {
            problem(
                root["agent"]?["default_profiles"], "agent.default_profiles[\(index)]",
                "unknown profile \"\(name)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        let devices = decodeDevices(root["devices"], agent: agent, credentials: credentials, profiles: known)
        return AgentConfiguration(
            agent: agent, http: http, log: log, credentials: credentials, devices: devices, profiles: profiles,
            outputs: outputs, files: files, hash: "")
    }

    mutating func decodeAgent(_ node: Node?, file: String) -> AgentSettings {
        var settings = AgentSettings(
            name: hostName, interval: .seconds(60), timeout: .seconds(2), retries: 2, maxInFlight: 64,
            maxRepetitions: 25, shutdownTimeout: .seconds(10), stateDir: "/var/lib/netpoller", queueCapacity: 100_000,
            defaultProfiles: BuiltinProfiles.defaultSet, readyRequiresSinks: false)
        guard
            let node = table(
                node, "agent",
                allowed: [
                    "name", "interval", "timeout", "retries", "max_in_flight", "max_repetitions",
                    "shutdown_timeout", "state_dir", "queue_capacity", "default_profiles", "ready_requires_sinks",
                ])
        else { return settings }
        if let v = string(node["name"], "agent.name") {
            if v.isEmpty { problem(node["name"], "agent.name", "must not be empty") } else { settings.name = v }
        }
        if let v = duration(node["interval"], "agent.interval", minimum: .seconds(1)) { settings.interval = v }
        if let v = duration(node["timeout"], "agent.timeout", minimum: .milliseconds(10)) { settings.timeout = v }
        if let v = int(node["retries"], "agent.retries", range: 0...10) { settings.retries = v }
        if let v = int(node["max_in_flight"], "agent.max_in_flight", range: 1...100_000) { settings.maxInFlight = v }
        if let v = int(node["max_repetitions"], "agent.max_repetitions", range: 1...200) { settings.maxRepetitions = v }
        if let v = duration(node["shutdown_timeout"], "agent.shutdown_timeout") { settings.shutdownTimeout = v }
        if let v = string(node["state_dir"], "agent.state_dir") { settings.stateDir = v }
        if let v = int(node["queue_capacity"], "agent.queue_capacity", range: 1...100_000_000) {
            settings.queueCapacity = v
        }
        if let v = stringArray(node["default_profiles"], "agent.default_profiles") { settings.defaultProfiles = v }
        if let v = bool(node["ready_requires_sinks"], "agent.ready_requires_sinks") { settings.readyRequiresSinks = v }
        return settings
    }

    mutating func decodeHTTP(_ node: Node?, file: String) -> HTTPSettings {
        var listenText = ConfigLoader.defaultListen
        if let node = table(node, "http", allowed: ["listen"]), let v = string(node["listen"], "http.listen") {
            listenText = v
        }
        switch Self.parseAddress(listenText, defaultPort: 9271) {
        case .success(let address) where address.family != .dns || address.host == "localhost":
            return HTTPSettings(listen: address)
        case .success:
            problem(
                node?["listen"], "http.listen", "\"\(listenText)\" must be an IP address and port (e.g. 127.0.0.1:9271)"
            )
        case .failure(let error):
            problem(node?["listen"], "http.listen", "\"\(listenText)\": \(error.reason) (example: 127.0.0.1:9271)")
        }
        return HTTPSettings(listen: HostAddress(host: "127.0.0.1", port: 9271, family: .ipv4))
    }

    mutating func decodeLog(_ node: Node?) -> LogSettings {
        var settings = LogSettings(level: "info", format: .logfmt)
        guard let node = table(node, "log", allowed: ["level", "format"]) else { return settings }
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        if let v = string(node["level"], "log.level") {
            if levels.contains(v) {
                settings.level = v
            } else {
                problem(
                    node["level"], "log.level", "\"\(v)\" is not a level (one of: \(levels.joined(separator: ", ")))")
            }
        }
        if let v = string(node["format"], "log.format") {
            if let format = LogFormat(rawValue: v) {
                settings.format = format
            } else {
                problem(node["format"], "log.format", "\"\(v)\" is not a format (logfmt or json)")
            }
        }
        return settings
    }

    mutating func decodeCredentials(_ node: Node?) -> [String: SNMPCredential] {
        var result: [String: SNMPCredential] = [:]
        guard let node = table(node, "credentials", allowed: ["snmp"]),
            let snmp = table(node["snmp"], "credentials.snmp", allowed: node["snmp"].map(Self.keys) ?? []),
            case .table(let entries) = snmp.value
        else { return result }
        for (name, entry) in entries {
            let path = "credentials.snmp.\(name)"
            guard let entry = table(entry, path, allowed: ["version", "community", "community_file"]) else { continue }
            var version = SNMPVersion.v2c
            if let text = string(entry["version"], "\(path).version") {
                if let v = SNMPVersion(rawValue: text) {
                    version = v
                } else {
                    problem(
                        entry["version"], "\(path).version",
                        "\"\(text)\" is not supported (use \"1\" or \"2c\"; SNMPv3 comes in a later release)")
                }
            } else if case .int(1) = entry["version"]?.value {
                version = .v1
            }
            if let community = secret(entry, path, key: "community") {
                result[name] = SNMPCredential(name: name, version: version, community: community)
            }
        }
        return result
    }

    static func keys(_ node: Node) -> [String] {
        if case .table(let entries) = node.value { return entries.map(\.key) }
        return []
    }

    mutating func decodeDevices(
        _ node: Node?, agent: AgentSettings, credentials: [String: SNMPCredential], profiles: Set<String>
    ) -> [DeviceConfig] {
        var devices: [DeviceConfig] = []
        var seen: [String: Int] = [:]
        for (index, entry) in tables(node, "devices").enumerated() {
            let path = "devices[\(index)]"
            guard
                let entry = table(
                    entry, path,
                    allowed: [
                        "name", "address", "snmp", "profiles", "interval", "timeout", "retries",
                        "max_repetitions", "tags",
                    ])
            else { continue }
            let name = string(entry["name"], "\(path).name")
            if entry["name"] == nil { problem(entry, "\(path).name", "missing (every device needs a unique name)") }
            if let name {
                if name.isEmpty { problem(entry["name"], "\(path).name", "must not be empty") }
                if let first = seen[name] {
                    problem(
                        entry["name"], "\(path).name",
                        "duplicate device name \"\(name)\" (also devices[\(first)]); names must be unique")
                } else {
                    seen[name] = index
                }
            }
            var address: HostAddress?
            if let text = string(entry["address"], "\(path).address") {
                switch Self.parseAddress(text, defaultPort: ConfigLoader.defaultPort) {
                case .success(let a): address = a
                case .failure(let error):
                    problem(
                        entry["address"], "\(path).address",
                        "\(error.reason) (examples: 192.0.2.1, [2001:db8::1]:161, r1.example.net)")
                }
            } else if entry["address"] == nil {
                problem(entry, "\(path).address", "missing (host or host:port)")
            }
            let credentialName = string(entry["snmp"], "\(path).snmp") ?? "default"
            if credentials[credentialName] == nil {
                let known = credentials.keys.sorted()
                let hint =
                    known.isEmpty
                    ? "define [credentials.snmp.\(credentialName)]"
                    : "known: \(known.joined(separator: ", "))"
                problem(
                    entry["snmp"] ?? entry, "\(path).snmp",
                    entry["snmp"] == nil
                        ? "missing, and no credential named \"default\" exists (\(hint))"
                        : "unknown credential \"\(credentialName)\" (\(hint))")
            }
            var deviceProfiles: [String]?
            if let list = stringArray(entry["profiles"], "\(path).profiles") {
                for (i, p) in list.enumerated() where !profiles.contains(p) {
                    problem(
                        entry["profiles"], "\(path).profiles[\(i)]",
                        "unknown profile \"\(p)\" (known: \(profiles.sorted().joined(separator: ", ")))")
                }
                deviceProfiles = list
            }
            var tags: [Tag] = []
            if let tagNode = entry["tags"] {
                if case .table(let pairs) = tagNode.value {
                    for (key, value) in pairs {
                        if key == "device" {
                            problem(value, "\(path).tags.device", "\"device\" is reserved for the device name")
                        } else if let text = string(value, "\(path).tags.\(key)") {
                            tags.append(Tag(key, text))
                        }
                    }
                } else {
                    problem(tagNode, "\(path).tags", "expected a table (tags = { site = \"ams1\" })")
                }
            }
            tags.sort { $0.key < $1.key }
            let interval = duration(entry["interval"], "\(path).interval", minimum: .seconds(1)) ?? agent.interval
            let timeout = duration(entry["timeout"], "\(path).timeout", minimum: .milliseconds(10)) ?? agent.timeout
            let retries = int(entry["retries"], "\(path).retries", range: 0...10) ?? agent.retries
            let maxRepetitions =
                int(entry["max_repetitions"], "\(path).max_repetitions", range: 1...200) ?? agent.maxRepetitions
            if let name, let address {
                devices.append(
                    DeviceConfig(
                        name: name, address: address, credential: credentialName, profiles: deviceProfiles,
                        interval: interval, timeout: timeout, retries: retries, maxRepetitions: maxRepetitions,
                        tags: tags))
            }
        }
        return devices
    }

    mutating func decodeProfiles(_ node: Node?) -> [Profile] {
        var result: [Profile] = []
        for (index, entry) in tables(node, "profiles").enumerated() {
            let path = "profiles[\(index)]"
            guard let entry = table(entry, path, allowed: ["name", "sysobjectid_prefixes", "scalars", "tables"]) else {
                continue
            }
            guard let name = string(entry["name"], "\(path).name") else {
                if entry["name"] == nil { problem(entry, "\(path).name", "missing") }
                continue
            }
            var profile = Profile(name: name)
            for (i, text) in (stringArray(entry["sysobjectid_prefixes"], "\(path).sysobjectid_prefixes") ?? [])
                .enumerated()
            {
                if let oid = OID(text.hasSuffix(".") ? String(text.dropLast()) : text) {
                    profile.sysObjectIDPrefixes.append(oid)
                } else {
                    problem(
                        entry["sysobjectid_prefixes"], "\(path).sysobjectid_prefixes[\(i)]",
                        "\"\(text)\" is not an OID (example: 1.3.6.1.4.1.9)")
                }
            }
            for (i, scalar) in tables(entry["scalars"], "\(path).scalars").enumerated() {
                let sPath = "\(path).scalars[\(i)]"
                guard let scalar = table(scalar, sPath, allowed: ["measurement", "fields", "tags"]) else { continue }
                let measurement = string(scalar["measurement"], "\(sPath).measurement") ?? name
                let fields = fieldSpecs(scalar["fields"], "\(sPath).fields", required: true)
                let tags = fieldSpecs(scalar["tags"], "\(sPath).tags", required: false)
                profile.scalars.append(ScalarGroup(measurement: measurement, fields: fields, tags: tags))
            }
            for (i, tableNode) in tables(entry["tables"], "\(path).tables").enumerated() {
                let tPath = "\(path).tables[\(i)]"
                guard
                    let tableNode = table(
                        tableNode, tPath, allowed: ["measurement", "fields", "index_tags", "index_tag", "walk"])
                else { continue }
                let measurement = string(tableNode["measurement"], "\(tPath).measurement") ?? name
                let fields = fieldSpecs(tableNode["fields"], "\(tPath).fields", required: true)
                let indexTags = fieldSpecs(tableNode["index_tags"], "\(tPath).index_tags", required: false)
                let indexTag = string(tableNode["index_tag"], "\(tPath).index_tag") ?? "index"
                var walk = TableSpec.WalkMode.entry
                if let text = string(tableNode["walk"], "\(tPath).walk") {
                    if let mode = TableSpec.WalkMode(rawValue: text) {
                        walk = mode
                    } else {
                        problem(tableNode["walk"], "\(tPath).walk", "\"\(text)\" is not a walk mode (entry or columns)")
                    }
                }
                profile.tables.append(
                    TableSpec(
                        measurement: measurement, fields: fields, indexTags: indexTags, indexTag: indexTag, walk: walk)
                )
            }
            if profile.scalars.isEmpty && profile.tables.isEmpty {
                problem(entry, path, "profile \"\(name)\" has neither [[profiles.scalars]] nor [[profiles.tables]]")
            }
            result.append(profile)
        }
        return result
    }

    /// `fields = { name = "1.3.6…" }`.
    mutating func fieldSpecs(_ node: Node?, _ path: String, required: Bool) -> [FieldSpec] {
        guard let node else {
            if required { problem(nil, path, "missing (fields = { name = \"OID\" })") }
            return []
        }
        guard case .table(let pairs) = node.value else {
            problem(node, path, "expected a table of name = \"OID\"")
            return []
        }
        var specs: [FieldSpec] = []
        for (key, value) in pairs {
            guard let text = string(value, "\(path).\(key)") else { continue }
            if let oid = OID(text) {
                specs.append(FieldSpec(key, oid))
            } else {
                problem(value, "\(path).\(key)", "\"\(text)\" is not an OID (example: 1.3.6.1.2.1.2.2.1.10)")
            }
        }
        if required && specs.isEmpty && pairs.isEmpty { problem(node, path, "must list at least one field") }
        return specs
    }

    mutating func decodeOutputs(_ node: Node?) -> OutputsConfig {
        var outputs = OutputsConfig()
        guard let node = table(node, "outputs", allowed: ["stdout", "file", "postgres", "influxdb"]) else {
            return outputs
        }
        var seen: [String: String] = [:]
        for (index, entry) in tables(node["stdout"], "outputs.stdout").enumerated() {
            let path = "outputs.stdout[\(index)]"
            guard let entry = table(entry, path, allowed: ["name", "format"] + Self.deliveryKeys) else { continue }
            let name = sinkName(entry, path, fallback: "stdout", seen: &seen)
            var output = StdoutOutput(name: name, format: format(entry, path))
            output.delivery = delivery(entry, path)
            outputs.stdout.append(output)
        }
        for (index, entry) in tables(node["file"], "outputs.file").enumerated() {
            let path = "outputs.file[\(index)]"
            guard let entry = table(entry, path, allowed: ["name", "path", "format"] + Self.deliveryKeys) else {
                continue
            }
            let name = sinkName(entry, path, fallback: "file", seen: &seen)
            guard let file = string(entry["path"], "\(path).path"), !file.isEmpty else {
                problem(entry, "\(path).path", "is required: the file to append to")
                continue
            }
            var output = FileOutput(name: name, path: file, format: format(entry, path))
            output.delivery = delivery(entry, path)
            outputs.file.append(output)
        }
        for (index, entry) in tables(node["postgres"], "outputs.postgres").enumerated() {
            let path = "outputs.postgres[\(index)]"
            guard let entry = table(entry, path, allowed: Self.postgresKeys + Self.deliveryKeys) else { continue }
            let name = sinkName(entry, path, fallback: "postgres", seen: &seen)
            if let output = postgres(entry, path, name: name) { outputs.postgres.append(output) }
        }
        for (index, entry) in tables(node["influxdb"], "outputs.influxdb").enumerated() {
            let path = "outputs.influxdb[\(index)]"
            guard let entry = table(entry, path, allowed: Self.influxKeys + Self.deliveryKeys) else { continue }
            let name = sinkName(entry, path, fallback: "influxdb", seen: &seen)
            if let output = influx(entry, path, name: name) { outputs.influxdb.append(output) }
        }
        return outputs
    }

    static let influxKeys = [
        "name", "url", "api", "database", "retention_policy", "username", "password", "password_file", "organization",
        "bucket", "token", "token_file", "precision", "gzip", "timeout", "connect_timeout", "tls_ca_file",
        "tls_cert_file", "tls_key_file", "insecure_skip_verify", "create_database",
    ]

    mutating func influx(_ entry: Node, _ path: String, name: String) -> InfluxOutput? {
        guard let url = string(entry["url"], "\(path).url") else {
            problem(entry, "\(path).url", "is required: the server's base URL, e.g. \"http://127.0.0.1:8086\"")
            return nil
        }
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || URL(string: url)?.host == nil {
            problem(entry["url"], "\(path).url", "is not an http:// or https:// URL")
        } else if URL(string: url)?.user != nil || URL(string: url)?.password != nil {
            // The URL is shown in logs and `check`: credentials go in their own keys.
            problem(
                entry["url"], "\(path).url", "must not hold credentials: use username and password_file, or token_file")
        }
        var o = InfluxOptions(name: name, url: url)
        let v2Keys = ["organization", "bucket", "token", "token_file"].filter { entry[$0] != nil }
        if let text = string(entry["api"], "\(path).api") {
            if let api = InfluxOptions.API(rawValue: text) {
                o.api = api
            } else {
                problem(entry["api"], "\(path).api", "\"\(text)\" is not an API (v1 or v2)")
            }
        } else if !v2Keys.isEmpty {
            o.api = .v2
        }
        if let v = string(entry["database"], "\(path).database"), !v.isEmpty { o.database = v }
        o.retentionPolicy = string(entry["retention_policy"], "\(path).retention_policy")
        o.username = string(entry["username"], "\(path).username")
        o.password = secret(entry, path, key: "password", required: false)?.value
        o.organization = string(entry["organization"], "\(path).organization")
        o.bucket = string(entry["bucket"], "\(path).bucket")
        o.token = secret(entry, path, key: "token", required: false)?.value
        if o.api == .v2 {
            for (key, value) in [("organization", o.organization), ("bucket", o.bucket), ("token", o.token)]
            where value == nil {
                problem(entry, "\(path).\(key)", "is required with api = \"v2\"")
            }
        } else if !v2Keys.isEmpty {
            problem(
                entry["api"], "\(path).api", "is \"v1\" but \(v2Keys.joined(separator: ", ")) belong to api = \"v2\"")
        }
        if let text = string(entry["precision"], "\(path).precision") {
            if let precision = LineProtocol.Precision(rawValue: text) {
                o.precision = precision
            } else {
                problem(entry["precision"], "\(path).precision", "\"\(text)\" is not a precision (ns, us, ms or s)")
            }
        }
        if let v = bool(entry["gzip"], "\(path).gzip") { o.gzip = v }
        if let v = duration(entry["timeout"], "\(path).timeout", minimum: .milliseconds(100)) { o.timeout = v }
        if let v = duration(entry["connect_timeout"], "\(path).connect_timeout", minimum: .milliseconds(100)) {
            o.connectTimeout = v
        }
        for (key, keyPath) in [
            ("tls_ca_file", \InfluxOptions.tlsCAFile), ("tls_cert_file", \InfluxOptions.tlsCertFile),
            ("tls_key_file", \InfluxOptions.tlsKeyFile),
        ] {
            guard let file = string(entry[key], "\(path).\(key)") else { continue }
            if FileManager.default.isReadableFile(atPath: file) {
                o[keyPath: keyPath] = file
            } else {
                problem(entry[key], "\(path).\(key)", "cannot read \"\(file)\" (does it exist and is it readable?)")
            }
        }
        if (o.tlsCertFile == nil) != (o.tlsKeyFile == nil) {
            problem(entry, "\(path).tls_cert_file", "tls_cert_file and tls_key_file go together (a client certificate)")
        }
        if let v = bool(entry["insecure_skip_verify"], "\(path).insecure_skip_verify") { o.insecureSkipVerify = v }
        if let v = bool(entry["create_database"], "\(path).create_database") { o.createDatabase = v }
        var output = InfluxOutput(options: o)
        output.delivery = delivery(entry, path)
        return output
    }

    static let postgresKeys = [
        "name", "conninfo", "password", "password_file", "connect_timeout", "statement_timeout", "schema", "retention",
        "partitions_ahead", "series_cache_size",
    ]

    mutating func postgres(_ entry: Node, _ path: String, name: String) -> PostgresOutput? {
        guard let conninfo = string(entry["conninfo"], "\(path).conninfo") else {
            problem(
                entry, "\(path).conninfo",
                "is required: a libpq connection string, e.g. \"host=db1 dbname=metrics user=netpoller\"")
            return nil
        }
        if let message = ConfigLoader.conninfoProblem(conninfo) {
            problem(entry["conninfo"], "\(path).conninfo", "is not a valid libpq connection string: \(message)")
        }
        var output = PostgresOutput(options: PostgresOptions(name: name, conninfo: conninfo))
        output.options.password = secret(entry, path, key: "password", required: false)?.value
        if let v = duration(entry["connect_timeout"], "\(path).connect_timeout", minimum: .seconds(1)) {
            output.options.connectTimeout = v
        }
        if let v = duration(entry["statement_timeout"], "\(path).statement_timeout", minimum: .milliseconds(100)) {
            output.options.statementTimeout = v
        }
        if let v = string(entry["schema"], "\(path).schema") {
            let valid =
                !v.isEmpty && v.count <= 63 && v.first.map { $0 == "_" || ("a"..."z").contains($0) } == true
                && v.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
            if valid {
                output.options.schema = v
            } else {
                problem(
                    entry["schema"], "\(path).schema",
                    "\"\(v)\" is not a usable schema name (lower-case letters, digits and '_', up to 63)")
            }
        }
        if let text = string(entry["retention"], "\(path).retention"), text != "0", !text.isEmpty {
            if let v = duration(entry["retention"], "\(path).retention", minimum: .seconds(86_400)) {
                output.options.retention = v
            }
        }
        if let v = int(entry["partitions_ahead"], "\(path).partitions_ahead", range: 1...60) {
            output.options.partitionsAhead = v
        }
        if let v = int(entry["series_cache_size"], "\(path).series_cache_size", range: 1000...100_000_000) {
            output.options.seriesCacheSize = v
        }
        output.delivery = delivery(entry, path)
        return output
    }

    static let deliveryKeys = [
        "batch_size", "flush_interval", "buffer_size", "write_timeout", "retry_backoff", "retry_backoff_max",
        "circuit_breaker_failures", "circuit_breaker_cooldown", "on_start_unavailable", "dead_letter_file", "spool",
    ]

    mutating func format(_ entry: Node, _ path: String) -> StdoutFormat {
        guard let text = string(entry["format"], "\(path).format") else { return .influx }
        if let format = StdoutFormat(rawValue: text) { return format }
        problem(entry["format"], "\(path).format", "\"\(text)\" is not a format (influx or json)")
        return .influx
    }

    /// The sink's name: unique over all outputs and usable as a directory name (its spool lives under it).
    mutating func sinkName(_ entry: Node, _ path: String, fallback: String, seen: inout [String: String]) -> String {
        let name = string(entry["name"], "\(path).name") ?? fallback
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || "-_.".unicodeScalars
                    .contains($0)
        }
        if name.isEmpty || !allowed || name.hasPrefix(".") {
            problem(
                entry["name"] ?? entry, "\(path).name",
                "\"\(name)\" is not a usable sink name (letters, digits, '-', '_', '.'; it names the spool directory)")
        } else if let other = seen[name] {
            problem(
                entry["name"] ?? entry, "\(path).name",
                "the sink name \"\(name)\" is already used by \(other); give each output its own name = \"…\"")
        }
        seen[name] = path
        return name
    }

    mutating func delivery(_ entry: Node, _ path: String) -> OutputDelivery {
        var d = OutputDelivery()
        if let v = int(entry["batch_size"], "\(path).batch_size", range: 1...1_000_000) { d.policy.batchSize = v }
        if let v = duration(entry["flush_interval"], "\(path).flush_interval") { d.policy.flushInterval = v }
        if let v = int(entry["buffer_size"], "\(path).buffer_size", range: 1...100_000_000) {
            d.policy.bufferSamples = v
        }
        if let v = duration(entry["write_timeout"], "\(path).write_timeout", minimum: .milliseconds(10)) {
            d.policy.writeTimeout = v
        }
        if let v = duration(entry["retry_backoff"], "\(path).retry_backoff") { d.policy.retryBackoff = v }
        if let v = duration(entry["retry_backoff_max"], "\(path).retry_backoff_max") { d.policy.retryBackoffMax = v }
        if d.policy.retryBackoffMax < d.policy.retryBackoff {
            problem(
                entry["retry_backoff_max"], "\(path).retry_backoff_max",
                "must not be shorter than retry_backoff (\(d.policy.retryBackoff))")
        }
        if let v = int(entry["circuit_breaker_failures"], "\(path).circuit_breaker_failures", range: 1...1000) {
            d.policy.breakerFailures = v
        }
        if let v = duration(entry["circuit_breaker_cooldown"], "\(path).circuit_breaker_cooldown") {
            d.policy.breakerCooldown = v
        }
        if let text = string(entry["on_start_unavailable"], "\(path).on_start_unavailable") {
            if let v = StartPolicy(rawValue: text) {
                d.onStartUnavailable = v
            } else {
                problem(
                    entry["on_start_unavailable"], "\(path).on_start_unavailable",
                    "\"\(text)\" is not a policy (retry or fail)")
            }
        }
        if let v = string(entry["dead_letter_file"], "\(path).dead_letter_file") { d.policy.deadLetterPath = v }
        guard
            let node = table(
                entry["spool"], "\(path).spool", allowed: ["enabled", "fsync", "max_bytes", "max_age", "segment_bytes"])
        else { return d }
        let p = "\(path).spool"
        var spool = SpoolPolicy()
        if let text = string(node["fsync"], "\(p).fsync") {
            if text == "always" {
                spool.fsync = .always
            } else if let v = Self.parseDuration(text), v >= .milliseconds(1) {
                spool.fsync = .interval(v)
            } else {
                problem(node["fsync"], "\(p).fsync", "\"\(text)\" is neither \"always\" nor a duration (e.g. 1s)")
            }
        }
        if let v = byteSize(node["max_bytes"], "\(p).max_bytes", minimum: 64 << 10) { spool.maxBytes = v }
        if let v = duration(node["max_age"], "\(p).max_age", minimum: .seconds(1)) { spool.maxAge = v }
        if let v = byteSize(node["segment_bytes"], "\(p).segment_bytes", minimum: 4096) { spool.segmentBytes = Int(v) }
        d.policy.spool = bool(node["enabled"], "\(p).enabled") == false ? nil : spool
        return d
    }
}

extension ConfigLoader {
    /// libpq's own verdict on a connection string, with quoted parts cut out of its message (they could be a
    /// password); nil when it parses.
    public static func conninfoProblem(_ conninfo: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(conninfo, &error) {
            PQconninfoFree(options)
            return nil
        }
        guard let error else { return "libpq cannot parse it" }
        defer { PQfreemem(error) }
        let text = String(cString: error).trimmingCharacters(in: .whitespacesAndNewlines)
        // An unknown keyword is safe to name; any other quoted part may be a value.
        if text.hasPrefix("invalid connection option") { return text }
        // Quoted parts longer than one character ("=" is kept) are cut.
        let parts = text.split(separator: "\"", omittingEmptySubsequences: false)
        let message = parts.enumerated().map { index, part in
            index % 2 == 0 || part.count <= 1 ? String(part) : "…"
        }.joined(separator: "\"")
        return message.split(whereSeparator: \.isNewline).joined(separator: " ")
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
