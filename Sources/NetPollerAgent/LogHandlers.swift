import Foundation
import Logging
import Synchronization

/// logfmt (`ts=… level=info msg="…" device.name=r1`) or one JSON object per line, to standard error.
public struct AgentLogHandler: LogHandler {
    public enum Format: Sendable { case logfmt, json }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: Format
    private static let lock = Mutex(())

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let ts = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        var line: String
        switch format {
        case .logfmt:
            line = "ts=\(ts) level=\(event.level.rawValue) msg=\(Self.quote(event.message.description))"
            for key in all.keys.sorted() { line += " \(key)=\(Self.quote("\(all[key]!)"))" }
        case .json:
            var object: [String: String] = ["ts": ts, "level": event.level.rawValue, "msg": event.message.description]
            for (key, value) in all { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        line += "\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func quote(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\n" }
        guard needsQuotes else { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}
