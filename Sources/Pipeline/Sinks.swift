import Foundation
import Logging
import NetPollerCore
import Synchronization

/// Writes InfluxDB line protocol (or JSON lines) to standard output. Used by `once` and by `[[outputs.stdout]]`.
public final class StdoutSink: Sink {
    public enum Format: Sendable { case influx, json }

    public let name: String
    private let format: Format
    /// write(2) blocks when the reader is slow: it runs on this serial queue, never on the cooperative pool.
    private let writer = DispatchQueue(label: "netpoller.stdout-sink")
    /// Kept between writes: it remembers each device's escaped series.
    private let encoder = Mutex(LineProtocol.Encoder())

    public init(name: String = "stdout", format: Format) {
        self.name = name
        self.format = format
    }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let bytes = encoder.withLock { TextEncoding.encode(batches, format: format, encoder: &$0) }
        let ok = await writer.run { FileWriting.writeAll(1, bytes) }
        return ok ? .accepted : .retryable(SinkError(.io, "cannot write to standard output"))
    }
}

/// Appends line protocol or JSON lines to a file (`[[outputs.file]]`), like Telegraf's file output. The file is
/// opened for each write, so a rotated (moved) file is followed and a missing directory is a retryable failure that
/// heals when the directory comes back.
public final class FileSink: Sink {
    public let name: String
    public let path: String
    private let format: StdoutSink.Format
    /// Blocking file I/O runs on this serial queue, never on the cooperative pool.
    private let writer: DispatchQueue
    /// Kept between writes: it remembers each device's escaped series.
    private let encoder = Mutex(LineProtocol.Encoder())

    public init(name: String, path: String, format: StdoutSink.Format) {
        self.name = name
        self.path = path
        self.format = format
        writer = DispatchQueue(label: "netpoller.file-sink.\(name)")
    }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let bytes = encoder.withLock { TextEncoding.encode(batches, format: format, encoder: &$0) }
        let path = self.path
        let error = await writer.run { FileWriting.append(path, bytes) }
        return error.map { .retryable($0) } ?? .accepted
    }

    public func probe() async -> SinkError? {
        let path = self.path
        return await writer.run { FileWriting.append(path, []) }
    }
}

enum TextEncoding {
    static func encode(
        _ batches: [SampleBatch], format: StdoutSink.Format, encoder: inout LineProtocol.Encoder
    ) -> [UInt8] {
        switch format {
        case .influx:
            let bytes = OutputBytes(capacity: batches.reduce(0) { $0 + $1.count } * 192)
            for batch in batches { encoder.encode(batch, precision: .ns, into: bytes) }
            return bytes.array
        case .json:
            var out: [UInt8] = []
            for batch in batches { out += JSONLines.encode(batch) }
            return out
        }
    }
}

enum FileWriting {
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Appends to `path` (created if missing); nil on success.
    static func append(_ path: String, _ bytes: [UInt8]) -> SinkError? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            return SinkError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        return writeAll(fd, bytes) ? nil : SinkError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

/// One JSON object per sample:
/// `{"batch_id":"…","device":…,"fields":{…},"measurement":…,"tags":{…},"timestamp":…}` (`batch_id` is the batch's
/// stable id in hex, so a consumer can drop redelivered batches).
public enum JSONLines {
    struct Line: Encodable {
        enum CodingKeys: String, CodingKey {
            case batchID = "batch_id"
            case measurement, device, tags, fields, timestamp
        }
        var batchID: String
        var measurement: String
        var device: String
        var tags: [String: String]
        var fields: [String: JSONValue]
        var timestamp: Int64
    }

    enum JSONValue: Encodable {
        case int(Int64), uint(UInt64), double(Double), text(String)
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            case .uint(let v): try c.encode(v)
            case .double(let v): try c.encode(v.isFinite ? v : 0)
            case .text(let v): try c.encode(v)
            }
        }
    }

    public static func encode(_ batch: SampleBatch) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out: [UInt8] = []
        for sample in batch.samples {
            var tags: [String: String] = [:]
            for tag in batch.deviceTags + sample.tags { tags[tag.key] = tag.value }
            var fields: [String: JSONValue] = [:]
            for field in sample.fields {
                switch field.value {
                case .int(let v): fields[field.name] = .int(v)
                case .uint(let v): fields[field.name] = .uint(v)
                case .double(let v): fields[field.name] = .double(v)
                case .text(let v): fields[field.name] = .text(v)
                }
            }
            let line = Line(
                batchID: String(batch.id, radix: 16), measurement: sample.measurement, device: batch.device, tags: tags,
                fields: fields,
                timestamp: batch.timestampNanos)
            if let data = try? encoder.encode(line) {
                out.append(contentsOf: data)
                out.append(UInt8(ascii: "\n"))
            }
        }
        return out
    }
}
