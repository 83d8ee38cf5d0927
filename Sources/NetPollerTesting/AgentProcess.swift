import Foundation
import NetPollerRuntime

/// The real `netpoller` binary (the debug build) run on a config written for one test: in the config text `DIR`
/// becomes the test's temporary directory and `HTTPPORT` a free loopback port. Its output goes to `DIR/agent.log`.
public struct AgentProcess {
    public let child: Child
    /// The HTTP port, and `http://127.0.0.1:PORT`.
    public let port: Int
    public var base: String { "http://127.0.0.1:\(port)" }
    public let directory: URL

    public static var binary: String { Lab.root.appendingPathComponent(".build/debug/netpoller").path }

    public var logPath: String { directory.appendingPathComponent("agent.log").path }

    /// Starts `netpoller run`; `launcher` runs in front of it (e.g. `prlimit --nofile=1024:1024 --`).
    /// `arguments` follow `run --config FILE` (`DIR` replaced there too).
    public static func start(
        _ config: String, name: String, launcher: [String] = [], arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws -> AgentProcess {
        let directory = try Lab.temporaryDirectory(name)
        let port = Lab.freePort()
        let path = directory.appendingPathComponent("agent.conf").path
        try config.replacingOccurrences(of: "HTTPPORT", with: "\(port)")
            .replacingOccurrences(of: "DIR", with: directory.path)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let command =
            launcher + [binary, "run", "--config", path]
            + arguments.map { $0.replacingOccurrences(of: "DIR", with: directory.path) }
        let child = try Child.spawn(
            command[0], Array(command.dropFirst()), environment: environment,
            output: directory.appendingPathComponent("agent.log").path)
        return AgentProcess(child: child, port: port, directory: directory)
    }
}
