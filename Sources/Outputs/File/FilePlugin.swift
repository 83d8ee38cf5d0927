import AgentConfig
import Foundation
import LineProtocol
import NetPollerCore

/// `[[outputs.file]]` settings: the file and the text format.
public struct FileSettings: OutputSettings, Equatable {
    public var path: String
    public var format: TextFormat

    public init(path: String, format: TextFormat) {
        self.path = path
        self.format = format
    }
}

/// `[[outputs.file]]`: line protocol or JSON lines appended to a file (see README.md beside this file).
public struct FilePlugin: OutputPlugin {
    public let type = "file"

    public init() {}

    public func decode(_ t: inout ConfigTable, name: String) -> (any OutputSettings)? {
        let path = t.string("path")
        let format: TextFormat = t.choice("format", "a format") ?? .influx
        guard let path, !path.isEmpty else {
            t.problem("path", "is required: the file to append to")
            return nil
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            t.problem("path", "\"\(path)\" is a directory; give the file to append to")
            return nil
        }
        return FileSettings(path: path, format: format)
    }

    public func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink {
        let settings = self.settings(settings, as: FileSettings.self)
        return FileSink(name: name, path: settings.path, format: settings.format)
    }

    public func summary(name: String, settings: any OutputSettings) -> String {
        let s = self.settings(settings, as: FileSettings.self)
        return "file \(name) \(s.path) (\(s.format.rawValue))"
    }
}

extension OutputsConfig {
    /// The `[[outputs.file]]` outputs, with their settings typed.
    public var file: [TypedOutput<FileSettings>] { of("file", as: FileSettings.self) }
}
