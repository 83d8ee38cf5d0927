import Logging
import NetPollerCore

/// What a sink is made with besides its own settings.
public struct SinkContext: Sendable {
    /// `[agent] name`.
    public var agentName: String
    public var metrics: SelfMetrics
    public var logger: Logger

    public init(agentName: String, metrics: SelfMetrics, logger: Logger) {
        self.agentName = agentName
        self.metrics = metrics
        self.logger = logger
    }
}

/// An output type: `[[outputs.<type>]]` tables, decoded by the plugin, and the sink each one makes.
///
/// The loader reads `name` and the delivery keys (batching, retries, breaker, spool, dead letters) of every output;
/// the plugin reads the rest through the `ConfigTable`, and any key neither read is reported as unknown. Adding an
/// output is one folder under `Sources/Outputs` with a type conforming to this, and one line in `BuiltinPlugins`.
public protocol OutputPlugin: Sendable {
    /// The table name under `[outputs]` and the sink's `type` in `/status`.
    var type: String { get }
    /// Decodes the plugin's own keys; nil when the table cannot make a sink (the problems are reported in `table`).
    /// Read every key the plugin accepts before deciding: a key never read is reported as unknown.
    func decode(_ table: inout ConfigTable, name: String) -> (any OutputSettings)?
    /// A sink for these settings (made at start, and on a reload whose settings differ from the running sink's).
    func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink
    /// One line about the output for `check`: where it writes, never a secret.
    func summary(name: String, settings: any OutputSettings) -> String
}

extension OutputPlugin {
    /// The settings this plugin decoded, with their type (the loader hands each plugin only its own).
    public func settings<Settings: OutputSettings>(_ settings: any OutputSettings, as: Settings.Type) -> Settings {
        guard let typed = settings as? Settings else {
            preconditionFailure("\(type): the loader hands each plugin only the settings it decoded")
        }
        return typed
    }
}
