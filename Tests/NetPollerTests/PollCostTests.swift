import Foundation
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Synchronization
import Testing

@testable import AgentHTTP
@testable import NetPollerAgent
@testable import SNMPPolling

/// What makes a poll cheap, tested without I/O (timers, plan order, batched scheduling, counts under the status
/// lock) and against a real snmpd (one hand-off into the I/O thread per poll).
@Suite(.serialized) struct PollCostTests {
    // MARK: The I/O loop's timers

    @Test func sessionTimersPopInDeadlineOrderAndDropNothingThemselves() {
        var timers = SessionTimers()
        let a = timers.schedule(fd: 5, at: 300)
        let b = timers.schedule(fd: 6, at: 100)
        let c = timers.schedule(fd: 5, at: 200)  // session 5 rescheduled: `a` is stale for it now
        #expect(Set([a, b, c]).count == 3 && !([a, b, c].contains(0)))
        #expect(timers.earliest == 100)
        #expect(timers.popDue(now: 99) == nil)
        var popped: [SessionTimers.Entry] = []
        while let entry = timers.popDue(now: 1_000) { popped.append(entry) }
        #expect(popped.map(\.deadline) == [100, 200, 300])
        #expect(popped.map(\.generation) == [b, c, a])
        #expect(timers.count == 0 && timers.earliest == nil)
    }

    // MARK: The order of a poll's requests

    func plan(
        scalars: Int = 2, walks: Int = 3, deadline: ContinuousClock.Instant? = nil, learner: LearnedRequests? = nil
    )
        -> RequestPlan
    {
        let target = SNMPTarget(
            peer: "udp:127.0.0.1:1", version: .v2c, community: "c", timeout: .seconds(1), retries: 0)
        return RequestPlan(
            target: target, scalars: (0..<scalars).map { OID([1, 3, 6, UInt32($0), 0]) }, getSize: 16,
            walkRoots: (0..<walks).map { OID([1, 3, 7, UInt32($0)]) }, lastColumns: Array(repeating: nil, count: walks),
            limits: WalkLimits(maxRepetitions: 10, deadline: deadline), learner: learner)
    }

    @Test func aPlanStopsAtAGetTimeoutAndSkipsWalksAfterAWalkTimeout() {
        var dead = PlanSequence(plan())
        guard case .get(let oids, let size) = dead.next(now: .now) else {
            Issue.record("the GET comes first")
            return
        }
        #expect(oids.count == 2 && size == 16)
        dead.record(get: .failure(PollError(.timeout, "no answer")))
        guard case .done = dead.next(now: .now) else {
            Issue.record("a GET timeout ends the plan")
            return
        }
        #expect(dead.result.walks.isEmpty)

        var partial = PlanSequence(plan())
        _ = partial.next(now: .now)
        partial.record(get: .success(GetResult(values: [.integer(1), .integer(2)])))
        guard case .walk(let first, let limits) = partial.next(now: .now) else {
            Issue.record("walks follow the GET")
            return
        }
        #expect(first == OID([1, 3, 7, 0]) && limits.maxRepetitions == 10 && !limits.adaptOnTimeout)
        var timedOut = WalkResult(root: first)
        timedOut.error = PollError(.timeout, "no answer")
        partial.record(walk: timedOut)
        guard case .done = partial.next(now: .now) else {
            Issue.record("after a walk timeout nothing more is sent")
            return
        }
        #expect(partial.result.walks.count == 3)
        #expect(partial.result.walks[0] != nil && partial.result.walks[1] == nil && partial.result.walks[2] == nil)
    }

    @Test func aPlanPastItsDeadlineSkipsTheRestAndALearnerSizesEachRequest() {
        var late = PlanSequence(plan(scalars: 0, deadline: .now - .seconds(1)))
        guard case .done = late.next(now: .now) else {
            Issue.record("past the deadline no walk is sent")
            return
        }
        #expect(late.result.skipped.count == 3 && late.result.scalars == nil)

        var learner = LearnedRequests(getSize: 8, maxRepetitions: 4, getCeiling: 64, repetitionsCeiling: 50)
        learner.bulk = false
        var learning = PlanSequence(plan(learner: learner))
        guard case .get(_, let size) = learning.next(now: .now) else {
            Issue.record("the GET comes first")
            return
        }
        #expect(size == 8)
        learning.record(get: .failure(PollError(.errorStatus, "genErr")))
        guard case .walk(_, let limits) = learning.next(now: .now) else {
            Issue.record("a GET error that is not a timeout still walks")
            return
        }
        #expect(limits.maxRepetitions == 4 && limits.bulk == false && limits.adaptOnTimeout)
    }

    // MARK: Scheduling

    @Test func oneDriverSleepsForAThousandDevicesAndStartsThemInBatches() async {
        let clock = ManualClock()
        let polled = Mutex<[String]>([])
        let scheduler = DeviceScheduler(
            maxInFlight: 2_000, startSpread: .seconds(1), clock: clock, batchWindow: .milliseconds(100))
        let devices = (0..<1_000).map { DeviceScheduler.Entry(name: "d\($0)", interval: .seconds(60)) }
        scheduler.apply(devices, poll: { name in polled.withLock { $0.append(name) } }, overrun: { _, _ in })
        // A thousand sleeping devices: one timer (the driver's), not a thousand.
        #expect(await eventually { clock.sleepers == 1 })
        let before = clock.sleepsStarted
        // Ten 100 ms steps through the one-second start spread: every device polled, in about ten wakes (one
        // per device without batching).
        for _ in 0..<10 {
            clock.advance(by: .milliseconds(100))
            #expect(await eventually { clock.sleepers == 1 })
        }
        #expect(await eventually { polled.withLock { $0.count } == 1_000 })
        #expect(Set(polled.withLock { $0 }).count == 1_000)
        #expect(clock.sleepsStarted - before <= 30, "the driver woke \(clock.sleepsStarted - before) times")
        await scheduler.stopAll()
        #expect(clock.sleepers == 0)
    }

    @Test func aBatchGathersTheSlotsAroundItsWakeAndNoPollStartsMoreThanHalfTheWindowOff() async {
        let clock = ManualClock()
        let deviations = Mutex<[Duration]>([])
        let polled = Mutex<Set<String>>([])
        let scheduler = DeviceScheduler(
            maxInFlight: 2_000, startSpread: .seconds(10), clock: clock, batchWindow: .seconds(1),
            started: { d in deviations.withLock { $0.append(d) } })
        let devices = (0..<1_000).map { DeviceScheduler.Entry(name: "d\($0)", interval: .seconds(60)) }
        scheduler.apply(devices, poll: { name in polled.withLock { _ = $0.insert(name) } }, overrun: { _, _ in })
        #expect(await eventually { clock.sleepers == 1 })
        let before = clock.sleepsStarted
        // 10 s of start spread in 50 ms steps: a 1 s window wakes the driver about once a second (not 200 times),
        // and each wake starts what is due up to 0.5 s after it, so no poll is more than 0.5 s early or late.
        // (A device whose first, spread slot and next, phase-aligned slot both fall in these 10 s is polled twice.)
        for _ in 0..<200 {
            clock.advance(by: .milliseconds(50))
            #expect(await eventually { clock.sleepers == 1 })
        }
        #expect(await eventually { polled.withLock { $0.count } == 1_000 })
        let worst = deviations.withLock { $0.max() } ?? .zero
        #expect(worst <= .milliseconds(500), "a poll started \(worst) off its slot")
        #expect(clock.sleepsStarted - before <= 14, "the driver woke \(clock.sleepsStarted - before) times")
        await scheduler.stopAll()
    }

    @Test func aShortIntervalNarrowsTheStartWindow() {
        // A 60 s device may start up to the whole window late to go with a batch; a 1 s device at most 1/20 of its
        // interval; a window of zero starts every poll on its own.
        #expect(DeviceScheduler.slotWindow(.milliseconds(250), interval: .seconds(60)) == .milliseconds(250))
        #expect(DeviceScheduler.slotWindow(.milliseconds(250), interval: .seconds(1)) == .milliseconds(50))
        #expect(DeviceScheduler.slotWindow(.zero, interval: .seconds(60)) == .zero)
    }

    @Test func mallocArenasAreCappedFromTheCoreCountAndTrimmingIsAvailable() {
        #expect(MallocTuning.arenaLimit(cores: 1) == 1)
        #expect(MallocTuning.arenaLimit(cores: 2) == 1)
        #expect(MallocTuning.arenaLimit(cores: 8) == 2)
        #expect(MallocTuning.arenaLimit(cores: 64) == 4)
        // glibc has both calls: the cap is applied (the test process sets no MALLOC_ARENA_MAX), and a trim runs.
        if getenv("MALLOC_ARENA_MAX") == nil { #expect(MallocTuning.limitArenas(cores: 2) == 1) }
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil && getenv("MALLOC_TRIM_THRESHOLD_") == nil {
            #expect(MallocTuning.limitLargeBlocks() == 2)
        }
        // Whether pages come back depends on the heap; the call is found and runs (false only without malloc_trim).
        _ = MallocTuning.trim()
    }

    // MARK: Status counts

    @Test func deviceCountsArePublishedUnderTheSameLockAsTheStates() async {
        let published = Mutex<[DeviceState: Int]>([:])
        let board = StatusBoard(onCounts: { counts in published.withLock { $0 = counts } })
        let names = (0..<200).map { "d\($0)" }
        for name in names { board.register(DeviceStatus(name: name, address: "192.0.2.1", profiles: [])) }
        #expect(published.withLock { $0[.unknown] } == 200)
        // Many tasks flip states at once: whatever the interleaving, the last count published is the true one.
        await withTaskGroup(of: Void.self) { group in
            for (i, name) in names.enumerated() {
                group.addTask {
                    for round in 0..<50 {
                        board.update(name) { $0.state = (i + round) % 3 == 0 ? .down : .up }
                    }
                }
            }
        }
        let truth = Dictionary(grouping: board.snapshot(), by: \.state).mapValues(\.count)
        #expect(published.withLock { $0.filter { $0.value != 0 } } == truth)
        #expect(board.counts() == truth)
        board.remove("d0")
        #expect(published.withLock { $0.values.reduce(0, +) } == 199)
    }

    // MARK: Memory per device

    /// A device polled over SNMP only holds 8 bytes for the SSH part of its status, not 136; `/status` shows the same
    /// JSON either way.
    @Test func aDeviceStatusKeepsItsSSHPartBehindAReference() throws {
        #expect(MemoryLayout<DeviceStatus>.stride <= 304)
        var status = DeviceStatus(name: "r1", address: "127.0.0.1:161", profiles: ["system"])
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        let without = try #require(String(data: try encoder.encode(status), encoding: .utf8))
        #expect(!without.contains("ssh"))
        status.ssh = SSHDeviceInfo(state: "connected", platform: "cisco_ios", mode: "exec", connections: 1, commands: 3)
        status.ssh?.commands += 1
        let with = try #require(String(data: try encoder.encode(status), encoding: .utf8))
        #expect(
            with.contains(#""ssh":{"#) && with.contains(#""commands":4"#) && with.contains(#""platform":"cisco_ios""#))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try decoder.decode(DeviceStatus.self, from: Data(with.utf8)) == status)
    }

    /// A device's runtime reads its config from the configuration's one device list (no second copy), and a reload
    /// moves an unchanged device's runtime onto the new list with what its last poll's tags were.
    @Test func aDeviceRuntimeSharesTheConfigsListAndARebasedOneKeepsItsTags() {
        func device(_ name: String) -> DeviceConfig {
            DeviceConfig(
                name: name, address: HostAddress(host: "127.0.0.1", port: 161, family: .ipv4), credential: "default",
                profiles: nil, interval: .seconds(60), timeout: .seconds(2), retries: 1, maxRepetitions: 10, tags: [])
        }
        let first = [device("a"), device("b")]
        let runtime = DeviceRuntime(list: first, index: 1)
        #expect(runtime.config == first[1])
        func samples() -> [Sample] {
            [Sample(measurement: "interface", tags: [Tag("ifIndex", "1")], fields: [])]
        }
        var before = samples()
        runtime.reuseTags(&before)
        let second = [device("b"), device("c")]
        let moved = runtime.rebased(list: second, index: 0)
        #expect(moved.config.name == "b")
        var after = samples()
        moved.reuseTags(&after)
        let kept = before[0].tags.withUnsafeBufferPointer { $0.baseAddress }
        #expect(after[0].tags.withUnsafeBufferPointer { $0.baseAddress } == kept, "the tags array of the last poll")
    }

    // MARK: One hand-off per poll (real snmpd)

    /// A poller on the shared test engine, and the v2c target of the lab's snmpd on `port`.
    static func labPoller(port: Int) -> (DevicePoller, SNMPTarget) {
        let poller = DevicePoller(
            transport: TestEngine.shared, profiles: SNMPIntegrationTests.allProfiles, userProfiles: [],
            defaultSet: BuiltinProfiles.defaultSet)
        let target = SNMPTarget(
            peer: "udp:127.0.0.1:\(port)", version: .v2c, community: "public", timeout: .seconds(2), retries: 1)
        return (poller, target)
    }

    static func counter(_ metrics: SelfMetrics, _ name: String) -> Double {
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func aWholePollCrossesIntoTheIOThreadOnce() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let metrics = TestEngine.metrics
        let (poller, target) = Self.labPoller(port: snmpd.port)
        let wakes = Self.counter(metrics, "netpoller_snmp_io_wakeups_total")
        let requests = Self.counter(metrics, "netpoller_snmp_requests_total")
        let polls = 5
        for _ in 0..<polls {
            // GET of the scalars, then ifTable and ifXTable walks: several requests, one hand-off.
            let outcome = await poller.poll(
                target, explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 10)
            #expect(outcome.state == .up, "\(outcome.errors)")
            #expect(outcome.requests >= 3)
        }
        let sent = Self.counter(metrics, "netpoller_snmp_requests_total") - requests
        let woken = Self.counter(metrics, "netpoller_snmp_io_wakeups_total") - wakes
        #expect(sent >= Double(3 * polls), "\(sent) requests")
        // At most one wake-pipe write per poll (none when the loop was awake anyway), not one per request.
        #expect(woken <= Double(polls), "\(woken) wake-pipe writes for \(polls) polls and \(sent) requests")
    }

    /// The HTTP `Date` header, formatted per response (no once-a-second date cache waking the agent).
    @Test func theHTTPDateHeaderIsAnIMFFixdate() {
        #expect(HTTPDate.format(unixSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(unixSeconds: 1_798_761_600) == "Fri, 01 Jan 2027 00:00:00 GMT")
    }

    /// Finished polls cross back together: once none is in flight, at the hold, or at the batch cap; never lost.
    @Test func finishedPollsCrossBackTogether() {
        var batch = HandBackBatch<Int>(hold: 20, maxResults: 3)
        #expect(batch.deadline == nil && !batch.isDue(now: 0))
        for _ in 0..<5 { batch.started() }
        batch.finished(1, now: 100)
        batch.finished(2, now: 105)
        // Three still in flight, the oldest result 10 ns old: they wait, at most until 120.
        #expect(!batch.isDue(now: 110))
        #expect(batch.deadline == 120)
        // The hold ran out.
        #expect(batch.isDue(now: 120))
        #expect(batch.take() == [1, 2])
        #expect(batch.deadline == nil && !batch.isDue(now: 500))
        // The cap: three waiting go back at once, although two are in flight.
        batch.finished(3, now: 200)
        batch.finished(4, now: 201)
        #expect(!batch.isDue(now: 202))
        batch.started()
        batch.finished(5, now: 202)
        #expect(batch.inFlight == 1)
        #expect(batch.isDue(now: 202))
        #expect(batch.take() == [3, 4, 5])
        // The last poll of the batch: nothing in flight, so at once.
        batch.finished(6, now: 300)
        #expect(batch.inFlight == 0 && batch.isDue(now: 300))
        #expect(batch.take() == [6])
    }

    /// Polls started together against a real snmpd come back in fewer hand-backs than polls, and each poll's
    /// duration still ends at its last answer.
    @Test func aBatchOfPollsCrossesBackFromTheIOThreadTogether() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let metrics = TestEngine.metrics
        let (poller, target) = Self.labPoller(port: snmpd.port)
        let handBacks = Self.counter(metrics, "netpoller_snmp_io_handbacks_total")
        let polls = 8
        let outcomes = await withTaskGroup(of: PollOutcome.self) { group in
            for _ in 0..<polls {
                group.addTask {
                    let outcome = await poller.poll(
                        target, explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 10)
                    #expect((outcome.answeredAt ?? .now + .seconds(1)) <= .now, "answered before it was handed back")
                    return outcome
                }
            }
            var all: [PollOutcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == polls)
        #expect(outcomes.allSatisfy { $0.state == .up }, "\(outcomes.map(\.errors))")
        let crossed = Self.counter(metrics, "netpoller_snmp_io_handbacks_total") - handBacks
        #expect(crossed >= 1 && crossed < Double(polls), "\(crossed) hand-backs for \(polls) polls started together")
    }

    // MARK: The session cap

    /// An agent config: one real device on snmpd and `silent` devices on ports nobody answers (each its own
    /// session), 2 s interval, 200 ms timeout, no retries; `agent` adds lines to `[agent]`.
    static func silentFleet(_ silent: Int, real port: Int, agent: String) -> String {
        let base = Lab.freePort()
        var config = """
            [agent]
            state_dir = "DIR/state"
            interval = "2s"
            timeout = "200ms"
            retries = 0
            \(agent)
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            version = "2c"
            community = "public"
            [[devices]]
            name = "real"
            address = "127.0.0.1:\(port)"
            profiles = ["system"]

            """
        for i in 0..<silent {
            config += "[[devices]]\nname = \"silent\(i)\"\naddress = \"127.0.0.1:\(base + 1 + i)\"\n"
            config += "profiles = [\"system\"]\n"
        }
        return config
    }

    @Test func aLowOpenFileLimitCapsTheSessionsInsteadOfRunningOutOfDescriptors() async throws {
        #expect(SNMPEngine.sessionCap(descriptorLimit: 700) == 188)
        #expect(SNMPEngine.sessionCap(descriptorLimit: 20_000) == 15_000)
        #expect(SNMPEngine.sessionCap(descriptorLimit: 100) == 64)
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        // 300 silent devices (each its own port: its own session) and one real one, with 700 descriptors: 188
        // sessions at most. Running out of descriptors would end the process (libdispatch traps).
        let config = Self.silentFleet(300, real: snmpd.port, agent: "max_in_flight = 400")
        let agent = try AgentProcess.start(
            config, name: "session-cap", launcher: ["/usr/bin/prlimit", "--nofile=700:700"])
        defer { agent.child.signal(SIGTERM) }
        let real = await StatusJSON.waitForDevice(agent.base, "real") { ($0["polls"] as? Int ?? 0) >= 3 }
        #expect(real?["state"] as? String == "up", "\(String(describing: real))")
        var evictions = 0.0
        #expect(
            await eventually(30) {
                let metrics = await Lab.httpGet("\(agent.base)/metrics")?.1 ?? ""
                evictions = StatusJSON.metric(metrics, "netpoller_snmp_session_evictions_total") ?? 0
                return evictions > 0
            })
        #expect(agent.child.isRunning)
        #expect(await Lab.httpGet("\(agent.base)/health")?.0 == 200)
        agent.child.signal(SIGTERM)
        #expect(await agent.child.wait(timeout: .seconds(20)) == 0)
        let log = (try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? ""
        #expect(!log.contains("Too many open files"), "\(log.suffix(2000))")
    }

    @Test func anIOThreadWithNothingInFlightParksAndCountsAsAlive() async {
        // No heartbeat is due while nothing is in flight: the thread sleeps until work arrives, and /health reads
        // its age as 0 (a thread that merely woke less often would show an age between 0 and a second).
        let engine = SNMPEngine(maxSessions: 8)
        #expect(await eventually { engine.heartbeatAge == 0 })
        await engine.shutdown()
    }

    @Test func maxSNMPSessionsCapsTheOpenSessionsBelowTheDescriptorCap() async throws {
        let engine = SNMPEngine(maxSessions: 50)
        #expect(engine.maxSessions == 50)
        engine.setMaxSessions(100_000_000)
        #expect(engine.maxSessions == engine.descriptorCap)
        await engine.shutdown()
        #expect(AgentSettings.defaultMaxSNMPSessions == 2_000)
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        // 40 silent devices (each its own port: its own session) and one real one, at most 16 sessions open: the
        // agent closes idle ones to open others, and the real device is polled throughout.
        let config = Self.silentFleet(40, real: snmpd.port, agent: "max_snmp_sessions = 16")
        let agent = try AgentProcess.start(config, name: "max-snmp-sessions")
        defer { agent.child.signal(SIGTERM) }
        #expect(
            await eventually(30) {
                let metrics = await Lab.httpGet("\(agent.base)/metrics")?.1 ?? ""
                return (StatusJSON.metric(metrics, "netpoller_snmp_session_evictions_total") ?? 0) >= 10
            })
        let real = await StatusJSON.waitForDevice(agent.base, "real") { ($0["polls"] as? Int ?? 0) >= 3 }
        #expect(real?["state"] as? String == "up", "\(String(describing: real))")
        agent.child.signal(SIGTERM)
        #expect(await agent.child.wait(timeout: .seconds(20)) == 0)
    }
}
