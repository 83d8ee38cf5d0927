import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// The real `netpoller` binary with SSH devices: the same queue, sinks, `/status`, `/metrics`, `once` and `check` as SNMP.
@Suite(.serialized) struct SSHAgentTests {
    func config(_ sshd: SSHDLab, snmpPort: Int, extra: String = "") -> String {
        """
        [agent]
        state_dir = "DIR/state"
        interval = "1s"
        timeout = "500ms"
        retries = 0
        shutdown_timeout = "3s"
        [http]
        listen = "127.0.0.1:HTTPPORT"
        [credentials.snmp.default]
        community = "public"
        [credentials.ssh.lab]
        username = "\(sshd.user)"
        private_key_file = "\(sshd.clientKey)"
        port = \(sshd.port)
        host_key_policy = "accept-new"
        [[profiles]]
        name = "lab"
        [[profiles.commands]]
        command = "show lines 3 1"
        parser = "regex"
        pattern = 'line (?P<i>\\d+) of (?P<k>\\d+) value (?P<v>\\d+)'
        measurement = "lab_lines"
        fields = { value = "v" }
        tags = { line = "i" }
        [[outputs.file]]
        name = "archive"
        path = "DIR/samples.jsonl"
        format = "json"
        flush_interval = "200ms"
        [[devices]]
        name = "both"
        address = "127.0.0.1:\(snmpPort)"
        snmp = "default"
        ssh = "lab"
        profiles = ["system", "lab"]
        [[devices]]
        name = "ssh-only"
        address = "127.0.0.1"
        ssh = "lab"
        profiles = ["lab"]
        \(extra)
        """
    }

    @Test func aDeviceWithSNMPAndSSHIsOneDeviceInStatusMetricsAndSinks() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let agent = try AgentProcess.start(config(sshd, snmpPort: snmpd.port), name: "ssh-agent")
        defer { agent.child.stop() }
        let status = await Lab.waitForHTTP("\(agent.base)/status") { body in
            guard let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let devices = json["devices"] as? [[String: Any]]
            else { return false }
            return devices.count == 2 && devices.allSatisfy { $0["state"] as? String == "up" }
        }
        let body = try #require(status, "\((try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? "")")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let devices = try #require(json["devices"] as? [[String: Any]])
        let both = try #require(devices.first { $0["name"] as? String == "both" })
        #expect(both["state"] as? String == "up")
        let ssh = try #require(both["ssh"] as? [String: Any])
        #expect(ssh["state"] as? String == "connected")
        #expect(ssh["connections"] as? Int == 1)
        #expect((ssh["host_key"] as? String ?? ssh["hostKey"] as? String)?.hasPrefix("SHA256:") == true)
        #expect(both["snmp"] != nil)
        let sshOnly = try #require(devices.first { $0["name"] as? String == "ssh-only" })
        #expect(sshOnly["address"] as? String == "127.0.0.1:\(sshd.port)")

        // Several polls later: still one connection per device; the poll metrics carry kind="ssh".
        let metrics = await Lab.waitForHTTP("\(agent.base)/metrics") { body in
            Self.value(body, "netpoller_polls_total{kind=\"ssh\",result=\"ok\"}") >= 6
        }
        let text = try #require(metrics)
        #expect(text.contains("netpoller_ssh_connections_total 2"), "one per device")
        #expect(text.contains("netpoller_polls_total{kind=\"snmp\",result=\"ok\"}"))
        #expect(text.contains("netpoller_ssh_commands_total"))
        let perDevice = try #require(await Lab.httpGet("\(agent.base)/metrics/devices"))
        #expect(perDevice.1.contains("value{device=\"both\",line=\"2\"} 14"), "\(perDevice.1.prefix(600))")
        #expect(perDevice.1.contains("device=\"both\""))
        #expect(sshd.logins() == 2)
        // The sink got SSH samples and SNMP samples of the same device.
        let archived = await eventually(15) {
            let lines =
                (try? String(
                    contentsOfFile: agent.directory.appendingPathComponent("samples.jsonl").path, encoding: .utf8))
                ?? ""
            return lines.contains("\"measurement\":\"lab_lines\"") && lines.contains("\"measurement\":\"system\"")
        }
        #expect(archived)
        agent.child.signal(SIGTERM)
        #expect(await agent.child.wait(timeout: .seconds(20)) == 0)
    }

    /// The value of one series in a Prometheus exposition (0 when absent).
    static func value(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }

    @Test func onceAndCheckHandleSSHDevices() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let dir = try Lab.temporaryDirectory("ssh-once")
        let path = dir.appendingPathComponent("agent.conf").path
        try config(sshd, snmpPort: Lab.freePort(udp: true)).replacingOccurrences(of: "DIR", with: dir.path)
            .replacingOccurrences(of: "HTTPPORT", with: "\(Lab.freePort())")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(
            AgentProcess.binary, ["once", "--config", path, "--device", "ssh-only"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("lab_lines,device=ssh-only,line=3 value=21i"), "\(output)")
        let (checkStatus, checkOutput) = try await Lab.run(AgentProcess.binary, ["check", "--config", path])
        #expect(checkStatus == 0, "\(checkOutput)")
        #expect(checkOutput.contains("ssh-only 127.0.0.1:\(sshd.port) ssh=lab mode=exec ssh_profiles=lab"))
        #expect(checkOutput.contains("ssh credentials: lab (user=\(sshd.user) key host_keys=accept-new)"))
        #expect(checkOutput.contains("every template compiled and every mapping checked"))

        // A mapping naming a value the parser does not produce stops check (and run) with exit 78.
        try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: "fields = { value = \"v\" }", with: "fields = { value = \"nope\" }"
        ).write(toFile: path, atomically: true, encoding: .utf8)
        let (badStatus, badOutput) = try await Lab.run(AgentProcess.binary, ["check", "--config", path])
        #expect(badStatus == 78)
        #expect(
            badOutput.contains("field value: no value \"nope\" in the parser's output (it has i, k, v)"), "\(badOutput)"
        )
    }
}
