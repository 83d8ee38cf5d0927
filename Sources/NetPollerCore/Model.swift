/// How a field behaves over time; decides the Prometheus type and how sinks store it.
public enum MetricKind: UInt8, Sendable, Codable {
    /// Monotonic counter (Counter32, Counter64).
    case counter
    /// Instant value (Integer32, Gauge32, TimeTicks, floats).
    case gauge
    /// Text (DisplayString, OID, IpAddress): exposed as an info-style metric.
    case info
}

/// One typed field value. Integers stay integers end to end.
public enum FieldValue: Sendable, Equatable, Codable {
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case text(String)

    /// The value as a double for Prometheus exposition; `nil` for text.
    @inlinable
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .double(let v): return v
        case .text: return nil
        }
    }
}

/// A named field of a sample.
public struct Field: Sendable, Equatable {
    public var name: String
    public var value: FieldValue
    public var kind: MetricKind

    @inlinable
    public init(name: String, value: FieldValue, kind: MetricKind) {
        self.name = name
        self.value = value
        self.kind = kind
    }
}

/// A tag (label) key and value.
public struct Tag: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String

    @inlinable
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// One row: a measurement with its index tags and fields. The device and its configured tags live on the batch.
public struct Sample: Sendable, Equatable {
    public var measurement: String
    /// Index tags, sorted by key.
    public var tags: [Tag]
    public var fields: [Field]

    @inlinable
    public init(measurement: String, tags: [Tag], fields: [Field]) {
        self.measurement = measurement
        self.tags = tags
        self.fields = fields
    }
}

/// Everything one poll of one device produced, with one timestamp. The unit that flows through the queue.
///
/// Compact by design: device identity and device tags are stored once per batch, not once per sample.
public struct SampleBatch: Sendable, Equatable {
    /// Stable id (device hash and poll sequence), so sinks can make redelivery harmless.
    public var id: UInt64
    public var device: String
    /// Configured device tags, sorted by key.
    public var deviceTags: [Tag]
    /// Nanoseconds since the Unix epoch.
    public var timestampNanos: Int64
    public var samples: [Sample]
    /// How the poll went (address, profiles, state); inventory for sinks that keep one. Nil in batches made by hand.
    public var poll: PollInfo?

    public init(
        id: UInt64, device: String, deviceTags: [Tag], timestampNanos: Int64, samples: [Sample], poll: PollInfo? = nil
    ) {
        self.id = id
        self.device = device
        self.deviceTags = deviceTags
        self.timestampNanos = timestampNanos
        self.samples = samples
        self.poll = poll
    }

    /// Number of samples; the queue's unit of capacity.
    @inlinable
    public var count: Int { samples.count }

    /// Number of fields over all samples.
    public var fieldCount: Int { samples.reduce(0) { $0 + $1.fields.count } }
}

/// What one poll of a device was: where it went, which profiles applied, how it ended (`up`, `degraded`, `down`).
public struct PollInfo: Sendable, Equatable {
    public var address: String
    public var profiles: [String]
    public var state: String

    public init(address: String, profiles: [String], state: String) {
        self.address = address
        self.profiles = profiles
        self.state = state
    }
}
