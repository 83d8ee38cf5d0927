import CLibPQ
import Foundation
import NetPollerCore

/// A failed libpq call: SQLSTATE (when the server sent one), the server's or libpq's message, and whether the
/// connection is still usable. Messages come from libpq and the server, which never echo a password.
struct PGFailure: Error, CustomStringConvertible {
    var sqlState: String?
    var message: String
    var connectionLost: Bool

    var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    /// How the sink runner should treat it. Data the server refuses (class 22 data exception, 23 constraint
    /// violation) is rejected and dead-lettered; everything else — connection, auth, permissions, disk full, server
    /// shutting down, deadlock — is temporary and retried.
    var sinkResult: SinkResult {
        if connectionLost { return .retryable(SinkError(.unavailable, message)) }
        switch sqlState?.prefix(2) {
        case "22", "23": return .rejected(reason: description)
        case "28": return .retryable(SinkError(.auth, description))
        case "57":
            return .retryable(SinkError(sqlState == "57014" ? .timeout : .unavailable, description))
        default: return .retryable(SinkError(.unavailable, description))
        }
    }
}

/// One libpq connection. Not thread-safe: it is owned by one `PostgresWriter`, which only runs on its sink's own
/// thread; `deinit` is the single place that frees the handle.
final class PGConnection {
    private let conn: OpaquePointer

    /// Connects with `conninfo` expanded as libpq's own connection string (keyword/value or URI), so everything libpq
    /// supports works as is. `before` are defaults the conninfo may override; `after` always win.
    init(conninfo: String, before: [(String, String)], after: [(String, String)]) throws(PGFailure) {
        let pairs = before + [("dbname", conninfo)] + after
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let k: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        let v: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let conn = PQconnectdbParams(k, v, 1) else {
            throw PGFailure(sqlState: nil, message: "libpq: out of memory", connectionLost: true)
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.clean(PQerrorMessage(conn))
            PQfinish(conn)
            throw PGFailure(sqlState: Self.authState(message), message: message, connectionLost: false)
        }
        // Server notices ("already exists, skipping") are not for the agent's log; libpq would print them to stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        self.conn = conn
    }

    deinit { PQfinish(conn) }

    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }
    var inTransaction: Bool { PQtransactionStatus(conn) != PQTRANS_IDLE }
    var serverVersion: Int { Int(PQserverVersion(conn)) }

    /// Runs SQL (one or more statements, no parameters).
    @discardableResult
    func exec(_ sql: String) throws(PGFailure) -> PGRows {
        try check(PQexec(conn, sql))
    }

    /// Runs one statement with text parameters (nil is SQL NULL).
    @discardableResult
    func exec(_ sql: String, _ params: [String?]) throws(PGFailure) -> PGRows {
        let copies = params.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        return try check(PQexecParams(conn, sql, Int32(params.count), nil, pointers, nil, nil, 0))
    }

    /// Starts `COPY … FROM STDIN`; then `putCopy` the data in chunks and `endCopy`.
    func beginCopy(_ sql: String) throws(PGFailure) {
        let start = PQexec(conn, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try check(start)
            throw failure(nil)
        }
        PQclear(start)
    }

    /// Sends one chunk (blocks while the server's socket buffer is full: the server ingests meanwhile).
    func putCopy(_ data: [UInt8]) throws(PGFailure) {
        guard !data.isEmpty else { return }
        let ok = data.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(conn, $0, Int32(buffer.count))
            }
        }
        if ok != 1 {
            // Read the server's reason (or libpq's) and leave the connection usable, or broken.
            _ = PQputCopyEnd(conn, "netpoller: copy aborted")
            try drainCopyResults()
            throw failure(nil)
        }
    }

    /// Ends the COPY and reads its result.
    func endCopy() throws(PGFailure) {
        let ended = PQputCopyEnd(conn, nil) == 1
        try drainCopyResults()
        if !ended { throw failure(nil) }
    }

    /// Every result must be read before the connection can be used again; the first error is thrown.
    private func drainCopyResults() throws(PGFailure) {
        var firstError: PGFailure?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, firstError == nil { firstError = failure(result) }
            PQclear(result)
            if isBroken { break }
        }
        if let firstError { throw firstError }
    }

    /// Rolls back a failed transaction so the connection can be reused; a broken connection is left to be dropped.
    func rollbackIfNeeded() {
        guard !isBroken, inTransaction else { return }
        if let result = PQexec(conn, "ROLLBACK") { PQclear(result) }
    }

    private func check(_ result: OpaquePointer?) throws(PGFailure) -> PGRows {
        guard let result else { throw failure(nil) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK: return PGRows(result)
        default:
            let error = failure(result)
            PQclear(result)
            throw error
        }
    }

    private func failure(_ result: OpaquePointer?) -> PGFailure {
        var state: String?
        var message = Self.clean(PQerrorMessage(conn))
        if let result {
            if let s = PQresultErrorField(result, Int32(NP_PG_DIAG_SQLSTATE)) { state = String(cString: s) }
            let text = Self.clean(PQresultErrorMessage(result))
            if !text.isEmpty { message = text }
        }
        if message.isEmpty { message = "libpq: request failed" }
        return PGFailure(sqlState: state, message: message, connectionLost: isBroken)
    }

    /// libpq's messages end with a newline and may span lines; one line reads better in logs and /status.
    static func clean(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).split(whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.joined(separator: " ")
    }

    /// Connection errors carry no SQLSTATE in libpq's message; authentication failures are recognised by text.
    static func authState(_ message: String) -> String? {
        message.contains("password authentication failed") || message.contains("no password supplied")
            || message.contains("authentication failed") ? "28P01" : nil
    }
}

/// A query result; frees it on deinit.
final class PGRows {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    var count: Int { Int(PQntuples(result)) }

    func text(_ row: Int, _ column: Int) -> String? {
        guard PQgetisnull(result, Int32(row), Int32(column)) == 0 else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    func int(_ row: Int, _ column: Int) -> Int64? { text(row, column).flatMap { Int64($0) } }
}
