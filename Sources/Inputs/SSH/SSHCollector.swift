import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// The SSH poller (`kind = "ssh"`): runs a device's profile commands over its kept connection, parses each output
/// (TextFSM, regex or JSON) and maps the rows to samples. Connections, sessions and channels live on the engine's I/O
/// threads; this type only builds jobs and turns their results into a `PollOutcome`.
public final class SSHCollector: Collector {
    public let kind = "ssh"
    private let engine: SSHEngine
    private let metrics: SelfMetrics?
    private let logger: Logger
    private struct Configured {
        var config: AgentConfiguration
        var catalog: CommandCatalog
    }
    private let state: Mutex<Configured?> = Mutex(nil)

    public init(metrics: SelfMetrics?, logger: Logger, threads: Int = 2) {
        self.metrics = metrics
        self.logger = logger
        engine = SSHEngine(threads: threads, metrics: metrics)
    }

    /// OS threads that carry every SSH session.
    public var ioThreads: Int { engine.threadCount }

    public func configure(_ config: AgentConfiguration) {
        let catalog = Self.catalog(for: config)
        for problem in catalog.problems {
            logger.error("ssh profile problem", metadata: .keys([.error: "\(problem)"]))
        }
        state.withLock { $0 = Configured(config: config, catalog: catalog) }
    }

    /// What `check` reports: every template that does not compile, every mapping that names a missing value.
    public static func problems(_ config: AgentConfiguration) -> [String] {
        guard config.devices.contains(where: { $0.ssh != nil }) || config.profiles.contains(where: \.isSSH) else {
            return []
        }
        // Always compiled anew here: a reload must see templates edited on disk even when the config is unchanged.
        let catalog = CommandCatalog(config: config)
        lastCatalog.withLock { $0 = (config, catalog) }
        return catalog.problems.map(\.description)
    }

    /// The catalog of the config read last: loading compiles and checks it (`problems`) and `configure` then uses the
    /// same one, so the templates of a config are compiled once per start-up or reload, not twice.
    private static let lastCatalog = Mutex<(config: AgentConfiguration, catalog: CommandCatalog)?>(nil)

    static func catalog(for config: AgentConfiguration) -> CommandCatalog {
        if let hit = lastCatalog.withLock({ $0?.config == config ? $0?.catalog : nil }) { return hit }
        let catalog = CommandCatalog(config: config)
        lastCatalog.withLock { $0 = (config, catalog) }
        return catalog
    }

    public var heartbeatAge: Double? { engine.heartbeatAge }

    public func release(_ device: String) { engine.release(device) }

    public func shutdown() async { await engine.shutdown() }

    public func poll(_ device: DeviceConfig) async -> PollOutcome {
        guard let ssh = device.ssh, let configured = state.withLock({ $0 }) else {
            return .failed(PollError(.sessionFailed, "the device has no ssh credential"))
        }
        let config = configured.config
        guard let credential = config.sshCredentials[ssh.credential] else {
            return .failed(PollError(.authFailed, "no SSH credential \"\(ssh.credential)\""))
        }
        let profileNames = configured.catalog.profileNames(for: ssh)
        var compiled: [Result<CompiledCommand, CommandCatalog.Problem>] = []
        for name in profileNames {
            compiled.append(contentsOf: configured.catalog.commands(profile: name, platform: ssh.platform))
        }
        var info = SSHDeviceInfo(
            state: "disconnected", platform: ssh.platform, mode: ssh.mode.rawValue, connections: 0, commands: 0)
        guard !compiled.isEmpty else {
            var outcome = PollOutcome.failed(
                PollError(
                    .parseFailed,
                    ssh.platform == nil
                        ? "no SSH profile: set platform (for the built-in profiles) or profiles"
                        : "no SSH profile for platform \(ssh.platform!)"))
            outcome.ssh = info
            return outcome
        }
        // Names resolve off the I/O threads (getaddrinfo blocks); numeric addresses pass through.
        var host = device.address.host
        if device.address.family == .dns {
            let name = host
            guard let resolved = await DispatchQueue.global().run({ Self.resolve(name) }) else {
                var outcome = PollOutcome.failed(PollError(.connectFailed, "cannot resolve \(name)"))
                outcome.ssh = info
                return outcome
            }
            host = resolved
        }
        // One command once, even when two profiles share it.
        var commands: [String] = []
        for case .success(let command) in compiled where !commands.contains(command.spec.command) {
            commands.append(command.spec.command)
        }
        let target = SSHTarget(
            device: device.name, host: host, knownHostsName: device.address.host, port: ssh.port ?? credential.port,
            credential: credential, platform: ssh.platform, mode: ssh.mode, connectTimeout: ssh.connectTimeout,
            authTimeout: ssh.authTimeout, commandTimeout: ssh.commandTimeout, maxChannels: ssh.maxChannels,
            maxOutputBytes: config.ssh.maxOutputBytes,
            agentKnownHosts: (config.agent.stateDir as NSString).appendingPathComponent("ssh_known_hosts"),
            reconnectBackoff: config.ssh.reconnectBackoff, reconnectBackoffMax: config.ssh.reconnectBackoffMax,
            idleTimeout: config.ssh.idleTimeout, keepalive: config.ssh.keepalive)
        let result = commands.isEmpty ? nil : await engine.run(target, commands: commands)
        var outputs: [String: CommandResult] = [:]
        for (i, command) in commands.enumerated() { outputs[command] = result?.results[i] }

        var samples: [Sample] = []
        var errors: [PollError] = []
        var failures: [String] = []
        var failedCommands = 0
        var parsedCommands = 0
        for entry in compiled {
            let command: CompiledCommand
            switch entry {
            case .failure(let problem):
                errors.append(PollError(.parseFailed, problem.description))
                failedCommands += 1
                continue
            case .success(let c): command = c
            }
            switch outputs[command.spec.command] {
            case .failed(let error)?:
                if !errors.contains(error) { errors.append(error) }
                failedCommands += 1
            case .output(let text)?:
                switch command.rows(text) {
                case .failure(let failure):
                    errors.append(PollError(.parseFailed, "\"\(command.spec.command)\": \(failure.message)"))
                    failures.append("\(command.spec.command): \(failure.message)")
                    metrics?.sshParseFailures.increment()
                    failedCommands += 1
                case .success(let rows):
                    let mapped = command.map(rows)
                    samples.append(contentsOf: mapped.samples)
                    parsedCommands += 1
                    if mapped.parseFailures > 0 {
                        metrics?.sshParseFailures.increment(by: Int64(mapped.parseFailures))
                        errors.append(
                            PollError(
                                .parseFailed,
                                "\"\(command.spec.command)\": \(mapped.parseFailures) value(s) did not parse, first: \(mapped.failures.first ?? "")"
                            ))
                        failures.append(contentsOf: mapped.failures)
                    }
                }
            case nil:
                failedCommands += 1
            }
        }
        if let result {
            info.state = result.info.state
            info.connectedSince = result.info.connectedSince
            info.connectionAgeSeconds = result.info.connectedSince.map { max(0, Date().timeIntervalSince1970 - $0) }
            info.connections = result.info.connections
            info.commands = result.info.commands
            info.hostKey = result.info.hostKey
        }
        info.lastCommandError = errors.first { $0.code != .parseFailed }?.description
        info.parseFailures = failures.isEmpty ? nil : Array(failures.prefix(20))
        let state: DeviceState =
            parsedCommands == 0 ? .down : (errors.isEmpty && failedCommands == 0 ? .up : .degraded)
        var outcome = PollOutcome(
            samples: samples, errors: errors, state: state, varbinds: 0, requests: commands.count, sysObjectID: nil,
            profiles: profileNames)
        outcome.ssh = info
        return outcome
    }

    static func resolve(_ name: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard
            getnameinfo(
                first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                NI_NUMERICHOST) == 0
        else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
