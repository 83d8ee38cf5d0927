import AgentConfig
import Foundation
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Testing

/// Issue 17, item 4: request sizes learned per device, against a responder with the quirks of real devices
/// (`Fixtures/quirky-agent.py`), through the real net-snmp engine; and the bracket itself as a value.
@Suite(.serialized) struct RequestLearningTests {
    @Test func theBracketGrowsThenClosesOnTheLimitAndIgnoresLossBelowIt() {
        var b = SizeBracket(start: 25, ceiling: 64)
        var trace: [Int] = []
        for _ in 0..<8 {
            let size = b.current
            trace.append(size)
            if size > 40 { b.failed(size, tooBig: true) } else { b.succeeded(size) }
        }
        #expect(trace.prefix(4) == [25, 37, 55, 46], "\(trace)")
        #expect(b.current == 40 && b.settled, "\(trace) → \(b)")
        // A timeout at or below what worked is packet loss: the bracket does not move.
        b.failed(38, tooBig: false)
        #expect(b.current == 40 && b.good == 40)
        // A tooBig there is certain: the device changed.
        b.failed(40, tooBig: true)
        #expect(b.current < 40)
        // The ceiling holds growth.
        var capped = SizeBracket(start: 50, ceiling: 64)
        capped.succeeded(50)
        capped.succeeded(capped.current)
        #expect(capped.current == 64 && capped.settled)
    }

    static let profile = """
        [[profiles]]
        name = "quirks"
        [[profiles.scalars]]
        measurement = "many"
        fields = { \((1...60).map { "g\($0) = \"1.3.6.1.4.1.99999.2.\($0).0\"" }.joined(separator: ", ")) }
        [[profiles.tables]]
        measurement = "row"
        index_tag = "row"
        fields = { a = "1.3.6.1.4.1.99999.1.1.2", b = { oid = "1.3.6.1.4.1.99999.1.1.3", type = "counter" } }

        """

    func config(_ state: URL, port: Int, extra: String = "") throws -> AgentConfiguration {
        let path = state.appendingPathComponent("agent.conf").path
        try """
        [agent]
        state_dir = "\(state.path)"
        timeout = "300ms"
        retries = 1
        [credentials.snmp.default]
        community = "public"
        \(Self.profile)
        [[devices]]
        name = "quirky"
        address = "127.0.0.1:\(port)"
        profiles = ["quirks"]
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
    }

    struct Poll {
        var outcome: PollOutcome
        var learned: LearnedSizes?
        var timeouts: Double
        var rows: Int
    }

    /// Polls `count` times; each poll's outcome, learned sizes and the timeouts it cost.
    func polls(_ collector: SNMPCollector, _ device: DeviceConfig, _ count: Int) async -> [Poll] {
        var result: [Poll] = []
        for _ in 0..<count {
            let before = timeouts()
            let outcome = await collector.poll(device)
            let rows = outcome.samples.filter { $0.measurement == "row" }.count
            result.append(
                Poll(outcome: outcome, learned: outcome.snmp?.learned, timeouts: timeouts() - before, rows: rows))
        }
        return result
    }

    func timeouts() -> Double {
        StatusJSON.metric(
            String(decoding: TestEngine.metrics.exposition(), as: UTF8.self), "netpoller_snmp_timeouts_total") ?? 0
    }

    func describe(_ polls: [Poll]) -> String {
        polls.map {
            "get \($0.learned?.getSize ?? -1) rep \($0.learned?.maxRepetitions ?? -1) \($0.learned?.mode ?? "?") "
                + "rows \($0.rows) t \($0.timeouts) \($0.outcome.errors.map(\.code.rawValue))"
        }.joined(separator: " | ")
    }

    @Test func tooBigAboveALimitSettlesWithinTwoAndStaysThereUnderPacketLoss() async throws {
        for modes in ["toobig", "toobig,lossy"] {
            let agent = try await Lab.startHostileAgent(modes, script: "quirky-agent.py")
            defer { agent.stop() }
            let state = try Lab.temporaryDirectory("learn-\(modes)")
            let config = try config(state, port: agent.port)
            let device = try #require(config.devices.first)
            let collector = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
            collector.configure(config)
            let history = await polls(collector, device, 12)
            let text = describe(history)
            // Every walk completes (tooBig is answered within the poll), from the first poll on.
            for poll in history.prefix(3).suffix(1) + history.dropFirst(3) where !modes.contains("lossy") {
                #expect(poll.rows == 300 && poll.outcome.errors.isEmpty, "\(modes): \(text)")
            }
            #expect(history[2].rows == 300 || modes.contains("lossy"), "\(modes): \(text)")
            // Within 6 polls the sizes are within ±2 of the device's limit (40), and they stay there.
            for poll in history.dropFirst(5) {
                #expect(abs((poll.learned?.getSize ?? 0) - 40) <= 2, "\(modes): \(text)")
                #expect(abs((poll.learned?.maxRepetitions ?? 0) - 40) <= 2, "\(modes): \(text)")
            }
            let lastRows = history.suffix(6).filter { $0.rows == 300 }.count
            #expect(lastRows >= 5, "\(modes): \(text)")
        }
    }

    @Test func brokenGetBulkFallsBackToGetNextAndABulkSizeThatTimesOutIsLearned() async throws {
        // GETBULK never answered: the first poll's walk finishes with GETNEXT, and later polls use it at once.
        let nobulk = try await Lab.startHostileAgent("nobulk", script: "quirky-agent.py")
        defer { nobulk.stop() }
        let state = try Lab.temporaryDirectory("learn-nobulk")
        let config = try config(state, port: nobulk.port)
        let device = try #require(config.devices.first)
        let collector = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
        collector.configure(config)
        let history = await polls(collector, device, 3)
        let text = describe(history)
        #expect(history.allSatisfy { $0.rows == 300 && $0.outcome.errors.isEmpty }, "\(text)")
        #expect(history.allSatisfy { $0.learned?.mode == "getnext" }, "\(text)")
        #expect(history.dropFirst().allSatisfy { $0.timeouts == 0 }, "\(text)")

        // GETBULK that times out above 30: learned to 30 (±2) within 6 polls; after a restart, no timeout at all.
        let slow = try await Lab.startHostileAgent("bulktimeout", script: "quirky-agent.py")
        defer { slow.stop() }
        let slowState = try Lab.temporaryDirectory("learn-bulktimeout")
        let slowConfig = try self.config(slowState, port: slow.port)
        let slowDevice = try #require(slowConfig.devices.first)
        let first = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
        first.configure(slowConfig)
        let learning = await polls(first, slowDevice, 8)
        let learningText = describe(learning)
        #expect(learning.prefix(3).contains { $0.rows == 300 }, "\(learningText)")
        #expect(learning.dropFirst(2).allSatisfy { $0.rows == 300 }, "\(learningText)")
        for poll in learning.dropFirst(5) {
            #expect(abs((poll.learned?.maxRepetitions ?? 0) - 30) <= 2, "\(learningText)")
            #expect(poll.learned?.mode == "bulk")
        }
        first.flushProfileMemory()
        let saved = try String(contentsOf: slowState.appendingPathComponent("snmp-learned.json"), encoding: .utf8)
        #expect(saved.contains("quirky"))

        let restarted = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
        restarted.configure(slowConfig)
        let after = await polls(restarted, slowDevice, 3)
        let afterText = describe(after)
        #expect(after.allSatisfy { $0.timeouts == 0 && $0.rows == 300 }, "\(afterText)")
        #expect(after.first?.learned?.maxRepetitions == learning.last?.learned?.maxRepetitions, "\(afterText)")
    }

    @Test func outOfOrderOIDsEndTheWalkUnlessToleratedAndPinsWinOverLearning() async throws {
        let agent = try await Lab.startHostileAgent("unordered", script: "quirky-agent.py")
        defer { agent.stop() }
        // Without tolerance: the loop guard ends the walk, the rows so far are kept.
        let strict = try config(try Lab.temporaryDirectory("learn-strict"), port: agent.port)
        let strictCollector = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
        strictCollector.configure(strict)
        let cut = await polls(strictCollector, try #require(strict.devices.first), 1)[0]
        #expect(cut.outcome.errors.first?.code == .oidNotIncreasing, "\(describe([cut]))")
        #expect(cut.rows > 0 && cut.rows < 300)
        // tolerate_unordered: every walk completes, with every row.
        let tolerant = try config(
            try Lab.temporaryDirectory("learn-tolerant"), port: agent.port,
            extra: "tolerate_unordered = 3\nget_size = 20\nmax_repetitions = 10\nwalk_mode = \"bulk\"")
        let tolerantCollector = SNMPCollector(transport: TestEngine.shared, metrics: TestEngine.metrics)
        tolerantCollector.configure(tolerant)
        let history = await polls(tolerantCollector, try #require(tolerant.devices.first), 3)
        #expect(history.allSatisfy { $0.rows == 300 && $0.outcome.errors.isEmpty }, "\(describe(history))")
        // Pinned in the config: shown as such, never moved by learning.
        #expect(
            history.allSatisfy {
                $0.learned
                    == LearnedSizes(
                        getSize: 20, maxRepetitions: 10, mode: "bulk", learnedAt: $0.learned?.learnedAt, pinned: true)
            }, "\(describe(history))")
    }
}
