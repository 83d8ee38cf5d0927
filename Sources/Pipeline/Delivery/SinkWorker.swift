import Logging
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// What `/status` shows of a sink.
public struct SinkStatus: Sendable, Codable, Equatable {
    public var name: String
    public var type: String
    /// `ok`, `degraded` (writes failing, or unreachable at start), `circuit_open`, or `rejecting` (every write for a
    /// minute was rejected as bad data: the server takes nothing).
    public var state: String
    /// Samples not yet delivered: memory, spool and the write in flight.
    public var bufferedSamples: Int
    public var memorySamples: Int
    public var spool: Bool
    public var spooledBytes: Int64
    public var oldestSpooledAgeSeconds: Double?
    public var acceptedBatches: Int
    public var acceptedSamples: Int
    public var rejectedBatches: Int
    public var rejectedSamples: Int
    public var failedWrites: Int
    public var consecutiveFailures: Int
    public var dropped: [String: Int]
    /// The last failure, as the sink described it (never contains a secret).
    public var lastError: String?
    public var lastErrorTime: Double?
    public var lastSuccessTime: Double?
}

/// Delivers one sink's buffer: takes batches in order, groups them into writes (`batch_size`, `flush_interval`),
/// retries retryable failures with backoff and jitter behind a circuit breaker, bisects rejected writes down to the bad
/// batch and sends it to the dead-letter file, and acknowledges what is done so its spool space can go.
public final class SinkWorker: Sendable {
    struct State {
        var sink: any Sink
        var policy: DeliveryPolicy
        var breaker: CircuitBreaker
        var deadLetter: DeadLetterFile?
        var status: SinkStatus
        /// A write that outlived `write_timeout`; the next write waits for it (a sink never sees two at once).
        var straggler: InFlightWrite?
        /// When the current run of rejected writes (no write accepted since) began.
        var rejectingSince: Duration?
    }

    /// A sink whose every write has been rejected for this long is `rejecting`.
    static let rejectingAfter: Duration = .seconds(60)

    public let name: String
    public let buffer: SinkBuffer
    private let clock: any DeliveryClock
    private let metrics: SinkMetrics?
    private let logger: Logger
    private let state: Mutex<State>
    private let watch: WriteWatch

    public init(
        sink: any Sink, type: String, policy: DeliveryPolicy, buffer: SinkBuffer, clock: any DeliveryClock,
        metrics: SinkMetrics?, logger: Logger
    ) {
        name = sink.name
        self.buffer = buffer
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        watch = WriteWatch(clock: clock)
        let status = SinkStatus(
            name: sink.name, type: type, state: "ok", bufferedSamples: 0, memorySamples: 0, spool: buffer.spooled,
            spooledBytes: 0, oldestSpooledAgeSeconds: nil, acceptedBatches: 0, acceptedSamples: 0, rejectedBatches: 0,
            rejectedSamples: 0, failedWrites: 0, consecutiveFailures: 0, dropped: [:])
        state = Mutex(
            State(
                sink: sink, policy: policy,
                breaker: CircuitBreaker(threshold: policy.breakerFailures, cooldown: policy.breakerCooldown),
                deadLetter: policy.deadLetterPath.map { DeadLetterFile(path: $0) }, status: status))
        metrics?.setState("ok")
    }

    public var sink: any Sink { state.withLock { $0.sink } }
    public var policy: DeliveryPolicy { state.withLock { $0.policy } }

    /// A reload: new sink settings take effect from the next write; buffered and spooled data stay.
    public func update(sink: any Sink, policy: DeliveryPolicy) {
        let replaced = state.withLock { s -> (any Sink)? in
            let old = s.sink
            s.sink = sink
            if s.policy.breakerFailures != policy.breakerFailures || s.policy.breakerCooldown != policy.breakerCooldown
            {
                s.breaker = CircuitBreaker(threshold: policy.breakerFailures, cooldown: policy.breakerCooldown)
            }
            if s.policy.deadLetterPath != policy.deadLetterPath {
                s.deadLetter = policy.deadLetterPath.map { DeadLetterFile(path: $0) }
            }
            s.policy = policy
            return (old as AnyObject) === (sink as AnyObject) ? nil : old
        }
        // The old sink may still finish a write in flight; a sink serialises its close after it.
        if let replaced { Task { await replaced.close() } }
    }

    /// The status with the buffer's figures filled in.
    public func status(wallNanos: Int64) -> SinkStatus {
        let stats = buffer.snapshot
        var status = state.withLock { $0.status }
        status.bufferedSamples = stats.backlogSamples
        status.memorySamples = stats.memorySamples
        status.spooledBytes = stats.spoolBytes
        status.oldestSpooledAgeSeconds = stats.oldestTimestampNanos.map { max(0, Double(wallNanos - $0) / 1e9) }
        status.dropped = stats.dropped
        return status
    }

    /// Refreshes the sink's gauges (called when `/metrics` is scraped).
    public func updateGauges(wallNanos: Int64) {
        let status = status(wallNanos: wallNanos)
        metrics?.backlog.set(Double(status.bufferedSamples))
        metrics?.memory.set(Double(status.memorySamples))
        metrics?.spoolBytes.set(Double(status.spooledBytes))
        metrics?.spoolOldestAge.set(status.oldestSpooledAgeSeconds ?? 0)
    }

    /// Marks the sink degraded before any write (it failed its start-up probe).
    public func markUnavailable(_ error: SinkError) {
        state.withLock { s in
            s.status.state = "degraded"
            s.status.lastError = "\(error.code.rawValue): \(Redaction.scrub(error.message, secrets: s.sink.secrets))"
            s.status.lastErrorTime = Double(clock.wallNanos) / 1e9
        }
        metrics?.setState("degraded")
    }

    // MARK: Delivery loop

    /// Runs until the buffer is closed and drained, or the task is cancelled (what is left stays in the spool).
    public func run() async {
        defer { watch.stop() }
        // What the last write finished: acknowledged in the same hop onto the buffer's queue as the next take.
        var done: [SinkBuffer.Entry] = []
        while !Task.isCancelled {
            let policy = self.policy
            var chunk = await buffer.take(maxSamples: policy.batchSize, acknowledging: done)
            done = []
            if chunk.isEmpty { return }
            var batcher = Batcher(maxSamples: policy.batchSize, maxWait: policy.flushInterval)
            var now = clock.now
            for entry in chunk { _ = batcher.add(entry.batch.count, enqueuedAt: entry.enqueuedAt, now: now) }
            while case .wait(let until) = batcher.decide(now: now), !Task.isCancelled {
                let more = await buffer.take(maxSamples: batcher.room, deadline: until)
                now = clock.now
                if more.isEmpty { break }
                for entry in more { _ = batcher.add(entry.batch.count, enqueuedAt: entry.enqueuedAt, now: now) }
                chunk += more
            }
            guard await deliver(chunk.map(\.batch)) else { return }
            done = chunk
        }
        buffer.acknowledge(done)
    }

    /// Writes until accepted or dead-lettered; false if cancelled first.
    func deliver(_ batches: [SampleBatch]) async -> Bool {
        let fresh = {
            self.state.withLock { Backoff(initial: $0.policy.retryBackoff, maximum: $0.policy.retryBackoffMax) }
        }
        var backoff = fresh()
        while !Task.isCancelled {
            let permit = state.withLock { $0.breaker.permit(now: clock.now) }
            if case .wait(let until) = permit {
                switch await waitProbing(until: until) {
                case .cancelled: return false
                case .healthy: state.withLock { $0.breaker.probePassed() }
                case .elapsed: break
                }
                continue
            }
            guard let result = await write(batches) else { return false }
            switch result {
            case .accepted:
                succeeded(batches)
                return true
            case .rejected(let reason), .tooLarge(let reason):
                if case .tooLarge = result { metrics?.error(.tooLarge) }
                if batches.count > 1 {
                    // Halves: a rejection finds the bad batch (the rest is good data and must not go to the
                    // dead-letter file); a write too large becomes writes the server takes.
                    let half = batches.count / 2
                    guard await deliver(Array(batches[..<half])) else { return false }
                    return await deliver(Array(batches[half...]))
                }
                await rejected(batches, reason: reason)
                return true
            case .partial(let parts):
                await partiallyRejected(batches, parts)
                return true
            case .retryable(let error):
                // The server's Retry-After is a floor under the backoff.
                let delay = max(backoff.nextDelay(random: Double.random(in: 0..<1)), error.retryAfter ?? .zero)
                failed(error, samples: batches.reduce(0) { $0 + $1.count }, retryIn: delay)
                switch await waitProbing(until: clock.now + delay) {
                case .cancelled: return false
                case .healthy: state.withLock { $0.breaker.probePassed() }
                case .elapsed: break
                }
                metrics?.retries.increment()
            }
        }
        return false
    }

    enum WaitEnd { case elapsed, healthy, cancelled }

    /// Waits until `until`, probing the sink every `probe_interval` on the way: a server that answers again ends the
    /// wait within one interval instead of a whole backoff or cooldown, and a long outage costs one cheap probe per
    /// interval.
    func waitProbing(until: Duration) async -> WaitEnd {
        while true {
            let (interval, sink) = state.withLock { ($0.policy.probeInterval, $0.sink) }
            let now = clock.now
            if now >= until { return .elapsed }
            do { try await clock.sleep(until: min(until, now + interval)) } catch { return .cancelled }
            if clock.now >= until { return .elapsed }
            let problem = await sink.probe()
            metrics?.probe(passed: problem == nil)
            if problem == nil { return .healthy }
        }
    }

    /// One write, bounded by `write_timeout`: its result, or nil if cancelled while waiting.
    private func write(_ batches: [SampleBatch]) async -> SinkResult? {
        let (sink, timeout, straggler) = state.withLock { ($0.sink, $0.policy.writeTimeout, $0.straggler) }
        if let straggler {
            // The timed-out write of these same batches: if it got through after all, it is not sent again.
            guard case .finished(let late) = await straggler.outcome() else { return nil }
            state.withLock { $0.straggler = nil }
            if late == .accepted { return .accepted }
        }
        // The sink reports straight to `flight` (from its own thread, for a sink that has one), and the worker's one
        // watch stands in for a timer per write; a write that hangs is left behind as the straggler.
        let flight = InFlightWrite()
        sink.startWrite(batches) { flight.complete($0) }
        watch.arm(deadline: clock.now + timeout, flight)
        let outcome = await flight.outcome()
        watch.disarm(flight)
        switch outcome {
        case .finished(let result):
            return result
        case .timedOut:
            state.withLock { $0.straggler = flight }
            return .retryable(SinkError(.timeout, "write took longer than write_timeout (\(timeout))"))
        case .cancelled:
            state.withLock { $0.straggler = flight }
            return nil
        }
    }

    private func succeeded(_ batches: [SampleBatch], refused: Int = 0) {
        let samples = batches.reduce(0) { $0 + $1.count } - refused
        metrics?.writesAccepted.increment()
        metrics?.samples.increment(by: Int64(samples))
        let (wasState, closedCircuit) = state.withLock { s -> (String, Bool) in
            let before = s.status.state
            let closed = s.breaker.recordSuccess()
            s.rejectingSince = nil
            s.status.state = "ok"
            s.status.acceptedBatches += batches.count
            s.status.acceptedSamples += samples
            s.status.consecutiveFailures = 0
            s.status.lastSuccessTime = Double(clock.wallNanos) / 1e9
            return (before, closed)
        }
        if wasState != "ok" || closedCircuit {
            metrics?.setState("ok")
            logger.info(
                "sink recovered",
                metadata: .keys([
                    .sink: "\(name)", .previousState: "\(wasState)", .backlog: "\(buffer.snapshot.backlogSamples)",
                ]))
        }
    }

    private func failed(_ error: SinkError, samples: Int, retryIn delay: Duration) {
        metrics?.writesRetryable.increment()
        metrics?.error(error.code)
        var error = error
        let (before, after, opened) = state.withLock { s -> (String, String, Bool) in
            error.message = Redaction.scrub(error.message, secrets: s.sink.secrets)
            let before = s.status.state
            let opened = s.breaker.recordFailure(now: clock.now)
            s.status.state = s.breaker.isOpen ? "circuit_open" : "degraded"
            s.status.failedWrites += 1
            s.status.consecutiveFailures = s.breaker.consecutiveFailures
            s.status.lastError = error.description
            s.status.lastErrorTime = Double(clock.wallNanos) / 1e9
            return (before, s.status.state, opened)
        }
        if opened { metrics?.circuitOpens.increment() }
        if before != after {
            metrics?.setState(after)
            logger.warning(
                after == "circuit_open" ? "sink circuit opened" : "sink failing; data is kept and retried",
                metadata: .keys([
                    .sink: "\(name)", .errorType: "\(error.code.rawValue)", .error: "\(error.message)",
                    .batchSamples: "\(samples)", .retryIn: "\(delay.seconds)",
                ]))
        }
    }

    /// Accepted but for some lines: those are dead-lettered and counted as rejected, the rest as accepted.
    private func partiallyRejected(_ batches: [SampleBatch], _ parts: [RejectedPart]) async {
        let secrets = state.withLock { $0.sink.secrets }
        let parts = parts.map { part in
            var part = part
            part.reason = Redaction.scrub(part.reason, secrets: secrets)
            return part
        }
        let refused = parts.reduce(0) { $0 + $1.samples }
        succeeded(batches, refused: refused)
        metrics?.writesRejected.increment()
        metrics?.error(.rejected)
        metrics?.rejectedSamples.increment(by: Int64(refused))
        let deadLetter = state.withLock { s -> DeadLetterFile? in
            s.status.rejectedSamples += refused
            s.status.lastError = "rejected: \(parts.first?.reason ?? "")"
            s.status.lastErrorTime = Double(clock.wallNanos) / 1e9
            return s.deadLetter
        }
        var metadata: Logger.Metadata = .keys([
            .sink: "\(name)", .errorType: "rejected", .error: "\(parts.first?.reason ?? "")",
            .batchSamples: "\(refused)", .device: "\(parts.first?.device ?? "")",
        ])
        if let deadLetter {
            metadata[LogKey.deadLetter.rawValue] = "\(deadLetter.path)"
            if let problem = await deadLetter.write(parts, sink: name) {
                metadata[LogKey.deadLetterError.rawValue] = "\(problem)"
            }
        }
        logger.warning("sink refused some lines; written to the dead-letter file, the rest stored", metadata: metadata)
    }

    private func rejected(_ batches: [SampleBatch], reason: String) async {
        let samples = batches.reduce(0) { $0 + $1.count }
        metrics?.writesRejected.increment()
        metrics?.error(.rejected)
        metrics?.rejectedSamples.increment(by: Int64(samples))
        let now = clock.now
        let (deadLetter, reason, becameRejecting) = state.withLock { s -> (DeadLetterFile?, String, Bool) in
            let reason = Redaction.scrub(reason, secrets: s.sink.secrets)
            s.status.rejectedBatches += batches.count
            s.status.rejectedSamples += samples
            s.status.lastError = "rejected: \(reason)"
            s.status.lastErrorTime = Double(clock.wallNanos) / 1e9
            let since = s.rejectingSince ?? now
            s.rejectingSince = since
            let becameRejecting = now - since >= Self.rejectingAfter && s.status.state != "rejecting"
            if becameRejecting { s.status.state = "rejecting" }
            return (s.deadLetter, reason, becameRejecting)
        }
        if becameRejecting {
            metrics?.setState("rejecting")
            logger.error(
                "sink rejects every write; its data goes to the dead-letter file",
                metadata: .keys([.sink: "\(name)", .errorType: "rejected", .error: "\(reason)"]))
        }
        var metadata: Logger.Metadata = .keys([
            .sink: "\(name)", .errorType: "rejected", .error: "\(reason)", .batchSamples: "\(samples)",
            .device: "\(batches.first?.device ?? "")",
        ])
        if let deadLetter {
            metadata[LogKey.deadLetter.rawValue] = "\(deadLetter.path)"
            if let problem = await deadLetter.write(batches, sink: name, reason: reason) {
                metadata[LogKey.deadLetterError.rawValue] = "\(problem)"
            }
        }
        logger.warning("sink rejected a batch; written to the dead-letter file", metadata: metadata)
    }
}

/// One write in flight: its result when the sink reports it, for whoever waits. The worker waits for it until the
/// write's deadline; a write that outlives that is waited for again by the next write (which must not overlap it).
final class InFlightWrite: Sendable {
    enum Outcome: Sendable {
        case finished(SinkResult)
        case timedOut
        case cancelled
    }

    private struct State {
        var result: SinkResult?
        var waiter: CheckedContinuation<Outcome, Never>?
        /// An interruption that came before anyone waited (the next wait returns it).
        var interrupted: Outcome?
    }

    private let state = Mutex(State())

    /// The sink's result (called once, from any thread).
    func complete(_ result: SinkResult) {
        let waiter = state.withLock { s -> CheckedContinuation<Outcome, Never>? in
            s.result = result
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: .finished(result))
    }

    /// Stops the current wait (deadline passed, or the waiting task was cancelled) unless the result is in.
    func interrupt(_ why: Outcome) {
        let waiter = state.withLock { s -> CheckedContinuation<Outcome, Never>? in
            guard s.result == nil else { return nil }
            guard let waiter = s.waiter else {
                s.interrupted = why
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume(returning: why)
    }

    /// The result, or why the wait stopped first; cancelling the waiting task stops the wait.
    func outcome() async -> Outcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let ready = state.withLock { s -> Outcome? in
                    if let result = s.result { return .finished(result) }
                    if let why = s.interrupted {
                        s.interrupted = nil
                        return why
                    }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            interrupt(.cancelled)
        }
    }
}

/// `write_timeout` for one worker's writes with one timer, not one per write. Writes are sequential and their
/// deadlines only move forward, so a timer set for an earlier write's deadline stays useful: when it fires it times out
/// the write in flight if that write's deadline has passed, or sets itself for that write's deadline. A busy sink
/// arms and disarms without ever touching a timer; only a shorter `write_timeout` after a reload moves the timer
/// earlier.
final class WriteWatch: Sendable {
    private struct Armed {
        var deadline: Duration
        var flight: InFlightWrite
    }

    private struct State {
        var armed: Armed?
        /// The timer's deadline and its task.
        var timer: (deadline: Duration, task: Task<Void, Never>)?
        var stopped = false
    }

    private let clock: any DeliveryClock
    private let state = Mutex(State())

    init(clock: any DeliveryClock) { self.clock = clock }

    /// Watches `flight`: at `deadline` its wait is interrupted with `.timedOut` unless disarmed first.
    func arm(deadline: Duration, _ flight: InFlightWrite) {
        state.withLock { s in
            s.armed = Armed(deadline: deadline, flight: flight)
            if !s.stopped, s.timer.map({ deadline < $0.deadline }) ?? true {
                s.timer?.task.cancel()
                s.timer = (deadline, startTimer(deadline))
            }
        }
    }

    /// The write finished (or the worker stopped waiting for it).
    func disarm(_ flight: InFlightWrite) {
        state.withLock { s in
            if s.armed?.flight === flight { s.armed = nil }
        }
    }

    /// The worker ended: no timer is left sleeping.
    func stop() {
        state.withLock { s in
            s.stopped = true
            s.armed = nil
            s.timer?.task.cancel()
            s.timer = nil
        }
    }

    private func startTimer(_ deadline: Duration) -> Task<Void, Never> {
        let clock = self.clock
        return Task { [weak self] in
            do { try await clock.sleep(until: deadline) } catch { return }
            self?.fire(deadline)
        }
    }

    private func fire(_ deadline: Duration) {
        let now = clock.now
        let due = state.withLock { s -> InFlightWrite? in
            guard s.timer?.deadline == deadline else { return nil }
            s.timer = nil
            guard let armed = s.armed else { return nil }
            if armed.deadline <= now {
                s.armed = nil
                return armed.flight
            }
            if !s.stopped { s.timer = (armed.deadline, startTimer(armed.deadline)) }
            return nil
        }
        due?.interrupt(.timedOut)
    }
}
