import AgentConfig
import FileOutput
import Foundation
import InfluxOutput
import Logging
import NetPollerCore
import PostgresOutput
import SNMPPolling
import SSHPolling
import StdoutOutput

/// The registration point: every input (collector) and output the agent ships. A new plugin is one folder under
/// `Sources/Inputs` or `Sources/Outputs` and one line here (and its target in Package.swift).
public enum BuiltinPlugins {
    /// Output plugins, in the order `check` and `/status` list their sinks.
    public static let outputs: [any OutputPlugin] = [StdoutPlugin(), FilePlugin(), PostgresPlugin(), InfluxPlugin()]

    /// The collectors, one per device kind; their I/O threads start here.
    public static func collectors(
        metrics: SelfMetrics, logger: Logger = Logger(label: "netpoller"), sshThreads: Int = SSHSettings().ioThreads
    ) -> [any Collector] {
        [
            SNMPCollector(metrics: metrics, logger: logger),
            SSHCollector(metrics: metrics, logger: logger, threads: sshThreads),
        ]
    }

    /// Where discovery's inventory goes: every output that keeps one (each `[[outputs.postgres]]`).
    @Sendable public static func inventoryWriters(_ config: AgentConfiguration) -> [any InventoryWriter] {
        PostgresInventoryWriter.writers(config, logger: Logger(label: "netpoller.discovery"))
    }

    /// Problems only a collector can see (an SSH template that does not compile, a mapping naming a missing value):
    /// `check` and start-up report them as config errors.
    public static func collectorProblems(_ config: AgentConfiguration) -> [String] {
        SSHCollector.problems(config)
    }
}

extension ConfigLoader {
    /// Loads with the built-in output plugins.
    public static func load(
        files: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        hostName: String = ProcessInfo.processInfo.hostName
    ) throws(ConfigError) -> AgentConfiguration {
        let config = try load(
            files: files, outputs: BuiltinPlugins.outputs, environment: environment, hostName: hostName)
        let problems = BuiltinPlugins.collectorProblems(config)
        guard problems.isEmpty else {
            throw ConfigError(
                problems: problems.map { ConfigProblem(file: config.files.first ?? "", path: "profiles", message: $0) })
        }
        return config
    }
}
