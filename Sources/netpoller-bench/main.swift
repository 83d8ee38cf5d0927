import Foundation
import NetPollerCore
import Pipeline
import SNMPPolling

// The polling benchmark: N devices (sessions) spread over snmpd instances, per device per cycle a GET of
// sysUpTime/sysName/sysDescr and walks of ifTable and ifXTable, `inFlight` devices at a time. Runs the real poll path:
// SNMPEngine (net-snmp I/O thread) → DevicePoller (OID → samples) → SampleQueue → LatestValueCache.
// Prints varbinds per agent CPU-second (utime + stime of this process) and wall time per cycle.

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

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

func cycle() async -> (varbinds: Int, samples: Int, failures: Int) {
    let limiter = AsyncLimiter(limit: inFlight)
    let totals = await withTaskGroup(of: (Int, Int, Int).self) { group in
        for (i, target) in targets.enumerated() {
            group.addTask {
                await limiter.acquire()
                let outcome = await poller.poll(
                    target, explicitProfiles: ["bench"], knownSysObjectID: nil, maxRepetitions: maxRepetitions)
                limiter.release()
                queue.push(
                    SampleBatch(
                        id: UInt64(i), device: "dev\(i)", deviceTags: [], timestampNanos: WallClock.nanos(),
                        samples: outcome.samples))
                return (outcome.varbinds, outcome.samples.count, outcome.errors.isEmpty ? 0 : 1)
            }
        }
        var sum = (0, 0, 0)
        for await r in group { sum = (sum.0 + r.0, sum.1 + r.1, sum.2 + r.2) }
        return sum
    }
    while queue.count > 0, let batch = await queue.next() { cache.store(batch) }
    return totals
}

let warm = await cycle()
print(
    "warm-up: \(warm.varbinds) varbinds, \(warm.varbinds / max(1, deviceCount)) per device, failures \(warm.failures)")
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
await engine.shutdown()
