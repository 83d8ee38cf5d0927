/// Bounds on a config file checked before it is parsed, so that no file can make `check` or `run` hang or crash: its
/// size, and the number of parts and the length of every key (a 10,000-part dotted key costs the TOML parser and the
/// key paths quadratic time). TOML's own nesting limit (256) bounds nested arrays and inline tables.
enum KeyBounds {
    static let maxFileBytes = 4 << 20
    static let maxKeyParts = 16
    static let maxKeyBytes = 512

    /// The first key over a bound, with its line; nil when every key is within them.
    static func check(_ text: String) -> (line: Int, message: String)? {
        var inMultiline: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if let delimiter = inMultiline {
                if line.contains(delimiter) { inMultiline = nil }
                continue
            }
            if line.hasPrefix("#") || line.isEmpty { continue }
            var key: Substring
            if line.hasPrefix("[") {
                key = line.drop { $0 == "[" }.prefix { $0 != "]" }
            } else if let equals = line.firstIndex(of: "=") {
                key = line[..<equals]
                let value = line[line.index(after: equals)...]
                for delimiter in ["\"\"\"", "'''"] where value.components(separatedBy: delimiter).count == 2 {
                    inMultiline = delimiter
                }
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
}
