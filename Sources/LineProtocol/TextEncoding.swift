import Foundation
import NetPollerCore

/// How batches are written as text: line protocol or JSON lines (stdout and file sinks, dead letters).
public enum TextFormat: String, Sendable, CaseIterable { case influx, json }

/// Batches as one text body in a `TextFormat`.
public enum TextEncoding {
    public static func encode(
        _ batches: [SampleBatch], format: TextFormat, encoder: inout LineProtocol.Encoder
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
