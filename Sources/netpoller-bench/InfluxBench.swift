import Foundation
import InfluxOutput
import LineProtocol
import Logging
import NetPollerCore
import NetPollerRuntime
import Pipeline

/// `make bench-influx`, the agent's half: real poll batches (a warm-up cycle of a narrow interface profile) replayed
/// with new timestamps through the real delivery path — SampleQueue → SinkRunner (default batch size) → InfluxSink →
/// influxd — until `points` lines are stored. Timed from the first push until the sink has accepted every sample;
/// agent CPU is this process's utime + stime over the same span. The exact request bodies of one run (batch_size
/// samples each) are written to `bodies` so the script can post them with `curl --next` over one connection.
/// `NP_SKIP_BODIES=1` skips writing them and the encoding-alone measurement (for profiling the agent's half alone);
/// `NP_NOOP_SINK=1` replaces the sink by one that accepts at once (the delivery pipeline's own cost).
enum InfluxBench {
    static let logger = Logger(label: "bench")
    nonisolated(unsafe) static var base: Int64 = 0

    static func run(
        batches: [SampleBatch], url: String, points target: Int, bodies: String, only phase: String? = nil,
        bodiesOnly: Bool = false
    ) async throws {
        let perRound = batches.reduce(0) { $0 + $1.count }
        let rounds = max(1, target / max(1, perRound))
        // Recent times: the spool drops data older than its max_age.
        base = WallClock.nanos() - Int64(rounds + 1) * 10_000_000_000
        print("influx: \(batches.count) batches per round, \(perRound) points per round, \(rounds) rounds")
        try FileManager.default.createDirectory(atPath: bodies, withIntermediateDirectories: true)
        // The curl half's input: the same lines, cut at the same batch size the runner uses.
        let policy = DeliveryPolicy()
        var body: [UInt8] = []
        var samples = 0
        var files = 0
        func flush() throws {
            guard !body.isEmpty else { return }
            files += 1
            try Data(body).write(to: URL(fileURLWithPath: "\(bodies)/\(String(format: "%05d", files)).lp"))
            body.removeAll(keepingCapacity: true)
            samples = 0
        }
        var encoder = LineProtocol.Encoder()
        let skipBodies = ProcessInfo.processInfo.environment["NP_SKIP_BODIES"] != nil
        // NP_ENCODE_ONLY=N: the encoding-alone figure N times, then stop (for work on the encoder).
        let encodeRuns = Int(ProcessInfo.processInfo.environment["NP_ENCODE_ONLY"] ?? "") ?? 1
        let sink = OutputBytes(capacity: 1 << 20)
        // NP_COLD=1: as in the pipeline, where the server's work between two writes evicts the caches — a write's
        // worth of lines into one body, and 64 MiB written over (not timed) before each write.
        let cold = ProcessInfo.processInfo.environment["NP_COLD"] != nil
        var evict = [UInt8](repeating: 0, count: cold ? 64 << 20 : 0)
        for _ in 0..<encodeRuns {
            var encodeCPU = 0.0
            var encodedBytes = 0
            var started = threadCPUSeconds()
            for round in 0..<(skipBodies ? 0 : rounds) {
                for batch in shifted(batches, round: round, base: 0) {
                    if cold && sink.count >= 161 * policy.batchSize {
                        encodeCPU += threadCPUSeconds() - started
                        for i in stride(from: 0, to: evict.count, by: 64) { evict[i] &+= 1 }
                        started = threadCPUSeconds()
                    }
                    if !cold || sink.count >= 161 * policy.batchSize { sink.removeAll() }
                    let before = sink.count
                    encoder.encode(batch, precision: .ns, into: sink)
                    encodedBytes += sink.count - before
                }
            }
            encodeCPU += threadCPUSeconds() - started
            print(
                String(
                    format:
                        "influx: line protocol encoding alone%@: %.3f CPU-s per million points (%d bytes per point)",
                    cold ? " (cold caches)" : "", encodeCPU / Double(rounds * perRound) * 1e6,
                    encodedBytes / max(1, rounds * perRound)))
        }
        if ProcessInfo.processInfo.environment["NP_ENCODE_ONLY"] != nil { return }
        for round in 0..<(skipBodies ? 0 : rounds) {
            for batch in shifted(batches, round: round, base: 0) {
                encoder.encode(batch, precision: .ns, into: &body)
                samples += batch.count
                if samples >= policy.batchSize { try flush() }
            }
        }
        try flush()
        print("influx: \(files) request bodies of up to \(policy.batchSize) points written for curl")
        if bodiesOnly { return }

        let phases = [
            ("bench_agent", false, false), ("bench_agent_gzip", true, false), ("bench_agent_spool", false, true),
        ]
        let names = ["first": "bench_agent", "gzip": "bench_agent_gzip", "spool": "bench_agent_spool"]
        // NP_DB_SUFFIX: appended to the database names (a fresh database for each run of a phase).
        let suffix = ProcessInfo.processInfo.environment["NP_DB_SUFFIX"] ?? ""
        for (name, gzip, spool) in phases where phase == nil || names[phase!] == name {
            let database = name + suffix
            var options = InfluxOptions(name: database, url: url)
            options.database = database
            options.createDatabase = true
            options.gzip = gzip
            let sink = InfluxSink(options: options, metrics: nil, logger: logger)
            let noop = ProcessInfo.processInfo.environment["NP_NOOP_SINK"] != nil
            let result = try await replay(
                batches, sink: noop ? NoopSink(name: database) : sink, rounds: rounds, perRound: perRound, spool: spool,
                directory: bodies + "-spool")
            await sink.close()
            let label = "gzip \(gzip ? "on" : "off"), spool \(spool ? "on" : "off")"
            print(
                String(
                    format: "influx agent (%@): %d points in %.2f s wall, %.3f agent CPU-s", label, result.points,
                    result.wall, result.cpu))
            print(
                String(
                    format: "RESULT influx agent (%@) points/s: %.0f; agent CPU-s per million points: %.3f", label,
                    Double(result.points) / result.wall, result.cpu / Double(result.points) * 1e6))
        }
    }

    static func shifted(_ batches: [SampleBatch], round: Int, base: Int64) -> [SampleBatch] {
        batches.map { original in
            var batch = original
            batch.timestampNanos = Self.base + Int64(round) * 10_000_000_000 + Int64(batch.id)
            batch.id = Schedule.batchID(device: batch.device, timestampNanos: batch.timestampNanos)
            return batch
        }
    }

    static func replay(
        _ batches: [SampleBatch], sink: any Sink, rounds: Int, perRound: Int, spool: Bool, directory: String
    ) async throws -> (points: Int, wall: Double, cpu: Double) {
        var policy = DeliveryPolicy()
        policy.flushInterval = .milliseconds(100)
        policy.spool = spool ? SpoolPolicy(directory: "\(directory)/\(sink.name)") : nil
        policy.bufferSamples = 10_000_000
        let queue = SampleQueue(capacity: 100_000_000)
        let runner = SinkRunner(queue: queue, metrics: nil, logger: logger)
        try await runner.add(sink, type: "influxdb", policy: policy, onStartUnavailable: .fail)
        let task = Task { await runner.run() }
        func accepted() -> Int { runner.status.first?.acceptedSamples ?? 0 }
        // Every round's batches, re-stamped before the clock starts: making a batch is the pollers' work, not the
        // pipeline's. A round is handed over as it is pushed, so the pipeline still frees each batch it delivered.
        var prepared = (0..<rounds).map { shifted(batches, round: $0, base: 0) }
        let clock = ContinuousClock()
        let threads0 = threadCPU()
        let split0 = (sink as? InfluxSink)?.threadCPU
        let cpu0 = cpuSeconds()
        let t0 = clock.now
        // A producer faster than the sink, as polling is during a backlog: a dozen writes ahead, no more. It looks at
        // the runner's status every 100 ms (each look builds every sink's status and wakes threads: harness cost, not
        // the agent's, so it looks as seldom as keeps the sink fed).
        // The producer's own CPU (pushing, looking at the status), measured on whichever thread runs each
        // stretch between its sleeps: it stands in for the pollers and is shown apart from the agent's pipeline.
        var producerCPU = 0.0
        for round in 0..<rounds {
            var started = threadCPUSeconds()
            while accepted() < perRound * round - max(8 * perRound, 60_000) {
                producerCPU += threadCPUSeconds() - started
                try await Task.sleep(for: .milliseconds(100))
                started = threadCPUSeconds()
            }
            let ready = prepared[round]
            prepared[round] = []
            for batch in ready { queue.push(batch) }
            producerCPU += threadCPUSeconds() - started
        }
        // Polled every 10 ms: this loop's own cost stays out of the agent's CPU figure (1 ms polling cost ~10%).
        while accepted() < perRound * rounds { try await Task.sleep(for: .milliseconds(10)) }
        let wall = (clock.now - t0).seconds
        let cpu = cpuSeconds() - cpu0
        printThreadCPU(since: threads0, total: cpu, points: perRound * rounds)
        if let split0, let split = (sink as? InfluxSink)?.threadCPU {
            print(
                String(
                    format: "influx: of the sink thread's CPU-s per million points: encoding %.3f, sending (curl and "
                        + "kernel) %.3f", (split.encoding - split0.encoding) / Double(perRound * rounds) * 1e6,
                    (split.sending - split0.sending) / Double(perRound * rounds) * 1e6))
        }
        print(
            String(
                format: "influx: of which the benchmark's producer (stand-in for the pollers): %.3f CPU-s per million "
                    + "points; the pipeline without it: %.3f", producerCPU / Double(perRound * rounds) * 1e6,
                (cpu - producerCPU) / Double(perRound * rounds) * 1e6))
        queue.close()
        await task.value
        await runner.drain(until: SystemDeliveryClock().now + .seconds(5))
        return (perRound * rounds, wall, cpu)
    }
}

/// CPU seconds of the calling thread.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// One thread's figures: its name, CPU seconds (schedstat, nanosecond accounting), user and system seconds (stat, in
/// clock ticks) and context switches (voluntary + involuntary).
struct ThreadFigures {
    var name: String
    var cpu: Double
    var user: Double
    var system: Double
    var switches: Int
}

/// Every thread's figures, by thread id, from /proc/self/task.
func threadCPU() -> [String: ThreadFigures] {
    var out: [String: ThreadFigures] = [:]
    guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return out }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    for tid in tids {
        let task = "/proc/self/task/\(tid)"
        guard let comm = try? String(contentsOfFile: "\(task)/comm", encoding: .utf8),
            let sched = try? String(contentsOfFile: "\(task)/schedstat", encoding: .utf8),
            let first = sched.split(separator: " ").first, let nanos = Double(first),
            let stat = try? String(contentsOfFile: "\(task)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "\(task)/status", encoding: .utf8)
        else { continue }
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let switches = status.split(separator: "\n").filter { $0.contains("ctxt_switches") }
            .compactMap { $0.split(separator: "\t").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        out[tid] = ThreadFigures(
            name: comm.trimmingCharacters(in: .whitespacesAndNewlines), cpu: nanos / 1e9,
            user: (Double(fields[11]) ?? 0) / ticks, system: (Double(fields[12]) ?? 0) / ticks,
            switches: switches.reduce(0, +))
    }
    return out
}

/// Where the agent's CPU went over a span, per million points: by thread name (user/system split and context switches
/// per million points in brackets); threads that ended in the span are in "other".
func printThreadCPU(since start: [String: ThreadFigures], total: Double, points: Int) {
    var byName: [String: ThreadFigures] = [:]
    for (tid, now) in threadCPU() {
        let name = now.name
        let label = name.hasSuffix("default-qos") ? "swift-pool" : name.hasSuffix("overcommit") ? "dispatch" : name
        let before = start[tid] ?? ThreadFigures(name: name, cpu: 0, user: 0, system: 0, switches: 0)
        var sum = byName[label] ?? ThreadFigures(name: label, cpu: 0, user: 0, system: 0, switches: 0)
        sum.cpu += now.cpu - before.cpu
        sum.user += now.user - before.user
        sum.system += now.system - before.system
        sum.switches += now.switches - before.switches
        byName[label] = sum
    }
    let other = max(0, total - byName.values.reduce(0) { $0 + $1.cpu })
    let scale = 1e6 / Double(points)
    let parts = byName.values.sorted { $0.cpu > $1.cpu }.filter { $0.cpu >= 0.0005 }
        .map {
            String(
                format: "%@ %.3f (user %.3f, sys %.3f, %.0f switches)", $0.name, $0.cpu * scale, $0.user * scale,
                $0.system * scale, Double($0.switches) * scale)
        }
    print(
        "influx agent CPU-s per million points by thread: " + parts.joined(separator: ", ")
            + String(format: ", other %.3f", other * scale))
}

struct NoopSink: Sink {
    let name: String
    func write(_ batches: [SampleBatch]) async -> SinkResult { .accepted }
}
