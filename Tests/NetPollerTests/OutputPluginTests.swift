import AgentConfig
import BuiltinPlugins
import Foundation
import NetPollerCore
import NetPollerTesting
import Testing

/// A hypothetical output, as a third party would add one: its settings, its keys and its sink.
struct EchoSettings: OutputSettings, Equatable {
    var prefix: String
    var copies: Int
}

struct EchoPlugin: OutputPlugin {
    let type = "echo"

    func decode(_ table: inout ConfigTable, name: String) -> (any OutputSettings)? {
        let prefix = table.string("prefix")
        let copies = table.int("copies", range: 1...3) ?? 1
        guard let prefix else {
            table.problem("prefix", "is required")
            return nil
        }
        return EchoSettings(prefix: prefix, copies: copies)
    }

    func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink {
        ScriptedSink(name: name)
    }

    func summary(name: String, settings: any OutputSettings) -> String { "echo \(name)" }
}

/// Output plugins decode their own tables through `ConfigTable`; unknown keys come from the keys read.
@Suite struct OutputPluginTests {
    func load(_ text: String, outputs: [any OutputPlugin] = BuiltinPlugins.outputs) throws -> AgentConfiguration {
        let dir = try Lab.temporaryDirectory("plugins")
        let path = dir.appendingPathComponent("agent.conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(files: [path], outputs: outputs, environment: [:], hostName: "h")
    }

    func problems(_ text: String, outputs: [any OutputPlugin] = BuiltinPlugins.outputs) -> String {
        do {
            _ = try load(text, outputs: outputs)
            return ""
        } catch let error as ConfigError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    @Test func aPluginDecodesItsOwnKeysAndTheLoaderTheDeliveryKeys() throws {
        let config = try load(
            """
            [[outputs.echo]]
            name = "e1"
            prefix = ">"
            copies = 2
            batch_size = 7
            [outputs.echo.spool]
            enabled = false
            """, outputs: BuiltinPlugins.outputs + [EchoPlugin()])
        let echo = config.outputs.of("echo", as: EchoSettings.self)
        #expect(echo.map(\.name) == ["e1"])
        #expect(echo.first?.options == EchoSettings(prefix: ">", copies: 2))
        #expect(echo.first?.delivery.policy.batchSize == 7)
        #expect(echo.first?.delivery.policy.spool == nil)
        #expect(config.outputs.names.map(\.type) == ["echo"])
    }

    @Test func aKeyNoDecoderReadIsUnknownWithASuggestionFromTheKeysRead() {
        let text = problems(
            """
            [[outputs.influxdb]]
            url = "http://127.0.0.1:8086"
            databse = "x"
            [[outputs.file]]
            path = "/tmp/netpoller-plugins-test-no-such-dir/x"
            fromat = "json"
            [outputs.file.spool]
            max_byte = "1MiB"
            """)
        #expect(text.contains("agent.conf:3: outputs.influxdb[0].databse: unknown key (did you mean \"database\"?)"))
        #expect(text.contains("outputs.file[0].fromat: unknown key (did you mean \"format\"?)"))
        #expect(text.contains("outputs.file[0].spool.max_byte: unknown key (did you mean \"max_bytes\"?)"))
        // The known keys listed are exactly what the decoders read: the plugin's and the delivery keys.
        #expect(text.contains("known keys here: name, batch_size"))
        #expect(text.contains("retention_policy"))
    }

    @Test func anOutputTypeWithoutAPluginIsAnUnknownKey() {
        let text = problems(
            """
            [[outputs.kafka]]
            brokers = ["x"]
            """)
        #expect(text.contains("outputs.kafka: unknown key"))
        #expect(text.contains("known keys here: stdout, file, postgres, influxdb"))
        let registered = problems(
            """
            [[outputs.echo]]
            copies = 9
            """, outputs: [EchoPlugin()])
        #expect(registered.contains("outputs.echo[0].prefix: is required"))
        #expect(registered.contains("outputs.echo[0].copies: 9 is out of range"))
    }

    @Test func unknownKeysAreFoundInEverySectionWithoutAKeyList() {
        let text = problems(
            """
            [agent]
            intervall = "1m"
            [http]
            lisen = "127.0.0.1:1"
            [credentials.snmp.default]
            comunity = "x"
            [[devices]]
            name = "a"
            adress = "127.0.0.1"
            [[profiles]]
            name = "p"
            [[profiles.tables]]
            measurment = "m"
            fields = { a = "1.3.6.1" }
            """)
        #expect(text.contains("agent.intervall: unknown key (did you mean \"interval\"?)"))
        #expect(text.contains("http.lisen: unknown key (did you mean \"listen\"?)"))
        #expect(text.contains("credentials.snmp.default.comunity: unknown key (did you mean \"community\"?)"))
        #expect(text.contains("devices[0].adress: unknown key (did you mean \"address\"?)"))
        #expect(text.contains("profiles[0].tables[0].measurment: unknown key (did you mean \"measurement\"?)"))
    }
}

/// Durations are parsed with overflow checks and upper bounds (no crash on any value).
@Suite struct DurationBoundsTests {
    func problems(_ text: String) -> String {
        OutputPluginTests().problems(text)
    }

    @Test func maxSNMPSessionsIsBounded() {
        let text = problems("[agent]\nmax_snmp_sessions = 8\n")
        #expect(text.contains("agent.conf:2: agent.max_snmp_sessions"), "\(text)")
        #expect(!problems("[agent]\nmax_snmp_sessions = 16\n").contains("max_snmp_sessions"))
    }

    @Test func anIntervalLongerThanSevenDaysIsRefusedNamingTheKey() {
        let text = problems(
            """
            [agent]
            interval = "854016h"
            [[devices]]
            name = "a"
            address = "127.0.0.1"
            interval = "8d"
            """)
        #expect(text.contains("agent.conf:2: agent.interval: \"854016h\" is too long (maximum 7d)"))
        #expect(text.contains("devices[0].interval: \"8d\" is too long (maximum 7d)"))
    }

    @Test func thePollStartWindowIsBoundedAndZeroTurnsBatchingOff() {
        let text = problems(
            """
            [agent]
            poll_start_window = "6s"
            [[devices]]
            name = "a"
            address = "127.0.0.1"
            """)
        #expect(text.contains("agent.conf:2: agent.poll_start_window: \"6s\" is too long (maximum 5s)"), "\(text)")
        #expect(!problems("[agent]\npoll_start_window = \"0s\"\n").contains("poll_start_window"))
    }

    @Test func keysAreBoundedInPartsAndLengthBeforeTheFileIsParsed() {
        let started = ContinuousClock.now
        let deep = problems("[agent]\n" + "a" + String(repeating: ".a", count: 10_000) + " = 1\n")
        #expect(deep.contains("agent.conf:2: a key with more than 16 dotted parts"), "\(deep)")
        #expect(ContinuousClock.now - started < .seconds(2))
        let long = problems("[\(String(repeating: "k", count: 600))]\nx = 1\n")
        #expect(long.contains("agent.conf:1: a key longer than 512 bytes"))
        // A table header that does not start with a key (found by the fuzzer: the TOML parser asserted on it).
        #expect(problems("[$").contains("agent.conf:1: a table header must start with a key name"))
        #expect(problems("[[ @x]]\n").contains("a table header must start with a key name"))
        #expect(problems("[[[0]]]\n").contains("a table header must start with a key name"))
        #expect(problems("[ [x]]\n").contains("a table header must start with a key name"))
        // A combining mark after the bracket makes one Character of both: the check reads bytes.
        #expect(problems("[\u{0364}3\n").contains("a table header must start with a key name"))
        #expect(problems("[\r1").contains("a table header must start with a key name"))
        // Dots inside a multi-line string are not keys.
        let text = problems("[agent]\nname = \"\"\"\na.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r = 1\n\"\"\"\n")
        #expect(!text.contains("dotted parts"), "\(text)")
    }

    @Test func aDurationThatWouldOverflowIsAProblemNotACrash() {
        let text = problems(
            """
            [agent]
            shutdown_timeout = "99999999999999999999999999h"
            timeout = "1e400s"
            """)
        #expect(text.contains("agent.shutdown_timeout: \"99999999999999999999999999h\" is too long (maximum 10 years)"))
        #expect(text.contains("agent.timeout: \"1e400s\" is not a duration"))
    }
}

/// A profile field can declare how its OCTET STRING is shown.
@Suite struct DeclaredTextTypeTests {
    @Test func aFieldDeclaresItsTextTypeInAnInlineTable() throws {
        let dir = try Lab.temporaryDirectory("texttype")
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [[profiles]]
        name = "lldp"
        [[profiles.tables]]
        measurement = "lldp_remote"
        fields = { chassis = { oid = "1.0.8802.1.1.2.1.4.1.1.5", type = "mac" }, port = "1.0.8802.1.1.2.1.4.1.1.7" }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
        let fields = try #require(config.profiles.first?.tables.first?.fields)
        #expect(fields.first { $0.name == "chassis" }?.display == .mac)
        #expect(fields.first { $0.name == "port" }?.display == nil)
        let bad = OutputPluginTests().problems(
            """
            [[profiles]]
            name = "x"
            [[profiles.tables]]
            fields = { a = { oid = "1.3.6.1.2", type = "macaddr", typo = 1 }, b = { type = "hex" } }
            """)
        #expect(
            bad.contains(
                "profiles[0].tables[0].fields.a.type: \"macaddr\" is not a field type (counter, gauge, mac, hex, text, ip or date_and_time)"
            ))
        #expect(bad.contains("profiles[0].tables[0].fields.a.typo: unknown key"))
        #expect(bad.contains("profiles[0].tables[0].fields.b.oid: missing"))
    }
}

/// What can only break later is refused at load time, naming the key.
@Suite struct RefusedAtLoadTests {
    @Test func controlCharactersBadLabelNamesEmptyCommunitiesAndUnclosedVariablesAreRefused() {
        let text = OutputPluginTests().problems(
            """
            [credentials.snmp.default]
            community = ""
            [credentials.snmp.other]
            community = "${SNMP_COMMUNITY"
            [[devices]]
            name = "r1\\nr2"
            address = "127.0.0.1"
            tags = { "site-code" = "ams", "__meta" = "x", rack = "r\\u0007", ok_1 = "fine" }
            """)
        #expect(text.contains("credentials.snmp.default.community: must not be empty"))
        #expect(text.contains("credentials.snmp.other.community: unclosed ${"))
        #expect(text.contains("devices[0].name: must not hold a newline or another control character"))
        #expect(text.contains("devices[0].tags.site-code: \"site-code\" is not a usable label name"))
        #expect(text.contains("devices[0].tags.__meta: \"__meta\" is not a usable label name"))
        #expect(text.contains("devices[0].tags.rack: must not hold a newline or another control character"))
        #expect(!text.contains("ok_1"))
    }
}

/// Issue 16, item 11: `check` runs every validation without a side effect, and warns about what is legal but likely
/// wrong.
@Suite struct CheckPreflightTests {
    static var binary: String { Lab.root.appendingPathComponent(".build/debug/netpoller").path }

    func check(_ text: String) async throws -> (Int32, String) {
        let dir = try Lab.temporaryDirectory("check")
        let path = dir.appendingPathComponent("agent.conf").path
        try text.replacingOccurrences(of: "DIR", with: dir.path).write(toFile: path, atomically: true, encoding: .utf8)
        return try await Lab.run(Self.binary, ["check", "--config", path])
    }

    @Test func checkFindsWhatRunWouldStopOnWithoutCreatingAnything() async throws {
        let dir = try Lab.temporaryDirectory("check-files")
        let notPEM = dir.appendingPathComponent("ca.txt").path
        try "not a certificate\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        let (status, output) = try await check(
            """
            [agent]
            state_dir = "\(notPEM)"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1"
            [[outputs.file]]
            name = "archive"
            path = "\(dir.path)"
            [[outputs.influxdb]]
            name = "tsdb"
            url = "https://127.0.0.1:8086"
            tls_ca_file = "\(notPEM)"
            """)
        #expect(status == 78)
        #expect(output.contains("is a directory; give the file to append to"), "\(output)")
        #expect(output.contains("is not a PEM file"))
        let (stateStatus, stateOutput) = try await check(
            """
            [agent]
            state_dir = "\(notPEM)"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1"
            """)
        #expect(stateStatus == 78)
        #expect(stateOutput.contains("agent.state_dir: \"\(notPEM)\" is not a directory"), "\(stateOutput)")
        let fresh = dir.appendingPathComponent("never-created").path
        let (okStatus, _) = try await check(
            """
            [agent]
            state_dir = "\(fresh)/state"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1"
            """)
        #expect(okStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: fresh))
    }

    @Test func checkWarnsAboutNoDevicesAndTimeoutsLongerThanTheInterval() async throws {
        let (status, output) = try await check(
            """
            [agent]
            state_dir = "DIR/state"
            """)
        #expect(status == 0)
        #expect(output.contains("warning: no [[devices]]: the agent will poll nothing"))
        let (_, slow) = try await check(
            """
            [agent]
            state_dir = "DIR/state"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1"
            interval = "5s"
            timeout = "2s"
            retries = 2
            """)
        #expect(
            slow.contains("warning: devices[0] (r1): timeout × (retries + 1) = 6.0 seconds is longer than its interval")
        )
    }
}
