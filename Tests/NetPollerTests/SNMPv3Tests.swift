import AgentConfig
import Foundation
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Testing

/// Issue 17, items 1–3 and 6: SNMPv3 against the real snmpd (`createUser` lines), through the real net-snmp engine and
/// the real binary.
@Suite(.serialized) struct SNMPv3Tests {
    static let sysName = OID([1, 3, 6, 1, 2, 1, 1, 5, 0])

    /// snmpd's names of the protocols (`createUser`) are net-snmp's.
    static func agentName(_ p: USMCredential.AuthProtocol) -> String { USMNames.auth(p) }
    static func agentName(_ p: USMCredential.PrivProtocol) -> String { USMNames.priv(p) }

    static func user(_ a: USMCredential.AuthProtocol, _ p: USMCredential.PrivProtocol?) -> String {
        "u_\(a.rawValue)_\(p?.rawValue ?? "nopriv")".lowercased()
    }

    static func authPassword(_ a: USMCredential.AuthProtocol) -> String { "auth-\(a.rawValue)-secret" }
    static func privPassword(_ p: USMCredential.PrivProtocol) -> String { "priv-\(p.rawValue)-secret" }

    /// Every auth × priv pair, every auth alone, noAuthNoPriv, and the users of the error cases.
    static var usersConfig: String {
        var lines: [String] = []
        for a in USMCredential.AuthProtocol.allCases {
            for p in USMCredential.PrivProtocol.allCases {
                lines.append(
                    "createUser \(user(a, p)) \(agentName(a)) \(authPassword(a)) \(agentName(p)) \(privPassword(p))")
                lines.append("rouser \(user(a, p)) priv")
            }
            lines.append("createUser \(user(a, nil)) \(agentName(a)) \(authPassword(a))")
            lines.append("rouser \(user(a, nil)) auth")
        }
        lines += [
            "createUser open", "rouser open noauth",
            "createUser wrongdigest SHA-256 right-auth-pass AES right-priv-pass", "rouser wrongdigest priv",
            "createUser wrongpriv SHA-256 right-auth-pass AES right-priv-pass", "rouser wrongpriv priv",
            "createUser ciscoish SHA right-auth-pass AES-256-C right-priv-pass", "rouser ciscoish priv",
            "createUser authonly SHA-256 right-auth-pass", "rouser authonly auth",
        ]
        return lines.joined(separator: "\n")
    }

    func target(_ port: Int, _ usm: USMCredential, timeout: Duration = .seconds(1), retries: Int = 1)
        -> SNMPTarget
    {
        SNMPTarget(peer: "udp:127.0.0.1:\(port)", usm: usm, timeout: timeout, retries: retries)
    }

    func usm(
        _ a: USMCredential.AuthProtocol, _ p: USMCredential.PrivProtocol?, user: String? = nil,
        authPassword: String? = nil, privPassword: String? = nil, engineID: [UInt8]? = nil
    ) -> USMCredential {
        USMCredential(
            username: user ?? Self.user(a, p), level: p == nil ? .authNoPriv : .authPriv, authProtocol: a,
            authPassword: Secret(authPassword ?? Self.authPassword(a)), privProtocol: p,
            privPassword: p.map { Secret(privPassword ?? Self.privPassword($0)) }, engineID: engineID)
    }

    @Test func everyAuthAndPrivProtocolPairAndEveryLevelPollsTheRealSnmpd() async throws {
        let snmpd = try await Lab.startSnmpd(extraConfig: Self.usersConfig)
        defer { snmpd.stop() }
        var failures: [String] = []
        var credentials: [USMCredential] = [
            USMCredential(username: "open", level: .noAuthNoPriv)
        ]
        for a in USMCredential.AuthProtocol.allCases {
            credentials.append(usm(a, nil))
            for p in USMCredential.PrivProtocol.allCases { credentials.append(usm(a, p)) }
        }
        #expect(credentials.count == 1 + 6 + 36)
        for credential in credentials {
            do {
                let result = try await TestEngine.shared.get(target(snmpd.port, credential), oids: [Self.sysName])
                guard case .octets(let name) = result.values.first, !name.isEmpty else {
                    failures.append("\(credential.username): \(result.values)")
                    continue
                }
            } catch {
                failures.append("\(credential.username): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures)")
        // And walks (GETBULK) under authPriv.
        let walk = await TestEngine.shared.walk(
            target(snmpd.port, usm(.sha512, .aes256c)), root: OID([1, 3, 6, 1, 2, 1, 2, 2, 1, 2]),
            maxRepetitions: 10)
        #expect(walk.error == nil && walk.count >= 1, "\(String(describing: walk.error))")
    }

    @Test func usmErrorsAreNamedAndNeverCarryASecret() async throws {
        let snmpd = try await Lab.startSnmpd(extraConfig: Self.usersConfig)
        defer { snmpd.stop() }
        func error(_ credential: USMCredential) async -> PollError? {
            do {
                _ = try await TestEngine.shared.get(target(snmpd.port, credential), oids: [Self.sysName])
                return nil
            } catch {
                return error
            }
        }
        let unknown = await error(usm(.sha256, .aes, user: "nobody", authPassword: "s3cret-auth"))
        #expect(unknown?.code == .unknownUser, "\(String(describing: unknown))")
        let digest = await error(usm(.sha256, .aes, user: "wrongdigest", authPassword: "s3cret-auth"))
        #expect(digest?.code == .wrongDigest, "\(String(describing: digest))")
        #expect(digest?.message.contains("auth_password") == true)
        let priv = await error(
            usm(.sha256, .aes, user: "wrongpriv", authPassword: "right-auth-pass", privPassword: "s3cret-priv"))
        #expect(priv?.code == .privacyMismatch, "\(String(describing: priv))")
        // AES-256 against an AES-256-C (Reeder, "Cisco") user: the usual confusion, named.
        let reeder = await error(
            usm(.sha, .aes256, user: "ciscoish", authPassword: "right-auth-pass", privPassword: "right-priv-pass"))
        #expect(reeder?.code == .privacyMismatch, "\(String(describing: reeder))")
        #expect(reeder?.message.contains("AES192C/AES256C") == true, "\(String(describing: reeder))")
        let level = await error(
            usm(.sha256, .aes, user: "authonly", authPassword: "right-auth-pass", privPassword: "s3cret-priv"))
        #expect(level?.code == .unsupportedSecurityLevel, "\(String(describing: level))")
        let engine = await error(usm(.sha256, .aes, engineID: [0x80, 0, 0x1F, 0x88, 0x04, 1, 2, 3, 4]))
        #expect(engine?.code == .unknownEngineID, "\(String(describing: engine))")
        for found in [unknown, digest, priv, reeder, level, engine] {
            let text = "\(String(describing: found))"
            #expect(!text.contains("s3cret") && !text.contains("right-priv-pass") && !text.contains("right-auth-pass"))
        }
        // A target never prints a password.
        let printed = "\(target(snmpd.port, usm(.sha256, .aes, authPassword: "s3cret-auth")))"
        #expect(!printed.contains("s3cret") && printed.contains("level=authPriv"))
    }

    @Test func configDecodesEveryKeyAndRejectsWhatWouldFailSilently() throws {
        let dir = try Lab.temporaryDirectory("v3-config")
        let secretFile = dir.appendingPathComponent("priv").path
        try "file-priv-secret\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        func load(_ text: String) throws -> AgentConfiguration {
            let path = dir.appendingPathComponent("agent.conf").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
        }
        let config = try load(
            """
            [credentials.snmp.core]
            version = "3"
            username = "netpoller"
            security_level = "authPriv"
            auth_protocol = "SHA512"
            auth_password = "auth-secret-1"
            priv_protocol = "AES256C"
            priv_password_file = "\(secretFile)"
            context_name = "vlan-10"
            engine_id = "80:00:1f:88:80:a8:3a:18:07"
            [[devices]]
            name = "r1"
            address = "192.0.2.1"
            snmp = "core"
            """)
        let usm = try #require(config.credentials["core"]?.usm)
        #expect(usm.level == .authPriv && usm.authProtocol == .sha512 && usm.privProtocol == .aes256c)
        #expect(usm.privPassword?.value == "file-priv-secret" && usm.contextName == "vlan-10")
        #expect(usm.engineID == [0x80, 0x00, 0x1F, 0x88, 0x80, 0xA8, 0x3A, 0x18, 0x07])
        #expect(config.credentials["core"]?.version == .v3)

        let cases: [(String, String)] = [
            ("security_level = \"authPriv\"\nauth_protocol = \"SHA\"\nauth_password = \"12345678\"", "priv_protocol"),
            ("security_level = \"authNoPriv\"\nauth_protocol = \"SHA\"", "auth_password"),
            ("auth_protocol = \"SHA1\"\nauth_password = \"12345678\"", "is not an authentication protocol"),
            ("security_level = \"noAuthNoPriv\"\nauth_password = \"12345678\"", "does not use it"),
            ("security_level = \"authNoPriv\"\nauth_protocol = \"SHA\"\nauth_password = \"short\"", "at least 8"),
            ("security_level = \"noAuthNoPriv\"\nengine_id = \"zz\"", "engine_id"),
            ("security_level = \"noAuthNoPriv\"\ncommunity = \"public\"", "no community"),
        ]
        for (keys, expected) in cases {
            do {
                _ = try load("[credentials.snmp.x]\nversion = \"3\"\nusername = \"u\"\n\(keys)\n")
                Issue.record("accepted: \(keys)")
            } catch {
                let text = "\(error)"
                #expect(text.contains(expected), "\(keys) → \(text)")
                #expect(!text.contains("12345678"), "a secret in \(text)")
            }
        }
        // SNMPv3 keys on a v2c credential are an error, not ignored.
        #expect(throws: (any Error).self) {
            _ = try load("[credentials.snmp.x]\ncommunity = \"c\"\nusername = \"u\"\n")
        }
    }
}

/// Issue 17, item 2: SNMPv3 through the real binary: the engine cache survives a restart, a dead v3 device delays
/// nobody, and devices that share an engine ID are both polled.
@Suite(.serialized) struct SNMPv3AgentTests {
    static let credential = """
        [credentials.snmp.v3]
        version = "3"
        username = "poller"
        security_level = "authPriv"
        auth_protocol = "SHA256"
        auth_password = "agent-auth-secret"
        priv_protocol = "AES"
        priv_password = "agent-priv-secret"

        """
    static let user = "createUser poller SHA-256 agent-auth-secret AES agent-priv-secret\nrouser poller priv"

    func waitForDevice(
        _ base: String, _ name: String, seconds: Double = 60, _ check: @escaping ([String: Any]) -> Bool
    ) async -> [String: Any]? { await StatusJSON.waitForDevice(base, name, seconds: seconds, check) }

    @Test func theEngineCacheSurvivesARestartAndStatusShowsTheSecurityButNoSecret() async throws {
        let snmpd = try await Lab.startSnmpd(extraConfig: Self.user)
        defer { snmpd.stop() }
        let state = try Lab.temporaryDirectory("v3-state")
        let config = """
            [agent]
            state_dir = "\(state.path)"
            interval = "1s"
            timeout = "1s"
            retries = 1
            [http]
            listen = "127.0.0.1:HTTPPORT"
            \(Self.credential)
            [[devices]]
            name = "r1"
            address = "127.0.0.1:\(snmpd.port)"
            snmp = "v3"
            profiles = ["system", "if-mib"]
            """
        for run in 1...3 {
            if run == 2 {
                // A stale cache (the device rebooted meanwhile, or our clock jumped): its time is far off. The agent
                // answers notInTimeWindow once, net-snmp takes its boots and time from that Report, and retries.
                let path = state.appendingPathComponent("snmp-engines.json")
                var json = try #require(
                    try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: [String: Any]])
                let peer = "udp:127.0.0.1:\(snmpd.port)"
                let time = (json[peer]?["time"] as? Int) ?? 0
                json[peer]?["time"] = time + 100_000
                try JSONSerialization.data(withJSONObject: json).write(to: path)
            }
            let agent = try AgentProcess.start(config, name: "v3-restart-\(run)")
            let device = await waitForDevice(agent.base, "r1") { ($0["polls"] as? Int ?? 0) >= 2 }
            #expect(device?["state"] as? String == "up", "\(String(describing: device))")
            let snmp = device?["snmp"] as? [String: Any]
            #expect(snmp?["version"] as? String == "3")
            #expect(snmp?["security_level"] as? String == "authPriv")
            #expect((snmp?["engine_id"] as? String)?.hasPrefix("80001f88") == true, "\(String(describing: snmp))")
            let status = await Lab.httpGet("\(agent.base)/status")?.1 ?? ""
            #expect(!status.contains("agent-auth-secret") && !status.contains("agent-priv-secret"))
            let metrics = await Lab.httpGet("\(agent.base)/metrics")?.1 ?? ""
            let discoveries = StatusJSON.metric(metrics, "netpoller_snmp_engine_discoveries_total") ?? -1
            let syncs = StatusJSON.metric(metrics, "netpoller_snmp_time_syncs_total") ?? -1
            switch run {
            case 1:
                // First contact: one discovery; its Report also carries boots and time, so no notInTimeWindow.
                #expect(discoveries == 1, "\(metrics)")
                #expect(syncs == 0)
            case 2:
                #expect(discoveries == 0, "\(metrics)")
                #expect(syncs == 1, "\(metrics)")
            default:
                // After a restart: engine ID, boots and time come from state_dir; no extra round-trip at all.
                #expect(discoveries == 0, "\(metrics)")
                #expect(syncs == 0, "\(metrics)")
            }
            agent.child.signal(SIGTERM)
            #expect(await agent.child.wait(timeout: .seconds(20)) == 0)
            let log = (try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? ""
            #expect(!log.contains("agent-auth-secret") && !log.contains("agent-priv-secret"))
        }
        let saved = try String(contentsOf: state.appendingPathComponent("snmp-engines.json"), encoding: .utf8)
        #expect(saved.contains("\"boots\"") && saved.contains("udp:127.0.0.1:\(snmpd.port)"))
        #expect(!saved.contains("secret"))
        // Item 6: `once --device` says how the device is polled, without a secret.
        let path = state.appendingPathComponent("once.conf").path
        try config.replacingOccurrences(of: "HTTPPORT", with: "\(Lab.freePort())")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(
            AgentProcess.binary, ["once", "--config", path, "--device", "r1", "--format", "json"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("r1: snmp v3 authPriv user=poller engine=80001f88"), "\(output)")
        #expect(!output.contains("agent-auth-secret") && !output.contains("agent-priv-secret"))
    }

    @Test func aDeadV3DeviceDelaysNobodyAndLiveOnesKeepTheV2cSchedule() async throws {
        // 20 v3 users on one snmpd: 20 sessions, each with its own discovery; 20 v2c devices beside them.
        var users = ""
        var config = """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            timeout = "2s"
            retries = 2
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.v2]
            community = "public"
            [credentials.snmp.deadv3]
            version = "3"
            username = "u0"
            auth_protocol = "SHA"
            auth_password = "dead-auth-secret"
            priv_protocol = "AES"
            priv_password = "dead-priv-secret"
            [[devices]]
            name = "dead"
            address = "127.0.0.1:\(Lab.freePort(udp: true))"
            snmp = "deadv3"
            profiles = ["system"]

            """
        for i in 1...20 {
            users += "createUser u\(i) SHA-256 auth-secret-\(i) AES priv-secret-\(i)\nrouser u\(i) priv\n"
        }
        let snmpd = try await Lab.startSnmpd(extraConfig: users)
        defer { snmpd.stop() }
        for i in 1...20 {
            config += """
                [credentials.snmp.v3u\(i)]
                version = "3"
                username = "u\(i)"
                auth_protocol = "SHA256"
                auth_password = "auth-secret-\(i)"
                priv_protocol = "AES"
                priv_password = "priv-secret-\(i)"
                [[devices]]
                name = "v3-\(i)"
                address = "127.0.0.1:\(snmpd.port)"
                snmp = "v3u\(i)"
                profiles = ["system"]
                [[devices]]
                name = "v2-\(i)"
                address = "127.0.0.1:\(snmpd.port)"
                snmp = "v2"
                profiles = ["system"]

                """
        }
        let agent = try AgentProcess.start(config, name: "v3-dead")
        defer { agent.child.stop() }
        // The dead device's discovery takes timeout × (retries + 1) = 6 s; meanwhile every live device polls each second.
        let dead = await waitForDevice(agent.base, "dead", seconds: 90) { ($0["state"] as? String) == "down" }
        #expect(dead?["last_error_type"] as? String == "timeout", "\(String(describing: dead))")
        let body = await Lab.httpGet("\(agent.base)/status")?.1 ?? ""
        var v3Polls: [Int] = []
        var v2Polls: [Int] = []
        for i in 1...20 {
            let v3 = StatusJSON.device(body, "v3-\(i)")
            let v2 = StatusJSON.device(body, "v2-\(i)")
            #expect(v3?["state"] as? String == "up", "\(String(describing: v3))")
            #expect(v3?["overruns"] as? Int == 0)
            #expect((v3?["last_poll_duration_seconds"] as? Double ?? 9) < 0.5, "\(String(describing: v3))")
            v3Polls.append(v3?["polls"] as? Int ?? 0)
            v2Polls.append(v2?["polls"] as? Int ?? 0)
        }
        // While the dead device waited 6 s, every live device kept its 1 s schedule, v3 exactly like v2c.
        #expect(v2Polls.min() ?? 0 >= 5, "\(v2Polls)")
        #expect(abs((v3Polls.min() ?? 0) - (v2Polls.min() ?? 0)) <= 1, "v3 \(v3Polls) v2c \(v2Polls)")
    }

    @Test func twoDevicesWithTheSameEngineIDAreBothPolledAndFlagged() async throws {
        // Cloned configs: one exactEngineID on two agents whose boots differ.
        let engine = "0x80001f8804636c6f6e6564"
        let clone = "exactEngineID \(engine)\n\(Self.user)"
        let a = try await Lab.startSnmpd(extraConfig: clone)
        defer { a.stop() }
        let b = try await Lab.startSnmpd(extraConfig: clone, engineBoots: 41)
        defer { b.stop() }
        let config = """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            timeout = "1s"
            retries = 1
            [http]
            listen = "127.0.0.1:HTTPPORT"
            \(Self.credential)
            [[devices]]
            name = "clone-a"
            address = "127.0.0.1:\(a.port)"
            snmp = "v3"
            profiles = ["system"]
            [[devices]]
            name = "clone-b"
            address = "127.0.0.1:\(b.port)"
            snmp = "v3"
            profiles = ["system"]
            """
        let agent = try AgentProcess.start(config, name: "v3-clones")
        defer { agent.child.stop() }
        for name in ["clone-a", "clone-b"] {
            let device = await waitForDevice(agent.base, name) { d in
                (d["polls"] as? Int ?? 0) >= 4 && (d["snmp"] as? [String: Any])?["flags"] != nil
            }
            #expect(device?["state"] as? String == "up", "\(name): \(String(describing: device))")
            #expect(((device?["snmp"] as? [String: Any])?["flags"] as? [String]) == ["duplicate_engine_id"])
        }
        // Both stay up poll after poll, although net-snmp keeps one time record per engine ID.
        let later = await waitForDevice(agent.base, "clone-a") { ($0["polls"] as? Int ?? 0) >= 8 }
        #expect(later?["state"] as? String == "up")
        #expect(
            StatusJSON.device(await Lab.httpGet("\(agent.base)/status")?.1 ?? "", "clone-b")?["state"] as? String
                == "up")
        let log = (try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? ""
        let warnings = log.split(separator: "\n").filter { $0.contains("duplicate_engine_id") }
        #expect(warnings.count == 2, "\(warnings)")  // once per device
    }
}
