import Foundation
import NetPollerRuntime

/// A real server started for a test on loopback, under a temporary directory; stopped by `stop()` or at deinit.
public final class LabProcess: Sendable {
    public let process: Child
    public let port: Int
    public let directory: URL

    init(process: Child, port: Int, directory: URL) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    public func stop() { process.stop() }

    deinit { stop() }
}

public enum LabError: Error, CustomStringConvertible {
    case notFound(String)
    case didNotStart(String)

    public var description: String {
        switch self {
        case .notFound(let what): return "\(what) is not installed (run `make deps`)"
        case .didNotStart(let what): return "\(what) did not start"
        }
    }
}

/// Starts real snmpd, snmpsim and Prometheus on free loopback ports. Used by the integration tests.
public enum Lab {
    /// The repository root (two levels above this file's directory).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "netpoller-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    /// A port that was free a moment ago (bound to 127.0.0.1 and released).
    public static func freePort(udp: Bool = false) -> Int {
        let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = bind(fd, p, len)
                return getsockname(fd, p, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func which(_ name: String, _ candidates: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in candidates + path.split(separator: ":").map(String.init) {
            let full = dir.hasSuffix(name) ? dir : "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: full) { return full }
        }
        return nil
    }

    @discardableResult
    public static func launch(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], log: URL
    ) throws -> Child {
        try Child.spawn(executable, arguments, environment: environment, output: log.path)
    }

    /// Waits until `snmpget` gets an answer from the agent.
    public static func waitForSNMP(port: Int, community: String, seconds: Double = 20) async throws {
        guard let snmpget = which("snmpget") else { throw LabError.notFound("snmpget") }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let child = try Child.spawn(
                snmpget, ["-v2c", "-c", community, "-t", "0.3", "-r", "0", "127.0.0.1:\(port)", "1.3.6.1.2.1.1.2.0"])
            if await child.wait() == 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw LabError.didNotStart("SNMP agent on 127.0.0.1:\(port)")
    }

    /// snmpd serving this host's real MIBs, plus `extraConfig` lines (e.g. a `pass` script playing a buggy device, or
    /// SNMPv3 `createUser` lines). `engineBoots` starts its SNMPv3 engine at that boot count + 1 (read from its own
    /// persistent directory), so that two agents with the same `exactEngineID` differ as real clones do.
    public static func startSnmpd(community: String = "public", extraConfig: String = "", engineBoots: Int? = nil)
        async throws -> LabProcess
    {
        guard let snmpd = which("snmpd", ["/usr/sbin/snmpd"]) else { throw LabError.notFound("snmpd") }
        let dir = try temporaryDirectory("snmpd")
        let port = freePort(udp: true)
        let config = """
            agentaddress udp:127.0.0.1:\(port)
            rocommunity \(community) 127.0.0.1
            [snmp] serverRecvBuf 4194304
            \(extraConfig)
            """
        // The configuration and the persistent state in separate directories: snmpd appends its state to
        // `<persistent dir>/snmpd.conf`.
        let configDir = dir.appendingPathComponent("conf")
        let stateDir = dir.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: configDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true)
        try config.write(to: configDir.appendingPathComponent("snmpd.conf"), atomically: true, encoding: .utf8)
        var environment = ["SNMP_PERSISTENT_DIR": stateDir.path]
        var arguments = ["-C", "-c", configDir.appendingPathComponent("snmpd.conf").path, "-f", "-Lo"]
        if let engineBoots {
            try "engineBoots \(engineBoots)\n".write(
                to: stateDir.appendingPathComponent("snmpd.conf"), atomically: true, encoding: .utf8)
            // Without -C snmpd reads the persistent state too; SNMPCONFPATH keeps it away from /etc/snmp.
            environment["SNMPCONFPATH"] = "\(configDir.path):\(stateDir.path)"
            arguments = ["-f", "-Lo"]
        }
        let process = try launch(
            snmpd, arguments, environment: environment, log: dir.appendingPathComponent("snmpd.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        try await waitForSNMP(port: port, community: community)
        return lab
    }

    /// snmpsim serving the named recordings shipped with snmpsim, and this project's own recordings from
    /// `Tests/NetPollerTests/Fixtures/recordings` (each recording's name is its community).
    public static func startSnmpsim(recordings: [String] = [], fixtures: [String] = []) async throws -> LabProcess {
        guard let responder = which("snmpsim-command-responder") else {
            throw LabError.notFound("snmpsim-command-responder")
        }
        let dir = try temporaryDirectory("snmpsim")
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let (_, probeOutput) = try await run(
            which("python3") ?? "/usr/bin/python3",
            ["-c", "import snmpsim,os; print(os.path.dirname(snmpsim.__file__))"])
        let base = probeOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        for name in recordings {
            try FileManager.default.copyItem(
                atPath: "\(base)/data/recorded/\(name).snmprec",
                toPath: data.appendingPathComponent("\(name).snmprec").path)
        }
        for name in fixtures {
            try FileManager.default.copyItem(
                atPath: root.appendingPathComponent("Tests/NetPollerTests/Fixtures/recordings/\(name).snmprec").path,
                toPath: data.appendingPathComponent("\(name).snmprec").path)
        }
        let port = freePort(udp: true)
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        let group = String(cString: getgrgid(getgid()).pointee.gr_name)
        let process = try launch(
            responder,
            [
                "--data-dir=\(data.path)", "--agent-udpv4-endpoint=127.0.0.1:\(port)",
                "--cache-dir=\(dir.appendingPathComponent("cache").path)", "--process-user=\(user)",
                "--process-group=\(group)",
            ],
            environment: ["SNMPSIM_ALLOW_ROOT": "true"], log: dir.appendingPathComponent("snmpsim.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        try await waitForSNMP(port: port, community: (recordings + fixtures)[0], seconds: 40)
        return lab
    }

    /// `Tests/NetPollerTests/Fixtures/hostile-agent.py` in one of its modes (endless, rows, garbage, wrongid).
    /// `script` may name another agent of the fixtures (`quirky-agent.py`, whose modes are the quirks of issue 17).
    public static func startHostileAgent(_ mode: String, script name: String = "hostile-agent.py") async throws
        -> LabProcess
    {
        let port = freePort(udp: true)
        let dir = try temporaryDirectory("hostile-\(mode)")
        let script = root.appendingPathComponent("Tests/NetPollerTests/Fixtures/\(name)").path
        let process = try launch(
            which("python3") ?? "/usr/bin/python3", [script, "\(port)", mode], environment: [:],
            log: dir.appendingPathComponent("agent.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let log = (try? String(contentsOf: dir.appendingPathComponent("agent.log"), encoding: .utf8)) ?? ""
            if log.contains("ready") { return lab }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LabError.didNotStart("hostile agent (\(mode))")
    }

    /// A throwaway Prometheus server scraping `targets` (host:port) every second.
    /// `scrapeConfigs`: the `scrape_configs:` entries to use instead of the two plain jobs (TLS, basic auth …).
    public static func startPrometheus(
        scraping targets: [String], metricsPath: String = "/metrics", scrapeConfigs: String? = nil
    ) async throws
        -> LabProcess
    {
        guard let prometheus = which("prometheus") else { throw LabError.notFound("prometheus") }
        let dir = try temporaryDirectory("prometheus")
        let port = freePort()
        let quoted = targets.map { "\"\($0)\"" }.joined(separator: ", ")
        let config =
            scrapeConfigs.map { "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\($0)\n" }
                ?? """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                scrape_configs:
                  - job_name: netpoller
                    static_configs:
                      - targets: [\(quoted)]
                  - job_name: netpoller_devices
                    metrics_path: /metrics/devices
                    static_configs:
                      - targets: [\(quoted)]
                """
        try config.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let process = try launch(
            prometheus,
            [
                "--config.file=\(dir.appendingPathComponent("prometheus.yml").path)",
                "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(port)",
            ],
            log: dir.appendingPathComponent("prometheus.log"))
        return LabProcess(process: process, port: port, directory: dir)
    }

    /// Runs a command to completion; returns exit status and combined output.
    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) async throws -> (
        Int32, String
    ) {
        let dir = try temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out").path
        var input: String?
        if let stdin {
            input = dir.appendingPathComponent("in").path
            try stdin.write(to: URL(fileURLWithPath: input!))
        }
        let child = try Child.spawn(executable, arguments, output: output, stdinFile: input)
        let status = await child.wait() ?? -1
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (status, text)
    }

    /// HTTP GET on loopback; status and body.
    public static func httpGet(_ url: String) async -> (Int, String)? {
        guard let curl = which("curl") else { return nil }
        guard let (status, output) = try? await run(curl, ["-s", "-m", "5", "-w", "\n%{http_code}", url]) else {
            return nil
        }
        guard status == 0 else { return nil }
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.popLast() ?? "") ?? 0
        return (code, lines.joined(separator: "\n"))
    }

    /// Polls `url` until it answers `status` with a body that passes `until`; the body, or nil after `seconds`.
    public static func waitForHTTP(
        _ url: String, status: Int = 200, seconds: Double = 30, until: (String) -> Bool = { _ in true }
    ) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let (code, body) = await httpGet(url), code == status, until(body) { return body }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }
}

/// A real PostgreSQL 15 cluster on a free loopback port under a temporary directory, run by `scripts/pg.sh` (the same
/// script `make run` uses). Role `netpoller` with a password owns database `netpoller`. Stopped (immediately) and
/// removed at deinit.
public final class PostgresLab: Sendable {
    public let directory: URL
    public let port: Int
    public let password: String
    public var passwordFile: String { directory.appendingPathComponent("password").path }
    /// conninfo for the `netpoller` role over TCP (the password comes from `password` / `passwordFile`).
    public var conninfo: String { "host=127.0.0.1 port=\(port) dbname=netpoller user=netpoller" }

    static var script: String { Lab.root.appendingPathComponent("scripts/pg.sh").path }

    public static func start() async throws -> PostgresLab {
        let directory = try Lab.temporaryDirectory("postgres")
        // fsync off: the tests kill the server (pg_ctl stop -m immediate), never the machine.
        let (status, output) = try await Lab.run(
            "/usr/bin/env",
            ["PG_EXTRA_OPTS=-c fsync=off -c full_page_writes=off", "bash", script, "start", directory.path])
        guard status == 0, let port = Int(output.split(separator: "\n").last ?? "") else {
            throw LabError.didNotStart("PostgreSQL (\(output.suffix(400)))")
        }
        let password = try String(contentsOf: directory.appendingPathComponent("password"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresLab(directory: directory, port: port, password: password)
    }

    init(directory: URL, port: Int, password: String) {
        self.directory = directory
        self.port = port
        self.password = password
    }

    /// `pg_ctl stop -m MODE`: `immediate` is a crash.
    public func stop(mode: String = "fast") async {
        _ = try? await Lab.run("/usr/bin/env", ["bash", Self.script, "stop", directory.path, mode])
    }

    /// Starts the cluster again on the same port.
    public func restart() async throws {
        let (status, output) = try await Lab.run(
            "/usr/bin/env",
            ["PG_EXTRA_OPTS=-c fsync=off -c full_page_writes=off", "bash", Self.script, "start", directory.path])
        guard status == 0 else { throw LabError.didNotStart("PostgreSQL restart (\(output.suffix(400)))") }
    }

    /// Runs SQL as the superuser in database `netpoller`; the unaligned, tuples-only output, trimmed.
    @discardableResult
    public func sql(_ statement: String) async throws -> String {
        let (status, output) = try await Lab.run(
            "/usr/bin/env", ["bash", Self.script, "psql", directory.path, "-d", "netpoller", "-At", "-c", statement])
        guard status == 0 else { throw LabError.didNotStart("psql: \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        let child = try? Child.spawn(
            "/usr/bin/env", ["bash", Self.script, "stop", directory.path, "immediate"])
        child?.waitSync()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A real InfluxDB 1.x server on a free loopback port under a temporary directory, run by `scripts/influx.sh` (the
/// same script `make run` uses). Stopped and removed at deinit.
public final class InfluxLab: Sendable {
    public let directory: URL
    public let port: Int
    public var url: String { "\(scheme)://127.0.0.1:\(port)" }
    let scheme: String

    static var script: String { Lab.root.appendingPathComponent("scripts/influx.sh").path }

    /// With `https`, the server speaks TLS with that certificate and key.
    public static func start(https: (cert: String, key: String)? = nil) async throws -> InfluxLab {
        let directory = try Lab.temporaryDirectory("influxd")
        var extra = ""
        if let https {
            extra =
                "  https-enabled = true\n  https-certificate = \"\(https.cert)\"\n  https-private-key = \"\(https.key)\""
        }
        let (status, output) = try await Lab.run(
            "/usr/bin/env", ["INFLUX_HTTP_EXTRA=\(extra)", "bash", script, "start", directory.path])
        guard status == 0, let port = Int(output.split(separator: "\n").last ?? "") else {
            throw LabError.didNotStart("influxd (\(output.suffix(400)))")
        }
        return InfluxLab(directory: directory, port: port, scheme: https == nil ? "http" : "https")
    }

    init(directory: URL, port: Int, scheme: String) {
        self.directory = directory
        self.port = port
        self.scheme = scheme
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s); `restart` brings it back on the same port and data.
    public func stop() async {
        _ = try? await Lab.run("/usr/bin/env", ["bash", Self.script, "stop", directory.path])
    }

    /// Starts the server again on the same port; returns once `/ping` answers.
    public func restart() async throws {
        let (status, output) = try await Lab.run("/usr/bin/env", ["bash", Self.script, "start", directory.path])
        guard status == 0 else { throw LabError.didNotStart("influxd restart (\(output.suffix(400)))") }
    }

    /// An InfluxQL statement over /query (`-k` for a self-signed test certificate); the JSON answer.
    public func query(_ statement: String, database: String? = nil) async throws -> [String: Any] {
        guard let curl = Lab.which("curl") else { throw LabError.notFound("curl") }
        var arguments = [
            "-s", "-k", "-m", "10", "-XPOST", "\(url)/query?epoch=ns", "--data-urlencode", "q=\(statement)",
        ]
        if let database { arguments += ["--data-urlencode", "db=\(database)"] }
        let (_, output) = try await Lab.run(curl, arguments)
        return (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
    }

    /// Every series of a query's first result: (name, tags, columns, values).
    public func series(_ statement: String, database: String) async throws -> [(
        name: String, tags: [String: String], columns: [String], values: [[Any]]
    )] {
        let answer = try await query(statement, database: database)
        let results = answer["results"] as? [[String: Any]] ?? []
        let series = results.first?["series"] as? [[String: Any]] ?? []
        return series.map {
            (
                $0["name"] as? String ?? "", $0["tags"] as? [String: String] ?? [:], $0["columns"] as? [String] ?? [],
                $0["values"] as? [[Any]] ?? []
            )
        }
    }

    deinit {
        let child = try? Child.spawn("/usr/bin/env", ["bash", Self.script, "stop", directory.path])
        child?.waitSync()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension Lab {
    /// VictoriaMetrics (single node) on a free loopback port: accepts InfluxDB line protocol on /write and
    /// /api/v2/write; `/api/v1/export` reads it back.
    public static func startVictoriaMetrics() async throws -> LabProcess {
        guard let binary = which("victoria-metrics", ["/usr/bin/victoria-metrics"]) else {
            throw LabError.notFound("victoria-metrics")
        }
        let dir = try temporaryDirectory("victoria")
        let port = freePort()
        let process = try launch(
            binary,
            [
                "-httpListenAddr=127.0.0.1:\(port)", "-storageDataPath=\(dir.appendingPathComponent("data").path)",
                "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=ERROR",
            ], log: dir.appendingPathComponent("victoria.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        guard await waitForHTTP("http://127.0.0.1:\(port)/health", seconds: 30) != nil else {
            throw LabError.didNotStart("victoria-metrics")
        }
        return lab
    }

    /// The fault-injecting proxy (`scripts/fault-proxy.py`) in front of `upstream`.
    public static func startFaultProxy(upstream: String) async throws -> LabProcess {
        let dir = try temporaryDirectory("proxy")
        let port = freePort()
        let process = try launch(
            which("python3") ?? "/usr/bin/python3",
            [
                root.appendingPathComponent("scripts/fault-proxy.py").path, "--listen", "\(port)", "--upstream",
                upstream,
            ],
            log: dir.appendingPathComponent("proxy.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        guard await waitForHTTP("http://127.0.0.1:\(port)/__log", seconds: 20) != nil else {
            throw LabError.didNotStart("fault proxy")
        }
        return lab
    }

    /// HTTP POST on loopback with `body`; status and answer.
    public static func httpPost(_ url: String, body: String) async -> (Int, String)? {
        guard let curl = which("curl") else { return nil }
        guard
            let (status, output) = try? await run(
                curl, ["-s", "-m", "10", "-XPOST", "--data-binary", body, "-w", "\n%{http_code}", url])
        else { return nil }
        guard status == 0 else { return nil }
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.popLast() ?? "") ?? 0
        return (code, lines.joined(separator: "\n"))
    }
}
