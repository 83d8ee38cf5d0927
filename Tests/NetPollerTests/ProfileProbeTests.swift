import AgentConfig
import BuiltinPlugins
import Foundation
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Testing

/// Issue 16, item 6: profiles chosen by what a device answers (sentinel probes), remembered in `state_dir`, probed
/// again after a reload, and explained in `/status`.
@Suite struct ProfileProbeTests {
    static let junos: [(String, SNMPValue)] = [
        ("1.3.6.1.2.1.1.2.0", .oid(OID("1.3.6.1.4.1.2636.1.1.1.2.29")!)),
        ("1.3.6.1.2.1.1.3.0", .timeticks(5)),
        ("1.3.6.1.2.1.2.1.0", .integer(1)),
        ("1.3.6.1.2.1.25.1.1.0", .timeticks(99)),
        ("1.3.6.1.2.1.25.3.3.1.2.1", .integer(17)),
        ("1.3.6.1.6.3.1.1.6.1.0", .integer(1)),
    ]

    @Test func sentinelsAddProfilesWhateverTheSysObjectIDAndSayWhy() {
        let junos = BuiltinProfiles.choose(
            sysObjectID: OID("1.3.6.1.4.1.2636.1.1.1.2.29"), answered: ["host-resources", "if-mib"], userProfiles: [],
            defaultSet: BuiltinProfiles.defaultSet)
        #expect(junos.profiles == ["system", "if-mib", "host-resources"])
        #expect(junos.reasons["host-resources"] == "probe hrSystemUptime")
        #expect(junos.reasons["if-mib"] == "default")
        let linux = BuiltinProfiles.choose(
            sysObjectID: OID("1.3.6.1.4.1.8072.3.2.10"), answered: ["host-resources", "ucd-snmp", "if-mib"],
            userProfiles: [], defaultSet: BuiltinProfiles.defaultSet)
        #expect(linux.profiles == ["system", "if-mib", "host-resources", "ucd-snmp"])
        #expect(linux.reasons["ucd-snmp"] == "sysObjectID rule 1.3.6.1.4.1.8072.3.2")
        let user = Profile(name: "mine", sysObjectIDPrefixes: [OID("1.3.6.1.4.1.2636")!])
        let withUser = BuiltinProfiles.choose(
            sysObjectID: OID("1.3.6.1.4.1.2636.1.1.1.2.29"), answered: [], userProfiles: [user],
            defaultSet: BuiltinProfiles.defaultSet)
        #expect(withUser.profiles == ["system", "mine"])
        #expect(withUser.reasons["mine"] == "sysObjectID prefix 1.3.6.1.4.1.2636")
    }

    func config(_ dir: URL, extra: String = "") throws -> AgentConfiguration {
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [agent]
        state_dir = "\(dir.path)"
        [credentials.snmp.default]
        community = "public"
        [[devices]]
        name = "junos1"
        address = "127.0.0.1:1"
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
    }

    @Test func theChoiceIsProbedOnceRememberedAcrossARestartAndProbedAgainAfterAReload() async throws {
        let dir = try Lab.temporaryDirectory("probe")
        let config = try config(dir)
        let device = try #require(config.devices.first)
        let transport = FakeTransport(Self.junos)
        let collector = SNMPCollector(transport: transport)
        collector.configure(config)
        let first = await collector.poll(device)
        #expect(first.profiles == ["system", "if-mib", "host-resources"])
        #expect(first.profileReasons["host-resources"] == "probe hrSystemUptime")
        #expect(first.samples.contains { $0.measurement == "hr_system" })
        // The probe is one GET of sysObjectID and the three sentinels.
        #expect(transport.log.first == "get 4")
        let second = await collector.poll(device)
        #expect(second.profiles == first.profiles)
        #expect(second.profileReasons.isEmpty)
        #expect(transport.log.filter { $0 == "get 4" }.count == 1)
        collector.flushProfileMemory()
        let saved = try String(contentsOfFile: dir.path + "/snmp-profiles.json", encoding: .utf8)
        #expect(saved.contains("probe hrSystemUptime"))

        // A restart: the remembered choice, no probe, and /status is told why.
        let restarted = FakeTransport(Self.junos)
        let again = SNMPCollector(transport: restarted)
        again.configure(config)
        let afterRestart = await again.poll(device)
        #expect(afterRestart.profiles == first.profiles)
        #expect(afterRestart.profileReasons["host-resources"] == "probe hrSystemUptime")
        #expect(!restarted.log.contains("get 4"))

        // A reload: probed again on the next poll.
        again.configure(config)
        _ = await again.poll(device)
        #expect(restarted.log.filter { $0 == "get 4" }.count == 1)
    }

    @Test func explicitProfilesWinAndAreNeverProbed() async throws {
        let dir = try Lab.temporaryDirectory("probe-explicit")
        let config = try config(dir, extra: "profiles = [\"system\"]")
        let transport = FakeTransport(Self.junos)
        let collector = SNMPCollector(transport: transport)
        collector.configure(config)
        let outcome = await collector.poll(try #require(config.devices.first))
        #expect(outcome.profiles == ["system"])
        #expect(outcome.profileReasons == ["system": "config"])
        #expect(!transport.log.contains("get 4"))
    }
}
