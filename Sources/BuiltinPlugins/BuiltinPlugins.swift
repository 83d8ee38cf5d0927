import AgentConfig
import FileOutput
import Foundation
import InfluxOutput
import Logging
import NetPollerCore
import PostgresOutput
import SNMPPolling
import StdoutOutput

/// The registration point: every input (collector) and output the agent ships. A new plugin is one folder under
/// `Sources/Inputs` or `Sources/Outputs` and one line here (and its target in Package.swift).
public enum BuiltinPlugins {
    /// Output plugins, in the order `check` and `/status` list their sinks.
    public static let outputs: [any OutputPlugin] = [StdoutPlugin(), FilePlugin(), PostgresPlugin(), InfluxPlugin()]

    /// The collectors, one per device kind; their I/O threads start here.
    public static func collectors(metrics: SelfMetrics, logger: Logger = Logger(label: "netpoller")) -> [any Collector]
    {
        [SNMPCollector(metrics: metrics, logger: logger)]
    }
}

extension ConfigLoader {
    /// Loads with the built-in output plugins.
    public static func load(
        files: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        hostName: String = ProcessInfo.processInfo.hostName
    ) throws(ConfigError) -> AgentConfiguration {
        try load(files: files, outputs: BuiltinPlugins.outputs, environment: environment, hostName: hostName)
    }
}
