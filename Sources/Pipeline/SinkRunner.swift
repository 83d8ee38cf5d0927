import Logging
import NetPollerCore
import Prometheus
import Synchronization

/// What `/status` shows of a sink.
public struct SinkStatus: Sendable, Codable, Equatable {
    public var name: String
    public var state: String
    public var acceptedBatches: Int
    public var acceptedSamples: Int
    public var rejectedBatches: Int
    public var failedBatches: Int
    public var lastError: String?
}

/// Drains the queue into every sink, in order, and counts each result by sink.
///
/// This is the walking skeleton's runner: one batch at a time to each sink. Per-sink buffers, retries with backoff,
/// circuit breakers and the disk spool replace the inner loop in the durable-delivery work; the seam stays.
public final class SinkRunner: Sendable {
    private struct Counters {
        let accepted: Counter?
        let rejected: Counter?
        let retryable: Counter?
        let samples: Counter?
    }

    private let queue: SampleQueue
    private let sinks: [any Sink]
    private let counters: [Counters]
    private let statuses: Mutex<[SinkStatus]>
    private let logger: Logger

    public init(queue: SampleQueue, sinks: [any Sink], metrics: SelfMetrics?, logger: Logger) {
        self.queue = queue
        self.sinks = sinks
        self.logger = logger
        counters = sinks.map { sink in
            Counters(
                accepted: metrics?.sinkWrites(sink: sink.name, result: "accepted"),
                rejected: metrics?.sinkWrites(sink: sink.name, result: "rejected"),
                retryable: metrics?.sinkWrites(sink: sink.name, result: "retryable"),
                samples: metrics?.sinkSamples(sink: sink.name))
        }
        statuses = Mutex(
            sinks.map {
                SinkStatus(
                    name: $0.name, state: "ok", acceptedBatches: 0, acceptedSamples: 0, rejectedBatches: 0,
                    failedBatches: 0, lastError: nil)
            })
    }

    public var status: [SinkStatus] { statuses.withLock { $0 } }

    /// Runs until the queue is closed and drained, then closes the sinks.
    public func run() async {
        while let batch = await queue.next() {
            await deliver(batch)
        }
        for sink in sinks { await sink.close() }
    }

    public func deliver(_ batch: SampleBatch) async {
        for (index, sink) in sinks.enumerated() {
            let result = await sink.write(batch)
            let c = counters[index]
            let previous = statuses.withLock { s -> String in
                let before = s[index].state
                switch result {
                case .accepted:
                    s[index].acceptedBatches += 1
                    s[index].acceptedSamples += batch.count
                    s[index].state = "ok"
                case .rejected(let reason):
                    s[index].rejectedBatches += 1
                    s[index].lastError = "rejected: \(reason)"
                case .retryable(let error):
                    s[index].failedBatches += 1
                    s[index].lastError = error.description
                    s[index].state = "degraded"
                }
                return before
            }
            switch result {
            case .accepted:
                c.accepted?.increment()
                c.samples?.increment(by: Int64(batch.count))
                if previous != "ok" { logger.info("sink recovered", metadata: .keys([.sink: "\(sink.name)"])) }
            case .rejected(let reason):
                c.rejected?.increment()
                logger.warning(
                    "sink rejected a batch",
                    metadata: .keys([.sink: "\(sink.name)", .error: "\(reason)", .batchSamples: "\(batch.count)"]))
            case .retryable(let error):
                c.retryable?.increment()
                if previous == "ok" {
                    logger.warning(
                        "sink failing", metadata: .keys([.sink: "\(sink.name)", .errorType: "\(error.code.rawValue)"]))
                }
            }
        }
    }
}
