import AgentConfig
import BuiltinPlugins
import Foundation
import NetPollerAgent
import NetPollerCore
import NetPollerTesting
import Testing
import TextFSM

@testable import SSHPolling

/// The SSH poller's decisions without I/O: numbers and durations as CLIs print them, prompts, pagers, rejections, the
/// server's KEXINIT, parsers and mappings, config validation.
@Suite struct SSHLogicTests {
    @Test func cliNumbersAreReadAsNetworkEngineersWriteThem() {
        let cases: [(String, Double?)] = [
            ("1,234", 1234), ("1,234,567", 1_234_567), ("1.2k", 1200), ("3M", 3e6), ("2 G", 2e9), ("45%", 45),
            ("-40.5 dBm", -40.5), ("0x1f", 31), ("1e3", 1000), ("1000mbps", 1e9), ("10 Gb/s", 1e10), ("5 min", 5),
            ("36.0", 36), ("+3.5", 3.5), ("never", nil), ("N/A", nil), ("--", nil), ("", nil), ("up", nil),
        ]
        for (text, expected) in cases { #expect(CLINumber.parse(text) == expected, "\(text)") }
    }

    @Test func cliDurationsOfEveryPlatformBecomeSeconds() {
        let d = 86_400.0
        let cases: [(String, Double?)] = [
            ("1 week, 3 days, 16 hours, 11 minutes", 604_800 + 3 * d + 16 * 3_600 + 11 * 60),
            ("749 day(s), 15 hour(s), 17 minute(s), 48 second(s)", 749 * d + 15 * 3_600 + 17 * 60 + 48),
            ("1 hour and 5 minutes", 3_900), ("0 weeks, 0 days, 0 hours and 8 minutes", 480), ("3w0d", 3 * 604_800),
            ("1y10w", 365 * d + 10 * 604_800), ("40d23h", 40 * d + 23 * 3_600), ("01:51:38", 6_698),
            ("26w3d 17:59", 26 * 604_800 + 3 * d + 17 * 3_600 + 59 * 60), ("1w2d3h", 604_800 + 2 * d + 3 * 3_600),
            ("2 years, 1 week", 2 * 365 * d + 604_800), ("abc", nil), ("5 parsecs", nil),
        ]
        for (text, expected) in cases { #expect(CLIDuration.parse(text) == expected, "\(text)") }
    }

    @Test func promptsPagersAndRejectionsAreRecognised() {
        func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
        #expect(ShellCLI.detectPrompt(bytes("Welcome\r\n\r\nlab-r1>")) == bytes("lab-r1"))
        #expect(ShellCLI.detectPrompt(bytes("user@mx1> ")) == bytes("user@mx1"))
        #expect(ShellCLI.detectPrompt(bytes("banner line without prompt\r\n")) == nil)
        #expect(ShellCLI.detectPrompt(bytes("a sentence ends here>")) == nil)
        #expect(ShellCLI.endsWithPrompt(bytes("out\r\nlab-r1#"), base: bytes("lab-r1")))
        #expect(ShellCLI.endsWithPrompt(bytes("out\r\nlab-r1(config)#"), base: bytes("lab-r1")))
        #expect(!ShellCLI.endsWithPrompt(bytes("out\r\nlab-r10#"), base: bytes("lab-r1")))
        #expect(!ShellCLI.endsWithPrompt(bytes("lab-r1# show\r\nmore"), base: bytes("lab-r1")))
        #expect(ShellCLI.endsWithPrompt(bytes("x\r\n\u{1B}[Klab-r1>"), base: bytes("lab-r1")))
        #expect(ShellCLI.pagerStart(bytes("line\n --More-- ")) == 5)
        #expect(ShellCLI.pagerStart(bytes("line\n-- MORE --")) == 5)
        #expect(ShellCLI.pagerStart(bytes("line\nmore text")) == nil)
        #expect(ShellCLI.endsWithPasswordPrompt(bytes("enable\r\nPassword: ")))
        #expect(
            ShellCLI.cleanOutput(bytes("show x\r\nline 1\r\nline 2\r\nlab-r1>"), command: "show x")
                == "line 1\nline 2\n")
        #expect(ShellCLI.cleanOutput(bytes("show x\r\n\r\nlab-r1>"), command: "show x") == "\n")
        #expect(ShellCLI.rejection("\n% Invalid input detected at '^' marker.\n") != nil)
        #expect(ShellCLI.rejection("                ^\nsyntax error, expecting <command>.\n") != nil)
        #expect(ShellCLI.rejection("Interface  Status\nEth1  up\nEth2  up\n% Invalid is data here\n") == nil)
        #expect(ShellCLI.setupCommands(platform: "juniper_junos").first == "set cli screen-length 0")
        #expect(ShellCLI.setupCommands(platform: "cisco_ios").first == "terminal length 0")
        #expect("a\r\nb\rc\r\n".replacingCRLF() == "a\nc\n")
    }

    /// A server's first bytes: its identification line, then a KEXINIT packet with these name-lists.
    static func serverHello(kex: String, hostKey: String, cipher: String = "aes128-ctr", mac: String = "hmac-sha2-256")
        -> [UInt8]
    {
        var payload: [UInt8] = [20] + [UInt8](repeating: 7, count: 16)
        for list in [kex, hostKey, cipher, cipher, mac, mac, "none", "none", "", ""] {
            let bytes = Array(list.utf8)
            let n = UInt32(bytes.count)
            payload += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
        }
        payload += [0, 0, 0, 0, 0]
        let padding = 8 - (payload.count + 5) % 8 + 4
        let length = UInt32(payload.count + padding + 1)
        return Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)
            + [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + [UInt8(padding)] + payload + [UInt8](repeating: 0, count: padding)
    }

    @Test func theServersKexInitNamesWhatHasNothingInCommon() throws {
        let hello = Self.serverHello(
            kex: "curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com", hostKey: "rsa-sha2-512,rsa-sha2-256")
        #expect(KexInit.parse(Array(hello.prefix(40))) == nil, "incomplete")
        let offer = try #require(KexInit.parse(hello))
        #expect(offer.kex.first == "curve25519-sha256")
        #expect(offer.hostKey == ["rsa-sha2-512", "rsa-sha2-256"])
        let message = offer.mismatch(with: SSHAlgorithms.modern)
        #expect(
            message
                == "no common host key algorithm: the server offers [rsa-sha2-512,rsa-sha2-256], we offer [ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-rsa]"
        )
        let old = offer.mismatch(
            with: SSHAlgorithms(
                kex: ["diffie-hellman-group1-sha1"], hostKey: ["rsa-sha2-512"], ciphers: ["aes128-ctr"],
                macs: ["hmac-sha2-256"]))
        #expect(
            old.hasPrefix(
                "no common key exchange: the server offers [curve25519-sha256], we offer [diffie-hellman-group1-sha1]"))
    }

    func compiled(_ parser: CommandParser, fields: [CommandField], tags: [(name: String, source: String)] = [])
        throws -> CompiledCommand
    {
        let spec = CommandSpec(command: "show x", parser: parser, measurement: "m", fields: fields, tags: tags)
        switch parser {
        case .regex(let pattern):
            return CompiledCommand(
                spec: spec, template: nil,
                regex: try NSRegularExpression(
                    pattern: pattern.replacingOccurrences(of: "(?P<", with: "(?<"), options: [.anchorsMatchLines]))
        case .textfsm(.builtin(let name)):
            return CompiledCommand(
                spec: spec, template: try Template(BuiltinTemplates.all[name]!, name: name), regex: nil)
        default:
            return CompiledCommand(spec: spec, template: nil, regex: nil)
        }
    }

    @Test func valuesThatDoNotParseAreCountedAndNamedNeverZero() throws {
        let command = try compiled(
            .regex(#"^(?P<name>\S+)\s+(?P<state>\S+)\s+(?P<rx>\S+)\s*$"#),
            fields: [
                CommandField(name: "rx", source: "rx", kind: .counter),
                CommandField(name: "up", source: "state", map: ["Established": 1, "*": 0]),
                CommandField(name: "state", source: "state", kind: .info),
                CommandField(name: "seen", source: "rx", present: true),
                CommandField(name: "rx_kbit", source: "rx", scale: 0.008),
            ], tags: [("peer", "name")])
        let output = "p1 Established 1,234\np2 Idle never\np3 Active 2.5k\n"
        let rows = try command.rows(output).get()
        let mapped = command.map(rows)
        #expect(mapped.samples.count == 3)
        let p1 = try #require(mapped.samples.first { $0.tags == [Tag("peer", "p1")] })
        #expect(p1.fields.first { $0.name == "rx" }?.value == .uint(1234))
        #expect(p1.fields.first { $0.name == "rx" }?.kind == .counter)
        #expect(p1.number("up") == 1)
        #expect(p1.text("state") == "Established")
        #expect(p1.number("rx_kbit") == 9.872)
        let p2 = try #require(mapped.samples.first { $0.tags == [Tag("peer", "p2")] })
        #expect(p2.number("up") == 0)
        #expect(p2.number("rx") == nil, "a value that does not parse is no field, never 0")
        #expect(mapped.parseFailures == 2)
        #expect(mapped.failures.first == "show x: rx (peer=p2) \"never\" is not a number")
        #expect(mapped.samples.first { $0.tags == [Tag("peer", "p3")] }?.number("rx") == 2500)
    }

    @Test func jsonOutputsOfEOSAndNXOSBecomeRows() throws {
        let eos = try compiled(
            .json(rows: "interfaces"),
            fields: [
                CommandField(name: "in_octets", source: "interfaceCounters.inOctets", kind: .counter),
                CommandField(name: "up", source: "lineProtocolStatus", map: ["up": 1, "*": 0]),
            ], tags: [("interface", "_key")])
        let eosOutput = """
            {"interfaces": {"Ethernet2": {"lineProtocolStatus": "down", "interfaceCounters": {"inOctets": 0}},
             "Ethernet1": {"lineProtocolStatus": "up", "interfaceCounters": {"inOctets": 381190}}}}
            """
        let mapped = eos.map(try eos.rows(eosOutput).get())
        #expect(mapped.samples.map { $0.tags[0].value } == ["Ethernet1", "Ethernet2"])
        #expect(mapped.samples[0].fields.first { $0.name == "in_octets" }?.value == .uint(381_190))
        #expect(mapped.samples[1].number("up") == 0)

        let nxos = try compiled(
            .json(rows: "TABLE_vrf.ROW_vrf.TABLE_neighbor.ROW_neighbor"),
            fields: [
                CommandField(name: "prefixes", source: "prefixreceived"),
                CommandField(name: "up", source: "up", kind: .gauge),
            ],
            tags: [("neighbor", "neighborid")])
        // One neighbour is an object, not a list, as NX-OS prints it; `true` is a boolean.
        let nxosOutput = """
            show ip bgp summary | json
            {"TABLE_vrf": {"ROW_vrf": {"TABLE_neighbor": {"ROW_neighbor": [
              {"neighborid": "10.0.0.1", "prefixreceived": "12", "up": true},
              {"neighborid": "10.0.0.2", "prefixreceived": 3, "up": false}]}}}}
            """
        let rows = nxos.map(try nxos.rows(nxosOutput).get())
        #expect(rows.samples.count == 2)
        #expect(rows.samples[0].number("prefixes") == 12)
        #expect(rows.samples[0].number("up") == 1)
        #expect(rows.samples[1].number("up") == 0)
        #expect(throws: (any Error).self) { try nxos.rows("% Invalid command").get() }
    }

    @Test func junosTemplatesParseBGPEnvironmentAndUptime() throws {
        let bgp = try compiled(.textfsm(.builtin("np_juniper_junos_show_bgp_summary")), fields: [])
        let bgpOutput = """
            Threading mode: BGP I/O
            Groups: 2 Peers: 3 Down peers: 1
            Table          Tot Paths  Act Paths Suppressed    History Damp State    Pending
            inet.0
                                  12         10          0          0          0          0
            Peer                     AS      InPkt     OutPkt    OutQ   Flaps Last Up/Dwn State|#Active/Received/Accepted/Damped...
            10.0.0.1              65001       1234       1200       0       2     1w2d3h Establ
              inet.0: 10/12/11/0
            192.168.0.2           65002          0          0       0       0     1:02:03 Active
            2001:db8::1           65003        500        490       0       1       3:04 Establ
              inet6.0: 5/6/6/0
            """
        let rows = try bgp.template!.parse(bgpOutput)
        let header = bgp.template!.header
        func value(_ row: Int, _ name: String) -> String {
            if case .text(let t) = rows[row][header.firstIndex(of: name)!] { return t }
            return "?"
        }
        #expect(rows.count == 3)
        #expect(value(0, "NEIGHBOR") == "10.0.0.1")
        #expect(value(0, "RECEIVED") == "12")
        #expect(value(0, "STATE") == "Establ")
        #expect(value(1, "STATE") == "Active")
        #expect(value(1, "UP_DOWN") == "1:02:03")
        #expect(value(2, "TABLE") == "inet6.0")
        let profile = try #require(BuiltinSSHProfiles.all.first { $0.name == "juniper_junos-bgp" })
        let mapped = CompiledCommand(spec: profile.commands[0], template: bgp.template, regex: nil).map(
            try bgp.rows(bgpOutput).get())
        #expect(mapped.samples.first { $0.tags.contains(Tag("neighbor", "10.0.0.1")) }?.number("established") == 1)
        #expect(mapped.samples.first { $0.tags.contains(Tag("neighbor", "192.168.0.2")) }?.number("established") == 0)
        #expect(mapped.parseFailures == 0)

        let env = try compiled(.textfsm(.builtin("np_juniper_junos_show_chassis_environment")), fields: [])
        let envRows = try env.template!.parse(
            """
            Class Item                           Status     Measurement
            Temp  PEM 0                          OK         40 degrees C / 104 degrees F
                  PEM 1                          OK         41 degrees C / 105 degrees F
                  Routing Engine 0               OK         39 degrees C / 102 degrees F
            Fans  Top Fan Tray Temp              OK         Spinning at normal speed
                  Top Tray Fan 1                 OK         Spinning at normal speed
            Power PEM 0                          OK
            """)
        #expect(envRows.count == 3)
        #expect(envRows[2][0] == .text("Routing Engine 0"))
        #expect(envRows[2][2] == .text("39"))
    }

    @Test func everyBuiltinTemplateCompilesAndEveryMappingNamesItsValues() throws {
        for profile in BuiltinSSHProfiles.all {
            #expect(profile.platforms.count == 1)
            for command in profile.commands {
                guard case .textfsm(.builtin(let name)) = command.parser else {
                    Issue.record("\(profile.name): not a built-in template")
                    continue
                }
                let template = try Template(try #require(BuiltinTemplates.all[name]), name: name)
                for field in command.fields {
                    #expect(template.header.contains(field.source), "\(name): \(field.source)")
                }
                for tag in command.tags { #expect(template.header.contains(tag.source), "\(name): \(tag.source)") }
            }
        }
        #expect(
            Set(BuiltinSSHProfiles.all.flatMap(\.platforms)) == [
                "cisco_ios", "cisco_nxos", "arista_eos", "juniper_junos",
            ])
    }

    func write(_ text: String) throws -> String {
        let dir = try Lab.temporaryDirectory("sshconfig")
        let path = dir.appendingPathComponent("agent.conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func problems(_ text: String) throws -> [String] {
        let path = try write(text)
        do throws(ConfigError) {
            _ = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func sshConfigMistakesAreNamedWithTheirKey() throws {
        let base = """
            [credentials.ssh.lab]
            username = "netops"
            password = "secret-pw"

            """
        var found = try problems(
            base + """
                [[devices]]
                name = "r1"
                address = "192.0.2.1"
                ssh = "nope"
                """)
        #expect(
            found.contains { $0.contains("devices[0].ssh: unknown SSH credential \"nope\" (known: lab)") }, "\(found)")
        found = try problems(
            """
            [credentials.ssh.lab]
            username = "netops"
            password = "x"
            kex = ["diffie-hellman-group1-sha1", "sntrup761x25519-sha512@openssh.com"]
            host_key_policy = "trust-me"
            """)
        #expect(
            found.contains {
                $0.contains("credentials.ssh.lab.kex: \"sntrup761x25519-sha512@openssh.com\" is not supported")
            })
        #expect(
            found.contains {
                $0.contains("host_key_policy: \"trust-me\" is not a host key policy (strict or accept-new)")
            })
        found = try problems(
            """
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "192.0.2.1"
            platform = "cisco_ios"
            """)
        #expect(
            found.contains { $0.contains("devices[0].platform: is an SSH setting; this device has no ssh credential") })
        // A mapping that names a value the template does not have: found when the config is read (check, run, reload).
        found = try problems(
            base + """
                [[profiles]]
                name = "bgp"
                [[profiles.commands]]
                command = "show ip bgp summary"
                template = "\(try write(BuiltinTemplates.all["np_cisco_bgp_summary"]!))"
                fields = { prefixes = "PREFIXES", typo = "PREFIXS" }
                [[profiles.commands]]
                command = "show x"
                parser = "regex"
                pattern = 'no groups here'
                fields = { a = "a" }
                [[devices]]
                name = "r1"
                address = "192.0.2.1"
                ssh = "lab"
                profiles = ["bgp"]
                """)
        #expect(found.contains { $0.contains("field typo: no value \"PREFIXS\" in the parser's output") }, "\(found)")
        #expect(found.contains { $0.contains("the regex has no named group") })
        // A template that does not compile names its file and line.
        let broken = try write("Value X (\\d+)\n\nStart\n  ^${Y} -> Record\n")
        found = try problems(
            base + """
                [[profiles]]
                name = "broken"
                [[profiles.commands]]
                command = "show y"
                template = "\(broken)"
                fields = { x = "X" }
                [[devices]]
                name = "r1"
                address = "192.0.2.1"
                ssh = "lab"
                profiles = ["broken"]
                """)
        #expect(found.contains { $0.contains(broken) && $0.contains("show y") }, "\(found)")
        // A good one: SSH only (no snmp key), the built-in profiles of its platform, the port from the credential.
        let config = try ConfigLoader.load(
            files: [
                try write(
                    base + """
                        port = 2222
                        [[devices]]
                        name = "r1"
                        address = "192.0.2.1"
                        ssh = "lab"
                        platform = "arista_eos"
                        [[devices]]
                        name = "r2"
                        address = "192.0.2.2"
                        ssh = "lab"
                        snmp = "v2"
                        ssh_port = 22
                        profiles = ["if-mib", "arista_eos-bgp"]
                        [credentials.snmp.v2]
                        community = "public"
                        """)
            ], environment: [:], hostName: "h")
        #expect(config.devices[0].kinds == ["ssh"])
        #expect(config.devices[0].ssh?.port == 2222)
        #expect(config.devices[0].displayAddress == "192.0.2.1:2222")
        #expect(config.devices[1].kinds == ["snmp", "ssh"])
        #expect(config.devices[1].profiles == ["if-mib"])
        #expect(config.devices[1].ssh?.profiles == ["arista_eos-bgp"])
        #expect(config.sshCredentials["lab"]?.password?.description == "<secret>")
    }

    @Test func aReloadThatChangesAnSSHLoginRenewsItsDevicesSessionsAndKeepsIOThreads() throws {
        func config(password: String, threads: Int, timeout: String) throws -> AgentConfiguration {
            let path = try write(
                """
                [ssh]
                io_threads = \(threads)
                command_timeout = "\(timeout)"
                [credentials.ssh.a]
                username = "netops"
                password = "\(password)"
                [credentials.ssh.b]
                username = "netops"
                password = "same"
                [[devices]]
                name = "r1"
                address = "192.0.2.1"
                ssh = "a"
                [[devices]]
                name = "r2"
                address = "192.0.2.2"
                ssh = "b"
                """)
            return try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
        }
        let current = try config(password: "one", threads: 2, timeout: "30s")
        let plan = ReloadPlan(from: current, to: try config(password: "two", threads: 4, timeout: "30s"))
        #expect(plan.devicesChanged == ["r1"])
        #expect(plan.devicesUnchanged == ["r2"])
        #expect(plan.restartOnly == ["ssh.io_threads"])
        #expect(plan.applied.ssh.ioThreads == 2)
        // A changed [ssh] timeout is a changed device (its copy of the timeout): polled anew from its next slot.
        let retimed = ReloadPlan(from: current, to: try config(password: "one", threads: 2, timeout: "5s"))
        #expect(retimed.devicesChanged == ["r1", "r2"])
        #expect(retimed.applied.devices[0].ssh?.commandTimeout == .seconds(5))
    }
}
