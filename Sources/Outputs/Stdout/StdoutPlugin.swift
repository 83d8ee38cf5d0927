import AgentConfig
import LineProtocol
import NetPollerCore

/// `[[outputs.stdout]]` settings: the text format.
public struct StdoutSettings: OutputSettings, Equatable {
    public var format: TextFormat

    public init(format: TextFormat) { self.format = format }
}

/// `[[outputs.stdout]]`: line protocol or JSON lines on standard output (see README.md beside this file).
public struct StdoutPlugin: OutputPlugin {
    public let type = "stdout"

    public init() {}

    public func decode(_ t: inout ConfigTable, name: String) -> (any OutputSettings)? {
        StdoutSettings(format: t.choice("format", "a format") ?? .influx)
    }

    public func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink {
        StdoutSink(name: name, format: self.settings(settings, as: StdoutSettings.self).format)
    }

    public func summary(name: String, settings: any OutputSettings) -> String {
        "stdout \(name) (\(self.settings(settings, as: StdoutSettings.self).format.rawValue))"
    }
}

extension OutputsConfig {
    /// The `[[outputs.stdout]]` outputs, with their settings typed.
    public var stdout: [TypedOutput<StdoutSettings>] { of("stdout", as: StdoutSettings.self) }
}
