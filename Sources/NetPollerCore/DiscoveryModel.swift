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
    public var concurrency = 32
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
