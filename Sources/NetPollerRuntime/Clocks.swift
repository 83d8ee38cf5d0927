import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Time as the delivery machinery sees it. A seam so tests drive backoff, circuit breakers and flush deadlines with a
/// manual clock instead of waiting.
public protocol DeliveryClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    /// Wall-clock time in nanoseconds since the Unix epoch (sample timestamps, `max_age`).
    var wallNanos: Int64 { get }
    /// Sleeps until `now >= deadline`; throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Duration) async throws
    /// Runs `work` on `queue` once `now >= deadline` (a timer that cannot be cancelled: `work` checks whether it is
    /// still wanted).
    func run(at deadline: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void)
}

extension DeliveryClock {
    /// A task sleeps on this clock, then hops onto the queue (a manual clock in tests drives it).
    public func run(at deadline: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void) {
        Task {
            try? await sleep(until: deadline)
            queue.async(execute: work)
        }
    }
}

/// The real clock: `ContinuousClock` for deadlines, the system clock for wall time.
public struct SystemDeliveryClock: DeliveryClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { ContinuousClock.now - origin }
    public var wallNanos: Int64 { WallClock.nanos() }

    public func sleep(until deadline: Duration) async throws {
        try await ContinuousClock().sleep(until: origin + deadline)
    }

    /// A dispatch timer on the queue itself: no task, and no hop through the cooperative pool when it fires.
    public func run(at deadline: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void) {
        let left = max(deadline - now, .zero).components
        let nanos = Int(left.seconds) * 1_000_000_000 + Int(left.attoseconds / 1_000_000_000)
        queue.asyncAfter(deadline: .now() + .nanoseconds(nanos), execute: work)
    }
}

/// The wall clock (CLOCK_REALTIME) in nanoseconds since the Unix epoch: sample timestamps.
public enum WallClock {
    public static func nanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
