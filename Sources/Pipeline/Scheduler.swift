import HeapModule
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

/// Polls every device in its slot, with ONE driver task for all of them: the slots wait in a heap, the driver sleeps
/// until the earliest, and each poll is a task of its own for as long as it runs (a sleeping device costs an entry in
/// a dictionary and one in the heap, not a suspended task and a timer). The driver wakes at most once per batch window,
/// and each wake starts every poll whose slot is within half the window of it, so a fleet wakes the driver (and hands
/// work to the I/O threads, the queue and the sinks) in batches instead of once per device; no poll starts more than
/// half its window before or after its slot for that reason. A slot's window is `batchWindow` (`poll_start_window`),
/// at most 1/20 of its device's interval.
///
/// A slow or dead device only delays itself; a device still being polled when its next slot comes is not polled twice
/// (the missed slots are reported). Devices can be added, changed and removed while it runs (config reload): only
/// those devices start or stop; the others keep their phase. `stopAll` stops scheduling: polls in flight are cancelled
/// and awaited (the transport bounds them with its own timeouts, and the engine abandons them at shutdown).
public final class DeviceScheduler: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var interval: Duration

        public init(name: String, interval: Duration) {
            self.name = name
            self.interval = interval
        }
    }

    /// A reference: the table's buckets hold 8 bytes each, not ~130 (at 50,000 devices a dictionary has 131,072
    /// buckets).
    ///
    /// Safe to send: everything but `task` is immutable; `task` is read and written only under the scheduler's state
    /// lock (the poll's own task reads only the immutable fields).
    private final class Device: @unchecked Sendable {
        let entry: Entry
        let schedule: Schedule
        /// Tells this device's slots in the heap from those of a device of the same name removed before.
        let generation: UInt64
        let poll: @Sendable (String) async -> Void
        let overrun: @Sendable (String, Int) -> Void
        /// The poll in flight, if any.
        var task: Task<Void, Never>?

        init(
            entry: Entry, schedule: Schedule, generation: UInt64, poll: @escaping @Sendable (String) async -> Void,
            overrun: @escaping @Sendable (String, Int) -> Void
        ) {
            self.entry = entry
            self.schedule = schedule
            self.generation = generation
            self.poll = poll
            self.overrun = overrun
        }
    }

    private struct Slot: Comparable {
        var at: Duration
        var name: String
        var generation: UInt64
        /// This slot may start up to half of it before or after `at` to go with a batch.
        var window: Duration

        static func < (a: Slot, b: Slot) -> Bool { a.at < b.at }
        static func == (a: Slot, b: Slot) -> Bool { a.at == b.at && a.generation == b.generation }
    }

    private struct State {
        var devices: [String: Device] = [:]
        var slots = Heap<Slot>()
        var generation: UInt64 = 0
        var driver: Task<Void, Never>?
        /// The driver's current sleep (cancelled to wake it early) and until when it sleeps.
        var sleeper: Task<Void, any Error>?
        var sleepingUntil: Duration?
        /// When the driver last started polls.
        var lastWake: Duration?

        /// A slot was added: the sleeper to cancel if the driver must wake before it planned to.
        mutating func wakeFor(_ at: Duration, window: Duration) -> Task<Void, any Error>? {
            guard let until = sleepingUntil else { return nil }
            let effective = lastWake.map { max(at, $0 + window) } ?? at
            guard effective < until else { return nil }
            sleepingUntil = nil
            return sleeper
        }
    }

    public let startSpread: Duration
    private let window: Mutex<Duration>
    private let limiter: AsyncLimiter
    private let maxInFlight: Mutex<Int>
    private let state = Mutex(State())
    private let clock: any DeliveryClock
    private let origin: Duration
    private let started: (@Sendable (Duration) -> Void)?

    /// - Parameters:
    ///   - clock: the time slots are kept on (a manual clock in tests).
    ///   - batchWindow: the driver wakes at most once per window, and polls due within half of it of a wake start
    ///     with it (at most 1/20 of a device's interval).
    ///   - started: told how far from its slot each poll starts, early or late (the permit's wait included).
    public init(
        maxInFlight: Int, startSpread: Duration = .seconds(5), clock: any DeliveryClock = SystemDeliveryClock(),
        batchWindow: Duration = .milliseconds(50), started: (@Sendable (Duration) -> Void)? = nil
    ) {
        self.startSpread = startSpread
        self.window = Mutex(batchWindow)
        self.clock = clock
        self.origin = clock.now
        self.started = started
        self.maxInFlight = Mutex(maxInFlight)
        limiter = AsyncLimiter(limit: maxInFlight)
    }

    /// The driver wakes at most once per this; polls due within half of it of a wake start together
    /// (`poll_start_window`).
    public var batchWindow: Duration { window.withLock { $0 } }

    /// Changes the batch window (config reload): each device's next slot takes it.
    public func setBatchWindow(_ value: Duration) { window.withLock { $0 = value } }

    /// The window of a device's slots: the batch window, at most 1/20 of its interval.
    public static func slotWindow(_ batchWindow: Duration, interval: Duration) -> Duration {
        min(batchWindow, interval / 20)
    }

    /// Names of the devices being scheduled.
    public var scheduled: [String] { state.withLock { Array($0.devices.keys) } }

    public func setMaxInFlight(_ value: Int) {
        let old = maxInFlight.withLock { m -> Int in
            defer { m = value }
            return m
        }
        if old != value { limiter.setLimit(from: old, to: value) }
    }

    /// Starts, restarts and stops devices so exactly `devices` are scheduled; unchanged devices keep their slots.
    /// Returns the names started (new or changed) and stopped (removed or changed).
    @discardableResult
    public func apply(
        _ devices: [Entry],
        poll: @escaping @Sendable (String) async -> Void,
        overrun: @escaping @Sendable (String, Int) -> Void
    ) -> (started: [String], stopped: [String]) {
        let wanted = Dictionary(devices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let now = clock.now - origin
        let window = batchWindow
        let spread = startSpread
        let (started, stopped, wake) = state.withLock { s -> ([String], [String], Task<Void, any Error>?) in
            var started: [String] = []
            var stopped: [String] = []
            for (name, device) in s.devices where wanted[name] != device.entry {
                device.task?.cancel()
                s.devices.removeValue(forKey: name)
                stopped.append(name)
            }
            var wake: Task<Void, any Error>?
            for entry in devices where s.devices[entry.name] == nil {
                s.generation += 1
                let schedule = Schedule(name: entry.name, interval: entry.interval)
                let due = schedule.firstDue(start: now, startSpread: spread)
                s.devices[entry.name] = Device(
                    entry: entry, schedule: schedule, generation: s.generation, poll: poll, overrun: overrun)
                let slotWindow = Self.slotWindow(window, interval: entry.interval)
                s.slots.insert(Slot(at: due, name: entry.name, generation: s.generation, window: slotWindow))
                wake = wake ?? s.wakeFor(due, window: slotWindow)
                started.append(entry.name)
            }
            if s.driver == nil && !s.devices.isEmpty {
                s.driver = Task { await self.drive() }
            }
            return (started.sorted(), stopped.sorted(), wake)
        }
        wake?.cancel()
        return (started, stopped)
    }

    /// The driver: starts what is due, sleeps until the next slot (or until woken for an earlier one).
    private func drive() async {
        while !Task.isCancelled {
            let now = clock.now - origin
            let (top, lastWake) = state.withLock { s -> (Slot?, Duration?) in
                // A slot starts with this wake if it is due within half its window: a poll starts at most half the
                // window before or after its slot, so a batch gathers the slots of a whole window around the wake.
                while let top = s.slots.min, top.at <= now + top.window / 2 {
                    s.slots.removeMin()
                    guard let device = s.devices[top.name], device.generation == top.generation, device.task == nil
                    else { continue }
                    // Made under the lock, so `stopAll` always finds it (it takes the lock only when it ends).
                    s.devices[top.name]?.task = Task { await self.run(top, device) }
                    s.lastWake = now
                }
                return (s.slots.min, s.lastWake)
            }
            let next = top?.at
            // Nothing scheduled: sleep long (a new device or a finished poll wakes the driver).
            // After a wake that started polls, the next one waits for the batch window: a busy fleet is started in
            // batches. An idle driver wakes exactly at the next slot.
            let target =
                top.map { top in lastWake.map { max(top.at, $0 + top.window) } ?? top.at } ?? (now + .seconds(3600))
            let sleeper = Task { [clock, origin] in try await clock.sleep(until: origin + target) }
            let sleep = state.withLock { s -> Bool in
                // A slot added since `next` was read: go round again instead.
                guard s.slots.min?.at == next else { return false }
                s.sleeper = sleeper
                s.sleepingUntil = target
                return true
            }
            guard sleep else {
                sleeper.cancel()
                continue
            }
            await withTaskCancellationHandler {
                _ = try? await sleeper.value
            } onCancel: {
                sleeper.cancel()
            }
            state.withLock { s in
                s.sleeper = nil
                s.sleepingUntil = nil
            }
        }
    }

    /// One poll: a permit, the poll, the overrun count, and the device's next slot.
    private func run(_ slot: Slot, _ device: Device) async {
        await limiter.acquire()
        if Task.isCancelled {
            limiter.release()
            return
        }
        if let started {
            // How far from its slot the poll started, early (with a batch) or late.
            let deviation = clock.now - origin - slot.at
            started(deviation < .zero ? .zero - deviation : deviation)
        }
        await device.poll(slot.name)
        limiter.release()
        let finished = clock.now - origin
        let missed = device.schedule.missedSlots(due: slot.at, finished: finished)
        if missed > 0 { device.overrun(slot.name, missed) }
        let next = device.schedule.nextDue(after: max(finished, slot.at))
        let window = Self.slotWindow(batchWindow, interval: device.entry.interval)
        let wake = state.withLock { s -> Task<Void, any Error>? in
            guard s.devices[slot.name]?.generation == slot.generation else { return nil }
            s.devices[slot.name]?.task = nil
            if Task.isCancelled { return nil }
            s.slots.insert(Slot(at: next, name: slot.name, generation: slot.generation, window: window))
            return s.wakeFor(next, window: window)
        }
        wake?.cancel()
    }

    /// Stops scheduling and waits until polls in flight have finished (they are cancelled).
    public func stopAll() async {
        let (driver, polls) = state.withLock { s -> (Task<Void, Never>?, [Task<Void, Never>]) in
            let driver = s.driver
            let polls = s.devices.values.compactMap(\.task)
            s.driver = nil
            s.devices.removeAll()
            s.slots = Heap()
            return (driver, polls)
        }
        driver?.cancel()
        for poll in polls { poll.cancel() }
        await driver?.value
        for poll in polls { await poll.value }
    }

    /// Schedules `devices` until the calling task is cancelled, then stops every device and waits for polls in flight.
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
