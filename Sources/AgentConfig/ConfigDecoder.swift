import Foundation
import NetPollerCore

/// Why an address did not parse.
struct AddressError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Every problem found so far; shared by a decoder and the table views made from it.
final class ProblemLog {
    var problems: [ConfigProblem] = []
    /// Every `*_file` a secret was read from (their permissions are checked by `Preflight`).
    var secretFiles: [String] = []
}

/// Turns a merged node tree into `AgentConfiguration`, collecting every problem instead of stopping at the first. The
/// sections (AgentSection.swift, DevicesSection.swift …) read their tables through `ConfigTable`.
struct ConfigDecoder {
    let log = ProblemLog()
    let environment: [String: String]
    let hostName: String

    var problems: [ConfigProblem] { log.problems }

    func problem(_ node: Node?, _ path: String, _ message: String, fallbackFile: String = "") {
        log.problems.append(
            ConfigProblem(file: node?.file ?? fallbackFile, line: node?.line, path: path, message: message))
    }

    // MARK: Tables and keys

    mutating func string(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        guard case .string(let raw) = node.value else {
            problem(node, path, "expected a string, found \(node.typeName)")
            return nil
        }
        return substitute(raw, node, path)
    }

    mutating func int(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        let value: Int?
        switch node.value {
        case .int(let v): value = v
        case .string(let raw):
            guard let text = substitute(raw, node, path) else { return nil }
            value = Int(text.trimmingCharacters(in: .whitespaces))
            if value == nil {
                problem(node, path, "\"\(text)\" is not an integer")
                return nil
            }
        default:
            problem(node, path, "expected an integer, found \(node.typeName)")
            return nil
        }
        guard let value, range.contains(value) else {
            problem(node, path, "\(value ?? 0) is out of range (allowed: \(range.lowerBound)…\(range.upperBound))")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let node else { return nil }
        switch node.value {
        case .bool(let v): return v
        case .string(let raw):
            switch substitute(raw, node, path)?.lowercased() {
            case "true": return true
            case "false": return false
            default: break
            }
        default: break
        }
        problem(node, path, "expected true or false, found \(node.typeName)")
        return nil
    }

    mutating func duration(
        _ node: Node?, _ path: String, minimum: Duration = .milliseconds(1),
        maximum: (Duration, String) = (ConfigTable.longestDuration, "10 years")
    ) -> Duration? {
        guard let text = string(node, path) else {
            return nil
        }
        guard let seconds = Self.parseSeconds(text) else {
            problem(node, path, "\"\(text)\" is not a duration (examples: 500ms, 30s, 5m, 1h30m)")
            return nil
        }
        guard seconds <= maximum.0.seconds else {
            problem(node, path, "\"\(text)\" is too long (maximum \(maximum.1))")
            return nil
        }
        let value = Duration.milliseconds(Int64((seconds * 1000).rounded()))
        guard value >= minimum else {
            problem(node, path, "\"\(text)\" is too short (minimum \(minimum))")
            return nil
        }
        return value
    }

    /// A size: an integer (bytes) or a string with a unit: 512KiB, 64MiB, 1GiB, 100MB, 1GB.
    mutating func byteSize(_ node: Node?, _ path: String, minimum: Int64, maximum: Int64 = .max) -> Int64? {
        guard let node else { return nil }
        var value: Int64?
        var text = ""
        switch node.value {
        case .int(let v):
            value = Int64(v)
            text = String(v)
        case .string(let raw):
            guard let t = substitute(raw, node, path) else { return nil }
            text = t
            value = Self.parseByteSize(t)
        default:
            problem(node, path, "expected a size (e.g. \"1GiB\"), found \(node.typeName)")
            return nil
        }
        guard let value else {
            problem(node, path, "\"\(text)\" is not a size (examples: 512KiB, 64MiB, 1GiB, 100MB)")
            return nil
        }
        guard value >= minimum else {
            problem(node, path, "\"\(text)\" is too small (minimum \(minimum) bytes)")
            return nil
        }
        guard value <= maximum else {
            problem(node, path, "\"\(text)\" is too large (maximum \(maximum) bytes)")
            return nil
        }
        return value
    }

    static func parseByteSize(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix { $0.isNumber }
        guard let number = Int64(digits) else { return nil }
        let units: [String: Int64] = [
            "": 1, "B": 1, "KB": 1000, "MB": 1_000_000, "GB": 1_000_000_000, "TB": 1_000_000_000_000,
            "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
        ]
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        guard let scale = units[unit] else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }

    mutating func stringArray(_ node: Node?, _ path: String) -> [String]? {
        guard let node else { return nil }
        guard case .array(let items) = node.value else {
            problem(node, path, "expected an array of strings, found \(node.typeName)")
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            if let text = string(item, "\(path)[\(index)]") { result.append(text) }
        }
        return result
    }

    mutating func tables(_ node: Node?, _ path: String) -> [Node] {
        guard let node else { return [] }
        guard case .array(let items) = node.value else {
            problem(node, path, "expected an array of tables ([[\(path)]]), found \(node.typeName)")
            return []
        }
        return items
    }

    /// `key = "x"` or `key_file = "/path"`, exactly one of them; the file is read now and its trailing newline dropped.
    mutating func secret(_ table: Node, _ path: String, key: String, required: Bool = true) -> Secret? {
        let inline = table[key]
        let file = table["\(key)_file"]
        switch (inline, file) {
        case (nil, nil):
            if required { problem(table, path, "missing \(key) (set \(key) or \(key)_file)") }
            return nil
        case (.some, .some):
            problem(file, "\(path).\(key)_file", "set either \(key) or \(key)_file, not both")
            return nil
        case (.some(let node), nil):
            return string(node, "\(path).\(key)").map(Secret.init)
        case (nil, .some(let node)):
            guard let filePath = string(node, "\(path).\(key)_file") else { return nil }
            guard let data = FileManager.default.contents(atPath: filePath),
                let text = String(data: data, encoding: .utf8)
            else {
                problem(node, "\(path).\(key)_file", "cannot read \"\(filePath)\" (does it exist and is it readable?)")
                return nil
            }
            log.secretFiles.append(filePath)
            var value = Substring(text)
            while value.last == "\n" || value.last == "\r" { value = value.dropLast() }
            if value.isEmpty { problem(node, "\(path).\(key)_file", "\"\(filePath)\" is empty") }
            return Secret(String(value))
        }
    }

    // MARK: Environment

    /// `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
    mutating func substitute(_ raw: String, _ node: Node, _ path: String) -> String? {
        guard raw.contains("$") else { return raw }
        var out = ""
        var rest = Substring(raw)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest.index(after: dollar)
            if after < rest.endIndex, rest[after] == "$" {
                out += "$"
                rest = rest[rest.index(after: after)...]
                continue
            }
            guard after < rest.endIndex, rest[after] == "{" else {
                out += "$"
                rest = rest[after...]
                continue
            }
            guard let close = rest[after...].firstIndex(of: "}") else {
                problem(node, path, "unclosed ${ (close it with }, or write $$ for a literal $)")
                return nil
            }
            let body = rest[rest.index(after: after)..<close]
            let name: Substring
            var fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body
            }
            if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                problem(node, path, "environment variable \(name) is not set (set it, or write ${\(name):-default})")
                return nil
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return out
    }

    // MARK: Parsers

    /// A duration no longer than `longestDuration`; nil for anything else.
    static func parseDuration(_ text: String) -> Duration? {
        guard let seconds = parseSeconds(text), seconds <= ConfigTable.longestDuration.seconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `500ms`, `30s`, `5m`, `1h30m`, `2d` in seconds; nil when it is not a duration or not a finite number.
    static func parseSeconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty, rest.count <= 64 else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.1
        }
        return total.isFinite ? total : nil
    }

    /// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
    static func parseAddress(_ text: String, defaultPort: Int) -> Result<HostAddress, AddressError> {
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(AddressError("missing \"]\" after an IPv6 address"))
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else {
                    return .failure(AddressError("bad port after \"]\""))
                }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else {
                return .failure(AddressError("\"\(text[text.index(after: colon)...])\" is not a port number"))
            }
            port = p
        }
        guard (1...65535).contains(port) else {
            return .failure(AddressError("port \(port) is out of range (1…65535)"))
        }
        if host.contains(":") {
            var buffer = in6_addr()
            guard inet_pton(AF_INET6, host, &buffer) == 1 else {
                return .failure(AddressError("\"\(host)\" is not an IPv6 address"))
            }
            return .success(HostAddress(host: host, port: port, family: .ipv6))
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return .success(HostAddress(host: host, port: port, family: .ipv4)) }
        if host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .failure(AddressError("\"\(host)\" is not an IPv4 address"))
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let validName =
            !host.isEmpty && host.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                    && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }
            }
        guard validName else { return .failure(AddressError("\"\(host)\" is not an IP address or a DNS name")) }
        return .success(HostAddress(host: host, port: port, family: .dns))
    }

    static func closest(_ key: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, ca) in a.enumerated() {
                var current = [i + 1]
                for (j, cb) in b.enumerated() {
                    current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
                }
                previous = current
            }
            return previous[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(key), Array($0))) }.min { $0.1 < $1.1 }
        guard let scored, scored.1 <= max(2, key.count / 3) else { return nil }
        return scored.0
    }
}
