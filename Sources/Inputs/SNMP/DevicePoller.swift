import NetPollerCore
import Synchronization

/// Polls a device through an `SNMPTransport` according to its profiles. Stateless apart from a cache of compiled plans.
public final class DevicePoller: Sendable {
    public static let sysObjectID = OID([1, 3, 6, 1, 2, 1, 1, 2, 0])

    private let transport: any SNMPTransport
    private let profiles: [String: Profile]
    private let userProfiles: [Profile]
    private let defaultSet: [String]
    private let plans = Mutex<[[String]: PollPlan]>([:])

    public init(
        transport: any SNMPTransport, profiles: [String: Profile], userProfiles: [Profile], defaultSet: [String]
    ) {
        self.transport = transport
        self.profiles = profiles
        self.userProfiles = userProfiles
        self.defaultSet = defaultSet
    }

    /// The compiled plan for a list of profile names (unknown names are skipped; the config validated them).
    public func plan(for names: [String]) -> PollPlan {
        if let plan = plans.withLock({ $0[names] }) { return plan }
        let plan = PollPlan(profiles: names.compactMap { profiles[$0] })
        plans.withLock { $0[names] = plan }
        return plan
    }

    public func selectProfiles(sysObjectID: OID?) -> [String] {
        BuiltinProfiles.select(sysObjectID: sysObjectID, userProfiles: userProfiles, defaultSet: defaultSet)
    }

    /// One poll: GET of all scalars, then each walk in turn (one request in flight per device, gentle on agents).
    /// A timeout ends the poll early: the device is not answering and more requests would only wait.
    public func poll(
        _ target: SNMPTarget, explicitProfiles: [String]?, known: ProfileChoice?, maxRepetitions: Int,
        maxWalkVarbinds: Int = WalkLimits.defaultMaxVarbinds, budget: Duration? = nil
    ) async -> PollOutcome {
        await pollReportingTypes(
            target, explicitProfiles: explicitProfiles, known: known, maxRepetitions: maxRepetitions,
            maxWalkVarbinds: maxWalkVarbinds, budget: budget
        ).outcome
    }

    /// The poll with request sizes from `options` (and learning, when it carries a learner).
    public func poll(
        _ target: SNMPTarget, explicitProfiles: [String]?, known: ProfileChoice?, options: PollOptions
    ) async -> PollReport {
        var learner = options.learner
        let (outcome, mismatches) = await pollReportingTypes(
            target, explicitProfiles: explicitProfiles, known: known, maxRepetitions: options.maxRepetitions,
            maxWalkVarbinds: options.maxWalkVarbinds, budget: options.budget, options: options, learner: &learner)
        return PollReport(outcome: outcome, mismatches: mismatches, learned: learner)
    }

    /// The poll, with the values whose wire type disagreed with their field's declared kind.
    ///
    /// Profiles: explicit ones win; else `known` (what an earlier poll chose); else this poll first GETs sysObjectID
    /// and every built-in profile's sentinel in one request, and the answer chooses (`BuiltinProfiles.choose`). The
    /// outcome carries the choice (`profileReasons` set) when it was made by this poll.
    ///
    /// Every walk holds at most `maxWalkVarbinds`, and no request is sent once `budget` has passed since the start
    /// (walks not started then end as one `walk_capped` error): whatever a device sends, a poll is bounded in memory
    /// and time, and keeps what arrived.
    public func pollReportingTypes(
        _ target: SNMPTarget, explicitProfiles: [String]?, known: ProfileChoice?, maxRepetitions: Int,
        maxWalkVarbinds: Int = WalkLimits.defaultMaxVarbinds, budget: Duration? = nil
    ) async -> (outcome: PollOutcome, mismatches: TypeMismatches) {
        var learner: LearnedRequests?
        return await pollReportingTypes(
            target, explicitProfiles: explicitProfiles, known: known, maxRepetitions: maxRepetitions,
            maxWalkVarbinds: maxWalkVarbinds, budget: budget, options: PollOptions(maxRepetitions: maxRepetitions),
            learner: &learner)
    }

    func pollReportingTypes(
        _ target: SNMPTarget, explicitProfiles: [String]?, known: ProfileChoice?, maxRepetitions: Int,
        maxWalkVarbinds: Int, budget: Duration?, options: PollOptions, learner: inout LearnedRequests?
    ) async -> (outcome: PollOutcome, mismatches: TypeMismatches) {
        let deadline = budget.map { ContinuousClock.now + $0 }
        var errors: [PollError] = []
        var varbinds = 0
        var requests = 0
        var choice = explicitProfiles.map(ProfileChoice.configured) ?? known
        var chosenNow = false
        if choice == nil {
            let probe = [Self.sysObjectID] + BuiltinProfiles.sentinels.map(\.oid)
            do {
                let result = try await transport.get(target, oids: probe)
                requests += result.requests
                varbinds += result.values.count
                var sysObjectID: OID?
                if case .oid(let oid) = result.values.first { sysObjectID = oid }
                var answered: Set<String> = []
                for (sentinel, value) in zip(BuiltinProfiles.sentinels, result.values.dropFirst()) {
                    switch value {
                    case .null, .noSuchObject, .noSuchInstance, .endOfMibView: continue
                    default: answered.insert(sentinel.profile)
                    }
                }
                choice = BuiltinProfiles.choose(
                    sysObjectID: sysObjectID, answered: answered, userProfiles: userProfiles, defaultSet: defaultSet)
                chosenNow = true
            } catch {
                return (
                    PollOutcome(
                        samples: [], errors: [error], state: .down, varbinds: 0, requests: 1, sysObjectID: nil,
                        profiles: []), TypeMismatches()
                )
            }
        }
        var sysObjectID = choice?.sysObjectID
        let names = choice?.profiles ?? defaultSet
        let plan = plan(for: names)
        var scalars: [SNMPValue]?
        var answered = false
        var limits = WalkLimits(maxRepetitions: maxRepetitions, maxVarbinds: maxWalkVarbinds, deadline: deadline)
        limits.bulk = options.bulk
        limits.tolerateUnordered = options.tolerateUnordered
        var request = RequestPlan(
            target: target, scalars: plan.scalarOIDs, getSize: options.getSize, walkRoots: plan.walkRoots,
            lastColumns: plan.lastColumns, limits: limits, learner: learner)
        request.now = options.now
        // The whole plan in one hand-off to the transport (the SNMP engine runs it on its I/O thread).
        let result = await transport.run(request)
        learner = result.learner
        switch result.scalars {
        case .success(let answer):
            scalars = answer.values
            requests += answer.requests
            varbinds += answer.values.count
            answered = true
            if let index = plan.scalarOIDs.firstIndex(of: Self.sysObjectID), case .oid(let oid) = answer.values[index] {
                sysObjectID = oid
            }
        case .failure(let error):
            errors.append(error)
            if error.code == .timeout || error.code == .sendFailed || error.code == .sessionFailed {
                var outcome = PollOutcome(
                    samples: [], errors: errors, state: .down, varbinds: varbinds, requests: requests + 1,
                    sysObjectID: sysObjectID, profiles: names)
                outcome.answeredAt = result.answeredAt
                return (outcome, TypeMismatches())
            }
        case nil:
            break
        }
        var walkErrors: [PollError] = []
        let walks = result.walks
        for walk in walks {
            guard let walk else { continue }
            varbinds += walk.count
            requests += walk.requests
            if walk.count > 0 { answered = true }
            if var error = walk.error {
                if error.code == .walkTruncated, let column = walk.truncatedAfterColumn,
                    let w = plan.walkRoots.firstIndex(of: walk.root)
                {
                    error.message = Self.truncation(plan.missingColumns(walk: w, after: column), root: walk.root)
                }
                errors.append(error)
                walkErrors.append(error)
            }
        }
        let skipped = result.skipped
        if !skipped.isEmpty {
            let error = PollError(
                .walkCapped,
                "poll_budget ran out; not walked: \(skipped.map(\.description).joined(separator: ", "))")
            errors.append(error)
            walkErrors.append(error)
        }
        var mismatches = TypeMismatches(trackWidths: options.trackWidths)
        let samples = plan.samples(scalars: scalars, walks: walks, mismatches: &mismatches)
        let state: DeviceState
        if errors.isEmpty {
            state = .up
        } else if answered && !samples.isEmpty {
            state = .degraded
        } else {
            state = .down
        }
        var outcome = PollOutcome(
            samples: samples, errors: errors, walkErrors: walkErrors, state: state, varbinds: varbinds,
            requests: requests, sysObjectID: sysObjectID, profiles: names)
        if chosenNow, let choice { outcome.profileReasons = choice.reasons }
        outcome.answeredAt = result.answeredAt
        return (outcome, mismatches)
    }

    /// `walk_truncated`'s message: the tables and the columns that never arrived.
    static func truncation(_ missing: [(measurement: String, columns: [String])], root: OID) -> String {
        let parts = missing.map { "table \($0.measurement) is missing \($0.columns.joined(separator: ", "))" }
        return "the walk of \(root) ended with endOfMibView before its last columns: \(parts.joined(separator: "; "))"
    }
}

/// How one poll sends its requests.
public struct PollOptions: Sendable {
    public var maxRepetitions: Int
    public var maxWalkVarbinds = WalkLimits.defaultMaxVarbinds
    public var budget: Duration?
    /// Varbinds per GET PDU; nil: the transport's default.
    public var getSize: Int?
    /// false: walks use GETNEXT.
    public var bulk = true
    public var tolerateUnordered = 0
    /// Collect the fields sent as Counter64 (counter rates need the width).
    public var trackWidths = false
    /// When set, the sizes come from it and every GET and walk teaches it (`PollReport.learned`).
    public var learner: LearnedRequests?
    /// Unix seconds, for `LearnedRequests.learnedAt`.
    public var now: Double = 0

    public init(maxRepetitions: Int) { self.maxRepetitions = maxRepetitions }
}

/// What one poll produced, and what it learned.
public struct PollReport: Sendable {
    public var outcome: PollOutcome
    public var mismatches: TypeMismatches
    public var learned: LearnedRequests?
}
