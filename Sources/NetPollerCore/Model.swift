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
    /// Indirect: a number is 8 bytes, a string 16; boxing the (rare) text keeps every field of every cached and queued
    /// sample 8 bytes smaller (a `Field` is 32 bytes instead of 40).
    indirect case text(String)

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
///
/// A copy-on-write box: the batch is copied at every hand-off of the pipeline (queue, each sink's buffer, the write
/// in flight), and a copy is one reference count on one object instead of one for each of its strings and arrays,
/// which matters when the threads that hand it on run on different cores.
public struct SampleBatch: Sendable, Equatable {
    // Safe: a Storage is mutated only through SampleBatch's setters, and only after `isKnownUniquelyReferenced`
    // proved that the batch doing it is its one owner; a shared Storage is never written, it is copied first.
    @usableFromInline
    final class Storage: @unchecked Sendable {
        @usableFromInline var id: UInt64
        @usableFromInline var device: String
        @usableFromInline var deviceTags: [Tag]
        @usableFromInline var timestampNanos: Int64
        @usableFromInline var samples: [Sample]
        @usableFromInline var poll: PollInfo?

        @usableFromInline
        init(
            id: UInt64, device: String, deviceTags: [Tag], timestampNanos: Int64, samples: [Sample], poll: PollInfo?
        ) {
            self.id = id
            self.device = device
            self.deviceTags = deviceTags
            self.timestampNanos = timestampNanos
            self.samples = samples
            self.poll = poll
        }

        @usableFromInline
        func copy() -> Storage {
            Storage(
                id: id, device: device, deviceTags: deviceTags, timestampNanos: timestampNanos, samples: samples,
                poll: poll)
        }
    }

    @usableFromInline var storage: Storage

    public init(
        id: UInt64, device: String, deviceTags: [Tag], timestampNanos: Int64, samples: [Sample], poll: PollInfo? = nil
    ) {
        storage = Storage(
            id: id, device: device, deviceTags: deviceTags, timestampNanos: timestampNanos, samples: samples, poll: poll
        )
    }

    @inlinable
    mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// Stable id (device hash and poll sequence), so sinks can make redelivery harmless.
    @inlinable
    public var id: UInt64 {
        get { storage.id }
        set { unique().id = newValue }
    }

    @inlinable
    public var device: String {
        get { storage.device }
        set { unique().device = newValue }
    }

    /// Configured device tags, sorted by key.
    @inlinable
    public var deviceTags: [Tag] {
        get { storage.deviceTags }
        set { unique().deviceTags = newValue }
    }

    /// Nanoseconds since the Unix epoch.
    @inlinable
    public var timestampNanos: Int64 {
        get { storage.timestampNanos }
        set { unique().timestampNanos = newValue }
    }

    @inlinable
    public var samples: [Sample] {
        get { storage.samples }
        _modify {
            let box = unique()
            yield &box.samples
        }
    }

    /// How the poll went (address, profiles, state); inventory for sinks that keep one. Nil in batches made by hand.
    @inlinable
    public var poll: PollInfo? {
        get { storage.poll }
        set { unique().poll = newValue }
    }

    /// Number of samples; the queue's unit of capacity.
    @inlinable
    public var count: Int { storage.samples.count }

    /// Number of fields over all samples.
    public var fieldCount: Int { storage.samples.reduce(0) { $0 + $1.fields.count } }

    public static func == (lhs: SampleBatch, rhs: SampleBatch) -> Bool {
        if lhs.storage === rhs.storage { return true }
        let l = lhs.storage
        let r = rhs.storage
        return l.id == r.id && l.device == r.device && l.deviceTags == r.deviceTags
            && l.timestampNanos == r.timestampNanos && l.samples == r.samples && l.poll == r.poll
    }
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
