import LineProtocol

/// Settings of one `[[outputs.influxdb]]` sink: decoded by `InfluxPlugin`, used by the InfluxDB sink.
public struct InfluxOptions: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum API: String, Sendable, Equatable {
        /// `POST /write?db=&rp=&precision=` (InfluxDB 1.x, VictoriaMetrics, and 2.x's compatibility API).
        case v1
        /// `POST /api/v2/write?org=&bucket=&precision=` with `Authorization: Token …`.
        case v2
    }

    public var name: String
    /// Base URL of the server, e.g. `http://127.0.0.1:8086` (a path prefix is kept).
    public var url: String
    public var api: API = .v1
    public var database = "netpoller"
    public var retentionPolicy: String?
    public var username: String?
    /// Never logged.
    public var password: String?
    public var organization: String?
    public var bucket: String?
    /// Never logged.
    public var token: String?
    public var precision: LineProtocol.Precision = .ns
    public var gzip = true
    /// Whole request (connect, send, answer).
    public var timeout: Duration = .seconds(10)
    public var connectTimeout: Duration = .seconds(5)
    public var tlsCAFile: String?
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    public var insecureSkipVerify = false
    /// v1: create the database when the server says it does not exist.
    public var createDatabase = false

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// Without the password and the token.
    public var description: String {
        "influxdb \(name) (\(url), api \(api.rawValue), \(api == .v1 ? "db \(database)" : "bucket \(bucket ?? "")"))"
    }
    public var debugDescription: String { description }
}
