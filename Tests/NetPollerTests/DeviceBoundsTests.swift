import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerCore
import NetPollerTesting
import Pipeline
import SNMPPolling
import Synchronization
import Testing

/// Issue 16, items 2, 3 and 5: declared metric types win over the wire type, every walk is capped in varbinds and the
/// poll in time, and a table cut short by endOfMibView is an error that names what is missing.
@Suite struct DeviceBoundsTests {
    static let ifEntry = "1.3.6.1.2.1.2.2.1"
    let target = SNMPTarget(peer: "udp:127.0.0.1:1", version: .v2c, community: "c", timeout: .seconds(1), retries: 0)

    func poller(_ transport: FakeTransport) -> DevicePoller {
        DevicePoller(
            transport: transport, profiles: Dictionary(uniqueKeysWithValues: BuiltinProfiles.all.map { ($0.name, $0) }),
            userProfiles: [], defaultSet: BuiltinProfiles.defaultSet)
    }

    /// ifTable rows 1…rows with the given columns (column → value of row r).
    static func ifTable(rows: Int, columns: [UInt32: (Int) -> SNMPValue]) -> [(String, SNMPValue)] {
        var out: [(String, SNMPValue)] = []
        for (column, value) in columns {
            for r in 1...rows { out.append(("\(ifEntry).\(column).\(r)", value(r))) }
        }
        return out
    }

    // MARK: Item 2

    @Test func aDeclaredCounterTakesIntegerAndAGaugeTakesCounter32() {
        #expect(ValueMapping.declared(.integer(42), as: .counter).mismatch)
        #expect(ValueMapping.declared(.integer(42), as: .counter).value?.0 == .uint(42))
        // A negative INTEGER on a counter column is the Counter32 that wrapped past 2^31.
        #expect(ValueMapping.declared(.integer(-1), as: .counter).value?.0 == .uint(4_294_967_295))
        #expect(ValueMapping.declared(.counter32(7), as: .counter).mismatch == false)
        #expect(ValueMapping.declared(.counter64(1 << 60), as: .counter).value?.0 == .uint(1 << 60))
        let upTime = ValueMapping.declared(.counter32(12_345), as: .gauge)
        #expect(upTime.mismatch && upTime.value?.0 == .uint(12_345) && upTime.value?.1 == .gauge)
        #expect(ValueMapping.declared(.timeticks(5), as: .gauge).mismatch == false)
        #expect(ValueMapping.declared(.octets(Array(" 1234 ".utf8)), as: .counter).value?.0 == .uint(1234))
        #expect(ValueMapping.declared(.octets(Array("-3.5".utf8)), as: .gauge).value?.0 == .double(-3.5))
        let binary = ValueMapping.declared(.octets([0xff, 0x01]), as: .counter)
        #expect(binary.value == nil && binary.mismatch)
        #expect(ValueMapping.declared(.noSuchInstance, as: .counter).mismatch == false)
    }

    @Test func aDeviceSendingIntegerForACounterStillYieldsCountersAndIsNoted() async {
        let transport = FakeTransport(
            Self.ifTable(rows: 3, columns: [10: { .integer(Int64($0) * 100) }, 8: { _ in .integer(1) }]) + [
                ("1.3.6.1.6.3.1.1.6.1.0", .integer(1))
            ])
        let (outcome, mismatches) = await poller(transport).pollReportingTypes(
            target, explicitProfiles: ["if-mib"], known: nil, maxRepetitions: 10)
        #expect(outcome.state == .up)
        let octets = outcome.samples.compactMap { $0.fields.first { $0.name == "ifInOctets" } }
        #expect(octets.count == 3)
        #expect(octets.allSatisfy { $0.kind == .counter })
        #expect(octets.map(\.value) == [.uint(100), .uint(200), .uint(300)])
        #expect(mismatches.byField["ifInOctets"]?.count == 3)
        #expect(mismatches.byField["ifInOctets"]?.wire == "INTEGER")
        #expect(mismatches.byField["ifOperStatus"] == nil)
    }

    @Test func theCollectorCountsMismatchesAndLogsOncePerDeviceAndField() async throws {
        let metrics = SelfMetrics()
        let lines = LogCapture()
        let transport = FakeTransport(Self.ifTable(rows: 2, columns: [10: { .integer(Int64($0)) }]))
        let collector = SNMPCollector(transport: transport, metrics: metrics, logger: lines.logger)
        let dir = try Lab.temporaryDirectory("mismatch")
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [credentials.snmp.default]
        community = "public"
        [[devices]]
        name = "d0"
        address = "127.0.0.1:1"
        profiles = ["if-mib"]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
        collector.configure(config)
        let device = try #require(config.devices.first)
        _ = await collector.poll(device)
        _ = await collector.poll(device)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("netpoller_snmp_type_mismatches_total 4"))
        let warnings = lines.messages.filter { $0.contains("ifInOctets") }
        #expect(warnings.count == 1, "\(lines.messages)")
        #expect(warnings.first?.contains("INTEGER") == true)
    }

    @Test func noSeriesIsDroppedWhenDevicesDisagreeOnAType() async throws {
        let counter = SampleBatch(
            id: 1, device: "a", deviceTags: [], timestampNanos: 0,
            samples: [
                Sample(
                    measurement: "interface", tags: [Tag("ifIndex", "1")],
                    fields: [
                        Field(name: "ifInOctets", value: .uint(5), kind: .counter)
                    ])
            ])
        let gauge = SampleBatch(
            id: 2, device: "b", deviceTags: [], timestampNanos: 0,
            samples: [
                Sample(
                    measurement: "interface", tags: [Tag("ifIndex", "1")],
                    fields: [
                        Field(name: "ifInOctets", value: .int(7), kind: .gauge),
                        Field(name: "ifInOctets", value: .text("seven"), kind: .info),
                    ])
            ])
        let text = String(decoding: DeviceExposition.render([counter, gauge]), as: UTF8.self)
        #expect(text.contains("ifInOctets{device=\"a\",ifIndex=\"1\"} 5"))
        #expect(text.contains("ifInOctets{device=\"b\",ifIndex=\"1\"} 7"))
        #expect(text.contains("# TYPE ifInOctets gauge"))
        #expect(text.components(separatedBy: "# TYPE ifInOctets").count == 2)
        let alone = String(decoding: DeviceExposition.render([counter]), as: UTF8.self)
        #expect(alone.contains("# TYPE ifInOctets counter"))
        let promtool = try #require(Lab.which("promtool"))
        let (status, output) = try await Lab.run(
            promtool, ["check", "metrics"], stdin: Data(DeviceExposition.render([counter, gauge])))
        #expect(status == 0 || !output.contains("error"), "\(output)")
    }

    // MARK: Item 3

    @Test func aWalkStopsAtMaxWalkVarbindsAndKeepsItsRows() {
        let root = OID(Self.ifEntry)!
        var walk = WalkMachine(
            root: root, version: .v2c, limits: WalkLimits(maxRepetitions: 10, maxVarbinds: 25))
        var action = walk.start()
        var row: UInt32 = 0
        while case .send = action {
            let answered = walk.answer(.noError)
            #expect(answered == nil)
            for _ in 0..<10 {
                row += 1
                if !walk.varbind(name: root.components + [3, row], value: .integer(1)) { break }
            }
            action = walk.endOfAnswer()
        }
        #expect(walk.result.count == 25)
        #expect(walk.result.error?.code == .walkCapped)
        #expect(walk.result.requests == 3)
    }

    @Test func anEndlessTableIsCappedAndTheDeviceDegraded() async {
        let transport = FakeTransport(Self.ifTable(rows: 5_000, columns: [10: { .counter32(UInt32($0)) }]))
        let outcome = await poller(transport).poll(
            target, explicitProfiles: ["if-mib"], known: nil, maxRepetitions: 50, maxWalkVarbinds: 1_000)
        #expect(outcome.state == .degraded)
        #expect(outcome.samples.count == 1_000)
        #expect(outcome.walkErrors.map(\.code).contains(.walkCapped))
    }

    @Test func aPollStopsAtItsBudget() async {
        let transport = FakeTransport(
            Self.ifTable(rows: 3, columns: [10: { .counter32(UInt32($0)) }]) + [
                ("1.3.6.1.2.1.1.3.0", .timeticks(1))
            ], delay: .milliseconds(300))
        let outcome = await poller(transport).poll(
            target, explicitProfiles: ["system", "if-mib"], known: nil, maxRepetitions: 50,
            budget: .milliseconds(100))
        // The GET answered; the walks after the budget were never sent.
        #expect(outcome.errors.map(\.code) == [.walkCapped])
        #expect(outcome.errors.first?.message.contains("not walked") == true)
        #expect(outcome.state == .degraded)
    }

    // MARK: Item 5

    @Test func endOfMibViewBeforeTheLastListedColumnIsWalkTruncated() {
        let root = OID(Self.ifEntry)!
        var walk = WalkMachine(
            root: root, version: .v2c, limits: WalkLimits(maxRepetitions: 10, lastColumn: 22))
        _ = walk.start()
        _ = walk.answer(.noError)
        let accepted = [
            walk.varbind(name: root.components + [2, 1], value: .octets(Array("eth0".utf8))),
            walk.varbind(name: root.components + [9, 1], value: .timeticks(1)),
            walk.varbind(name: root.components + [9, 1], value: .endOfMibView),
        ]
        #expect(accepted == [true, true, false])
        #expect(walk.result.error?.code == .walkTruncated)
        #expect(walk.result.truncatedAfterColumn == 9)

        // Leaving the subtree, or endOfMibView after the last listed column, is a complete walk.
        var complete = WalkMachine(
            root: root, version: .v2c, limits: WalkLimits(maxRepetitions: 10, lastColumn: 9))
        _ = complete.start()
        _ = complete.answer(.noError)
        let completeAccepted = [
            complete.varbind(name: root.components + [9, 1], value: .timeticks(1)),
            complete.varbind(name: root.components + [9, 1], value: .endOfMibView),
        ]
        #expect(completeAccepted == [true, false])
        #expect(complete.result.error == nil)
        var jumped = WalkMachine(
            root: root, version: .v2c, limits: WalkLimits(maxRepetitions: 10, lastColumn: 22))
        _ = jumped.start()
        _ = jumped.answer(.noError)
        let jumpedAccepted = [
            jumped.varbind(name: root.components + [9, 1], value: .timeticks(1)),
            jumped.varbind(name: [1, 3, 6, 1, 2, 1, 4, 1, 0], value: .integer(1)),
        ]
        #expect(jumpedAccepted == [true, false])
        #expect(jumped.result.error == nil)
    }

    @Test func aTruncatedIfTableDegradesTheDeviceAndNamesTheMissingColumns() async {
        // The table ends (and with it the agent's view) after ifLastChange: ifInOctets and later never arrive.
        let transport = FakeTransport(
            Self.ifTable(
                rows: 2,
                columns: [2: { .octets(Array("eth\($0)".utf8)) }, 8: { _ in .integer(1) }, 9: { _ in .timeticks(5) }]))
        let outcome = await poller(transport).poll(
            target, explicitProfiles: ["if-mib"], known: nil, maxRepetitions: 10)
        #expect(outcome.state == .degraded)
        let error = outcome.walkErrors.first { $0.code == .walkTruncated }
        #expect(error != nil)
        #expect(
            error?.message.contains("table interface is missing ifInOctets") == true, "\(String(describing: error))")
        #expect(error?.message.contains("ifOutOctets") == true)
        #expect(outcome.samples.count == 2)
    }
}

/// Log lines captured in memory.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var messages: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
        }
    }
}
