/// A secret read from the config or a `*_file`. Prints as `<secret>` everywhere.
public struct Secret: Sendable, Equatable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}

public enum SNMPVersion: String, Sendable, Equatable {
    case v1 = "1"
    case v2c = "2c"
    case v3 = "3"
}

/// An SNMPv3 user (`[credentials.snmp.NAME]` with `version = "3"`): the User-based Security Model of RFC 3414.
public struct USMCredential: Sendable, Equatable, Hashable {
    public enum Level: String, Sendable, CaseIterable, Hashable {
        case noAuthNoPriv, authNoPriv, authPriv
    }

    /// The HMAC of authentication. Names as in the config (`SHA` is SHA-1).
    public enum AuthProtocol: String, Sendable, CaseIterable, Hashable {
        case md5 = "MD5"
        case sha = "SHA"
        case sha224 = "SHA224"
        case sha256 = "SHA256"
        case sha384 = "SHA384"
        case sha512 = "SHA512"
    }

    /// The cipher of privacy. `AES192`/`AES256` extend the key as RFC draft Blumenthal does (net-snmp, most vendors);
    /// `AES192C`/`AES256C` as Reeder does (Cisco): a device configured for one rejects the other silently.
    public enum PrivProtocol: String, Sendable, CaseIterable, Hashable {
        case des = "DES"
        case aes = "AES"
        case aes192 = "AES192"
        case aes256 = "AES256"
        case aes192c = "AES192C"
        case aes256c = "AES256C"
    }

    public var username: String
    public var level: Level
    public var authProtocol: AuthProtocol?
    public var authPassword: Secret?
    public var privProtocol: PrivProtocol?
    public var privPassword: Secret?
    public var contextName: String
    /// A fixed authoritative engine ID (`engine_id`): no discovery. nil: discovered and cached.
    public var engineID: [UInt8]?

    public init(
        username: String, level: Level, authProtocol: AuthProtocol? = nil, authPassword: Secret? = nil,
        privProtocol: PrivProtocol? = nil, privPassword: Secret? = nil, contextName: String = "",
        engineID: [UInt8]? = nil
    ) {
        self.username = username
        self.level = level
        self.authProtocol = authProtocol
        self.authPassword = authPassword
        self.privProtocol = privProtocol
        self.privPassword = privPassword
        self.contextName = contextName
        self.engineID = engineID
    }
}

public struct SNMPCredential: Sendable, Equatable {
    public var name: String
    public var version: SNMPVersion
    /// v1 and v2c; empty for v3.
    public var community: Secret
    /// v3 only.
    public var usm: USMCredential?

    public init(name: String, version: SNMPVersion, community: Secret) {
        self.name = name
        self.version = version
        self.community = community
    }

    public init(name: String, usm: USMCredential) {
        self.name = name
        self.version = .v3
        self.community = Secret("")
        self.usm = usm
    }
}

/// A device or listen address: IPv4, IPv6 or DNS name, and a port.
public struct HostAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Equatable { case ipv4, ipv6, dns }

    public var host: String
    public var port: Int
    public var family: Family

    public init(host: String, port: Int, family: Family) {
        self.host = host
        self.port = port
        self.family = family
    }

    public var description: String { family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct AgentSettings: Sendable, Equatable {
    public var name: String
    public var interval: Duration
    public var timeout: Duration
    public var retries: Int
    public var maxInFlight: Int
    public var maxRepetitions: Int
    public var shutdownTimeout: Duration
    public var stateDir: String
    public var queueCapacity: Int
    public var defaultProfiles: [String]
    /// `/ready` also requires every sink to be ok (default false: polling is fine while a sink is degraded).
    public var readyRequiresSinks: Bool
    /// Varbinds one walk may hold (`max_walk_varbinds`); a device's default.
    public var maxWalkVarbinds = 100_000
    /// Wall time one poll may take before no more requests are sent (`poll_budget`); nil: the device's interval.
    public var pollBudget: Duration?
    /// How often each device's profiles are probed again (`reprobe`); a device's default.
    public var reprobe: Duration = .seconds(86_400)
    /// `rates`: add `<counter>_per_second` gauges (a device's default).
    public var rates = false
    /// `learn_request_sizes`: learn each device's GET size, max-repetitions and GETBULK/GETNEXT (a device's default).
    public var learnRequestSizes = true
    /// `get_size`: varbinds per GET PDU (the start of learning; pinned when set on a device).
    public var getSize = 32
    /// `max_get_size`: the largest GET size learning may reach.
    public var maxGetSize = 64
    /// `max_repetitions_limit`: the largest max-repetitions learning may reach.
    public var maxRepetitionsLimit = AgentSettings.defaultMaxRepetitionsLimit
    public static let defaultMaxRepetitionsLimit = 128
    /// `poll_start_window`: the scheduler wakes at most once per window and starts every poll due within half of it
    /// (at most 1/20 of a device's interval), so a fleet is polled, queued and written in batches rather than one
    /// device at a time; no poll starts more than half the window before or after its slot.
    public var pollStartWindow: Duration = .seconds(1)
    /// `max_snmp_sessions`: net-snmp sessions (one socket and ~1.7 KiB each) kept open between polls; beyond it the
    /// least recently used idle one is closed and opened again at its device's next poll.
    public var maxSNMPSessions = AgentSettings.defaultMaxSNMPSessions
    public static let defaultMaxSNMPSessions = 2_000

    public init(
        name: String, interval: Duration, timeout: Duration, retries: Int, maxInFlight: Int, maxRepetitions: Int,
        shutdownTimeout: Duration, stateDir: String, queueCapacity: Int, defaultProfiles: [String],
        readyRequiresSinks: Bool
    ) {
        self.name = name
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.maxInFlight = maxInFlight
        self.maxRepetitions = maxRepetitions
        self.shutdownTimeout = shutdownTimeout
        self.stateDir = stateDir
        self.queueCapacity = queueCapacity
        self.defaultProfiles = defaultProfiles
        self.readyRequiresSinks = readyRequiresSinks
    }
}

public struct HTTPSettings: Sendable, Equatable {
    public var listen: HostAddress
    /// Connections served at once (`max_connections`); a new one beyond it closes the oldest.
    public var maxConnections = 256
    /// A connection with no complete request for this long is closed (`idle_timeout`): slow and idle clients alike.
    public var idleTimeout: Duration = .seconds(10)
    /// Cap on the request line plus headers of one request (`max_header_bytes`); beyond it the connection is closed.
    public var maxHeaderBytes = 16 << 10
    /// Cap on a request body (`max_body_bytes`); every endpoint is a GET, so a GET with a body is refused whatever its
    /// size, and any other request beyond this is answered 413 and closed before it is read.
    public var maxBodyBytes = 64 << 10
    /// `web_config_file`: TLS, basic auth and headers in the Prometheus exporter-toolkit format; nil: plain HTTP.
    public var web: WebSettings?

    public init(listen: HostAddress) {
        self.listen = listen
    }
}

public enum LogFormat: String, Sendable, Equatable { case logfmt, json }

public struct LogSettings: Sendable, Equatable {
    public var level: String
    public var format: LogFormat

    public init(level: String, format: LogFormat) {
        self.level = level
        self.format = format
    }
}

public struct DeviceConfig: Sendable, Equatable {
    public var name: String
    public var address: HostAddress
    public var credential: String
    /// Explicit profiles; nil means "choose by sysObjectID".
    public var profiles: [String]?
    public var interval: Duration
    public var timeout: Duration
    public var retries: Int
    public var maxRepetitions: Int
    public var tags: [Tag]
    /// Varbinds one walk of this device may hold before it ends as `walk_capped`.
    public var maxWalkVarbinds = 100_000
    /// Wall time one poll may take; nil: the interval.
    public var pollBudget: Duration?
    /// How long a profile choice made by probing holds before the device is probed again (`reprobe`).
    public var reprobe: Duration = .seconds(86_400)
    /// `rates` on the device; nil: its profiles' or the agent's.
    public var rates: Bool?
    /// Whether request sizes are learned (`learn_request_sizes`).
    public var learnRequestSizes = true
    /// Varbinds per GET PDU: the start (and ceiling) of learning, or the pinned value (`get_size`).
    public var getSize = 32
    /// `get_size`, `max_repetitions` or `walk_mode` set on the device itself: pinned, not learned.
    public var pinnedGetSize = false
    public var pinnedMaxRepetitions = false
    /// `walk_mode`: `bulk` or `getnext` pinned; nil: learned (GETBULK unless it proves broken).
    public var walkMode: String?
    /// `tolerate_unordered`: how many out-of-order OIDs one walk accepts (each checked against the OIDs seen) before
    /// it ends as `oid_not_increasing`. 0: none (the default).
    public var tolerateUnordered = 0

    /// The poll budget in force: `poll_budget`, else the interval.
    public var effectivePollBudget: Duration { pollBudget ?? interval }

    /// Whether the device is polled over SNMP: it names `snmp`, or it has no `ssh` (then the `default` credential).
    public var snmpEnabled = true
    /// The device's SSH side (`ssh = "CRED"`); nil: not polled over SSH.
    public var ssh: SSHDeviceConfig? {
        get { sshBox?.value }
        set { sshBox = newValue.map(Indirect.init) }
    }
    /// Boxed: 112 bytes inline in every copy of every device's config otherwise, for the devices polled over SSH.
    private var sshBox: Indirect<SSHDeviceConfig>?

    /// Where the device is polled, as `/status` and logs show it: the SNMP address, or for a device polled over SSH
    /// only, its host and SSH port.
    public var displayAddress: String {
        guard !snmpEnabled, let port = ssh?.port else { return address.description }
        return HostAddress(host: address.host, port: port, family: address.family).description
    }

    /// The collectors that poll this device (their `kind` labels), in order: `snmp`, `ssh`.
    public var kinds: [String] {
        var kinds: [String] = []
        if snmpEnabled { kinds.append("snmp") }
        if ssh != nil { kinds.append("ssh") }
        return kinds
    }

    public init(
        name: String, address: HostAddress, credential: String, profiles: [String]?, interval: Duration,
        timeout: Duration, retries: Int, maxRepetitions: Int, tags: [Tag]
    ) {
        self.name = name
        self.address = address
        self.credential = credential
        self.profiles = profiles
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.maxRepetitions = maxRepetitions
        self.tags = tags
    }
}

/// Keys every `[[outputs.*]]` table takes: batching, retries, circuit breaker, buffer, spool, dead letters.
public struct OutputDelivery: Sendable, Equatable {
    /// The pipeline's policy as configured; the agent fills in the spool directory and the default dead-letter path.
    public var policy = DeliveryPolicy()
    public var onStartUnavailable: StartPolicy = .retry

    public init() {
        policy.spool = SpoolPolicy()
    }
}

/// What an output plugin decoded from its own keys of one `[[outputs.<type>]]` table. The agent keeps a running sink
/// across a reload while its settings are equal.
public protocol OutputSettings: Sendable {
    func isEqual(to other: any OutputSettings) -> Bool
}

extension OutputSettings where Self: Equatable {
    public func isEqual(to other: any OutputSettings) -> Bool { (other as? Self) == self }
}

/// One configured output: its plugin's type, its name (unique over all outputs), its settings and delivery keys.
public struct ConfiguredOutput: Sendable, Equatable {
    public var type: String
    public var name: String
    public var settings: any OutputSettings
    public var delivery: OutputDelivery

    public init(type: String, name: String, settings: any OutputSettings, delivery: OutputDelivery) {
        self.type = type
        self.name = name
        self.settings = settings
        self.delivery = delivery
    }

    public static func == (a: ConfiguredOutput, b: ConfiguredOutput) -> Bool {
        a.type == b.type && a.name == b.name && a.delivery == b.delivery && a.settings.isEqual(to: b.settings)
    }
}

/// One output with its settings typed, for a plugin's own accessor (`config.outputs.influxdb`).
public struct TypedOutput<Settings: OutputSettings>: Sendable {
    public var name: String
    public var options: Settings
    public var delivery: OutputDelivery
}

public struct OutputsConfig: Sendable, Equatable {
    /// Every output in config order.
    public var all: [ConfiguredOutput] = []

    public init(_ all: [ConfiguredOutput] = []) { self.all = all }

    /// Every configured sink name with its type.
    public var names: [(name: String, type: String)] { all.map { ($0.name, $0.type) } }

    /// The outputs of one type, with their settings typed.
    public func of<Settings: OutputSettings>(_ type: String, as: Settings.Type) -> [TypedOutput<Settings>] {
        all.compactMap { output in
            guard output.type == type, let options = output.settings as? Settings else { return nil }
            return TypedOutput(name: output.name, options: options, delivery: output.delivery)
        }
    }
}

/// The validated configuration. Nothing in it needs checking again.
public struct AgentConfiguration: Sendable, Equatable {
    public var agent: AgentSettings
    public var http: HTTPSettings
    public var log: LogSettings
    public var credentials: [String: SNMPCredential]
    /// `[credentials.ssh.NAME]`.
    public var sshCredentials: [String: SSHCredential] = [:]
    /// `[ssh]`.
    public var ssh = SSHSettings()
    /// `[discovery]`; nil when the section is absent.
    public var discovery: DiscoverySettings?
    /// The files secrets were read from (`*_file` keys).
    public var secretFiles: [String] = []
    public var devices: [DeviceConfig]
    /// User-defined profiles (the built-in ones are in `BuiltinProfiles`).
    public var profiles: [Profile]
    public var outputs: OutputsConfig
    /// The files it was read from, in merge order.
    public var files: [String]
    /// FNV-1a 64 of the files' bytes in merge order, in hex: which config an agent runs.
    public var hash: String

    public init(
        agent: AgentSettings, http: HTTPSettings, log: LogSettings, credentials: [String: SNMPCredential],
        devices: [DeviceConfig], profiles: [Profile], outputs: OutputsConfig, files: [String], hash: String
    ) {
        self.agent = agent
        self.http = http
        self.log = log
        self.credentials = credentials
        self.devices = devices
        self.profiles = profiles
        self.outputs = outputs
        self.files = files
        self.hash = hash
    }

    /// Built-in and user profiles by name.
    public var allProfiles: [String: Profile] {
        var all: [String: Profile] = [:]
        for profile in BuiltinProfiles.all + BuiltinSSHProfiles.all + profiles { all[profile.name] = profile }
        return all
    }
}

/// One problem in the configuration: where, which key, what is wrong and how to fix it.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var path: String
    public var message: String

    public init(file: String, line: Int? = nil, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// Every problem found, reported together. The process exits 78 (EX_CONFIG) on it.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public static let exitCode: Int32 = 78

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// A Prometheus exporter-toolkit web-config file (`[http] web_config_file`), as read; re-read on SIGHUP.
public struct WebSettings: Sendable, Equatable {
    public enum ClientAuth: String, Sendable, Equatable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"
    }

    public struct TLS: Sendable, Equatable {
        public var certFile: String
        public var keyFile: String
        public var clientCAFile: String?
        public var clientAuth: ClientAuth = .noClientCert
        /// `TLS10` … `TLS13`; default TLS12.
        public var minVersion = "TLS12"
        public var maxVersion: String?

        public init(certFile: String, keyFile: String) {
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public var file: String
    public var tls: TLS?
    /// User name → bcrypt hash. Treated as a secret: never printed.
    public var basicAuthUsers: [String: Secret] = [:]
    /// `http_server_config.headers`, added to every response.
    public var headers: [String: String] = [:]

    public init(file: String) { self.file = file }
}
