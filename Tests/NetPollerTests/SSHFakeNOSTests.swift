import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerCore
import NetPollerTesting
import SSHPolling
import Testing

/// Loads a config from TOML text through the real loader (with the built-in plugins' checks).
func loadSSHConfig(_ text: String) throws -> AgentConfiguration {
    let dir = try Lab.temporaryDirectory("sshconf")
    let path = dir.appendingPathComponent("agent.conf")
    try text.write(to: path, atomically: true, encoding: .utf8)
    return try ConfigLoader.load(files: [path.path], environment: [:], hostName: "h")
}

extension PollOutcome {
    /// The samples of one measurement whose tag `key` is `value`.
    func sample(_ measurement: String, _ key: String, _ value: String) -> Sample? {
        samples.first { $0.measurement == measurement && $0.tags.contains(Tag(key, value)) }
    }
}

extension Sample {
    func number(_ name: String) -> Double? { fields.first { $0.name == name }?.value.doubleValue }
    func text(_ name: String) -> String? {
        guard case .text(let t)? = fields.first(where: { $0.name == name })?.value else { return nil }
        return t
    }
}

/// The built-in profiles of four platforms, polled in shell mode over SSH from fakenos devices; values checked against
/// the simulator's canned outputs.
@Suite(.serialized) struct SSHFakeNOSTests {
    static let platforms = ["cisco_ios", "cisco_nxos", "arista_eos", "juniper_junos"]

    func config(_ lab: FakeNOSLab, state: URL, extraDevice: String = "", policy: String = "accept-new") -> String {
        var text = """
            [agent]
            state_dir = "\(state.path)"
            [ssh]
            command_timeout = "20s"
            [credentials.ssh.lab]
            username = "user"
            password = "user"
            host_key_policy = "\(policy)"
            enable = true

            """
        for (platform, port) in zip(Self.platforms, lab.ports) {
            text += """
                [[devices]]
                name = "\(platform)"
                address = "127.0.0.1"
                ssh = "lab"
                ssh_port = \(port)
                ssh_mode = "shell"
                platform = "\(platform)"

                """
        }
        return text + extraDevice
    }

    @Test func builtinProfilesOfFourPlatformsParseTheSimulatorsOutputs() async throws {
        let lab = try await Lab.startFakeNOS(platforms: Self.platforms)
        defer { lab.stop() }
        let state = try Lab.temporaryDirectory("ssh-state")
        let config = try loadSSHConfig(config(lab, state: state))
        let metrics = SelfMetrics()
        let collector = SSHCollector(metrics: metrics, logger: Logger(label: "test"))
        collector.configure(config)
        defer { Task { await collector.shutdown() } }
        var outcomes: [String: PollOutcome] = [:]
        await withTaskGroup(of: (String, PollOutcome).self) { group in
            for device in config.devices {
                group.addTask { (device.name, await collector.poll(device)) }
            }
            for await (name, outcome) in group { outcomes[name] = outcome }
        }
        for (name, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            print("\(name): \(outcome.state) \(outcome.samples.count) samples, errors \(outcome.errors)")
        }
        // Cisco IOS: show interfaces, show ip bgp summary, show environment temperature, show version.
        let ios = try #require(outcomes["cisco_ios"])
        #expect(ios.state == .up, "\(ios.errors)")
        let ten = try #require(ios.sample("cli_interface", "interface", "TenGigabitEthernet1/1/1"))
        #expect(ten.number("in_bytes") == 2_783_400_652_228)
        #expect(ten.number("out_packets") == 956_714_742)
        #expect(ten.number("link_up") == 1)
        #expect(ten.number("bandwidth_bps") == 10_000_000_000)
        #expect(ten.text("description") == "vss")
        #expect(ios.sample("cli_interface", "interface", "FastEthernet1")?.number("link_up") == 0)
        let peer = try #require(ios.sample("cli_bgp_peer", "neighbor", "10.0.0.1"))
        #expect(peer.number("prefixes_received") == 558_720)
        #expect(peer.number("established") == 1)
        #expect(peer.number("uptime_seconds") == Double(3 * 604_800))
        let idle = try #require(ios.sample("cli_bgp_peer", "neighbor", "10.0.0.10"))
        #expect(idle.number("established") == 0)
        #expect(idle.text("state") == "Idle (Admin)")
        #expect(
            ios.samples.first { $0.measurement == "cli_temperature" && $0.tags.contains(Tag("switch", "1")) }?
                .number("celsius") == 29)
        let system = try #require(ios.samples.first { $0.measurement == "cli_system" })
        // fakenos renders `show version` of its live IOS-XE and EOS devices from its own templates.
        let iosUptime: Double = 86_400 + 17 * 3_600 + 32 * 60
        #expect(system.number("uptime_seconds") == iosUptime)
        #expect(system.text("version") == "17.03.01a")
        #expect(ios.ssh?.state == "connected")
        #expect(ios.ssh?.hostKey?.hasPrefix("SHA256:") == true)

        let nxos = try #require(outcomes["cisco_nxos"])
        #expect(nxos.sample("cli_temperature", "sensor", "ASIC")?.number("celsius") == 52)
        #expect(nxos.sample("cli_bgp_peer", "neighbor", "10.0.0.11")?.number("prefixes_received") == 4452)
        #expect(nxos.samples.first { $0.measurement == "cli_system" }?.text("hardware") == "Nexus 5596")

        let eos = try #require(outcomes["arista_eos"])
        #expect(eos.sample("cli_interface", "interface", "Ethernet1")?.number("in_bytes") == 381_190)
        #expect(eos.sample("cli_bgp_peer", "neighbor", "192.168.3.3")?.number("prefixes_accepted") == 18)
        #expect(eos.sample("cli_bgp_peer", "neighbor", "192.168.3.3")?.tags.contains(Tag("vrf", "BLUE")) == true)
        let eosSystem = try #require(eos.samples.first { $0.measurement == "cli_system" })
        #expect(eosSystem.number("memory_total_bytes") == Double(4_918_832 * 1024))
        #expect(eosSystem.number("uptime_seconds") == 480)

        // fakenos' Junos has no `show bgp summary` and no `show chassis environment`: rejected, named, the rest kept.
        let junos = try #require(outcomes["juniper_junos"])
        #expect(junos.state == .degraded)
        #expect(junos.errors.map(\.code) == [.channelFailed, .channelFailed])
        #expect(junos.errors.first?.message.contains("show bgp summary") == true)
        #expect(junos.sample("cli_interface", "interface", "ge-0/0/0")?.number("speed_bps") == 1e9)
        #expect(junos.sample("cli_system", "member", "fpc1")?.text("version") == "13.2X51-D35.3")
        let junosUptime: Double = 26 * 604_800 + 3 * 86_400 + 17 * 3_600 + 59 * 60
        #expect(junos.samples.contains { $0.number("uptime_seconds") == junosUptime })
    }

    /// `templates_dir` pointed at the installed ntc-templates: the template is found by the index from the device's
    /// platform and the command, and a text value mapped with `"*"`.
    @Test func ntcTemplatesAreFoundByTheIndexFromPlatformAndCommand() async throws {
        let lab = try await Lab.startFakeNOS(platforms: ["cisco_ios"])
        defer { lab.stop() }
        let templates = Lab.root.appendingPathComponent(
            ".build/textfsm-venv/lib/python3.11/site-packages/ntc_templates/templates")
        #expect(FileManager.default.fileExists(atPath: templates.appendingPathComponent("index").path))
        let state = try Lab.temporaryDirectory("ssh-state")
        let config = try loadSSHConfig(
            """
            [agent]
            state_dir = "\(state.path)"
            [ssh]
            templates_dir = "\(templates.path)"
            [credentials.ssh.lab]
            username = "user"
            password = "user"
            host_key_policy = "accept-new"
            enable = true
            [[profiles]]
            name = "ntc-bgp"
            [[profiles.commands]]
            command = "show ip bgp summary"
            measurement = "bgp"
            fields = { received = { from = "STATE_OR_PREFIXES_RECEIVED", map = { "*" = -1 } }, rcvd = { from = "MESSAGES_RECEIVED", type = "counter" } }
            tags = { neighbor = "BGP_NEIGHBOR" }
            [[devices]]
            name = "ios"
            address = "127.0.0.1"
            ssh = "lab"
            ssh_port = \(lab.ports[0])
            ssh_mode = "shell"
            platform = "cisco_ios"
            profiles = ["ntc-bgp"]
            """)
        let collector = SSHCollector(metrics: SelfMetrics(), logger: Logger(label: "test"))
        collector.configure(config)
        let outcome = await collector.poll(config.devices[0])
        #expect(outcome.state == .up, "\(outcome.errors)")
        #expect(outcome.sample("bgp", "neighbor", "10.0.0.1")?.number("received") == 558_720)
        #expect(outcome.sample("bgp", "neighbor", "10.0.0.10")?.number("received") == -1)
        #expect(
            outcome.sample("bgp", "neighbor", "10.0.0.5")?.fields.first { $0.name == "rcvd" }?.value
                == .uint(26_552_304))
        await collector.shutdown()
    }
}
