import Synchronization

/// Limits concurrent polls (`max_in_flight`). FIFO, so no device starves.
public final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    public func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    public func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }

}

/// Runs one loop per device: wait for its slot, take a poll permit, poll, repeat. A slow or dead device only delays
/// itself; a device still being polled when its next slot comes is not polled twice (the missed slots are reported).
///
/// Cancelling the task that runs `run` stops scheduling: sleeping devices stop at once, polls in flight finish
/// (the transport bounds them with its own timeouts, and the engine abandons them at shutdown).
public struct DeviceScheduler: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var interval: Duration

        public init(name: String, interval: Duration) {
            self.name = name
            self.interval = interval
        }
    }

    public let maxInFlight: Int
    public let startSpread: Duration

    public init(maxInFlight: Int, startSpread: Duration = .seconds(5)) {
        self.maxInFlight = maxInFlight
        self.startSpread = startSpread
    }

    public func run(
        devices: [Entry],
        poll: @escaping @Sendable (String) async -> Void,
        overrun: @escaping @Sendable (String, Int) -> Void
    ) async {
        let limiter = AsyncLimiter(limit: maxInFlight)
        let clock = ContinuousClock()
        let origin = clock.now
        let spread = startSpread
        await withTaskGroup(of: Void.self) { group in
            for device in devices {
                group.addTask {
                    let schedule = Schedule(name: device.name, interval: device.interval)
                    var due = schedule.firstDue(start: .zero, startSpread: spread)
                    while !Task.isCancelled {
                        do {
                            try await clock.sleep(until: origin + due)
                        } catch {
                            return
                        }
                        await limiter.acquire()
                        if Task.isCancelled {
                            limiter.release()
                            return
                        }
                        await poll(device.name)
                        limiter.release()
                        let finished = clock.now - origin
                        let missed = schedule.missedSlots(due: due, finished: finished)
                        if missed > 0 { overrun(device.name, missed) }
                        due = schedule.nextDue(after: max(finished, due))
                    }
                }
            }
        }
    }
}
