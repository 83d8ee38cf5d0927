import NetPollerCore

/// Every request of one poll once its profiles are known: the scalars' GET, then each walk in turn. The SNMP engine
/// runs a whole plan on its I/O thread (one hand-off in, one result back); other transports run it request by request
/// with the same `PlanSequence`.
public struct RequestPlan: Sendable {
    public var target: SNMPTarget
    public var scalars: [OID]
    /// Varbinds per GET PDU when no learner decides; nil: the transport's default.
    public var getSize: Int?
    public var walkRoots: [OID]
    /// Per walk root: the highest listed column (`WalkLimits.lastColumn`).
    public var lastColumns: [UInt32?]
    /// The limits every walk starts from (its `lastColumn`, and the learner's sizes, are filled in per walk).
    public var limits: WalkLimits
    /// Sizes come from it, and every GET and walk teaches it (carried back in `PlanResult.learner`).
    public var learner: LearnedRequests?
    /// Unix seconds, for the learner's `learnedAt`.
    public var now: Double = 0

    public init(
        target: SNMPTarget, scalars: [OID], getSize: Int?, walkRoots: [OID], lastColumns: [UInt32?],
        limits: WalkLimits, learner: LearnedRequests?
    ) {
        self.target = target
        self.scalars = scalars
        self.getSize = getSize
        self.walkRoots = walkRoots
        self.lastColumns = lastColumns
        self.limits = limits
        self.learner = learner
    }
}

/// What a plan's requests brought back.
public struct PlanResult: Sendable {
    /// The scalars' GET; nil when the plan had no scalars.
    public var scalars: Result<GetResult, PollError>?
    /// One per walk root: nil for a walk not sent (after a timeout, or once the budget ran out).
    public var walks: [WalkResult?] = []
    /// Roots not walked because the deadline had passed.
    public var skipped: [OID] = []
    public var learner: LearnedRequests?
    /// When the plan's last request was answered (or failed); set by transports that hand results back later.
    public var answeredAt: ContinuousClock.Instant?
}

/// The order of a plan's requests and when it stops, decided without I/O:
/// - a GET that fails with `timeout`, `send_failed` or `session_failed` ends the plan (the device is not answering);
/// - after a timeout or a cancellation (of the GET or a walk) the remaining walks are not sent;
/// - a walk whose turn comes after the deadline is skipped (listed in `skipped`);
/// - with a learner, each request's size comes from it and each answer teaches it.
struct PlanSequence {
    enum Step {
        case get(oids: [OID], size: Int?)
        case walk(root: OID, limits: WalkLimits)
        case done
    }

    private let plan: RequestPlan
    private(set) var result = PlanResult()
    /// -1: the GET is next (or in flight); 0...: the walk of that index.
    private var position: Int
    private var stopped = false
    private var lastErrorCode: PollError.Code?

    init(_ plan: RequestPlan) {
        self.plan = plan
        position = plan.scalars.isEmpty ? 0 : -1
        result.learner = plan.learner
        result.walks.reserveCapacity(plan.walkRoots.count)
    }

    /// The next request to send, `now` being the time it would go out (for the deadline).
    mutating func next(now: ContinuousClock.Instant) -> Step {
        if stopped { return .done }
        if position < 0 { return .get(oids: plan.scalars, size: result.learner?.get.current ?? plan.getSize) }
        while position < plan.walkRoots.count {
            let root = plan.walkRoots[position]
            if lastErrorCode == .timeout || lastErrorCode == .cancelled {
                result.walks.append(nil)
                position += 1
                continue
            }
            if let deadline = plan.limits.deadline, now >= deadline {
                result.skipped.append(root)
                result.walks.append(nil)
                position += 1
                continue
            }
            var limits = plan.limits
            limits.maxRepetitions = result.learner?.repetitions.current ?? plan.limits.maxRepetitions
            limits.lastColumn = plan.lastColumns[position]
            limits.bulk = result.learner?.bulk ?? plan.limits.bulk
            limits.adaptOnTimeout = result.learner != nil
            return .walk(root: root, limits: limits)
        }
        stopped = true
        return .done
    }

    mutating func record(get: Result<GetResult, PollError>) {
        result.scalars = get
        position = 0
        switch get {
        case .success(let answer):
            let now = plan.now
            result.learner?.observe(get: answer, at: now)
        case .failure(let error):
            lastErrorCode = error.code
            if error.code == .timeout || error.code == .sendFailed || error.code == .sessionFailed { stopped = true }
        }
    }

    mutating func record(walk: WalkResult) {
        let now = plan.now
        result.learner?.observe(walk: walk, at: now)
        if let error = walk.error { lastErrorCode = error.code }
        result.walks.append(walk)
        position += 1
    }

    /// The request whose turn it is failed before it was sent (the session could not open, the engine stopped).
    mutating func fail(_ error: PollError, root: OID? = nil) {
        if position < 0 {
            record(get: .failure(error))
        } else if let root {
            var walk = WalkResult(root: root)
            walk.error = error
            record(walk: walk)
        }
    }
}

extension SNMPTransport {
    /// The plan request by request, through `get` and `walk`.
    public func run(_ plan: RequestPlan) async -> PlanResult {
        var sequence = PlanSequence(plan)
        while true {
            switch sequence.next(now: .now) {
            case .done:
                return sequence.result
            case .get(let oids, let size):
                do {
                    let answer: GetResult
                    if let size {
                        answer = try await get(plan.target, oids: oids, maxPerPDU: size)
                    } else {
                        answer = try await get(plan.target, oids: oids)
                    }
                    sequence.record(get: .success(answer))
                } catch {
                    sequence.record(get: .failure(error))
                }
            case .walk(let root, let limits):
                sequence.record(walk: await walk(plan.target, root: root, limits: limits))
            }
        }
    }
}

/// A whole `RequestPlan` on the I/O thread: each request starts from the previous one's completion, on that thread,
/// and the caller's continuation is resumed once, with everything.
final class PlanOperation: Operation, @unchecked Sendable {
    private var sequence: PlanSequence
    private var completion: ((PlanResult) -> Void)?

    init(plan: RequestPlan, completion: @escaping (PlanResult) -> Void) {
        sequence = PlanSequence(plan)
        self.completion = completion
        super.init(target: plan.target)
    }

    override func start(session: Session) { advance() }

    /// Sends the next request, or finishes. A request that fails before it is sent completes at once and takes the
    /// next step from its completion: the depth is bounded by the plan's request count.
    private func advance() {
        guard let loop else {
            fail(PollError(.cancelled, "the SNMP engine is shutting down"))
            return
        }
        switch sequence.next(now: .now) {
        case .done:
            finish()
        case .get(let oids, let size):
            let get = GetOperation(target: target, oids: oids, maxPerPDU: size ?? loop.engine.maxGetOIDs) {
                [self] answer in
                sequence.record(get: answer)
                advance()
            }
            loop.start(get)
        case .walk(let root, let limits):
            let walk = WalkOperation(target: target, root: root, limits: limits) { [self] answer in
                sequence.record(walk: answer)
                advance()
            }
            loop.start(walk)
        }
    }

    /// The result goes back through the loop, with the others of its batch (`IOLoop.handBack`).
    private func finish() {
        guard let completion else { return }
        self.completion = nil
        var result = sequence.result
        result.answeredAt = .now
        guard let loop else {
            completion(result)
            return
        }
        loop.handBack { completion(result) }
    }

    /// The plan could not start (no session, engine stopping): every request it would send fails the same way.
    override func fail(_ error: PollError) {
        guard completion != nil else { return }
        while true {
            switch sequence.next(now: .now) {
            case .done:
                finish()
                return
            case .get:
                sequence.fail(error)
            case .walk(let root, _):
                sequence.fail(error, root: root)
            }
        }
    }
}
