import Foundation

/// Simulated network devices from pip `fakenos` (in `.build/textfsm-venv`), one loopback port each.
public final class FakeNOSLab: Sendable {
    public let process: LabProcess
    /// Each device's port, in the order of the platforms asked for.
    public let ports: [Int]

    init(process: LabProcess, ports: [Int]) {
        self.process = process
        self.ports = ports
    }

    public func stop() { process.stop() }
}

/// A real OpenSSH sshd on a loopback port, with its own host key and config in a temporary directory, whose
/// ForceCommand plays a device CLI (`Tests/NetPollerTests/Fixtures/fake-cli.py`). The client key it trusts is in
/// `clientKey`; the CLI logs sessions and paging to `cliLog`.
public final class SSHDLab: Sendable {
    public let directory: URL
    public let port: Int
    public let clientKey: String
    public let cliLog: String
    public let user: String
    private let child: LabBox

    // @unchecked Sendable: `process` is replaced only by `restart`, which tests call from one task at a time.
    private final class LabBox: @unchecked Sendable {
        var process: Child?
    }

    init(directory: URL, port: Int, clientKey: String, cliLog: String, user: String, process: Child) {
        self.directory = directory
        self.port = port
        self.clientKey = clientKey
        self.cliLog = cliLog
        self.user = user
        child = LabBox()
        child.process = process
    }

    deinit { child.process?.stop() }

    public func stop() { child.process?.stop() }

    /// The host key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
    public func fingerprint() async throws -> String {
        let (_, out) = try await Lab.run(
            "/usr/bin/ssh-keygen", ["-l", "-f", directory.appendingPathComponent("host_key.pub").path])
        return out.split(separator: " ").map(String.init).first { $0.hasPrefix("SHA256:") } ?? ""
    }

    /// Stops sshd, optionally gives it a new host key, and starts it again on the same port.
    public func restart(newHostKey: Bool) async throws {
        child.process?.stop()
        if newHostKey {
            for suffix in ["", ".pub"] {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent("host_key\(suffix)"))
            }
            try await SSHDLab.keygen(directory.appendingPathComponent("host_key").path)
        }
        child.process = try await SSHDLab.launch(directory: directory, port: port)
    }

    /// Logins sshd accepted so far, one per authenticated TCP connection (from its log; the lab's readiness probes
    /// connect without logging in).
    public func logins() -> Int {
        let log = (try? String(contentsOf: directory.appendingPathComponent("sshd.log"), encoding: .utf8)) ?? ""
        return log.components(separatedBy: "Accepted publickey for").count - 1
            + log.components(separatedBy: "Accepted password for").count - 1
    }

    /// Lines the fake CLI logged.
    public func cliLines() -> [String] {
        ((try? String(contentsOfFile: cliLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func keygen(_ path: String, type: String = "ed25519") async throws {
        let (status, out) = try await Lab.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path])
        guard status == 0 else { throw LabError.didNotStart("ssh-keygen: \(out)") }
    }

    static func launch(directory: URL, port: Int) async throws -> Child {
        guard let sshd = Lab.which("sshd", ["/usr/sbin/sshd"]) else { throw LabError.notFound("sshd (openssh-server)") }
        // As root sshd needs its privilege-separation directory, which the (never started) system service creates.
        if getuid() == 0 && !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(
                atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let process = try Lab.launch(
            sshd, ["-D", "-e", "-f", directory.appendingPathComponent("sshd_config").path],
            log: directory.appendingPathComponent("sshd.log"))
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if Lab.canConnect(port: port) { return process }
            if process.poll() != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.stop()
        let log = (try? String(contentsOf: directory.appendingPathComponent("sshd.log"), encoding: .utf8)) ?? ""
        throw LabError.didNotStart("sshd on 127.0.0.1:\(port): \(log.suffix(500))")
    }
}

extension Lab {
    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// The Python of the TextFSM/fakenos venv (`.build/textfsm-venv`, made by scripts/install-deps.sh).
    public static var venvPython: String { root.appendingPathComponent(".build/textfsm-venv/bin/python").path }

    /// fakenos devices of these platforms (cisco_ios, cisco_nxos, arista_eos, juniper_junos, …) on free ports.
    public static func startFakeNOS(platforms: [String]) async throws -> FakeNOSLab {
        guard FileManager.default.isExecutableFile(atPath: venvPython) else {
            throw LabError.notFound(".build/textfsm-venv (fakenos)")
        }
        let dir = try temporaryDirectory("fakenos")
        let ports = platforms.map { _ in freePort() }
        let log = dir.appendingPathComponent("fakenos.log")
        let process = try launch(
            venvPython,
            [root.appendingPathComponent("scripts/fakenos-lab.py").path]
                + zip(platforms, ports).map { "\($0):\($1)" }, log: log)
        let lab = LabProcess(process: process, port: ports.first ?? 0, directory: dir)
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if text.contains("ready") { return FakeNOSLab(process: lab, ports: ports) }
            if process.poll() != nil { throw LabError.didNotStart("fakenos: \(text.suffix(800))") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LabError.didNotStart("fakenos")
    }

    /// A lab sshd: an ed25519 host key (or `hostKeyType`), public-key and password logins for the current user, the fake CLI as its
    /// ForceCommand, every connection logged. `extraConfig` lines are appended to its sshd_config.
    public static func startSSHD(extraConfig: String = "", hostKeyType: String = "ed25519") async throws -> SSHDLab {
        let dir = try temporaryDirectory("sshd")
        let port = freePort()
        try await SSHDLab.keygen(dir.appendingPathComponent("host_key").path, type: hostKeyType)
        let clientKey = dir.appendingPathComponent("client_key").path
        try await SSHDLab.keygen(clientKey)
        try FileManager.default.copyItem(
            atPath: clientKey + ".pub", toPath: dir.appendingPathComponent("authorized_keys").path)
        let cliLog = dir.appendingPathComponent("cli.log").path
        let script = root.appendingPathComponent("Tests/NetPollerTests/Fixtures/fake-cli.py").path
        // The ForceCommand runs through a wrapper that tells the CLI where to log.
        let wrapper = dir.appendingPathComponent("cli.sh")
        try "#!/bin/sh\nFAKE_CLI_LOG='\(cliLog)' exec /usr/bin/python3 '\(script)'\n".write(
            to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        let config = """
            ListenAddress 127.0.0.1:\(port)
            HostKey \(dir.appendingPathComponent("host_key").path)
            PidFile none
            AuthorizedKeysFile \(dir.appendingPathComponent("authorized_keys").path)
            StrictModes no
            PermitRootLogin yes
            PubkeyAuthentication yes
            PasswordAuthentication yes
            KbdInteractiveAuthentication no
            UsePAM no
            MaxStartups 200
            MaxSessions 50
            LogLevel VERBOSE
            ForceCommand \(wrapper.path)
            \(extraConfig)
            """
        try config.write(to: dir.appendingPathComponent("sshd_config"), atomically: true, encoding: .utf8)
        let process = try await SSHDLab.launch(directory: dir, port: port)
        return SSHDLab(directory: dir, port: port, clientKey: clientKey, cliLog: cliLog, user: user, process: process)
    }
}
