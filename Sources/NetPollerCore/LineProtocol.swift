/// InfluxDB line protocol encoder, appending bytes to a buffer (no per-field allocation for integer fields).
///
/// Escaping follows the line protocol reference: measurement escapes `,` and space; tag keys, tag values and field
/// keys escape `,`, `=` and space; string field values escape `"` and `\`. Empty tag values are omitted (the protocol
/// cannot carry them); NaN and infinite floats are omitted (the protocol cannot carry them); a line without fields
/// is not written.
public enum LineProtocol {
    /// Appends one line per sample of `batch`.
    public static func encode(_ batch: SampleBatch, into out: inout [UInt8]) {
        var tags: [Tag] = []
        for sample in batch.samples {
            tags.removeAll(keepingCapacity: true)
            tags.append(Tag("device", batch.device))
            tags.append(contentsOf: batch.deviceTags)
            tags.append(contentsOf: sample.tags)
            tags.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            encodeLine(
                measurement: sample.measurement, tags: tags, fields: sample.fields,
                timestampNanos: batch.timestampNanos, into: &out)
        }
    }

    /// Appends one line; tags must already be sorted by key.
    public static func encodeLine(
        measurement: String, tags: [Tag], fields: [Field], timestampNanos: Int64, into out: inout [UInt8]
    ) {
        let start = out.count
        escape(measurement, into: &out, escapingEquals: false)
        for tag in tags where !tag.value.isEmpty && !tag.key.isEmpty {
            out.append(UInt8(ascii: ","))
            escape(tag.key, into: &out, escapingEquals: true)
            out.append(UInt8(ascii: "="))
            escape(tag.value, into: &out, escapingEquals: true)
        }
        var first = true
        for field in fields {
            if case .double(let d) = field.value, !d.isFinite { continue }
            out.append(first ? UInt8(ascii: " ") : UInt8(ascii: ","))
            first = false
            escape(field.name, into: &out, escapingEquals: true)
            out.append(UInt8(ascii: "="))
            switch field.value {
            case .int(let v):
                appendDecimal(v, into: &out)
                out.append(UInt8(ascii: "i"))
            case .uint(let v):
                if v <= UInt64(Int64.max) {
                    appendDecimal(Int64(v), into: &out)
                    out.append(UInt8(ascii: "i"))
                } else {
                    out.append(contentsOf: String(v).utf8)
                    out.append(UInt8(ascii: "u"))
                }
            case .double(let d):
                out.append(contentsOf: d.description.utf8)
            case .text(let s):
                out.append(UInt8(ascii: "\""))
                for byte in s.utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                    out.append(byte)
                }
                out.append(UInt8(ascii: "\""))
            }
        }
        if first {
            out.removeSubrange(start...)
            return
        }
        out.append(UInt8(ascii: " "))
        appendDecimal(timestampNanos, into: &out)
        out.append(UInt8(ascii: "\n"))
    }

    @inline(__always)
    static func escape(_ s: String, into out: inout [UInt8], escapingEquals: Bool) {
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: " "):
                out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "=") where escapingEquals:
                out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"):
                // A newline would end the line: line protocol has no escape for it.
                out.append(UInt8(ascii: " "))
                continue
            default:
                break
            }
            out.append(byte)
        }
    }

    /// Decimal digits of `value` without going through String.
    @inline(__always)
    public static func appendDecimal(_ value: Int64, into out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 0
            while magnitude > 0 {
                digits[n] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            }
            while n > 0 {
                n -= 1
                out.append(digits[n])
            }
        }
    }
}
