import NetPollerCore

/// Everything an I/O thread needs to run one poll's commands on one device: where, as whom, how, and the limits.
struct SSHTarget: Sendable, Equatable {
    var device: String
    /// A numeric address (names are resolved before the job reaches the I/O thread).
    var host: String
    /// The host name as configured: what known_hosts entries are looked up by (with `[host]:port` off port 22).
    var knownHostsName: String
    var port: Int
    var credential: SSHCredential
    var platform: String?
    var mode: SSHMode
    var connectTimeout: Duration
    var authTimeout: Duration
    var commandTimeout: Duration
    var maxChannels: Int
    var maxOutputBytes: Int
    /// The agent's own known_hosts (`<state_dir>/ssh_known_hosts`): read always, written by `accept-new`.
    var agentKnownHosts: String
    var reconnectBackoff: Duration
    var reconnectBackoffMax: Duration
    var idleTimeout: Duration
    var keepalive: Duration

    /// What makes an open connection unusable for this target: another address, login or mode.
    func sameConnection(as other: SSHTarget) -> Bool {
        host == other.host && port == other.port && credential == other.credential && mode == other.mode
            && platform == other.platform
    }
}

/// One command's result.
enum CommandResult: Sendable {
    case output(String)
    case failed(PollError)
}

/// What one job (one poll) got back, with the connection's state after it.
struct SSHJobResult: Sendable {
    var results: [CommandResult]
    var info: SSHConnectionInfo
}

/// The connection as `/status` shows it (see `SSHDeviceInfo`).
struct SSHConnectionInfo: Sendable {
    var state = "disconnected"
    var connectedSince: Double?
    var connections = 0
    var commands = 0
    var hostKey: String?
    /// `--More--` prompts answered in shell mode (paging should be off; a non-zero count says it is not).
    var pagerAnswers = 0
}

/// A poll's commands for one device, and where its result goes. Completed exactly once, on the I/O thread.
final class SSHJob: Sendable {
    let target: SSHTarget
    let commands: [String]
    private let completion: @Sendable (SSHJobResult) -> Void

    init(target: SSHTarget, commands: [String], completion: @escaping @Sendable (SSHJobResult) -> Void) {
        self.target = target
        self.commands = commands
        self.completion = completion
    }

    func complete(_ result: SSHJobResult) { completion(result) }
}

/// Counters the I/O threads bump (self-metrics).
struct SSHCounters: Sendable {
    var connectionsOpened: @Sendable () -> Void = {}
    var commandsRun: @Sendable () -> Void = {}
    var bytesRead: @Sendable (Int) -> Void = { _ in }
    var pagerAnswered: @Sendable () -> Void = {}
}
