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
        /// SNMPv3: the device does not know the user (usmStatsUnknownUserNames).
        case unknownUser = "unknown_user"
        /// SNMPv3: the device has another engine ID than the one used (usmStatsUnknownEngineIDs; a fixed `engine_id`
        /// that is wrong, or a device whose engine ID changed).
        case unknownEngineID = "unknown_engine_id"
        /// SNMPv3: the message's digest is wrong: the auth password or auth protocol differ (usmStatsWrongDigests).
        case wrongDigest = "wrong_digest"
        /// SNMPv3: the device could not decrypt the request (usmStatsDecryptionErrors).
        case decryptionError = "decryption_error"
        /// SNMPv3: still outside the time window after one resynchronisation (usmStatsNotInTimeWindows).
        case notInTimeWindow = "not_in_time_window"
        /// SNMPv3: the user exists but not at this security level (usmStatsUnsupportedSecLevels).
        case unsupportedSecurityLevel = "unsupported_security_level"
        /// SNMPv3 authPriv: the device answered engine discovery but never an encrypted request: the privacy protocol or
        /// password differ (a device silently drops what it cannot decrypt). AES vs AES-C is the usual cause.
        case privacyMismatch = "privacy_mismatch"

        // SSH (see docs/ssh.md).
        /// The TCP connection could not be made (refused, unreachable, no answer within `connect_timeout`), or the SSH
        /// banner or handshake did not complete in time.
        case connectFailed = "connect_failed"
        /// The server refused every authentication method tried (password, key, keyboard-interactive), or did not
        /// answer within `auth_timeout`.
        case authFailed = "auth_failed"
        /// The host key is in no known_hosts file and `host_key_policy = "strict"`: refused; the message names the
        /// fingerprint.
        case hostKeyUnknown = "host_key_unknown"
        /// The host key differs from the one recorded for this host: refused; the message names both.
        case hostKeyMismatch = "host_key_mismatch"
        /// No algorithm in common; the message lists what the server offered and what we offered.
        case kexFailed = "kex_failed"
        /// A command's output did not end (EOF or prompt) within `command_timeout`.
        case commandTimeout = "command_timeout"
        /// A channel could not be opened or started (exec, pty, shell), the session broke mid-command, the output
        /// passed `max_output_bytes`, or the command exited with an error.
        case channelFailed = "channel_failed"
        /// A command's output or one of its values did not parse; the message names the command and the value.
        case parseFailed = "parse_failed"
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
