import Foundation

extension Template {
    /// Parses `input` and returns its records, each a value per `header` entry, exactly as the reference's
    /// `ParseText` (`""` for an unmatched value, lists for `List` values). Throws at an `Error` action.
    public func parse(_ input: String) throws(ParseError) -> [[RecordValue]] {
        var run = Run(template: self)
        var state = 0
        var stateName = stateNames.first ?? "Start"
        var finished = false
        // Lines as the reference splits them (`str.splitlines`).
        for line in Self.splitLines(input) {
            let ns = line as NSString
            let range = NSRange(location: 0, length: ns.length)
            var ruleIndex = 0
            let rules = states[state]
            while ruleIndex < rules.count {
                let rule = rules[ruleIndex]
                ruleIndex += 1
                guard let match = rule.regex.firstMatch(in: line, options: [.anchored], range: range) else { continue }
                for (value, group) in rule.captures {
                    let r = match.range(at: group)
                    run.assign(value, r.location == NSNotFound ? nil : ns.substring(with: r))
                }
                switch rule.recordOp {
                case .record: run.appendRecord()
                case .clear: run.clear()
                case .clearAll: run.clearAll()
                case .none: break
                }
                if rule.lineOp == .error {
                    throw ParseError(template: name, ruleLine: rule.line, input: line, message: rule.errorMessage)
                }
                if rule.lineOp == .continue { continue }
                if let next = rule.next {
                    if next >= 0 {
                        state = next
                        stateName = stateNames[next]
                    } else {
                        stateName = next == Self.endState ? "End" : "EOF"
                        finished = true
                    }
                }
                break
            }
            if finished { break }
        }
        if stateName != "End" && !hasEOFState { run.appendRecord() }
        return run.result
    }

    /// Python's `str.splitlines`: \n, \r\n, \r, and the other line boundaries it knows.
    static func splitLines(_ text: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = scalars.next()
        while let c = pending {
            pending = scalars.next()
            switch c.value {
            case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                lines.append(String(current))
                current.removeAll()
            case 0x0D:
                lines.append(String(current))
                current.removeAll()
                if pending == "\n" { pending = scalars.next() }
            default:
                current.append(c)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }
}

/// The state of one parse: the record being built and the results (the reference's Value objects and `_result`).
struct Run {
    let template: Template
    /// nil: unset (the reference's None).
    var current: [String?]
    var lists: [[ListItem]]
    /// Filldown's remembered values.
    var filldown: [String?]
    var result: [[RecordValue]] = []
    /// Fillup needs the raw record values (None vs "").
    var rawResult: [[String?]] = []

    enum ListItem: Equatable {
        case text(String?)
        case dict([String: String?])
    }

    init(template: Template) {
        self.template = template
        let count = template.values.count
        current = Array(repeating: nil, count: count)
        lists = Array(repeating: [], count: count)
        filldown = Array(repeating: nil, count: count)
    }

    mutating func assign(_ index: Int, _ value: String?) {
        let spec = template.values[index]
        current[index] = value
        if spec.options.contains(.filldown) { filldown[index] = value }
        if spec.options.contains(.fillup), let value, !value.isEmpty {
            for r in rawResult.indices.reversed() {
                if let existing = rawResult[r][index], !existing.isEmpty { break }
                rawResult[r][index] = value
                result[r][index] = .text(value)
            }
        }
        if spec.options.contains(.list) {
            if let regex = spec.listRegex, let value,
                let match = regex.firstMatch(
                    in: value, options: [.anchored], range: NSRange(location: 0, length: (value as NSString).length))
            {
                var dict: [String: String?] = [:]
                for (g, name) in spec.listGroups.enumerated() {
                    guard let name else { continue }
                    let r = match.range(at: g + 1)
                    dict[name] = r.location == NSNotFound ? nil : (value as NSString).substring(with: r)
                }
                if !dict.isEmpty {
                    lists[index].append(.dict(dict))
                    return
                }
            }
            lists[index].append(.text(value))
        }
    }

    mutating func clear() {
        for (i, spec) in template.values.enumerated() {
            current[i] = spec.options.contains(.filldown) ? filldown[i] : nil
            if spec.options.contains(.list) && !spec.options.contains(.filldown) { lists[i] = [] }
        }
    }

    mutating func clearAll() {
        for i in template.values.indices {
            current[i] = nil
            filldown[i] = nil
            lists[i] = []
        }
    }

    mutating func appendRecord() {
        guard !template.values.isEmpty else { return }
        var record: [RecordValue] = []
        var raw: [String?] = []
        var empty = 0
        for (i, spec) in template.values.enumerated() {
            if spec.options.contains(.list) {
                let items = lists[i]
                if spec.options.contains(.required) {
                    // Required before List checks the last matched text; after it, the list.
                    let requiredFirst =
                        (spec.optionOrder.firstIndex(of: .required) ?? 0)
                        < (spec.optionOrder.firstIndex(of: .list) ?? 0)
                    if requiredFirst ? (current[i] ?? "").isEmpty : items.isEmpty {
                        clear()
                        return
                    }
                }
                if items.isEmpty { empty += 1 }
                record.append(Self.listValue(items))
                raw.append(items.isEmpty ? nil : "list")
            } else {
                let value = current[i]
                if spec.options.contains(.required) && (value ?? "").isEmpty {
                    clear()
                    return
                }
                if value == nil { empty += 1 }
                record.append(.text(value ?? ""))
                raw.append(value)
            }
        }
        if empty == template.values.count { return }
        result.append(record)
        rawResult.append(raw)
        clear()
    }

    static func listValue(_ items: [ListItem]) -> RecordValue {
        var texts: [String] = []
        var dicts: [[String: String?]] = []
        for item in items {
            switch item {
            case .text(let t): texts.append(t ?? "")
            case .dict(let d): dicts.append(d)
            }
        }
        if !dicts.isEmpty && texts.isEmpty { return .dicts(dicts) }
        return .list(texts)
    }
}
