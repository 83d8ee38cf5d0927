#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// Runs `ByteRegex` programs on ASCII subjects. One per parse and one thread: it owns its backtracking stack and
/// capture slots, which grow once to the largest need and are reused for every line, so matching allocates nothing.
final class Backtracker {
    struct Entry {
        var kind: Kind
        var pc: Int32
        var pos: Int32
        var limit: Int32
    }
    enum Kind: Int32 {
        /// Resume at `pc` with `pos`.
        case alternative
        /// Capture slot `pc` := `pos`.
        case restore
        /// The greedy repeat at `pc` gives one character back: from end `pos` down to `limit`.
        case greedy
        /// The lazy repeat at `pc` takes one more: from end `pos` up to `limit`.
        case lazy
    }

    /// Thrown when one match attempt needs more than `stepBudget` steps (catastrophic backtracking).
    struct BudgetExceeded: Error {}

    /// Steps per match attempt: a cap on backtracking, so one pathological line cannot take the parser's thread.
    static let stepBudget = 20_000_000

    private var stack: UnsafeMutablePointer<Entry>
    private var capacity = 64
    private var top = 0
    /// Capture slots: 2 per group (start, end); -1 unset.
    private(set) var caps: UnsafeMutablePointer<Int32>
    private var capsCapacity = 16
    private var steps = 0

    init() {
        stack = .allocate(capacity: capacity)
        caps = .allocate(capacity: capsCapacity)
    }

    deinit {
        stack.deallocate()
        caps.deallocate()
    }

    @inline(__always) private func push(_ kind: Kind, _ pc: Int, _ pos: Int, _ limit: Int = 0) {
        if top == capacity {
            let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: stack, count: top)
            stack.deallocate()
            stack = bigger
            capacity *= 2
        }
        stack[top] = Entry(kind: kind, pc: Int32(pc), pos: Int32(pos), limit: Int32(limit))
        top += 1
    }

    /// Python's `regex.match(subject)`: true on a match, with the groups in `caps` (slot 2g, 2g+1; -1 unset).
    func match(_ re: ByteRegex, _ subject: UnsafeBufferPointer<UInt8>) throws(BudgetExceeded) -> Bool {
        if let first = re.firstBytes {
            guard subject.count > 0, first.contains(subject[0]) else { return false }
        }
        let slots = 2 * (re.groupNames.count + 1)
        if slots > capsCapacity {
            caps.deallocate()
            capsCapacity = slots
            caps = .allocate(capacity: slots)
        }
        for k in 0..<slots { caps[k] = -1 }
        top = 0
        steps = 0
        let result = try re.insts.withUnsafeBufferPointer { insts throws(BudgetExceeded) in
            try re.sets.withUnsafeBufferPointer { sets throws(BudgetExceeded) in
                try re.literals.withUnsafeBufferPointer { literals throws(BudgetExceeded) in
                    try run(
                        Program(insts: insts, sets: sets, literals: literals, subject: subject), pc: 0, pos: 0)
                }
            }
        }
        top = 0
        return result >= 0
    }

    struct Program {
        let insts: UnsafeBufferPointer<ByteRegex.Inst>
        let sets: UnsafeBufferPointer<ByteSet>
        let literals: UnsafeBufferPointer<UInt8>
        let subject: UnsafeBufferPointer<UInt8>
    }

    /// Runs from `pc` at `pos` to `match` or `succeed`; returns the end position, or -1 with the stack unwound to
    /// where it was (every capture restored).
    private func run(_ p: Program, pc startPC: Int, pos startPos: Int) throws(BudgetExceeded) -> Int {
        let base = top
        let s = p.subject
        let n = s.count
        var pc = startPC
        var pos = startPos
        @inline(__always) func isWord(_ k: Int) -> Bool { k >= 0 && k < n && ByteSet.word.contains(s[k]) }
        while true {
            steps += 1
            if steps > Self.stepBudget { throw BudgetExceeded() }
            let inst = p.insts[pc]
            var ok = true
            switch inst.op {
            case .byte:
                if pos < n && s[pos] == UInt8(truncatingIfNeeded: inst.a) {
                    pos += 1
                    pc += 1
                } else {
                    ok = false
                }
            case .set:
                if pos < n && p.sets[Int(inst.a)].contains(s[pos]) {
                    pos += 1
                    pc += 1
                } else {
                    ok = false
                }
            case .literal:
                let count = Int(inst.b)
                if pos + count <= n, memcmp(s.baseAddress! + pos, p.literals.baseAddress! + Int(inst.a), count) == 0 {
                    pos += count
                    pc += 1
                } else {
                    ok = false
                }
            case .repeatGreedy:
                let set = p.sets[Int(inst.a)]
                let maxEnd = inst.c < 0 ? n : min(n, pos + Int(inst.c))
                var end = pos
                while end < maxEnd && set.contains(s[end]) { end += 1 }
                let minEnd = pos + Int(inst.b)
                if inst.d >= 0 {
                    let follow = UInt8(truncatingIfNeeded: inst.d)
                    while end >= minEnd && !(end < n && s[end] == follow) { end -= 1 }
                }
                if end < minEnd {
                    ok = false
                } else {
                    if end > minEnd { push(.greedy, pc, end, minEnd) }
                    pos = end
                    pc += 1
                }
            case .repeatLazy:
                let set = p.sets[Int(inst.a)]
                let minEnd = pos + Int(inst.b)
                var end = pos
                while end < minEnd && end < n && set.contains(s[end]) { end += 1 }
                if end < minEnd {
                    ok = false
                } else {
                    let maxEnd = inst.c < 0 ? n : min(n, pos + Int(inst.c))
                    if end < maxEnd { push(.lazy, pc, end, maxEnd) }
                    pos = end
                    pc += 1
                }
            case .split:
                push(.alternative, Int(inst.b), pos)
                pc = Int(inst.a)
            case .jump:
                pc = Int(inst.a)
            case .save:
                let slot = Int(inst.a)
                push(.restore, slot, Int(caps[slot]))
                caps[slot] = Int32(pos)
                pc += 1
            case .atStart:
                ok = pos == 0
                pc += 1
            case .atStartLine:
                ok = pos == 0 || s[pos - 1] == 10
                pc += 1
            case .atEnd:
                ok = pos == n || (pos == n - 1 && s[pos] == 10)
                pc += 1
            case .atEndLine:
                ok = pos == n || s[pos] == 10
                pc += 1
            case .atEndString:
                ok = pos == n
                pc += 1
            case .wordBoundary:
                ok = n > 0 && isWord(pos) != isWord(pos - 1)
                pc += 1
            case .notWordBoundary:
                ok = n > 0 && isWord(pos) == isWord(pos - 1)
                pc += 1
            case .look:
                let negative = inst.b == 1
                let from = inst.c < 0 ? pos : pos - Int(inst.c)
                let bodyBase = top
                var matched = false
                if from >= 0 { matched = try run(p, pc: pc + 1, pos: from) >= 0 }
                if matched {
                    if negative {
                        unwind(to: bodyBase)
                        ok = false
                    } else {
                        keepCaptures(from: bodyBase)
                    }
                } else {
                    ok = negative
                }
                pc = Int(inst.a)
            case .succeed, .match:
                return pos
            }
            if ok { continue }
            // Backtrack.
            var resumed = false
            while !resumed {
                guard top > base else { return -1 }
                top -= 1
                let e = stack[top]
                switch e.kind {
                case .restore:
                    caps[Int(e.pc)] = e.pos
                case .alternative:
                    pc = Int(e.pc)
                    pos = Int(e.pos)
                    resumed = true
                case .greedy:
                    let inst = p.insts[Int(e.pc)]
                    var end = Int(e.pos) - 1
                    let limit = Int(e.limit)
                    if inst.d >= 0 {
                        let follow = UInt8(truncatingIfNeeded: inst.d)
                        while end >= limit && !(end < n && s[end] == follow) { end -= 1 }
                    }
                    if end >= limit {
                        if end > limit { push(.greedy, Int(e.pc), end, limit) }
                        pc = Int(e.pc) + 1
                        pos = end
                        resumed = true
                    }
                case .lazy:
                    let inst = p.insts[Int(e.pc)]
                    let end = Int(e.pos)
                    if end < Int(e.limit) && p.sets[Int(inst.a)].contains(s[end]) {
                        if end + 1 < Int(e.limit) { push(.lazy, Int(e.pc), end + 1, Int(e.limit)) }
                        pc = Int(e.pc) + 1
                        pos = end + 1
                        resumed = true
                    }
                }
                steps += 1
            }
        }
    }

    /// Pops to `base`, restoring captures.
    private func unwind(to base: Int) {
        while top > base {
            top -= 1
            if stack[top].kind == .restore { caps[Int(stack[top].pc)] = stack[top].pos }
        }
    }

    /// A positive lookaround matched: it is atomic, so its alternatives go; the captures it set stay, with their
    /// values from before it kept for when the match backtracks past it.
    private func keepCaptures(from base: Int) {
        var kept = base
        for k in base..<top where stack[k].kind == .restore {
            var seen = false
            for j in base..<kept where stack[j].pc == stack[k].pc { seen = true }
            if !seen {
                stack[kept] = stack[k]
                kept += 1
            }
        }
        top = kept
    }
}
