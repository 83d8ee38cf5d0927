import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// The real binary against real snmpd with a file sink whose directory the test takes away and gives back: a sink
/// that is down, kill -9, SIGHUP under load, start-up policies.
@Suite(.serialized) struct DurableAgentTests {
    static var binary: String { Lab.root.appendingPathComponent(".build/debug/netpoller").path }

    struct Line: Hashable {
        var batchID: String
        var device: String
        var timestamp: Int64
        var text: String
    }

    /// Every JSON line the file sink wrote, in order.
    func lines(_ paths: [String]) -> [Line] {
        var out: [Line] = []
        for path in paths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            for raw in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any],
                    let id = object["batch_id"] as? String, let device = object["device"] as? String,
                    let timestamp = (object["timestamp"] as? NSNumber)?.int64Value
                else { continue }
                out.append(Line(batchID: id, device: device, timestamp: timestamp, text: String(raw)))
            }
        }
        return out
    }

    /// Largest gap between consecutive poll timestamps of a device, in seconds.
    func largestGap(_ lines: [Line], device: String) -> Double {
        let times = Set(lines.filter { $0.device == device }.map(\.timestamp)).sorted()
        return zip(times, times.dropFirst()).map { Double($1 - $0) / 1e9 }.max() ?? 0
    }

    func metric(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func sinkStatus(_ body: String, _ name: String) -> [String: Any]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let sinks = object["sinks"] as? [[String: Any]]
        else { return nil }
        return sinks.first { $0["name"] as? String == name }
    }

    func deviceStatus(_ body: String, _ name: String) -> [String: Any]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let devices = object["devices"] as? [[String: Any]]
        else { return nil }
        return devices.first { $0["name"] as? String == name }
    }

    func config(
        dir: URL, snmpPort: Int, httpPort: Int, devices: [(String, String)], fsync: String = "always",
        flush: String = "200ms", extra: String = ""
    ) -> String {
        var text = """
            [agent]
            state_dir = "\(dir.path)/state"
            interval = "1s"
            timeout = "500ms"
            retries = 0
            shutdown_timeout = "3s"
            [http]
            listen = "127.0.0.1:\(httpPort)"
            [credentials.snmp.default]
            community = "public"
            [[outputs.file]]
            name = "archive"
            path = "\(dir.path)/out/archive.jsonl"
            format = "json"
            flush_interval = "\(flush)"
            retry_backoff = "100ms"
            retry_backoff_max = "500ms"
            [outputs.file.spool]
            fsync = "\(fsync)"
            \(extra)

            """
        for (name, interval) in devices {
            text += """
                [[devices]]
                name = "\(name)"
                address = "127.0.0.1:\(snmpPort)"
                interval = "\(interval)"
                profiles = ["system"]

                """
        }
        return text
    }

    @Test func killMinus9LosesNothingThatReachedTheSpool() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("crash")
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        try config(dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("r1", "1s"), ("r2", "1s")])
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let base = "http://127.0.0.1:\(httpPort)"
        let first = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/run1.log")
        defer { first.stop() }
        #expect(await Lab.waitForHTTP("\(base)/ready") != nil)
        let archive = out.appendingPathComponent("archive.jsonl").path
        #expect(await eventually(20) { Set(lines([archive]).map(\.timestamp)).count >= 4 })

        // The sink goes down (its directory disappears): data piles up in the spool, polling goes on.
        let phase1 = dir.appendingPathComponent("out-phase1")
        try FileManager.default.moveItem(at: out, to: phase1)
        let spooling = await Lab.waitForHTTP("\(base)/status", seconds: 20) { body in
            let sink = sinkStatus(body, "archive")
            return sink?["state"] as? String != "ok" && (sink?["spooled_bytes"] as? Int ?? 0) > 0
                && (sink?["buffered_samples"] as? Int ?? 0) >= 20
        }
        #expect(spooling != nil)
        #expect(await Lab.httpGet("\(base)/ready")?.0 == 200)
        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        let synced = try #require(metric(metrics, "netpoller_spool_synced_samples_total{sink=\"archive\"}"))
        let killNanos = Int64(Date().timeIntervalSince1970 * 1e9)
        first.signal(SIGKILL)
        _ = await first.wait(timeout: .seconds(10))

        // Restart with the sink back: the spool goes out first, new data follows.
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let restartNanos = Int64(Date().timeIntervalSince1970 * 1e9)
        let second = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/run2.log")
        defer { second.stop() }
        let drained = await Lab.waitForHTTP("\(base)/status", seconds: 30) { body in
            let sink = sinkStatus(body, "archive")
            return sink?["state"] as? String == "ok" && sink?["buffered_samples"] as? Int == 0
                && (sink?["accepted_samples"] as? Int ?? 0) > Int(synced)
        }
        #expect(drained != nil)
        second.signal(SIGTERM)
        #expect(await second.wait(timeout: .seconds(20)) == 0)

        let all = lines([phase1.path + "/archive.jsonl", archive])
        let log2 = (try? String(contentsOfFile: dir.path + "/run2.log", encoding: .utf8)) ?? ""
        #expect(log2.contains("spooled data from the last run is delivered first"))
        // Everything fsynced before the kill arrived (at least once) ...
        let distinct = Set(all.map(\.text))
        #expect(distinct.count >= Int(synced), "delivered \(distinct.count) distinct samples, \(Int(synced)) synced")
        // ... with no hole: every 1 s poll of both devices is there, across the outage and the kill.
        for device in ["r1", "r2"] {
            #expect(
                all.contains { $0.device == device && $0.timestamp < killNanos }, "\(device): the first run's polls")
            #expect(all.contains { $0.device == device && $0.timestamp >= restartNanos }, "\(device): the second run's")
            let gap = largestGap(all, device: device)
            // The only allowed hole is the restart itself (the agent was dead): find it and check the rest.
            let times = Set(all.filter { $0.device == device }.map(\.timestamp)).sorted()
            let holes = zip(times, times.dropFirst()).filter { Double($1 - $0) / 1e9 > 1.9 }
            #expect(holes.count <= 1, "device \(device): \(holes.count) holes, largest \(gap) s")
            // A hole, if any, is the time the agent was dead: it spans the kill and the restart.
            for (before, after) in holes {
                #expect(before <= restartNanos && after >= killNanos, "\(device): a hole outside the restart")
            }
        }
        // Idempotent view (dedupe by batch id): every batch id always carries the same lines.
        var byBatch: [String: Set<String>] = [:]
        var copies: [String: Int] = [:]
        for line in all {
            byBatch[line.batchID, default: []].insert(line.text)
            copies[line.batchID, default: 0] += 1
        }
        for (id, texts) in byBatch { #expect(copies[id]! % texts.count == 0, "batch \(id) delivered partially") }
    }

    @Test func sighupUnderLoadChangesDevicesWithoutLosingBufferedData() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("reload")
        let out = dir.appendingPathComponent("out")
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        // The sink starts down (no directory): everything produced before and during the reload is buffered.
        try config(
            dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("a", "1s"), ("b", "1s"), ("c", "1s")]
        )
        .write(toFile: configPath, atomically: true, encoding: .utf8)
        let base = "http://127.0.0.1:\(httpPort)"
        let agent = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/agent.log")
        defer { agent.stop() }
        let before = await Lab.waitForHTTP("\(base)/status", seconds: 20) { body in
            ["a", "b", "c"].allSatisfy { (deviceStatus(body, $0)?["polls"] as? Int ?? 0) >= 3 }
        }
        let beforeBody = try #require(before)
        let scheduledA = deviceStatus(beforeBody, "a")?["scheduled_since"] as? Double
        let hashBefore =
            ((try? JSONSerialization.jsonObject(with: Data(beforeBody.utf8))) as? [String: Any])
            .flatMap { $0["agent"] as? [String: Any] }?["config_hash"] as? String
        #expect(scheduledA != nil && hashBefore != nil)

        // New config: a unchanged, b slower, c removed, d added, the sink's flush interval changed.
        try config(
            dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("a", "1s"), ("b", "2s"), ("d", "1s")],
            flush: "300ms"
        ).write(toFile: configPath, atomically: true, encoding: .utf8)
        agent.signal(SIGHUP)
        let after = await Lab.waitForHTTP("\(base)/status", seconds: 20) { body in
            deviceStatus(body, "c") == nil && (deviceStatus(body, "d")?["polls"] as? Int ?? 0) >= 2
        }
        let afterBody = try #require(after)
        #expect(deviceStatus(afterBody, "a")?["scheduled_since"] as? Double == scheduledA, "a was restarted")
        #expect((deviceStatus(afterBody, "b")?["scheduled_since"] as? Double ?? 0) > scheduledA ?? 0)
        let hashAfter =
            ((try? JSONSerialization.jsonObject(with: Data(afterBody.utf8))) as? [String: Any])
            .flatMap { $0["agent"] as? [String: Any] }?["config_hash"] as? String
        #expect(hashAfter != nil && hashAfter != hashBefore)
        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        #expect(metrics.contains("netpoller_config_info{hash=\"\(hashAfter ?? "")\"} 1"))
        #expect(!metrics.contains("netpoller_config_info{hash=\"\(hashBefore ?? "")\"}"))

        // A broken config is refused; the running one stays.
        let good = try String(contentsOfFile: configPath, encoding: .utf8)
        let broken = good.replacingOccurrences(of: "interval = \"1s\"\ntimeout", with: "interval = \"soon\"\ntimeout")
        #expect(broken != good)
        try broken.write(toFile: configPath, atomically: true, encoding: .utf8)
        agent.signal(SIGHUP)
        let refused = await Lab.waitForHTTP("\(base)/metrics", seconds: 10) {
            $0.contains("netpoller_config_reloads_total{result=\"failure\"} 1")
        }
        #expect(refused != nil)
        #expect(metrics.contains("netpoller_config_reloads_total{result=\"success\"} 1"))
        #expect(await Lab.httpGet("\(base)/ready")?.0 == 200)
        try good.write(toFile: configPath, atomically: true, encoding: .utf8)

        // The sink comes up: everything buffered before, during and after the reload is delivered.
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let drained = await Lab.waitForHTTP("\(base)/status", seconds: 30) { body in
            let sink = sinkStatus(body, "archive")
            return sink?["state"] as? String == "ok" && sink?["buffered_samples"] as? Int == 0
        }
        let drainedBody = try #require(drained)
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(20)) == 0)

        let all = lines([out.path + "/archive.jsonl"])
        #expect(largestGap(all, device: "a") < 1.9, "a lost polls across the reload")
        #expect(largestGap(all, device: "c") < 1.9, "c lost buffered polls")
        #expect(largestGap(all, device: "b") < 2.9)
        #expect(!all.filter { $0.device == "d" }.isEmpty)
        // Every poll /status counted for a (before the drain finished) is in the file.
        let polledA = deviceStatus(drainedBody, "a")?["polls"] as? Int ?? 0
        #expect(Set(all.filter { $0.device == "a" }.map(\.batchID)).count >= polledA)
        let log = (try? String(contentsOfFile: dir.path + "/agent.log", encoding: .utf8)) ?? ""
        #expect(log.contains("config reload rejected"))
        #expect(log.contains("agent.interval"))
    }

    @Test func startUpPoliciesAndAnUnusableStateDir() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let dir = try Lab.temporaryDirectory("startup")
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        let base = "http://127.0.0.1:\(httpPort)"

        // on_start_unavailable = "fail": exit 69 naming the sink.
        try config(
            dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("a", "1s")],
            extra: ""
        ).replacingOccurrences(
            of: "format = \"json\"", with: "format = \"json\"\non_start_unavailable = \"fail\""
        ).write(toFile: configPath, atomically: true, encoding: .utf8)
        let (failed, failOutput) = try await Lab.run(Self.binary, ["run", "--config", configPath])
        #expect(failed == 69)
        #expect(failOutput.contains("sink archive is unavailable at start"))

        // Default "retry": the agent runs, degraded but ready; with ready_requires_sinks it is not ready.
        for requireSinks in [false, true] {
            try config(dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("a", "1s")])
                .replacingOccurrences(of: "[agent]\n", with: "[agent]\nready_requires_sinks = \(requireSinks)\n")
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            let agent = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/agent.log")
            let ready = await Lab.waitForHTTP("\(base)/ready", status: requireSinks ? 503 : 200)
            #expect(ready?.contains("sink archive degraded") == true, "\(ready ?? "no answer")")
            let status = await Lab.waitForHTTP("\(base)/status") {
                sinkStatus($0, "archive")?["state"] as? String == "degraded"
            }
            #expect(status != nil)
            agent.signal(SIGTERM)
            #expect(await agent.wait(timeout: .seconds(20)) == 0)
        }

        // A state_dir that cannot be created: exit 73 naming it.
        let blocker = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        try config(dir: dir, snmpPort: snmpd.port, httpPort: httpPort, devices: [("a", "1s")])
            .replacingOccurrences(of: "\(dir.path)/state", with: "\(blocker.path)/state")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let (unusable, output) = try await Lab.run(Self.binary, ["run", "--config", configPath])
        #expect(unusable == 73)
        #expect(output.contains("state_dir \(blocker.path)/state is not usable"))
    }
}
