import NetPollerRuntime
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
            if s.waiters.isEmpty || s.available < 0 {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Changes the limit (config reload). Lowering it takes effect as polls finish; raising it admits waiters now.
    public func setLimit(from old: Int, to new: Int) {
        let delta = max(1, new) - max(1, old)
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.available += delta
            var woken: [CheckedContinuation<Void, Never>] = []
            while s.available > 0, !s.waiters.isEmpty {
                s.available -= 1
                woken.append(s.waiters.removeFirst())
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

}

/// Runs one loop per device: wait for its slot, take a poll permit, poll, repeat. A slow or dead device only delays
/// itself; a device still being polled when its next slot comes is not polled twice (the missed slots are reported).
///
/// Devices can be added, changed and removed while it runs (config reload): only those loops start or stop; the
/// others keep their phase. Cancelling the task that runs `run` stops scheduling: sleeping devices stop at once,
/// polls in flight finish (the transport bounds them with its own timeouts, and the engine abandons them at shutdown).
public final class DeviceScheduler: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var interval: Duration

        public init(name: String, interval: Duration) {
            self.name = name
            self.interval = interval
        }
    }

    private struct Loop {
        var entry: Entry
        var task: Task<Void, Never>
    }

    public let startSpread: Duration
    private let limiter: AsyncLimiter
    private let maxInFlight: Mutex<Int>
    private let loops = Mutex<[String: Loop]>([:])
    private let clock: any DeliveryClock

    /// - Parameter clock: the time slots are kept on (a manual clock in tests).
    public init(maxInFlight: Int, startSpread: Duration = .seconds(5), clock: any DeliveryClock = SystemDeliveryClock())
    {
        self.startSpread = startSpread
        self.clock = clock
        self.maxInFlight = Mutex(maxInFlight)
        limiter = AsyncLimiter(limit: maxInFlight)
    }

    /// Names of the devices being scheduled.
    public var scheduled: [String] { loops.withLock { Array($0.keys) } }

    public func setMaxInFlight(_ value: Int) {
        let old = maxInFlight.withLock { m -> Int in
            defer { m = value }
            return m
        }
        if old != value { limiter.setLimit(from: old, to: value) }
    }

    /// Starts, restarts and stops loops so exactly `devices` run; unchanged devices keep running untouched.
    /// Returns the names started (new or changed) and stopped (removed or changed).
    @discardableResult
    public func apply(
        _ devices: [Entry],
        poll: @escaping @Sendable (String) async -> Void,
        overrun: @escaping @Sendable (String, Int) -> Void
    ) -> (started: [String], stopped: [String]) {
        let wanted = Dictionary(devices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return loops.withLock { loops in
            var started: [String] = []
            var stopped: [String] = []
            for (name, loop) in loops where wanted[name] != loop.entry {
                loop.task.cancel()
                loops.removeValue(forKey: name)
                stopped.append(name)
            }
            for entry in devices where loops[entry.name] == nil {
                loops[entry.name] = Loop(entry: entry, task: startLoop(entry, poll: poll, overrun: overrun))
                started.append(entry.name)
            }
            return (started.sorted(), stopped.sorted())
        }
    }

    private func startLoop(
        _ device: Entry, poll: @escaping @Sendable (String) async -> Void,
        overrun: @escaping @Sendable (String, Int) -> Void
    ) -> Task<Void, Never> {
        let limiter = self.limiter
        let clock = self.clock
        let spread = startSpread
        return Task {
            let origin = clock.now
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

    /// Stops every loop and waits until polls in flight have finished.
    public func stopAll() async {
        let all = loops.withLock { l -> [Loop] in
            defer { l.removeAll() }
            return Array(l.values)
        }
        for loop in all { loop.task.cancel() }
        for loop in all { await loop.task.value }
    }

    /// Schedules `devices` until the calling task is cancelled, then stops every loop and waits for polls in flight.
    public func run(
        devices: [Entry],
        poll: @escaping @Sendable (String) async -> Void,
        overrun: @escaping @Sendable (String, Int) -> Void
    ) async {
        apply(devices, poll: poll, overrun: overrun)
        let never = AsyncStream<Void>.makeStream()
        await withTaskCancellationHandler {
            for await _ in never.stream {}
        } onCancel: {
            never.continuation.finish()
        }
        await stopAll()
    }
}
