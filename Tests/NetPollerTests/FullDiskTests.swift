import Foundation
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Testing

/// Issue 16, item 8: a spool on a real, small tmpfs that fills up. The memory window keeps what fits, the failure is
/// reported once per change of state, and spooling resumes by itself when space returns; nothing is delivered twice or
/// out of order.
@Suite(.serialized) struct FullDiskTests {
    /// A 512 KiB tmpfs mounted for the test (the tests run as root, like `make bench`); unmounted by `done`.
    struct SmallDisk {
        let path: String

        init() async throws {
            path = try Lab.temporaryDirectory("tmpfs").path + "/disk"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let (status, output) = try await Lab.run(
                "/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", path])
            guard status == 0 else { throw LabError.didNotStart("tmpfs (\(output)); the tests need root") }
        }

        func done() async { _ = try? await Lab.run("/usr/bin/env", ["umount", "-l", path]) }
    }

    final class Events: Sendable {
        let tally = Tally()
        var events: BufferEvents {
            var events = tally.events
            events.spoolState = { [tally] error in tally.add(error == nil ? "spool ok" : "spool failing") }
            events.spoolWriteFailed = { [tally] in tally.add("write failed", 1) }
            return events
        }
    }

    @Test func aSingleBatchLargerThanEveryWindowGoesToTheSpool() async throws {
        let tally = Tally()
        let buffer = try SinkBuffer(
            name: "big", bufferSamples: 10, spool: SpoolPolicy(directory: try spoolDirectory("big")),
            clock: SystemDeliveryClock(), events: tally.events)
        // 200,001 samples: over both the memory window and the cap on offers waiting for the buffer's queue.
        let big = numberedBatch(1, samples: 200_001)
        buffer.offer(big, payload: nil)
        #expect(await eventually { buffer.snapshot.backlogSamples == 200_001 })
        #expect(tally.count("buffer_full") == 0)
        #expect(buffer.snapshot.memorySamples == 0)
        let out = await buffer.take(maxSamples: 1)
        #expect(out.map(\.batch.count) == [200_001])
        buffer.acknowledge(out)
        await buffer.finish()
    }

    @Test func aFullSpoolDiskKeepsWhatFitsInMemoryReportsOnceAndResumesWhenSpaceReturns() async throws {
        let disk = try await SmallDisk()
        // Leave about 100 KiB for the spool.
        let filler = disk.path + "/filler"
        try Data(count: 400 << 10).write(to: URL(fileURLWithPath: filler))
        var policy = SpoolPolicy(directory: disk.path + "/spool")
        policy.fsync = .always
        policy.segmentBytes = 16 << 10
        let events = Events()
        // A memory window of 600 samples (200 batches of 3).
        let buffer = try SinkBuffer(
            name: "t", bufferSamples: 600, spool: policy, clock: SystemDeliveryClock(), events: events.events)
        // The sink is down: 400 batches arrive, about 100 KiB of spool for about 1 MiB of data.
        for id in 1...400 { buffer.offer(numberedBatch(id), payload: nil) }
        #expect(await eventually { buffer.snapshot.backlogSamples + events.tally.count("spool_error") == 1200 })
        let failedWrites = events.tally.count("write failed")
        #expect(failedWrites > 0)
        // Reported once, however many writes failed.
        #expect(events.tally.lines == ["spool failing"], "\(events.tally.lines)")
        // The memory window held what fit: drops only beyond 600 samples in memory.
        let kept = buffer.snapshot.backlogSamples
        #expect(buffer.snapshot.memorySamples == 600)
        #expect(kept > 600)
        #expect(events.tally.count("spool_error") == 1200 - kept)

        // The sink takes 100 batches (its write still in flight, so no spool space is freed); batches that arrive while
        // the disk is still full now fit in memory, out of the window, and are kept.
        let delivered = await buffer.take(maxSamples: 300)
        #expect(delivered.map(\.batch.id) == (1...100).map(UInt64.init))
        for id in 401...450 { buffer.offer(numberedBatch(id), payload: nil) }
        #expect(await eventually { buffer.snapshot.backlogSamples == kept + 150 })
        #expect(events.tally.count("spool_error") == 1200 - kept)
        #expect(events.tally.lines == ["spool failing"])

        // Space returns: spooling resumes by itself with the next batch, reported once.
        try FileManager.default.removeItem(atPath: filler)
        for id in 451...470 { buffer.offer(numberedBatch(id), payload: nil) }
        #expect(await eventually { events.tally.lines == ["spool failing", "spool ok"] })
        #expect(await eventually { buffer.snapshot.backlogSamples == kept + 210 })

        // Everything kept comes out once, in order.
        buffer.acknowledge(delivered)
        buffer.close()
        var out: [UInt64] = []
        while true {
            let entries = await buffer.take(maxSamples: 50)
            if entries.isEmpty { break }
            out += entries.map(\.batch.id)
            buffer.acknowledge(entries)
        }
        #expect(out == out.sorted())
        #expect(Set(out).count == out.count)
        #expect(out.count * 3 == kept - 300 + 210)
        #expect(out.suffix(70) == (401...470).map(UInt64.init))
        print("full tmpfs: \(failedWrites) failed spool writes, \(kept) of 1200 samples kept, reported once")
        #expect(events.tally.lines.filter { $0.contains("corrupt") || $0.contains("does not decode") }.isEmpty)
        await buffer.finish()
        await disk.done()
    }
}
