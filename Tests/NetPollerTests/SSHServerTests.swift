import Foundation
import Logging
import NetPollerCore
import NetPollerTesting
import SSHPolling
import Testing

/// The SSH poller against a real OpenSSH sshd whose ForceCommand plays a device CLI (`Fixtures/fake-cli.py`).
@Suite(.serialized) struct SSHServerTests {
    /// A config with one credential and `devices` (name, extra device keys), plus a `lab` profile of `commands`.
    func config(
        _ sshd: SSHDLab, state: URL, credential: String = "", ssh: String = "", devices: [(String, String)],
        commands: [String] = ["show lines 3 1"]
    ) throws -> AgentConfiguration {
        var text = """
            [agent]
            state_dir = "\(state.path)"
            [ssh]
            reconnect_backoff = "200ms"
            \(ssh)
            [credentials.ssh.lab]
            username = "\(sshd.user)"
            private_key_file = "\(sshd.clientKey)"
            port = \(sshd.port)
            \(credential)

            [[profiles]]
            name = "lab"

            """
        for command in commands {
            text += """
                [[profiles.commands]]
                command = "\(command)"
                parser = "regex"
                pattern = 'line (?P<i>\\d+) of (?P<k>\\d+) value (?P<v>\\d+)'
                measurement = "lab_lines"
                fields = { value = "v" }
                tags = { line = "i", set = "k" }

                """
        }
        for (name, extra) in devices {
            text += """
                [[devices]]
                name = "\(name)"
                address = "127.0.0.1"
                ssh = "lab"
                profiles = ["lab"]
                \(extra)

                """
        }
        return try loadSSHConfig(text)
    }

    func collector(_ config: AgentConfiguration, threads: Int = 2) -> SSHCollector {
        let collector = SSHCollector(metrics: SelfMetrics(), logger: Logger(label: "test"), threads: threads)
        collector.configure(config)
        return collector
    }

    @Test func hundredPollsOfOneDeviceUseOneTCPConnection() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"), credential: "host_key_policy = \"accept-new\"",
            devices: [("r1", "")])
        let collector = collector(config)
        var last: PollOutcome?
        for _ in 0..<100 {
            let outcome = await collector.poll(config.devices[0])
            #expect(outcome.state == .up, "\(outcome.errors)")
            #expect(outcome.samples.count == 3)
            last = outcome
        }
        #expect(last?.sample("lab_lines", "line", "2")?.number("value") == 14)
        #expect(last?.ssh?.connections == 1)
        #expect(last?.ssh?.commands == 100)
        #expect((last?.ssh?.connectionAgeSeconds ?? -1) >= 0)
        #expect(sshd.logins() == 1, "sshd saw \(sshd.logins()) logins")
        #expect(sshd.cliLines().filter { $0.hasPrefix("session exec") }.count == 100)
        // A device removed or changed by a reload is released: its connection closes, the next poll opens a new one.
        collector.release("r1")
        let afterRelease = await collector.poll(config.devices[0])
        #expect(afterRelease.state == .up)
        #expect(afterRelease.ssh?.connections == 1, "a released device starts anew")
        #expect(sshd.logins() == 2)
        await collector.shutdown()
    }

    @Test func hostKeysStrictRefusesUnknownAcceptNewRecordsAndAChangedKeyIsRefused() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let state = try Lab.temporaryDirectory("ssh-state")
        let fingerprint = try await sshd.fingerprint()
        #expect(fingerprint.hasPrefix("SHA256:"))

        // strict (the default): an unknown host is refused, named by its fingerprint.
        let strict = try config(sshd, state: state, devices: [("r1", "")])
        var c = collector(strict)
        var outcome = await c.poll(strict.devices[0])
        #expect(outcome.state == .down)
        #expect(outcome.errors.first?.code == .hostKeyUnknown)
        #expect(outcome.errors.first?.message.contains(fingerprint) == true, "\(outcome.errors)")
        #expect(outcome.ssh?.lastCommandError?.contains("host_key_unknown") == true)
        await c.shutdown()

        // A known_hosts with hashed entries (ssh-keyscan -H) is honoured.
        let (status, scanned) = try await Lab.run(
            "/usr/bin/ssh-keyscan", ["-H", "-t", "ed25519", "-p", "\(sshd.port)", "127.0.0.1"])
        #expect(status == 0)
        let knownHosts = state.appendingPathComponent("hashed_known_hosts")
        try scanned.split(separator: "\n").filter { $0.hasPrefix("|1|") }.joined(separator: "\n").write(
            to: knownHosts, atomically: true, encoding: .utf8)
        let hashed = try config(
            sshd, state: state, credential: "known_hosts = \"\(knownHosts.path)\"", devices: [("r1", "")])
        c = collector(hashed)
        outcome = await c.poll(hashed.devices[0])
        #expect(outcome.state == .up, "\(outcome.errors)")
        #expect(outcome.ssh?.hostKey == fingerprint)
        await c.shutdown()

        // accept-new: the first key is recorded in <state_dir>/ssh_known_hosts and used.
        let acceptNew = try config(
            sshd, state: state, credential: "host_key_policy = \"accept-new\"", devices: [("r1", "")])
        c = collector(acceptNew)
        outcome = await c.poll(acceptNew.devices[0])
        #expect(outcome.state == .up, "\(outcome.errors)")
        let recorded = try String(contentsOf: state.appendingPathComponent("ssh_known_hosts"), encoding: .utf8)
        #expect(recorded.hasPrefix("[127.0.0.1]:\(sshd.port) ssh-ed25519 "))
        await c.shutdown()

        // Strict again: the recorded key is now known.
        c = collector(strict)
        outcome = await c.poll(strict.devices[0])
        #expect(outcome.state == .up, "\(outcome.errors)")
        await c.shutdown()

        // The server's key changes: refused under both policies, naming the new fingerprint.
        try await sshd.restart(newHostKey: true)
        let newFingerprint = try await sshd.fingerprint()
        #expect(newFingerprint != fingerprint)
        for policy in [strict, acceptNew] {
            c = collector(policy)
            outcome = await c.poll(policy.devices[0])
            #expect(outcome.state == .down)
            #expect(outcome.errors.first?.code == .hostKeyMismatch, "\(outcome.errors)")
            #expect(outcome.errors.first?.message.contains(newFingerprint) == true)
            await c.shutdown()
        }
        let after = try String(contentsOf: state.appendingPathComponent("ssh_known_hosts"), encoding: .utf8)
        #expect(after == recorded, "a changed key must never be recorded")
    }

    @Test func wrongPasswordDeadPortSilentServerAndNoCommonKexAreTypedErrors() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let state = try Lab.temporaryDirectory("ssh-state")
        // A listening socket that never accepts: TCP connects, no SSH banner ever comes.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = bind(silent, p, len)
                _ = listen(silent, 16)
                return getsockname(silent, p, &len)
            }
        }
        let silentPort = Int(UInt16(bigEndian: addr.sin_port))
        let deadPort = Lab.freePort()
        let text = """
            [agent]
            state_dir = "\(state.path)"
            [ssh]
            connect_timeout = "1s"
            [credentials.ssh.wrong]
            username = "\(sshd.user)"
            password = "not-the-password"
            port = \(sshd.port)
            host_key_policy = "accept-new"
            [credentials.ssh.old]
            username = "\(sshd.user)"
            private_key_file = "\(sshd.clientKey)"
            port = \(sshd.port)
            host_key_policy = "accept-new"
            kex = ["diffie-hellman-group1-sha1"]
            [[profiles]]
            name = "lab"
            [[profiles.commands]]
            command = "show version"
            parser = "regex"
            pattern = 'Version (?P<v>\\S+)'
            fields = { version = { from = "v", type = "info" } }
            [[devices]]
            name = "wrong-password"
            address = "127.0.0.1"
            ssh = "wrong"
            profiles = ["lab"]
            [[devices]]
            name = "dead-port"
            address = "127.0.0.1"
            ssh = "wrong"
            ssh_port = \(deadPort)
            profiles = ["lab"]
            [[devices]]
            name = "silent"
            address = "127.0.0.1"
            ssh = "wrong"
            ssh_port = \(silentPort)
            profiles = ["lab"]
            [[devices]]
            name = "old-kex"
            address = "127.0.0.1"
            ssh = "old"
            profiles = ["lab"]
            """
        let config = try loadSSHConfig(text)
        let c = collector(config)
        var outcomes: [String: PollOutcome] = [:]
        for device in config.devices { outcomes[device.name] = await c.poll(device) }
        #expect(outcomes["wrong-password"]?.errors.first?.code == .authFailed, "\(outcomes["wrong-password"]!.errors)")
        #expect(outcomes["dead-port"]?.errors.first?.code == .connectFailed)
        #expect(outcomes["dead-port"]?.errors.first?.message.contains("refused") == true)
        let silentError = outcomes["silent"]?.errors.first
        #expect(silentError?.code == .connectFailed)
        #expect(silentError?.message.contains("connect_timeout") == true, "\(String(describing: silentError))")
        let kex = outcomes["old-kex"]?.errors.first
        #expect(kex?.code == .kexFailed, "\(String(describing: kex))")
        #expect(kex?.message.contains("we offer [diffie-hellman-group1-sha1]") == true)
        #expect(kex?.message.contains("curve25519-sha256") == true, "the server's offer is listed")
        for outcome in outcomes.values { #expect(outcome.state == .down) }
        // A second poll inside the backoff fails at once with the same code, without a new connection attempt.
        let again = await c.poll(config.devices[1])
        #expect(again.errors.first?.code == .connectFailed)
        #expect(again.errors.first?.message.contains("reconnecting in") == true)
        await c.shutdown()
    }

    /// The known limit of Debian 12's libssh2 1.10 (docs/ssh.md): no rsa-sha2-256/512, so an OpenSSH ≥ 8.8 server with
    /// only an RSA host key has no host key algorithm in common with us. The error says so, with both lists.
    @Test func anRSAOnlyOpenSSHServerIsAKexFailureThatNamesBothOffers() async throws {
        let sshd = try await Lab.startSSHD(hostKeyType: "rsa")
        defer { sshd.stop() }
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"), credential: "host_key_policy = \"accept-new\"",
            devices: [("rsa-only", "")])
        let c = collector(config)
        let outcome = await c.poll(config.devices[0])
        let error = try #require(outcome.errors.first)
        #expect(error.code == .kexFailed)
        #expect(
            error.message.contains(
                "no common host key algorithm: the server offers [rsa-sha2-512,rsa-sha2-256], we offer [ssh-ed25519,"),
            "\(error.message)")
        print("RSA-only server: \(error)")
        await c.shutdown()
    }

    @Test func shellModeWithBannerEnableAndPagingOffRunsAThousandCommandsCleanly() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let commands = (1...20).map { "show lines 30 \($0)" }
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"),
            credential: "host_key_policy = \"accept-new\"\nenable_password = \"enablepw\"",
            devices: [("shell", "ssh_mode = \"shell\"\nplatform = \"cisco_ios\"")], commands: commands)
        let c = collector(config)
        var total = 0
        for _ in 0..<50 {
            let outcome = await c.poll(config.devices[0])
            #expect(outcome.state == .up, "\(outcome.errors)")
            #expect(outcome.samples.count == 600)
            total += outcome.samples.filter { $0.measurement == "lab_lines" }.count
            if outcome.state != .up { break }
        }
        #expect(total == 50 * 20 * 30)
        let last = await c.poll(config.devices[0])
        #expect(last.ssh?.commands == 1_020)
        #expect(last.ssh?.connections == 1)
        #expect(last.sample("lab_lines", "set", "20")?.number("value") != nil)
        let lines = sshd.cliLines()
        #expect(lines.filter { $0.hasPrefix("paged") }.isEmpty, "paging was not turned off: \(lines.prefix(5))")
        #expect(lines.filter { $0 == "session shell" }.count == 1)
        await c.shutdown()
    }

    @Test func shellModeAnswersAPagerWhenPagingCannotBeTurnedOffAndWrongEnableIsAuthFailed() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        // `linux` sends no paging-off command: the CLI pages at 24 lines and the poller answers each --More--.
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"),
            credential: "host_key_policy = \"accept-new\"",
            devices: [("pager", "ssh_mode = \"shell\"\nplatform = \"linux\"")], commands: ["show lines 60 1"])
        let c = collector(config)
        let outcome = await c.poll(config.devices[0])
        #expect(outcome.state == .up, "\(outcome.errors)")
        #expect(outcome.samples.count == 60)
        #expect(outcome.sample("lab_lines", "line", "60")?.number("value") == 420)
        #expect(sshd.cliLines().filter { $0.hasPrefix("paged") }.count == 2)
        await c.shutdown()

        let wrongEnable = try self.config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"),
            credential: "host_key_policy = \"accept-new\"\nenable_password = \"nope\"",
            devices: [("enable", "ssh_mode = \"shell\"\nplatform = \"cisco_ios\"")])
        let c2 = collector(wrongEnable)
        let refused = await c2.poll(wrongEnable.devices[0])
        #expect(refused.errors.first?.code == .authFailed, "\(refused.errors)")
        #expect(refused.errors.first?.message.contains("enable") == true)
        await c2.shutdown()
    }

    @Test func commandTimeoutEndsASlowCommandAndASlowDeviceDoesNotDelayAnother() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"), credential: "host_key_policy = \"accept-new\"",
            ssh: "io_threads = 1",
            devices: [("slow", "command_timeout = \"3s\""), ("fast", "")], commands: ["show lines 3 1"])
        var slow = config.devices[0]
        // The slow device's profile: one command that sleeps past its timeout.
        var slowConfig = config
        var profile = try #require(config.profiles.first)
        profile.name = "slow"
        profile.commands[0].command = "slow 30"
        slowConfig.profiles.append(profile)
        slow.ssh?.profiles = ["slow"]
        slowConfig.devices[0] = slow
        // One I/O thread: both devices' sessions are multiplexed on it.
        let c = collector(slowConfig, threads: 1)
        // Warm both connections so the comparison is of commands only.
        _ = await c.poll(slowConfig.devices[1])
        let slowStarted = ContinuousClock.now
        async let slowOutcome = c.poll(slow)
        // The fast poll starts once the slow command is running on the device (the fake CLI logs its start).
        #expect(await eventually(10) { sshd.cliLines().contains("session exec slow 30") })
        let fastStart = ContinuousClock.now
        let fast = await c.poll(slowConfig.devices[1])
        let fastTook = ContinuousClock.now - fastStart
        #expect(fast.state == .up)
        #expect(fastTook < .seconds(2), "the fast device waited \(fastTook) behind the slow one")
        let slowResult = await slowOutcome
        let slowTook = ContinuousClock.now - slowStarted
        #expect(slowResult.errors.first?.code == .commandTimeout, "\(slowResult.errors)")
        #expect(slowTook >= .seconds(3))
        #expect(slowTook < .seconds(10))
        #expect(fastTook < slowTook)
        // After a timeout the connection is reopened for the next poll.
        let next = await c.poll(slowConfig.devices[1])
        #expect(next.state == .up)
        await c.shutdown()
    }

    /// `max_channels` caps the exec channels one device has open: three one-second commands take about three seconds
    /// on one channel (the default) and about one on three; the fake CLI logs each start, so the overlap is counted.
    @Test func maxChannelsRunsThatManyCommandsOfADeviceAtOnce() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let commands = ["slow 1 a", "slow 1 b", "slow 1 c"]
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"), credential: "host_key_policy = \"accept-new\"",
            devices: [("one", ""), ("three", "max_channels = 3")], commands: commands)
        let c = collector(config)
        var took: [String: Duration] = [:]
        for device in config.devices {
            let start = ContinuousClock.now
            let outcome = await c.poll(device)
            took[device.name] = ContinuousClock.now - start
            #expect(outcome.errors.isEmpty, "\(outcome.errors)")
            #expect(outcome.ssh?.commands == 3)
        }
        let one = try #require(took["one"])
        let three = try #require(took["three"])
        #expect(one >= .seconds(3), "one channel runs the commands one after another: \(one)")
        #expect(three < .milliseconds(2_500), "three channels run them together: \(three)")
        #expect(sshd.logins() == 2)
        await c.shutdown()
    }

    @Test func fiftyDevicesArePolledTogetherOnAFixedNumberOfThreads() async throws {
        let sshd = try await Lab.startSSHD()
        defer { sshd.stop() }
        let names = (1...50).map { "d\($0)" }
        let config = try config(
            sshd, state: try Lab.temporaryDirectory("ssh-state"), credential: "host_key_policy = \"accept-new\"",
            devices: names.map { ($0, "") })
        let threadsBefore = Self.threadNames()
        let c = collector(config, threads: 2)
        #expect(c.ioThreads == 2)
        let outcomes = await withTaskGroup(of: PollOutcome.self) { group in
            for device in config.devices { group.addTask { await c.poll(device) } }
            var all: [PollOutcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == 50)
        #expect(outcomes.allSatisfy { $0.state == .up }, "\(outcomes.flatMap(\.errors).prefix(3))")
        let threadsAfter = Self.threadNames()
        let sshThreads = threadsAfter.filter { $0.hasPrefix("ssh-io") }
        #expect(sshThreads.count == 2, "\(sshThreads)")
        #expect(
            threadsAfter.count - threadsBefore.count <= 4,
            "threads grew from \(threadsBefore.count) to \(threadsAfter.count)")
        #expect(sshd.logins() == 50)
        await c.shutdown()
    }

    /// The names of this process's threads.
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap {
            (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
