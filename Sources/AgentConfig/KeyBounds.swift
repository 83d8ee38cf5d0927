/// Bounds on a config file checked before it is parsed, so that no file can make `check` or `run` hang or crash: its
/// size, and the number of parts and the length of every key (a 10,000-part dotted key costs the TOML parser and the
/// key paths quadratic time), and that every table header starts with a key (`[$` would trip an assertion in the TOML
/// parser, found by `make fuzz`). TOML's own nesting limit (256) bounds nested arrays and inline tables.
enum KeyBounds {
    static let maxFileBytes = 4 << 20
    static let maxKeyParts = 16
    static let maxKeyBytes = 512

    /// The first key over a bound, with its line; nil when every key is within them.
    static func check(_ text: String) -> (line: Int, message: String)? {
        var inMultiline: String?
        // Open brackets of a value that goes on over the next lines (an array written over several lines).
        var openValue = 0
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if let delimiter = inMultiline {
                if line.contains(delimiter) { inMultiline = nil }
                continue
            }
            if line.hasPrefix("#") || line.isEmpty { continue }
            if openValue > 0 {
                openValue = max(0, openValue + brackets(line))
                continue
            }
            var key: Substring
            if line.hasPrefix("[") {
                // `[name]` or `[[name]]`: one or two brackets, then (after blanks) a key.
                let name = line.dropFirst(line.hasPrefix("[[") ? 2 : 1).drop { $0 == " " || $0 == "\t" }
                guard let first = name.first, isKeyStart(first) else {
                    return (index + 1, "a table header must start with a key name ([name] or [[name]])")
                }
                key = name.prefix { $0 != "]" }
            } else if let equals = line.firstIndex(of: "=") {
                key = line[..<equals]
                let value = line[line.index(after: equals)...]
                for delimiter in ["\"\"\"", "'''"] where value.components(separatedBy: delimiter).count == 2 {
                    inMultiline = delimiter
                }
                if inMultiline == nil { openValue = max(0, brackets(value)) }
            } else {
                continue
            }
            key = key.prefix(maxKeyBytes * 4)
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).count
            if parts > maxKeyParts {
                return (index + 1, "a key with more than \(maxKeyParts) dotted parts (\(parts) or more)")
            }
            if key.utf8.count > maxKeyBytes {
                return (index + 1, "a key longer than \(maxKeyBytes) bytes")
            }
        }
        return nil
    }

    /// A bare key character or a quote.
    static func isKeyStart(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == "\"" || c == "'")
    }

    /// `[` and `{` minus `]` and `}` outside quoted strings (a rough count, enough to follow a multi-line array).
    static func brackets(_ text: Substring) -> Int {
        var depth = 0
        var quote: Character?
        var escaped = false
        for c in text {
            if let q = quote {
                if escaped {
                    escaped = false
                } else if c == "\\" && q == "\"" {
                    escaped = true
                } else if c == q {
                    quote = nil
                }
                continue
            }
            switch c {
            case "\"", "'": quote = c
            case "#": return depth
            case "[", "{": depth += 1
            case "]", "}": depth -= 1
            default: break
            }
        }
        return depth
    }
}
