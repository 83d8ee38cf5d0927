import Foundation
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Testing

/// One engine for the whole test process: net-snmp allows one I/O thread per process.
enum TestEngine {
    static let metrics = SelfMetrics()
    static let shared = SNMPEngine(metrics: metrics)
}

/// Real snmpd and snmpsim on loopback, polled through the real net-snmp engine.
@Suite(.serialized) struct SNMPIntegrationTests {
    static let allProfiles = Dictionary(uniqueKeysWithValues: BuiltinProfiles.all.map { ($0.name, $0) })

    func target(
        _ port: Int, community: String = "public", version: SNMPTarget.Version = .v2c, timeout: Duration = .seconds(2)
    )
        -> SNMPTarget
    {
        SNMPTarget(peer: "udp:127.0.0.1:\(port)", version: version, community: community, timeout: timeout, retries: 1)
    }

    func poller() -> DevicePoller {
        DevicePoller(
            transport: TestEngine.shared, profiles: Self.allProfiles, userProfiles: [],
            defaultSet: BuiltinProfiles.defaultSet)
    }

    @Test func realSnmpdIsPolledWithProfilesChosenBySysObjectID() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let outcome = await poller().poll(
            target(snmpd.port), explicitProfiles: nil, known: nil, maxRepetitions: 25)
        #expect(outcome.state == .up, "\(outcome.errors)")
        #expect(outcome.profiles == ["system", "if-mib", "host-resources", "ucd-snmp"])
        let measurements = Set(outcome.samples.map(\.measurement))
        #expect(measurements.isSuperset(of: ["system", "interface", "hr_storage", "ucd_memory", "ucd_load"]))
        let lo = outcome.samples.first { $0.measurement == "interface" && $0.tags.contains(Tag("ifDescr", "lo")) }
        #expect(lo != nil)
        #expect(lo?.tags.contains(Tag("ifName", "lo")) == true)
        #expect(lo?.tags.contains { $0.key == "ifIndex" } == true)
        #expect(lo?.fields.contains { $0.name == "ifHCInOctets" && $0.kind == .counter } == true)
        let system = outcome.samples.first { $0.measurement == "system" }
        #expect(system?.fields.contains { $0.name == "sysUpTime" && $0.kind == .gauge } == true)
        #expect(
            system?.fields.contains { $0.name == "sysObjectID" && $0.value == .text("1.3.6.1.4.1.8072.3.2.10") } == true
        )
        #expect(outcome.varbinds > 50)
    }

    @Test func snmpv1WalksWithGetNextAgainstARecordedDevice() async throws {
        let sim = try await Lab.startSnmpsim(recordings: ["linux-full-walk", "winxp-full-walk"])
        defer { sim.stop() }
        let v1 = await poller().poll(
            target(sim.port, community: "linux-full-walk", version: .v1, timeout: .seconds(3)),
            explicitProfiles: ["system", "if-mib"],
            known: nil, maxRepetitions: 25)
        #expect(v1.state == .up, "\(v1.errors)")
        #expect(v1.samples.contains { $0.measurement == "interface" && $0.tags.contains(Tag("ifDescr", "eth0")) })
        let windows = await poller().poll(
            target(sim.port, community: "winxp-full-walk", timeout: .seconds(3)), explicitProfiles: nil,
            known: nil,
            maxRepetitions: 10)
        #expect(windows.profiles == ["system", "if-mib", "host-resources"])
        #expect(windows.samples.contains { $0.measurement == "hr_storage" })
        // ifPhysAddress of an Ethernet interface is binary: it must come out as a MAC, not as garbage text.
        let mac = windows.samples.flatMap(\.fields).first { $0.name == "ifPhysAddress" && $0.value != .text("") }
        if case .text(let text) = mac?.value {
            #expect(text.count == 17 && text.filter { $0 == ":" }.count == 5, "\(text)")
        } else {
            Issue.record("no ifPhysAddress from the recorded Windows host")
        }
    }

    @Test func walkThatLoopsStopsKeepsWhatItGotAndCountsTheError() async throws {
        let script = Lab.root.appendingPathComponent("Tests/NetPollerTests/Fixtures/buggy-walk.sh").path
        let snmpd = try await Lab.startSnmpd(extraConfig: "pass .1.3.6.1.4.1.99999 /bin/sh \(script)")
        defer { snmpd.stop() }
        let result = await TestEngine.shared.walk(
            target(snmpd.port), root: OID("1.3.6.1.4.1.99999")!, maxRepetitions: 5)
        #expect(result.error?.code == .oidNotIncreasing)
        #expect(result.count == 1)
        #expect(result.values.first == .integer(7))
    }

    @Test func missingObjectsAreSkippedNotFailed() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let result = try await TestEngine.shared.get(
            target(snmpd.port),
            oids: [OID("1.3.6.1.2.1.1.5.0")!, OID("1.3.6.1.4.1.424242.1.0")!, OID("1.3.6.1.2.1.1.99.0")!])
        #expect(result.values.count == 3)
        if case .octets = result.values[0] {} else { Issue.record("sysName should be text: \(result.values[0])") }
        #expect([SNMPValue.noSuchObject, .noSuchInstance].contains(result.values[1]))
        #expect([SNMPValue.noSuchObject, .noSuchInstance].contains(result.values[2]))
        let walk = await TestEngine.shared.walk(
            target(snmpd.port), root: OID("1.3.6.1.4.1.424242")!, maxRepetitions: 10)
        #expect(walk.error == nil)
        #expect(walk.count == 0)
    }

    @Test func slowDeviceDoesNotDelayOthers() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dead = SNMPTarget(
            peer: "udp:127.0.0.1:\(Lab.freePort(udp: true))", version: .v2c, community: "public", timeout: .seconds(2),
            retries: 0)
        let clock = ContinuousClock()
        let start = clock.now
        async let deadOutcome = poller().poll(
            dead, explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 25)
        try await Task.sleep(for: .milliseconds(20))
        var liveDurations: [Duration] = []
        for _ in 0..<3 {
            let t = clock.now
            let live = await poller().poll(
                target(snmpd.port), explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 25)
            #expect(live.state == .up)
            liveDurations.append(clock.now - t)
        }
        let livePhase = clock.now - start
        let deadResult = await deadOutcome
        #expect(deadResult.state == .down)
        #expect(deadResult.errors.first?.code == .timeout)
        // Three full polls of the live device finish while the dead one is still waiting for its 2 s timeout.
        #expect(livePhase < .seconds(1.5), "live polls took \(liveDurations)")
        #expect(clock.now - start >= .seconds(1.9))
    }

    @Test func engineCountsVarbindsRequestsAndTimeouts() async throws {
        let before = String(decoding: TestEngine.metrics.exposition(), as: UTF8.self)
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let walk = await TestEngine.shared.walk(
            target(snmpd.port), root: OID("1.3.6.1.2.1.2.2")!, maxRepetitions: 25)
        #expect(walk.requests > 1, "a walk of ifTable takes several GETBULKs")
        let dead = SNMPTarget(
            peer: "udp:127.0.0.1:\(Lab.freePort(udp: true))", version: .v2c, community: "x",
            timeout: .milliseconds(100), retries: 0)
        _ = try? await TestEngine.shared.get(dead, oids: [OID("1.3.6.1.2.1.1.1.0")!])
        let after = String(decoding: TestEngine.metrics.exposition(), as: UTF8.self)
        func value(_ text: String, _ name: String) -> Double {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Double($0.split(separator: " ")[1])
            } ?? 0
        }
        #expect(value(after, "netpoller_snmp_varbinds_total") > value(before, "netpoller_snmp_varbinds_total") + 20)
        #expect(value(after, "netpoller_snmp_timeouts_total") >= value(before, "netpoller_snmp_timeouts_total") + 1)
        // Every GETBULK of the walk and the GET to the dead agent (no retries) were counted as sent.
        #expect(
            value(after, "netpoller_snmp_requests_total")
                >= value(before, "netpoller_snmp_requests_total") + Double(walk.requests + 1))
        #expect(TestEngine.shared.heartbeatAge < 2)
    }

    @Test func tooBigHalvesMaxRepetitionsAndSplitsGets() async throws {
        let port = Lab.freePort(udp: true)
        let dir = try Lab.temporaryDirectory("toobig")
        let script = Lab.root.appendingPathComponent("Tests/NetPollerTests/Fixtures/toobig-agent.py").path
        let agent = try Child.spawn(
            Lab.which("python3") ?? "/usr/bin/python3", [script, "\(port)", "6"],
            output: dir.appendingPathComponent("agent.log").path)
        defer { agent.stop() }
        try await Lab.waitForSNMP(port: port, community: "public")
        let walk = await TestEngine.shared.walk(target(port), root: OID("1.3.6.1.4.1.77777.1")!, maxRepetitions: 25)
        #expect(walk.error == nil, "\(String(describing: walk.error))")
        #expect(walk.count == 120)
        // 25 -> 12 -> 6: two tooBig answers, then the walk completes at 6 repetitions.
        #expect(walk.tooBig == 2)
        #expect(walk.values.last == .integer(3040))
        let oids = (1...20).map { OID("1.3.6.1.4.1.77777.1.2.\($0)")! }
        let get = try await TestEngine.shared.get(target(port), oids: oids)
        #expect(get.values == (1...20).map { SNMPValue.integer(Int64(2000 + $0)) })
    }
}
