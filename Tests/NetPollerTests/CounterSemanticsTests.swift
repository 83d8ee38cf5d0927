import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerAgent
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import ServiceLifecycle
import Synchronization
import Testing

/// Issue 17, item 5: counters with exact semantics. Twenty scripted cases, each a few polls of a scripted device (a
/// fake transport) on a manual clock, through the real collector (profiles, mapping, `rates`), then the same through
/// a whole agent into its file sink.
@Suite(.serialized) struct CounterSemanticsTests {
    /// One poll of the scripted device: the time, sysUpTime (nil: the device has no system group), and per port its
    /// Counter32, Counter64, speed (Mbit/s) and discontinuity time. nil poll: the device timed out.
    struct Port {
        var c32: UInt32?
        var c64: UInt64?
        var speed: UInt32?
        var discontinuity: UInt32?
    }

    struct Step {
        var time: Double
        var uptime: UInt32?
        var ports: [Int: Port]
    }

    static let base = "1.3.6.1.4.1.99999.1.1"
    static let profile = """
        [[profiles]]
        name = "ctr"
        [[profiles.scalars]]
        measurement = "system"
        fields = { sysUpTime = "1.3.6.1.2.1.1.3.0" }
        [[profiles.tables]]
        measurement = "port"
        index_tag = "port"
        fields = { inOctets = { oid = "\(base).2", type = "counter" }, hcPkts = { oid = "\(base).3", type = "counter" }, ifHighSpeed = "\(base).4", ifCounterDiscontinuityTime = "\(base).5" }

        """

    static func values(_ step: Step) -> [(String, SNMPValue)] {
        var values: [(String, SNMPValue)] = []
        if let uptime = step.uptime { values.append(("1.3.6.1.2.1.1.3.0", .timeticks(uptime))) }
        for (index, port) in step.ports {
            if let v = port.c32 { values.append(("\(base).2.\(index)", .counter32(v))) }
            if let v = port.c64 { values.append(("\(base).3.\(index)", .counter64(v))) }
            if let v = port.speed { values.append(("\(base).4.\(index)", .gauge32(v))) }
            if let v = port.discontinuity { values.append(("\(base).5.\(index)", .timeticks(v))) }
        }
        return values
    }

    static func config(_ dir: URL, rates: Bool = true, extra: String = "") throws -> AgentConfiguration {
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [agent]
        state_dir = "\(dir.path)/state"
        interval = "1s"
        rates = \(rates)
        [http]
        listen = "127.0.0.1:\(Lab.freePort())"
        [credentials.snmp.default]
        community = "public"
        \(profile)
        [[devices]]
        name = "sw1"
        address = "127.0.0.1:1"
        profiles = ["ctr"]
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
    }

    /// Runs the steps through a collector; per poll, the rate fields by `port.field` and the raw `in` values.
    func run(_ steps: [Step?], rates: Bool = true) async throws -> (
        rates: [[String: Double]], raw: [[String: FieldValue]], metrics: String
    ) {
        let dir = try Lab.temporaryDirectory("counters")
        let config = try Self.config(dir, rates: rates)
        let transport = FakeTransport(script: steps.map { $0.map(Self.values) })
        let clock = Mutex(0.0)
        let metrics = SelfMetrics()
        let collector = SNMPCollector(transport: transport, metrics: metrics) { clock.withLock { $0 } }
        collector.configure(config)
        let device = try #require(config.devices.first)
        var allRates: [[String: Double]] = []
        var allRaw: [[String: FieldValue]] = []
        for step in steps {
            clock.withLock { $0 = step?.time ?? $0 + 10 }
            let outcome = await collector.poll(device)
            var rates: [String: Double] = [:]
            var raw: [String: FieldValue] = [:]
            for sample in outcome.samples where sample.measurement == "port" {
                let port = sample.tags.first { $0.key == "port" }?.value ?? "?"
                for field in sample.fields {
                    if field.name.hasSuffix("_per_second"), case .double(let v) = field.value {
                        rates["\(port).\(field.name)"] = v
                    } else {
                        raw["\(port).\(field.name)"] = field.value
                    }
                }
            }
            allRates.append(rates)
            allRaw.append(raw)
        }
        return (allRates, allRaw, String(decoding: metrics.exposition(), as: UTF8.self))
    }

    func count(_ metrics: String, _ name: String) -> Double { StatusJSON.metric(metrics, name) ?? -1 }

    // 1–3: the first value, a plain delta, and a Counter32 wrap while sysUpTime rises.
    @Test func firstValueDeltaAndWrap() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c32: 4_294_966_000, c64: 100)]),
            Step(time: 10, uptime: 2000, ports: [1: Port(c32: 4_294_967_000, c64: 1100)]),
            Step(time: 20, uptime: 3000, ports: [1: Port(c32: 704, c64: 2100)]),
        ])
        #expect(r.rates[0].isEmpty)  // 1: no previous value
        #expect(r.rates[1]["1.inOctets_per_second"] == 100)  // 2: 1000 in 10 s
        #expect(r.rates[1]["1.hcPkts_per_second"] == 100)
        #expect(r.rates[2]["1.inOctets_per_second"] == 100)  // 3: 704 + 2^32 − 4,294,967,000 = 1000
        #expect(count(r.metrics, "netpoller_counter_wraps_total") == 1)
        #expect(count(r.metrics, "netpoller_counter_resets_total") == 0)
        // Raw counters stay as they are.
        #expect(r.raw[2]["1.inOctets"] == .uint(704))
    }

    // 4: a reboot (sysUpTime back to near zero): a reset, no delta; the next poll rates again.
    @Test func rebootIsAResetNotAWrap() async throws {
        let r = try await run([
            Step(time: 0, uptime: 100_000, ports: [1: Port(c32: 50_000, c64: 50_000)]),
            Step(time: 10, uptime: 500, ports: [1: Port(c32: 300, c64: 300)]),
            Step(time: 20, uptime: 1500, ports: [1: Port(c32: 1300, c64: 1300)]),
        ])
        #expect(r.rates[1].isEmpty)
        #expect(r.rates[2]["1.inOctets_per_second"] == 100)
        #expect(count(r.metrics, "netpoller_counter_resets_total") == 2)  // both counters of the port
        #expect(count(r.metrics, "netpoller_counter_wraps_total") == 0)
    }

    // 5–6: sysUpTime wrapping after 497 days is not a reboot; a decrease that does not match the wall time is.
    @Test func sysUpTimeWrapAfter497Days() async throws {
        let wrap = try await run([
            Step(time: 0, uptime: 4_294_967_000, ports: [1: Port(c32: 1000)]),
            Step(time: 10, uptime: 704, ports: [1: Port(c32: 2000)]),
        ])
        #expect(wrap.rates[1]["1.inOctets_per_second"] == 100)  // 10 s of device time across the wrap
        let reboot = try await run([
            Step(time: 0, uptime: 4_294_967_000, ports: [1: Port(c32: 1000)]),
            Step(time: 10, uptime: 90_000, ports: [1: Port(c32: 2000)]),
        ])
        #expect(reboot.rates[1].isEmpty)
        #expect(count(reboot.metrics, "netpoller_counter_resets_total") == 1)
    }

    // 7–8: ifCounterDiscontinuityTime changing is a reset; unchanged, the counters rate normally.
    @Test func discontinuityTime() async throws {
        let r = try await run([
            Step(
                time: 0, uptime: 1000,
                ports: [1: Port(c32: 1000, discontinuity: 5), 2: Port(c32: 1000, discontinuity: 7)]),
            Step(
                time: 10, uptime: 2000,
                ports: [1: Port(c32: 1500, discontinuity: 900), 2: Port(c32: 2000, discontinuity: 7)]),
        ])
        #expect(r.rates[1]["1.inOctets_per_second"] == nil)  // 7
        #expect(r.rates[1]["2.inOctets_per_second"] == 100)  // 8
        #expect(count(r.metrics, "netpoller_counter_resets_total") == 1)
    }

    // 9–10: a Counter64 decrease is implausible (flagged, not emitted), and rating resumes from the new value; a big
    // Counter64 step is fine.
    @Test func counter64DecreaseIsImplausible() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c64: 1_000_000_000_000)]),
            Step(time: 10, uptime: 2000, ports: [1: Port(c64: 5_000_000_000)]),
            Step(time: 20, uptime: 3000, ports: [1: Port(c64: 10_000_000_000)]),
        ])
        #expect(r.rates[1]["1.hcPkts_per_second"] == nil)  // 9
        #expect(r.rates[2]["1.hcPkts_per_second"] == 500_000_000)  // 10
        #expect(count(r.metrics, "netpoller_implausible_deltas_total") == 1)
        #expect(count(r.metrics, "netpoller_counter_wraps_total") == 0)
    }

    // 11: a series without a previous value (a new port) gives no rate, the others do.
    @Test func newPortHasNoPreviousValue() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c32: 100)]),
            Step(time: 10, uptime: 2000, ports: [1: Port(c32: 1100), 2: Port(c32: 5000)]),
        ])
        #expect(r.rates[1]["1.inOctets_per_second"] == 100)
        #expect(r.rates[1]["2.inOctets_per_second"] == nil)
    }

    // 12: a poll after a timeout rates over the whole gap.
    @Test func pollAfterATimeout() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c32: 100)]),
            nil,
            Step(time: 20, uptime: 3000, ports: [1: Port(c32: 4100)]),
        ])
        #expect(r.rates[1].isEmpty)
        #expect(r.rates[2]["1.inOctets_per_second"] == 200)  // 4000 in 20 s
    }

    // 13: an interface that disappears and comes back starts afresh (its counter may have restarted).
    @Test func interfaceThatDisappearsAndComesBack() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c32: 100), 2: Port(c32: 90_000)]),
            Step(time: 10, uptime: 2000, ports: [1: Port(c32: 1100)]),
            Step(time: 20, uptime: 3000, ports: [1: Port(c32: 2100), 2: Port(c32: 50)]),
            Step(time: 30, uptime: 4000, ports: [1: Port(c32: 3100), 2: Port(c32: 1050)]),
        ])
        #expect(r.rates[2]["2.inOctets_per_second"] == nil)
        #expect(r.rates[3]["2.inOctets_per_second"] == 100)
        #expect(count(r.metrics, "netpoller_counter_wraps_total") == 0)
        #expect(count(r.metrics, "netpoller_counter_resets_total") == 0)
    }

    // 14–16: the interface speed bounds a delta: above it is implausible, at it is fine, and a "wrap" above it is no
    // wrap.
    @Test func interfaceSpeedBoundsTheDelta() async throws {
        let r = try await run([
            Step(
                time: 0, uptime: 1000,
                ports: [1: Port(c32: 0, speed: 1), 2: Port(c32: 0, speed: 1), 3: Port(c32: 4_294_000_000, speed: 1)]),
            Step(
                time: 10, uptime: 2000,
                ports: [
                    1: Port(c32: 10_000_000, speed: 1), 2: Port(c32: 1_000_000, speed: 1),
                    3: Port(c32: 5_000_000, speed: 1),
                ]),
        ])
        #expect(r.rates[1]["1.inOctets_per_second"] == nil)  // 14: 10 MB in 10 s on 1 Mbit/s
        #expect(r.rates[1]["2.inOctets_per_second"] == 100_000)  // 15: 1 MB in 10 s = 0.8 Mbit/s
        #expect(r.rates[1]["3.inOctets_per_second"] == nil)  // 16: a 5.97 MB "wrap" on 1 Mbit/s
        #expect(count(r.metrics, "netpoller_implausible_deltas_total") == 2)
    }

    // 17–18: without sysUpTime a Counter32 decrease cannot be told from a restart (reset); increases rate by the
    // poll clock.
    @Test func withoutSysUpTime() async throws {
        let r = try await run([
            Step(time: 0, uptime: nil, ports: [1: Port(c32: 4_294_967_000), 2: Port(c32: 100)]),
            Step(time: 10, uptime: nil, ports: [1: Port(c32: 704), 2: Port(c32: 600)]),
        ])
        #expect(r.rates[1]["1.inOctets_per_second"] == nil)  // 17
        #expect(r.rates[1]["2.inOctets_per_second"] == 50)  // 18
        #expect(count(r.metrics, "netpoller_counter_resets_total") == 1)
    }

    // 19–20: the device's own elapsed time (sysUpTime) wins over the poll clock's, and no elapsed time means no rate.
    @Test func deviceTimeAndZeroElapsed() async throws {
        let r = try await run([
            Step(time: 0, uptime: 1000, ports: [1: Port(c32: 0)]),
            Step(time: 12, uptime: 2000, ports: [1: Port(c32: 1000)]),
            Step(time: 12, uptime: 2000, ports: [1: Port(c32: 1000)]),
        ])
        #expect(r.rates[1]["1.inOctets_per_second"] == 100)  // 19: 10 s of device time, not 12 of ours
        #expect(r.rates[2]["1.inOctets_per_second"] == nil)  // 20
    }

    @Test func withoutRatesNothingIsDerivedOrCounted() async throws {
        let r = try await run(
            [
                Step(time: 0, uptime: 1000, ports: [1: Port(c32: 4_294_966_000)]),
                Step(time: 10, uptime: 2000, ports: [1: Port(c32: 704)]),
            ], rates: false)
        #expect(r.rates.allSatisfy { $0.isEmpty })
        #expect(r.raw[1]["1.inOctets"] == .uint(704))
        #expect(count(r.metrics, "netpoller_counter_wraps_total") == 0)
    }

    /// The same semantics through a whole agent: the scripted device polled on the agent's schedule, the rates in its
    /// file sink next to the raw counters, and `/metrics/devices` raw only.
    @Test func ratesComeOutOfTheFileSink() async throws {
        let dir = try Lab.temporaryDirectory("counters-agent")
        let out = dir.appendingPathComponent("out.lp").path
        let config = try Self.config(dir, extra: "[[outputs.file]]\npath = \"\(out)\"\nformat = \"influx\"\n")
        let steps: [Step?] = [
            Step(time: 1000, uptime: 1000, ports: [1: Port(c32: 4_294_966_000)]),
            Step(time: 1010, uptime: 2000, ports: [1: Port(c32: 4_294_967_000)]),
            Step(time: 1020, uptime: 3000, ports: [1: Port(c32: 704)]),
            Step(time: 1030, uptime: 500, ports: [1: Port(c32: 100)]),
        ]
        let transport = FakeTransport(script: steps.map { $0.map(Self.values) })
        let times = steps.map { $0?.time ?? 0 }
        let metrics = SelfMetrics()
        let collector = SNMPCollector(transport: transport, metrics: metrics) {
            times[max(0, min(transport.step, times.count - 1))]
        }
        let logger = Logger(label: "test")
        let agent = Agent(
            config: config, logger: logger, metrics: metrics, collectors: [collector], outputs: BuiltinPlugins.outputs)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: agent)], gracefulShutdownSignals: [], logger: logger))
        let running = Task { try await group.run() }
        let written = await eventually(30) {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("port,") }.count >= 4
        }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(written)
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.hasPrefix("port,") }
        #expect(lines.count >= 4, "\(lines)")
        guard lines.count >= 4 else { return }
        #expect(!lines[0].contains("_per_second"))
        #expect(lines[1].contains("inOctets_per_second=100"), "\(lines[1])")
        #expect(lines[2].contains("inOctets_per_second=100") && lines[2].contains("inOctets=704i"), "\(lines[2])")
        #expect(!lines[3].contains("_per_second"), "\(lines[3])")  // the reboot
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(StatusJSON.metric(exposition, "netpoller_counter_wraps_total") == 1)
        #expect(StatusJSON.metric(exposition, "netpoller_counter_resets_total") == 1)
    }
}
