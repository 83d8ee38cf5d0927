/// An IPv4 address as a number (host order): what discovery sweeps, sorts and compares.
public struct IPv4: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Dotted quad only (`192.0.2.1`); no leading zeros, no shorthand.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let byte = UInt8(part),
                part == "0" || !part.hasPrefix("0")
            else { return nil }
            value = value << 8 | UInt32(byte)
        }
        self.value = value
    }

    /// Four bytes in network order (an IpAddress value or an address inside an index).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 else { return nil }
        value = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = IPv4(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not IPv4"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv4 network in CIDR notation (`192.0.2.0/24`; a bare address is a /32).
public struct IPv4Network: Sendable, Hashable, CustomStringConvertible {
    public var base: IPv4
    public var prefix: Int

    public init(base: IPv4, prefix: Int) {
        precondition((0...32).contains(prefix))
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
        self.base = IPv4(base.value & mask)
        self.prefix = prefix
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case malformed
        /// Host bits set (`192.0.2.1/24`): the base is `192.0.2.0`.
        case hostBits(IPv4Network)

        public var description: String {
            switch self {
            case .malformed: "is not an IPv4 network in CIDR notation (e.g. 192.0.2.0/24)"
            case .hostBits(let network): "has host bits set (did you mean \(network)?)"
            }
        }
    }

    public static func parse(_ text: String) -> Result<IPv4Network, ParseError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPv4(parts[0]) else { return .failure(.malformed) }
        var prefix = 32
        if parts.count == 2 {
            guard parts[1].count <= 2, parts[1].allSatisfy(\.isASCII), let p = Int(parts[1]), (0...32).contains(p)
            else { return .failure(.malformed) }
            prefix = p
        }
        let network = IPv4Network(base: address, prefix: prefix)
        guard network.base == address else { return .failure(.hostBits(network)) }
        return .success(network)
    }

    public var mask: UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var last: IPv4 { IPv4(base.value | ~mask) }

    public func contains(_ address: IPv4) -> Bool { address.value & mask == base.value }

    /// The addresses a sweep probes: every address, less the network and broadcast addresses of a /30 or larger.
    public var hosts: ClosedRange<UInt32> {
        prefix >= 31 ? base.value...last.value : (base.value + 1)...(last.value - 1)
    }

    public var description: String { "\(base)/\(prefix)" }
}

/// `[discovery]`: where to look, with which credentials, how fast, and what to do with what is found
/// (docs/discovery.md).
public struct DiscoverySettings: Sendable, Equatable {
    /// `networks`: the allow-list. Nothing outside it is ever sent a packet; its order ranks polling addresses.
    public var networks: [IPv4Network] = []
    /// `exclude`: never probed, even inside `networks`.
    public var exclude: [IPv4Network] = []
    /// `seeds`: where a neighbour crawl starts (inside `networks`).
    public var seeds: [IPv4] = []
    /// `sweep`: probe every address of `networks` (false: only the seeds and the neighbours they lead to).
    public var sweep = true
    /// `credentials`: SNMP credential names tried in order; the first that answers wins.
    public var credentials: [String] = []
    /// `port`: the UDP port probed.
    public var port = 161
    /// `rate`: packets per second, every request and retry counted.
    public var rate = 100
    /// `concurrency`: addresses probed at once.
    public var concurrency = 128
    public var timeout: Duration = .seconds(1)
    public var retries = 1
    /// `max_depth`: neighbour hops followed from where a device was found (0: no crawl).
    public var maxDepth = 2
    /// `allow_large`: a network larger than a /16 is accepted.
    public var allowLarge = false
    /// `prefer`: a device's address inside one of these (a management or loopback range) is its polling address.
    public var prefer: [IPv4Network] = []
    /// `max_devices`: devices one run keeps (the rest are counted and reported, not listed).
    public var maxDevices = 10_000
    /// `max_table_rows`: rows read from one neighbour, address or entity table of one device.
    public var maxTableRows = 1_000
    /// `interval`: how often `run` discovers (0: only `netpoller discover`).
    public var interval: Duration = .seconds(6 * 3600)
    /// `output_dir`: where `run` writes `discovered.conf`; nil: nothing is written.
    public var outputDir: String?
    /// `auto_add`: after writing a changed `discovered.conf`, reload as SIGHUP does.
    public var autoAdd = false

    public init() {}

    /// Whether `address` may be probed: inside `networks` and outside `exclude`.
    public func allows(_ address: IPv4) -> Bool {
        networks.contains { $0.contains(address) } && !exclude.contains { $0.contains(address) }
    }

    /// Position of the first network holding `address` (ranks polling addresses); nil if none does.
    public func rank(_ address: IPv4) -> Int? { networks.firstIndex { $0.contains(address) } }
}

/// `/status` → `discovery`: the last run, what it found and changed.
public struct DiscoveryStatus: Sendable, Encodable, Equatable {
    public var runs = 0
    /// Unix seconds.
    public var lastRunTime: Double?
    public var lastRunSeconds: Double?
    public var nextRunTime: Double?
    public var addressesProbed = 0
    public var packets = 0
    public var devices = 0
    public var links = 0
    /// Device names new, changed and gone in the last run (at most 100 each).
    public var new: [String] = []
    public var changed: [String] = []
    public var gone: [String] = []
    /// Addresses answering no credential, and seeds or neighbours answering nothing (at most 100 each).
    public var noCredential: [String] = []
    public var unreachable: [String] = []
    /// The `discovered.conf` written, and whether the last run changed it.
    public var file: String?
    public var fileChanged = false
    public var autoAdd = false
    public var lastError: String?

    public init() {}
}

/// The agent's periodic discovery (`[discovery]` in `run`); implemented over the SNMP engine by the Discovery module.
public protocol DiscoveryRunner: Sendable {
    /// One run against the running config. Returns true when the agent should reload (`auto_add` and the devices of
    /// `discovered.conf` changed).
    func run(_ config: AgentConfiguration) async -> Bool
    var status: DiscoveryStatus? { get }
}

/// One device after merging: what `--format conf` writes as a `[[devices]]` entry.
public struct DiscoveredDevice: Sendable, Equatable, Codable {
    public var identity: String
    public var name: String
    public var address: IPv4
    public var port: Int
    public var credential: String
    public var profiles: [String]
    public var sysObjectID: String
    public var sysName: String
    public var sysDescr: String
    public var engineID: String
    public var serial: String
    /// Every address it answered at or reported as its own, sorted.
    public var addresses: [IPv4]
    /// The addresses it answered at.
    public var answeredAt: [IPv4]
    /// `seed`, `sweep of <network>`, or `<lldp|cdp> neighbour of <device>`.
    public var found: String
    /// When this identity was first seen (from the discovery state), ISO 8601 UTC.
    public var firstSeen: String

    public init(
        identity: String, name: String, address: IPv4, port: Int, credential: String, profiles: [String],
        sysObjectID: String, sysName: String, sysDescr: String, engineID: String, serial: String, addresses: [IPv4],
        answeredAt: [IPv4], found: String, firstSeen: String
    ) {
        self.identity = identity
        self.name = name
        self.address = address
        self.port = port
        self.credential = credential
        self.profiles = profiles
        self.sysObjectID = sysObjectID
        self.sysName = sysName
        self.sysDescr = sysDescr
        self.engineID = engineID
        self.serial = serial
        self.addresses = addresses
        self.answeredAt = answeredAt
        self.found = found
        self.firstSeen = firstSeen
    }

    enum CodingKeys: String, CodingKey {
        case identity, name, address, port, credential, profiles, found, serial, addresses
        case sysObjectID = "sys_object_id"
        case sysName = "sys_name"
        case sysDescr = "sys_descr"
        case engineID = "engine_id"
        case answeredAt = "answered_at"
        case firstSeen = "first_seen"
    }
}

/// A neighbour relation: (local device, local port, remote device, remote port), as the local device reports it.
public struct DiscoveredLink: Sendable, Hashable, Codable, Comparable {
    public var protocolName: String
    public var localDevice: String
    public var localPort: String
    /// A discovered device's name, or the name the neighbour table gives when it is not one.
    public var remoteDevice: String
    public var remotePort: String
    /// Whether `remoteDevice` is a discovered device.
    public var remoteKnown: Bool

    public init(
        protocolName: String, localDevice: String, localPort: String, remoteDevice: String, remotePort: String,
        remoteKnown: Bool
    ) {
        self.protocolName = protocolName
        self.localDevice = localDevice
        self.localPort = localPort
        self.remoteDevice = remoteDevice
        self.remotePort = remotePort
        self.remoteKnown = remoteKnown
    }

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol"
        case localDevice = "local_device"
        case localPort = "local_port"
        case remoteDevice = "remote_device"
        case remotePort = "remote_port"
        case remoteKnown = "remote_known"
    }

    public static func < (a: DiscoveredLink, b: DiscoveredLink) -> Bool {
        (a.localDevice, a.localPort, a.remoteDevice, a.remotePort, a.protocolName)
            < (b.localDevice, b.localPort, b.remoteDevice, b.remotePort, b.protocolName)
    }
}

/// An address that answered no credential.
public struct NoCredential: Sendable, Equatable, Codable {
    public var address: IPv4
    /// The engine ID its SNMPv3 engine-ID probe reported.
    public var engineID: String
    /// The credential names tried (never a secret).
    public var tried: [String]

    public init(address: IPv4, engineID: String, tried: [String]) {
        self.address = address
        self.engineID = engineID
        self.tried = tried
    }

    enum CodingKeys: String, CodingKey {
        case address, tried
        case engineID = "engine_id"
    }
}

/// The merged result of one run: stable order everywhere, so two runs over the same network compare byte for byte.
public struct DiscoveryResult: Sendable, Equatable, Codable {
    public var networks: [String]
    public var devices: [DiscoveredDevice]
    public var links: [DiscoveredLink]
    public var noCredential: [NoCredential]
    public var unreachable: [IPv4]
    /// Neighbours' management addresses outside `networks` (never probed).
    public var outside: [IPv4]

    public init(
        networks: [String], devices: [DiscoveredDevice], links: [DiscoveredLink], noCredential: [NoCredential],
        unreachable: [IPv4], outside: [IPv4]
    ) {
        self.networks = networks
        self.devices = devices
        self.links = links
        self.noCredential = noCredential
        self.unreachable = unreachable
        self.outside = outside
    }

    enum CodingKeys: String, CodingKey {
        case networks, devices, links, unreachable, outside
        case noCredential = "no_credential"
    }
}

/// Writes a discovery run's devices and links somewhere lasting (the PostgreSQL output's inventory tables).
public protocol InventoryWriter: Sendable {
    /// The output's name, for logs and `/status`.
    var name: String { get }
    /// `unixSeconds`: when the run ended (each device's and link's last_seen).
    func write(_ result: DiscoveryResult, at unixSeconds: Double) async throws
}
