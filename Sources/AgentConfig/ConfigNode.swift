import Foundation
import TOMLKit

/// A TOML value with the file and line it came from, so every problem can name both.
struct Node: Sendable {
    enum Value: Sendable {
        case table([(key: String, node: Node)])
        case array([Node])
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        case other(String)
    }

    var value: Value
    var file: String
    var line: Int?

    var typeName: String {
        switch value {
        case .table: return "table"
        case .array: return "array"
        case .string: return "string"
        case .int: return "integer"
        case .double: return "number"
        case .bool: return "boolean"
        case .other(let name): return name
        }
    }

    subscript(key: String) -> Node? {
        guard case .table(let entries) = value else { return nil }
        return entries.last { $0.key == key }?.node
    }

    /// Builds the node tree of one parsed file; lines come from `locator`.
    init(_ value: any TOMLValueConvertible, file: String, path: String, locator: SourceLocator) {
        self.file = file
        self.line = locator.line(for: path)
        if let table = value.table {
            var entries: [(key: String, node: Node)] = []
            for key in table.keys {
                guard let child = table[key] else { continue }
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                entries.append((key, Node(child, file: file, path: childPath, locator: locator)))
            }
            entries.sort { ($0.node.line ?? Int.max) < ($1.node.line ?? Int.max) }
            self.value = .table(entries)
        } else if let array = value.array {
            var items: [Node] = []
            for index in 0..<array.count {
                items.append(Node(array[index], file: file, path: "\(path)[\(index)]", locator: locator))
            }
            self.value = .array(items)
        } else if let string = value.string {
            self.value = .string(string)
        } else if value.type == .bool, let bool = value.bool {
            self.value = .bool(bool)
        } else if value.type == .int, let int = value.int {
            self.value = .int(int)
        } else if let double = value.double {
            self.value = .double(double)
        } else {
            self.value = .other(String(describing: value.type))
        }
    }

    init(value: Value, file: String, line: Int?) {
        self.value = value
        self.file = file
        self.line = line
    }

    /// Merges `other` (a later file) into `self`: tables merge key by key, arrays of tables append, scalars override.
    func merged(with other: Node) -> Node {
        switch (value, other.value) {
        case (.table(let mine), .table(let theirs)):
            var result = mine
            for (key, node) in theirs {
                if let index = result.firstIndex(where: { $0.key == key }) {
                    result[index].node = result[index].node.merged(with: node)
                } else {
                    result.append((key, node))
                }
            }
            return Node(value: .table(result), file: file, line: line)
        case (.array(let mine), .array(let theirs)):
            let isTables = (mine + theirs).allSatisfy { if case .table = $0.value { true } else { false } }
            return isTables ? Node(value: .array(mine + theirs), file: file, line: line) : other
        default:
            return other
        }
    }
}

/// Finds the line of a key path (`devices[2].interval`) in TOML text by reading table headers and `key =` lines.
///
/// TOMLKit gives positions only for parse errors, so this scanner recovers them for validation messages. It is
/// best-effort: a path it cannot place falls back to its nearest located parent.
struct SourceLocator: Sendable {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var current = ""
        var arrayCounts: [String: Int] = [:]
        var lineNumber = 0
        var inMultiline = false
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingPrefixWhitespace()
            let tripleQuotes =
                line.components(separatedBy: "\"\"\"").count + line.components(separatedBy: "'''").count - 2
            if inMultiline {
                if tripleQuotes % 2 == 1 { inMultiline = false }
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[[") {
                let name = Self.headerName(line.dropFirst(2))
                let parent = Self.resolve(name.dropLastComponent, current: current)
                let key = parent.isEmpty ? name.last : "\(parent).\(name.last)"
                let index = arrayCounts[key, default: 0]
                arrayCounts[key] = index + 1
                current = "\(key)[\(index)]"
                record(current, lineNumber)
                record(key, lineNumber)
            } else if line.hasPrefix("[") {
                let name = Self.headerName(line.dropFirst())
                current = Self.resolve(name.components, current: current)
                record(current, lineNumber)
            } else if let equals = line.firstIndex(of: "=") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "")
                let path = current.isEmpty ? key : "\(current).\(key)"
                record(path, lineNumber)
                if tripleQuotes % 2 == 1 { inMultiline = true }
            }
        }
    }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    func line(for path: String) -> Int? {
        var candidate = path
        while !candidate.isEmpty {
            if let line = lines[candidate] { return line }
            if candidate.hasSuffix("]"), let open = candidate.lastIndex(of: "[") {
                candidate = String(candidate[..<open])
            } else if let dot = candidate.lastIndex(of: ".") {
                candidate = String(candidate[..<dot])
            } else {
                return nil
            }
        }
        return nil
    }

    private struct HeaderName {
        var components: [String]
        var last: String { components.last ?? "" }
        var dropLastComponent: [String] { Array(components.dropLast()) }
    }

    private static func headerName(_ text: Substring) -> HeaderName {
        let end = text.firstIndex(of: "]") ?? text.endIndex
        let parts = text[..<end].split(separator: ".").map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "")
        }
        return HeaderName(components: parts)
    }

    /// Maps a header's plain components to the indexed path of the arrays of tables opened so far
    /// (`profiles.tables` under the third `[[profiles]]` is `profiles[2].tables`).
    private static func resolve(_ components: [String], current: String) -> String {
        var result = ""
        var remainingCurrent = current.split(separator: ".").map(String.init)
        for component in components {
            let next = result.isEmpty ? component : "\(result).\(component)"
            if let head = remainingCurrent.first, head.hasPrefix(component + "["), head != component {
                result = result.isEmpty ? head : "\(result).\(head)"
            } else {
                result = next
            }
            remainingCurrent = Array(remainingCurrent.dropFirst())
        }
        return result
    }
}

extension Substring {
    fileprivate func trimmingPrefixWhitespace() -> Substring {
        drop { $0 == " " || $0 == "\t" || $0 == "\r" }
    }
}
