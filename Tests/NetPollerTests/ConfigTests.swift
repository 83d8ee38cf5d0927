import AgentConfig
import BuiltinPlugins
import Foundation
import NetPollerCore
import NetPollerTesting
import Testing

@Suite struct ConfigTests {
    func write(_ text: String, name: String = "agent.conf", in dir: URL? = nil) throws -> String {
        let directory = try dir ?? Lab.temporaryDirectory("config")
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func exampleConfigLoadsThroughTheRealLoader() throws {
        let path = Lab.root.appendingPathComponent("agent.conf.example").path
        let config = try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
        #expect(config.agent.interval == .seconds(60))
        #expect(config.agent.name == "netpoller")
        #expect(config.http.listen.description == "127.0.0.1:9271")
        #expect(config.devices.map(\.name) == ["core-sw1", "edge-rtr1", "dist-sw1"])
        #expect(config.devices[2].kinds == ["snmp", "ssh"])
        #expect(config.sshCredentials["netops"]?.hostKeyPolicy == .strict)
        #expect(config.devices[0].tags == [Tag("role", "core"), Tag("site", "ams1")])
        #expect(config.devices[1].address.family == .ipv6)
        #expect(config.devices[1].profiles == nil)
        #expect(config.profiles.first?.name == "ucd-disk")
        #expect(config.credentials["default"]?.community.value == "public")
        #expect(config.outputs.stdout.count == 1)
    }

    @Test func everyProblemIsReportedAtOnceWithFileLineAndKey() throws {
        let path = try write(
            """
            [agent]
            interval = "5x"
            retires = 3

            [credentials.snmp.a]
            community = "x"

            [[devices]]
            name = "r1"
            address = "192.0.2.300"
            snmp = "missing"

            [[devices]]
            name = "r1"
            address = "r2.example.net:99999"
            snmp = "a"
            profiles = ["nope"]
            """)
        do {
            _ = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
            Issue.record("a bad config must not load")
        } catch {
            let text = error.description
            #expect(text.contains("agent.conf:2: agent.interval: \"5x\" is not a duration (examples: 500ms, 30s, 5m"))
            #expect(text.contains("agent.conf:3: agent.retires: unknown key (did you mean \"retries\"?)"))
            #expect(text.contains("agent.conf:10: devices[0].address: \"192.0.2.300\" is not an IPv4 address"))
            #expect(text.contains("agent.conf:11: devices[0].snmp: unknown credential \"missing\""))
            #expect(text.contains("agent.conf:14: devices[1].name: duplicate device name \"r1\""))
            #expect(text.contains("devices[1].address: port 99999 is out of range"))
            #expect(text.contains("agent.conf:17: devices[1].profiles[0]: unknown profile \"nope\""))
            #expect(error.problems.count == 7)
            #expect(ConfigError.exitCode == 78)
        }
    }

    @Test func syntaxErrorNamesTheLine() throws {
        let path = try write("[agent]\ninterval = \"60s\nname = 1\n")
        #expect(throws: ConfigError.self) { try ConfigLoader.load(files: [path], environment: [:], hostName: "h") }
        do {
            _ = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
        } catch {
            #expect(error.problems.first?.line == 2)
            #expect(error.description.contains("TOML syntax error"))
        }
    }

    @Test func environmentSubstitutionAndSecretFiles() throws {
        let dir = try Lab.temporaryDirectory("secret")
        let secretPath = dir.appendingPathComponent("community").path
        try "s3cret\n".write(toFile: secretPath, atomically: true, encoding: .utf8)
        let path = try write(
            """
            [agent]
            interval = "${INTERVAL}"
            name = "${NAME:-fallback}"
            max_in_flight = "${INFLIGHT:-8}"
            [credentials.snmp.default]
            community_file = "\(secretPath)"
            [[devices]]
            name = "d$$1"
            address = "${ADDR}"
            """, in: dir)
        let config = try ConfigLoader.load(
            files: [path], environment: ["INTERVAL": "15s", "ADDR": "127.0.0.1:1161"], hostName: "h")
        #expect(config.agent.interval == .seconds(15))
        #expect(config.agent.name == "fallback")
        #expect(config.agent.maxInFlight == 8)
        #expect(config.devices[0].name == "d$1")
        #expect(config.devices[0].address == HostAddress(host: "127.0.0.1", port: 1161, family: .ipv4))
        #expect(config.credentials["default"]?.community.value == "s3cret")
        #expect("\(config.credentials["default"]!.community)" == "<secret>")
    }

    @Test func secretNeverAppearsInProblems() throws {
        let path = try write(
            """
            [credentials.snmp.default]
            community = "topsecret"
            community_file = "/nonexistent"
            """)
        do {
            _ = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
            Issue.record("must fail")
        } catch {
            #expect(error.description.contains("set either community or community_file, not both"))
            #expect(!error.description.contains("topsecret"))
        }
    }

    @Test func configDirMergesInNameOrder() throws {
        let dir = try Lab.temporaryDirectory("confdir")
        _ = try write(
            """
            [agent]
            interval = "30s"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "common1"
            address = "127.0.0.1"
            """, name: "00-common.conf", in: dir)
        _ = try write(
            """
            [agent]
            interval = "10s"
            [[devices]]
            name = "host1"
            address = "::1"
            """, name: "10-host.conf", in: dir)
        _ = try write("not toml at all [", name: "ignored.txt", in: dir)
        let files = try ConfigLoader.files(config: nil, configDirectory: dir.path)
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["00-common.conf", "10-host.conf"])
        let config = try ConfigLoader.load(files: files, environment: [:], hostName: "h")
        #expect(config.agent.interval == .seconds(10))
        #expect(config.devices.map(\.name) == ["common1", "host1"])
        #expect(config.devices[0].interval == .seconds(10))
    }

    @Test func problemInASecondFileNamesThatFile() throws {
        let dir = try Lab.temporaryDirectory("confdir2")
        _ = try write("[credentials.snmp.default]\ncommunity = \"p\"\n", name: "a.conf", in: dir)
        _ = try write("\n[[devices]]\nname = \"x\"\naddress = \"bad host!\"\n", name: "b.conf", in: dir)
        do {
            _ = try ConfigLoader.load(files: try ConfigLoader.files(config: nil, configDirectory: dir.path))
            Issue.record("must fail")
        } catch {
            #expect(error.description.contains("b.conf:4: devices[0].address"))
        }
    }

    @Test func documentationListsEveryKeyOfTheExample() throws {
        let doc = try String(contentsOf: Lab.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let example = try String(contentsOf: Lab.root.appendingPathComponent("agent.conf.example"), encoding: .utf8)
        for line in example.split(separator: "\n") where !line.hasPrefix("#") && line.contains(" = ") {
            let key = line.split(separator: "=")[0].trimmingCharacters(in: .whitespaces)
            #expect(doc.contains("`\(key)`"), "docs/configuration.md does not document `\(key)`")
        }
    }
}
