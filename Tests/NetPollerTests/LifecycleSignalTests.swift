import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// Issue 16, item 9: a SIGHUP during start-up (here while a sink's server takes 4 s not to answer the start-up probe)
/// is queued and applied once start-up has finished; it never kills the agent.
@Suite(.serialized) struct LifecycleSignalTests {
    @Test func aSighupDuringStartUpIsAppliedAfterIt() async throws {
        // A server that accepts connections and never answers.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(listen(silent, 16) == 0)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) }
        }
        let silentPort = Int(UInt16(bigEndian: bound.sin_port))

        let started = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"
            [[outputs.influxdb]]
            name = "slow"
            url = "http://127.0.0.1:\(silentPort)"
            timeout = "4s"
            """, name: "sighup-start")
        let (agent, log, base) = (started.child, started.logPath, started.base)
        defer { agent.stop() }
        // Start-up is under way (the config is loaded, the sink's probe waits) when the SIGHUP comes.
        #expect(
            await eventually(10) {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("config loaded")
            })
        agent.signal(SIGHUP)
        #expect(await Lab.waitForHTTP("\(base)/ready", seconds: 30) != nil)
        #expect(agent.isRunning)
        let reloaded = await Lab.waitForHTTP("\(base)/metrics", seconds: 10) { body in
            body.contains("netpoller_config_reloads_total{result=\"success\"} 1")
        }
        #expect(reloaded != nil)
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(30)) == 0)
    }
}
