import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Testing

@Suite struct PipelineTests {
    func batch(_ device: String, samples: Int) -> SampleBatch {
        SampleBatch(
            id: 0, device: device, deviceTags: [], timestampNanos: 0,
            samples: Array(
                repeating: Sample(measurement: "m", tags: [], fields: [Field(name: "f", value: .int(1), kind: .gauge)]),
                count: samples))
    }

    @Test func fullQueueDropsTheOldestAndCountsThem() async {
        let metrics = SelfMetrics()
        let queue = SampleQueue(capacity: 10, metrics: metrics)
        #expect(queue.push(batch("a", samples: 4)) == 0)
        #expect(queue.push(batch("b", samples: 4)) == 0)
        #expect(queue.push(batch("c", samples: 4)) == 4)
        #expect(queue.count == 8)
        #expect(await queue.next()?.device == "b")
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("netpoller_dropped_samples_total{reason=\"queue_full\"} 4"))
        #expect(text.contains("netpoller_queue_capacity_samples 10"))
    }

    @Test func closedQueueDrainsThenEnds() async {
        let queue = SampleQueue(capacity: 100)
        queue.push(batch("a", samples: 1))
        queue.close()
        #expect(await queue.next()?.device == "a")
        #expect(await queue.next() == nil)
    }

    @Test func theRunnerTakesEveryWaitingBatchInOrderInOneStep() async {
        let queue = SampleQueue(capacity: 100)
        for name in ["a", "b", "c"] { queue.push(batch(name, samples: 2)) }
        #expect(await queue.nextBatches(max: 2).map(\.device) == ["a", "b"])
        #expect(queue.count == 2)
        #expect(await queue.nextBatches(max: 2).map(\.device) == ["c"])
        async let later = queue.nextBatches(max: 8)
        try? await Task.sleep(for: .milliseconds(50))
        queue.push(batch("d", samples: 1))
        #expect(await later.map(\.device) == ["d"])
        queue.close()
        #expect(await queue.nextBatches(max: 8).isEmpty)
    }

    @Test func waitingConsumerGetsTheNextPush() async {
        let queue = SampleQueue(capacity: 100)
        async let next = queue.next()
        try? await Task.sleep(for: .milliseconds(50))
        queue.push(batch("late", samples: 1))
        #expect(await next?.device == "late")
    }

    @Test func thousandDevicesDoNotFireInTheSameMillisecond() {
        let interval = Duration.seconds(60)
        var slots = Set<Int64>()
        for i in 0..<1000 {
            let schedule = Schedule(name: "device-\(i)", interval: interval)
            #expect(schedule.phase >= .zero && schedule.phase < interval)
            slots.insert(
                schedule.phase.components.seconds * 1000 + schedule.phase.components.attoseconds / 1_000_000_000_000_000
            )
        }
        // 1,000 phases over 60,000 ms: almost all distinct milliseconds (a birthday bound allows a few collisions).
        #expect(slots.count > 980)
        let first = (0..<1000).map { Schedule(name: "device-\($0)", interval: interval).firstDue(start: .zero) }
        #expect(Set(first).count > 990)
        #expect(first.allSatisfy { $0 < .seconds(5) })
    }

    @Test func nextDueKeepsThePhaseAndCountsMissedSlots() {
        let schedule = Schedule(name: "r1", interval: .seconds(10))
        let phase = schedule.phase
        #expect(schedule.nextDue(after: phase) == phase + .seconds(10))
        #expect(schedule.nextDue(after: phase + .seconds(3)) == phase + .seconds(10))
        #expect(schedule.missedSlots(due: phase, finished: phase + .seconds(9)) == 0)
        #expect(schedule.missedSlots(due: phase, finished: phase + .seconds(25)) == 2)
        #expect(schedule.nextDue(after: phase + .seconds(25)) == phase + .seconds(30))
    }

    @Test func schedulerNeverPollsADeviceTwiceAtOnceAndReportsOverruns() async {
        actor Record {
            var running: Set<String> = []
            var overlap = false
            var polls = 0
            var ended = 0
            var overruns = 0
            func start(_ n: String) {
                if running.contains(n) { overlap = true }
                running.insert(n)
                polls += 1
            }
            func end(_ n: String) {
                running.remove(n)
                ended += 1
            }
            func overrun(_ k: Int) { overruns += k }
        }
        let record = Record()
        let clock = ManualClock()
        let scheduler = DeviceScheduler(maxInFlight: 4, startSpread: .milliseconds(10), clock: clock)
        // Every poll takes 350 ms of the manual clock against an interval of 100 ms.
        let task = Task {
            await scheduler.run(
                devices: [.init(name: "slow", interval: .milliseconds(100))],
                poll: { name in
                    await record.start(name)
                    try? await clock.sleep(until: clock.now + .milliseconds(350))
                    await record.end(name)
                },
                overrun: { _, missed in Task { await record.overrun(missed) } })
        }
        // The first slot lies within the start spread.
        #expect(await eventually { clock.hasSleeper(within: .milliseconds(10)) })
        clock.advance(by: .milliseconds(10))
        #expect(await eventually { await record.polls == 1 && clock.hasSleeper(within: .milliseconds(350)) })
        // The poll ends 350 ms later: the three slots it covered are overruns, not polls started alongside it.
        clock.advance(by: .milliseconds(350))
        #expect(
            await eventually {
                let ended = await record.ended
                let overruns = await record.overruns
                return ended == 1 && overruns == 3
            })
        #expect(await eventually { clock.hasSleeper(within: .milliseconds(100)) })
        clock.advance(by: .milliseconds(100))
        #expect(await eventually { await record.polls == 2 })
        #expect(await record.overlap == false)
        #expect(await record.overruns == 3)
        task.cancel()
        clock.advance(by: .milliseconds(350))
        await task.value
        #expect(await record.polls == 2, "no poll starts once the schedule is cancelled")
    }

    @Test func latestValueCacheExpiresStaleDevices() async {
        let now = NowBox()
        let cache = LatestValueCache(now: { now.value })
        cache.setTimeToLive(device: "a", .seconds(30))
        var b = batch("a", samples: 1)
        b.timestampNanos = 0
        cache.store(b)
        #expect(cache.latest().count == 1)
        now.value = 31_000_000_000
        #expect(cache.latest().isEmpty)
    }

    @Test func aSlowDevicesDataAgesFromItsPollsEndAndStaysWhileAPollRuns() {
        let now = NowBox()
        let cache = LatestValueCache(now: { now.value })
        cache.setTimeToLive(device: "slow", .seconds(30))
        // A poll that started at 0 and ended 100 s later: its data is fresh when stored, although it is stamped 0.
        var b = batch("slow", samples: 1)
        b.timestampNanos = 0
        now.value = 100_000_000_000
        cache.store(b)
        #expect(cache.latest().map(\.device) == ["slow"])
        // The next poll starts at 110 s and outlasts the time-to-live: the last complete data is served meanwhile.
        now.value = 110_000_000_000
        cache.setPolling(device: "slow", true)
        now.value = 200_000_000_000
        #expect(cache.latest(device: "slow").count == 1)
        // It ends without data (the device died): from then on the data expires as usual.
        cache.setPolling(device: "slow", false)
        #expect(cache.latest().isEmpty)
    }
}

final class NowBox: @unchecked Sendable {
    // Safe: tests set it between calls from one task only.
    var value: Int64 = 0
}
