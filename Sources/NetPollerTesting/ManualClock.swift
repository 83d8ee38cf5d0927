import NetPollerCore
import NetPollerRuntime
import Pipeline
import Synchronization

/// A clock that moves only when a test says so. Sleepers wake when `advance` passes their deadline.
public final class ManualClock: DeliveryClock {
    private struct Sleeper {
        var id: Int
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .seconds(1000)
        var wall: Int64 = 1_800_000_000_000_000_000
        var sleepers: [Sleeper] = []
        var ids = 0
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Duration { state.withLock { $0.now } }
    public var wallNanos: Int64 { state.withLock { $0.wall } }

    /// Sleeps started on this clock so far (how many timers the code under test set).
    public var sleepsStarted: Int { state.withLock { $0.ids } }

    /// Tasks sleeping on this clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }
    /// Whether some task sleeps until no later than `now + within` (and later than now).
    public func hasSleeper(within: Duration) -> Bool {
        state.withLock { s in s.sleepers.contains { $0.deadline <= s.now + within } }
    }

    /// The earliest deadline a sleeper waits for.
    public var nextDeadline: Duration? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    public func sleep(until deadline: Duration) async throws {
        let id = state.withLock { s -> Int in
            s.ids += 1
            return s.ids
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { s -> Bool in
                    if s.now >= deadline || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if ready {
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume()
                    }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward (monotonic and wall) and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.now += duration
            s.wall += duration.nanoseconds
            let due = s.sleepers.filter { $0.deadline <= s.now }
            s.sleepers.removeAll { $0.deadline <= s.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the wall clock only (to age data without waking sleepers).
    public func advanceWall(by duration: Duration) {
        state.withLock { $0.wall += duration.nanoseconds }
    }
}

/// Waits (in real time, briefly) until `condition` holds; false if it did not within `seconds`.
public func eventually(_ seconds: Double = 10, _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + .milliseconds(Int(seconds * 1000))
    while clock.now < end {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}
