import DequeModule
import NetPollerCore
import Prometheus
import Synchronization

/// The one bounded queue between pollers and sinks. Capacity is in samples; when a push would exceed it, the oldest
/// batches are dropped and counted (`reason="queue_full"`). Pollers never wait on it.
public final class SampleQueue: Sendable {
    private struct State {
        var batches = Deque<SampleBatch>()
        var samples = 0
        var waiter: CheckedContinuation<SampleBatch?, Never>?
        var closed = false
    }

    public let capacity: Int
    private let state = Mutex(State())
    private let dropped: Counter?
    private let length: Gauge?

    public init(capacity: Int, metrics: SelfMetrics? = nil) {
        self.capacity = capacity
        self.dropped = metrics?.droppedSamples(reason: "queue_full")
        self.length = metrics?.queueLength
        metrics?.queueCapacity.set(Double(capacity))
    }

    /// Samples waiting now.
    public var count: Int { state.withLock { $0.samples } }

    /// Adds a batch; returns the number of samples dropped to make room.
    @discardableResult
    public func push(_ batch: SampleBatch) -> Int {
        let (waiter, droppedSamples, total) = state.withLock {
            s -> (CheckedContinuation<SampleBatch?, Never>?, Int, Int) in
            guard !s.closed else { return (nil, batch.count, s.samples) }
            if let waiter = s.waiter {
                s.waiter = nil
                return (waiter, 0, s.samples)
            }
            var dropped = 0
            s.batches.append(batch)
            s.samples += batch.count
            while s.samples > capacity, let oldest = s.batches.popFirst() {
                s.samples -= oldest.count
                dropped += oldest.count
            }
            return (nil, dropped, s.samples)
        }
        if let waiter {
            waiter.resume(returning: batch)
        }
        if droppedSamples > 0 { dropped?.increment(by: Int64(droppedSamples)) }
        length?.set(Double(total))
        return droppedSamples
    }

    /// The next batch, waiting if empty; nil once closed and drained. One consumer at a time.
    public func next() async -> SampleBatch? {
        // While batches wait (a busy agent), no suspension: the consumer takes the next one and goes on.
        let waiting = state.withLock { s -> (SampleBatch, Int)? in
            guard let batch = s.batches.popFirst() else { return nil }
            s.samples -= batch.count
            return (batch, s.samples)
        }
        if let (batch, left) = waiting {
            length?.set(Double(left))
            return batch
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<SampleBatch?, Never>) in
            let ready = state.withLock { s -> SampleBatch?? in
                if let batch = s.batches.popFirst() {
                    s.samples -= batch.count
                    return .some(batch)
                }
                if s.closed { return .some(nil) }
                s.waiter = continuation
                return .none
            }
            if let ready {
                length?.set(Double(count))
                continuation.resume(returning: ready)
            }
        }
    }

    /// Every batch waiting, up to `max`, or the next one when none waits; empty once closed and drained. One consumer at
    /// a time. A busy agent's runner hands a run of batches to the sinks in one step instead of one step per batch.
    public func nextBatches(max: Int) async -> [SampleBatch] {
        let waiting = state.withLock { s -> ([SampleBatch], Int) in
            var out: [SampleBatch] = []
            while out.count < max, let batch = s.batches.popFirst() {
                s.samples -= batch.count
                out.append(batch)
            }
            return (out, s.samples)
        }
        if !waiting.0.isEmpty {
            length?.set(Double(waiting.1))
            return waiting.0
        }
        return await next().map { [$0] } ?? []
    }

    /// No more pushes; the consumer drains what is left, then gets nil.
    public func close() {
        let waiter = state.withLock { s -> CheckedContinuation<SampleBatch?, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.batches.isEmpty ? s.waiter : nil
        }
        waiter?.resume(returning: nil)
    }
}
