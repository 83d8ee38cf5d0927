import Foundation
import NetPollerCore
import TextFSM

/// One parsed row of a command's output: named values, looked up by a field's or tag's `source`.
enum Cell: Equatable {
    case text(String)
    case number(Double)
    case bool(Bool)
    /// Absent, empty, JSON null, or a TextFSM List: no field (never zero).
    case missing
    /// A JSON object or array where a scalar was expected.
    case structure
}

struct Row {
    let lookup: (String) -> Cell
}

/// Numbers as CLIs print them: `1,234`, `1.2k`, `3M`, `45%`, `-40.5 dBm`, `0x1f`, `1e3`.
enum CLINumber {
    static let suffixes: [Character: Double] = [
        "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12,
    ]

    /// The number, or nil when the text is not one (`never`, `N/A`, `--`). Works on the UTF-8 bytes: it runs for every
    /// field of every row.
    static func parse(_ raw: String) -> Double? {
        var bytes = Array(raw.utf8)[...]
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return nil }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if bytes.count > 2, bytes.first == 0x30, bytes[bytes.startIndex + 1] | 0x20 == 0x78,
            let v = UInt64(String(decoding: bytes.dropFirst(2), as: UTF8.self), radix: 16)
        {
            return Double(v)
        }
        // A unit after the number (`dBm`, `C`, `%`, `Celsius`, `bits/sec`): the number is the leading part.
        var number: [UInt8] = []
        var i = bytes.startIndex
        var sawDigit = false
        var sawExponent = false
        while i < bytes.endIndex {
            let c = bytes[i]
            if isDigit(c) {
                sawDigit = true
                number.append(c)
            } else if c == UInt8(ascii: ",") && sawDigit {
                // A thousands separator only between digits.
                guard i + 1 < bytes.endIndex, isDigit(bytes[i + 1]) else { break }
            } else if c == UInt8(ascii: ".") {
                number.append(c)
            } else if (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) && (i == bytes.startIndex || sawExponent) {
                sawExponent = false
                number.append(c)
            } else if c | 0x20 == UInt8(ascii: "e") && sawDigit && !sawExponent {
                guard i + 1 < bytes.endIndex,
                    isDigit(bytes[i + 1]) || bytes[i + 1] == UInt8(ascii: "-") || bytes[i + 1] == UInt8(ascii: "+")
                else { break }
                sawExponent = true
                number.append(c)
            } else {
                break
            }
            i += 1
        }
        guard sawDigit, var value = Double(String(decoding: number, as: UTF8.self)) else { return nil }
        var rest = bytes[i...]
        while rest.first == 0x20 { rest = rest.dropFirst() }
        if let first = rest.first, let factor = suffixes[Character(Unicode.Scalar(first))] {
            // `1.2k`, `3 M`, `2G`, and units that start with one (`kbps`, `Mb/s`): scaled. A bare `m`/`M` followed by
            // letters that are not a rate (`min`, `ms`, `mV`) is a unit, not a factor.
            let unitWord = rest.dropFirst().prefix { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }
            let scaled = unitWord.isEmpty || rateUnits.contains(String(decoding: unitWord, as: UTF8.self))
            if scaled { value *= factor }
        }
        return value
    }

    static let rateUnits: Set<String> = ["b", "bit", "bits", "bps", "B", "byte", "bytes", "ib", "iB"]
}

/// Durations as CLIs print them, in seconds: `1 week, 3 days, 16 hours, 11 minutes` (IOS), `749 day(s), 15 hour(s)`
/// (NX-OS), `1 hour and 5 minutes` (EOS), `3w0d`, `1y10w`, `40d23h`, `01:51:38`, `26w3d 17:59` (BGP, Junos).
enum CLIDuration {
    static let units: [(prefix: String, seconds: Double)] = [
        ("year", 365 * 86_400), ("y", 365 * 86_400), ("week", 604_800), ("w", 604_800), ("day", 86_400),
        ("d", 86_400), ("hour", 3_600), ("hr", 3_600), ("h", 3_600), ("minute", 60), ("min", 60), ("m", 60),
        ("second", 1), ("sec", 1), ("s", 1),
    ]

    static func parse(_ raw: String) -> Double? {
        let text = raw.lowercased()
        var total = 0.0
        var found = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            guard c.isASCII, c.isNumber else {
                i = text.index(after: i)
                continue
            }
            var j = i
            while j < text.endIndex, text[j].isASCII, text[j].isNumber || text[j] == "." { j = text.index(after: j) }
            guard let number = Double(text[i..<j]) else { return nil }
            if j < text.endIndex, text[j] == ":" {
                // h:m[:s]
                var parts = [number]
                var k = j
                while k < text.endIndex, text[k] == ":" {
                    let start = text.index(after: k)
                    var end = start
                    while end < text.endIndex, text[end].isASCII, text[end].isNumber { end = text.index(after: end) }
                    guard let n = Double(text[start..<end]) else { return nil }
                    parts.append(n)
                    k = end
                }
                if parts.count == 2 {
                    total += parts[0] * 3_600 + parts[1] * 60
                } else if parts.count == 3 {
                    total += parts[0] * 3_600 + parts[1] * 60 + parts[2]
                } else {
                    return nil
                }
                found = true
                i = k
                continue
            }
            var k = j
            while k < text.endIndex, text[k] == " " { k = text.index(after: k) }
            var word = ""
            var w = k
            while w < text.endIndex, text[w].isLetter {
                word.append(text[w])
                w = text.index(after: w)
            }
            // Letters only, so compact forms split themselves: `3w0d` is 3 `w`, then 0 `d`.
            guard let unit = units.first(where: { word.hasPrefix($0.prefix) }) else { return nil }
            total += number * unit.seconds
            found = true
            i = w
        }
        return found ? total : nil
    }
}

/// Why a command's whole output did not parse.
struct OutputFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// What mapping one command's output produced.
struct MappedOutput {
    var samples: [Sample] = []
    /// Values that did not parse: `field "value"` (at most 20 kept; `parseFailures` counts all).
    var failures: [String] = []
    var parseFailures = 0
}

/// A compiled command: its parser ready (template compiled, regex built) and its field mapping.
// @unchecked Sendable: `regex` (NSRegularExpression) is immutable and thread-safe once built; the rest are values.
struct CompiledCommand: @unchecked Sendable {
    let spec: CommandSpec
    let template: Template?
    let regex: NSRegularExpression?

    /// Parses the output into rows; a description of the problem when the output as a whole does not parse.
    func rows(_ output: String) -> Result<[Row], OutputFailure> {
        switch spec.parser {
        case .textfsm:
            guard let template else { return .failure(OutputFailure("no template")) }
            do {
                let records = try template.parse(output)
                let header = template.header
                return .success(
                    records.map { record in
                        Row { name in
                            guard let i = header.firstIndex(of: name) else { return .missing }
                            switch record[i] {
                            case .text(let t): return t.isEmpty ? .missing : .text(t)
                            default: return .missing
                            }
                        }
                    })
            } catch {
                return .failure(OutputFailure("\(error)"))
            }
        case .regex:
            guard let regex else { return .failure(OutputFailure("no regex")) }
            let ns = output as NSString
            let names = Self.groupNames(regex.pattern)
            return .success(
                regex.matches(in: output, options: [], range: NSRange(location: 0, length: ns.length)).map { match in
                    var values: [String: String] = [:]
                    for name in names {
                        let r = match.range(withName: name)
                        if r.location != NSNotFound { values[name] = ns.substring(with: r) }
                    }
                    return Row { name in values[name].map { $0.isEmpty ? .missing : .text($0) } ?? .missing }
                })
        case .json(let rowsPath):
            guard let data = Self.jsonStart(output),
                let document = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            else { return .failure(OutputFailure("the output is not JSON")) }
            var rows: [Any] = [document]
            if let rowsPath {
                guard let container = Self.walk(document, rowsPath) else {
                    return .failure(OutputFailure("no \"\(rowsPath)\" in the JSON output"))
                }
                if let list = container as? [Any] {
                    rows = list
                } else if let object = container as? [String: Any] {
                    // An object of rows keyed by name (EOS `interfaces`): each value a row, its key as `_key`.
                    rows = object.keys.sorted().map { key -> Any in
                        var row = (object[key] as? [String: Any]) ?? ["_value": object[key]!]
                        row["_key"] = key
                        return row
                    }
                } else {
                    return .failure(OutputFailure("\"\(rowsPath)\" is neither a list nor an object"))
                }
            }
            return .success(rows.map { row in Row { path in Self.cell(Self.walk(row, path)) } })
        }
    }

    /// The JSON document in a CLI output: from its first `{` or `[` (a device may print a line before it).
    static func jsonStart(_ output: String) -> Data? {
        guard let start = output.firstIndex(where: { $0 == "{" || $0 == "[" }) else { return nil }
        return Data(output[start...].utf8)
    }

    /// Follows a dotted path (`TABLE_intf.ROW_intf`, `a.0.b`); a key may hold dots if written in brackets:
    /// `interfaces["Ethernet1.1"]` is not needed for rows, so plain dots split.
    static func walk(_ value: Any, _ path: String) -> Any? {
        var current: Any? = value
        for part in path.split(separator: ".") {
            if let object = current as? [String: Any] {
                current = object[String(part)]
            } else if let list = current as? [Any], let i = Int(part), list.indices.contains(i) {
                current = list[i]
            } else if let list = current as? [Any], list.count == 1, let object = list[0] as? [String: Any] {
                // NX-OS wraps single rows in a one-element list in some versions and not in others.
                current = object[String(part)]
            } else {
                return nil
            }
        }
        return current
    }

    static func cell(_ value: Any?) -> Cell {
        switch value {
        case nil: return .missing
        case is NSNull: return .missing
        case let n as NSNumber:
            // JSON true/false arrive as NSNumbers of type "c" (char).
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }
            return .number(n.doubleValue)
        case let s as String: return s.isEmpty ? .missing : .text(s)
        default: return .structure
        }
    }

    static func groupNames(_ pattern: String) -> [String] {
        var names: [String] = []
        var rest = Substring(pattern)
        while let r = rest.range(of: "(?<") ?? rest.range(of: "(?P<") {
            let after = rest[r.upperBound...]
            if let close = after.firstIndex(of: ">"), !after.hasPrefix("=") && !after.hasPrefix("!") {
                names.append(String(after[..<close]))
                rest = after[close...]
            } else {
                rest = after
            }
        }
        return names
    }

    /// Rows into samples: tags from their columns, fields converted; a value that does not convert is a failure, named.
    func map(_ rows: [Row]) -> MappedOutput {
        var out = MappedOutput()
        for row in rows {
            var tags: [Tag] = []
            for tag in spec.tags {
                switch row.lookup(tag.source) {
                case .text(let t): tags.append(Tag(tag.name, t))
                case .number(let n):
                    tags.append(Tag(tag.name, n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)))
                case .bool(let b): tags.append(Tag(tag.name, b ? "true" : "false"))
                case .missing, .structure: break
                }
            }
            tags.sort { $0.key < $1.key }
            var fields: [Field] = []
            for field in spec.fields {
                let cell = row.lookup(field.source)
                if field.kind == .info {
                    switch cell {
                    case .text(let t): fields.append(Field(name: field.name, value: .text(t), kind: .info))
                    case .number(let n): fields.append(Field(name: field.name, value: .text(String(n)), kind: .info))
                    case .bool(let b):
                        fields.append(Field(name: field.name, value: .text(b ? "true" : "false"), kind: .info))
                    case .missing, .structure: break
                    }
                    continue
                }
                if field.present {
                    let has: Bool
                    switch cell {
                    case .missing: has = false
                    default: has = true
                    }
                    fields.append(Field(name: field.name, value: .int(has ? 1 : 0), kind: field.kind))
                    continue
                }
                var number: Double?
                var shown = ""
                switch cell {
                case .missing: continue
                case .text(let t) where field.duration:
                    if t.lowercased() == "never" { continue }
                    shown = t
                    number = CLIDuration.parse(t)
                case .structure: shown = "(a JSON object or list)"
                case .bool(let b): number = b ? 1 : 0
                case .number(let n): number = n
                case .text(let t):
                    shown = t
                    if let map = field.map {
                        number = map[t] ?? map.first { $0.key.caseInsensitiveCompare(t) == .orderedSame }?.value
                        if number == nil { number = CLINumber.parse(t) ?? map["*"] }
                    } else {
                        number = CLINumber.parse(t)
                    }
                }
                guard var value = number, value.isFinite else {
                    out.parseFailures += 1
                    if out.failures.count < 20 {
                        let at = tags.isEmpty ? "" : " (\(tags.map { "\($0.key)=\($0.value)" }.joined(separator: ",")))"
                        out.failures.append(
                            "\(spec.command): \(field.name)\(at) \"\(shown.prefix(60))\" is not a number")
                    }
                    continue
                }
                if let scale = field.scale { value *= scale }
                if field.kind == .counter, value >= 0, value == value.rounded(), value < 1.8e19 {
                    fields.append(Field(name: field.name, value: .uint(UInt64(value)), kind: .counter))
                } else if value == value.rounded() && abs(value) < 9e15 {
                    fields.append(Field(name: field.name, value: .int(Int64(value)), kind: field.kind))
                } else {
                    fields.append(Field(name: field.name, value: .double(value), kind: field.kind))
                }
            }
            if !fields.isEmpty {
                out.samples.append(Sample(measurement: spec.measurement, tags: tags, fields: fields))
            }
        }
        return out
    }
}
