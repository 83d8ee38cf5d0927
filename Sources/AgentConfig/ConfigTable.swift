import NetPollerCore

/// A view of one TOML table that decodes its keys and remembers which ones were asked for. `finish()` reports every
/// key of the table that nobody asked for as unknown, with a "did you mean" among those asked for: the keys a table
/// accepts are exactly the keys its decoder reads, so no list of known keys can drift from the code.
///
/// Every typed getter takes the key, reads it (present or not), and reports a wrong type or value with the file, line
/// and key path. Output plugins get one of these for their `[[outputs.<type>]]` table.
public struct ConfigTable {
    let node: Node
    /// The longest duration any key takes (ten years); longer values, and values that overflow, are refused.
    public static let longestDuration: Duration = .seconds(10 * 365 * 86_400)

    /// The table's key path (`outputs.influxdb[0]`), the prefix of every problem's path.
    public let path: String
    var decoder: ConfigDecoder
    private var known: [String] = []

    /// A view of `node`, or nil when there is none; a value that is not a table is reported.
    init?(_ node: Node?, path: String, decoder: ConfigDecoder) {
        guard let node else { return nil }
        guard case .table = node.value else {
            decoder.problem(node, path, "expected a table, found \(node.typeName)")
            return nil
        }
        self.node = node
        self.path = path
        self.decoder = decoder
    }

    /// The path of one of this table's keys.
    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func read(_ key: String) -> Node? {
        if !known.contains(key) { known.append(key) }
        return node[key]
    }

    /// The keys present in the table, in file order.
    var presentKeys: [String] {
        if case .table(let entries) = node.value { return entries.map(\.key) }
        return []
    }

    // MARK: Typed getters

    /// Whether the key is present (it counts as known either way).
    public mutating func has(_ key: String) -> Bool { read(key) != nil }

    public mutating func string(_ key: String) -> String? {
        let child = read(key)
        return decoder.string(child, keyPath(key))
    }

    public mutating func int(_ key: String, range: ClosedRange<Int>) -> Int? {
        let child = read(key)
        return decoder.int(child, keyPath(key), range: range)
    }

    public mutating func bool(_ key: String) -> Bool? {
        let child = read(key)
        return decoder.bool(child, keyPath(key))
    }

    /// A duration (`500ms`, `30s`, `5m`, `1h30m`, `2d`) between `minimum` and `maximum` (its value and how to say it).
    public mutating func duration(
        _ key: String, minimum: Duration = .milliseconds(1),
        maximum: (Duration, String) = (ConfigTable.longestDuration, "10 years")
    ) -> Duration? {
        let child = read(key)
        return decoder.duration(child, keyPath(key), minimum: minimum, maximum: maximum)
    }

    /// A size: bytes as an integer, or a string with a unit (512KiB, 64MiB, 1GiB, 100MB).
    public mutating func byteSize(_ key: String, minimum: Int64, maximum: Int64 = .max) -> Int64? {
        let child = read(key)
        return decoder.byteSize(child, keyPath(key), minimum: minimum, maximum: maximum)
    }

    public mutating func stringArray(_ key: String) -> [String]? {
        let child = read(key)
        return decoder.stringArray(child, keyPath(key))
    }

    /// One of an enumeration's raw values; anything else is reported as "is not <what> (a, b or c)".
    public mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ what: String) -> T?
    where T.RawValue == String {
        guard let text = string(key) else { return nil }
        if let value = T(rawValue: text) { return value }
        let names = T.allCases.map(\.rawValue)
        let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
        problem(key, "\"\(text)\" is not \(what) (\(list))")
        return nil
    }

    /// `key = "x"` or `key_file = "/path"`, exactly one of them (both keys are known).
    public mutating func secret(_ key: String, required: Bool = true) -> Secret? {
        _ = read(key)
        _ = read("\(key)_file")
        return decoder.secret(node, path, key: key, required: required)
    }

    /// A nested table (`[outputs.file.spool]`): its own view, whose unknown keys its `finish()` reports.
    public mutating func table(_ key: String) -> ConfigTable? {
        ConfigTable(read(key), path: keyPath(key), decoder: decoder)
    }

    /// An array of tables (`[[devices]]`), each as its own view (`devices[2]`).
    mutating func tables(_ key: String) -> [ConfigTable] {
        let items = decoder.tables(read(key), keyPath(key))
        return items.enumerated().compactMap { index, item in
            ConfigTable(item, path: "\(keyPath(key))[\(index)]", decoder: decoder)
        }
    }

    /// A table whose keys are names (`tags`, `[credentials.snmp]`): every entry, for the caller to decode.
    mutating func entries(_ key: String, wrongType message: String) -> [(key: String, node: Node)]? {
        guard let child = read(key) else { return nil }
        guard case .table(let pairs) = child.value else {
            decoder.problem(child, keyPath(key), message)
            return nil
        }
        return pairs
    }

    // MARK: Problems

    /// Reports a problem at a key (its line, or the table's when it is absent), or at the table itself.
    public mutating func problem(_ key: String?, _ message: String) {
        guard let key else {
            decoder.problem(node, path, message)
            return
        }
        decoder.problem(node[key] ?? node, keyPath(key), message)
    }

    /// Reports a problem at a key's line under another path (an element of an array: `profiles[2]`).
    mutating func problem(_ key: String, path: String, _ message: String) {
        decoder.problem(node[key] ?? node, path, message)
    }

    /// Reports every key of this table that was never asked for.
    public func finish() {
        for case (let key, let child) in (node.value.tableEntries ?? []) where !known.contains(key) {
            var message = "unknown key"
            if let suggestion = ConfigDecoder.closest(key, in: known) {
                message += " (did you mean \"\(suggestion)\"?)"
            }
            message += "; known keys here: \(known.joined(separator: ", "))"
            decoder.problem(child, keyPath(key), message)
        }
    }
}

extension Node.Value {
    var tableEntries: [(key: String, node: Node)]? {
        if case .table(let entries) = self { return entries }
        return nil
    }
}
