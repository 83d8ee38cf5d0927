import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// The real `netpoller` binary against real snmpd, checked with promtool and scraped by a real Prometheus.
@Suite(.serialized) struct AgentEndToEndTests {
    static var binary: String { Lab.root.appendingPathComponent(".build/debug/netpoller").path }

    func config(snmpPort: Int, httpPort: Int, extra: String = "") -> String {
        """
        [agent]
        state_dir = "STATEDIR"
        interval = "2s"
        timeout = "500ms"
        retries = 0
        shutdown_timeout = "3s"
        [http]
        listen = "127.0.0.1:\(httpPort)"
        [credentials.snmp.default]
        community_file = "SECRETFILE"
        [[devices]]
        name = "lab-snmpd"
        address = "127.0.0.1:\(snmpPort)"
        tags = { site = "lab" }
        [[devices]]
        name = "dead"
        address = "127.0.0.1:\(Lab.freePort(udp: true))"
        \(extra)
        """
    }

    func waitFor(_ url: String, status: Int = 200, seconds: Double = 30, contains: String? = nil) async -> String? {
        await Lab.waitForHTTP(url, status: status, seconds: seconds) { body in contains.map(body.contains) ?? true }
    }

    @Test func agentServesDeviceMetricsPassesPromtoolIsScrapedByPrometheusAndDrainsOnSigterm() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: swift build")
        let snmpd = try await Lab.startSnmpd(community: "c0mmunity")
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("e2e")
        let secret = dir.appendingPathComponent("community").path
        try "c0mmunity\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        try config(snmpPort: snmpd.port, httpPort: httpPort).replacingOccurrences(of: "SECRETFILE", with: secret)
            .replacingOccurrences(of: "STATEDIR", with: dir.appendingPathComponent("state").path)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("agent.log").path
        let agent = try Child.spawn(Self.binary, ["run", "--config", configPath], output: log)
        defer { agent.stop() }
        let base = "http://127.0.0.1:\(httpPort)"

        #expect(await waitFor("\(base)/ready") != nil, "agent never became ready")
        let devices = await waitFor("\(base)/metrics/devices", contains: "ifHCInOctets{")
        #expect(devices != nil)
        #expect(devices?.contains("# TYPE ifHCInOctets counter") == true)
        #expect(devices?.contains("sysName{device=\"lab-snmpd\",site=\"lab\",sysName=") == true)
        #expect(devices?.contains("ifName=\"lo\"") == true)
        let one = await Lab.httpGet("\(base)/metrics/devices/lab-snmpd")
        #expect(one?.0 == 200 && one?.1.contains("device=\"lab-snmpd\"") == true)
        #expect(await Lab.httpGet("\(base)/metrics/devices/nope")?.0 == 404)
        #expect(await Lab.httpGet("\(base)/health")?.0 == 200)

        // The dead device shows in /status with its error, and the agent keeps running.
        let status = await waitFor("\(base)/status", contains: "\"last_error_type\" : \"timeout\"")
        #expect(status != nil)
        #expect(status?.contains("\"state\" : \"up\"") == true)
        #expect(status?.contains("c0mmunity") == false)

        // The agent's own metrics are clean under promtool.
        let (_, metrics) = await Lab.httpGet("\(base)/metrics") ?? (0, "")
        for name in [
            "netpoller_build_info", "netpoller_polls_total", "netpoller_poll_duration_seconds_bucket",
            "netpoller_snmp_varbinds_total", "netpoller_snmp_timeouts_total", "netpoller_snmp_walk_errors_total",
            "netpoller_poll_overruns_total", "netpoller_queue_length_samples", "netpoller_queue_capacity_samples",
            "netpoller_dropped_samples_total", "netpoller_devices",
        ] {
            #expect(metrics.contains(name), "missing \(name)")
        }
        let promtool = try #require(Lab.which("promtool"))
        let (lint, lintOutput) = try await Lab.run(promtool, ["check", "metrics"], stdin: Data(metrics.utf8))
        // The only lint allowed: the two counter-semantics metrics whose names issue 17 fixed (users rely on them)
        // contain the word "counter".
        let problems = lintOutput.split(separator: "\n").filter {
            !$0.isEmpty && !$0.hasPrefix("netpoller_counter_resets_total metric name should not include type")
                && !$0.hasPrefix("netpoller_counter_wraps_total metric name should not include type")
        }
        #expect(lint == 0 || problems.isEmpty, "\(lintOutput)")

        // A real Prometheus scrapes both endpoints: up == 1 and a device metric arrives.
        let prometheus = try await Lab.startPrometheus(scraping: ["127.0.0.1:\(httpPort)"])
        defer { prometheus.stop() }
        let api = "http://127.0.0.1:\(prometheus.port)/api/v1/query?query="
        let up = await waitFor("\(api)up%7Bjob%3D%22netpoller%22%7D", seconds: 60, contains: "\"value\":[")
        #expect(up?.contains("\"1\"]") == true, "\(up ?? "no answer")")
        let deviceMetric = await waitFor(
            "\(api)ifHCInOctets%7Bdevice%3D%22lab-snmpd%22%7D", seconds: 60, contains: "\"ifName\":\"lo\"")
        #expect(deviceMetric != nil)

        // SIGTERM: stops scheduling, flushes, exits 0; each phase logged once.
        agent.signal(SIGTERM)
        let exit = await agent.wait(timeout: .seconds(20))
        #expect(exit == 0)
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        for phase in [
            "config loaded", "snmp io thread started", "sinks started", "pollers started", "http listening",
            "shutdown: stopping the schedule", "shutdown: queue flushed to the sinks", "stopped",
        ] {
            #expect(
                logText.components(separatedBy: "msg=\"\(phase)\"").count
                    + logText.components(separatedBy: "msg=\(phase) ").count - 2 == 1, "phase \(phase)")
        }
        // The dead device is logged once when it goes down, not on every poll.
        #expect(logText.components(separatedBy: "device.name=dead").count - 1 == 1)
        #expect(!logText.contains("c0mmunity"))
    }

    @Test func badConfigExits78WithEveryProblem() async throws {
        let dir = try Lab.temporaryDirectory("badconf")
        let path = dir.appendingPathComponent("agent.conf").path
        try "[agent]\ninterval = \"5x\"\n[[devices]]\nname = \"a\"\naddress = \"bad address!\"\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(Self.binary, ["check", "--config", path])
        #expect(status == 78)
        #expect(output.contains("agent.conf:2: agent.interval: \"5x\" is not a duration"))
        #expect(output.contains("agent.conf:5: devices[0].address"))
        #expect(!output.contains("Fatal error"))
        let (runStatus, _) = try await Lab.run(Self.binary, ["run", "--config", path])
        #expect(runStatus == 78)
        let (okStatus, okOutput) = try await Lab.run(
            Self.binary, ["check", "--config", Lab.root.appendingPathComponent("agent.conf.example").path])
        #expect(okStatus == 0, "\(okOutput)")
        #expect(okOutput.contains("devices: 3"))
        #expect(okOutput.contains("ssh credentials: netops (user=netops password host_keys=strict)"))
        #expect(!okOutput.contains("change-me"), "no secret in check output")
    }

    @Test func listenAddressInUseExitsWithAMessageNamingIt() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("inuse")
        let port = Lab.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(holder, 1)
        let path = dir.appendingPathComponent("agent.conf").path
        try config(snmpPort: snmpd.port, httpPort: port).replacingOccurrences(
            of: "community_file = \"SECRETFILE\"", with: "community = \"public\""
        )
        .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(Self.binary, ["run", "--config", path])
        #expect(status == 69)
        #expect(output.contains("cannot listen on 127.0.0.1:\(port): Address already in use"))
    }

    @Test func onceprintsLineProtocolAndFailsWhenADeviceFails() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("once")
        let path = dir.appendingPathComponent("agent.conf").path
        try config(snmpPort: snmpd.port, httpPort: Lab.freePort()).replacingOccurrences(
            of: "community_file = \"SECRETFILE\"", with: "community = \"public\""
        ).write(toFile: path, atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try await Lab.run(Self.binary, ["once", "--config", path, "--device", "lab-snmpd"])
        #expect(okStatus == 0)
        #expect(okOutput.contains("interface,device=lab-snmpd,ifDescr=lo,ifIndex=1,ifName=lo,site=lab "))
        let (jsonStatus, jsonOutput) = try await Lab.run(
            Self.binary, ["once", "--config", path, "--device", "lab-snmpd", "--format", "json"])
        #expect(jsonStatus == 0)
        #expect(jsonOutput.contains("\"measurement\":\"system\""))
        let (allStatus, allOutput) = try await Lab.run(Self.binary, ["once", "--config", path])
        #expect(allStatus == 1)
        #expect(allOutput.contains("dead: down: timeout"))
    }
}
