import NetPollerCore

/// A decoded SNMP value, faithful to its wire type.
public enum SNMPValue: Sendable, Equatable {
    case integer(Int64)
    case counter32(UInt32)
    case gauge32(UInt32)
    case timeticks(UInt32)
    case counter64(UInt64)
    case octets([UInt8])
    case ipAddress(UInt8, UInt8, UInt8, UInt8)
    case oid(OID)
    case float(Double)
    case opaque([UInt8])
    case null
    case noSuchObject
    case noSuchInstance
    case endOfMibView
}

/// Where and how to reach one agent. `peer` is numeric (names are resolved before, off the I/O thread).
public struct SNMPTarget: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Version: Int, Sendable { case v1 = 0, v2c = 1, v3 = 3 }

    /// net-snmp peer name: `udp:192.0.2.1:161` or `udp6:[2001:db8::1]:161`.
    public var peer: String
    public var version: Version
    public var community: String
    public var timeout: Duration
    public var retries: Int
    /// The SNMPv3 user (v3 only).
    public var usm: USMCredential? {
        get { usmBox?.value }
        set { usmBox = newValue.map(Indirect.init) }
    }
    /// Boxed: a target is kept per device three times (collector, session table key, session), and 88 bytes of
    /// credentials inline in each for v1/v2c devices too.
    private var usmBox: Indirect<USMCredential>?

    public init(peer: String, version: Version, community: String, timeout: Duration, retries: Int) {
        self.peer = peer
        self.version = version
        self.community = community
        self.timeout = timeout
        self.retries = retries
    }

    /// An SNMPv3 target.
    public init(peer: String, usm: USMCredential, timeout: Duration, retries: Int) {
        self.init(peer: peer, version: .v3, community: "", timeout: timeout, retries: retries)
        self.usm = usm
    }

    /// The version as users write it (`1`, `2c`, `3`).
    public var versionName: String {
        switch version {
        case .v1: "1"
        case .v2c: "2c"
        case .v3: "3"
        }
    }

    /// The community and the passwords are secrets: they never appear in a description, so never in a log line or
    /// an error.
    public var description: String {
        if let usm {
            return "\(peer) v3 user=\(usm.username) level=\(usm.level.rawValue) timeout=\(timeout) retries=\(retries)"
        }
        return "\(peer) v\(versionName) community=<secret> timeout=\(timeout) retries=\(retries)"
    }

    public var debugDescription: String { description }
}

/// The rows of one walked subtree, stored flat: one `UInt32` run per row for the OID suffix below `root`.
public struct WalkResult: Sendable {
    public var root: OID
    public var suffixes: [UInt32] = []
    /// End offset in `suffixes` of each varbind's suffix.
    public var ends: [Int32] = []
    public var values: [SNMPValue] = []
    /// Set when the walk ended early; the rows before the error are kept.
    public var error: PollError?
    /// tooBig answers seen (each halved max-repetitions).
    public var tooBig = 0
    /// For `walk_truncated`: the last column that arrived before the walk was cut short.
    public var truncatedAfterColumn: UInt32?
    public var requests = 0
    /// For learning: the largest max-repetitions answered full, the smallest answered tooBig or not at all, and
    /// whether GETBULK proved broken (GETNEXT finished the walk).
    public var fullAt = 0
    public var tooBigAt: Int?
    public var timeoutAt: Int?
    public var bulkBroken = false
    /// Out-of-order OIDs accepted (`tolerate_unordered`).
    public var unordered = 0

    public init(root: OID) { self.root = root }

    public var count: Int { values.count }

    public func suffix(_ i: Int) -> ArraySlice<UInt32> {
        let start = i == 0 ? 0 : Int(ends[i - 1])
        return suffixes[start..<Int(ends[i])]
    }

    /// Room for `more` varbinds whose suffixes are about `suffixLength` long: the three arrays grow once per answer
    /// (at least doubling), not through every doubling from empty (a light walk made ~15 allocations this way).
    public mutating func reserve(_ more: Int, suffixLength: Int) {
        func grow<T>(_ array: inout [T], to need: Int) {
            if array.capacity < need { array.reserveCapacity(max(need, array.capacity * 2)) }
        }
        grow(&values, to: values.count + more)
        grow(&ends, to: ends.count + more)
        grow(&suffixes, to: suffixes.count + more * max(1, suffixLength))
    }

    public mutating func append(suffix: some Collection<UInt32>, value: SNMPValue) {
        suffixes.append(contentsOf: suffix)
        ends.append(Int32(suffixes.count))
        values.append(value)
    }
}

/// The result of a GET: one value per requested OID (`noSuchObject` & co. included), in request order.
public struct GetResult: Sendable {
    public var values: [SNMPValue]
    public var requests = 0
    /// For learning: the largest PDU answered when full (as many varbinds as allowed), and the size of one answered
    /// tooBig.
    public var fullAt = 0
    public var tooBigAt: Int?
    public init(values: [SNMPValue]) { self.values = values }
}

/// What bounds one walk: everything here is controlled by the device, so every walk has a cap.
public struct WalkLimits: Sendable, Equatable {
    public var maxRepetitions: Int
    /// The walk stops with `walk_capped` once it holds this many varbinds (`max_walk_varbinds`).
    public var maxVarbinds: Int
    /// An entry walk's highest listed column: endOfMibView before it is `walk_truncated`. nil for a column walk.
    public var lastColumn: UInt32?
    /// No request is sent after this instant (the poll's `poll_budget`): the walk ends with `walk_capped`.
    public var deadline: ContinuousClock.Instant?
    /// false: GETNEXT only (the device's GETBULK is broken, or `walk_mode = "getnext"`).
    public var bulk = true
    /// Out-of-order OIDs accepted per walk (never one already seen); 0: the first ends the walk.
    public var tolerateUnordered = 0
    /// Whether a timeout may shrink max-repetitions and try again (and fall back to GETNEXT) within the walk.
    public var adaptOnTimeout = false

    public static let defaultMaxVarbinds = 100_000

    public init(
        maxRepetitions: Int, maxVarbinds: Int = WalkLimits.defaultMaxVarbinds, lastColumn: UInt32? = nil,
        deadline: ContinuousClock.Instant? = nil
    ) {
        self.maxRepetitions = maxRepetitions
        self.maxVarbinds = maxVarbinds
        self.lastColumn = lastColumn
        self.deadline = deadline
    }
}

/// The narrow seam under the SNMP poller: the OID → sample mapping is tested through a fake of it.
public protocol SNMPTransport: Sendable {
    func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult
    /// A GET in PDUs of at most `maxPerPDU` varbinds.
    func get(_ target: SNMPTarget, oids: [OID], maxPerPDU: Int) async throws(PollError) -> GetResult
    /// Walks `root` within `limits`; never throws: an error ends the walk and is reported in the result with the rows
    /// so far.
    func walk(_ target: SNMPTarget, root: OID, limits: WalkLimits) async -> WalkResult
    /// A poll's requests in order (`PlanSequence`); by default one `get` and `walk` call at a time.
    func run(_ plan: RequestPlan) async -> PlanResult
}

extension SNMPTransport {
    public func get(_ target: SNMPTarget, oids: [OID], maxPerPDU: Int) async throws(PollError) -> GetResult {
        try await get(target, oids: oids)
    }

    /// A walk with the default caps.
    public func walk(_ target: SNMPTarget, root: OID, maxRepetitions: Int) async -> WalkResult {
        await walk(target, root: root, limits: WalkLimits(maxRepetitions: maxRepetitions))
    }
}
