import Foundation
import NetPollerTesting
import Testing

/// deploy/: the systemd unit (verified and rated by systemd-analyze) and the agent's side of `Type=notify`.
@Suite(.serialized) struct DeployTests {
    /// The unit with ExecStart pointing at the debug build (verify checks that the binary exists).
    func unit() throws -> URL {
        let dir = try Lab.temporaryDirectory("unit")
        let text = try String(
            contentsOf: Lab.root.appendingPathComponent("deploy/systemd/netpoller.service"), encoding: .utf8)
        let url = dir.appendingPathComponent("netpoller.service")
        try text.replacingOccurrences(of: "/usr/bin/netpoller", with: AgentProcess.binary)
            .write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func theUnitVerifiesAndItsSandboxRatesOK() async throws {
        guard let analyze = Lab.which("systemd-analyze") else { throw LabError.notFound("systemd-analyze") }
        let url = try unit()
        let (verify, verifyOutput) = try await Lab.run(analyze, ["verify", "--man=no", url.path])
        #expect(verify == 0, "\(verifyOutput)")
        let (_, security) = try await Lab.run(analyze, ["security", "--offline=true", url.path])
        let line = security.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        print("systemd-analyze security: \(line)")
        let parts = line.split(separator: " ")
        let score = parts.dropLast(2).last.flatMap { Double($0) } ?? 99
        let level = parts.count >= 2 ? String(parts[parts.count - 2]) : ""
        #expect(["OK", "SAFE"].contains(level), "\(line)")
        #expect(score < 2.0, "\(line)")
    }

    @Test func theAgentSpeaksSystemdsNotifyProtocol() async throws {
        let dir = try Lab.temporaryDirectory("notify")
        let socket = try NotifySocket(path: dir.appendingPathComponent("notify.sock").path)
        defer { socket.stop() }
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let agent = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "lab"
            address = "127.0.0.1:\(snmpd.port)"
            """, name: "notify", environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])
        defer { agent.child.stop() }
        let ready = await socket.wait { $0.hasPrefix("READY=1") }
        #expect(ready != nil, "\(socket.messages.map(\.text))")
        // READY=1 comes once /ready answers 200.
        #expect(await Lab.httpGet("\(agent.base)/ready")?.0 == 200)
        // WATCHDOG=1 every half WatchdogSec while healthy.
        let start = socket.messages.count
        #expect(await socket.wait(after: start) { $0 == "WATCHDOG=1" } != nil)
        #expect(await socket.wait(after: socket.messages.count) { $0 == "WATCHDOG=1" } != nil)
        // A reload is framed by RELOADING=1 (with MONOTONIC_USEC) and READY=1.
        let beforeReload = socket.messages.count
        kill(agent.child.pid, SIGHUP)
        let reloading = await socket.wait(after: beforeReload) { $0.hasPrefix("RELOADING=1") }
        #expect(reloading?.contains("\nMONOTONIC_USEC=") == true, "\(reloading ?? "none")")
        let afterReload = socket.messages.firstIndex { $0.text.hasPrefix("RELOADING=1") } ?? 0
        #expect(await socket.wait(after: afterReload + 1) { $0.hasPrefix("READY=1") } != nil)
        kill(agent.child.pid, SIGTERM)
        #expect(await socket.wait(after: afterReload) { $0 == "STOPPING=1" } != nil)
        #expect(await agent.child.wait() == 0)
    }

    static var deployPython: String { Lab.root.appendingPathComponent(".build/deploy-venv/bin/python").path }

    /// deploy/kubernetes against the Kubernetes schemas (kubernetes-validate, strict, offline), the ServiceMonitor's
    /// shape, and the ConfigMaps' config through `netpoller check`; a manifest with a misspelt field fails.
    @Test func theKubernetesManifestsValidateOffline() async throws {
        let script = Lab.root.appendingPathComponent("scripts/k8s-check.py").path
        let (status, output) = try await Lab.run(Self.deployPython, [script, AgentProcess.binary])
        #expect(status == 0, "\(output)")
        #expect(output.contains("ok deployment.yaml Deployment/netpoller") && output.contains("0 failure(s)"))
        // The same check fails on a typo.
        let copy = try Lab.temporaryDirectory("k8s")
        let files = try FileManager.default.contentsOfDirectory(
            atPath: Lab.root.appendingPathComponent("deploy/kubernetes").path)
        for name in files {
            try FileManager.default.copyItem(
                atPath: Lab.root.appendingPathComponent("deploy/kubernetes/\(name)").path,
                toPath: copy.appendingPathComponent(name).path)
        }
        let deployment = copy.appendingPathComponent("deployment.yaml")
        let text = try String(contentsOf: deployment, encoding: .utf8)
        try text.replacingOccurrences(of: "  replicas: 1", with: "  replica: 1").write(
            to: deployment, atomically: true, encoding: .utf8)
        let (bad, badOutput) = try await Lab.run(
            "/usr/bin/env", ["K8S_ROOT=\(copy.path)", Self.deployPython, script, AgentProcess.binary])
        #expect(bad != 0 && badOutput.contains("FAIL deployment.yaml Deployment"), "\(badOutput)")
    }

    /// The .deb `make test` builds (`make deb`): lintian reports no error; it holds the binary, the unit, the
    /// conffiles, the docs and the man page; the shipped config passes `check` with the packaged binary.
    @Test func theDebianPackageIsLintianCleanAndItsConfigChecks() async throws {
        let dir = Lab.root.appendingPathComponent(".build/deb")
        let deb = try FileManager.default.contentsOfDirectory(atPath: dir.path).first {
            $0.hasPrefix("netpoller_") && $0.hasSuffix(".deb")
        }
        guard let deb else {
            Issue.record("no .deb in .build/deb: run make deb")
            return
        }
        let path = dir.appendingPathComponent(deb).path
        guard let lintian = Lab.which("lintian") else { throw LabError.notFound("lintian") }
        let (status, output) = try await Lab.run(lintian, ["--fail-on", "error", "--tag-display-limit", "0", path])
        print("lintian: \(output.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") })")
        #expect(status == 0 && !output.contains("\nE: ") && !output.hasPrefix("E: "), "\(output)")
        let (_, contents) = try await Lab.run("/usr/bin/dpkg-deb", ["-c", path])
        for file in [
            "./usr/bin/netpoller", "./lib/systemd/system/netpoller.service", "./etc/netpoller/agent.conf",
            "./etc/netpoller/conf.d/README", "./usr/share/man/man1/netpoller.1.gz",
            "./usr/share/doc/netpoller/copyright", "./usr/share/doc/netpoller/discovery.md.gz",
        ] {
            #expect(contents.contains(file), "\(file) in the package")
        }
        let (_, conffiles) = try await Lab.run("/usr/bin/dpkg-deb", ["-f", path, "Depends"])
        #expect(conffiles.contains("libsnmp40") && conffiles.contains("adduser"), "\(conffiles)")
        let root = try Lab.temporaryDirectory("deb-x")
        #expect(try await Lab.run("/usr/bin/dpkg-deb", ["-x", path, root.path]).0 == 0)
        let config = root.appendingPathComponent("etc/netpoller/agent.conf").path
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "/var/lib/netpoller", with: root.path + "/state")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (check, checkOutput) = try await Lab.run(
            root.appendingPathComponent("usr/bin/netpoller").path,
            ["check", "--config", config, "--config-dir", root.appendingPathComponent("etc/netpoller/conf.d").path])
        #expect(check == 0, "\(checkOutput)")

        // install, upgrade, remove and purge in a throwaway bookworm root (scripts/deb-cycle.sh).
        let (cycle, cycleOutput) = try await Lab.run(
            "/bin/bash", [Lab.root.appendingPathComponent("scripts/deb-cycle.sh").path, path])
        print(
            cycleOutput.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("FAIL") }.joined(
                separator: "\n"))
        #expect(cycle == 0, "\(cycleOutput)")
        for step in [
            "ok install", "ok binary runs", "ok system user netpoller", "ok state dir", "ok check passes",
            "kept the edited conffile", "ok remove: binary gone, config and state kept",
            "ok purge: state and config removed",
        ] {
            #expect(cycleOutput.contains(step), "\(step)")
        }
    }

    /// deploy/container/Containerfile built by buildah (chroot isolation) on a bookworm base made by debootstrap, with
    /// the .deb installed: non-root, a volume for the state, a HEALTHCHECK; `check` and `once` run inside it.
    @Test func theContainerImageBuildsAndPollsFromInside() async throws {
        let dir = Lab.root.appendingPathComponent(".build/deb")
        guard
            let deb = try FileManager.default.contentsOfDirectory(atPath: dir.path).first(where: {
                $0.hasPrefix("netpoller_") && $0.hasSuffix(".deb")
            })
        else {
            Issue.record("no .deb in .build/deb: run make deb")
            return
        }
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let work = try Lab.temporaryDirectory("container")
        let config = work.appendingPathComponent("once.conf")
        try """
        [agent]
        state_dir = "/tmp/netpoller-once"
        [credentials.snmp.default]
        community = "public"
        [[devices]]
        name = "lab"
        address = "127.0.0.1:\(snmpd.port)"
        profiles = ["system"]
        """.write(to: config, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(
            "/bin/bash",
            [
                Lab.root.appendingPathComponent("scripts/container-test.sh").path, dir.appendingPathComponent(deb).path,
                config.path,
            ])
        print(
            output.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("FAIL") }.joined(separator: "\n")
        )
        #expect(status == 0, "\(output)")
        for step in [
            "ok image built", "ok runs as netpoller", "ok volume /var/lib/netpoller", "ok HEALTHCHECK on /health",
            "ok netpoller check (shipped config)", "ok netpoller once polled a device from inside the image",
        ] {
            #expect(output.contains(step), "\(step)")
        }
    }

    /// The Ansible role (deploy/ansible) run by ansible-core against localhost into a test root, with a real agent
    /// running on the config it manages: secrets as 0600 files, every file validated by `netpoller check` before it
    /// lands, one reload per change, idempotent, and a bad device entry stopping the rollout before any file changes.
    @Test func theAnsibleRoleRollsOutValidatesAndReloadsOnce() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let root = try Lab.temporaryDirectory("ansible-root")
        let etc = root.appendingPathComponent("etc/netpoller")
        try FileManager.default.createDirectory(
            at: etc.appendingPathComponent("conf.d"), withIntermediateDirectories: true)
        let port = Lab.freePort()
        try """
        [agent]
        state_dir = "\(root.path)/var/lib/netpoller"
        [http]
        listen = "127.0.0.1:\(port)"
        """.write(to: etc.appendingPathComponent("agent.conf"), atomically: true, encoding: .utf8)
        let agent = try Child.spawn(
            AgentProcess.binary,
            [
                "run", "--config", etc.appendingPathComponent("agent.conf").path, "--config-dir",
                etc.appendingPathComponent("conf.d").path,
            ], output: root.appendingPathComponent("agent.log").path)
        defer { agent.stop() }
        let base = "http://127.0.0.1:\(port)"
        _ = await Lab.waitForHTTP("\(base)/ready") { _ in true }
        let work = try Lab.temporaryDirectory("ansible")
        let python = Lab.root.appendingPathComponent(".build/deploy-venv/bin/python").path
        try "[netpollers]\nlocalhost ansible_connection=local ansible_python_interpreter=\(python)\n".write(
            to: work.appendingPathComponent("inventory.ini"), atomically: true, encoding: .utf8)
        func play(_ devices: String) async throws -> (Int32, String) {
            try """
            netpoller_install: false
            netpoller_root: "\(root.path)"
            netpoller_binary: "\(AgentProcess.binary)"
            netpoller_state_dir: /var/lib/netpoller
            netpoller_listen: "127.0.0.1:\(port)"
            netpoller_interval: "5s"
            netpoller_reload_command: "kill -HUP \(agent.pid)"
            netpoller_snmp_credentials:
              default: { version: "2c", community: "public" }
            netpoller_devices: \(devices)
            """.write(to: work.appendingPathComponent("vars.yml"), atomically: true, encoding: .utf8)
            return try await Lab.run(
                "/usr/bin/env",
                [
                    "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_LOCAL_TEMP=\(work.path)/tmp",
                    Lab.root.appendingPathComponent(".build/deploy-venv/bin/ansible-playbook").path, "-i",
                    work.appendingPathComponent("inventory.ini").path, "-e", "@\(work.path)/vars.yml",
                    Lab.root.appendingPathComponent("deploy/ansible/site.yml").path,
                ])
        }
        func reloads() async -> Int {
            guard let body = await Lab.httpGet("\(base)/status")?.1,
                let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let agent = object["agent"] as? [String: Any], let reload = agent["reload"] as? [String: Any]
            else { return -1 }
            return reload["reloads"] as? Int ?? -1
        }
        func handlerRuns(_ output: String) -> Int { output.components(separatedBy: "RUNNING HANDLER").count - 1 }
        let lab = "{ name: \"lab\", address: \"127.0.0.1:\(snmpd.port)\", profiles: [\"system\"] }"

        let (first, firstOutput) = try await play("[\(lab)]")
        #expect(first == 0, "\(firstOutput)")
        #expect(handlerRuns(firstOutput) == 1, "\(firstOutput)")
        _ = await Lab.waitForHTTP("\(base)/status") { _ in true }
        #expect(await reloads() == 1)
        let polled = await StatusJSON.waitForDevice(base, "lab") { $0["state"] as? String == "up" }
        #expect(polled != nil, "the reloaded agent polls the device")
        let secret = etc.appendingPathComponent("secrets/default.community").path
        let attributes = try FileManager.default.attributesOfItem(atPath: secret)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let config = try String(contentsOf: etc.appendingPathComponent("agent.conf"), encoding: .utf8)
        #expect(config.contains("community_file") && !config.contains("\"public\""), "\(config)")

        let (second, secondOutput) = try await play("[\(lab)]")
        #expect(second == 0 && secondOutput.contains("changed=0"), "\(secondOutput)")
        #expect(handlerRuns(secondOutput) == 0)

        let devicesFile = etc.appendingPathComponent("conf.d/devices.conf")
        let before = try Data(contentsOf: devicesFile)
        let (bad, badOutput) = try await play("[\(lab), { name: \"bad\", address: \"not an address!\" }]")
        #expect(bad != 0 && badOutput.contains("devices[1].address"), "\(badOutput)")
        #expect(try Data(contentsOf: devicesFile) == before, "the bad entry never landed")
        #expect(handlerRuns(badOutput) == 0)

        let lab2 = "{ name: \"lab2\", address: \"127.0.0.1:\(snmpd.port)\", interval: \"10s\" }"
        let (changed, changedOutput) = try await play("[\(lab), \(lab2)]")
        #expect(changed == 0, "\(changedOutput)")
        #expect(handlerRuns(changedOutput) == 1, "exactly one reload: \(changedOutput)")
        #expect(await StatusJSON.waitForDevice(base, "lab2") { _ in true } != nil)
        #expect(await reloads() == 2)
    }
}
