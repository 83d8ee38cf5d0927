/// What a sink says about one batch. The pipeline owns retries, backoff and counting.
public enum SinkResult: Sendable, Equatable {
    /// Stored.
    case accepted
    /// Bad data: never retried (dead-lettered by the sink runner).
    case rejected(reason: String)
    /// Temporary failure (server down, timeout): retry later.
    case retryable(SinkError)
}

/// A sink's failure, with a stable code that doubles as the `error_type` metric label.
public struct SinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Cannot connect or the server refuses service.
        case unavailable
        /// No answer in time (including the runner's `write_timeout`).
        case timeout
        /// The server rejected the data (never retried).
        case rejected
        /// Local or transport I/O error.
        case io
        /// Credentials refused.
        case auth
    }

    public var code: Code
    /// Human text; never contains a secret.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The sink seam: write some batches as one unit (one request, one transaction) and say what happened.
///
/// The pipeline owns batching, retries, backoff, the circuit breaker, the spool and the counting; a sink only writes.
/// Delivery is at least once: after a crash or a lost answer the same batches come again, with the same ids, so a sink
/// that can should make redelivery harmless (`SampleBatch.id`). The runner never calls `write` concurrently on one sink.
public protocol Sink: Sendable {
    /// Name used in logs, metrics (`sink` label) and `/status`.
    var name: String { get }
    func write(_ batches: [SampleBatch]) async -> SinkResult
    /// Checks at start that the sink can be reached (`on_start_unavailable`); nil when it can.
    func probe() async -> SinkError?
    /// Called once on shutdown after the last write.
    func close() async
}

extension Sink {
    public func probe() async -> SinkError? { nil }
    public func close() async {}
}
