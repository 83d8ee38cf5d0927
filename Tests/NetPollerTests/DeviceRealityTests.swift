import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// Issue 16 against the real binary: this project's own recordings on real snmpsim (MACs, INTEGER where a counter
/// belongs, a truncated ifTable), and hostile agents (an endless table, garbage, wrong request ids) with the agent's
/// peak RSS measured.
@Suite(.serialized) struct DeviceRealityTests {
    static var binary: String { AgentProcess.binary }

    func start(_ config: String, _ name: String) throws -> (Child, String, URL) {
        let agent = try AgentProcess.start(config, name: name)
        return (agent.child, agent.base, agent.directory)
    }

    func device(_ body: String, _ name: String) -> [String: Any]? { StatusJSON.device(body, name) }

    func metric(_ text: String, _ series: String) -> Double? { StatusJSON.metric(text, series) }

    /// Waits until `/status` shows the device with a poll done and `check` true of it.
    func waitForDevice(
        _ base: String, _ name: String, seconds: Double = 60, _ check: @escaping ([String: Any]) -> Bool
    ) async -> [String: Any]? { await StatusJSON.waitForDevice(base, name, seconds: seconds, check) }

    @Test func ownRecordingsMacsTypeMismatchesAndATruncatedTable() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: swift build")
        let snmpsim = try await Lab.startSnmpsim(
            fixtures: ["integer-counters", "counter-switch", "truncated-iftable", "hr-on-junos"])
        defer { snmpsim.stop() }
        var config = """
            [agent]
            state_dir = "DIR/state"
            interval = "2s"
            timeout = "1s"
            retries = 1
            [http]
            listen = "127.0.0.1:HTTPPORT"

            """
        for (name, recording) in [
            ("intsw", "integer-counters"), ("cntsw", "counter-switch"), ("cutsw", "truncated-iftable"),
            ("junos1", "hr-on-junos"),
        ] {
            config += """
                [credentials.snmp.\(name)]
                community = "\(recording)"
                [[devices]]
                name = "\(name)"
                address = "127.0.0.1:\(snmpsim.port)"
                snmp = "\(name)"

                """
        }
        let (agent, base, dir) = try start(config, "reality")
        defer { agent.stop() }

        // Item 5: the truncated ifTable degrades its device, and /status names the table and the missing columns.
        let cut = await waitForDevice(base, "cutsw") { ($0["last_error_type"] as? String) == "walk_truncated" }
        #expect(cut?["state"] as? String == "degraded")
        let message = cut?["last_error"] as? String ?? ""
        #expect(message.contains("table interface is missing ifInOctets"), "\(message)")
        #expect(message.contains("ifOutOctets"))

        // Item 2: INTEGER octets are counters like everybody else's, and no device's lines are dropped.
        let intsw = await waitForDevice(base, "intsw") { ($0["state"] as? String) == "up" }
        #expect(intsw != nil)
        _ = await waitForDevice(base, "cntsw") { ($0["state"] as? String) == "up" }
        let devices = await Lab.httpGet("\(base)/metrics/devices")?.1 ?? ""
        #expect(devices.contains("# TYPE ifInOctets counter"))
        #expect(devices.contains("ifInOctets{device=\"intsw\",ifDescr=\"eth2\",ifIndex=\"2\"} 2000"), "\(devices)")
        #expect(devices.contains("ifInOctets{device=\"cntsw\",ifDescr=\"eth2\",ifIndex=\"2\"} 2000"))
        // Item 1: a binary MAC that is valid UTF-8 and an all-zero MAC, as recorded.
        #expect(devices.contains("ifPhysAddress=\"6c:29:d2:a4:c8:80\""))
        #expect(devices.contains("ifPhysAddress=\"00:00:00:00:00:00\""))
        let promtool = try #require(Lab.which("promtool"))
        let (status, output) = try await Lab.run(promtool, ["check", "metrics"], stdin: Data(devices.utf8))
        #expect(status == 0 || !output.contains("error"), "\(output)")

        // Item 6: host-resources on a Junos sysObjectID, because the device answers hrSystemUptime; /status says why.
        let junos = await waitForDevice(base, "junos1") { ($0["state"] as? String) == "up" }
        #expect((junos?["profiles"] as? [String])?.contains("host-resources") == true, "\(String(describing: junos))")
        let reasons = junos?["profile_reasons"] as? [String: String]
        #expect(reasons?["host-resources"] == "probe hrSystemUptime")
        #expect(reasons?["if-mib"] == "default")
        #expect(reasons?["ucd-snmp"] == nil)
        let junosData = await Lab.httpGet("\(base)/metrics/devices/junos1")?.1 ?? ""
        #expect(junosData.contains("hrSystemUptime{device=\"junos1\"} 99999"))
        #expect(junosData.contains("hrProcessorLoad{device=\"junos1\",hrDeviceIndex=\"2\"} 23"))
        // Written within the state files' 2 s coalescing window.
        let profilesFile = dir.appendingPathComponent("state/snmp-profiles.json")
        #expect(
            await eventually {
                ((try? String(contentsOf: profilesFile, encoding: .utf8)) ?? "").contains("junos1")
            })

        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        #expect((metric(metrics, "netpoller_snmp_type_mismatches_total") ?? 0) >= 6, "\(metrics)")
        #expect((metric(metrics, "netpoller_snmp_walk_errors_total{error_type=\"walk_truncated\"}") ?? 0) >= 1)
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(20)) == 0)
        let log = try String(contentsOf: dir.appendingPathComponent("agent.log"), encoding: .utf8)
        // Logged once per device and field, however many polls saw it.
        let warnings = log.split(separator: "\n").filter { $0.contains("field ifInOctets is declared counter") }
        #expect(warnings.count == 1, "\(warnings)")
    }

    @Test func aDeviceSlowerThanItsIntervalStaysVisible() async throws {
        let slow = try await Lab.startHostileAgent("slow")
        defer { slow.stop() }
        let (agent, base, _) = try start(
            """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            timeout = "2s"
            retries = 0
            poll_budget = "10s"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "slow"
            address = "127.0.0.1:\(slow.port)"
            profiles = ["system", "if-mib"]
            """, "slow")
        defer { agent.stop() }
        // Each poll takes 1.2-2 s against a 1 s interval (a real responder that waits 0.4 s per request): overruns,
        // a poll in progress shown, and its data served all along. (Data older than 3 × the interval while a poll
        // runs is covered in-process by AgentInProcessTests with a fake collector.)
        let overrun = await waitForDevice(base, "slow", seconds: 30) {
            ($0["overruns"] as? Int ?? 0) >= 2 && ($0["last_poll_duration_seconds"] as? Double ?? 0) > 1
        }
        #expect(overrun?["state"] as? String == "up", "\(String(describing: overrun))")
        // Over the next three polls (each awaited), the data is served at every look, and a poll is seen in progress.
        var looks = 0
        var served = 0
        var sawPollStarted = false
        let polls = overrun?["polls"] as? Int ?? 0
        let deadline = Date().addingTimeInterval(30)
        var polled = polls
        while polled < polls + 3 && Date() < deadline {
            looks += 1
            let data = await Lab.httpGet("\(base)/metrics/devices/slow")?.1 ?? ""
            if data.contains("ifInOctets{device=\"slow\",ifIndex=\"3\"} 3000") { served += 1 }
            let status = device(await Lab.httpGet("\(base)/status")?.1 ?? "", "slow")
            if status?["poll_started"] != nil { sawPollStarted = true }
            polled = status?["polls"] as? Int ?? polled
        }
        #expect(polled >= polls + 3)
        #expect(looks > 0 && served == looks, "\(served) of \(looks)")
        #expect(sawPollStarted)
    }

    /// The peak RSS the agent must stay under while polling the hostile mix (issue 16, item 3).
    static let rssLimitMiB = 160

    @Test func hostileAgentsCannotGrowMemoryWithoutBound() async throws {
        let endless = try await Lab.startHostileAgent("endless")
        defer { endless.stop() }
        let rows = try await Lab.startHostileAgent("rows")
        defer { rows.stop() }
        let garbage = try await Lab.startHostileAgent("garbage")
        defer { garbage.stop() }
        let wrongID = try await Lab.startHostileAgent("wrongid")
        defer { wrongID.stop() }
        var config = """
            [agent]
            state_dir = "DIR/state"
            interval = "4s"
            timeout = "500ms"
            retries = 0
            shutdown_timeout = "2s"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"

            """
        for (name, lab) in [("endless", endless), ("rows", rows), ("garbage", garbage), ("wrongid", wrongID)] {
            config += """
                [[devices]]
                name = "\(name)"
                address = "127.0.0.1:\(lab.port)"
                profiles = ["system", "if-mib"]

                """
        }
        let (agent, base, _) = try start(config, "hostile")
        defer { agent.stop() }
        // Both endless tables are capped at the default 100,000 varbinds, three polls each, and the device is degraded
        // with what arrived.
        for name in ["endless", "rows"] {
            let d = await waitForDevice(base, name, seconds: 120) {
                ($0["last_error_type"] as? String) == "walk_capped" && ($0["polls"] as? Int ?? 0) >= 3
            }
            #expect(d?["state"] as? String == "degraded", "\(name): \(String(describing: d))")
        }
        // Capped by max_walk_varbinds or by the poll budget (the interval), whichever came first: never more.
        let rowsStatus = await waitForDevice(base, "rows") { _ in true }
        let kept = rowsStatus?["samples"] as? Int ?? 0
        #expect(kept > 1_000 && kept <= 100_001, "\(kept)")
        // A scrape of every device's data is part of the bound.
        let scraped = await Lab.httpGet("\(base)/metrics/devices")?.1 ?? ""
        #expect(scraped.contains("ifInOctets{device=\"rows\",ifIndex=\"1000\"} 1000"))
        // Garbage and answers with a wrong request id are bad_response, not timeouts.
        for name in ["garbage", "wrongid"] {
            let d = await waitForDevice(base, name) { ($0["last_error_type"] as? String) == "bad_response" }
            #expect(d?["state"] as? String == "down", "\(name): \(String(describing: d))")
        }
        let peak = try #require(Self.peakRSSMiB(agent.pid))
        print("hostile mix: peak RSS \(peak) MiB (limit \(Self.rssLimitMiB) MiB)")
        #expect(peak < Self.rssLimitMiB, "peak RSS \(peak) MiB")
        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        #expect((metric(metrics, "netpoller_snmp_walk_errors_total{error_type=\"walk_capped\"}") ?? 0) >= 6)
        #expect(
            (metric(metrics, "netpoller_poll_errors_total{kind=\"snmp\",error_type=\"bad_response\"}") ?? 0) >= 2)

        // SIGTERM in the middle of the endless walks: shutdown_timeout (2 s) is a hard budget.
        _ = await waitForDevice(base, "rows") { $0["poll_started"] != nil }
        let stopping = Date()
        agent.signal(SIGTERM)
        let code = await agent.wait(timeout: .seconds(30))
        let took = Date().timeIntervalSince(stopping)
        print("hostile mix: SIGTERM during a walk: exit \(String(describing: code)) after \(took) s (budget 2 s)")
        #expect(code == 0)
        #expect(took < 2 + 3)
    }

    /// VmHWM of a process, in MiB.
    static func peakRSSMiB(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kib = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kib / 1024
        }
        return nil
    }
}
