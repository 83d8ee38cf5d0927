import FileOutput
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import Pipeline
import SNMPPolling
import Synchronization

// The polling benchmark: N devices (sessions) spread over snmpd instances, per device per cycle a GET of
// sysUpTime/sysName/sysDescr and walks of ifTable and ifXTable, `inFlight` devices at a time. Runs the real poll path:
// SNMPEngine (net-snmp I/O thread) → DevicePoller (OID → samples) → SampleQueue → LatestValueCache.
// Prints varbinds per agent CPU-second (utime + stime of this process) and wall time per cycle.

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func cpuSeconds() -> Double { ProcessCPU.seconds() }

let ports = argument("ports", "161").split(separator: ",").compactMap { Int($0) }
let deviceCount = Int(argument("devices", "64")) ?? 64
let inFlight = Int(argument("in-flight", "16")) ?? 16
let maxRepetitions = Int(argument("max-repetitions", "25")) ?? 25
let cycles = Int(argument("cycles", "5")) ?? 5

let benchProfile = Profile(
    name: "bench",
    scalars: [
        ScalarGroup(
            measurement: "system",
            fields: [
                FieldSpec("sysUpTime", OID("1.3.6.1.2.1.1.3.0")!), FieldSpec("sysName", OID("1.3.6.1.2.1.1.5.0")!),
                FieldSpec("sysDescr", OID("1.3.6.1.2.1.1.1.0")!),
            ])
    ],
    tables: BuiltinProfiles.ifMIB.tables.map { table in
        // The whole ifTable and ifXTable: every column, as the workload specifies (1,971 varbinds per device).
        var t = table
        t.fields += [
            FieldSpec("ifIndex", OID("1.3.6.1.2.1.2.2.1.1")!),
            FieldSpec("ifHighSpeedX", OID("1.3.6.1.2.1.31.1.1.1.15")!),
        ]
        return t
    })

let metrics = SelfMetrics()
let engine = SNMPEngine(metrics: metrics)
let poller = DevicePoller(
    transport: engine, profiles: ["bench": benchProfile], userProfiles: [], defaultSet: ["bench"])
let queue = SampleQueue(capacity: 10_000_000, metrics: metrics)
let cache = LatestValueCache()
let targets = (0..<deviceCount).map { i in
    SNMPTarget(
        peer: "udp:127.0.0.1:\(ports[i % ports.count])", version: .v2c, community: "public", timeout: .seconds(5),
        retries: 1)
}

/// `--learn 1`: each device's request sizes are learned, as the agent does by default (`learn_request_sizes`).
let learn = argument("learn", "0") == "1"
let learned = Mutex<[Int: LearnedRequests]>([:])

/// The batches of the last cycle (realistic spool input).
let lastBatches = Mutex<[SampleBatch]>([])

/// SNMPv3 authPriv targets for the same fleet (`--v3-user NAME --v3-auth PASS --v3-priv PASS`): SHA-256 and AES-128.
let v3Targets: [SNMPTarget] = {
    let user = argument("v3-user", "")
    guard !user.isEmpty else { return [] }
    let usm = USMCredential(
        username: user, level: .authPriv, authProtocol: .sha256, authPassword: Secret(argument("v3-auth", "")),
        privProtocol: .aes, privPassword: Secret(argument("v3-priv", "")))
    return (0..<deviceCount).map { i in
        SNMPTarget(peer: "udp:127.0.0.1:\(ports[i % ports.count])", usm: usm, timeout: .seconds(5), retries: 1)
    }
}()

func cycle(drain: Bool = true, over fleet: [SNMPTarget] = targets) async -> (
    varbinds: Int, samples: Int, failures: Int
) {
    let limiter = AsyncLimiter(limit: inFlight)
    let totals = await withTaskGroup(of: (Int, Int, Int).self) { group in
        for (i, target) in fleet.enumerated() {
            group.addTask {
                await limiter.acquire()
                let outcome: PollOutcome
                if learn {
                    let key = i + (target.usm == nil ? 0 : 1_000_000)
                    var options = PollOptions(maxRepetitions: maxRepetitions)
                    options.learner =
                        learned.withLock { $0[key] }
                        ?? LearnedRequests(
                            getSize: 32, maxRepetitions: maxRepetitions, getCeiling: 64,
                            repetitionsCeiling: max(maxRepetitions, AgentSettings.defaultMaxRepetitionsLimit))
                    let report = await poller.poll(target, explicitProfiles: ["bench"], known: nil, options: options)
                    learned.withLock { $0[key] = report.learned }
                    outcome = report.outcome
                } else {
                    outcome = await poller.poll(
                        target, explicitProfiles: ["bench"], known: nil, maxRepetitions: maxRepetitions)
                }
                limiter.release()
                let batch = SampleBatch(
                    id: UInt64(i), device: "dev\(i)", deviceTags: [], timestampNanos: WallClock.nanos(),
                    samples: outcome.samples)
                lastBatches.withLock { $0.append(batch) }
                queue.push(batch)
                return (outcome.varbinds, outcome.samples.count, outcome.errors.isEmpty ? 0 : 1)
            }
        }
        var sum = (0, 0, 0)
        for await r in group { sum = (sum.0 + r.0, sum.1 + r.1, sum.2 + r.2) }
        return sum
    }
    if drain {
        while queue.count > 0, let batch = await queue.next() { cache.store(batch) }
    }
    return totals
}

lastBatches.withLock { $0.removeAll() }
// With learning, three cycles to let max-repetitions grow to what the devices take (25 → 37 → 55 → 64).
if learn { for _ in 0..<3 { _ = await cycle() } }
lastBatches.withLock { $0.removeAll() }
let warm = await cycle()
let realBatches = lastBatches.withLock { $0 }
print(
    "warm-up: \(warm.varbinds) varbinds, \(warm.varbinds / max(1, deviceCount)) per device, failures \(warm.failures)")
if argument("mode", "polling") == "influx" {
    // Narrow points (InfluxDB's cost grows with point width): the interface counters a dashboard graphs.
    let kept: Set<String> = ["ifHCInOctets", "ifHCOutOctets", "ifInErrors", "ifOutErrors", "ifOperStatus", "sysUpTime"]
    let narrow = realBatches.map { batch in
        var batch = batch
        batch.samples = batch.samples.map { sample in
            var sample = sample
            sample.fields = sample.fields.filter { kept.contains($0.name) }
            return sample
        }
        return batch
    }
    try await InfluxBench.run(
        batches: narrow, url: argument("influx-url", ""), points: Int(argument("points", "1000000")) ?? 1_000_000,
        bodies: argument("bodies", "/tmp/netpoller-influx-bodies"),
        only: ["first", "gzip", "spool"].contains(argument("phases", "all")) ? argument("phases", "all") : nil,
        bodiesOnly: argument("phases", "all") == "bodies")
    await engine.shutdown()
    exit(0)
}
if argument("mode", "polling") == "postgres" {
    try await PostgresBench.run(
        batches: realBatches, conninfo: argument("pg-conninfo", ""), rows: Int(argument("rows", "2000000")) ?? 2_000_000
    )
    await engine.shutdown()
    exit(0)
}
let clock = ContinuousClock()
let cpu0 = cpuSeconds()
let t0 = clock.now
var varbinds = 0
var failures = 0
for _ in 0..<cycles {
    let r = await cycle()
    varbinds += r.varbinds
    failures += r.failures
}
let wall = clock.now - t0
let cpu = cpuSeconds() - cpu0
let wallSeconds = wall.seconds
print(
    String(
        format: "devices %d, in flight %d, max-repetitions %d, cycles %d, failures %d", deviceCount, inFlight,
        maxRepetitions, cycles, failures))
print(
    String(
        format: "varbinds: %d (%.0f per device per cycle)", varbinds, Double(varbinds) / Double(deviceCount * cycles)))
print(String(format: "agent CPU: %.3f s (utime+stime); wall per cycle: %.3f s", cpu, wallSeconds / Double(cycles)))
print(String(format: "RESULT varbinds per agent CPU-second: %.0f", Double(varbinds) / cpu))

// SNMPv3 authPriv (SHA-256/AES-128) on the same fleet, in the same run: the cost of USM per varbind. v2c and v3
// cycles alternate (v2c, v3, v2c, v3, …) so that neither side gets the quieter machine; each side's CPU is summed.
if !v3Targets.isEmpty {
    if learn { for _ in 0..<3 { _ = await cycle(over: v3Targets) } }
    let v3Warm = await cycle(over: v3Targets)
    print("v3 warm-up: \(v3Warm.varbinds) varbinds, failures \(v3Warm.failures)")
    var totals = [(varbinds: 0, cpu: 0.0, failures: 0), (varbinds: 0, cpu: 0.0, failures: 0)]
    for _ in 0..<(cycles * 2) {
        for (side, fleet) in [targets, v3Targets].enumerated() {
            let before = cpuSeconds()
            let r = await cycle(over: fleet)
            totals[side].cpu += cpuSeconds() - before
            totals[side].varbinds += r.varbinds
            totals[side].failures += r.failures
        }
    }
    let (v2, v3) = (totals[0], totals[1])
    print(
        String(
            format:
                "alternating, %d cycles each: v2c %d varbinds in %.3f CPU-s (failures %d); v3 %d in %.3f (failures %d)",
            cycles * 2, v2.varbinds, v2.cpu, v2.failures, v3.varbinds, v3.cpu, v3.failures))
    print(String(format: "RESULT v2c (alternating) varbinds per agent CPU-second: %.0f", Double(v2.varbinds) / v2.cpu))
    print(
        String(format: "RESULT v3 authPriv varbinds per agent CPU-second: %.0f", Double(v3.varbinds) / v3.cpu))
    let sizes = learned.withLock { $0.values.map(\.repetitions.current) }
    let note =
        learn ? "learned max-repetitions \(sizes.min() ?? 0)–\(sizes.max() ?? 0)" : "max-repetitions \(maxRepetitions)"
    let ratio = (v3.cpu / Double(max(1, v3.varbinds))) / (v2.cpu / Double(max(1, v2.varbinds)))
    print(String(format: "RESULT v3 CPU per varbind / v2c (%@): %.2fx (target <= 1.3x)", note, ratio))
}

// Spool write throughput: the warm-up's real batches appended to a sink's spool with nobody taking them.
let benchDir = FileManager.default.temporaryDirectory.appendingPathComponent("netpoller-bench-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: benchDir) }
for fsync in [SpoolPolicy.Fsync.interval(.seconds(1)), .always] {
    let name = fsync == .always ? "always" : "1s"
    var policy = SpoolPolicy(directory: "\(benchDir)/spool-\(name)")
    policy.fsync = fsync
    policy.maxBytes = 8 << 30
    let buffer = try SinkBuffer(
        name: "bench", bufferSamples: 1000, spool: policy, clock: SystemDeliveryClock(), events: BufferEvents())
    let rounds = fsync == .always ? 5 : 40
    let total = realBatches.reduce(0) { $0 + $1.count } * rounds
    let spoolCPU0 = cpuSeconds()
    let spoolT0 = clock.now
    for round in 0..<rounds {
        for var batch in realBatches {
            batch.id = UInt64(round) << 32 | batch.id
            buffer.offer(batch, payload: nil)
        }
    }
    while buffer.snapshot.backlogSamples < total { try await Task.sleep(for: .milliseconds(2)) }
    let spoolWall = (clock.now - spoolT0).seconds
    let spoolCPU = cpuSeconds() - spoolCPU0
    let bytes = buffer.snapshot.spoolBytes
    _ = await buffer.finish()
    print(
        String(
            format: "spool fsync=%@: %d samples (%.1f MB) in %.3f s wall, %.3f CPU-s", name, total,
            Double(bytes) / 1e6, spoolWall, spoolCPU))
    print(
        String(
            format: "RESULT spool write throughput fsync=%@: %.0f samples/s (%.0f samples per CPU-second)", name,
            Double(total) / spoolWall, Double(total) / spoolCPU))
}

// Poll-path cost with the sink up vs down: the same poll cycles feed a file sink with a spool (the default
// delivery settings); "up" writes line protocol to /dev/null, "down" points the sink at a missing directory, so every
// batch waits in the spool and the breaker opens. Whole-process CPU per cycle (pollers, fan-out, spool, sink).
let runnerQueue = SampleQueue(capacity: 10_000_000)
let runner = SinkRunner(queue: runnerQueue, metrics: nil, logger: Logger(label: "bench"))
let delivery = {
    var policy = DeliveryPolicy()
    policy.spool = SpoolPolicy(directory: "\(benchDir)/spool-runner")
    return policy
}()
let up = FileSink(name: "archive", path: "/dev/null", format: .influx)
let down = FileSink(name: "archive", path: "\(benchDir)/missing/archive.lp", format: .influx)
try await runner.add(up, type: "file", policy: delivery, onStartUnavailable: .retry)
let runnerTask = Task { await runner.run() }

func measure(_ label: String, sink: FileSink) async -> (cpu: Double, wall: Double) {
    runner.update(sink, policy: delivery)
    _ = await pollInto(runnerQueue)
    let cpu0 = cpuSeconds()
    let t0 = clock.now
    for _ in 0..<cycles { _ = await pollInto(runnerQueue) }
    // Let the sink side settle (write or spool what this cycle produced) before reading the CPU clock.
    while runnerQueue.count > 0 { try? await Task.sleep(for: .milliseconds(5)) }
    try? await Task.sleep(for: .milliseconds(300))
    let cpu = (cpuSeconds() - cpu0) / Double(cycles)
    let wall = (clock.now - t0).seconds / Double(cycles)
    let state = runner.status.first?.state ?? "?"
    let backlog = runner.status.first?.bufferedSamples ?? 0
    print(
        String(
            format: "sink %@ (state %@, backlog %d samples): %.3f CPU-s and %.3f s wall per cycle", label, state,
            backlog, cpu, wall))
    return (cpu, wall)
}

func pollInto(_ target: SampleQueue) async -> Int {
    let limiter = AsyncLimiter(limit: inFlight)
    return await withTaskGroup(of: Int.self) { group in
        for (i, device) in targets.enumerated() {
            group.addTask {
                await limiter.acquire()
                let outcome = await poller.poll(
                    device, explicitProfiles: ["bench"], known: nil, maxRepetitions: maxRepetitions)
                limiter.release()
                let now = WallClock.nanos()
                target.push(
                    SampleBatch(
                        id: Schedule.batchID(device: "dev\(i)", timestampNanos: now), device: "dev\(i)",
                        deviceTags: [], timestampNanos: now, samples: outcome.samples))
                return outcome.varbinds
            }
        }
        var sum = 0
        for await n in group { sum += n }
        return sum
    }
}

let upCost = await measure("up", sink: up)
let downCost = await measure("down", sink: down)
print(
    String(
        format: "RESULT poll-path cost sink down / sink up: CPU %.2fx, wall %.2fx", downCost.cpu / upCost.cpu,
        downCost.wall / upCost.wall))
runnerQueue.close()
await runnerTask.value
await runner.drain(until: SystemDeliveryClock().now)
await engine.shutdown()
