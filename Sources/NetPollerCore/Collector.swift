/// The seam between the agent and a way of polling devices (SNMP today; SSH next): a collector turns one device into
/// one `PollOutcome`. The agent owns scheduling, recording, status and metrics; a collector owns its transport, its
/// threads and what it learns about each device (resolved addresses, sysObjectID, sessions).
///
/// Adding a poller is one folder with a type that conforms to this, and one line where the executable lists its
/// collectors (`Sources/netpoller/Plugins.swift`).
public protocol Collector: Sendable {
    /// The devices this collector polls (`DeviceConfig.kind`), and the `kind` label of the poll metrics.
    var kind: String { get }
    /// The config to poll by from now on: called before the first poll and on every reload (profiles, credentials).
    func configure(_ config: AgentConfiguration)
    /// One poll of one device. Never throws: every failure is in the outcome, with its code.
    func poll(_ device: DeviceConfig) async -> PollOutcome
    /// Forgets a device that was removed or changed by a reload (closes its sessions, drops what was learned).
    func release(_ device: String)
    /// Ends polls in flight (they finish as `cancelled`) and stops the collector's threads.
    func shutdown() async
    /// Seconds since the collector's I/O thread last went round its loop, for `/health`; nil if it has none.
    var heartbeatAge: Double? { get }
}

/// What one poll of one device produced.
public struct PollOutcome: Sendable {
    public var samples: [Sample]
    /// Every error of this poll (a failed GET, walks that ended early), in order.
    public var errors: [PollError]
    /// The subset of `errors` that ended a walk early.
    public var walkErrors: [PollError] = []
    public var state: DeviceState
    public var varbinds: Int
    public var requests: Int
    public var sysObjectID: OID?
    public var profiles: [String]
    /// Why each profile was chosen (see `ProfileChoice`), for `/status`; empty when unchanged or unknown.
    public var profileReasons: [String: String] = [:]
    /// How the device is polled over SNMP (version, security level, engine, learned sizes); nil for other kinds.
    public var snmp: SNMPDeviceInfo?
    /// How the device is polled over SSH (connection, last command error, parse failures); nil for other kinds.
    public var ssh: SSHDeviceInfo?
    /// When the device's last answer came, if the transport handed the result back later than that (the SNMP engine
    /// hands a batch's results back together): the poll's duration ends here. nil: when the poll returned.
    public var answeredAt: ContinuousClock.Instant?

    public init(
        samples: [Sample], errors: [PollError], walkErrors: [PollError] = [], state: DeviceState, varbinds: Int,
        requests: Int, sysObjectID: OID?, profiles: [String]
    ) {
        self.samples = samples
        self.errors = errors
        self.walkErrors = walkErrors
        self.state = state
        self.varbinds = varbinds
        self.requests = requests
        self.sysObjectID = sysObjectID
        self.profiles = profiles
    }
}

extension PollOutcome {
    /// A poll that failed before any request: the device is down.
    public static func failed(_ error: PollError) -> PollOutcome {
        PollOutcome(
            samples: [], errors: [error], state: .down, varbinds: 0, requests: 0, sysObjectID: nil, profiles: [])
    }
}
