/// What a sink says about one batch. The pipeline owns retries, backoff and counting.
public enum SinkResult: Sendable, Equatable {
    /// Stored.
    case accepted
    /// Bad data: never retried (dead-lettered by the sink runner).
    case rejected(reason: String)
    /// Temporary failure (server down, timeout): retry later.
    case retryable(SinkError)
    /// The server stored all but these parts (an InfluxDB partial write): they are dead-lettered, the rest counts as
    /// accepted, nothing is retried.
    case partial([RejectedPart])
    /// The request was too large (HTTP 413): the runner splits the write in halves and sends each; a single batch
    /// that is still too large is dead-lettered with this reason.
    case tooLarge(reason: String)
}

/// Lines of one batch the server refused, with its reason (see `SinkResult.partial`).
public struct RejectedPart: Sendable, Equatable {
    public var batchID: UInt64
    public var device: String
    /// The refused lines in line protocol, newline-terminated.
    public var lines: String
    /// How many samples (lines) were refused.
    public var samples: Int
    public var reason: String

    public init(batchID: UInt64, device: String, lines: String, samples: Int, reason: String) {
        self.batchID = batchID
        self.device = device
        self.lines = lines
        self.samples = samples
        self.reason = reason
    }
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
        /// The server is overloaded or rate-limiting (HTTP 429, 503).
        case throttled
        /// The request was too large for the server (HTTP 413).
        case tooLarge = "too_large"
    }

    public var code: Code
    /// Human text; never contains a secret.
    public var message: String
    /// The server asked to wait this long before the next try (HTTP Retry-After): the retry waits at least this.
    public var retryAfter: Duration?

    public init(_ code: Code, _ message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
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
    /// Starts a write and calls `completion` once with its result, from any thread. An accepted write is not
    /// reported before `startWrite` has returned: the runner may start the next write from the completion, and an
    /// inline report would nest each write in the last. The runner writes through this: a sink whose writes run on a
    /// thread of its own (`SinkThread`) reports straight from that thread, with no task in between. The default runs
    /// `write` in a task.
    func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void)
    /// Checks at start that the sink can be reached (`on_start_unavailable`), and cheaply while it is failing
    /// (`probe_interval`); nil when it can.
    func probe() async -> SinkError?
    /// The sink's configured secrets (password, token): scrubbed from every server text before it is logged, shown in
    /// `/status` or dead-lettered (`Redaction`).
    var secrets: [String] { get }
    /// Called once on shutdown after the last write.
    func close() async
}

extension Sink {
    public func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void) {
        Task { completion(await write(batches)) }
    }

    public func probe() async -> SinkError? { nil }
    public var secrets: [String] { [] }
    public func close() async {}
}
