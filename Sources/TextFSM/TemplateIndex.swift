import Foundation

/// An ntc-templates `index` file (`Template, Hostname, Platform, Command`), read as the reference's `CliTable` reads
/// it: the first non-comment line is the header; `#` lines are comments; a row with another number of fields is
/// dropped; every field but `Template` is a Python regex matched at the start of the attribute; in `Command`,
/// `abc[[xyz]]` is the completion `abc(x(y(z)?)?)?`. The first row whose fields all match wins.
public struct TemplateIndex: @unchecked Sendable {
    // Safe: NSRegularExpression is immutable and thread-safe once built; everything else is a value.

    struct Row {
        /// The template files (`a.textfsm:b.textfsm` names several).
        var templates: [String]
        var patterns: [String: NSRegularExpression]
        var line: Int
    }

    let rows: [Row]
    public let header: [String]

    /// Reads an index. `name` names it in errors.
    public init(_ text: String, name: String) throws(TemplateError) {
        var header: [String] = []
        var rows: [Row] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if header.isEmpty {
                let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                let trimmed = content.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                header = trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard header.contains("Template") else {
                    throw TemplateError(template: name, line: lineNumber, reason: "the header has no Template column")
                }
                continue
            }
            if line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == header.count else { continue }
            var templates: [String] = []
            var patterns: [String: NSRegularExpression] = [:]
            for (column, field) in zip(header, fields) {
                if column == "Template" {
                    templates = field.split(separator: ":").map(String.init)
                    continue
                }
                guard !field.isEmpty else { continue }
                let source = column == "Command" ? Self.completion(field) : field
                do {
                    let translated = try PythonRegex.translate(source)
                    patterns[column] = try NSRegularExpression(pattern: translated.pattern)
                } catch {
                    throw TemplateError(
                        template: name, line: lineNumber, reason: "invalid \(column) pattern '\(field)'")
                }
            }
            rows.append(Row(templates: templates, patterns: patterns, line: lineNumber))
        }
        self.header = header
        self.rows = rows
    }

    /// `sh[[ow]]` → `sh(o(w)?)?`, as the reference's `_Completion`.
    static func completion(_ field: String) -> String {
        var out = ""
        var rest = Substring(field)
        while let open = rest.range(of: "[["), let close = rest[open.upperBound...].range(of: "]]"),
            !rest[open.upperBound..<close.lowerBound].isEmpty
        {
            out += rest[..<open.lowerBound]
            let word = rest[open.upperBound..<close.lowerBound]
            out += "(" + word.map(String.init).joined(separator: "(") + String(repeating: ")?", count: word.count)
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// The template files of the first row whose patterns match the attributes (`Platform`, `Command`, …); an
    /// attribute the index has no column for is ignored, as by the reference.
    public func templates(for attributes: [String: String]) -> [String]? {
        for row in rows {
            var matches = true
            for (key, value) in attributes {
                guard let pattern = row.patterns[key] else { continue }
                let range = NSRange(location: 0, length: (value as NSString).length)
                if pattern.firstMatch(in: value, options: [.anchored], range: range) == nil {
                    matches = false
                    break
                }
            }
            if matches { return row.templates }
        }
        return nil
    }
}

extension RecordValue {
    /// The records as the JSON the reference's `ParseTextToDicts` gives: an array of objects keyed by Value name in
    /// template order.
    public static func json(header: [String], records: [[RecordValue]]) -> String {
        var out = "["
        for (r, record) in records.enumerated() {
            out += r == 0 ? "\n  {" : ",\n  {"
            for (i, (name, value)) in zip(header, record).enumerated() {
                out += (i == 0 ? "" : ", ") + quote(name) + ": " + value.json
            }
            out += "}"
        }
        return out + (records.isEmpty ? "]" : "\n]")
    }

    var json: String {
        switch self {
        case .text(let t): return Self.quote(t)
        case .list(let l): return "[" + l.map { $0.map(Self.quote) ?? "null" }.joined(separator: ", ") + "]"
        case .dicts(let dicts): return "[" + dicts.map(Self.json).joined(separator: ", ") + "]"
        case .mixed(let items):
            return "["
                + items.map { item in
                    switch item {
                    case .text(let t): t.map(Self.quote) ?? "null"
                    case .dict(let d): Self.json(d)
                    }
                }.joined(separator: ", ") + "]"
        }
    }

    /// The value as Foundation JSON objects (String, arrays, dictionaries, NSNull for nil), as the reference's records
    /// serialize.
    public var jsonObject: Any {
        func dict(_ d: [String: String?]) -> [String: Any] { d.mapValues { $0 as Any? ?? NSNull() } }
        switch self {
        case .text(let t): return t
        case .list(let l): return l.map { $0 as Any? ?? NSNull() }
        case .dicts(let d): return d.map(dict)
        case .mixed(let items):
            return items.map { item -> Any in
                switch item {
                case .text(let t): return t as Any? ?? NSNull()
                case .dict(let d): return dict(d)
                }
            }
        }
    }

    static func json(_ dict: [String: String?]) -> String {
        "{"
            + dict.keys.sorted().map { Self.quote($0) + ": " + (dict[$0]!.map(Self.quote) ?? "null") }
            .joined(separator: ", ") + "}"
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
