import AgentConfig
import Foundation
import LineProtocol
import NetPollerCore

extension InfluxOptions: OutputSettings {}

/// `[[outputs.influxdb]]`: its keys (see README.md beside this file) and its sink.
public struct InfluxPlugin: OutputPlugin {
    public let type = "influxdb"

    public init() {}

    public func decode(_ t: inout ConfigTable, name: String) -> (any OutputSettings)? {
        let url = t.string("url")
        if url == nil && !t.has("url") {
            t.problem("url", "is required: the server's base URL, e.g. \"http://127.0.0.1:8086\"")
        }
        if let url {
            if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || URL(string: url)?.host == nil {
                t.problem("url", "is not an http:// or https:// URL")
            } else if URL(string: url)?.user != nil || URL(string: url)?.password != nil {
                // The URL is shown in logs and `check`: credentials go in their own keys.
                t.problem("url", "must not hold credentials: use username and password_file, or token_file")
            }
        }
        var o = InfluxOptions(name: name, url: url ?? "")
        let v2Keys = ["organization", "bucket", "token", "token_file"].filter { t.has($0) }
        if let text = t.string("api") {
            if let api = InfluxOptions.API(rawValue: text) {
                o.api = api
            } else {
                t.problem("api", "\"\(text)\" is not an API (v1 or v2)")
            }
        } else if !v2Keys.isEmpty {
            o.api = .v2
        }
        if let v = t.string("database"), !v.isEmpty { o.database = v }
        o.retentionPolicy = t.string("retention_policy")
        o.username = t.string("username")
        o.password = t.secret("password", required: false)?.value
        o.organization = t.string("organization")
        o.bucket = t.string("bucket")
        o.token = t.secret("token", required: false)?.value
        if o.api == .v2 {
            for (key, value) in [("organization", o.organization), ("bucket", o.bucket), ("token", o.token)]
            where value == nil {
                t.problem(key, "is required with api = \"v2\"")
            }
        } else if !v2Keys.isEmpty {
            t.problem("api", "is \"v1\" but \(v2Keys.joined(separator: ", ")) belong to api = \"v2\"")
        }
        if let text = t.string("precision") {
            if let precision = LineProtocol.Precision(rawValue: text) {
                o.precision = precision
            } else {
                t.problem("precision", "\"\(text)\" is not a precision (ns, us, ms or s)")
            }
        }
        if let v = t.bool("gzip") { o.gzip = v }
        if let v = t.duration("timeout", minimum: .milliseconds(100)) { o.timeout = v }
        if let v = t.duration("connect_timeout", minimum: .milliseconds(100)) { o.connectTimeout = v }
        for (key, keyPath) in [
            ("tls_ca_file", \InfluxOptions.tlsCAFile), ("tls_cert_file", \InfluxOptions.tlsCertFile),
            ("tls_key_file", \InfluxOptions.tlsKeyFile),
        ] {
            guard let file = t.string(key) else { continue }
            if FileManager.default.isReadableFile(atPath: file) {
                // PEM: read here (no side effect), so `check` finds what the first TLS handshake would.
                let text = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
                if text?.contains("-----BEGIN ") != true {
                    t.problem(key, "\"\(file)\" is not a PEM file (no -----BEGIN line)")
                }
                o[keyPath: keyPath] = file
            } else {
                t.problem(key, "cannot read \"\(file)\" (does it exist and is it readable?)")
            }
        }
        if (o.tlsCertFile == nil) != (o.tlsKeyFile == nil) {
            t.problem("tls_cert_file", "tls_cert_file and tls_key_file go together (a client certificate)")
        }
        if let v = t.bool("insecure_skip_verify") { o.insecureSkipVerify = v }
        if let v = t.bool("create_database") { o.createDatabase = v }
        return url == nil ? nil : o
    }

    public func makeSink(name: String, settings: any OutputSettings, context: SinkContext) -> any Sink {
        let options = self.settings(settings, as: InfluxOptions.self)
        return InfluxSink(options: options, metrics: context.metrics, logger: context.logger)
    }

    public func summary(name: String, settings: any OutputSettings) -> String {
        let o = self.settings(settings, as: InfluxOptions.self)
        return "influxdb \(name) (\(o.url), api \(o.api.rawValue))"
    }
}

extension OutputsConfig {
    /// The `[[outputs.influxdb]]` outputs, with their settings typed.
    public var influxdb: [TypedOutput<InfluxOptions>] { of("influxdb", as: InfluxOptions.self) }
}
