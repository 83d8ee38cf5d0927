import NetPollerCore

/// Exact counter semantics for one device, as a value (no I/O, no clock of its own): per series (measurement, index
/// tags, field) it keeps the previous raw value and the device's sysUpTime, and turns each new value into a delta:
///
/// - a Counter32 below its previous value while sysUpTime kept increasing is a **wrap** (delta + 2^32);
/// - sysUpTime going backwards (a reboot; not its own wrap after 497 days), or `ifCounterDiscontinuityTime` changing,
///   is a **reset**: no delta;
/// - a delta above what the interface speed allows in the elapsed time, or any Counter64 decrease, is
///   **implausible**: flagged, not emitted;
/// - a series without a previous value (new, or absent from the last poll that had its table) gives no delta.
///
/// The elapsed time is the device's own (sysUpTime) when known, else the poll timestamps'. `<field>_per_second`
/// gauges are appended to the samples (`rates = true`); the raw counters are left as they are.
public struct CounterTracker: Sendable {
    struct Key: Hashable, Sendable {
        var measurement: String
        var tags: [Tag]
        var field: String
    }

    struct Series: Sendable {
        var raw: UInt64
        /// The device's sysUpTime (ticks) and the poll time (seconds) of `raw`.
        var uptime: UInt32?
        var at: Double
        var discontinuity: FieldValue?
    }

    /// What one poll did, for the metrics.
    public struct Counts: Sendable, Equatable {
        public var wraps = 0
        public var resets = 0
        public var implausible = 0
        public var rates = 0
        public init() {}
    }

    /// The verdict on one value, for tests and `/status`.
    public enum Verdict: Sendable, Equatable {
        case first
        case delta(UInt64, seconds: Double)
        case wrap(UInt64, seconds: Double)
        case reset
        case implausible
    }

    private var series: [Key: Series] = [:]
    /// The field that holds the device's uptime (`system` / `sysUpTime`).
    public static let uptimeMeasurement = "system"
    public static let uptimeField = "sysUpTime"
    public static let discontinuityField = "ifCounterDiscontinuityTime"
    /// The suffix of derived rate fields.
    public static let rateSuffix = "_per_second"
    public static let maxSeries = 200_000

    public init() {}

    public var count: Int { series.count }

    /// One poll's samples at `time` (seconds): appends the rate fields and returns what happened. `wide` names the
    /// fields the device sent as Counter64.
    public mutating func process(_ samples: inout [Sample], at time: Double, wide: Set<String>) -> Counts {
        var counts = Counts()
        let uptime = Self.uptime(in: samples)
        var present: Set<String> = []
        var seen = Set<Key>()
        for s in samples.indices {
            let sample = samples[s]
            guard sample.fields.contains(where: { $0.kind == .counter }) else { continue }
            present.insert(sample.measurement)
            let discontinuity = sample.fields.first { $0.name == Self.discontinuityField }?.value
            let speed = Self.speedBitsPerSecond(sample)
            var rates: [Field] = []
            for field in sample.fields where field.kind == .counter {
                guard case .uint(let value) = field.value else { continue }
                let key = Key(measurement: sample.measurement, tags: sample.tags, field: field.name)
                seen.insert(key)
                let verdict = step(
                    key, value: value, uptime: uptime, at: time, discontinuity: discontinuity,
                    wide: wide.contains(field.name), limit: Self.limit(field.name, speedBitsPerSecond: speed))
                switch verdict {
                case .delta(let delta, let seconds), .wrap(let delta, let seconds):
                    if case .wrap = verdict { counts.wraps += 1 }
                    guard seconds > 0 else { continue }
                    rates.append(
                        Field(
                            name: field.name + Self.rateSuffix, value: .double(Double(delta) / seconds), kind: .gauge))
                    counts.rates += 1
                case .reset: counts.resets += 1
                case .implausible: counts.implausible += 1
                case .first: break
                }
            }
            samples[s].fields.append(contentsOf: rates)
        }
        // A series absent from a poll that had its table: it went away; if it comes back, it starts afresh.
        if !present.isEmpty {
            series = series.filter { seen.contains($0.key) || !present.contains($0.key.measurement) }
        }
        if series.count > Self.maxSeries { series.removeAll() }
        return counts
    }

    /// The verdict for one value of one series, and the series' new state.
    mutating func step(
        _ key: Key, value: UInt64, uptime: UInt32?, at time: Double, discontinuity: FieldValue?, wide: Bool,
        limit: ((Double) -> Double)?
    ) -> Verdict {
        let fresh = Series(raw: value, uptime: uptime, at: time, discontinuity: discontinuity)
        guard let previous = series[key] else {
            series[key] = fresh
            return .first
        }
        series[key] = fresh
        if previous.discontinuity != nil || discontinuity != nil, previous.discontinuity != discontinuity {
            return .reset
        }
        let wall = time - previous.at
        var seconds = wall
        var uptimeKnown = false
        if let now = uptime, let before = previous.uptime {
            switch Self.elapsed(from: before, to: now, wall: wall) {
            case .some(let device):
                seconds = device
                uptimeKnown = true
            case .none: return .reset  // sysUpTime went back: the device restarted.
            }
        }
        var delta: UInt64
        var wrapped = false
        if value >= previous.raw {
            delta = value - previous.raw
        } else if wide {
            return .implausible  // A Counter64 never wraps in practice: a decrease is a bug or a reset.
        } else if uptimeKnown {
            delta = value &+ (1 << 32) &- previous.raw
            wrapped = true
        } else {
            return .reset  // Without sysUpTime a decrease cannot be told from a restart.
        }
        if let limit, Double(delta) > limit(seconds) { return .implausible }
        return wrapped ? .wrap(delta, seconds: seconds) : .delta(delta, seconds: seconds)
    }

    /// The device's elapsed seconds between two sysUpTime readings; nil when it went back (a restart). sysUpTime
    /// itself wraps after 2^32 ticks (497 days): a decrease that matches the wall time elapsed is that wrap.
    static func elapsed(from before: UInt32, to now: UInt32, wall: Double) -> Double? {
        if now >= before { return Double(now - before) / 100 }
        let wrapped = Double(UInt64(now) + (1 << 32) - UInt64(before)) / 100
        return abs(wrapped - wall) <= max(5, wall * 0.2) ? wrapped : nil
    }

    static func uptime(in samples: [Sample]) -> UInt32? {
        for sample in samples where sample.measurement == uptimeMeasurement {
            for field in sample.fields where field.name == uptimeField {
                switch field.value {
                case .uint(let v): return UInt32(truncatingIfNeeded: v)
                case .int(let v): return UInt32(truncatingIfNeeded: v)
                default: return nil
                }
            }
        }
        return nil
    }

    /// The row's interface speed: ifHighSpeed (Mbit/s) when present, else ifSpeed unless saturated; nil if unknown
    /// or zero.
    static func speedBitsPerSecond(_ sample: Sample) -> Double? {
        var high: Double?
        var low: Double?
        for field in sample.fields {
            if field.name == "ifHighSpeed" { high = field.value.doubleValue.map { $0 * 1_000_000 } }
            if field.name == "ifSpeed" { low = field.value.doubleValue }
        }
        if let high, high > 0 { return high }
        if let low, low > 0, low < 4_294_967_295 { return low }
        return nil
    }

    /// The largest plausible delta of a field in `seconds` at that speed: octets at line rate, packets at line rate
    /// in 64-byte frames. nil for other fields.
    static func limit(_ field: String, speedBitsPerSecond speed: Double?) -> ((Double) -> Double)? {
        guard let speed else { return nil }
        if field.contains("Octets") { return { seconds in speed / 8 * (seconds + 0.01) } }
        if field.contains("Pkts") { return { seconds in speed / (8 * 64) * (seconds + 0.01) } }
        return nil
    }
}
