import CCurl
import Foundation
import LineProtocol
import Logging
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// `[[outputs.influxdb]]`: batches as line protocol, one HTTP request per write, over one reused libcurl handle on the
/// sink's own thread. Every answer maps to what the sink runner does next (see docs/influxdb.md).
public final class InfluxSink: Sink {
    public let name: String
    private let worker: SinkThread<InfluxWriter>
    private let writer: InfluxWriter

    public init(options: InfluxOptions, metrics: SelfMetrics?, logger: Logger) {
        name = options.name
        writer = InfluxWriter(options: options, metrics: metrics, logger: logger)
        worker = SinkThread(name: "influx:\(options.name)", writer: writer)
    }

    /// CPU seconds the sink's thread spent so far encoding line protocol and sending it (curl and the kernel),
    /// for `make bench-influx`.
    public var threadCPU: (encoding: Double, sending: Double) {
        (
            Double(writer.encodeNanos.load(ordering: .relaxed)) / 1e9,
            Double(writer.sendNanos.load(ordering: .relaxed)) / 1e9
        )
    }

    /// True once `close()` ran: the sink takes no more writes.
    public var isClosed: Bool { worker.isClosed }
    public func write(_ batches: [SampleBatch]) async -> SinkResult { await worker.write(batches) }
    public func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void) {
        worker.startWrite(batches, completion: completion)
    }
    public func probe() async -> SinkError? { await worker.probe() }
    public var secrets: [String] { [writer.options.password, writer.options.token].compactMap { $0 } }
    /// Closes the connection after any write in flight, then ends the thread.
    public func close() async { await worker.close() }
}

/// The sink's state: the curl handle, the gzip stream and reused buffers.
// @unchecked Sendable: only `InfluxSink` holds it and only calls it inside `thread.run`, so every access happens on
// that one thread, one at a time; the two CPU counters are atomics, read from anywhere.
final class InfluxWriter: ThreadConfinedWriter, @unchecked Sendable {
    let options: InfluxOptions
    let metrics: SelfMetrics?
    let logger: Logger
    let writeURL: String
    private var curl: CurlHandle?
    private let gzip = Gzip(level: 1)
    private let body = OutputBytes(capacity: 1 << 20)
    private var compressed: [UInt8] = []
    private var encoder = LineProtocol.Encoder()
    private var createdDatabase = false
    let encodeNanos = Atomic<Int>(0)
    let sendNanos = Atomic<Int>(0)

    init(options: InfluxOptions, metrics: SelfMetrics?, logger: Logger) {
        self.options = options
        self.metrics = metrics
        self.logger = logger
        writeURL = Self.writeURL(options)
        if options.insecureSkipVerify {
            logger.warning(
                "influxdb: insecure_skip_verify is on: the server's TLS certificate is not checked",
                metadata: .keys([.sink: "\(options.name)", .target: "\(options.url)"]))
        }
    }

    static func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    static func writeURL(_ options: InfluxOptions) -> String {
        var query: [(String, String)] = []
        switch options.api {
        case .v1:
            query.append(("db", options.database))
            if let rp = options.retentionPolicy { query.append(("rp", rp)) }
            query.append(("precision", options.precision == .us ? "u" : options.precision.rawValue))
            return base(options.url) + "/write?" + encode(query)
        case .v2:
            query.append(("org", options.organization ?? ""))
            query.append(("bucket", options.bucket ?? ""))
            query.append(("precision", options.precision.rawValue))
            return base(options.url) + "/api/v2/write?" + encode(query)
        }
    }

    static func encode(_ query: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")
    }

    func close() { curl = nil }

    /// CPU nanoseconds of the calling thread.
    static func threadNanos() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }

    private func handle() throws(CurlHandle.Failure) -> CurlHandle {
        if let curl { return curl }
        var headers = ["Content-Type: text/plain; charset=utf-8", "Expect:"]
        if options.gzip { headers.append("Content-Encoding: gzip") }
        if options.api == .v2, let token = options.token { headers.append("Authorization: Token \(token)") }
        let made = try CurlHandle(options: options, headers: headers)
        curl = made
        return made
    }

    /// An empty write: the server answers, the credentials and the database (or bucket) are good.
    func probe() -> SinkError? {
        switch send(UnsafeRawBufferPointer(start: nil, count: 0)) {
        case .accepted: return nil
        case .retryable(let error): return error
        case .rejected(let reason), .tooLarge(let reason): return SinkError(.rejected, reason)
        case .partial(let parts): return SinkError(.rejected, parts.first?.reason ?? "")
        }
    }

    func write(_ batches: [SampleBatch]) -> SinkResult {
        // A body far above the usual size (a backlog's huge batch) does not keep its memory.
        body.removeAll(keepingCapacity: false, limit: 16 << 20)
        var ends: [Int] = []
        ends.reserveCapacity(batches.count)
        let started = Self.threadNanos()
        for batch in batches {
            encoder.encode(batch, precision: options.precision, into: body)
            ends.append(body.count)
        }
        let encoded = Self.threadNanos()
        encodeNanos.add(encoded - started, ordering: .relaxed)
        guard !body.isEmpty else { return .accepted }
        let result = send(body.bytes)
        sendNanos.add(Self.threadNanos() - encoded, ordering: .relaxed)
        if case .partial(let refused) = result {
            return .partial(Self.locate(refused, body: body.array, ends: ends, batches: batches))
        }
        return result
    }

    /// One POST of `lines`; the answer as the runner's outcome. A partial write's parts carry only lines and reason
    /// here; `write` ties them to their batches.
    private func send(_ lines: UnsafeRawBufferPointer) -> SinkResult {
        if options.gzip {
            guard gzip.compress(lines, into: &compressed) else {
                return .retryable(SinkError(.io, "zlib could not compress the request body"))
            }
        }
        metrics?.influx(options.name).bytes(raw: lines.count, sent: options.gzip ? compressed.count : lines.count)
        let response: CurlHandle.Response
        do {
            let curl = try handle()
            response = try options.gzip ? curl.post(writeURL, body: compressed) : curl.post(writeURL, body: lines)
        } catch {
            metrics?.influx(options.name).response("error")
            // A failed transfer may leave the connection in any state: the next request opens a new one.
            curl = nil
            let code: SinkError.Code = error.code == CURLE_OPERATION_TIMEDOUT ? .timeout : .unavailable
            return .retryable(SinkError(code, "\(error.message) (\(options.url))"))
        }
        metrics?.influx(options.name).response("\(response.status)")
        return classify(response, lines: Array(lines))
    }

    /// The runner's outcome for an answer; `lines` (the body sent) is only read for a 400 or 413.
    func classify(_ response: CurlHandle.Response, lines: @autoclosure () -> [UInt8]) -> SinkResult {
        let status = response.status
        if (200..<300).contains(status) { return .accepted }
        let message = Self.errorMessage(response)
        switch status {
        case 400:
            if message.contains("partial write") {
                let refused = Self.refusedLines(message, body: lines())
                if !refused.isEmpty {
                    return .partial(
                        refused.map {
                            RejectedPart(batchID: 0, device: "", lines: $0, samples: 1, reason: "HTTP 400: \(message)")
                        })
                }
            }
            return .rejected(reason: "HTTP 400: \(message)")
        case 401, 403:
            return .retryable(SinkError(.auth, "HTTP \(status): \(message) (check the credentials)"))
        case 404 where message.contains("database not found") && options.api == .v1:
            if options.createDatabase && !createdDatabase, let created = createDatabase() {
                createdDatabase = created
                return created ? lines().withUnsafeBytes { send($0) } : .retryable(SinkError(.unavailable, message))
            }
            return .retryable(
                SinkError(
                    .unavailable,
                    "HTTP 404: \(message) (create it, or set create_database = true for the agent to create it)"))
        case 413:
            return .tooLarge(reason: "HTTP 413: request too large (\(lines().count) bytes): \(message)")
        case 429, 503:
            return .retryable(SinkError(.throttled, "HTTP \(status): \(message)", retryAfter: response.retryAfter))
        default:
            return .retryable(SinkError(.unavailable, "HTTP \(status): \(message)"))
        }
    }

    /// `CREATE DATABASE` over the v1 query API; true when it worked, nil when the request failed.
    private func createDatabase() -> Bool? {
        let name = options.database.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
        let query = Self.base(options.url) + "/query?" + Self.encode([("q", "CREATE DATABASE \"\(name)\"")])
        guard let response = try? handle().post(query, body: []) else { return nil }
        let ok = (200..<300).contains(response.status) && !Self.errorMessage(response).contains("error")
        if ok {
            logger.info(
                "influxdb database created",
                metadata: .keys([.sink: "\(options.name)", .target: "\(options.url)", .database: "\(options.database)"])
            )
        }
        return ok
    }

    /// The server's reason: `{"error":"…"}` (InfluxDB), `{"message":"…"}` (2.x) or the plain body, on one line.
    static func errorMessage(_ response: CurlHandle.Response) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] {
            if let error = object["error"] as? String { return error }
            if let message = object["message"] as? String { return message }
        }
        let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no details" : text.replacingOccurrences(of: "\n", with: " ")
    }

    /// The body's lines (each with its newline), split as InfluxDB splits them: a newline inside a quoted string
    /// field value does not end a line.
    static func splitLines(_ body: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        var inFields = false
        var quoted = false
        var equals = 0
        var commas = 0
        while i < body.count {
            let byte = body[i]
            if byte == UInt8(ascii: "\\") && i + 2 < body.count {
                i += 2
                continue
            }
            if byte == UInt8(ascii: " ") { inFields = true }
            if inFields {
                if !quoted && byte == UInt8(ascii: "=") {
                    equals += 1
                } else if !quoted && byte == UInt8(ascii: ",") {
                    commas += 1
                } else if byte == UInt8(ascii: "\"") && equals > commas {
                    quoted.toggle()
                }
            }
            if byte == UInt8(ascii: "\n") && !quoted {
                lines.append(body[start...i])
                start = i + 1
                (inFields, equals, commas) = (false, 0, 0)
            }
            i += 1
        }
        if start < body.count { lines.append(body[start...]) }
        return lines
    }

    /// The lines a partial-write message names: `unable to parse '<line>'`, or for a field type conflict (`input field
    /// "F" on measurement "M" is type T`) every line of M whose field F has type T.
    static func refusedLines(_ message: String, body: [UInt8]) -> [String] {
        var refused: [String] = []
        let conflicts = fieldTypeConflicts(message)
        for slice in splitLines(body) {
            let line = String(decoding: slice, as: UTF8.self)
            let bare = line.hasSuffix("\n") ? String(line.dropLast()) : line
            if message.contains("unable to parse '\(bare)'") {
                refused.append(line)
            } else if conflicts.contains(where: { matches(bare, $0) }) {
                refused.append(line)
            }
        }
        return refused
    }

    struct Conflict {
        var field: String
        var measurement: String
        var type: String
    }

    static func fieldTypeConflicts(_ message: String) -> [Conflict] {
        // input field "value" on measurement "cpu" is type integer, already exists as type float
        var conflicts: [Conflict] = []
        var rest = Substring(message)
        while let range = rest.range(of: "input field \"") {
            rest = rest[range.upperBound...]
            guard let fieldEnd = rest.range(of: "\" on measurement \"") else { break }
            let field = String(rest[..<fieldEnd.lowerBound])
            rest = rest[fieldEnd.upperBound...]
            guard let measurementEnd = rest.range(of: "\" is type ") else { break }
            let measurement = String(rest[..<measurementEnd.lowerBound])
            rest = rest[measurementEnd.upperBound...]
            let type = String(rest.prefix { $0.isLetter })
            conflicts.append(Conflict(field: field, measurement: measurement, type: type))
        }
        return conflicts
    }

    /// Whether a line is of the conflict's measurement and carries its field with the refused type.
    static func matches(_ line: String, _ conflict: Conflict) -> Bool {
        var measurement: [UInt8] = []
        LineProtocol.escape(conflict.measurement, into: &measurement, special: .measurement)
        var field: [UInt8] = []
        LineProtocol.escape(conflict.field, into: &field, special: .key)
        let bytes = Array(line.utf8)
        guard bytes.starts(with: measurement), bytes.count > measurement.count,
            bytes[measurement.count] == UInt8(ascii: ",") || bytes[measurement.count] == UInt8(ascii: " ")
        else { return false }
        for separator in [" ", ","] {
            let needle = Array(separator.utf8) + field + [UInt8(ascii: "=")]
            guard let at = bytes.firstRange(of: needle) else { continue }
            let value = bytes[at.upperBound...].prefix { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: " ") }
            let type: String
            if value.first == UInt8(ascii: "\"") {
                type = "string"
            } else if value.last == UInt8(ascii: "i") {
                type = "integer"
            } else if value.last == UInt8(ascii: "u") {
                type = "unsigned"
            } else if let first = value.first,
                first == UInt8(ascii: "t") || first == UInt8(ascii: "f")
                    || first == UInt8(ascii: "T") || first == UInt8(ascii: "F")
            {
                type = "boolean"
            } else {
                type = "float"
            }
            return type == conflict.type
        }
        return false
    }

    /// Ties refused lines back to their batches (batch id, device) by position in the body.
    static func locate(_ parts: [RejectedPart], body: [UInt8], ends: [Int], batches: [SampleBatch]) -> [RejectedPart] {
        var remaining = parts.map(\.lines)
        var located: [Int: (lines: String, count: Int)] = [:]
        var offset = 0
        for slice in splitLines(body) {
            defer { offset = slice.endIndex }
            let line = String(decoding: slice, as: UTF8.self)
            guard let index = remaining.firstIndex(of: line) else { continue }
            remaining.remove(at: index)
            let batch = ends.firstIndex { offset < $0 } ?? (batches.count - 1)
            located[batch, default: ("", 0)].lines += line
            located[batch, default: ("", 0)].count += 1
        }
        let reason = parts.first?.reason ?? ""
        return located.keys.sorted().map { index in
            RejectedPart(
                batchID: batches[index].id, device: batches[index].device, lines: located[index]!.lines,
                samples: located[index]!.count, reason: reason)
        }
    }
}
