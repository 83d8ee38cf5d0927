import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// Issue 16, item 7: with default delivery settings, a sink whose circuit opened during an outage writes again within
/// seconds of its server answering, against real influxd and PostgreSQL stopped and restarted.
@Suite(.serialized) struct RecoveryTests {
    func sink(_ body: String, _ name: String) -> [String: Any]? { StatusJSON.sink(body, name) }

    func metric(_ text: String, _ series: String) -> Double { StatusJSON.metric(text, series) ?? 0 }

    /// Runs the agent with `output` (named "db"), stops the server until the circuit is open, restarts it and returns
    /// the seconds from the server answering again to the first accepted write, and the probes made while it was down.
    func outage(
        _ output: String, stop: () async -> Void, restart: () async throws -> Void
    ) async throws -> (recovery: Double, probes: Double, outage: Double) {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let started = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            timeout = "500ms"
            retries = 0
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1:\(snmpd.port)"
            profiles = ["system", "if-mib"]
            \(output)
            """, name: "recovery")
        let agent = started.child
        defer { agent.stop() }
        let base = started.base
        let first = await Lab.waitForHTTP("\(base)/status", seconds: 30) { body in
            (sink(body, "db")?["accepted_samples"] as? Int ?? 0) > 0
        }
        #expect(first != nil, "no first write")
        await stop()
        let stopped = Date()
        // Default breaker: five failed writes with backoff open the circuit.
        let open = await Lab.waitForHTTP("\(base)/status", seconds: 60) { body in
            sink(body, "db")?["state"] as? String == "circuit_open"
        }
        #expect(open != nil, "the circuit never opened")
        // While it stays down, the sink is probed (cheaply), no more than once per probe_interval.
        let probing = await Lab.waitForHTTP("\(base)/metrics", seconds: 30) { body in
            metric(body, "netpoller_sink_probes_total{sink=\"db\",result=\"failed\"}") >= 2
        }
        #expect(probing != nil, "no probes while the server was down")
        try await restart()
        let answering = Date()
        var recovered: Double?
        _ = await Lab.waitForHTTP("\(base)/status", seconds: 40) { body in
            guard let s = sink(body, "db"), let last = s["last_success_time"] as? Double,
                last >= answering.timeIntervalSince1970
            else { return false }
            recovered = last - answering.timeIntervalSince1970
            return true
        }
        let probes = metric(
            await Lab.httpGet("\(base)/metrics")?.1 ?? "", "netpoller_sink_probes_total{sink=\"db\",result=\"failed\"}")
        let drained = await Lab.waitForHTTP("\(base)/status", seconds: 30) { body in
            sink(body, "db")?["state"] as? String == "ok" && sink(body, "db")?["buffered_samples"] as? Int == 0
        }
        #expect(drained != nil)
        let result = try #require(recovered, "no write after the server came back")
        return (result, probes, answering.timeIntervalSince(stopped))
    }

    @Test func influxdStoppedAndRestartedIsWrittenAgainWithinSeconds() async throws {
        let influx = try await InfluxLab.start()
        let (recovery, probes, outage) = try await outage(
            """
            [[outputs.influxdb]]
            name = "db"
            url = "\(influx.url)"
            database = "netpoller"
            create_database = true
            flush_interval = "300ms"
            """, stop: { await influx.stop() }, restart: { try await influx.restart() })
        print("influxd: first write \(recovery) s after it answered again; outage \(outage) s, \(probes) probes")
        // One probe per probe_interval (2 s) at most while the circuit was open; the old path waited out 30 s.
        #expect(recovery < 6, "\(recovery) s")
        #expect(probes <= outage / 2 + 1)
    }

    @Test func postgresStoppedAndRestartedIsWrittenAgainWithinSeconds() async throws {
        let pg = try await PostgresLab.start()
        let (recovery, probes, outage) = try await outage(
            """
            [[outputs.postgres]]
            name = "db"
            conninfo = "\(pg.conninfo)"
            password_file = "\(pg.passwordFile)"
            flush_interval = "300ms"
            """, stop: { await pg.stop(mode: "fast") }, restart: { try await pg.restart() })
        print("postgres: first write \(recovery) s after it answered again; outage \(outage) s, \(probes) probes")
        #expect(recovery < 6, "\(recovery) s")
        #expect(probes <= outage / 2 + 1)
    }
}
