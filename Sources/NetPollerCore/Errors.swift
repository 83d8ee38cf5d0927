/// A poll failure with a stable code; the code is the `error_type` label of the failure metrics.
public struct PollError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// No answer within timeout × (retries + 1).
        case timeout
        /// The request could not be sent (bad address, socket error).
        case sendFailed = "send_failed"
        /// The session could not be opened (unresolvable name).
        case sessionFailed = "session_failed"
        /// The agent answered with an SNMP error status.
        case errorStatus = "error_status"
        /// A walk returned a non-increasing OID; what came before was kept.
        case oidNotIncreasing = "oid_not_increasing"
        /// The answer could not be used (wrong type, garbage).
        case badResponse = "bad_response"
        /// Abandoned at shutdown.
        case cancelled
        /// A walk reached `max_walk_varbinds`, or the poll its `poll_budget`: the rows so far are kept.
        case walkCapped = "walk_capped"
        /// An entry walk ended (endOfMibView) before a listed column arrived: the device's table is cut short.
        case walkTruncated = "walk_truncated"
    }

    public var code: Code
    /// Human text; never contains a community string or other secret.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
