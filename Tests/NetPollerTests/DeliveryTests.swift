import Foundation
import Logging
import NetPollerAgent
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Synchronization
import Testing

/// Batches with distinct ids and timestamps: `seq` becomes both, so order and loss are easy to check.
func numberedBatch(_ seq: Int, device: String = "r1", samples: Int = 3, wallNanos: Int64 = 1_800_000_000_000_000_000)
    -> SampleBatch
{
    SampleBatch(
        id: UInt64(seq), device: device, deviceTags: [Tag("site", "lab")], timestampNanos: wallNanos + Int64(seq),
        samples: (0..<samples).map { i in
            Sample(
                measurement: "interface", tags: [Tag("ifIndex", "\(i)")],
                fields: [
                    Field(name: "ifHCInOctets", value: .uint(UInt64(seq * 1000 + i)), kind: .counter),
                    Field(name: "ifAlias", value: .text("uplink \"α\", =\\ \(seq)"), kind: .info),
                ])
        })
}

/// What buffer events reported, for assertions.
final class Tally: Sendable {
    private let state = Mutex<(lines: [String], counts: [String: Int])>(([], [:]))
    func add(_ line: String) { state.withLock { $0.lines.append(line) } }
    func add(_ key: String, _ n: Int) { state.withLock { $0.counts[key, default: 0] += n } }
    var lines: [String] { state.withLock { $0.lines } }
    func count(_ key: String) -> Int { state.withLock { $0.counts[key] ?? 0 } }

    var events: BufferEvents {
        var events = BufferEvents()
        events.corrupt = { [self] what in add(what) }
        events.dropped = { [self] reason, n in add(reason, n) }
        return events
    }
}

func spoolDirectory(_ name: String) throws -> String {
    try Lab.temporaryDirectory("spool-\(name)").path + "/spool"
}

@Suite struct DeliveryPolicyTests {
    @Test func backoffDoublesWithJitterUpToTheCap() {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(8))
        let lows = (0..<6).map { _ in backoff.nextDelay(random: 0) }
        #expect(lows == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        backoff.reset()
        let highs = (0..<5).map { _ in backoff.nextDelay(random: 0.999_999) }
        for (high, ceiling) in zip(highs, [1, 2, 4, 8, 8]) {
            #expect(high <= .seconds(ceiling) && high > .seconds(ceiling) * 0.99)
        }
    }

    @Test func breakerOpensAfterThresholdAndLetsOneProbeThrough() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: .seconds(30))
        let opened = [1, 2, 3].map { breaker.recordFailure(now: .seconds($0)) }
        #expect(opened == [false, false, true])
        var permit = breaker.permit(now: .seconds(10))
        #expect(permit == .wait(until: .seconds(33)))
        permit = breaker.permit(now: .seconds(33))
        #expect(permit == .allowed)
        #expect(breaker.state == .halfOpen)
        // A failed probe opens it again for a full cooldown.
        let reopened = breaker.recordFailure(now: .seconds(34))
        #expect(reopened)
        permit = breaker.permit(now: .seconds(40))
        #expect(permit == .wait(until: .seconds(64)))
        permit = breaker.permit(now: .seconds(64))
        #expect(permit == .allowed)
        let closed = breaker.recordSuccess()
        #expect(closed)
        #expect(breaker.state == .closed && breaker.consecutiveFailures == 0)
    }

    @Test func batcherFlushesWhenFullOrWhenTheOldestHasWaitedLongEnough() {
        var batcher = Batcher(maxSamples: 10, maxWait: .seconds(1))
        var decision = batcher.add(3, enqueuedAt: .seconds(5), now: .seconds(5))
        #expect(decision == .wait(until: .seconds(6)))
        decision = batcher.add(3, enqueuedAt: .milliseconds(5500), now: .milliseconds(5500))
        #expect(decision == .wait(until: .seconds(6)))
        #expect(batcher.decide(now: .seconds(6)) == .flush)
        decision = batcher.add(4, enqueuedAt: .milliseconds(5600), now: .milliseconds(5600))
        #expect(decision == .flush)
        batcher.reset()
        decision = batcher.add(2, enqueuedAt: .zero, now: .seconds(9))
        #expect(decision == .flush)
    }

    @Test func batchCodecRoundTripsEveryValueKind() throws {
        var batch = numberedBatch(7)
        batch.samples.append(
            Sample(
                measurement: "x y,z", tags: [Tag("", ""), Tag("k=", "ünïcødé 🚀")],
                fields: [
                    Field(name: "i", value: .int(-42), kind: .gauge),
                    Field(name: "d", value: .double(-0.5), kind: .gauge),
                    Field(name: "u", value: .uint(.max), kind: .counter),
                    Field(name: "t", value: .text(""), kind: .info),
                ]))
        let bytes = BatchCodec.encode(batch)
        #expect(try BatchCodec.decode(bytes) == batch)
        #expect(throws: BatchCodec.DecodeError.self) { try BatchCodec.decode(Array(bytes.dropLast())) }
        var garbled = bytes
        garbled[40] ^= 0xFF
        #expect((try? BatchCodec.decode(garbled)) != batch)
        // The poll trailer (inventory for the postgres sink) travels too; records written without it still decode.
        var withPoll = batch
        withPoll.poll = PollInfo(address: "[2001:db8::1]:161", profiles: ["system", "if-mib"], state: "degraded")
        let polled = BatchCodec.encode(withPoll)
        #expect(try BatchCodec.decode(polled) == withPoll)
        #expect(polled.count > bytes.count)
        #expect(throws: BatchCodec.DecodeError.self) { try BatchCodec.decode(Array(polled.dropLast())) }
    }
}

@Suite struct SpoolTests {
    func open(_ directory: String, maxBytes: Int64 = 1 << 30, clock: any DeliveryClock = SystemDeliveryClock())
        throws -> (SinkBuffer, Tally)
    {
        var policy = SpoolPolicy(directory: directory)
        policy.maxBytes = maxBytes
        policy.fsync = .always
        let tally = Tally()
        return (try SinkBuffer(name: "t", bufferSamples: 30, spool: policy, clock: clock, events: tally.events), tally)
    }

    func takeAll(_ buffer: SinkBuffer) async -> [SampleBatch] {
        buffer.close()
        var out: [SampleBatch] = []
        while true {
            let entries = await buffer.take(maxSamples: 50)
            if entries.isEmpty { return out }
            out += entries.map(\.batch)
            buffer.acknowledge(entries)
        }
    }

    /// A worker gathering a batch is woken when its room is full, or at the deadline with what came meanwhile: not by
    /// every offer. One timer per round.
    @Test func aGatheringTakeWakesWhenFullOrAtItsDeadline() async throws {
        let clock = ManualClock()
        let (buffer, _) = try open(try spoolDirectory("gather-timer"), clock: clock)
        let deadline = clock.now + .seconds(1)
        // Three samples per batch: three batches fill a room of nine.
        async let full = buffer.take(maxSamples: 9, deadline: deadline)
        #expect(await eventually { buffer.hasWaitingTake })
        for seq in 1...3 { buffer.offer(numberedBatch(seq), payload: nil) }
        let first = await full
        #expect(first.map(\.batch.id) == [1, 2, 3])
        buffer.acknowledge(first)
        // Two batches do not fill a room of 100: they wait with the take until its deadline.
        async let partial = buffer.take(maxSamples: 100, deadline: deadline)
        #expect(await eventually { buffer.hasWaitingTake })
        for seq in 4...5 { buffer.offer(numberedBatch(seq), payload: nil) }
        #expect(await eventually { buffer.snapshot.backlogSamples == 6 })
        #expect(buffer.hasWaitingTake)
        #expect(clock.sleepsStarted == 1)
        clock.advance(by: .seconds(1))
        let second = await partial
        #expect(second.map(\.batch.id) == [4, 5])
        buffer.acknowledge(second)
        // The next round (a later deadline) arms its own timer, and ends empty when nothing came.
        async let next = buffer.take(maxSamples: 100, deadline: deadline + .seconds(1))
        #expect(await eventually { buffer.hasWaitingTake && clock.sleepers == 1 })
        #expect(clock.sleepsStarted == 2)
        clock.advance(by: .seconds(1))
        #expect((await next).isEmpty)
    }

    @Test func spooledBatchesSurviveARestartAndComeBackInOrder() async throws {
        let directory = try spoolDirectory("restart")
        let (first, _) = try open(directory)
        // 100 batches of 3 samples: only 10 fit the 30-sample memory window, the rest is read back from disk.
        let batches = (1...100).map { numberedBatch($0) }
        for batch in batches { first.offer(batch, payload: nil) }
        #expect(await eventually { first.snapshot.backlogSamples == 300 })
        // Deliver 20 and acknowledge them, then "restart".
        let delivered = await first.take(maxSamples: 60)
        #expect(delivered.map(\.batch.id) == Array(batches.prefix(20)).map(\.id))
        first.acknowledge(delivered)
        #expect(await first.finish() == 240)
        // Spooled samples are the agent user's alone: the directory 0700, every file 0600.
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!files.isEmpty)
        for file in files {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(file)")[.posixPermissions]
            #expect(mode as? Int == 0o600, "\(file)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int == 0o700)

        let (second, corruptions) = try open(directory)
        #expect(second.recoveredSamples == 240)
        second.offer(numberedBatch(101), payload: nil)
        let rest = await takeAll(second)
        #expect(rest.map(\.id) == Array(1...100).dropFirst(20).map(UInt64.init) + [101])
        #expect(rest.first == batches[20])
        #expect(corruptions.lines.isEmpty)
        await second.finish()
        let (third, _) = try open(directory)
        #expect(third.recoveredSamples == 0)
        await third.finish()
    }

    func open(_ directory: String, fsync interval: Duration, tally: Tally) throws -> SinkBuffer {
        var policy = SpoolPolicy(directory: directory)
        policy.fsync = .interval(interval)
        var events = tally.events
        events.syncEnded = { needed in tally.add(needed ? "synced" : "not_needed", 1) }
        events.synced = { n in tally.add("synced_samples", n) }
        return try SinkBuffer(
            name: "t", bufferSamples: 30, spool: policy, clock: SystemDeliveryClock(), events: events)
    }

    /// `fsync` = an interval: data the sink acknowledged within it needs no fdatasync; data it did not (not taken, or
    /// taken and never acknowledged) is synced.
    @Test func onlyUndeliveredSpoolDataIsSynced() async throws {
        let tally = Tally()
        let buffer = try open(try spoolDirectory("sync-skip"), fsync: .milliseconds(200), tally: tally)
        for seq in 1...2 { buffer.offer(numberedBatch(seq), payload: nil) }
        let delivered = await buffer.take(maxSamples: 100)
        #expect(delivered.map(\.batch.id) == [1, 2])
        buffer.acknowledge(delivered)
        #expect(await eventually { tally.count("not_needed") == 1 })
        #expect(tally.count("synced") == 0 && tally.count("synced_samples") == 0)
        // Not taken: synced at the end of its interval.
        buffer.offer(numberedBatch(3), payload: nil)
        #expect(await eventually { tally.count("synced") == 1 })
        #expect(tally.count("synced_samples") == 3)
        // Taken but never acknowledged (a write that hangs): synced too, a moment later.
        let taken = await buffer.take(maxSamples: 100)
        #expect(taken.map(\.batch.id) == [3])
        buffer.offer(numberedBatch(4), payload: nil)
        _ = await buffer.take(maxSamples: 100)
        #expect(await eventually { tally.count("synced") == 2 })
        #expect(tally.count("synced_samples") == 6)
        #expect(tally.count("not_needed") == 1)
        await buffer.finish()
    }

    /// The ack position written without an fdatasync may, after a host crash, point past the data that reached the
    /// disk: the spool then starts again from the end of what is there, and new batches are not taken for delivered.
    @Test func anAckPastTheEndOfItsSegmentAfterAHostCrashLosesNoNewBatch() async throws {
        let directory = try spoolDirectory("ack-past-end")
        let (first, _) = try open(directory)
        for seq in 1...3 { first.offer(numberedBatch(seq), payload: nil) }
        let delivered = await first.take(maxSamples: 100)
        #expect(delivered.count == 3)
        first.acknowledge(delivered)
        #expect(await first.finish() == 0)
        // The host crashed: the ack reached the disk, the records did not.
        let segment = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }
        #expect(segment.count == 1)
        #expect(truncate("\(directory)/\(segment[0])", 8) == 0)
        let (second, _) = try open(directory)
        #expect(second.recoveredSamples == 0)
        second.offer(numberedBatch(4), payload: nil)
        #expect(await eventually { second.snapshot.backlogSamples == 3 })
        #expect(await second.finish() == 3)
        let (third, _) = try open(directory)
        #expect(third.recoveredSamples == 3)
        #expect(await takeAll(third).map(\.id) == [4])
        await third.finish()
    }

    @Test func spoolAtItsByteCapDropsTheOldestAndCountsThem() async throws {
        let directory = try spoolDirectory("cap")
        let dropped = Tally()
        var policy = SpoolPolicy(directory: directory)
        policy.maxBytes = 64 << 10
        let buffer = try SinkBuffer(
            name: "cap", bufferSamples: 30, spool: policy, clock: SystemDeliveryClock(), events: dropped.events)
        let batches = (1...400).map { numberedBatch($0) }
        for batch in batches { buffer.offer(batch, payload: nil) }
        #expect(await eventually { buffer.snapshot.backlogSamples + dropped.count("spool_full") == 1200 })
        let lost = dropped.count("spool_full")
        #expect(lost > 0)
        #expect(buffer.snapshot.spoolBytes <= 64 << 10)
        let rest = await takeAll(buffer)
        // What is left is the newest data, in order, with nothing missing after the first survivor.
        #expect(rest.count * 3 + lost == 1200)
        #expect(rest.map(\.id) == batches.suffix(rest.count).map(\.id))
        await buffer.finish()
    }

    @Test func spooledDataOlderThanMaxAgeIsDroppedAsExpired() async throws {
        let clock = ManualClock()
        let dropped = Tally()
        var policy = SpoolPolicy(directory: try spoolDirectory("age"))
        policy.maxAge = .seconds(3600)
        let buffer = try SinkBuffer(name: "age", bufferSamples: 30, spool: policy, clock: clock, events: dropped.events)
        let old = (1...5).map { numberedBatch($0, wallNanos: clock.wallNanos) }
        for batch in old { buffer.offer(batch, payload: nil) }
        #expect(await eventually { buffer.snapshot.backlogSamples == 15 })
        clock.advance(by: .seconds(7200))
        let fresh = numberedBatch(6, wallNanos: clock.wallNanos)
        buffer.offer(fresh, payload: nil)
        let delivered = await takeAll(buffer)
        #expect(delivered == [fresh])
        #expect(dropped.count("spool_expired") == 15)
        await buffer.finish()
    }

    @Test func tornAndGarbledSegmentTailsAreCutOffAndReported() async throws {
        let directory = try spoolDirectory("torn")
        let (first, _) = try open(directory)
        let batches = (1...10).map { numberedBatch($0) }
        for batch in batches { first.offer(batch, payload: nil) }
        #expect(await eventually { first.snapshot.backlogSamples == 30 })
        await first.finish()
        let segment = try #require(
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }.sorted().last
        )
        let path = directory + "/" + segment
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // A torn write: the last record loses its end. Then garbage appended after it.
        bytes.removeLast(17)
        bytes += [0xde, 0xad, 0xbe, 0xef, 0x00, 0x11]
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let (second, corruptions) = try open(directory)
        #expect(corruptions.lines.count == 1)
        #expect(corruptions.lines.first?.contains(segment) == true)
        #expect(second.recoveredSamples == 27)
        #expect(await takeAll(second).map(\.id) == Array(1...9).map(UInt64.init))
        await second.finish()

        // A flipped bit in the middle of the first record: the checksum catches it.
        let (third, _) = try open(directory)
        for batch in batches { third.offer(batch, payload: nil) }
        #expect(await eventually { third.snapshot.backlogSamples == 30 })
        await third.finish()
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }
        let newest = directory + "/" + segments.sorted().last!
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: newest)))
        data[8 + 40] ^= 0x01
        try Data(data).write(to: URL(fileURLWithPath: newest))
        let (fourth, reported) = try open(directory)
        #expect(reported.lines.count == 1)
        #expect(await takeAll(fourth).isEmpty)
        await fourth.finish()
    }

    @Test func aSecondBufferOnTheSameSpoolIsRefused() async throws {
        let directory = try spoolDirectory("lock")
        let (first, _) = try open(directory)
        #expect(throws: SpoolError.self) { _ = try open(directory) }
        await first.finish()
    }

    @Test func unwritableStateDirIsAClearError() throws {
        let base = try Lab.temporaryDirectory("state-bad")
        let file = base.appendingPathComponent("not-a-dir")
        try Data("x".utf8).write(to: file)
        let error = #expect(throws: StateDirectory.Failure.self) {
            _ = try StateDirectory(path: file.path + "/state")
        }
        #expect(error?.description.contains(file.path + "/state") == true)
        #expect(error?.description.contains("cannot create it") == true)
    }
}

/// The whole delivery path: queue → fan-out → per-sink buffer → worker → sink, with a manual clock.
@Suite struct SinkRunnerTests {
    struct Harness {
        let queue = SampleQueue(capacity: 1_000_000)
        let clock = ManualClock()
        let metrics = SelfMetrics()
        let runner: SinkRunner
        let task: Task<Void, Never>

        init() {
            runner = SinkRunner(queue: queue, clock: clock, metrics: metrics, logger: Logger(label: "test"))
            let runner = self.runner
            task = Task { await runner.run() }
        }

        func add(_ sink: any Sink, _ policy: DeliveryPolicy) async throws {
            try await runner.add(sink, type: "scripted", policy: policy, onStartUnavailable: .retry)
        }

        func status(_ name: String) -> SinkStatus? { runner.status.first { $0.name == name } }

        func metricsText() -> String {
            runner.updateGauges()
            return String(decoding: metrics.exposition(), as: UTF8.self)
        }

        func stop() async {
            queue.close()
            await task.value
            await runner.drain(until: clock.now)
        }
    }

    func fastPolicy(batchSize: Int = 1000) -> DeliveryPolicy {
        var policy = DeliveryPolicy()
        policy.batchSize = batchSize
        policy.flushInterval = .zero
        policy.retryBackoff = .seconds(1)
        policy.retryBackoffMax = .seconds(8)
        policy.breakerFailures = 100
        policy.deadLetterPath = nil
        // These tests follow the backoff and cooldown sleeps themselves; probing has its own test.
        policy.probeInterval = .seconds(600)
        return policy
    }

    @Test func serverTextIsScrubbedOfSecretsAndBounded() {
        let secret = "s3cr3t-t0ken"
        let echoed = Redaction.scrub("401: bad token \(secret) for user", secrets: [secret, "x"])
        #expect(echoed == "401: bad token <secret> for user")
        let long = Redaction.scrub(String(repeating: "é", count: 2_000), secrets: [])
        #expect(long.utf8.count < 600)
        #expect(long.hasSuffix("(4000 bytes)"))
    }

    @Test func aSinkThatRejectsEverythingForAMinuteIsRejectingAndItsSecretsNeverShow() async throws {
        let h = Harness()
        let secret = "hunter2-token"
        let sink = ScriptedSink(name: "db", mode: .rejectDevice("r1"), secrets: [secret])
        var policy = fastPolicy()
        policy.deadLetterPath = try Lab.temporaryDirectory("rejecting").path + "/db.jsonl"
        try await h.add(sink, policy)
        h.queue.push(numberedBatch(1))
        #expect(await eventually { h.status("db")?.rejectedBatches == 1 })
        #expect(h.status("db")?.state == "ok")
        h.clock.advance(by: .seconds(61))
        h.queue.push(numberedBatch(2))
        #expect(await eventually { h.status("db")?.state == "rejecting" })
        #expect(h.metricsText().contains("netpoller_sink_state{sink=\"db\",state=\"rejecting\"} 1"))
        // One accepted write ends it.
        sink.set(.accept)
        h.queue.push(numberedBatch(3))
        #expect(await eventually { h.status("db")?.state == "ok" })
        await h.stop()

        // A server that echoes the secret: scrubbed from /status and the dead-letter file.
        let echo = Harness()
        let echoing = ScriptedSink(
            name: "echo", mode: .script([.rejected(reason: "invalid token \(secret)")]), secrets: [secret])
        var echoPolicy = fastPolicy()
        let deadLetter = try Lab.temporaryDirectory("echo").path + "/echo.jsonl"
        echoPolicy.deadLetterPath = deadLetter
        try await echo.add(echoing, echoPolicy)
        echo.queue.push(numberedBatch(1))
        #expect(await eventually { echo.status("echo")?.rejectedBatches == 1 })
        #expect(echo.status("echo")?.lastError == "rejected: invalid token <secret>")
        #expect(
            await eventually {
                (try? String(contentsOfFile: deadLetter, encoding: .utf8))?.contains("<secret>") == true
            })
        #expect((try? String(contentsOfFile: deadLetter, encoding: .utf8))?.contains(secret) == false)
        await echo.stop()
    }

    @Test func anOpenCircuitIsProbedAndTheFirstPassingProbeLetsTheWriteGoAtOnce() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db", mode: .fail(SinkError(.unavailable, "connection refused")))
        var policy = fastPolicy()
        policy.breakerFailures = 2
        policy.breakerCooldown = .seconds(30)
        policy.retryBackoff = .milliseconds(100)
        policy.retryBackoffMax = .milliseconds(100)
        policy.probeInterval = .seconds(2)
        try await h.add(sink, policy)
        h.queue.push(numberedBatch(1))
        for attempt in 1...2 {
            #expect(
                await eventually { sink.attempts.count == attempt && h.clock.hasSleeper(within: .milliseconds(100)) })
            h.clock.advance(by: .milliseconds(100))
        }
        #expect(await eventually { h.status("db")?.state == "circuit_open" })
        // A long outage: one failed probe every 2 s, no write.
        for _ in 1...5 {
            #expect(await eventually { h.clock.hasSleeper(within: .seconds(2)) })
            h.clock.advance(by: .seconds(2))
        }
        #expect(
            await eventually {
                h.metricsText().contains("netpoller_sink_probes_total{sink=\"db\",result=\"failed\"} 5")
            })
        #expect(sink.attempts.count == 2)
        // The server answers again: within one probe interval the write goes, 18 s before the cooldown would end.
        sink.set(.accept)
        #expect(await eventually { h.clock.hasSleeper(within: .seconds(2)) })
        h.clock.advance(by: .seconds(2))
        #expect(await eventually { sink.accepted.map(\.id) == [1] })
        #expect(await eventually { h.status("db")?.state == "ok" })
        #expect(h.metricsText().contains("netpoller_sink_probes_total{sink=\"db\",result=\"passed\"} 1"))
        await h.stop()
    }

    @Test func retryableFailuresAreRetriedWithBackoffUntilAccepted() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db", mode: .fail(SinkError(.unavailable, "connection refused")))
        try await h.add(sink, fastPolicy())
        h.queue.push(numberedBatch(1))
        var sleeps: [Duration] = []
        for attempt in 1...3 {
            // Wait for the backoff sleep after this attempt (the write-timeout timer sleeps too, 30 s out). Counted
            // from the start: the first attempt may be made before the loop begins.
            #expect(
                await eventually {
                    sink.attempts.count == attempt && h.clock.hasSleeper(within: .seconds(8))
                })
            let delay = h.clock.nextDeadline! - h.clock.now
            sleeps.append(delay)
            if sink.attempts.count == 3 { sink.set(.accept) }
            h.clock.advance(by: delay)
        }
        #expect(await eventually { sink.accepted.count == 1 })
        #expect(sink.attempts.count == 4)
        // Equal jitter: the n-th wait lies in [d/2, d] with d = 1s, 2s, 4s.
        for (delay, d) in zip(sleeps, [1, 2, 4]) {
            #expect(delay >= .seconds(d) / 2 && delay <= .seconds(d))
        }
        // The sink counts a batch accepted inside its write; the worker records the success just after.
        #expect(await eventually { h.status("db")?.state == "ok" })
        let status = try #require(h.status("db"))
        #expect(status.state == "ok" && status.failedWrites == 3 && status.acceptedSamples == 3)
        let text = h.metricsText()
        #expect(text.contains("netpoller_sink_errors_total{sink=\"db\",error_type=\"unavailable\"} 3"))
        #expect(text.contains("netpoller_sink_writes_total{sink=\"db\",result=\"retryable\"} 3"))
        #expect(text.contains("netpoller_sink_retries_total{sink=\"db\"} 3"))
        await h.stop()
    }

    @Test func circuitOpensAfterConsecutiveFailuresAndAProbeClosesIt() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db", mode: .fail(SinkError(.timeout, "no answer")))
        var policy = fastPolicy()
        policy.breakerFailures = 3
        policy.breakerCooldown = .seconds(30)
        policy.retryBackoff = .milliseconds(100)
        policy.retryBackoffMax = .milliseconds(100)
        try await h.add(sink, policy)
        h.queue.push(numberedBatch(1))
        for attempt in 1...3 {
            #expect(
                await eventually { sink.attempts.count == attempt && h.clock.hasSleeper(within: .milliseconds(100)) })
            h.clock.advance(by: .milliseconds(100))
        }
        #expect(await eventually { h.status("db")?.state == "circuit_open" })
        // Open: nothing goes out during the cooldown, whatever arrives.
        h.queue.push(numberedBatch(2))
        h.clock.advance(by: .seconds(20))
        // The worker is back asleep until the cooldown ends, with batch 2 buffered behind batch 1.
        #expect(
            await eventually { h.clock.hasSleeper(within: .seconds(10)) && h.status("db")?.bufferedSamples == 6 })
        #expect(sink.attempts.count == 3)
        // After the cooldown one probe goes out; it succeeds and the circuit closes.
        sink.set(.accept)
        h.clock.advance(by: .seconds(11))
        #expect(await eventually { h.status("db")?.state == "ok" })
        #expect(await eventually { sink.accepted.map(\.id) == [1, 2] })
        #expect(h.metricsText().contains("netpoller_sink_circuit_opens_total{sink=\"db\"} 1"))
        await h.stop()
    }

    @Test func aRejectedBatchGoesToTheDeadLetterFileAndTheRestIsDelivered() async throws {
        let h = Harness()
        let directory = try Lab.temporaryDirectory("dead-letter")
        let sink = ScriptedSink(name: "db", mode: .rejectDevice("bad"))
        var policy = fastPolicy(batchSize: 100)
        policy.flushInterval = .seconds(1)
        policy.deadLetterPath = directory.path + "/db.jsonl"
        try await h.add(sink, policy)
        let batches = (1...8).map { numberedBatch($0, device: $0 == 6 ? "bad" : "good") }
        for batch in batches { h.queue.push(batch) }
        #expect(
            await eventually { h.status("db")?.memorySamples == 24 || (h.status("db")?.bufferedSamples ?? 0) == 24 })
        h.clock.advance(by: .seconds(1))
        #expect(await eventually { sink.accepted.count == 7 && h.status("db")?.rejectedBatches == 1 })
        #expect(sink.accepted.map(\.id) == [1, 2, 3, 4, 5, 7, 8])
        // Bisection: 8 → 4+4 → 2+2 → 1+1; the bad batch alone was tried exactly once.
        #expect(sink.attempts.filter { $0.count == 1 && $0[0].device == "bad" }.count == 1)
        let lines = try String(contentsOf: URL(fileURLWithPath: policy.deadLetterPath!), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 1)
        let record = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(record?["batch_id"] as? String == "6")
        #expect(record?["reason"] as? String == "bad value for bad")
        #expect(record?["samples"] as? Int == 3)
        #expect((record?["lines"] as? String)?.hasPrefix("interface,device=bad,") == true)
        #expect(h.metricsText().contains("netpoller_sink_rejected_samples_total{sink=\"db\"} 3"))
        // What the server rejected may echo data or credentials: the file is the agent user's alone.
        let mode = try FileManager.default.attributesOfItem(atPath: policy.deadLetterPath!)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        await h.stop()
    }

    @Test func aTooLargeWriteIsSplitInHalvesUntilItFits() async throws {
        let h = Harness()
        let directory = try Lab.temporaryDirectory("too-large")
        let sink = ScriptedSink(name: "db", mode: .tooLargeAbove(2))
        // The batch size is exactly the 8 batches' 24 samples: one write of all of them, however the threads run.
        var policy = fastPolicy(batchSize: 24)
        policy.flushInterval = .seconds(3600)
        policy.deadLetterPath = directory.path + "/db.jsonl"
        try await h.add(sink, policy)
        for seq in 1...8 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { sink.accepted.count == 8 })
        // 8 → 4+4 → 2+2+2+2: every batch delivered once, in order, none dead-lettered.
        #expect(sink.accepted.map(\.id) == Array(1...8))
        #expect(sink.attempts.map(\.count) == [8, 4, 2, 2, 4, 2, 2])
        #expect(!FileManager.default.fileExists(atPath: policy.deadLetterPath!))
        #expect(h.metricsText().contains("netpoller_sink_errors_total{sink=\"db\",error_type=\"too_large\"} 3"))
        await h.stop()
    }

    @Test func aPartialWriteDeadLettersOnlyTheRefusedLines() async throws {
        let h = Harness()
        let directory = try Lab.temporaryDirectory("partial")
        let part = RejectedPart(
            batchID: 2, device: "r1", lines: "interface,device=r1 x=1i 5\n", samples: 1, reason: "field type conflict")
        let sink = ScriptedSink(name: "db", mode: .script([.partial([part])]))
        // Exactly the 3 batches' 9 samples: one write of all of them.
        var policy = fastPolicy(batchSize: 9)
        policy.flushInterval = .seconds(3600)
        policy.deadLetterPath = directory.path + "/db.jsonl"
        try await h.add(sink, policy)
        for seq in 1...3 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { h.status("db")?.acceptedSamples == 8 && h.status("db")?.bufferedSamples == 0 })
        // Nothing retried: one write, the refused line in the dead-letter file, the rest accepted.
        #expect(sink.attempts.count == 1)
        let status = try #require(h.status("db"))
        #expect(status.acceptedSamples == 8 && status.rejectedSamples == 1 && status.state == "ok")
        let lines = try String(contentsOf: URL(fileURLWithPath: policy.deadLetterPath!), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 1)
        let record = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(record?["batch_id"] as? String == "2")
        #expect(record?["lines"] as? String == "interface,device=r1 x=1i 5\n")
        #expect(record?["reason"] as? String == "field type conflict")
        #expect(h.metricsText().contains("netpoller_sink_rejected_samples_total{sink=\"db\"} 1"))
        await h.stop()
    }

    @Test func retryAfterFromTheServerIsAFloorUnderTheBackoff() async throws {
        let h = Harness()
        let throttled = SinkError(.throttled, "429 too many requests", retryAfter: .seconds(20))
        let sink = ScriptedSink(name: "db", mode: .script([.retryable(throttled)]))
        try await h.add(sink, fastPolicy())
        h.queue.push(numberedBatch(1))
        #expect(await eventually { sink.attempts.count == 1 && h.clock.hasSleeper(within: .seconds(20)) })
        let delay = h.clock.nextDeadline! - h.clock.now
        #expect(delay == .seconds(20), "backoff alone would be at most 1 s")
        h.clock.advance(by: delay)
        #expect(await eventually { sink.accepted.count == 1 })
        #expect(h.metricsText().contains("netpoller_sink_errors_total{sink=\"db\",error_type=\"throttled\"} 1"))
        await h.stop()
    }

    @Test func aHangingSinkDelaysNeitherTheOtherSinkNorTheQueue() async throws {
        let h = Harness()
        let slow = ScriptedSink(name: "slow", mode: .hang)
        let fast = ScriptedSink(name: "fast")
        var policy = fastPolicy(batchSize: 10)
        policy.writeTimeout = .seconds(5)
        try await h.add(slow, policy)
        try await h.add(fast, policy)
        for seq in 1...200 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { fast.accepted.count == 200 })
        #expect(h.queue.count == 0)
        #expect(slow.hanging == 1)
        #expect(h.status("slow")?.bufferedSamples == 600)
        // The stuck write times out (on the sink's own clock) and is reported, once.
        h.clock.advance(by: .seconds(5))
        #expect(await eventually { h.status("slow")?.state == "degraded" })
        #expect(h.status("slow")?.lastError?.contains("write_timeout") == true)
        #expect(h.metricsText().contains("netpoller_sink_errors_total{sink=\"slow\",error_type=\"timeout\"} 1"))
        // Released, it catches up with everything, in order.
        slow.set(.accept)
        // The timed-out write got through late: it counts, and is not sent a second time.
        #expect(
            await eventually {
                h.clock.advance(by: .seconds(8))
                return slow.accepted.count == 200
            })
        #expect(slow.accepted.map(\.id) == (1...200).map(UInt64.init))
        await h.stop()
    }

    @Test func oneTimerWatchesTheWriteTimeoutOfEveryWrite() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db")
        var policy = fastPolicy(batchSize: 3)
        policy.writeTimeout = .seconds(30)
        try await h.add(sink, policy)
        let before = h.clock.sleepsStarted
        for seq in 1...40 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { sink.accepted.count == 40 })
        #expect(sink.attempts.count == 40, "one batch of 3 samples per write")
        // A timer per write would have started 40 sleeps; the worker's watch sets one, for the first write's deadline.
        #expect(h.clock.sleepsStarted - before == 1)
        // When it fires, no write is in flight: nothing times out, and the next write sets it again.
        h.clock.advance(by: .seconds(30))
        #expect(await eventually { h.clock.sleepers == 0 }, "the watch fired and, with no write in flight, rests")
        #expect(h.status("db")?.state == "ok")
        #expect(h.status("db")?.failedWrites == 0)
        h.queue.push(numberedBatch(41))
        #expect(await eventually { sink.accepted.count == 41 })
        #expect(h.clock.sleepsStarted - before == 2)
        await h.stop()
    }

    @Test func aWriteStillInFlightAtTheWatchsFirstDeadlineGetsItsOwn() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db")
        var policy = fastPolicy(batchSize: 3)
        policy.writeTimeout = .seconds(30)
        try await h.add(sink, policy)
        h.queue.push(numberedBatch(1))
        #expect(await eventually { sink.accepted.count == 1 })
        // The second write starts 20 s later and hangs: the timer set for the first write's deadline (30 s) fires
        // first and must not time it out; it sets itself for the second write's own deadline (50 s).
        h.clock.advance(by: .seconds(20))
        sink.set(.hang)
        h.queue.push(numberedBatch(2))
        #expect(await eventually { sink.hanging == 1 })
        h.clock.advance(by: .seconds(10))
        #expect(await eventually { h.clock.nextDeadline == .seconds(1050) })
        #expect(h.status("db")?.state == "ok", "timed out at the first write's deadline")
        h.clock.advance(by: .seconds(20))
        #expect(await eventually { h.status("db")?.state == "degraded" })
        #expect(h.status("db")?.lastError?.contains("write_timeout") == true)
        sink.set(.accept)
        await h.stop()
    }

    @Test func writesGoOutWhenFullOrWhenTheFlushIntervalPasses() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db")
        var policy = fastPolicy(batchSize: 10)
        policy.flushInterval = .seconds(2)
        try await h.add(sink, policy)
        for seq in 1...3 { h.queue.push(numberedBatch(seq)) }
        // All three in the sink's buffer or the write being gathered, and the worker asleep until the flush interval
        // passes (offers that do not fill the write do not wake it).
        #expect(await eventually { h.clock.sleepers > 0 && h.status("db")?.bufferedSamples == 9 })
        #expect(sink.attempts.isEmpty)
        h.clock.advance(by: .seconds(2))
        #expect(await eventually { sink.attempts.count == 1 })
        #expect(sink.attempts[0].map(\.id) == [1, 2, 3])
        // Four batches of 3 samples: the write goes as soon as it holds 10 or more, without waiting.
        for seq in 4...7 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { sink.attempts.count == 2 })
        #expect(sink.attempts[1].map(\.id) == [4, 5, 6, 7])
        await h.stop()
    }

    @Test func atShutdownWhatASinkCannotTakeIsSpooledAndDeliveredFirstAtTheNextStart() async throws {
        let directory = try spoolDirectory("drain")
        var policy = fastPolicy()
        policy.spool = SpoolPolicy(directory: directory)
        policy.spool?.fsync = .always
        let first = Harness()
        let down = ScriptedSink(name: "db", mode: .fail(SinkError(.unavailable, "down")))
        try await first.add(down, policy)
        for seq in 1...50 { first.queue.push(numberedBatch(seq)) }
        #expect(await eventually { first.status("db")?.spooledBytes ?? 0 > 0 && down.attempts.count >= 1 })
        #expect(await eventually { first.status("db")?.bufferedSamples == 150 })
        await first.stop()

        let second = Harness()
        let up = ScriptedSink(name: "db", idempotent: true)
        try await second.add(up, policy)
        second.queue.push(numberedBatch(51))
        #expect(await eventually { up.accepted.count == 51 })
        #expect(up.accepted.map(\.id) == (1...51).map(UInt64.init))
        #expect(
            await eventually { second.status("db")?.bufferedSamples == 0 && second.status("db")?.spooledBytes == 0 })
        await second.stop()
    }

    @Test func withoutASpoolAFullBufferDropsTheOldestAndCountsThem() async throws {
        let h = Harness()
        let sink = ScriptedSink(name: "db", mode: .hang)
        var policy = fastPolicy(batchSize: 3)
        policy.bufferSamples = 30
        try await h.add(sink, policy)
        h.queue.push(numberedBatch(1))
        #expect(await eventually { sink.hanging == 1 })
        for seq in 2...21 { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { h.status("db")?.dropped["buffer_full"] == 30 })
        sink.set(.accept)
        #expect(await eventually { sink.accepted.count == 11 })
        // The batch in flight when the buffer filled, then the newest ten.
        #expect(sink.accepted.map(\.id) == [1] + (12...21).map(UInt64.init))
        #expect(h.metricsText().contains("netpoller_dropped_samples_total{reason=\"buffer_full\"} 30"))
        await h.stop()
    }

    /// Holds the sink's first write (batch 1) while batches 2…`last` (3 samples each) arrive: every later write finds
    /// its worth waiting in the buffer.
    func holdFirstWrite(_ sink: ThreadedSink, _ h: Harness, whileQueueingThrough last: Int) async {
        sink.hold()
        h.queue.push(numberedBatch(1))
        #expect(await eventually { sink.writes.count == 1 })
        for seq in 2...last { h.queue.push(numberedBatch(seq)) }
        #expect(await eventually { h.status(sink.name)?.memorySamples == 3 * (last - 1) })
    }

    @Test func aBusySinkWritesEveryBatchOnceInOrderInFullWrites() async throws {
        let h = Harness()
        let sink = ThreadedSink(name: "db")
        try await h.add(sink, fastPolicy(batchSize: 6))
        await holdFirstWrite(sink, h, whileQueueingThrough: 31)
        sink.release()
        #expect(await eventually { sink.accepted.count == 31 })
        #expect(sink.accepted == (1...31).map(UInt64.init), "each batch once, in order")
        #expect(sink.writes.map(\.count) == [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
        #expect(await eventually { h.status("db")?.bufferedSamples == 0 }, "every write acknowledged")
        #expect(h.status("db")?.acceptedBatches == 31)
        #expect(h.metricsText().contains("netpoller_sink_writes_total{sink=\"db\",result=\"accepted\"} 16"))
        await h.stop()
    }

    @Test func aReloadedSinkTakesTheNextWriteEvenInARunOfWrites() async throws {
        let h = Harness()
        let old = ThreadedSink(name: "db")
        try await h.add(old, fastPolicy(batchSize: 6))
        await holdFirstWrite(old, h, whileQueueingThrough: 7)
        // A reload replaces the sink while its write is in flight: the next write goes to the new sink.
        let new = ThreadedSink(name: "db")
        h.runner.update(new, policy: fastPolicy(batchSize: 6))
        old.release()
        #expect(await eventually { old.accepted.count + new.accepted.count == 7 })
        #expect(old.writes == [[1]])
        #expect(new.writes == [[2, 3], [4, 5], [6, 7]])
        await h.stop()
    }

    @Test func aFailureInARunOfWritesRetriesTheWriteThatFailed() async throws {
        let h = Harness()
        let sink = ThreadedSink(name: "db")
        try await h.add(sink, fastPolicy(batchSize: 6))
        await holdFirstWrite(sink, h, whileQueueingThrough: 9)
        // Write 3 (batches 4 and 5) fails: it is retried, not write 2.
        sink.script([.accepted, .retryable(SinkError(.unavailable, "down"))])
        sink.release()
        #expect(await eventually { h.status("db")?.failedWrites == 1 && h.clock.hasSleeper(within: .seconds(1)) })
        h.clock.advance(by: .seconds(1))
        #expect(await eventually { sink.accepted.count == 9 })
        #expect(sink.accepted == (1...9).map(UInt64.init))
        #expect(sink.writes.map { $0.map(\.self) } == [[1], [2, 3], [4, 5], [4, 5], [6, 7], [8, 9]])
        #expect(h.status("db")?.state == "ok")
        await h.stop()
    }

    @Test func aWriteInARunThatHangsTimesOutAndIsNotSentTwice() async throws {
        let h = Harness()
        let sink = ThreadedSink(name: "db")
        var policy = fastPolicy(batchSize: 6)
        policy.writeTimeout = .seconds(30)
        try await h.add(sink, policy)
        await holdFirstWrite(sink, h, whileQueueingThrough: 5)
        // Write 2 goes through; write 3 (batches 4 and 5) hangs past its write_timeout.
        sink.holdAfter(writes: 2)
        sink.release()
        #expect(await eventually { sink.writes.count == 3 && sink.accepted.count == 3 })
        h.clock.advance(by: .seconds(30))
        #expect(await eventually { h.status("db")?.state == "degraded" })
        #expect(h.status("db")?.lastError?.contains("write_timeout") == true)
        // It got through after all: the retry waits for it and does not send those batches again.
        #expect(await eventually { h.clock.hasSleeper(within: .seconds(1)) })
        sink.release()
        h.clock.advance(by: .seconds(1))
        #expect(await eventually { sink.accepted.count == 5 })
        #expect(await eventually { h.status("db")?.bufferedSamples == 0 }, "every write acknowledged")
        #expect(sink.accepted == (1...5).map(UInt64.init))
        #expect(sink.writes.count == 3)
        #expect(await eventually { h.status("db")?.state == "ok" })
        await h.stop()
    }
}

/// A sink on a thread of its own, as the InfluxDB and PostgreSQL sinks are (`startWrite` reports from that thread):
/// answers from a script, and can hold a write until released.
final class ThreadedSink: Sink {
    private struct State {
        var script: [SinkResult] = []
        var writes: [[UInt64]] = []
        var accepted: [UInt64] = []
        var holding = false
        var holdAfter: Int?
    }

    let name: String
    private let thread: DedicatedThread
    private let state = Mutex(State())
    private let gate = NSCondition()

    init(name: String) {
        self.name = name
        thread = DedicatedThread(name: "test:\(name)")
    }

    var writes: [[UInt64]] { state.withLock { $0.writes } }
    var accepted: [UInt64] { state.withLock { $0.accepted } }

    /// Answers the next writes with these results in turn, then accepts.
    func script(_ results: [SinkResult]) { state.withLock { $0.script = results } }
    func hold() { setHolding(true) }
    /// Holds the write that comes after this many.
    func holdAfter(writes: Int) { state.withLock { $0.holdAfter = writes } }
    func release() { setHolding(false) }

    private func setHolding(_ holding: Bool) {
        gate.lock()
        state.withLock { $0.holding = holding }
        gate.broadcast()
        gate.unlock()
    }

    func write(_ batches: [SampleBatch]) async -> SinkResult {
        await withCheckedContinuation { continuation in startWrite(batches) { continuation.resume(returning: $0) } }
    }

    func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void) {
        thread.submit { [self] in completion(blockingWrite(batches)) }
    }

    private func blockingWrite(_ batches: [SampleBatch]) -> SinkResult {
        let result = state.withLock { s -> SinkResult in
            s.writes.append(batches.map(\.id))
            if let after = s.holdAfter, s.writes.count > after {
                s.holdAfter = nil
                s.holding = true
            }
            return s.script.isEmpty ? .accepted : s.script.removeFirst()
        }
        gate.lock()
        while state.withLock({ $0.holding }) { gate.wait() }
        gate.unlock()
        if result == .accepted { state.withLock { $0.accepted += batches.map(\.id) } }
        return result
    }
}
