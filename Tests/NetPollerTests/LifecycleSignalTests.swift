import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// Issue 16, item 9: a SIGHUP during start-up (here while a sink's server takes 4 s not to answer the start-up probe)
/// is queued and applied once start-up has finished; it never kills the agent.
@Suite(.serialized) struct LifecycleSignalTests {
    static var binary: String { Lab.root.appendingPathComponent(".build/debug/netpoller").path }

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

        let dir = try Lab.temporaryDirectory("sighup-start")
        let httpPort = Lab.freePort()
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [agent]
        state_dir = "\(dir.path)/state"
        [http]
        listen = "127.0.0.1:\(httpPort)"
        [credentials.snmp.default]
        community = "public"
        [[outputs.influxdb]]
        name = "slow"
        url = "http://127.0.0.1:\(silentPort)"
        timeout = "4s"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let log = dir.path + "/agent.log"
        let agent = try Child.spawn(Self.binary, ["run", "--config", path], output: log)
        defer { agent.stop() }
        // Start-up is under way (the config is loaded, the sink's probe waits) when the SIGHUP comes.
        #expect(
            await eventually(10) {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("config loaded")
            })
        agent.signal(SIGHUP)
        #expect(await Lab.waitForHTTP("http://127.0.0.1:\(httpPort)/ready", seconds: 30) != nil)
        #expect(agent.isRunning)
        let reloaded = await Lab.waitForHTTP("http://127.0.0.1:\(httpPort)/metrics", seconds: 10) { body in
            body.contains("netpoller_config_reloads_total{result=\"success\"} 1")
        }
        #expect(reloaded != nil)
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(30)) == 0)
    }
}
