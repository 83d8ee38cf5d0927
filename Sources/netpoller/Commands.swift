import AgentConfig
import AgentHTTP
import ArgumentParser
import BuiltinPlugins
import Discovery
import Foundation
import Logging
import NetPollerAgent
import NetPollerCore
import NetPollerRuntime
import Pipeline
import SNMPPolling
import ServiceLifecycle
import StdoutOutput
import TextFSM

struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (TOML).")
    var config: String?

    @Option(name: .customLong("config-dir"), help: "Directory of *.conf files, merged in name order after --config.")
    var configDir: String?

    /// Loads and validates; on any problem prints every one of them and exits 78.
    func load() throws -> AgentConfiguration {
        do {
            return try loadOrThrow()
        } catch {
            FileHandle.standardError.write(Data("netpoller: configuration error\n\(error.description)\n".utf8))
            throw ExitCode(ConfigError.exitCode)
        }
    }

    /// Reads the same files again (SIGHUP reload); the problems come back as the error.
    func loadOrThrow() throws(ConfigError) -> AgentConfiguration {
        let fallback = (config == nil && configDir == nil) ? "/etc/netpoller/agent.conf" : config
        let files = try ConfigLoader.files(config: fallback, configDirectory: configDir)
        let config = try ConfigLoader.load(files: files)
        // A certificate or key that does not load is a config error too (check, start and reload).
        let problems = WebSecurity.problems(config.http.web)
        if !problems.isEmpty {
            throw ConfigError(
                problems: problems.map {
                    ConfigProblem(file: config.files.first ?? "", path: "http.web_config_file", message: $0)
                })
        }
        return config
    }
}

func makeLogger(_ config: AgentConfiguration) -> Logger {
    let level = Logger.Level(rawValue: config.log.level) ?? .info
    let format: AgentLogHandler.Format = config.log.format == .json ? .json : .logfmt
    LoggingSystem.bootstrap { label in AgentLogHandler(label: label, level: level, format: format) }
    return Logger(label: "netpoller")
}

@main
struct NetPollerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netpoller",
        abstract: "Polls network devices over SNMP and serves their metrics.",
        subcommands: [Run.self, Check.self, Once.self, Discover.self, Parse.self, Version.self],
        defaultSubcommand: Run.self)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent (default).")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        // First of all: a SIGHUP from now on is queued for after start-up, never the default kill, and a SIGTERM from
        // now on is a graceful stop, even one that comes while the config is read.
        let hangups = SignalQueue(SIGHUP)
        let terminations = SignalQueue(SIGTERM)
        // Before the threads that poll and write allocate: fewer malloc arenas, less memory held apart in each.
        MallocTuning.limitArenas(cores: ProcessInfo.processInfo.activeProcessorCount)
        MallocTuning.limitLargeBlocks()
        let config = try options.load()
        let logger = makeLogger(config)
        let files = FileLimits.raiseToHardMaximum()
        for warning in Preflight.warnings(config) {
            logger.warning("config: \(warning)", metadata: .keys([.phase: "config"]))
        }
        logger.info(
            "config loaded",
            metadata: .keys([
                .phase: "config", .config: "\(config.files.joined(separator: ","))",
                .devices: "\(config.devices.count)", .openFiles: "\(files)",
            ]))
        let options = self.options
        let metrics = SelfMetrics()
        let collectors = BuiltinPlugins.collectors(metrics: metrics, logger: logger, sshThreads: config.ssh.ioThreads)
        // Discovery sends through the SNMP collector's engine: net-snmp keeps its one I/O thread.
        let discovery = collectors.lazy.compactMap { ($0 as? SNMPCollector)?.snmpEngine }.first.map { engine in
            AgentDiscovery(
                transport: engine, registry: metrics.registry, logger: logger,
                inventoryWriters: BuiltinPlugins.inventoryWriters)
        }
        let agent = Agent(
            config: config, logger: logger, metrics: metrics, collectors: collectors,
            outputs: BuiltinPlugins.outputs,
            reloadSource: { () throws(ConfigError) -> AgentConfiguration in try options.loadOrThrow() },
            hangups: hangups, discovery: discovery)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: agent)], gracefulShutdownSignals: [.sigint], logger: logger))
        let stopper = Task {
            for await _ in terminations.signals { await group.triggerGracefulShutdown() }
        }
        defer { stopper.cancel() }
        do {
            try await group.run()
        } catch let error as ListenCheck.Failure {
            logger.critical("\(error.description)", metadata: .keys([.listen: "\(error.address)"]))
            FileHandle.standardError.write(Data("netpoller: \(error.description)\n".utf8))
            throw ExitCode(69)
        } catch let error as SinkStartFailure {
            logger.critical("\(error.description)", metadata: .keys([.sink: "\(error.sink)"]))
            FileHandle.standardError.write(
                Data("netpoller: \(error.description) (on_start_unavailable = \"fail\")\n".utf8))
            throw ExitCode(69)
        } catch let error as StateDirectory.Failure {
            logger.critical("\(error.description)", metadata: .keys([.config: "agent.state_dir"]))
            FileHandle.standardError.write(Data("netpoller: \(error.description)\n".utf8))
            throw ExitCode(StateDirectory.Failure.exitCode)
        } catch let error as SpoolError {
            logger.critical("spool unusable: \(error.description)", metadata: .keys([.spool: "\(error.path)"]))
            FileHandle.standardError.write(Data("netpoller: spool unusable: \(error.description)\n".utf8))
            throw ExitCode(StateDirectory.Failure.exitCode)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config and print a summary (exit 0, or 78 with every problem).")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let problems = Preflight.problems(config)
        if !problems.isEmpty {
            FileHandle.standardError.write(
                Data("netpoller: configuration error\n\(problems.joined(separator: "\n"))\n".utf8))
            throw ExitCode(78)
        }
        for warning in Preflight.warnings(config) { print("warning: \(warning)") }
        print("config ok: \(config.files.joined(separator: ", "))")
        print(
            "agent: \(config.agent.name), interval \(config.agent.interval), max_in_flight \(config.agent.maxInFlight)")
        print(
            "http: \(config.http.listen) (max_connections \(config.http.maxConnections), idle_timeout "
                + "\(config.http.idleTimeout), max_header_bytes \(config.http.maxHeaderBytes))")
        print("devices: \(config.devices.count)")
        for device in config.devices {
            var line = "  \(device.name) \(device.displayAddress)"
            if device.snmpEnabled {
                let profiles = device.profiles?.joined(separator: ",") ?? "auto (by sysObjectID)"
                line += " snmp=\(device.credential) profiles=\(profiles)"
            }
            if let ssh = device.ssh {
                let profiles = ssh.profiles?.joined(separator: ",") ?? "auto (platform \(ssh.platform ?? "none"))"
                line += " ssh=\(ssh.credential) mode=\(ssh.mode.rawValue) ssh_profiles=\(profiles)"
            }
            print(line + " every \(device.interval)")
        }
        // Credentials by name and security, never a secret.
        let credentials = config.credentials.values.sorted { $0.name < $1.name }.map { credential -> String in
            guard let usm = credential.usm else { return "\(credential.name) (v\(credential.version.rawValue))" }
            var text = "\(credential.name) (v3 \(usm.level.rawValue) user=\(usm.username)"
            if let auth = usm.authProtocol { text += " \(auth.rawValue)" }
            if let priv = usm.privProtocol { text += "/\(priv.rawValue)" }
            return text + ")"
        }
        print("credentials: \(credentials.joined(separator: ", "))")
        // SSH logins by name, user, methods and host key policy, never a secret.
        let sshCredentials = config.sshCredentials.values.sorted { $0.name < $1.name }.map { c -> String in
            var methods: [String] = []
            if c.privateKeyFile != nil { methods.append("key") }
            if c.password != nil { methods.append("password") }
            return
                "\(c.name) (user=\(c.username) \(methods.joined(separator: "+")) host_keys=\(c.hostKeyPolicy.rawValue)"
                + "\(c.legacy ? " legacy" : ""))"
        }
        if !sshCredentials.isEmpty { print("ssh credentials: \(sshCredentials.joined(separator: ", "))") }
        let sshCommands = config.allProfiles.values.filter(\.isSSH).reduce(0) { $0 + $1.commands.count }
        if let d = config.discovery {
            let every = d.interval == .zero ? "netpoller discover only" : "every \(d.interval) in run"
            var line = "discovery: networks \(d.networks.map(\.description).joined(separator: ","))"
            if !d.exclude.isEmpty { line += " exclude \(d.exclude.map(\.description).joined(separator: ","))" }
            line +=
                " credentials \(d.credentials.joined(separator: ",")) rate \(d.rate)/s max_depth \(d.maxDepth), \(every)"
            if let dir = d.outputDir { line += ", writes \(dir)/discovered.conf" + (d.autoAdd ? " (auto_add)" : "") }
            print(line)
        }
        if config.devices.contains(where: { $0.ssh != nil }) {
            print("ssh: \(sshCommands) commands in SSH profiles, every template compiled and every mapping checked")
        }
        print("profiles: \(config.allProfiles.keys.sorted().joined(separator: ", "))")
        print("state_dir: \(config.agent.stateDir)")
        let plugins = Dictionary(BuiltinPlugins.outputs.map { ($0.type, $0) }, uniquingKeysWith: { a, _ in a })
        let sinks =
            ["cache (/metrics/devices)"]
            + config.outputs.all.map { plugins[$0.type]?.summary(name: $0.name, settings: $0.settings) ?? $0.name }
        print("sinks: \(sinks.joined(separator: ", "))")
        print("config hash: \(config.hash)")
    }
}

struct Once: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Poll every device (or one) once and print the samples; exit 1 if any device failed.")
    @OptionGroup var options: ConfigOptions

    @Option(help: "Poll only this device.")
    var device: String?

    @Option(help: "Output format: influx (line protocol) or json.")
    var format: String = "influx"

    func run() async throws {
        var config = try options.load()
        config.outputs = OutputsConfig()
        guard let sinkFormat: StdoutSink.Format = format == "influx" ? .influx : format == "json" ? .json : nil else {
            throw ValidationError("--format must be influx or json")
        }
        if let device, !config.devices.contains(where: { $0.name == device }) {
            FileHandle.standardError.write(Data("netpoller: no device named \"\(device)\" in the config\n".utf8))
            throw ExitCode(ConfigError.exitCode)
        }
        let logger = makeLogger(config)
        let metrics = SelfMetrics()
        let agent = Agent(
            config: config, logger: logger, metrics: metrics,
            collectors: BuiltinPlugins.collectors(metrics: metrics, logger: logger, sshThreads: config.ssh.ioThreads))
        let failed = await agent.pollOnce(only: device, sink: StdoutSink(format: sinkFormat))
        // How each device was polled (never a secret): version, security level, engine, request sizes.
        for status in agent.deviceStatuses() {
            guard let snmp = status.snmp, status.polls > 0 else { continue }
            var line = "netpoller: \(status.name): snmp v\(snmp.version)"
            if let level = snmp.securityLevel { line += " \(level) user=\(snmp.username ?? "")" }
            if let engine = snmp.engineID { line += " engine=\(engine)" }
            if let flags = snmp.flags { line += " " + flags.joined(separator: " ") }
            if let learned = snmp.learned {
                line += " get_size=\(learned.getSize) max_repetitions=\(learned.maxRepetitions) \(learned.mode)"
                if learned.pinned { line += " (pinned)" }
            }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        for status in agent.deviceStatuses() where status.lastError != nil {
            FileHandle.standardError.write(
                Data("netpoller: \(status.name): \(status.state.rawValue): \(status.lastError ?? "")\n".utf8))
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

/// `netpoller parse`: a TextFSM template (or the one an ntc-templates index picks) over some CLI output, as JSON —
/// for template authors and scripts. Template and index errors exit 65 with the file, line and reason.
struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse CLI output with a TextFSM template and print the records as JSON.",
        discussion: """
            Either --template FILE, --builtin NAME (a template the agent ships; --builtin list names them), or \
            --platform and --command to pick the template through the index of --templates-dir (an ntc-templates \
            directory; default $NTC_TEMPLATES_DIR). Reads --input, or standard input. Exit 65 on a template error, \
            with the file, line and reason.
            """)

    @Option(help: "A TextFSM template file.")
    var template: String?

    @Option(help: "A built-in template of the SSH profiles (e.g. np_cisco_bgp_summary); \"list\" lists them.")
    var builtin: String?

    @Option(help: "The input (CLI output); default: standard input.")
    var input: String?

    @Option(help: "Platform for the index lookup (e.g. cisco_ios).")
    var platform: String?

    @Option(help: "Command for the index lookup (e.g. \"show ip interface brief\"); abbreviations as the index allows.")
    var command: String?

    @Option(help: "Directory with the templates and their index; default $NTC_TEMPLATES_DIR.")
    var templatesDir: String?

    func fail(_ message: String, _ code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("netpoller: \(message)\n".utf8))
        return ExitCode(code)
    }

    func run() throws {
        let path: String
        var builtinText: String?
        if let builtin {
            if builtin == "list" {
                for name in BuiltinTemplates.all.keys.sorted() { print(name) }
                return
            }
            guard let text = BuiltinTemplates.all[builtin] else {
                throw fail("no built-in template \"\(builtin)\" (netpoller parse --builtin list)", 64)
            }
            path = builtin
            builtinText = text
        } else if let template {
            path = template
        } else if let platform, let command {
            guard let dir = templatesDir ?? ProcessInfo.processInfo.environment["NTC_TEMPLATES_DIR"] else {
                throw fail("--platform/--command need --templates-dir (or NTC_TEMPLATES_DIR)", 64)
            }
            let indexPath = (dir as NSString).appendingPathComponent("index")
            guard let indexText = try? String(contentsOfFile: indexPath, encoding: .utf8) else {
                throw fail("cannot read \(indexPath)", 66)
            }
            let index: TemplateIndex
            do {
                index = try TemplateIndex(indexText, name: indexPath)
            } catch {
                throw fail("\(error)", 65)
            }
            guard let files = index.templates(for: ["Platform": platform, "Command": command]), let first = files.first
            else {
                throw fail("no template in \(indexPath) for platform \(platform), command \"\(command)\"", 65)
            }
            guard files.count == 1 else {
                throw fail(
                    "\(indexPath) names several templates for this command (\(files.joined(separator: ":"))); "
                        + "merging their tables is not supported: parse with --template", 65)
            }
            path = (dir as NSString).appendingPathComponent(first)
        } else {
            throw fail("give --template FILE, or --platform and --command", 64)
        }
        guard let text = builtinText ?? (try? String(contentsOfFile: path, encoding: .utf8)) else {
            throw fail("cannot read template \(path)", 66)
        }
        let compiled: Template
        do {
            compiled = try Template(text, name: path)
        } catch {
            throw fail("\(error)", 65)
        }
        let data: Data
        if let input {
            guard let read = FileManager.default.contents(atPath: input) else { throw fail("cannot read \(input)", 66) }
            data = read
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        do {
            let records = try compiled.parse(String(decoding: data, as: UTF8.self))
            print(RecordValue.json(header: compiled.header, records: records))
        } catch {
            throw fail("\(error)", 65)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("netpoller \(SelfMetrics.version)") }
}
