import NetPollerCore

/// One request size being learned: grows ×1.5 while full requests succeed, and once one failed, brackets between the
/// largest that worked and the smallest that failed (as Zabbix does), until they are adjacent.
public struct SizeBracket: Codable, Sendable, Equatable {
    /// The size the next request starts with.
    public var current: Int
    /// The largest size that succeeded full (0: none yet).
    public var good: Int
    /// The smallest size that failed (tooBig, or a timeout above `good`); nil: none yet.
    public var bad: Int?
    public var ceiling: Int

    public init(start: Int, ceiling: Int) {
        self.current = max(1, min(start, ceiling))
        self.good = 0
        self.ceiling = max(1, ceiling)
    }

    /// Whether the bracket is closed: `current` is the device's limit (or the ceiling).
    public var settled: Bool {
        if let bad { return bad - good <= 1 && current == good }
        return good >= ceiling
    }

    /// A request of `size` succeeded and was full (the device could have sent more).
    public mutating func succeeded(_ size: Int) {
        guard size >= 1 else { return }
        good = max(good, size)
        if let b = bad, b <= good { bad = nil }
        next()
    }

    /// A request of `size` failed. A tooBig is certain; a timeout at or below a size that already worked is taken for
    /// packet loss and ignored (learning must not shrink under loss).
    public mutating func failed(_ size: Int, tooBig: Bool) {
        guard size >= 1 else { return }
        if !tooBig && size <= good { return }
        bad = min(bad ?? size, size)
        if good >= size { good = 0 }
        next()
    }

    private mutating func next() {
        if let bad {
            if good == 0 {
                current = max(1, bad / 2)
            } else {
                current = bad - good > 1 ? (good + bad) / 2 : good
            }
        } else {
            current = min(ceiling, max(good + 1, good + good / 2))
        }
    }
}

/// The request sizes of one device: learned by polling (or pinned in its config), persisted in
/// `<state_dir>/snmp-learned.json`, shown in `/status` as `snmp.learned`.
public struct LearnedRequests: Codable, Sendable, Equatable {
    public var get: SizeBracket
    public var repetitions: SizeBracket
    /// false: GETBULK is broken on this device (timeouts even at max-repetitions 1, GETNEXT answers): walks use GETNEXT.
    public var bulk: Bool
    /// Unix seconds of the last change.
    public var learnedAt: Double?

    public init(getSize: Int, maxRepetitions: Int, getCeiling: Int, repetitionsCeiling: Int = 200) {
        get = SizeBracket(start: getSize, ceiling: getCeiling)
        repetitions = SizeBracket(start: maxRepetitions, ceiling: repetitionsCeiling)
        bulk = true
    }

    /// What one GET taught: the largest PDU answered full, and the size of a PDU answered tooBig.
    public mutating func observe(get result: GetResult, at time: Double) {
        let before = self
        if let size = result.tooBigAt { get.failed(size, tooBig: true) }
        if result.fullAt > 0 { get.succeeded(result.fullAt) }
        if self != before { learnedAt = time }
    }

    /// What one walk taught: max-repetitions answered full, tooBig or timed out, and GETBULK broken.
    public mutating func observe(walk result: WalkResult, at time: Double) {
        let before = self
        if result.bulkBroken { bulk = false }
        if let size = result.tooBigAt { repetitions.failed(size, tooBig: true) }
        if let size = result.timeoutAt { repetitions.failed(size, tooBig: false) }
        if result.fullAt > 0 { repetitions.succeeded(result.fullAt) }
        if self != before { learnedAt = time }
    }

    public func info(pinnedGet: Bool, pinnedRepetitions: Bool, pinnedMode: Bool) -> LearnedSizes {
        LearnedSizes(
            getSize: get.current, maxRepetitions: repetitions.current, mode: bulk ? "bulk" : "getnext",
            learnedAt: learnedAt, pinned: pinnedGet && pinnedRepetitions && pinnedMode)
    }
}
