/// How an OCTET STRING is shown (a field's or tag's declared `type`).
public enum TextDisplay: String, Sendable, Equatable, CaseIterable {
    /// `aa:bb:cc:dd:ee:ff`, for any length (an all-zero value is `00:00:00:00:00:00`, never empty).
    case mac
    /// `0x` and two lower-case hex digits a byte.
    case hex
    /// UTF-8 with trailing NULs trimmed; hex when it is not valid UTF-8 or holds control characters.
    case text
    /// InetAddress or IpAddress: 4 bytes dotted, 16 bytes IPv6; hex otherwise.
    case ip
    /// RFC 2579 DateAndTime (8 or 11 bytes) as `2026-11-30T10:00:00.0+01:00`; hex otherwise.
    case dateAndTime = "date_and_time"
}

/// A field's declared `type` in a profile: a metric type (`counter`, `gauge`) or how its text is shown.
public enum FieldType: String, Sendable, Equatable, CaseIterable {
    case counter
    case gauge
    case mac
    case hex
    case text
    case ip
    case dateAndTime = "date_and_time"

    /// The text display this type declares, if it is one.
    public var display: TextDisplay? { TextDisplay(rawValue: rawValue) }
    /// The metric kind this type declares, if it is one.
    public var metric: MetricKind? {
        switch self {
        case .counter: .counter
        case .gauge: .gauge
        default: nil
        }
    }
}

/// A named field and the OID it comes from, with how its text is shown when it is an OCTET STRING (nil: the value
/// decides, see `ValueMapping.text`) and its declared metric kind (nil: the wire type decides). A declared kind wins
/// over the wire type: a device that sends INTEGER for a counter column still yields a counter.
public struct FieldSpec: Sendable, Equatable {
    public var name: String
    public var oid: OID
    public var display: TextDisplay?
    /// `.counter` or `.gauge` when declared.
    public var kind: MetricKind?

    public init(_ name: String, _ oid: OID, display: TextDisplay? = nil, kind: MetricKind? = nil) {
        self.name = name
        self.oid = oid
        self.display = display
        self.kind = kind
    }

    public init(_ name: String, _ oid: OID, type: FieldType?) {
        self.init(name, oid, display: type?.display, kind: type?.metric)
    }
}

/// Scalars fetched with GET into one sample.
public struct ScalarGroup: Sendable, Equatable {
    public var measurement: String
    /// Full instance OIDs (ending in `.0` for scalars).
    public var fields: [FieldSpec]
    /// Text scalars that become tags of this sample instead of info metrics.
    public var tags: [FieldSpec]

    public init(measurement: String, fields: [FieldSpec], tags: [FieldSpec] = []) {
        self.measurement = measurement
        self.fields = fields
        self.tags = tags
    }
}

/// A table walked with GETBULK (GETNEXT on v1); one sample per index.
public struct TableSpec: Sendable, Equatable {
    public enum WalkMode: String, Sendable {
        /// Walk each conceptual row entry (`…Entry`) that holds a listed column: fewest requests for wide use.
        case entry
        /// Walk each listed column on its own: fewest varbinds when only a few columns of a wide table are wanted.
        case columns
    }

    public var measurement: String
    /// Column OIDs (without index).
    public var fields: [FieldSpec]
    /// Column OIDs whose values become tags of the row (e.g. ifName). Their columns are walked too.
    public var indexTags: [FieldSpec]
    /// Name of the tag that carries the row index itself (e.g. `ifIndex`).
    public var indexTag: String
    public var walk: WalkMode

    public init(
        measurement: String, fields: [FieldSpec], indexTags: [FieldSpec], indexTag: String, walk: WalkMode = .entry
    ) {
        self.measurement = measurement
        self.fields = fields
        self.indexTags = indexTags
        self.indexTag = indexTag
        self.walk = walk
    }
}

/// A profile: what to fetch from a device and how to name it.
public struct Profile: Sendable, Equatable {
    public var name: String
    /// sysObjectID prefixes that select this profile automatically.
    public var sysObjectIDPrefixes: [OID]
    public var scalars: [ScalarGroup]
    public var tables: [TableSpec]
    public var builtIn: Bool
    /// `rates = true`: devices polled with this profile get `<counter>_per_second` gauges.
    public var rates = false
    /// `tolerate_unordered`: out-of-order OIDs one walk of a device with this profile accepts.
    public var tolerateUnordered = 0
    /// SSH: the commands of this profile (`[[profiles.commands]]`). A profile is either SNMP or SSH.
    public var commands: [CommandSpec] = []
    /// SSH: the platforms whose devices get this profile when they name no SSH profile (`platforms`).
    public var platforms: [String] = []

    /// An SSH profile: it has commands.
    public var isSSH: Bool { !commands.isEmpty }

    public init(
        name: String, sysObjectIDPrefixes: [OID] = [], scalars: [ScalarGroup] = [], tables: [TableSpec] = [],
        builtIn: Bool = false, commands: [CommandSpec] = [], platforms: [String] = []
    ) {
        self.commands = commands
        self.platforms = platforms
        self.name = name
        self.sysObjectIDPrefixes = sysObjectIDPrefixes
        self.scalars = scalars
        self.tables = tables
        self.builtIn = builtIn
    }
}

/// The profiles chosen for a device, and why: `config` (the device lists them), `sysObjectID rule …`,
/// `sysObjectID prefix …` (a user profile), `probe …` (its sentinel answered) or `default`.
public struct ProfileChoice: Sendable, Equatable, Codable {
    public var profiles: [String]
    public var reasons: [String: String]
    public var sysObjectID: OID?

    public init(profiles: [String], reasons: [String: String], sysObjectID: OID?) {
        self.profiles = profiles
        self.reasons = reasons
        self.sysObjectID = sysObjectID
    }

    /// Profiles the device's config names: they win, and nothing is probed.
    public static func configured(_ profiles: [String]) -> ProfileChoice {
        ProfileChoice(
            profiles: profiles, reasons: Dictionary(profiles.map { ($0, "config") }, uniquingKeysWith: { a, _ in a }),
            sysObjectID: nil)
    }
}
