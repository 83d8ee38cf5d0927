import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import SSHPolling

// make bench-ssh's agent side: the real SSH poller (SSHCollector: libssh2 on its I/O threads, TextFSM parsing, mapping
// to samples) polling every device of a config `--rounds` times, all devices at once per round. Prints one JSON line:
// commands run, samples, errors, this process's CPU seconds (utime + stime, every thread) and wall seconds.

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func cpuSeconds() -> Double { ProcessCPU.seconds() }

let rounds = Int(argument("rounds", "10")) ?? 10
let config: AgentConfiguration
do {
    config = try ConfigLoader.load(files: [argument("config", "agent.conf")])
} catch {
    FileHandle.standardError.write(Data("ssh-bench: \(error)\n".utf8))
    exit(78)
}
let collector = SSHCollector(metrics: nil, logger: Logger(label: "ssh-bench"), threads: config.ssh.ioThreads)
collector.configure(config)
// The first round opens the connections (logins are not what is compared); the measured rounds reuse them, as a
// running agent does.
func round() async -> (commands: Int, samples: Int, errors: [String]) {
    await withTaskGroup(of: PollOutcome.self) { group in
        for device in config.devices { group.addTask { await collector.poll(device) } }
        var commands = 0
        var samples = 0
        var errors: [String] = []
        for await outcome in group {
            commands += outcome.requests
            samples += outcome.samples.count
            errors += outcome.errors.map(\.description)
        }
        return (commands, samples, errors)
    }
}
let warm = await round()
let cpuStart = cpuSeconds()
let wallStart = Date()
var commands = 0
var samples = 0
var errors: [String] = warm.errors
for _ in 0..<rounds {
    let r = await round()
    commands += r.commands
    samples += r.samples
    errors += r.errors
}
let cpu = cpuSeconds() - cpuStart
let wall = Date().timeIntervalSince(wallStart)
await collector.shutdown()
let result: [String: Any] = [
    "client": "netpoller", "commands": commands, "samples": samples, "errors": errors.count,
    "first_error": errors.first ?? "", "cpu_seconds": cpu, "wall_seconds": wall,
]
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
