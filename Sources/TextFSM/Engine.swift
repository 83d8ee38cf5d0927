import Foundation

extension Template {
    /// Parses `input` and returns its records, each a value per `header` entry, exactly as the reference's
    /// `ParseText` (`""` for an unmatched value, lists for `List` values). Throws at an `Error` action, and when a
    /// line needs more than `Backtracker.stepBudget` regex steps.
    public func parse(_ input: String) throws(ParseError) -> [[RecordValue]] {
        var text = input
        let result = text.withUTF8 { bytes in
            Result { () throws(ParseError) -> [[RecordValue]] in try parse(utf8: bytes) }
        }
        return try result.get()
    }

    /// Lines as the reference splits them (`str.splitlines`), on the UTF-8 bytes: ASCII lines run the native
    /// matcher with no copy; a line with another byte becomes a String for the ICU path.
    func parse(utf8 text: UnsafeBufferPointer<UInt8>) throws(ParseError) -> [[RecordValue]] {
        let matcher = Backtracker()
        let table = self.table
        var run = Run(template: self, matcher: matcher)
        var state = 0
        var endedInEnd = false
        var finished = false
        var cursor = 0
        while cursor < text.count, !finished {
            // The next line: [start, end), and where the one after begins.
            let start = cursor
            var end = cursor
            var ascii = true
            var present = ByteSet()
            var next = text.count
            while end < text.count {
                let b = text[end]
                if b < 0x80 {
                    if b == 0x0A || b == 0x0B || b == 0x0C || b == 0x1C || b == 0x1D || b == 0x1E {
                        next = end + 1
                        break
                    }
                    if b == 0x0D {
                        next = end + 1 < text.count && text[end + 1] == 0x0A ? end + 2 : end + 1
                        break
                    }
                    present.insert(UInt32(b))
                    end += 1
                    continue
                }
                // U+0085 (C2 85), U+2028 and U+2029 (E2 80 A8/A9) end a line too.
                if b == 0xC2, end + 1 < text.count, text[end + 1] == 0x85 {
                    next = end + 2
                    break
                }
                if b == 0xE2, end + 2 < text.count, text[end + 1] == 0x80,
                    text[end + 2] == 0xA8 || text[end + 2] == 0xA9
                {
                    next = end + 3
                    break
                }
                ascii = false
                end += 1
            }
            cursor = next
            let line = UnsafeBufferPointer(rebasing: text[start..<end])
            var lineString: String?
            let first = table.stateStart[state]
            let last = table.stateStart[state + 1]
            var ruleIndex = first
            while ruleIndex < last {
                let entry = table.entries[ruleIndex]
                ruleIndex += 1
                if ascii, let program = entry.program {
                    let matched: Bool
                    do {
                        matched = try matcher.match(program, line, present: present)
                    } catch {
                        throw ParseError(
                            template: name, ruleLine: states[state][ruleIndex - 1 - first].line,
                            input: String(decoding: line, as: UTF8.self),
                            message: "the rule's regex took more than \(Backtracker.stepBudget) steps on this line")
                    }
                    guard matched else { continue }
                    for k in entry.captureStart..<(entry.captureStart + entry.captureCount) {
                        let capture = table.captures[k]
                        let from = Int(matcher.caps[2 * capture.group])
                        let to = Int(matcher.caps[2 * capture.group + 1])
                        run.assign(
                            capture.value,
                            from >= 0 && to >= from
                                ? String(decoding: UnsafeBufferPointer(rebasing: line[from..<to]), as: UTF8.self)
                                : nil)
                    }
                } else {
                    let rule = states[state][ruleIndex - 1 - first]
                    let string = lineString ?? String(decoding: line, as: UTF8.self)
                    lineString = string
                    let ns = string as NSString
                    guard
                        let match = rule.regex.firstMatch(
                            in: string, options: [.anchored], range: NSRange(location: 0, length: ns.length))
                    else { continue }
                    for (value, group) in rule.captures {
                        let r = match.range(at: group)
                        run.assign(value, r.location == NSNotFound ? nil : ns.substring(with: r))
                    }
                }
                switch entry.recordOp {
                case .record: run.appendRecord()
                case .clear: run.clear()
                case .clearAll: run.clearAll()
                case .none: break
                }
                if entry.lineOp == .error {
                    let rule = states[state][ruleIndex - 1 - first]
                    throw ParseError(
                        template: name, ruleLine: rule.line, input: lineString ?? String(decoding: line, as: UTF8.self),
                        message: rule.errorMessage)
                }
                if entry.lineOp == .continue { continue }
                if let next = entry.next {
                    if next >= 0 {
                        state = next
                    } else {
                        endedInEnd = next == Self.endState
                        finished = true
                    }
                }
                break
            }
        }
        if !endedInEnd && !hasEOFState { run.appendRecord() }
        return run.result
    }
}

/// The state of one parse: the record being built and the results (the reference's Value objects and `_result`).
struct Run {
    let template: Template
    let matcher: Backtracker
    /// The options of each value, read per assignment (raw records are kept only when a value is Fillup).
    let flags: Template.ValueFlags
    /// nil: unset (the reference's None).
    var current: [String?]
    var lists: [[ListItem]]
    /// Filldown's remembered values.
    var remembered: [String?]
    var result: [[RecordValue]] = []
    /// Fillup needs the raw record values (None vs "").
    var rawResult: [[String?]] = []

    typealias ListItem = RecordValue.Item

    init(template: Template, matcher: Backtracker) {
        self.template = template
        self.matcher = matcher
        let count = template.values.count
        current = Array(repeating: nil, count: count)
        lists = Array(repeating: [], count: count)
        remembered = Array(repeating: nil, count: count)
        flags = template.flags
    }

    mutating func assign(_ index: Int, _ value: String?) {
        current[index] = value
        if flags.filldown[index] { remembered[index] = value }
        if flags.fillup[index], let value, !value.isEmpty {
            for r in rawResult.indices.reversed() {
                if let existing = rawResult[r][index], !existing.isEmpty { break }
                rawResult[r][index] = value
                result[r][index] = .text(value)
            }
        }
        if flags.list[index] {
            let spec = template.values[index]
            if let native = spec.nativeListRegex, let value, let dict = nativeListMatch(native, spec, value) {
                if !dict.isEmpty {
                    lists[index].append(.dict(dict))
                    return
                }
            } else if let regex = spec.listRegex, let value,
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

    /// The List value's regex on an ASCII value, natively: its named groups, or nil when it needs the ICU path
    /// (a non-ASCII value, or the step budget spent) or did not match (an empty dictionary then).
    func nativeListMatch(_ re: ByteRegex, _ spec: Template.Value, _ value: String) -> [String: String?]? {
        var value = value
        return value.withUTF8 { bytes -> [String: String?]? in
            guard !bytes.contains(where: { $0 >= 0x80 }) else { return nil }
            guard let matched = try? matcher.match(re, bytes) else { return nil }
            var dict: [String: String?] = [:]
            guard matched else { return dict }
            for (g, name) in re.groupNames.enumerated() {
                guard let name else { continue }
                let from = Int(matcher.caps[2 * (g + 1)])
                let to = Int(matcher.caps[2 * (g + 1) + 1])
                dict[name] =
                    from >= 0 && to >= from
                    ? String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self) : nil
            }
            return dict
        }
    }

    mutating func clear() {
        for i in 0..<current.count {
            current[i] = flags.filldown[i] ? remembered[i] : nil
            if flags.list[i] && !flags.filldown[i] && !lists[i].isEmpty { lists[i] = [] }
        }
    }

    mutating func clearAll() {
        for i in 0..<current.count {
            current[i] = nil
            remembered[i] = nil
            if !lists[i].isEmpty { lists[i] = [] }
        }
    }

    mutating func appendRecord() {
        let count = current.count
        guard count > 0 else { return }
        var record: [RecordValue] = []
        record.reserveCapacity(count)
        var raw: [String?] = []
        if flags.anyFillup { raw.reserveCapacity(count) }
        var empty = 0
        for i in 0..<count {
            if flags.list[i] {
                let items = lists[i]
                if flags.required[i] {
                    // Required before List checks the last matched text; after it, the list.
                    if flags.requiredBeforeList[i] ? (current[i] ?? "").isEmpty : items.isEmpty {
                        clear()
                        return
                    }
                }
                if items.isEmpty { empty += 1 }
                record.append(Self.listValue(items))
                if flags.anyFillup { raw.append(items.isEmpty ? nil : "list") }
            } else {
                let value = current[i]
                if flags.required[i] && (value ?? "").isEmpty {
                    clear()
                    return
                }
                if value == nil { empty += 1 }
                record.append(.text(value ?? ""))
                if flags.anyFillup { raw.append(value) }
            }
        }
        if empty == count { return }
        result.append(record)
        if flags.anyFillup { rawResult.append(raw) }
        clear()
    }

    static func listValue(_ items: [ListItem]) -> RecordValue {
        var texts: [String?] = []
        var dicts: [[String: String?]] = []
        for item in items {
            switch item {
            case .text(let t): texts.append(t)
            case .dict(let d): dicts.append(d)
            }
        }
        if dicts.isEmpty { return .list(texts) }
        if texts.isEmpty { return .dicts(dicts) }
        return .mixed(items)
    }
}
