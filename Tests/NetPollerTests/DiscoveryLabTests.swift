import Foundation
import NetPollerTesting
import Testing

/// `netpoller discover` against a simulated topology on loopback: snmpsim devices with LLDP and CDP tables forming a
/// cycle, a device with three addresses, an SNMPv3-only snmpd, a device answering no credential, a dead address, a
/// neighbour outside `networks` and one inside `exclude` (both counted at their addresses: never a packet).
@Suite(.serialized) struct DiscoveryLabTests {
    static let user = "discouser"
    static let authPassword = "authpass123"
    static let privPassword = "privpass123"

    static func lldp(
        _ port: Int, _ name: String, to remote: String, _ remotePort: String, chassis: String, _ management: String?
    ) -> SimulatedDevice.LLDPRow {
        SimulatedDevice.LLDPRow(
            localPort: port, localName: name, remoteName: remote, remotePort: remotePort, remoteChassis: chassis,
            management: management)
    }

    /// Eight SNMP devices (seven answering a credential) in 127.0.1.0/24.
    static func topology() -> [SimulatedDevice] {
        var core1 = SimulatedDevice(
            addresses: ["127.0.1.1", "127.0.1.2", "127.0.1.3"], sysName: "core1",
            sysObjectID: "1.3.6.1.4.1.9.1.1208", sysDescr: "Cisco IOS Software, C2960X Software, Version 15.2(7)E4")
        core1.engineID = "800000090300c0ffee0001"
        core1.serial = "FOC0001"
        core1.chassisID = "00c0ffee0001"
        core1.lldp = [
            lldp(1, "Gi1/0/1", to: "dist1", "Gi0/1", chassis: "00c0ffee0011", "127.0.1.11"),
            lldp(2, "Gi1/0/2", to: "dist2", "Gi0/1", chassis: "00c0ffee0012", "127.0.1.12"),
        ]
        var dist1 = SimulatedDevice(
            addresses: ["127.0.1.11"], sysName: "dist1", sysObjectID: "1.3.6.1.4.1.9.1.2134",
            sysDescr: "Cisco IOS XE Software, Version 17.3.4")
        dist1.engineID = "800000090300c0ffee0011"
        dist1.chassisID = "00c0ffee0011"
        dist1.lldp = [
            lldp(1, "Gi0/1", to: "core1", "Gi1/0/1", chassis: "00c0ffee0001", "127.0.1.2"),
            lldp(2, "Gi0/2", to: "dist2", "Gi0/2", chassis: "00c0ffee0012", "127.0.1.12"),
        ]
        dist1.cdp = [
            SimulatedDevice.CDPRow(
                ifIndex: 5, ifName: "Gi0/5", deviceID: "access1.lab", port: "Fa0/24", address: "127.0.1.21")
        ]
        var dist2 = SimulatedDevice(
            addresses: ["127.0.1.12"], sysName: "dist2", sysObjectID: "1.3.6.1.4.1.9.1.2134",
            sysDescr: "Cisco IOS XE Software, Version 17.3.4")
        dist2.engineID = "800000090300c0ffee0012"
        dist2.chassisID = "00c0ffee0012"
        dist2.lldp = [
            lldp(1, "Gi0/1", to: "core1", "Gi1/0/2", chassis: "00c0ffee0001", "127.0.1.1"),
            lldp(2, "Gi0/2", to: "dist1", "Gi0/2", chassis: "00c0ffee0011", "127.0.1.11"),
            lldp(3, "Gi0/3", to: "v3-router", "eth0", chassis: "00c0ffee0030", "127.0.1.30"),
            lldp(4, "Gi0/4", to: "isp-edge", "xe-0/0/0", chassis: "00c0ffee0901", "127.0.9.1"),
        ]
        var access1 = SimulatedDevice(
            addresses: ["127.0.1.21"], sysName: "access1", sysObjectID: "1.3.6.1.4.1.9.1.1208",
            sysDescr: "Cisco IOS Software, C2960X Software, Version 15.2(7)E4")
        access1.engineID = "800000090300c0ffee0021"
        access1.cdp = [
            SimulatedDevice.CDPRow(
                ifIndex: 24, ifName: "Fa0/24", deviceID: "dist1", port: "Gi0/5", address: "127.0.1.11")
        ]
        access1.lldp = [
            lldp(1, "Fa0/1", to: "edge1", "eth1", chassis: "00c0ffee0024", "127.0.1.24"),
            lldp(2, "Fa0/2", to: "access2", "ge-0/0/1", chassis: "00c0ffee0022", "127.0.1.22"),
        ]
        // No engine ID: identified by sysObjectID + chassis serial.
        var access2 = SimulatedDevice(
            addresses: ["127.0.1.22"], sysName: "access2", sysObjectID: "1.3.6.1.4.1.2636.1.1.1.2.1",
            sysDescr: "Juniper Networks, Inc. ex2300-24t, JUNOS 20.4R3")
        access2.serial = "SN-ACCESS2"
        access2.lldp = [
            lldp(1, "ge-0/0/1", to: "access1", "Fa0/2", chassis: "00c0ffee0021", "127.0.1.21"),
            lldp(2, "ge-0/0/2", to: "locked-sw", "1", chassis: "00c0ffee0040", "127.0.1.40"),
            lldp(3, "ge-0/0/3", to: "gone-sw", "1", chassis: "00c0ffee0050", "127.0.1.50"),
            lldp(4, "ge-0/0/4", to: "ups1", "mgmt", chassis: "00c0ffee0023", "127.0.1.23"),
            lldp(5, "ge-0/0/5", to: "lab-excluded", "1", chassis: "00c0ffee0060", "127.0.1.60"),
        ]
        // No engine ID, no serial: identified by sysName + its addresses.
        let ups1 = SimulatedDevice(
            addresses: ["127.0.1.23"], sysName: "ups1", sysObjectID: "1.3.6.1.4.1.318.1.3.27",
            sysDescr: "APC Web/SNMP Management Card")
        var edge1 = SimulatedDevice(
            addresses: ["127.0.1.24"], sysName: "edge1", sysObjectID: "1.3.6.1.4.1.8072.3.2.10",
            sysDescr: "Linux edge1 6.1.0 x86_64")
        edge1.engineID = "80001f8880c0ffee0024"
        edge1.lldp = [
            lldp(1, "eth0", to: "core1", "Gi1/0/3", chassis: "00c0ffee0001", "127.0.1.3"),
            lldp(2, "eth1", to: "access1", "Fa0/1", chassis: "00c0ffee0021", "127.0.1.21"),
        ]
        var locked = SimulatedDevice(
            addresses: ["127.0.1.40"], sysName: "locked-sw", sysObjectID: "1.3.6.1.4.1.9.1.1208",
            sysDescr: "Cisco IOS Software")
        locked.community = "not-our-community"
        return [core1, dist1, dist2, access1, access2, ups1, edge1, locked]
    }

    static func config(port: Int, extra: String = "") -> String {
        """
        [agent]
        state_dir = "DIR/state"
        [credentials.snmp.lab-v2]
        community = "public"
        [credentials.snmp.lab-v3]
        version = "3"
        username = "\(user)"
        security_level = "authPriv"
        auth_protocol = "SHA"
        auth_password = "\(authPassword)"
        priv_protocol = "AES"
        priv_password = "\(privPassword)"
        [discovery]
        networks = ["127.0.1.0/24"]
        exclude = ["127.0.1.60/32"]
        seeds = ["127.0.1.1"]
        sweep = false
        credentials = ["lab-v2", "lab-v3"]
        port = \(port)
        rate = 200
        timeout = "500ms"
        retries = 0
        max_depth = 5
        \(extra)
        """
    }

    static func write(_ text: String, _ path: URL, directory: URL) throws {
        try text.replacingOccurrences(of: "DIR", with: directory.path).write(
            to: path, atomically: true, encoding: .utf8)
    }

    static func discover(_ arguments: [String]) async throws -> (Int32, String) {
        try await Lab.run(AgentProcess.binary, ["discover"] + arguments)
    }

    @Test func aCrawlFindsEachDeviceOnceWithItsLinksAndReRunsByteIdentical() async throws {
        let port = Lab.freePort(udp: true)
        let labs = try await Lab.startSimulatedDevices(Self.topology(), port: port)
        defer { labs.forEach { $0.stop() } }
        let v3 = try await Lab.startSnmpdV3Only(
            address: "127.0.1.30", port: port, user: Self.user, authPassword: Self.authPassword,
            privPassword: Self.privPassword, sysName: "v3-router")
        defer { v3.stop() }
        let outside = try UDPCounter(address: "127.0.9.1", port: port)
        let excluded = try UDPCounter(address: "127.0.1.60", port: port)
        defer {
            outside.stop()
            excluded.stop()
        }
        let dir = try Lab.temporaryDirectory("discovery-crawl")
        let conf = dir.appendingPathComponent("agent.conf")
        try Self.write(Self.config(port: port), conf, directory: dir)

        let first = dir.appendingPathComponent("first.conf").path
        let (status, log) = try await Self.discover(["--config", conf.path, "--output", first])
        #expect(status == 0, "\(log)")
        let second = dir.appendingPathComponent("second.conf").path
        let (status2, log2) = try await Self.discover(["--config", conf.path, "--output", second])
        #expect(status2 == 0, "\(log2)")
        let firstText = try String(contentsOfFile: first, encoding: .utf8)
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data(contentsOf: URL(fileURLWithPath: second)))
        #expect(log2.contains("0 new, 0 changed, 0 gone"), "\(log2)")
        #expect(!firstText.contains(Self.authPassword) && !firstText.contains("public\""), "no secret in the output")

        let json1 = dir.appendingPathComponent("first.json").path
        let json2 = dir.appendingPathComponent("second.json").path
        _ = try await Self.discover(["--config", conf.path, "--format", "json", "--output", json1])
        _ = try await Self.discover(["--config", conf.path, "--format", "json", "--output", json2])
        #expect(try Data(contentsOf: URL(fileURLWithPath: json1)) == Data(contentsOf: URL(fileURLWithPath: json2)))
        let result =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json1))) as! [String: Any]
        let devices = result["devices"] as! [[String: Any]]
        let byName = Dictionary(uniqueKeysWithValues: devices.map { ($0["name"] as! String, $0) })
        #expect(
            Set(byName.keys) == ["core1", "dist1", "dist2", "access1", "access2", "ups1", "edge1", "v3-router"],
            "\(byName.keys.sorted())")
        // One device reached at three addresses, polled at the first in networks order.
        #expect(byName["core1"]?["answered_at"] as? [String] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"])
        #expect(byName["core1"]?["address"] as? String == "127.0.1.1")
        #expect(byName["core1"]?["identity"] as? String == "engine:800000090300c0ffee0001")
        #expect(byName["core1"]?["serial"] as? String == "FOC0001")
        #expect(byName["access2"]?["identity"] as? String == "serial:1.3.6.1.4.1.2636.1.1.1.2.1/SN-ACCESS2")
        #expect(byName["ups1"]?["identity"] as? String == "name:ups1/127.0.1.23")
        #expect(byName["v3-router"]?["credential"] as? String == "lab-v3")
        #expect(byName["dist1"]?["credential"] as? String == "lab-v2")
        #expect(byName["v3-router"]?["profiles"] as? [String] == ["system", "if-mib", "host-resources", "ucd-snmp"])
        #expect(byName["access1"]?["found"] as? String == "cdp neighbour of dist1")
        #expect(byName["core1"]?["found"] as? String == "seed 127.0.1.1")
        let noCredential = result["no_credential"] as! [[String: Any]]
        #expect(noCredential.map { $0["address"] as! String } == ["127.0.1.40"])
        #expect(noCredential.first?["tried"] as? [String] == ["lab-v2", "lab-v3"])
        #expect(result["unreachable"] as? [String] == ["127.0.1.50"])
        #expect(result["outside"] as? [String] == ["127.0.1.60", "127.0.9.1"])
        let links = (result["links"] as! [[String: Any]]).map {
            "\($0["protocol"]!) \($0["local_device"]!) \($0["local_port"]!) -> \($0["remote_device"]!) \($0["remote_port"]!)"
        }
        for expected in [
            "lldp core1 Gi1/0/1 -> dist1 Gi0/1", "lldp dist1 Gi0/2 -> dist2 Gi0/2", "lldp dist2 Gi0/1 -> core1 Gi1/0/2",
            "cdp dist1 Gi0/5 -> access1 Fa0/24", "lldp edge1 eth0 -> core1 Gi1/0/3",
            "lldp dist2 Gi0/4 -> isp-edge xe-0/0/0",
            "lldp access2 ge-0/0/4 -> ups1 mgmt", "cdp access1 Fa0/24 -> dist1 Gi0/5",
        ] {
            #expect(links.contains(expected), "\(expected) in \(links)")
        }
        // Never a packet outside networks or inside exclude.
        #expect(outside.packets.isEmpty && excluded.packets.isEmpty)

        // The conf output reads straight back as a config directory.
        let confDir = dir.appendingPathComponent("conf.d")
        try FileManager.default.createDirectory(at: confDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: first, toPath: confDir.appendingPathComponent("discovered.conf").path)
        let (checkStatus, checkOutput) = try await Lab.run(
            AgentProcess.binary, ["check", "--config", conf.path, "--config-dir", confDir.path])
        #expect(checkStatus == 0, "\(checkOutput)")
        #expect(checkOutput.contains("devices: 8"), "\(checkOutput)")

        // --diff: dist2 removed from the config and a device that is not there added.
        var edited = firstText
        let start = edited.range(of: "name = \"dist2\"")!.lowerBound
        let blockStart = edited[..<start].range(of: "[[devices]]", options: .backwards)!.lowerBound
        let blockEnd = edited[start...].range(of: "\n\n")!.upperBound
        edited.removeSubrange(blockStart..<blockEnd)
        edited += "\n[[devices]]\nname = \"old-sw\"\naddress = \"127.0.1.77:\(port)\"\nsnmp = \"lab-v2\"\n"
        try edited.write(to: confDir.appendingPathComponent("discovered.conf"), atomically: true, encoding: .utf8)
        // The running config as a directory: the main file and the fragment.
        try FileManager.default.copyItem(
            atPath: conf.path, toPath: confDir.appendingPathComponent("00-agent.conf").path)
        let (diffStatus, diff) = try await Self.discover(["--config", conf.path, "--diff", confDir.path])
        #expect(diffStatus == 0, "\(diff)")
        #expect(diff.contains("new      dist2  127.0.1.12"), "\(diff)")
        #expect(diff.contains("gone     old-sw  127.0.1.77"), "\(diff)")
        #expect(diff.contains("summary: 1 new, 0 changed, 1 gone, 7 unchanged"), "\(diff)")
    }

    /// A /22 of silent loopback addresses: the responder counts every packet. The sweep holds the rate in every
    /// one-second window, finishes in about the time the rate allows, never touches `exclude`, and its memory stays
    /// flat.
    @Test func aSlash22SweepHoldsTheRateAndFinishesInTheTimeItAllows() async throws {
        let port = Lab.freePort(udp: true)
        let responder = try UDPCounter(address: "0.0.0.0", port: port)
        defer { responder.stop() }
        let dir = try Lab.temporaryDirectory("discovery-sweep")
        let conf = dir.appendingPathComponent("agent.conf")
        let rate = 500
        try Self.write(
            """
            [agent]
            state_dir = "DIR/state"
            [credentials.snmp.lab-v2]
            community = "public"
            [discovery]
            networks = ["127.0.4.0/22"]
            exclude = ["127.0.6.0/30"]
            credentials = ["lab-v2"]
            port = \(port)
            rate = \(rate)
            concurrency = 256
            timeout = "300ms"
            retries = 0
            """, conf, directory: dir)
        let started = Date()
        let (status, log) = try await Self.discover(["--config", conf.path, "--format", "json"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(status == 0, "\(log)")
        let packets = responder.packets
        let destinations = Set(packets.map(\.destination))
        // 1,022 hosts (no network or broadcast address) less the 4 excluded; each got one GET and one engine probe.
        #expect(destinations.count == 1_018)
        #expect(destinations.allSatisfy { $0 >> 10 == (127 << 14 | 4 >> 2) }, "all inside 127.0.4.0/22")
        #expect(!destinations.contains { (127 << 24 | 6 << 8)...(127 << 24 | 6 << 8 | 3) ~= $0 }, "none excluded")
        #expect(packets.count == 2 * 1_018, "\(packets.count) packets")
        #expect(log.contains("1018 addresses probed"), "\(log)")
        #expect(log.contains("\(2 * 1_018) packets"), "the budget counts what arrived: \(log)")
        let peak = responder.peak(window: 1.0)
        #expect(peak <= rate + rate / 20, "at most \(rate)/s (+ burst and jitter): \(peak) in one second")
        let allowed = Double(packets.count) / Double(rate)
        #expect(elapsed >= allowed * 0.9, "no faster than the rate: \(elapsed) s for \(allowed) s of packets")
        #expect(elapsed <= allowed + 3, "no slower than the rate and a timeout: \(elapsed) s for \(allowed) s")
        let rss = log.components(separatedBy: "peak RSS ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        print(
            "sweep of a /22: \(packets.count) packets in \(elapsed) s (\(allowed) s at the rate), peak \(peak) in 1 s, RSS \(rss) MiB"
        )
        #expect(rss > 0 && rss < 100, "peak RSS \(rss) MiB")
    }

    /// `[discovery]` in `run` with `auto_add`: a device that appears on the network is written to `discovered.conf`
    /// and polled after the reload it triggers, without a restart.
    @Test func autoAddPollsANewDeviceWithoutARestart() async throws {
        let port = Lab.freePort(udp: true)
        var first = SimulatedDevice(
            addresses: ["127.0.2.1"], sysName: "auto-first", sysObjectID: "1.3.6.1.4.1.9.1.1208",
            sysDescr: "Cisco IOS Software")
        first.engineID = "800000090300c0ffee0201"
        let labs = try await Lab.startSimulatedDevices([first], port: port)
        defer { labs.forEach { $0.stop() } }
        let config = """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            timeout = "500ms"
            retries = 0
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.lab-v2]
            community = "public"
            [discovery]
            networks = ["127.0.2.0/29"]
            credentials = ["lab-v2"]
            port = \(port)
            rate = 200
            timeout = "300ms"
            retries = 0
            interval = "1s"
            output_dir = "DIR/conf.d"
            auto_add = true
            """
        let dir = try Lab.temporaryDirectory("discovery-auto")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("conf.d"), withIntermediateDirectories: true)
        let agent = try AgentProcess.start(
            config.replacingOccurrences(of: "DIR", with: dir.path), name: "discovery-auto",
            arguments: ["--config-dir", "\(dir.path)/conf.d"])
        defer { agent.child.stop() }
        let polled = await StatusJSON.waitForDevice(agent.base, "auto-first", seconds: 60) {
            $0["state"] as? String == "up"
        }
        #expect(polled != nil, "\((try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? "")")

        var second = SimulatedDevice(
            addresses: ["127.0.2.2"], sysName: "auto-second", sysObjectID: "1.3.6.1.4.1.9.1.1208",
            sysDescr: "Cisco IOS Software")
        second.engineID = "800000090300c0ffee0202"
        let more = try await Lab.startSimulatedDevices([second], port: port)
        defer { more.forEach { $0.stop() } }
        let added = await StatusJSON.waitForDevice(agent.base, "auto-second", seconds: 60) {
            $0["state"] as? String == "up"
        }
        #expect(added != nil, "\((try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? "")")
        #expect(kill(agent.child.pid, 0) == 0, "the same process: no restart")
        let written = try String(contentsOfFile: dir.path + "/conf.d/discovered.conf", encoding: .utf8)
        #expect(written.contains("name = \"auto-second\"") && written.contains("address = \"127.0.2.2:\(port)\""))
        let metrics = await Lab.httpGet("\(agent.base)/metrics")?.1 ?? ""
        #expect((StatusJSON.metric(metrics, "netpoller_discovery_devices") ?? 0) == 2, "\(metrics)")
        #expect((StatusJSON.metric(metrics, "netpoller_discovery_changes_total{change=\"new\"}") ?? 0) == 2)
        let status = await Lab.httpGet("\(agent.base)/status")?.1 ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
        let discovery = object?["discovery"] as? [String: Any]
        #expect(discovery?["devices"] as? Int == 2 && discovery?["auto_add"] as? Bool == true, "\(status)")
        let log = (try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("reloading (auto_add)") && log.contains("config reloaded"))
    }
}
