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
    public enum Code: String, Sendable {
        case unavailable
        case timeout
        case rejected
        case io
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

/// The sink seam: write one batch and say what happened.
public protocol Sink: Sendable {
    /// Name used in logs, metrics (`sink` label) and `/status`.
    var name: String { get }
    func write(_ batch: SampleBatch) async -> SinkResult
    /// Called once on shutdown after the last write.
    func close() async
}

extension Sink {
    public func close() async {}
}
