import Foundation

/// A template error: the template, the line (1-based; nil for the whole template) and the reason.
public struct TemplateError: Error, Equatable, CustomStringConvertible {
    public var template: String
    public var line: Int?
    public var reason: String

    public var description: String {
        line.map { "\(template):\($0): \(reason)" } ?? "\(template): \(reason)"
    }
}

/// An `Error` action reached while parsing input.
public struct ParseError: Error, Equatable, CustomStringConvertible {
    public var template: String
    public var ruleLine: Int
    public var input: String
    public var message: String?

    public var description: String {
        "\(template):\(ruleLine): Error\(message.map { " \($0)" } ?? "") on input line: \(input)"
    }
}

/// One value of a record, as the reference returns it: a string (`""` when unmatched), or for a `List` value a list
/// of strings (nil where the rule's group did not take part), or of dictionaries when its regex has named groups (a
/// group that did not match is nil), or both in the order assigned when only some matched the List regex.
public enum RecordValue: Equatable, Sendable {
    case text(String)
    case list([String?])
    case dicts([[String: String?]])
    case mixed([Item])

    /// An element of a mixed list.
    public enum Item: Equatable, Sendable {
        case text(String?)
        case dict([String: String?])
    }
}

/// A compiled TextFSM template (Google's TextFSM language, as `textfsm` 2.x implements it). Compile once, parse many
/// inputs; a `Template` holds no state between parses.
public struct Template: @unchecked Sendable {
    // Safe: NSRegularExpression is immutable and thread-safe once built; everything else is a value.

    public enum Option: String, CaseIterable, Sendable {
        case filldown = "Filldown"
        case fillup = "Fillup"
        case key = "Key"
        case required = "Required"
        case list = "List"
    }

    public struct Value: Sendable {
        public var name: String
        public var options: Set<Option>
        /// The options in the order written: the reference applies them in that order (Required before List checks
        /// the last matched text, after List the list).
        public var optionOrder: [Option] = []
        /// The regex as written (Python syntax).
        public var regex: String
        /// For a List value with named groups inside: its regex, and the group names by number.
        var listRegex: NSRegularExpression?
        var listGroups: [String?] = []
        /// The List regex for ASCII subjects, when it compiles natively.
        var nativeListRegex: ByteRegex?
    }

    enum LineOp { case next, `continue`, error }
    enum RecordOp { case none, record, clear, clearAll }

    struct Rule {
        var regex: NSRegularExpression
        /// The same regex for ASCII lines, when it compiles natively (nil: ICU for every line).
        var native: ByteRegex?
        /// (value index, capture group number) for each Value named group of the rule.
        var captures: [(value: Int, group: Int)]
        var lineOp: LineOp
        var recordOp: RecordOp
        /// The next state's index; `endState` for End, `eofState` for EOF; nil: stay.
        var next: Int?
        var errorMessage: String?
        var line: Int
    }

    static let endState = -1
    static let eofState = -2

    public let name: String
    public let values: [Value]
    let states: [[Rule]]
    /// The same rules as the parse loop reads them.
    let table: RuleTable
    /// The Value options as flags, read per assignment and record.
    let flags: ValueFlags

    struct ValueFlags {
        var filldown: [Bool]
        var fillup: [Bool]
        var list: [Bool]
        var required: [Bool]
        /// Required written before List: the check is on the last matched text, not on the list.
        var requiredBeforeList: [Bool]
        var anyFillup: Bool

        init(_ values: [Value]) {
            filldown = values.map { $0.options.contains(.filldown) }
            fillup = values.map { $0.options.contains(.fillup) }
            list = values.map { $0.options.contains(.list) }
            required = values.map { $0.options.contains(.required) }
            requiredBeforeList = values.map {
                ($0.optionOrder.firstIndex(of: .required) ?? 0) < ($0.optionOrder.firstIndex(of: .list) ?? 0)
            }
            anyFillup = fillup.contains(true)
        }
    }
    let stateNames: [String]
    let hasEOFState: Bool

    /// The Value names, in order: the keys of every record.
    public var header: [String] { values.map(\.name) }

    static let maxNameLength = 48
    static let lineOps = ["Continue", "Next", "Error"]
    static let recordOps = ["Clear", "Clearall", "Record", "NoRecord"]

    /// Compiles a template. `name` names it in errors.
    public init(_ text: String, name: String) throws(TemplateError) {
        self.name = name
        func fail(_ line: Int?, _ reason: String) -> TemplateError {
            TemplateError(template: name, line: line, reason: reason)
        }
        // Lines as Python reads a text file (universal newlines: \n, \r\n, \r).
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let c = pending {
            pending = scalars.next()
            if c == "\n" || c == "\r" {
                lines.append(String(current))
                current.removeAll()
                if c == "\r", pending == "\n" { pending = scalars.next() }
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        func isComment(_ line: String) -> Bool { line.drop { $0 == " " || $0 == "\t" }.hasPrefix("#") }
        func trimmedRight(_ line: String) -> String {
            String(line.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }

        // Values: a block at the head, ended by a blank line.
        var values: [Value] = []
        var valueTemplates: [String: String] = [:]
        var index = 0
        while index < lines.count {
            let line = trimmedRight(lines[index])
            index += 1
            if line.isEmpty { break }
            if isComment(line) { continue }
            guard line.hasPrefix("Value ") else {
                throw fail(
                    index, values.isEmpty ? "no Value definitions found" : "expected a blank line after the last Value")
            }
            let value = try Self.parseValue(line, line: index, template: name)
            if values.contains(where: { $0.name == value.name }) {
                throw fail(index, "duplicate declarations for Value '\(value.name)'")
            }
            valueTemplates[value.name] = "(?P<\(value.name)>" + value.regex.dropFirst()
            values.append(value)
        }
        if values.isEmpty && index >= lines.count { throw fail(nil, "no Value definitions found") }

        // States: a name line, then its rules up to a blank line.
        var stateNames: [String] = []
        var rawRules: [[(text: String, line: Int)]] = []
        while index < lines.count {
            let line = trimmedRight(lines[index])
            index += 1
            if line.isEmpty || isComment(line) { continue }
            let valid =
                line.count <= Self.maxNameLength
                && line.unicodeScalars.allSatisfy {
                    $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
                }
                && !Self.lineOps.contains(line) && !Self.recordOps.contains(line)
            guard valid else { throw fail(index, "invalid state name '\(line)'") }
            if stateNames.contains(line) { throw fail(index, "duplicate state name '\(line)'") }
            stateNames.append(line)
            var rules: [(String, Int)] = []
            while index < lines.count {
                let ruleLine = trimmedRight(lines[index])
                index += 1
                if ruleLine.isEmpty { break }
                if isComment(ruleLine) { continue }
                guard ruleLine.hasPrefix(" ^") || ruleLine.hasPrefix("  ^") || ruleLine.hasPrefix("\t^") else {
                    throw fail(index, "missing white space or caret ('^') before rule")
                }
                rules.append((ruleLine, index))
            }
            rawRules.append(rules)
        }
        guard let start = stateNames.firstIndex(of: "Start") else { throw fail(nil, "missing state 'Start'") }
        for reserved in ["End", "EOF"] {
            if let i = stateNames.firstIndex(of: reserved), !rawRules[i].isEmpty {
                throw fail(nil, "non-empty '\(reserved)' state")
            }
        }
        let hasEOF = stateNames.contains("EOF")
        // End is not a state one stays in; EOF stays (an empty state) as the reference keeps it.
        var kept = Array(stateNames.indices).filter { stateNames[$0] != "End" }
        if start != 0 {
            // Start first, so that index 0 is where parsing begins.
            kept.removeAll { $0 == start }
            kept.insert(start, at: 0)
        }
        let keptNames = kept.map { stateNames[$0] }
        var states: [[Rule]] = []
        for original in kept {
            var rules: [Rule] = []
            for (text, line) in rawRules[original] {
                rules.append(
                    try Self.parseRule(
                        text, line: line, template: name, values: values, valueTemplates: valueTemplates,
                        states: keptNames, stateName: stateNames[original]))
            }
            states.append(rules)
        }
        self.values = values
        self.states = states
        self.table = RuleTable(states)
        self.flags = ValueFlags(values)
        self.stateNames = keptNames
        self.hasEOFState = hasEOF
    }

    static func parseValue(_ line: String, line number: Int, template: String) throws(TemplateError) -> Value {
        func fail(_ reason: String) -> TemplateError { TemplateError(template: template, line: number, reason: reason) }
        let tokens = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard tokens.count >= 3 else { throw fail("expected at least 3 tokens on a Value line") }
        var options: Set<Option> = []
        let name: String
        let regex: String
        if !tokens[2].hasPrefix("(") {
            for option in tokens[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard let o = Option(rawValue: option) else { throw fail("unknown option \"\(option)\"") }
                guard options.insert(o).inserted else { throw fail("duplicate option \"\(option)\"") }
            }
            name = tokens[2]
            regex = tokens[3...].joined(separator: " ")
        } else {
            name = tokens[1]
            regex = tokens[2...].joined(separator: " ")
        }
        guard name.count <= maxNameLength else { throw fail("invalid Value name '\(name)' or name too long") }
        guard regex.hasPrefix("("), regex.hasSuffix(")"), !regex.dropLast().hasSuffix("\\") else {
            throw fail("Value '\(regex)' must be contained within a '()' pair")
        }
        var value = Value(name: name, options: options, regex: regex)
        if !tokens[2].hasPrefix("(") {
            value.optionOrder = tokens[1].split(separator: ",").compactMap { Option(rawValue: String($0)) }
        }
        let translated: PythonRegex
        do {
            translated = try PythonRegex.translate(regex)
        } catch {
            throw fail(Self.describe(error, in: regex))
        }
        do {
            let compiled = try NSRegularExpression(pattern: translated.pattern)
            if options.contains(.list), compiled.numberOfCaptureGroups > 1 {
                value.listRegex = compiled
                value.listGroups = translated.groupNames
                value.nativeListRegex = ByteRegex.compile(regex).flatMap {
                    $0.groupNames == translated.groupNames ? $0 : nil
                }
            }
        } catch {
            throw fail("invalid regular expression '\(regex)'")
        }
        return value
    }

    static func describe(_ failure: PythonRegex.Failure, in regex: String) -> String {
        switch failure {
        case .unsupported(let what): "'\(regex)' uses \(what), which this engine does not translate"
        case .invalid(let what): "invalid regular expression '\(regex)': \(what)"
        }
    }

    static func parseRule(
        _ raw: String, line: Int, template: String, values: [Value], valueTemplates: [String: String],
        states: [String], stateName: String
    ) throws(TemplateError) -> Rule {
        func fail(_ reason: String) -> TemplateError { TemplateError(template: template, line: line, reason: reason) }
        let text = raw.trimmingCharacters(in: .whitespaces)
        // `match -> action`: as the reference's `(?P<match>.*)(\s->(?P<action>.*))`, the last whitespace + `->`.
        var match = text
        var action: String?
        if let groups = Self.groups(of: Self.matchAction, in: text), let m = groups[0], let a = groups[2] {
            match = m
            action = a
        }
        let regexSource = try substitute(match, valueTemplates: valueTemplates, fail: fail)
        let translated: PythonRegex
        do {
            translated = try PythonRegex.translate(regexSource)
        } catch {
            throw fail(describe(error, in: regexSource))
        }
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: translated.pattern)
        } catch {
            throw fail("invalid regular expression '\(regexSource)'")
        }
        var captures: [(Int, Int)] = []
        for (g, groupName) in translated.groupNames.enumerated() {
            guard let groupName, let v = values.firstIndex(where: { $0.name == groupName }) else { continue }
            captures.append((v, g + 1))
        }
        var lineOp = LineOp.next
        var recordOp = RecordOp.none
        var next: Int?
        var errorMessage: String?
        if let action {
            let parsed = try parseAction(action, fail: fail)
            switch parsed.line {
            case "Continue": lineOp = .continue
            case "Error": lineOp = .error
            default: lineOp = .next
            }
            switch parsed.record {
            case "Record": recordOp = .record
            case "Clear": recordOp = .clear
            case "Clearall": recordOp = .clearAll
            default: recordOp = .none
            }
            if let state = parsed.state {
                if lineOp == .continue { throw fail("action 'Continue' with new state \(state)") }
                if lineOp == .error {
                    errorMessage = state
                } else if state == "End" {
                    next = endState
                } else if state == "EOF" {
                    next = eofState
                } else if let i = states.firstIndex(of: state) {
                    next = i
                } else {
                    throw fail("state '\(state)' not found, referenced in state '\(stateName)'")
                }
            }
        }
        return Rule(
            regex: regex,
            native: ByteRegex.compile(regexSource).flatMap { $0.groupNames == translated.groupNames ? $0 : nil },
            captures: captures, lineOp: lineOp, recordOp: recordOp, next: next,
            errorMessage: errorMessage, line: line)
    }

    /// `$Value`, `${Value}` → the value's named regex; `$$` → `$`. Anything else after `$` is an error, as in
    /// Python's `string.Template.substitute`.
    static func substitute(
        _ text: String, valueTemplates: [String: String], fail: (String) -> TemplateError
    ) throws(TemplateError) -> String {
        var out = ""
        var chars = Substring(text)
        while let dollar = chars.firstIndex(of: "$") {
            out += chars[..<dollar]
            let after = chars[chars.index(after: dollar)...]
            if after.hasPrefix("$") {
                out += "$"
                chars = after.dropFirst()
                continue
            }
            var name: Substring
            var rest: Substring
            if after.hasPrefix("{") {
                guard let close = after.firstIndex(of: "}") else {
                    throw fail("invalid variable substitution in '\(text)'")
                }
                name = after[after.index(after: after.startIndex)..<close]
                rest = after[after.index(after: close)...]
            } else {
                let end =
                    after.firstIndex { !($0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber)) } ?? after.endIndex
                name = after[..<end]
                rest = after[end...]
                if let first = name.first, first.isNumber { name = "" }
            }
            guard !name.isEmpty, let template = valueTemplates[String(name)] else {
                throw fail(
                    name.isEmpty
                        ? "invalid variable substitution in '\(text)'"
                        : "duplicate or invalid variable substitution: '\(name)' is not a Value")
            }
            out += template
            chars = rest
        }
        out += chars
        return out
    }

    /// The reference's rule and action syntax (textfsm's MATCH_ACTION, ACTION_RE, ACTION2_RE, ACTION3_RE).
    static let matchAction = try! NSRegularExpression(pattern: #"^(.*)(\s->(.*))$"#)
    static let actionForms = [
        #"^\s+(Continue|Next|Error)(?:\.(Clear|Clearall|Record|NoRecord))?(?:\s+(\w+|".*"))?$"#,
        #"^\s+()(Clear|Clearall|Record|NoRecord)(?:\s+(\w+|".*"))?$"#,
        #"^()()(?:\s+(\w+|".*"))?$"#,
    ].map { try! NSRegularExpression(pattern: $0) }

    /// The groups of `regex` anchored on the whole of `text` (nil for a group that did not take part), or nil.
    static func groups(of regex: NSRegularExpression, in text: String) -> [String?]? {
        let ns = text as NSString
        guard let m = regex.firstMatch(in: text, options: [.anchored], range: NSRange(location: 0, length: ns.length))
        else { return nil }
        return (1..<m.numberOfRanges).map {
            let r = m.range(at: $0)
            return r.location == NSNotFound ? nil : ns.substring(with: r)
        }
    }

    /// An action as the reference reads it: the first of its three forms that matches, else an error.
    static func parseAction(_ action: String, fail: (String) -> TemplateError) throws(TemplateError) -> (
        line: String?, record: String?, state: String?
    ) {
        for form in actionForms {
            guard let g = groups(of: form, in: action) else { continue }
            func nonEmpty(_ s: String??) -> String? { (s ?? nil).flatMap { $0.isEmpty ? nil : $0 } }
            let line = nonEmpty(g[0])
            let state = nonEmpty(g[2])
            if line != "Error", let state, state.hasPrefix("\"") {
                throw fail("alphanumeric characters only in state names (action '\(action)')")
            }
            return (line, nonEmpty(g[1]), state)
        }
        throw fail("badly formatted rule action '\(action)'")
    }
}

// Safe: immutable after init; the pointers are to memory it owns and frees in deinit. The ByteRegexes whose programs
// it copies are held by the same Template's `states`.
/// Every state's rules as plain values in one buffer, so the per-line loop copies no reference-counted field.
final class RuleTable: @unchecked Sendable {
    struct Entry {
        /// The native program, when the rule has one (`hasProgram`).
        var program: ByteProgram?
        /// Where its (value, group) pairs are in `captures`.
        var captureStart: Int
        var captureCount: Int
        var lineOp: Template.LineOp
        var recordOp: Template.RecordOp
        var next: Int?
    }
    struct Capture {
        var value: Int
        var group: Int
    }

    let entries: UnsafeMutablePointer<Entry>
    let captures: UnsafeMutablePointer<Capture>
    /// State k's rules are entries[stateStart[k] ..< stateStart[k + 1]].
    let stateStart: UnsafeMutablePointer<Int>

    init(_ states: [[Template.Rule]]) {
        var entries: [Entry] = []
        var captures: [Capture] = []
        var starts: [Int] = []
        for rules in states {
            starts.append(entries.count)
            for rule in rules {
                entries.append(
                    Entry(
                        program: rule.native?.program, captureStart: captures.count, captureCount: rule.captures.count,
                        lineOp: rule.lineOp, recordOp: rule.recordOp, next: rule.next))
                captures += rule.captures.map { Capture(value: $0.value, group: $0.group) }
            }
        }
        starts.append(entries.count)
        self.entries = .copying(entries)
        self.captures = .copying(captures)
        self.stateStart = .copying(starts)
    }

    deinit {
        entries.deallocate()
        captures.deallocate()
        stateStart.deallocate()
    }
}
