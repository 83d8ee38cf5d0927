/// A compiled Python `re` pattern for ASCII subjects: TextFSM's hot path. CLI output is ASCII almost always, and on
/// ASCII text Python's Unicode classes (`\w`, `\d`, `\s`, `\b`) reduce to byte tables, so one byte is one character.
/// A line holding any other byte, and a pattern using a construct this compiler does not take, go to the ICU path
/// (`PythonRegex`), which the differential tests check against the reference too.
///
/// Semantics are Python's `re.match`: anchored at the start, leftmost alternative first, greedy and lazy quantifiers
/// with backtracking, a group keeps its last iteration's capture, a positive lookahead keeps its captures.
// Safe: immutable after init; `program` points into memory this object owns and frees in deinit, so it is valid for
// as long as the ByteRegex lives (a Template keeps its ByteRegexes).
final class ByteRegex: @unchecked Sendable {
    /// The program a `Backtracker` runs: plain pointers, so the hot path copies it without reference counting.
    let program: ByteProgram
    /// Capturing groups (numbered from 1), and each one's name.
    let groupNames: [String?]

    init(
        insts: [Inst], sets: [ByteSet], literals: [UInt8], loops: Int, memoLoops: Int, required: [UInt8],
        groupNames: [String?], firstBytes: ByteSet?
    ) {
        program = ByteProgram(
            insts: UnsafePointer(UnsafeMutablePointer.copying(insts)),
            sets: UnsafePointer(UnsafeMutablePointer.copying(sets)),
            literals: UnsafePointer(UnsafeMutablePointer.copying(literals)), slots: 2 * (groupNames.count + 1),
            registers: 2 * loops,
            memoLoops: memoLoops, required: UnsafePointer(UnsafeMutablePointer.copying(required)),
            requiredCount: required.count,
            requiredBytes: required.reduce(into: ByteSet()) { $0.insert(UInt32($1)) },
            firstBytes: firstBytes ?? ByteSet.all,
            checksFirst: firstBytes != nil)
        self.groupNames = groupNames
    }

    deinit {
        UnsafeMutablePointer(mutating: program.insts).deallocate()
        UnsafeMutablePointer(mutating: program.sets).deallocate()
        UnsafeMutablePointer(mutating: program.literals).deallocate()
        UnsafeMutablePointer(mutating: program.required).deallocate()
    }

    enum Op: UInt8 {
        /// `a`: the byte.
        case byte
        /// `a`: the set.
        case set
        /// `a`: the literal's offset, `b`: its length.
        case literal
        /// `a`: the set, `b`: min, `c`: max (-1: unbounded), `d`: the set the next character must be in (from
        /// the instruction that follows, past captures), or -1.
        case repeatGreedy, repeatLazy
        /// Try `a` first, then `b`.
        case split
        /// Go to `a`.
        case jump
        /// Capture slot `a` := the position.
        case save
        case atStart, atStartLine, atEnd, atEndLine, atEndString, wordBoundary, notWordBoundary
        /// Enter loop `a` (counter and last start position := 0, -1, saved for backtracking); go to its `until` at `b`.
        case loopEnter
        /// The end of an iteration of loop `a` (and the first arrival): `b` min, `c` max (-1: unbounded), `d` the
        /// body; the tail is the next instruction. Python's MAX_UNTIL / MIN_UNTIL: past min, another iteration only
        /// when the last one moved (zero-width protection).
        case loopUntilGreedy, loopUntilLazy
        /// Lookaround: the body starts at the next instruction and ends with `succeed`; continue at `a`.
        /// `b`: 1 negative; `c`: lookbehind width, or -1 for a lookahead.
        case look
        /// The end of a lookaround body.
        case succeed
        case match
    }

    struct Inst: Sendable {
        var op: Op
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
        var d: Int32 = -1
        /// For a loop's `until`: its failure-memo index (an outermost unbounded loop), or -1.
        var e: Int32 = -1
    }

    /// Compiles `source`, or returns nil when it uses something only the ICU path takes (a backreference, a
    /// conditional, possessive or atomic groups, verbose mode, a case-insensitive non-ASCII character, a repeated
    /// group that can match empty, a quantified assertion) or that Python rejects (the ICU path reports it).
    static func compile(_ source: String) -> ByteRegex? {
        var parser = Parser(Array(source.unicodeScalars))
        guard let node = try? parser.parseWhole() else { return nil }
        var compiler = Compiler()
        guard (try? compiler.emit(node)) != nil else { return nil }
        compiler.insts.append(Inst(op: .match))
        guard compiler.insts.count <= maxInstructions else { return nil }
        compiler.linkFollowingBytes()
        let first = node.first()
        let required = node.requiredLiteral
        return ByteRegex(
            insts: compiler.insts, sets: compiler.sets, literals: compiler.literals, loops: compiler.loops,
            memoLoops: compiler.memoLoops, required: required.count >= 2 ? required : [],
            groupNames: parser.names,
            firstBytes: first.nullable ? nil : first.bytes)
    }

    static let maxInstructions = 20_000
}

// Safe: plain pointers into a ByteRegex's immutable storage, read-only; whoever holds a ByteProgram holds its
// ByteRegex too.
/// A compiled program as the matcher reads it.
struct ByteProgram: @unchecked Sendable {
    let insts: UnsafePointer<ByteRegex.Inst>
    let sets: UnsafePointer<ByteSet>
    let literals: UnsafePointer<UInt8>
    /// Capture slots: 2 per group, group 0 included.
    let slots: Int
    /// Loop registers: 2 per general loop (iterations done, where the last one started).
    let registers: Int
    /// Loops whose failures are memoized per position: outermost and unbounded, so that an arrival at their `until`
    /// past min at a position the last iteration moved from has one outcome, whatever came before. This turns the
    /// exponential backtracking of nested quantifiers (`(\s*-*)*`) polynomial without changing any result.
    let memoLoops: Int
    /// Bytes every match contains (none when `requiredCount` is 0), and the set of those bytes: a line lacking one
    /// of them is refused before any search.
    let required: UnsafePointer<UInt8>
    let requiredCount: Int
    let requiredBytes: ByteSet
    /// The bytes a match can start with, when `checksFirst`.
    let firstBytes: ByteSet
    let checksFirst: Bool
}

extension UnsafeMutablePointer {
    /// A new buffer holding `elements` (at least one slot, so that it can always be freed), for an owner that
    /// deallocates it.
    static func copying(_ elements: [Pointee]) -> UnsafeMutablePointer {
        let buffer = allocate(capacity: Swift.max(1, elements.count))
        buffer.initialize(from: elements, count: elements.count)
        return buffer
    }

    /// Makes `pointer` hold at least `count` elements (their values unspecified), growing it when it is smaller.
    static func reserve(_ pointer: inout UnsafeMutablePointer, _ capacity: inout Int, _ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = count
        pointer = allocate(capacity: count)
    }
}

/// A set of ASCII bytes.
struct ByteSet: Sendable, Equatable {
    var lo: UInt64 = 0
    var hi: UInt64 = 0

    @inline(__always) func contains(_ b: UInt8) -> Bool {
        let word = b < 64 ? lo : (b < 128 ? hi : 0)
        return (word >> UInt64(b & 63)) & 1 == 1
    }
    mutating func insert(_ b: UInt32) {
        if b < 64 { lo |= 1 << UInt64(b) } else if b < 128 { hi |= 1 << UInt64(b - 64) }
    }
    mutating func insert(range: ClosedRange<UInt32>) {
        for b in range.lowerBound...min(range.upperBound, 127) where range.lowerBound < 128 { insert(b) }
    }
    mutating func formUnion(_ other: ByteSet) {
        lo |= other.lo
        hi |= other.hi
    }
    var inverted: ByteSet { ByteSet(lo: ~lo, hi: ~hi) }
    /// Adds the other case of every ASCII letter.
    var caseFolded: ByteSet {
        var out = self
        for b in UInt8(ascii: "A")...UInt8(ascii: "Z") {
            if contains(b) || contains(b + 32) {
                out.insert(UInt32(b))
                out.insert(UInt32(b + 32))
            }
        }
        return out
    }

    static let digits: ByteSet = {
        var s = ByteSet()
        s.insert(range: 0x30...0x39)
        return s
    }()
    static let word: ByteSet = {
        var s = digits
        s.insert(range: 0x41...0x5A)
        s.insert(range: 0x61...0x7A)
        s.insert(0x5F)
        return s
    }()
    /// Python's `str.isspace` on ASCII: \t \n \v \f \r, \x1c-\x1f and the space.
    static let space: ByteSet = {
        var s = ByteSet()
        s.insert(range: 0x09...0x0D)
        s.insert(range: 0x1C...0x20)
        return s
    }()
    static let all = ByteSet(lo: ~0, hi: ~0)
    static let notNewline: ByteSet = {
        var s = all
        s.lo &= ~(1 << 10)
        return s
    }()
}

extension ByteRegex {
    indirect enum Node {
        case empty
        case byte(UInt8)
        case set(ByteSet)
        case concat([Node])
        case alternation([Node])
        /// A capturing group (slot pair of its number) or a plain one (nil).
        case group(Int?, Node)
        case quantified(Node, min: Int, max: Int?, greedy: Bool)
        case assertion(ByteRegex.Op)
        case look(Node, negative: Bool, behind: Bool)

        /// The first bytes of a match, and whether the node can match without consuming one.
        func first() -> (bytes: ByteSet, nullable: Bool) {
            switch self {
            case .empty, .assertion, .look: return (ByteSet(), true)
            case .byte(let b):
                var s = ByteSet()
                s.insert(UInt32(b))
                return (s, false)
            case .set(let s): return (s, false)
            case .group(_, let n): return n.first()
            case .quantified(let n, let min, _, _):
                let f = n.first()
                return (f.bytes, f.nullable || min == 0)
            case .alternation(let ns):
                var s = ByteSet()
                var nullable = false
                for n in ns {
                    let f = n.first()
                    s.formUnion(f.bytes)
                    nullable = nullable || f.nullable
                }
                return (s, nullable)
            case .concat(let ns):
                var s = ByteSet()
                for n in ns {
                    let f = n.first()
                    s.formUnion(f.bytes)
                    if !f.nullable { return (s, false) }
                }
                return (s, true)
            }
        }

        /// The width in characters when every match has the same one (Python's rule for a lookbehind).
        var fixedWidth: Int? {
            switch self {
            case .empty, .assertion, .look: return 0
            case .byte, .set: return 1
            case .group(_, let n): return n.fixedWidth
            case .quantified(let n, let min, let max, _):
                guard let max, max == min, let w = n.fixedWidth else { return nil }
                return w * min
            case .alternation(let ns):
                let widths = ns.map(\.fixedWidth)
                guard let w = widths.first, let w, widths.allSatisfy({ $0 == w }) else { return nil }
                return w
            case .concat(let ns):
                var total = 0
                for n in ns {
                    guard let w = n.fixedWidth else { return nil }
                    total += w
                }
                return total
            }
        }

        /// The longest run of plain bytes every match must contain (a quick refusal with memmem before the VM).
        var requiredLiteral: [UInt8] {
            switch self {
            case .group(_, let n): return n.requiredLiteral
            case .quantified(let n, let min, _, _): return min >= 1 ? n.requiredLiteral : []
            case .concat(let ns):
                var best: [UInt8] = []
                var run: [UInt8] = []
                for n in ns {
                    if case .byte(let b) = n {
                        run.append(b)
                        continue
                    }
                    if run.count > best.count { best = run }
                    run = []
                    let inner = n.requiredLiteral
                    if inner.count > best.count { best = inner }
                }
                return run.count > best.count ? run : best
            default: return []
            }
        }

        /// Whether the node holds a capturing group.
        var captures: Bool {
            switch self {
            case .empty, .byte, .set, .assertion: false
            case .group(let g, let n): g != nil || n.captures
            case .quantified(let n, _, _, _), .look(let n, _, _): n.captures
            case .alternation(let ns), .concat(let ns): ns.contains { $0.captures }
            }
        }
    }

    struct Unsupported: Error {}

    /// Python's `sre_parse`, for the constructs compiled here; anything else throws `Unsupported`.
    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var names: [String?] = []
        var ignoreCase = false
        var dotAll = false
        var multiLine = false

        init(_ s: [Unicode.Scalar]) { self.s = s }

        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

        mutating func parseWhole() throws(Unsupported) -> Node {
            // Global flags, allowed only at the start (Python 3.11).
            while i + 2 < s.count, s[i] == "(", s[i + 1] == "?", "imsu".unicodeScalars.contains(s[i + 2]) {
                var j = i + 2
                var flags: [Unicode.Scalar] = []
                while j < s.count, "imsu".unicodeScalars.contains(s[j]) {
                    flags.append(s[j])
                    j += 1
                }
                guard j < s.count, s[j] == ")" else { break }
                for f in flags {
                    if f == "i" { ignoreCase = true }
                    if f == "s" { dotAll = true }
                    if f == "m" { multiLine = true }
                }
                i = j + 1
            }
            if ignoreCase, s.contains(where: { !$0.isASCII }) { throw Unsupported() }
            let node = try parseAlternation()
            guard i == s.count else { throw Unsupported() }
            return node
        }

        mutating func parseAlternation() throws(Unsupported) -> Node {
            var branches = [try parseConcat()]
            while peek == "|" {
                i += 1
                branches.append(try parseConcat())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseConcat() throws(Unsupported) -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try parseAtom()
                // Quantifiers.
                while let q = peek {
                    var min = 0
                    var max: Int?
                    if q == "*" {
                        i += 1
                    } else if q == "+" {
                        min = 1
                        i += 1
                    } else if q == "?" {
                        max = 1
                        i += 1
                    } else if q == "{", let (lo, hi, end) = braceQuantifier(at: i) {
                        min = lo
                        max = hi
                        i = end
                    } else {
                        break
                    }
                    var greedy = true
                    if peek == "?" {
                        greedy = false
                        i += 1
                    } else if peek == "+" {
                        throw Unsupported()  // possessive
                    }
                    switch atom {
                    case .assertion, .look, .empty, .quantified: throw Unsupported()
                    default: break
                    }
                    if let max, max < min { throw Unsupported() }
                    atom = .quantified(atom, min: min, max: max, greedy: greedy)
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : items.isEmpty ? .empty : .concat(items)
        }

        /// `{m}`, `{m,}`, `{,n}`, `{m,n}`, `{,}` as Python reads them; nil: a literal brace.
        func braceQuantifier(at start: Int) -> (Int, Int?, Int)? {
            var j = start + 1
            var lo = ""
            var hi = ""
            while j < s.count, ("0"..."9").contains(s[j]) {
                lo.unicodeScalars.append(s[j])
                j += 1
            }
            var comma = false
            if j < s.count, s[j] == "," {
                comma = true
                j += 1
                while j < s.count, ("0"..."9").contains(s[j]) {
                    hi.unicodeScalars.append(s[j])
                    j += 1
                }
            } else {
                hi = lo
            }
            guard j < s.count, s[j] == "}" else { return nil }
            if !comma && lo.isEmpty { return nil }
            guard let min = lo.isEmpty ? 0 : Int(lo), min < 65536 else { return nil }
            let max: Int? = hi.isEmpty ? nil : Int(hi)
            if !hi.isEmpty && (max == nil || max! >= 65536) { return nil }
            return (min, max, j + 1)
        }

        func literal(_ c: UInt32) -> Node {
            guard c < 128 else { return .set(ByteSet()) }  // never on an ASCII subject
            let b = UInt8(c)
            if ignoreCase, ByteSet.word.contains(b), !ByteSet.digits.contains(b), b != 0x5F {
                var set = ByteSet()
                set.insert(c)
                return .set(set.caseFolded)
            }
            return .byte(b)
        }

        mutating func parseAtom() throws(Unsupported) -> Node {
            let c = s[i]
            i += 1
            switch c {
            case ".": return .set(dotAll ? .all : .notNewline)
            case "^": return .assertion(multiLine ? .atStartLine : .atStart)
            case "$": return .assertion(multiLine ? .atEndLine : .atEnd)
            case "[": return .set(try parseClass())
            case "(": return try parseGroup()
            case "\\": return try parseEscape()
            case "*", "+", "?": throw Unsupported()  // nothing to repeat
            case "{":
                if braceQuantifier(at: i - 1) != nil { throw Unsupported() }
                return literal(c.value)
            default: return literal(c.value)
            }
        }

        mutating func parseGroup() throws(Unsupported) -> Node {
            if peek != "?" {
                names.append(nil)
                let number = names.count
                let body = try parseAlternation()
                guard peek == ")" else { throw Unsupported() }
                i += 1
                return .group(number, body)
            }
            i += 1
            guard let k = peek else { throw Unsupported() }
            var lookNegative = false
            var lookBehind = false
            switch k {
            case "P":
                guard i + 1 < s.count, s[i + 1] == "<" else { throw Unsupported() }  // (?P=name): a backreference
                i += 2
                var name = ""
                while let n = peek, n != ">" {
                    name.unicodeScalars.append(n)
                    i += 1
                }
                guard peek == ">", !name.isEmpty, !names.contains(name),
                    name.unicodeScalars.allSatisfy({
                        $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
                    }),
                    !("0"..."9").contains(name.unicodeScalars.first!)
                else { throw Unsupported() }
                i += 1
                names.append(name)
                let number = names.count
                let body = try parseAlternation()
                guard peek == ")" else { throw Unsupported() }
                i += 1
                return .group(number, body)
            case ":":
                i += 1
                let body = try parseAlternation()
                guard peek == ")" else { throw Unsupported() }
                i += 1
                return .group(nil, body)
            case "=", "!":
                lookNegative = k == "!"
                i += 1
            case "<":
                guard i + 1 < s.count, s[i + 1] == "=" || s[i + 1] == "!" else { throw Unsupported() }
                lookNegative = s[i + 1] == "!"
                lookBehind = true
                i += 2
            case "#":
                while let n = peek, n != ")" { i += 1 }
                guard peek == ")" else { throw Unsupported() }
                i += 1
                return .empty
            default:
                // Scoped flags (?i:…), (?-i:…).
                var on: [Unicode.Scalar] = []
                var off: [Unicode.Scalar] = []
                var minus = false
                while let f = peek, "imsu-".unicodeScalars.contains(f) {
                    if f == "-" { minus = true } else if minus { off.append(f) } else { on.append(f) }
                    i += 1
                }
                guard peek == ":", !(on.isEmpty && off.isEmpty) else { throw Unsupported() }
                i += 1
                let saved = (ignoreCase, dotAll, multiLine)
                if on.contains("i") { ignoreCase = true }
                if off.contains("i") { ignoreCase = false }
                if on.contains("s") { dotAll = true }
                if off.contains("s") { dotAll = false }
                if on.contains("m") { multiLine = true }
                if off.contains("m") { multiLine = false }
                if ignoreCase, s.contains(where: { !$0.isASCII }) { throw Unsupported() }
                let body = try parseAlternation()
                (ignoreCase, dotAll, multiLine) = saved
                guard peek == ")" else { throw Unsupported() }
                i += 1
                return .group(nil, body)
            }
            let body = try parseAlternation()
            guard peek == ")" else { throw Unsupported() }
            i += 1
            if lookBehind {
                // Python: a fixed width, and no group references inside (none exist here).
                guard body.fixedWidth != nil else { throw Unsupported() }
            }
            if body.captures && (lookNegative || lookBehind) { throw Unsupported() }
            return .look(body, negative: lookNegative, behind: lookBehind)
        }

        /// An escape outside a class.
        mutating func parseEscape() throws(Unsupported) -> Node {
            guard let e = peek else { throw Unsupported() }
            i += 1
            switch e {
            case "d": return .set(.digits)
            case "D": return .set(ByteSet.digits.inverted)
            case "w": return .set(.word)
            case "W": return .set(ByteSet.word.inverted)
            case "s": return .set(.space)
            case "S": return .set(ByteSet.space.inverted)
            case "b": return .assertion(.wordBoundary)
            case "B": return .assertion(.notWordBoundary)
            case "A": return .assertion(.atStart)
            case "Z": return .assertion(.atEndString)
            case "0":
                var value: UInt32 = 0
                var n = 0
                while n < 2, let d = peek, ("0"..."7").contains(d) {
                    value = value * 8 + (d.value - 48)
                    i += 1
                    n += 1
                }
                return literal(value)
            case "1"..."9":
                // Octal only with three octal digits; otherwise a backreference.
                if i + 1 < s.count, ("0"..."7").contains(e), ("0"..."7").contains(s[i]), ("0"..."7").contains(s[i + 1])
                {
                    let value = (e.value - 48) * 64 + (s[i].value - 48) * 8 + (s[i + 1].value - 48)
                    guard value <= 0o377 else { throw Unsupported() }
                    i += 2
                    return literal(value)
                }
                throw Unsupported()
            default: return literal(try commonEscape(e))
            }
        }

        /// Escapes shared by both contexts: a character code.
        mutating func commonEscape(_ e: Unicode.Scalar) throws(Unsupported) -> UInt32 {
            switch e {
            case "a": return 7
            case "f": return 12
            case "n": return 10
            case "r": return 13
            case "t": return 9
            case "v": return 11
            case "\\": return 92
            case "x", "u", "U":
                let count = e == "x" ? 2 : e == "u" ? 4 : 8
                guard i + count <= s.count else { throw Unsupported() }
                var hex = ""
                for k in 0..<count { hex.unicodeScalars.append(s[i + k]) }
                guard hex.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit }), let v = UInt32(hex, radix: 16),
                    Unicode.Scalar(v) != nil
                else { throw Unsupported() }
                i += count
                if v >= 128 && ignoreCase { throw Unsupported() }
                return v
            default:
                // An ASCII letter or digit escape Python does not know is an error (the ICU path reports it).
                if e.isASCII, e.properties.isAlphabetic || ("0"..."9").contains(e) { throw Unsupported() }
                if !e.isASCII && ignoreCase { throw Unsupported() }
                return e.value
            }
        }

        /// A class after its `[`.
        mutating func parseClass() throws(Unsupported) -> ByteSet {
            var set = ByteSet()
            var negate = false
            if peek == "^" {
                negate = true
                i += 1
            }
            let start = i
            func add(_ item: ClassItem, to set: inout ByteSet) {
                switch item {
                case .code(let c): set.insert(c)
                case .category(let s): set.formUnion(s)
                }
            }
            while true {
                guard let c = peek else { throw Unsupported() }
                i += 1
                if c == "]" && i - 1 != start { break }
                let item1: ClassItem
                if c == "\\" {
                    item1 = try classEscape()
                } else {
                    if !c.isASCII && ignoreCase { throw Unsupported() }
                    item1 = .code(c.value)
                }
                if peek == "-" {
                    i += 1
                    guard let that = peek else { throw Unsupported() }
                    i += 1
                    if that == "]" {
                        add(item1, to: &set)
                        set.insert(45)
                        break
                    }
                    let item2: ClassItem = that == "\\" ? try classEscape() : .code(that.value)
                    guard case .code(let lo) = item1, case .code(let hi) = item2, lo <= hi else { throw Unsupported() }
                    if ignoreCase && hi >= 128 { throw Unsupported() }
                    set.insert(range: lo...hi)
                } else {
                    add(item1, to: &set)
                }
            }
            if ignoreCase { set = set.caseFolded }
            return negate ? set.inverted : set
        }

        mutating func classEscape() throws(Unsupported) -> ClassItem {
            guard let e = peek else { throw Unsupported() }
            i += 1
            switch e {
            case "d": return .category(.digits)
            case "D": return .category(ByteSet.digits.inverted)
            case "w": return .category(.word)
            case "W": return .category(ByteSet.word.inverted)
            case "s": return .category(.space)
            case "S": return .category(ByteSet.space.inverted)
            case "b": return .code(8)
            case "0"..."7":
                var value = e.value - 48
                var n = 0
                while n < 2, let d = peek, ("0"..."7").contains(d) {
                    value = value * 8 + (d.value - 48)
                    i += 1
                    n += 1
                }
                guard value <= 0o377 else { throw Unsupported() }
                return .code(value)
            case "8", "9": throw Unsupported()
            default: return .code(try commonEscape(e))
            }
        }
    }
}

extension ByteRegex.Parser {
    enum ClassItem {
        case code(UInt32)
        case category(ByteSet)
    }
}

extension ByteRegex {
    /// AST → instructions.
    struct Compiler {
        var insts: [Inst] = []
        var sets: [ByteSet] = []
        var literals: [UInt8] = []
        var loops = 0
        var memoLoops = 0
        /// Register loops being emitted around the current node.
        var loopDepth = 0

        mutating func set(_ s: ByteSet) -> Int32 {
            if let i = sets.firstIndex(of: s) { return Int32(i) }
            sets.append(s)
            return Int32(sets.count - 1)
        }

        mutating func emit(_ node: Node) throws(Unsupported) {
            guard insts.count <= ByteRegex.maxInstructions else { throw Unsupported() }
            switch node {
            case .empty: break
            case .byte(let b): insts.append(Inst(op: .byte, a: Int32(b)))
            case .set(let s): insts.append(Inst(op: .set, a: set(s)))
            case .assertion(let op): insts.append(Inst(op: op))
            case .concat(let ns):
                var k = 0
                while k < ns.count {
                    // Runs of plain bytes become one literal.
                    if case .byte = ns[k] {
                        var run: [UInt8] = []
                        while k < ns.count, case .byte(let b) = ns[k] {
                            run.append(b)
                            k += 1
                        }
                        if run.count == 1 {
                            insts.append(Inst(op: .byte, a: Int32(run[0])))
                        } else {
                            insts.append(Inst(op: .literal, a: Int32(literals.count), b: Int32(run.count)))
                            literals.append(contentsOf: run)
                        }
                        continue
                    }
                    try emit(ns[k])
                    k += 1
                }
            case .alternation(let ns):
                // split L1, next; L1: branch; jump end; next: split …
                var jumps: [Int] = []
                for (k, n) in ns.enumerated() {
                    if k < ns.count - 1 {
                        let split = insts.count
                        insts.append(Inst(op: .split))
                        insts[split].a = Int32(insts.count)
                        try emit(n)
                        jumps.append(insts.count)
                        insts.append(Inst(op: .jump))
                        insts[split].b = Int32(insts.count)
                    } else {
                        try emit(n)
                    }
                }
                for j in jumps { insts[j].a = Int32(insts.count) }
            case .group(let number, let body):
                if let number { insts.append(Inst(op: .save, a: Int32(2 * number))) }
                try emit(body)
                if let number { insts.append(Inst(op: .save, a: Int32(2 * number + 1))) }
            case .look(let body, let negative, let behind):
                let at = insts.count
                insts.append(Inst(op: .look, b: negative ? 1 : 0, c: behind ? Int32(body.fixedWidth ?? 0) : -1))
                try emit(body)
                insts.append(Inst(op: .succeed))
                insts[at].a = Int32(insts.count)
            case .quantified(let body, let min, let max, let greedy):
                if let single = Self.singleSet(body) {
                    insts.append(
                        Inst(
                            op: greedy ? .repeatGreedy : .repeatLazy, a: set(single), b: Int32(min),
                            c: Int32(max ?? -1)))
                    return
                }
                // An outermost unbounded loop goes here too, for its failure memo.
                if body.first().nullable || min > 8 || (max ?? min) - min > 8 || (max == nil && loopDepth == 0) {
                    // A counted loop with Python's zero-width protection.
                    let k = Int32(loops)
                    loops += 1
                    let enter = insts.count
                    insts.append(Inst(op: .loopEnter, a: k))
                    let bodyStart = Int32(insts.count)
                    loopDepth += 1
                    try emit(body)
                    loopDepth -= 1
                    insts[enter].b = Int32(insts.count)
                    var memo: Int32 = -1
                    if loopDepth == 0 && max == nil {
                        memo = Int32(memoLoops)
                        memoLoops += 1
                    }
                    insts.append(
                        Inst(
                            op: greedy ? .loopUntilGreedy : .loopUntilLazy, a: k, b: Int32(min), c: Int32(max ?? -1),
                            d: bodyStart, e: memo))
                    return
                }
                for _ in 0..<min { try emit(body) }
                if let max {
                    // (body (body (…)?)?)? for the optional copies; every skip goes to the end.
                    var pending: [Int] = []
                    for _ in min..<max {
                        pending.append(insts.count)
                        insts.append(Inst(op: .split))
                        try emit(body)
                    }
                    let end = Int32(insts.count)
                    for p in pending {
                        insts[p].a = greedy ? Int32(p + 1) : end
                        insts[p].b = greedy ? end : Int32(p + 1)
                    }
                } else {
                    // L: split body, end; body; jump L
                    let split = insts.count
                    insts.append(Inst(op: .split))
                    try emit(body)
                    insts.append(Inst(op: .jump, a: Int32(split)))
                    let end = Int32(insts.count)
                    if greedy {
                        insts[split].a = Int32(split + 1)
                        insts[split].b = end
                    } else {
                        insts[split].a = end
                        insts[split].b = Int32(split + 1)
                    }
                }
            }
        }

        static func singleSet(_ node: Node) -> ByteSet? {
            switch node {
            case .byte(let b):
                var s = ByteSet()
                s.insert(UInt32(b))
                return s
            case .set(let s): return s
            case .group(nil, let n): return singleSet(n)
            default: return nil
            }
        }

        /// A repeat tries only the ends where the next character can start what follows it (the instruction after
        /// it, past capture saves, which consume nothing and never branch).
        mutating func linkFollowingBytes() {
            for k in insts.indices where insts[k].op == .repeatGreedy || insts[k].op == .repeatLazy {
                var j = k + 1
                while j < insts.count && insts[j].op == .save { j += 1 }
                guard j < insts.count else { continue }
                let next = insts[j]
                var follow: ByteSet?
                switch next.op {
                case .byte:
                    var f = ByteSet()
                    f.insert(UInt32(next.a))
                    follow = f
                case .literal:
                    var f = ByteSet()
                    f.insert(UInt32(literals[Int(next.a)]))
                    follow = f
                case .set: follow = sets[Int(next.a)]
                case .repeatGreedy, .repeatLazy: follow = next.b >= 1 ? sets[Int(next.a)] : nil
                default: follow = nil
                }
                if let follow { insts[k].d = set(follow) }
            }
        }
    }
}
