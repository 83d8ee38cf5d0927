/// When a device is due. Each device gets a stable phase inside its interval (a hash of its name), so a thousand
/// devices with the same interval spread over the whole interval instead of firing in the same millisecond, and keep
/// their slot across restarts.
public struct Schedule: Sendable, Equatable {
    public let interval: Duration
    /// Offset inside the interval, in [0, interval).
    public let phase: Duration

    public init(name: String, interval: Duration) {
        self.interval = interval
        let intervalNanos = max(1, interval.nanoseconds)
        phase = .nanoseconds(Int64(Self.fnv1a(name) % UInt64(intervalNanos)))
    }

    /// The first poll after start: spread over at most `startSpread` so a fresh agent has data quickly.
    public func firstDue(start: Duration, startSpread: Duration = .seconds(5)) -> Duration {
        let spread = max(1, min(interval.nanoseconds, startSpread.nanoseconds))
        return start + .nanoseconds(phase.nanoseconds % spread)
    }

    /// The first slot (epoch-aligned `k × interval + phase`) strictly after `time`.
    public func nextDue(after time: Duration) -> Duration {
        let i = interval.nanoseconds
        let p = phase.nanoseconds
        let t = time.nanoseconds
        let k = (t - p) >= 0 ? (t - p) / i + 1 : 0
        return .nanoseconds(k * i + p)
    }

    /// How many slots were missed between `due` (the slot that started the poll) and `now` (when it finished).
    public func missedSlots(due: Duration, finished now: Duration) -> Int {
        guard now > due else { return 0 }
        return Int((now - due).nanoseconds / interval.nanoseconds)
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        // splitmix64 finaliser: similar names (sw-001, sw-002…) must land far apart.
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }
}

extension Schedule {
    /// A stable batch id from the device and the poll's timestamp: a redelivered batch has the same id.
    public static func batchID(device: String, timestampNanos: Int64) -> UInt64 {
        fnv1a(device) &+ UInt64(bitPattern: timestampNanos) &* 0x9E37_79B9_7F4A_7C15
    }
}
