/// Bounds on a config file checked before it is parsed, so that no file can make `check` or `run` hang or crash: its
/// size, and the number of parts and the length of every key (a 10,000-part dotted key costs the TOML parser and the
/// key paths quadratic time), and that every table header starts with a key (`[$`, `[[[0` or `[` followed by a
/// combining mark would trip an assertion in the TOML parser, found by `make fuzz`). TOML's own nesting limit (256)
/// bounds nested arrays and inline tables. It reads bytes, not characters: a combining mark must not hide a bracket.
enum KeyBounds {
    static let maxFileBytes = 4 << 20
    static let maxKeyParts = 16
    static let maxKeyBytes = 512

    /// Space and tab: what the TOML parser skips after a bracket (a carriage return is not, `[\r1` found by the fuzzer).
    private static let blank: Set<UInt8> = [0x20, 0x09]

    /// The first key over a bound, with its line; nil when every key is within them.
    static func check(_ text: String) -> (line: Int, message: String)? {
        var inMultiline: [UInt8]?
        // Open brackets of a value that goes on over the next lines (an array written over several lines).
        var openValue = 0
        let bytes = Array(text.utf8)
        for (index, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { blank.contains($0) }
            if let delimiter = inMultiline {
                if count(delimiter, in: line) > 0 { inMultiline = nil }
                continue
            }
            guard let first = line.first, first != UInt8(ascii: "#") else { continue }
            if openValue > 0 {
                openValue = max(0, openValue + brackets(line))
                continue
            }
            var key: ArraySlice<UInt8>
            if first == UInt8(ascii: "[") {
                // `[name]` or `[[name]]`: one or two brackets, then (after blanks) a key.
                let double = line.dropFirst().first == UInt8(ascii: "[")
                let name = line.dropFirst(double ? 2 : 1).drop { blank.contains($0) }
                guard let start = name.first, isKeyStart(start) else {
                    return (index + 1, "a table header must start with a key name ([name] or [[name]])")
                }
                key = name.prefix { $0 != UInt8(ascii: "]") }
            } else if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                key = line[..<equals]
                let value = line[(equals + 1)...]
                for delimiter in [Array("\"\"\"".utf8), Array("'''".utf8)] where count(delimiter, in: value) == 1 {
                    inMultiline = delimiter
                }
                if inMultiline == nil { openValue = max(0, brackets(value)) }
            } else {
                continue
            }
            let parts = key.prefix(maxKeyBytes * 4).split(
                separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            if parts.count > maxKeyParts {
                return (index + 1, "a key with more than \(maxKeyParts) dotted parts (\(parts.count) or more)")
            }
            if key.count > maxKeyBytes {
                return (index + 1, "a key longer than \(maxKeyBytes) bytes")
            }
        }
        return nil
    }

    /// A bare key character (ASCII letter, digit, `_`, `-`) or a quote.
    static func isKeyStart(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")
    }

    /// How many times `needle` occurs in `line`, without overlaps.
    static func count(_ needle: [UInt8], in line: ArraySlice<UInt8>) -> Int {
        var found = 0
        var i = line.startIndex
        while i + needle.count <= line.endIndex {
            if line[i..<(i + needle.count)].elementsEqual(needle) {
                found += 1
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }

    /// `[` and `{` minus `]` and `}` outside quoted strings (a rough count, enough to follow a multi-line array).
    static func brackets(_ text: ArraySlice<UInt8>) -> Int {
        var depth = 0
        var quote: UInt8?
        var escaped = false
        for c in text {
            if let q = quote {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") {
                    escaped = true
                } else if c == q {
                    quote = nil
                }
                continue
            }
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = c
            case UInt8(ascii: "#"): return depth
            case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return depth
    }
}
