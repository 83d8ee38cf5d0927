import NetPollerCore

/// An SNMP answer's error status, decoded from the PDU (`errstat`, `errindex`).
public enum AnswerStatus: Sendable, Equatable {
    case noError
    case tooBig
    case noSuchName(index: Int)
    case other(status: Int, index: Int)
}

/// A subtree walk as a value: GETBULK (GETNEXT on v1) from the root until the answers leave the subtree. It is fed
/// each answer's status, then its varbinds one by one, and answers with the next action. No I/O and no PDU: the
/// net-snmp operation only translates, so tooBig, out-of-order, endOfMibView, v1 noSuchName and empty tables are
/// tested as values.
public struct WalkMachine: Sendable {
    public enum Action: Sendable, Equatable {
        /// Send a GETBULK (GETNEXT when `bulk` is false) for the OID after `from`.
        case send(from: [UInt32], maxRepetitions: Int, bulk: Bool)
        /// The walk is over: `result` holds the rows, with `error` set when it ended early.
        case finish
    }

    public private(set) var result: WalkResult
    public let root: [UInt32]
    /// The last OID received (the root before any): the next request starts after it, and each answer must pass it.
    public private(set) var next: [UInt32]
    public private(set) var maxRepetitions: Int
    private var bulk: Bool
    private let maxVarbinds: Int
    private let lastColumn: UInt32?
    private var received = 0
    private var ended = false
    // Timeouts (`WalkLimits.adaptOnTimeout`): GETBULK answered at all in this walk, the probe of max-repetitions 1,
    // the size to go on with after it, and how many timeouts were answered by trying again (at most 3).
    private let adaptOnTimeout: Bool
    private var bulkAnswered = false
    private var probingOne = false
    private var resume = 1
    private var restoreAfterAnswer = false
    private var timeoutRetries = 0
    // `tolerate_unordered`: the OIDs accepted so far (only kept when tolerance is on).
    private let tolerateUnordered: Int
    private var seen: Set<[UInt32]> = []

    public init(root: OID, version: SNMPTarget.Version, maxRepetitions: Int) {
        self.init(root: root, version: version, limits: WalkLimits(maxRepetitions: maxRepetitions))
    }

    public init(root: OID, version: SNMPTarget.Version, limits: WalkLimits) {
        self.root = root.components
        next = root.components
        self.maxRepetitions = max(1, limits.maxRepetitions)
        maxVarbinds = max(1, limits.maxVarbinds)
        lastColumn = limits.lastColumn
        bulk = version != .v1 && limits.bulk
        adaptOnTimeout = limits.adaptOnTimeout
        tolerateUnordered = max(0, limits.tolerateUnordered)
        result = WalkResult(root: root)
    }

    public mutating func start() -> Action { request() }

    private mutating func request() -> Action {
        result.requests += 1
        received = 0
        return .send(from: next, maxRepetitions: maxRepetitions, bulk: bulk)
    }

    private mutating func finish(_ error: PollError?) -> Action {
        result.error = error
        ended = true
        return .finish
    }

    /// An answer's status. nil: the varbinds follow (`varbind` for each, then `endOfAnswer`); else what to do.
    public mutating func answer(_ status: AnswerStatus) -> Action? {
        switch status {
        case .noError:
            received = 0
            if bulk {
                bulkAnswered = true
                if probingOne {
                    probingOne = false
                    restoreAfterAnswer = true
                }
            }
            return nil
        case .tooBig:
            result.tooBig += 1
            result.tooBigAt = min(result.tooBigAt ?? maxRepetitions, maxRepetitions)
            guard maxRepetitions > 1 else {
                return finish(PollError(.errorStatus, "tooBig with max-repetitions 1"))
            }
            maxRepetitions = max(1, maxRepetitions / 2)
            return request()
        case .noSuchName where !bulk:
            return finish(nil)  // SNMPv1's end of the MIB view.
        case .noSuchName(let index):
            return finish(PollError(.errorStatus, "error status 2 at index \(index)"))
        case .other(let status, let index):
            return finish(PollError(.errorStatus, "error status \(status) at index \(index)"))
        }
    }

    /// One varbind of a good answer. Returns false when the walk has ended (feed no more of this answer): the OID left
    /// the subtree, the agent said endOfMibView, or the OID did not increase (`oid_not_increasing`, rows kept).
    /// An answer of `count` varbinds, the first named `firstNameLength` sub-identifiers, is about to be fed in.
    public mutating func expect(_ count: Int, firstNameLength: Int) {
        guard !ended, count > 0 else { return }
        result.reserve(min(count, maxVarbinds - result.count), suffixLength: firstNameLength - root.count)
    }

    public mutating func varbind(name: some Collection<UInt32>, value: SNMPValue) -> Bool {
        guard !ended else { return false }
        received += 1
        if case .endOfMibView = value {
            // Inside an entry walk, the end of the agent's view before the last listed column cuts the table short.
            if let lastColumn, result.count > 0, next.count > root.count, next[root.count] < lastColumn {
                result.truncatedAfterColumn = next[root.count]
                _ = finish(
                    PollError(
                        .walkTruncated,
                        "endOfMibView after column \(next[root.count]) of \(OID(root)), before column \(lastColumn)"))
            } else {
                _ = finish(nil)
            }
            return false
        }
        switch Self.place(name, root: root, after: next) {
        case .outside:
            _ = finish(nil)
            return false
        case .notIncreasing:
            // Opt-in: a few OIDs out of order are kept, never one already seen (that is a loop).
            if result.unordered < tolerateUnordered, seen.insert(Array(name)).inserted {
                result.unordered += 1
                result.append(suffix: name.dropFirst(root.count), value: value)
                return true
            }
            _ = finish(PollError(.oidNotIncreasing, "the agent returned a non-increasing OID; walk stopped"))
            return false
        case .next:
            if tolerateUnordered > 0 { seen.insert(Array(name)) }
        }
        result.append(suffix: name.dropFirst(root.count), value: value)
        next.removeAll(keepingCapacity: true)
        next.append(contentsOf: name)
        if result.count >= maxVarbinds {
            _ = finish(
                PollError(
                    .walkCapped, "walk of \(OID(root)) stopped at max_walk_varbinds (\(maxVarbinds)); rows so far kept")
            )
            return false
        }
        return true
    }

    enum Place { case outside, notIncreasing, next }

    /// Where an OID stands, in one pass over it: outside the subtree (the walk is over), not after the last OID (a
    /// broken agent), or the next row.
    @inline(__always)
    static func place(_ name: some Collection<UInt32>, root: [UInt32], after last: [UInt32]) -> Place {
        guard name.count > root.count else { return .outside }
        // -1: before `last`, 1: after it, 0: equal so far.
        var order = 0
        var i = 0
        for component in name {
            if i < root.count, component != root[i] { return .outside }
            if order == 0 {
                if i >= last.count {
                    order = 1
                } else if component != last[i] {
                    order = component < last[i] ? -1 : 1
                }
            }
            i += 1
            if i >= root.count && order != 0 { break }
        }
        if order == 0 && name.count > last.count { order = 1 }
        return order > 0 ? .next : .notIncreasing
    }

    /// After the varbinds of a good answer: the next request, or the end (also when an answer held no varbind).
    public mutating func endOfAnswer() -> Action {
        if bulk && received >= maxRepetitions { result.fullAt = max(result.fullAt, maxRepetitions) }
        if restoreAfterAnswer {
            restoreAfterAnswer = false
            maxRepetitions = resume
        }
        if ended || received == 0 { return ended ? .finish : finish(nil) }
        return request()
    }

    /// Whether a timeout can be answered by trying again smaller (`adaptOnTimeout`, GETBULK, at most 3 times).
    public var canAdaptToTimeout: Bool { adaptOnTimeout && bulk && !ended && timeoutRetries < 3 }

    /// A request timed out and `canAdaptToTimeout`: the next one. A GETBULK never answered in this walk is tried once
    /// with max-repetitions 1; if that times out too, GETBULK is broken here and GETNEXT goes on. Otherwise
    /// max-repetitions is halved.
    public mutating func timedOut() -> Action {
        timeoutRetries += 1
        if probingOne {
            probingOne = false
            bulk = false
            result.bulkBroken = true
            return request()
        }
        result.timeoutAt = min(result.timeoutAt ?? maxRepetitions, maxRepetitions)
        if !bulkAnswered {
            probingOne = true
            resume = max(1, maxRepetitions / 2)
            maxRepetitions = 1
            return request()
        }
        guard maxRepetitions > 1 else {
            return finish(PollError(.timeout, "GETBULK with max-repetitions 1 got no answer"))
        }
        maxRepetitions = max(1, maxRepetitions / 2)
        return request()
    }

    /// The last request again (after an SNMPv3 time resynchronisation).
    public mutating func retry() -> Action { ended ? .finish : request() }

    /// The walk cannot go on (timeout, send failure, session closed): the rows so far are kept.
    public mutating func fail(_ error: PollError) { _ = finish(error) }

    /// The poll's budget ran out before the next request: the walk ends as `walk_capped`, the rows so far are kept.
    public mutating func budgetExhausted() {
        _ = finish(PollError(.walkCapped, "poll_budget ran out during the walk of \(OID(root)); rows so far kept"))
    }
}

/// A GET of a list of OIDs as a value: PDUs of at most `maxPerPDU` varbinds, one in flight at a time; tooBig splits a
/// PDU in halves, and SNMPv1's noSuchName drops that one OID and asks again for the rest.
public struct GetMachine: Sendable {
    public enum Action: Sendable, Equatable {
        /// Send a GET for these OIDs (positions in the requested list, in order).
        case send([Int])
        /// Done: `values` holds one value per requested OID (`noSuchObject` where none came).
        case finish
        /// The GET failed.
        case fail(PollError)
    }

    public private(set) var values: [SNMPValue]
    public private(set) var requests = 0
    public private(set) var tooBig = 0
    /// For learning: the largest PDU answered that was full, and the size of one answered tooBig.
    public private(set) var fullAt = 0
    public private(set) var tooBigAt: Int?
    private let perPDU: Int
    private var queue: [ArraySlice<Int>]
    private var current: ArraySlice<Int> = []

    public init(count: Int, maxPerPDU: Int) {
        values = Array(repeating: .noSuchObject, count: count)
        let perPDU = max(1, maxPerPDU)
        self.perPDU = perPDU
        let indices = Array(0..<count)
        queue = stride(from: 0, to: count, by: perPDU).map { indices[$0..<min($0 + perPDU, count)] }.reversed()
    }

    public mutating func start() -> Action { sendNext() }

    private mutating func sendNext() -> Action {
        guard let next = queue.popLast() else { return .finish }
        current = next
        requests += 1
        return .send(Array(current))
    }

    /// One answer: its status and, when good, its values in request order (extra ones are ignored, missing ones stay
    /// `noSuchObject`).
    public mutating func received(_ status: AnswerStatus, values answered: [SNMPValue]) -> Action {
        switch status {
        case .tooBig:
            tooBig += 1
            tooBigAt = min(tooBigAt ?? current.count, current.count)
            guard current.count > 1 else { return .fail(PollError(.errorStatus, "tooBig for a single varbind")) }
            let middle = current.startIndex + current.count / 2
            queue.append(current[middle...])
            queue.append(current[..<middle])
            return sendNext()
        case .noSuchName(let index) where (1...max(1, current.count)).contains(index) && !current.isEmpty:
            var rest = Array(current)
            values[rest.remove(at: index - 1)] = .noSuchObject
            if !rest.isEmpty { queue.append(rest[...]) }
            return sendNext()
        case .noSuchName(let index):
            return .fail(PollError(.errorStatus, "error status 2 at index \(index)"))
        case .other(let status, let index):
            return .fail(PollError(.errorStatus, "error status \(status) at index \(index)"))
        case .noError:
            if current.count == perPDU { fullAt = max(fullAt, perPDU) }
            for (position, value) in zip(current, answered) { values[position] = value }
            return sendNext()
        }
    }

    /// The PDU in flight again (after an SNMPv3 time resynchronisation).
    public mutating func retry() -> Action {
        guard !current.isEmpty else { return sendNext() }
        requests += 1
        return .send(Array(current))
    }

    public var result: GetResult {
        var result = GetResult(values: values)
        result.requests = requests
        result.fullAt = fullAt
        result.tooBigAt = tooBigAt
        return result
    }
}
