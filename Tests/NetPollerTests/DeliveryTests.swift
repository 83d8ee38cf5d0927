import Foundation
import Logging
import NetPollerAgent
import NetPollerCore
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
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }.sorted().last)
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
