import Dispatch
import Logging
import NetPollerCore
import NetPollerRuntime
import Prometheus
import Synchronization

/// A sink that failed its start-up probe under `on_start_unavailable = "fail"`.
public struct SinkStartFailure: Error, Sendable, CustomStringConvertible {
    public var sink: String
    public var error: SinkError
    public var description: String { "sink \(sink) is unavailable at start: \(error.description)" }
}

/// Fans the queue out to every sink's own buffer and runs one delivery worker per sink.
///
/// The fan-out never waits on a sink: a slow or dead sink only grows its own buffer and spool, so neither the
/// pollers nor the other sinks notice. Sinks can be added, changed and removed while running (config reload); their
/// buffers and spools are kept across a change.
public final class SinkRunner: Sendable {
    private struct Running {
        var worker: SinkWorker
        var task: Task<Void, Never>
    }

    private let queue: SampleQueue
    private let clock: any DeliveryClock
    private let metrics: SelfMetrics?
    private let logger: Logger
    private let observers: [@Sendable (SampleBatch) -> Void]
    private let running = Mutex<[Running]>([])
    private let dropCounters: [String: Counter]

    public init(
        queue: SampleQueue, clock: any DeliveryClock = SystemDeliveryClock(), metrics: SelfMetrics?, logger: Logger,
        observers: [@Sendable (SampleBatch) -> Void] = []
    ) {
        self.queue = queue
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.observers = observers
        var counters: [String: Counter] = [:]
        if let metrics {
            for reason in SelfMetrics.dropReasons { counters[reason] = metrics.droppedSamples(reason: reason) }
        }
        dropCounters = counters
    }

    public var workers: [SinkWorker] { running.withLock { $0.map(\.worker) } }

    public var status: [SinkStatus] {
        let now = clock.wallNanos
        return workers.map { $0.status(wallNanos: now) }
    }

    public func updateGauges() {
        let now = clock.wallNanos
        for worker in workers { worker.updateGauges(wallNanos: now) }
    }

    // MARK: Sinks

    /// Opens the sink's buffer (and spool), probes the sink and starts its worker. Spooled data from an earlier run is
    /// delivered before anything new.
    public func add(_ sink: any Sink, type: String, policy: DeliveryPolicy, onStartUnavailable: StartPolicy)
        async throws
    {
        let name = sink.name
        let sinkMetrics = metrics?.sink(name)
        let events = events(sink: name, metrics: sinkMetrics)
        let clock = self.clock
        // Opening a spool reads and checks every segment: blocking file I/O, kept off the cooperative pool.
        let buffer = try await DispatchQueue.global().run { () throws(SpoolError) -> SinkBuffer in
            try SinkBuffer(
                name: name, bufferSamples: policy.bufferSamples, spool: policy.spool, clock: clock, events: events)
        }
        if let error = await sink.probe() {
            if onStartUnavailable == .fail {
                _ = await buffer.finish()
                throw SinkStartFailure(sink: name, error: error)
            }
            logger.warning(
                "sink unavailable at start; data is kept and retried",
                metadata: .keys([
                    .sink: "\(name)", .errorType: "\(error.code.rawValue)",
                    .error: "\(Redaction.scrub(error.message, secrets: sink.secrets))",
                ]))
            let worker = SinkWorker(
                sink: sink, type: type, policy: policy, buffer: buffer, clock: clock, metrics: sinkMetrics,
                logger: logger)
            worker.markUnavailable(error)
            start(worker)
        } else {
            start(
                SinkWorker(
                    sink: sink, type: type, policy: policy, buffer: buffer, clock: clock, metrics: sinkMetrics,
                    logger: logger))
        }
        let recovered = buffer.recoveredSamples
        if recovered > 0 {
            logger.info(
                "spooled data from the last run is delivered first",
                metadata: .keys([
                    .sink: "\(name)", .backlog: "\(recovered)", .spool: "\(policy.spool?.directory ?? "")",
                ]))
        }
    }

    private func start(_ worker: SinkWorker) {
        let task = Task { await worker.run() }
        running.withLock { $0.append(Running(worker: worker, task: task)) }
    }

    /// Applies new settings to a running sink; its buffered and spooled data stay.
    public func update(_ sink: any Sink, policy: DeliveryPolicy) {
        workers.first { $0.name == sink.name }?.update(sink: sink, policy: policy)
    }

    /// Stops a sink that left the config. With a spool its undelivered data stays on disk (delivered if the sink comes
    /// back); without one, it gets `grace` to drain.
    public func remove(_ name: String, grace: Duration) async {
        guard
            let entry = running.withLock({ r -> Running? in
                guard let index = r.firstIndex(where: { $0.worker.name == name }) else { return nil }
                return r.remove(at: index)
            })
        else { return }
        await stop([entry], deadline: clock.now + (entry.worker.buffer.spooled ? .zero : grace))
        await entry.worker.sink.close()
    }

    // MARK: Running

    /// Feeds every sink from the queue until the queue is closed and drained.
    public func run() async {
        while true {
            let batches = await queue.nextBatches(max: 256)
            if batches.isEmpty { return }
            for batch in batches {
                for observer in observers { observer(batch) }
            }
            let targets = workers
            guard !targets.isEmpty else { continue }
            let spooled = targets.contains { $0.buffer.spooled }
            let offers = batches.map { (batch: $0, payload: spooled ? BatchCodec.encode($0) : nil) }
            for worker in targets { worker.buffer.offer(offers) }
        }
    }

    /// After `run` returned: lets every sink drain until `deadline`, then stops it; what is left stays in the spool
    /// (or is dropped and counted without one). Closes the sinks.
    public func drain(until deadline: Duration) async {
        let all = running.withLock { r -> [Running] in
            defer { r.removeAll() }
            return r
        }
        await stop(all, deadline: deadline)
        for entry in all { await entry.worker.sink.close() }
    }

    private func stop(_ entries: [Running], deadline: Duration) async {
        for entry in entries { entry.worker.buffer.close() }
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            for entry in entries {
                group.addTask {
                    let finished = Task { await entry.task.value }
                    let timer = Task {
                        try? await clock.sleep(until: deadline)
                        entry.task.cancel()
                    }
                    await finished.value
                    timer.cancel()
                }
            }
        }
        for entry in entries {
            let left = await entry.worker.buffer.finish()
            if left > 0 {
                let spooled = entry.worker.buffer.spooled
                logger.warning(
                    spooled
                        ? "sink not drained in time; the rest stays in the spool for the next start"
                        : "sink not drained in time; the rest is dropped (no spool)",
                    metadata: .keys([.sink: "\(entry.worker.name)", .backlog: "\(left)"]))
            }
        }
    }

    private func events(sink: String, metrics sinkMetrics: SinkMetrics?) -> BufferEvents {
        var events = BufferEvents()
        let logger = self.logger
        let counters = dropCounters
        let lastLog = Mutex<[String: Duration]>([:])
        let clock = self.clock
        events.dropped = { reason, samples in
            counters[reason]?.increment(by: Int64(samples))
            // Logged at most once a minute per reason: drops come in floods.
            let now = clock.now
            let log = lastLog.withLock { last -> Bool in
                if let previous = last[reason], now - previous < .seconds(60) { return false }
                last[reason] = now
                return true
            }
            if log {
                logger.warning(
                    "sink dropped samples",
                    metadata: .keys([.sink: "\(sink)", .reason: "\(reason)", .samples: "\(samples)"]))
            }
        }
        events.synced = { samples in sinkMetrics?.spoolSynced.increment(by: Int64(samples)) }
        events.syncEnded = { needed in
            (needed ? sinkMetrics?.spoolSyncs : sinkMetrics?.spoolSyncsNotNeeded)?.increment()
        }
        events.corrupt = { what in
            sinkMetrics?.spoolCorruptions.increment()
            logger.warning("spool corruption cut off", metadata: .keys([.sink: "\(sink)", .error: "\(what)"]))
        }
        events.spoolWriteFailed = { sinkMetrics?.spoolWriteErrors.increment() }
        events.spoolState = { error in
            if let error {
                logger.error(
                    "spool writes failing; batches stay in memory while they fit",
                    metadata: .keys([.sink: "\(sink)", .error: "\(error.description)"]))
            } else {
                logger.info("spool writes work again", metadata: .keys([.sink: "\(sink)"]))
            }
        }
        return events
    }
}
