/// Settings of one `[[outputs.postgres]]` sink: decoded by `PostgresPlugin`, used by the PostgreSQL sink.
public struct PostgresOptions: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// How a redelivered batch is kept from being written twice.
    public enum Idempotency: Sendable, Equatable {
        /// A ledger of written batch ids (`netpoller_batches`) in the same transaction as the rows; rows go straight
        /// into `samples` with binary COPY. The default (see docs/postgres.md for the measurements).
        case ledger
        /// Rows are copied into a temporary staging table, then `INSERT … ON CONFLICT DO NOTHING` on
        /// (series_id, time). Kept for the benchmark's comparison.
        case staging
    }

    public var name: String
    /// libpq connection string (keyword/value or URI), passed as is. May hold a password: never logged.
    public var conninfo: String
    /// From `password` or `password_file`; overrides any password in the conninfo. Never logged.
    public var password: String?
    public var connectTimeout: Duration = .seconds(10)
    public var statementTimeout: Duration = .seconds(60)
    public var schema = "public"
    /// Partitions wholly older than this are dropped; nil keeps everything.
    public var retention: Duration?
    /// Daily partitions created ahead of today.
    public var partitionsAhead = 3
    /// Most series ids held in the agent's cache.
    public var seriesCacheSize = 200_000
    public var idempotency: Idempotency = .ledger
    /// Recorded with each migration applied (`applied_by`).
    public var agentName = "netpoller"

    public init(name: String, conninfo: String) {
        self.name = name
        self.conninfo = conninfo
    }

    /// Without the conninfo and the password (either may hold a secret).
    public var description: String {
        "postgres \(name) (conninfo <secret>, schema \(schema), retention \(retention.map { "\($0)" } ?? "none"))"
    }
    public var debugDescription: String { description }
}
