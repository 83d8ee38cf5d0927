import NetPollerCore

/// `COPY samples (series_id, time, value) FROM STDIN (FORMAT binary)`: the PostgreSQL binary copy format.
struct BinaryCopy {
    /// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    private var bytes: [UInt8] = []
    private let capacity: Int
    /// Rows encoded so far (all chunks).
    private(set) var rows = 0

    init(reserveRows: Int) {
        capacity = 21 + reserveRows * 38
        bytes.reserveCapacity(capacity)
        bytes += Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        append32(0)  // flags
        append32(0)  // header extension length
    }

    /// Bytes encoded and not yet taken.
    var pending: Int { bytes.count }

    @inline(__always)
    mutating func row(seriesID: Int64, timestampNanos: Int64, value: Double) {
        append16(3)
        append32(8)
        append64(UInt64(bitPattern: seriesID))
        append32(8)
        append64(UInt64(bitPattern: timestampNanos / 1000 - Self.postgresEpochMicros))
        append32(8)
        append64(value.bitPattern)
        rows += 1
    }

    /// The bytes encoded so far; the next chunk starts empty.
    mutating func take() -> [UInt8] {
        defer {
            bytes = []
            bytes.reserveCapacity(capacity)
        }
        return bytes
    }

    /// The last chunk, with the trailer.
    mutating func finish() -> [UInt8] {
        append16(0xFFFF)
        return take()
    }

    @inline(__always) private mutating func append16(_ v: UInt16) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }
    @inline(__always) private mutating func append32(_ v: UInt32) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }
    @inline(__always) private mutating func append64(_ v: UInt64) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Text forms of parameters: array literals for `unnest($1::text[])`, JSON objects for jsonb, timestamps.
enum SQLText {
    /// `{"a","b",NULL}`: every element quoted, `"` and `\` escaped.
    static func array(_ elements: [String?]) -> String {
        var out = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { out += "," }
            guard let element else {
                out += "NULL"
                continue
            }
            out += "\""
            for scalar in element.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { out += "\\" }
                out.unicodeScalars.append(scalar)
            }
            out += "\""
        }
        return out + "}"
    }

    static func array(_ elements: [Int64]) -> String {
        "{" + elements.map(String.init).joined(separator: ",") + "}"
    }

    /// A JSON object with keys in the given order. NUL characters, which PostgreSQL's text and jsonb cannot hold, are
    /// dropped (SNMP strings may contain them).
    static func object(_ pairs: [(String, String)]) -> String {
        var out = "{"
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out += "," }
            string(pair.0, into: &out)
            out += ":"
            string(pair.1, into: &out)
        }
        return out + "}"
    }

    static func string(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0}": continue
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Text for a `text` column: without NUL characters.
    static func plain(_ s: String) -> String {
        s.contains("\u{0}") ? String(String.UnicodeScalarView(s.unicodeScalars.filter { $0 != "\u{0}" })) : s
    }
}
