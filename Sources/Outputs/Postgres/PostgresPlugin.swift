import AgentConfig
import CLibPQ
import Foundation
import NetPollerCore

extension PostgresOptions: OutputSettings {}

/// `[[outputs.postgres]]`: its keys (see README.md beside this file) and its sink.
public struct PostgresPlugin: OutputPlugin {
    public let type = "postgres"

    public init() {}

    public func decode(_ t: inout ConfigTable, name: String) -> (any OutputSettings)? {
        let conninfo = t.string("conninfo")
        if conninfo == nil && !t.has("conninfo") {
            t.problem(
                "conninfo", "is required: a libpq connection string, e.g. \"host=db1 dbname=metrics user=netpoller\"")
        }
        if let conninfo, let message = ConfigLoader.conninfoProblem(conninfo) {
            t.problem("conninfo", "is not a valid libpq connection string: \(message)")
        }
        var options = PostgresOptions(name: name, conninfo: conninfo ?? "")
        options.password = t.secret("password", required: false)?.value
        if let v = t.duration("connect_timeout", minimum: .seconds(1)) { options.connectTimeout = v }
        if let v = t.duration("statement_timeout", minimum: .milliseconds(100)) { options.statementTimeout = v }
        if let v = t.string("schema") {
            let valid =
                !v.isEmpty && v.count <= 63 && v.first.map { $0 == "_" || ("a"..."z").contains($0) } == true
                && v.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
            if valid {
                options.schema = v
            } else {
                t.problem(
                    "schema", "\"\(v)\" is not a usable schema name (lower-case letters, digits and '_', up to 63)")
            }
        }
        if let text = t.string("retention"), text != "0", !text.isEmpty {
            if let v = t.duration("retention", minimum: .seconds(86_400)) { options.retention = v }
        }
        if let v = t.int("partitions_ahead", range: 1...60) { options.partitionsAhead = v }
        if let v = t.int("series_cache_size", range: 1000...100_000_000) { options.seriesCacheSize = v }
        return conninfo == nil ? nil : options
    }

    public func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink {
        var options = self.settings(settings, as: PostgresOptions.self)
        options.agentName = context.agentName
        return PostgresSink(options: options, metrics: context.metrics.postgres(name), logger: context.logger)
    }

    public func summary(name: String, settings: any OutputSettings) -> String {
        let o = self.settings(settings, as: PostgresOptions.self)
        return "postgres \(name) (\(Conninfo.redacted(o.conninfo)))"
    }
}

extension OutputsConfig {
    /// The `[[outputs.postgres]]` outputs, with their settings typed.
    public var postgres: [TypedOutput<PostgresOptions>] { of("postgres", as: PostgresOptions.self) }
}

extension ConfigLoader {
    /// libpq's own verdict on a connection string, with quoted parts cut out of its message (they could be a
    /// password); nil when it parses.
    public static func conninfoProblem(_ conninfo: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(conninfo, &error) {
            PQconninfoFree(options)
            return nil
        }
        guard let error else { return "libpq cannot parse it" }
        defer { PQfreemem(error) }
        let text = String(cString: error).trimmingCharacters(in: .whitespacesAndNewlines)
        // An unknown keyword is safe to name; any other quoted part may be a value.
        if text.hasPrefix("invalid connection option") { return text }
        // Quoted parts longer than one character ("=" is kept) are cut.
        let parts = text.split(separator: "\"", omittingEmptySubsequences: false)
        let message = parts.enumerated().map { index, part in
            index % 2 == 0 || part.count <= 1 ? String(part) : "…"
        }.joined(separator: "\"")
        return message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
