import Foundation
import Logging
import NetPollerCore

/// Writes InfluxDB line protocol (or JSON lines) to standard output. Used by `once` and by `[[outputs.stdout]]`.
public final class StdoutSink: Sink {
    public enum Format: Sendable { case influx, json }

    public let name: String
    private let format: Format
    /// write(2) blocks when the reader is slow: it runs on this serial queue, never on the cooperative pool.
    private let writer = DispatchQueue(label: "netpoller.stdout-sink")

    public init(name: String = "stdout", format: Format) {
        self.name = name
        self.format = format
    }

    public func write(_ batch: SampleBatch) async -> SinkResult {
        var out: [UInt8] = []
        switch format {
        case .influx:
            out.reserveCapacity(batch.count * 256)
            LineProtocol.encode(batch, into: &out)
        case .json:
            out = JSONLines.encode(batch)
        }
        let bytes = out
        let ok = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            writer.async { continuation.resume(returning: Self.writeAll(bytes)) }
        }
        return ok ? .accepted : .retryable(SinkError(.io, "cannot write to standard output"))
    }

    private static func writeAll(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(1, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }
}

/// One JSON object per sample: `{"measurement":…,"device":…,"tags":{…},"fields":{…},"timestamp":…}`.
public enum JSONLines {
    struct Line: Encodable {
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
                measurement: sample.measurement, device: batch.device, tags: tags, fields: fields,
                timestamp: batch.timestampNanos)
            if let data = try? encoder.encode(line) {
                out.append(contentsOf: data)
                out.append(UInt8(ascii: "\n"))
            }
        }
        return out
    }
}
