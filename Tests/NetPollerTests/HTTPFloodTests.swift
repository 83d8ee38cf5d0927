import Foundation
import NetPollerRuntime
import NetPollerTesting
import Testing

/// Issue 16, item 10: the real binary, started with systemd's default limit of 1,024 descriptors, under 2,000 idle
/// connections and 1,000 slowloris clients. `/health` answers within a second and the sink keeps writing.
@Suite(.serialized) struct HTTPFloodTests {
    /// A TCP connection to 127.0.0.1:port (non-blocking), or -1.
    static func connect(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 && errno != EINPROGRESS {
            close(fd)
            return -1
        }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer {
            Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
        }
    }

    func sink(_ body: String) -> [String: Any]? { StatusJSON.sink(body, "archive") }

    @Test func aConnectionFloodAndSlowlorisNeitherSilenceHealthNorStarveTheSinks() async throws {
        FileLimits.raiseToHardMaximum()
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        // systemd's default: 1,024 descriptors, soft and hard.
        let started = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "r1"
            address = "127.0.0.1:\(snmpd.port)"
            profiles = ["system", "if-mib"]
            [[outputs.file]]
            name = "archive"
            path = "DIR/archive.jsonl"
            flush_interval = "200ms"
            """, name: "flood", launcher: [Lab.which("prlimit") ?? "/usr/bin/prlimit", "--nofile=1024:1024", "--"])
        let (agent, base, dir, httpPort) = (started.child, started.base, started.directory, started.port)
        defer { agent.stop() }
        #expect(await Lab.waitForHTTP("\(base)/ready") != nil)
        let before = sink(await Lab.httpGet("\(base)/status")?.1 ?? "")?["accepted_batches"] as? Int ?? 0

        var idle: [Int32] = []
        for _ in 0..<2_000 { idle.append(Self.connect(httpPort)) }
        var slow: [Int32] = []
        for _ in 0..<1_000 {
            let fd = Self.connect(httpPort)
            slow.append(fd)
        }
        defer { for fd in idle + slow where fd >= 0 { close(fd) } }
        #expect(idle.filter { $0 < 0 }.count + slow.filter { $0 < 0 }.count == 0)
        // Slowloris: a request head that never ends, a few bytes at a time, while /health is asked once the burst of
        // 3,000 connections has been accepted (each beyond max_connections closing the oldest).
        for fd in slow where fd >= 0 { Self.send(fd, "GET /health HTTP/1.1\r\nHost: x\r\n") }
        #expect(await Lab.waitForHTTP("\(base)/health", seconds: 30) != nil)
        var answers: [(Int, Double)] = []
        for round in 1...4 {
            for fd in slow where fd >= 0 { Self.send(fd, "X-\(round): y\r\n") }
            let started = Date()
            let answer = await Lab.httpGet("\(base)/health")
            answers.append((answer?.0 ?? 0, Date().timeIntervalSince(started)))
        }
        print("flood: /health \(answers.map { "\($0.0) in \(Int($0.1 * 1000)) ms" })")
        #expect(answers.allSatisfy { $0.0 == 200 && $0.1 < 1 }, "\(answers)")

        // The sink kept writing through it, and the agent stayed within its descriptors.
        let after = await Lab.waitForHTTP("\(base)/status", seconds: 10) { body in
            (sink(body)?["accepted_batches"] as? Int ?? 0) > before + 2
        }
        #expect(after != nil)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(agent.pid)/fd").count) ?? 0
        #expect(open > 0 && open < 600, "\(open) descriptors open")
        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        let evicted = StatusJSON.metric(metrics, "netpoller_http_connections_evicted_total") ?? 0
        #expect(evicted > 500, "\(evicted) evicted")
        let log = (try? String(contentsOfFile: dir.path + "/agent.log", encoding: .utf8)) ?? ""
        #expect(!log.contains("Too many open files"))
    }
}
