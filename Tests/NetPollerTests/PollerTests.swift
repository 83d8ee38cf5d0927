import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Testing

@Suite struct PollerTests {
    let target = SNMPTarget(peer: "udp:127.0.0.1:1", version: .v2c, community: "c", timeout: .seconds(1), retries: 0)

    func interfaceTable() -> [(String, SNMPValue)] {
        var rows: [(String, SNMPValue)] = [
            ("1.3.6.1.2.1.1.2.0", .oid(OID("1.3.6.1.4.1.9.1.1")!)),
            ("1.3.6.1.2.1.1.5.0", .octets(Array("sw1".utf8))),
            ("1.3.6.1.2.1.1.3.0", .timeticks(12345)),
        ]
        for index in [1, 2] {
            rows.append(("1.3.6.1.2.1.2.2.1.2.\(index)", .octets(Array("Gi0/\(index)".utf8))))
            rows.append(("1.3.6.1.2.1.2.2.1.8.\(index)", .integer(1)))
            rows.append(("1.3.6.1.2.1.2.2.1.10.\(index)", .counter32(UInt32(100 * index))))
            rows.append(("1.3.6.1.2.1.31.1.1.1.1.\(index)", .octets(Array("gi0/\(index)".utf8))))
            rows.append(("1.3.6.1.2.1.31.1.1.1.6.\(index)", .counter64(UInt64(1 << 33) + UInt64(index))))
            rows.append(("1.3.6.1.2.1.31.1.1.1.18.\(index)", .octets(Array("to core \(index)".utf8))))
        }
        // A real agent's view goes on after the tables (endOfMibView right after ifAlias would be walk_truncated).
        rows.append(("1.3.6.1.6.3.1.1.6.1.0", .integer(1)))
        return rows
    }

    @Test func interfaceTableBecomesOneSamplePerIfIndexWithTags() async {
        let poller = DevicePoller(
            transport: FakeTransport(interfaceTable()),
            profiles: Dictionary(uniqueKeysWithValues: BuiltinProfiles.all.map { ($0.name, $0) }), userProfiles: [],
            defaultSet: BuiltinProfiles.defaultSet)
        let outcome = await poller.poll(target, explicitProfiles: nil, known: nil, maxRepetitions: 25)
        #expect(outcome.state == .up)
        #expect(outcome.profiles == ["system", "if-mib"])
        #expect(outcome.sysObjectID == OID("1.3.6.1.4.1.9.1.1"))
        let interfaces = outcome.samples.filter { $0.measurement == "interface" }
        #expect(interfaces.count == 2)
        let first = interfaces[0]
        #expect(
            first.tags == [
                Tag("ifAlias", "to core 1"), Tag("ifDescr", "Gi0/1"), Tag("ifIndex", "1"), Tag("ifName", "gi0/1"),
            ])
        #expect(first.fields.contains(Field(name: "ifHCInOctets", value: .uint((1 << 33) + 1), kind: .counter)))
        #expect(first.fields.contains(Field(name: "ifInOctets", value: .uint(100), kind: .counter)))
        #expect(first.fields.contains(Field(name: "ifOperStatus", value: .int(1), kind: .gauge)))
        let system = outcome.samples.first { $0.measurement == "system" }
        #expect(system?.fields.contains(Field(name: "sysName", value: .text("sw1"), kind: .info)) == true)
        #expect(system?.fields.contains(Field(name: "sysUpTime", value: .uint(12345), kind: .gauge)) == true)
    }

    @Test func targetDescriptionNeverShowsTheCommunity() {
        let secret = SNMPTarget(
            peer: "udp:127.0.0.1:161", version: .v2c, community: "hunter2", timeout: .seconds(1), retries: 0)
        #expect(!"\(secret)".contains("hunter2"))
        #expect(!String(reflecting: secret).contains("hunter2"))
        #expect("\(secret)".contains("udp:127.0.0.1:161"))
    }

    @Test func profilesAreChosenBySysObjectID() {
        let netsnmp = BuiltinProfiles.select(
            sysObjectID: OID("1.3.6.1.4.1.8072.3.2.10"), userProfiles: [], defaultSet: ["system"])
        #expect(netsnmp == ["system", "if-mib", "host-resources", "ucd-snmp"])
        let windows = BuiltinProfiles.select(
            sysObjectID: OID("1.3.6.1.4.1.311.1.1.3.1.1"), userProfiles: [], defaultSet: ["system"])
        #expect(windows == ["system", "if-mib", "host-resources"])
        let custom = Profile(name: "apc", sysObjectIDPrefixes: [OID("1.3.6.1.4.1.318")!])
        let ups = BuiltinProfiles.select(
            sysObjectID: OID("1.3.6.1.4.1.318.1.3.27"), userProfiles: [custom], defaultSet: ["system", "if-mib"])
        #expect(ups == ["system", "apc"])
        let unknown = BuiltinProfiles.select(
            sysObjectID: OID("1.3.6.1.4.1.99"), userProfiles: [custom], defaultSet: ["system", "if-mib"])
        #expect(unknown == ["system", "if-mib"])
    }

    @Test func columnsWalkModeAndMultiPartIndex() {
        let table = TableSpec(
            measurement: "t", fields: [FieldSpec("v", OID("1.3.6.1.4.1.1.2.1.3")!)],
            indexTags: [FieldSpec("name", OID("1.3.6.1.4.1.1.2.1.2")!)], indexTag: "idx", walk: .columns)
        let plan = PollPlan(profiles: [Profile(name: "p", tables: [table])])
        #expect(plan.walkRoots.map(\.description) == ["1.3.6.1.4.1.1.2.1.3", "1.3.6.1.4.1.1.2.1.2"])
        var values = WalkResult(root: plan.walkRoots[0])
        values.append(suffix: [10, 1], value: .gauge32(5))
        var names = WalkResult(root: plan.walkRoots[1])
        names.append(suffix: [10, 1], value: .octets(Array("x".utf8)))
        let samples = plan.samples(scalars: nil, walks: [values, names])
        #expect(
            samples == [
                Sample(
                    measurement: "t", tags: [Tag("idx", "10.1"), Tag("name", "x")],
                    fields: [Field(name: "v", value: .uint(5), kind: .gauge)])
            ])
    }

    @Test func deadDeviceIsDownWithoutWalking() async {
        let transport = FakeTransport([], failAll: PollError(.timeout, "no answer"))
        let poller = DevicePoller(
            transport: transport, profiles: Dictionary(uniqueKeysWithValues: BuiltinProfiles.all.map { ($0.name, $0) }),
            userProfiles: [], defaultSet: BuiltinProfiles.defaultSet)
        let outcome = await poller.poll(
            target, explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 25)
        #expect(outcome.state == .down)
        #expect(outcome.errors.first?.code == .timeout)
        #expect(transport.log == ["get 6"])
    }
}
