import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerAgent
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import ServiceLifecycle
import Testing

/// `ReloadPlan` as a pure function, and a whole `Agent` built in-process with a fake collector and a scripted sink.
@Suite struct AgentInProcessTests {
    func load(_ text: String) throws -> AgentConfiguration {
        let dir = try Lab.temporaryDirectory("inproc")
        let path = dir.appendingPathComponent("agent.conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(files: [path], environment: [:], hostName: "h1")
    }

    func config(
        state: String = "/tmp/unused", http: Int = 9271, community: String = "public", queue: Int = 100_000,
        devices: [(name: String, port: Int)], outputs: String = ""
    ) throws -> AgentConfiguration {
        var text = """
            [agent]
            state_dir = "\(state)"
            interval = "1s"
            queue_capacity = \(queue)
            shutdown_timeout = "2s"
            [http]
            listen = "127.0.0.1:\(http)"
            [credentials.snmp.default]
            community = "\(community)"
            \(outputs)

            """
        for device in devices {
            text += "[[devices]]\nname = \"\(device.name)\"\naddress = \"127.0.0.1:\(device.port)\"\n"
        }
        return try load(text)
    }

    // MARK: ReloadPlan

    @Test func reloadPlanSortsDevicesIntoAddedChangedRemovedAndUnchanged() throws {
        let current = try config(devices: [("a", 1001), ("b", 1002), ("c", 1003)])
        let next = try config(devices: [("a", 1001), ("c", 2003), ("d", 1004)])
        let plan = ReloadPlan(from: current, to: next)
        #expect(plan.devicesAdded == ["d"])
        #expect(plan.devicesChanged == ["c"])
        #expect(plan.devicesRemoved == ["b"])
        #expect(plan.devicesUnchanged == ["a"])
        #expect(plan.restartOnly.isEmpty)
        #expect(plan.applied.devices.map(\.name) == ["a", "c", "d"])
    }

    @Test func aChangedCredentialChangesEveryDeviceThatUsesIt() throws {
        let current = try config(devices: [("a", 1001), ("b", 1002)])
        let next = try config(community: "other", devices: [("a", 1001), ("b", 1002)])
        let plan = ReloadPlan(from: current, to: next)
        #expect(plan.devicesChanged == ["a", "b"])
        #expect(plan.devicesUnchanged.isEmpty)
    }

    @Test func restartOnlySettingsKeepTheirRunningValueAndAreNamed() throws {
        let current = try config(state: "/tmp/s1", http: 9271, queue: 1000, devices: [("a", 1001)])
        let next = try config(state: "/tmp/s2", http: 9272, queue: 2000, devices: [("a", 1001)])
        let plan = ReloadPlan(from: current, to: next)
        #expect(plan.restartOnly == ["http.listen", "agent.state_dir", "agent.queue_capacity"])
        #expect(plan.applied.http == current.http)
        #expect(plan.applied.agent.stateDir == "/tmp/s1")
        #expect(plan.applied.agent.queueCapacity == 1000)
        #expect(plan.devicesUnchanged == ["a"])
    }

    @Test func reloadPlanSortsSinksIntoAddedKeptReplacedAndRemoved() throws {
        let current = try config(
            devices: [],
            outputs: """
                [[outputs.stdout]]
                name = "keep"
                [[outputs.stdout]]
                name = "swap"
                [[outputs.file]]
                name = "gone"
                path = "/tmp/gone.jsonl"
                """)
        let next = try config(
            devices: [],
            outputs: """
                [[outputs.stdout]]
                name = "keep"
                format = "json"
                [[outputs.file]]
                name = "swap"
                path = "/tmp/swap.jsonl"
                [[outputs.file]]
                name = "new"
                path = "/tmp/new.jsonl"
                """)
        let plan = ReloadPlan(from: current, to: next)
        #expect(plan.sinksKept == ["keep"])
        #expect(plan.sinksReplaced == ["swap"])
        #expect(plan.sinksAdded == ["new"])
        #expect(plan.sinksRemoved == ["gone"])
    }

    // MARK: A whole agent in-process

    @Test func anAgentWithAFakeCollectorPollsDeliversAndAppliesAReload() async throws {
        let dir = try Lab.temporaryDirectory("inproc-agent")
        let state = dir.appendingPathComponent("state").path
        let http = Lab.freePort()
        let first = try config(state: state, http: http, devices: [("a", 1001), ("b", 1002)])
        let collector = FakeCollector()
        let sink = ScriptedSink(name: "scripted")
        let metrics = SelfMetrics()
        let logger = Logger(label: "test")
        let agent = Agent(
            config: first, logger: logger, metrics: metrics, collectors: [collector],
            extraSinks: [sink])
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: agent)], gracefulShutdownSignals: [], logger: logger))
        let running = Task { try await group.run() }

        func delivered(_ device: String, address: String? = nil) -> Bool {
            sink.accepted.contains { batch in
                batch.device == device
                    && (address == nil || batch.samples.first?.tags.first?.value == address)
            }
        }
        #expect(await eventually(15) { delivered("a") && delivered("b") }, "both devices polled and delivered")
        #expect(collector.configuredHashes == [first.hash])
        let ready = await Lab.httpGet("http://127.0.0.1:\(http)/ready")
        #expect(ready?.0 == 200)

        // Reload: b goes, c comes, a moves to another port.
        let second = try config(state: state, http: http, devices: [("a", 2001), ("c", 1003)])
        await agent.reload(to: second)
        #expect(collector.configuredHashes == [first.hash, second.hash])
        #expect(Set(collector.released) == ["a", "b"])
        #expect(agent.deviceStatuses().map(\.name).sorted() == ["a", "c"])
        #expect(agent.config.hash == second.hash)
        #expect(
            await eventually(15) { delivered("c") && delivered("a", address: "127.0.0.1:2001") },
            "the new device and the changed one are polled with the new config")
        let status = await Lab.httpGet("http://127.0.0.1:\(http)/status")
        #expect(status?.1.contains("\"config_hash\" : \"\(second.hash)\"") == true)
        #expect(status?.1.contains("\"last_reload_result\" : \"success\"") == true)
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("netpoller_polls_total{kind=\"snmp\",result=\"ok\"}"))
        #expect(exposition.contains("netpoller_config_reloads_total{result=\"success\"} 1"))

        // A poll that outlasts the interval: /status shows it in progress and its last data stays served.
        collector.setDelay("c", .seconds(3))
        let inProgress = await Lab.waitForHTTP("http://127.0.0.1:\(http)/status", seconds: 10) { body in
            body.contains("\"poll_started\"")
        }
        #expect(inProgress != nil, "poll_started shown while a poll runs")
        let devices = await Lab.httpGet("http://127.0.0.1:\(http)/metrics/devices")
        #expect(devices?.1.contains("device=\"c\"") == true)
        collector.setDelay("c", nil)

        await group.triggerGracefulShutdown()
        try await running.value
        #expect(collector.isShutdown)
    }
}
