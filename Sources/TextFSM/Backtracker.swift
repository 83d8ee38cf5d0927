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
        /// Loop register `pc` := `pos`.
        case restoreRegister
        /// The lazy loop whose `until` is at `pc` tries another iteration at `pos` (its tail failed).
        case loopIterate
        /// Everything after arriving at memoized loop `pc`'s `until` at `pos` failed: remember it.
        case memoMark
    }

    /// Thrown when one match attempt needs more than `stepBudget` steps (catastrophic backtracking).
    struct BudgetExceeded: Error {}

    /// Steps per match attempt: a cap on backtracking, so one pathological line cannot take the parser's thread
    /// (about half a second here; Python's re has no cap and would run on).
    static let stepBudget = 100_000_000
    let stepBudget: Int

    private var stack: UnsafeMutablePointer<Entry>
    private var capacity = 64
    private var top = 0
    /// Capture slots: 2 per group (start, end); -1 unset.
    private(set) var caps: UnsafeMutablePointer<Int32>
    private var capsCapacity = 16
    /// Loop registers: 2 per loop (iterations done, last iteration's start).
    private var regs: UnsafeMutablePointer<Int32>
    private var regsCapacity = 8
    /// Failure memo bits: memoized loop m at position p is bit m * (subject length + 1) + p.
    private var memo: UnsafeMutablePointer<UInt64>
    private var memoCapacity = 4
    private var memoStride = 0
    private var steps = 0

    init(stepBudget: Int = Backtracker.stepBudget) {
        self.stepBudget = stepBudget
        stack = .allocate(capacity: capacity)
        caps = .allocate(capacity: capsCapacity)
        regs = .allocate(capacity: regsCapacity)
        memo = .allocate(capacity: memoCapacity)
    }

    deinit {
        stack.deallocate()
        caps.deallocate()
        regs.deallocate()
        memo.deallocate()
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
        try match(re.program, subject)
    }

    /// The same on the program (the parser's hot path: no reference counting).
    /// `present`: the bytes `subject` holds, when the caller knows them (a line's, gathered while splitting).
    func match(_ program: ByteProgram, _ subject: UnsafeBufferPointer<UInt8>, present: ByteSet? = nil)
        throws(BudgetExceeded) -> Bool
    {
        if program.checksFirst {
            guard subject.count > 0, program.firstBytes.contains(subject[0]) else { return false }
        }
        if program.requiredCount > 0 {
            if let present {
                guard present.lo & program.requiredBytes.lo == program.requiredBytes.lo,
                    present.hi & program.requiredBytes.hi == program.requiredBytes.hi
                else { return false }
            }
            guard Self.contains(subject, program.required, program.requiredCount) else { return false }
        }
        UnsafeMutablePointer.reserve(&caps, &capsCapacity, program.slots)
        caps.update(repeating: -1, count: program.slots)
        UnsafeMutablePointer.reserve(&regs, &regsCapacity, program.registers)
        if program.memoLoops > 0 {
            memoStride = subject.count + 1
            let words = (program.memoLoops * memoStride + 63) / 64
            UnsafeMutablePointer.reserve(&memo, &memoCapacity, words)
            memo.update(repeating: 0, count: words)
        }
        top = 0
        steps = 0
        let result = try run(program, subject, pc: 0, pos: 0)
        top = 0
        return result >= 0
    }

    /// Runs from `pc` at `pos` to `match` or `succeed`; returns the end position, or -1 with the stack unwound to
    /// where it was (every capture restored).
    private func run(_ p: ByteProgram, _ s: UnsafeBufferPointer<UInt8>, pc startPC: Int, pos startPos: Int)
        throws(BudgetExceeded) -> Int
    {
        let base = top
        let n = s.count
        var pc = startPC
        var pos = startPos
        @inline(__always) func isWord(_ k: Int) -> Bool { k >= 0 && k < n && ByteSet.word.contains(s[k]) }
        while true {
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
                if pos + count <= n, memcmp(s.baseAddress! + pos, p.literals + Int(inst.a), count) == 0 {
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
                    let follow = p.sets[Int(inst.d)]
                    while end >= minEnd && !(end < n && follow.contains(s[end])) { end -= 1 }
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
                let maxEnd = inst.c < 0 ? n : min(n, pos + Int(inst.c))
                if end >= minEnd && inst.d >= 0 {
                    end = lazyAdvance(p, s, inst, from: end, to: maxEnd)
                }
                if end < minEnd {
                    ok = false
                } else {
                    if end < maxEnd { push(.lazy, pc, end, maxEnd) }
                    pos = end
                    pc += 1
                }
            case .split:
                push(.alternative, Int(inst.b), pos)
                pc = Int(inst.a)
            case .jump:
                // Steps are counted where execution can go back (jumps, loop ends, backtracking): between two of
                // them it runs at most the program's length.
                steps += 1
                if steps > stepBudget { throw BudgetExceeded() }
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
            case .loopEnter:
                let k = 2 * Int(inst.a)
                push(.restoreRegister, k, Int(regs[k]))
                push(.restoreRegister, k + 1, Int(regs[k + 1]))
                regs[k] = 0
                regs[k + 1] = -1
                pc = Int(inst.b)
            case .loopUntilGreedy, .loopUntilLazy:
                steps += 1
                if steps > stepBudget { throw BudgetExceeded() }
                let k = 2 * Int(inst.a)
                let done = Int(regs[k])
                let moved = Int32(pos) != regs[k + 1]
                if done < Int(inst.b) {
                    push(.restoreRegister, k, done)
                    regs[k] = Int32(done + 1)
                    pc = Int(inst.d)
                    break
                }
                let greedy = inst.op == .loopUntilGreedy
                // Greedy tries another iteration only below max and when the last one moved; lazy tries the tail
                // first (`loopIterate` checks the same when it comes back).
                if greedy && !((inst.c < 0 || done < Int(inst.c)) && moved) {
                    pc += 1
                    break
                }
                if inst.e >= 0 && moved {
                    if memoFailed(Int(inst.e), pos) {
                        ok = false
                        break
                    }
                    push(.memoMark, Int(inst.e), pos)
                }
                if greedy {
                    push(.alternative, pc + 1, pos)
                    push(.restoreRegister, k, done)
                    push(.restoreRegister, k + 1, Int(regs[k + 1]))
                    regs[k] = Int32(done + 1)
                    regs[k + 1] = Int32(pos)
                    pc = Int(inst.d)
                } else {
                    push(.loopIterate, pc, pos)
                    pc += 1
                }
            case .look:
                let negative = inst.b == 1
                let from = inst.c < 0 ? pos : pos - Int(inst.c)
                let bodyBase = top
                var matched = false
                if from >= 0 { matched = try run(p, s, pc: pc + 1, pos: from) >= 0 }
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
                steps += 1
                if steps > stepBudget { throw BudgetExceeded() }
                guard top > base else { return -1 }
                top -= 1
                let e = stack[top]
                switch e.kind {
                case .restore:
                    caps[Int(e.pc)] = e.pos
                case .restoreRegister:
                    regs[Int(e.pc)] = e.pos
                case .memoMark:
                    let bit = Int(e.pc) * memoStride + Int(e.pos)
                    memo[bit >> 6] |= 1 << UInt64(bit & 63)
                case .loopIterate:
                    let inst = p.insts[Int(e.pc)]
                    let k = 2 * Int(inst.a)
                    let done = Int(regs[k])
                    if (inst.c < 0 || done < Int(inst.c)) && e.pos != regs[k + 1] {
                        push(.restoreRegister, k, done)
                        push(.restoreRegister, k + 1, Int(regs[k + 1]))
                        regs[k] = Int32(done + 1)
                        regs[k + 1] = e.pos
                        pc = Int(inst.d)
                        pos = Int(e.pos)
                        resumed = true
                    }
                case .alternative:
                    pc = Int(e.pc)
                    pos = Int(e.pos)
                    resumed = true
                case .greedy:
                    let inst = p.insts[Int(e.pc)]
                    var end = Int(e.pos) - 1
                    let limit = Int(e.limit)
                    if inst.d >= 0 {
                        let follow = p.sets[Int(inst.d)]
                        while end >= limit && !(end < n && follow.contains(s[end])) { end -= 1 }
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
                    let limit = Int(e.limit)
                    if end < limit && p.sets[Int(inst.a)].contains(s[end]) {
                        var next = end + 1
                        if inst.d >= 0 { next = lazyAdvance(p, s, inst, from: next, to: limit) }
                        if next >= 0 {
                            if next < limit { push(.lazy, Int(e.pc), next, limit) }
                            pc = Int(e.pc) + 1
                            pos = next
                            resumed = true
                        }
                    }
                }
            }
        }
    }

    /// Whether `subject` contains the `count` bytes at `needle` (memchr for the first byte, memcmp for the rest).
    static func contains(_ subject: UnsafeBufferPointer<UInt8>, _ needle: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard subject.count >= count, let base = subject.baseAddress else { return false }
        let first = Int32(needle[0])
        var from = 0
        let last = subject.count - count
        while from <= last {
            guard let hit = memchr(base + from, first, last - from + 1) else { return false }
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            var k = 1
            while k < count && base[at + k] == needle[k] { k += 1 }
            if k == count { return true }
            from = at + 1
        }
        return false
    }

    @inline(__always) private func memoFailed(_ loop: Int, _ pos: Int) -> Bool {
        let bit = loop * memoStride + pos
        return (memo[bit >> 6] >> UInt64(bit & 63)) & 1 == 1
    }

    /// A lazy repeat's next end from `from`: the first where the following character can start what comes next,
    /// taking only characters of the repeat's set and stopping at `limit`; -1 when there is none.
    @inline(__always) private func lazyAdvance(
        _ p: ByteProgram, _ s: UnsafeBufferPointer<UInt8>, _ inst: ByteRegex.Inst, from: Int, to limit: Int
    ) -> Int {
        let set = p.sets[Int(inst.a)]
        let follow = p.sets[Int(inst.d)]
        var end = from
        while true {
            if end < s.count && follow.contains(s[end]) { return end }
            guard end < limit && set.contains(s[end]) else { return -1 }
            end += 1
        }
    }

    /// Pops to `base`, restoring captures.
    private func unwind(to base: Int) {
        while top > base {
            top -= 1
            if stack[top].kind == .restore { caps[Int(stack[top].pc)] = stack[top].pos }
            if stack[top].kind == .restoreRegister { regs[Int(stack[top].pc)] = stack[top].pos }
        }
    }

    /// A positive lookaround matched: it is atomic, so its alternatives go; the captures it set stay, with their
    /// values from before it kept for when the match backtracks past it.
    private func keepCaptures(from base: Int) {
        var kept = base
        for k in base..<top where stack[k].kind == .restore || stack[k].kind == .restoreRegister {
            var seen = false
            for j in base..<kept where stack[j].pc == stack[k].pc && stack[j].kind == stack[k].kind { seen = true }
            if !seen {
                stack[kept] = stack[k]
                kept += 1
            }
        }
        top = kept
    }
}
