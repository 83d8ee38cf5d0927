import CLibPQ
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime

/// `[[outputs.postgres]]`: samples into PostgreSQL with binary COPY, one transaction per write.
///
/// All libpq work (connect, migrations, COPY) runs on the sink's own thread (`DedicatedThread`), never on Swift's
/// cooperative pool; the async methods only hand work to it and await the result.
public final class PostgresSink: Sink {
    public let name: String
    /// The conninfo without secrets (`host=… port=… dbname=… user=…`), for logs and status.
    public let target: String
    public let secrets: [String]
    private let worker: SinkThread<PostgresWriter>

    public init(options: PostgresOptions, metrics: PostgresMetrics?, logger: Logger) {
        name = options.name
        target = Conninfo.redacted(options.conninfo)
        secrets = [options.password, Conninfo.value("password", in: options.conninfo)].compactMap { $0 }
        worker = SinkThread(
            name: "pg:\(options.name)",
            writer: PostgresWriter(options: options, target: target, metrics: metrics, logger: logger))
    }

    /// True once `close()` ran: the sink takes no more writes.
    public var isClosed: Bool { worker.isClosed }
    public func write(_ batches: [SampleBatch]) async -> SinkResult { await worker.write(batches) }
    public func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void) {
        worker.startWrite(batches, completion: completion)
    }
    public func probe() async -> SinkError? { await worker.probe() }
    /// Closes the connection after any write in flight, then ends the thread.
    public func close() async { await worker.close() }
}

/// The conninfo as shown to people: only the keywords that say where, never credentials.
public enum Conninfo {
    static let shown = ["host", "hostaddr", "port", "dbname", "user", "service", "sslmode", "target_session_attrs"]

    /// One keyword's value in a conninfo, if set.
    public static func value(_ keyword: String, in conninfo: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            if let error { PQfreemem(error) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let key = option.pointee.keyword {
            if String(cString: key) == keyword, let value = option.pointee.val { return String(cString: value) }
            option = option.advanced(by: 1)
        }
        return nil
    }

    public static func redacted(_ conninfo: String) -> String {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            if let error { PQfreemem(error) }
            return "<unparsable conninfo>"
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option = option.advanced(by: 1)
        }
        let text = shown.compactMap { key in values[key].map { "\(key)=\($0)" } }.joined(separator: " ")
        return text.isEmpty ? "libpq defaults" : text
    }
}

/// The sink's state: the connection, the series cache, the known partitions.
// @unchecked Sendable: only `PostgresSink` holds it and only calls it inside `thread.run`, so every access happens on
// that one thread, one at a time.
final class PostgresWriter: ThreadConfinedWriter, @unchecked Sendable {
    let options: PostgresOptions
    let target: String
    let metrics: PostgresMetrics?
    let logger: Logger
    private var conn: PGConnection?
    private var cache: SeriesCache
    /// Days with a samples partition (as of the last look at the catalog).
    private var partitions: Set<Int> = []
    private var lastMaintenance: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    init(options: PostgresOptions, target: String, metrics: PostgresMetrics?, logger: Logger) {
        self.options = options
        self.target = target
        self.metrics = metrics
        self.logger = logger
        cache = SeriesCache(capacity: options.seriesCacheSize)
    }

    /// `SELECT 1` on the connection (a new one if there is none or it broke): a server that was restarted under a
    /// connection that still looks open is found out here, not by the next write.
    func probe() -> SinkError? {
        do throws(PGFailure) {
            let c = try connection()
            do throws(PGFailure) {
                _ = try c.exec("SELECT 1")
            } catch {
                conn = nil
                _ = try connection().exec("SELECT 1")
            }
            return nil
        } catch {
            return error.sinkError
        }
    }

    func close() {
        conn = nil
    }

    // MARK: Connection, migrations, partitions

    private func connection() throws(PGFailure) -> PGConnection {
        if let conn, !conn.isBroken { return conn }
        if conn != nil {
            conn = nil
            logger.warning(
                "postgres connection lost", metadata: .keys([.sink: "\(options.name)", .target: "\(target)"]))
        }
        let c: PGConnection
        do {
            var after = [("connect_timeout", "\(max(2, Int(options.connectTimeout.seconds.rounded(.up))))")]
            if let password = options.password { after.append(("password", password)) }
            c = try PGConnection(
                conninfo: options.conninfo,
                before: [
                    ("fallback_application_name", "netpoller"), ("keepalives", "1"), ("keepalives_idle", "30"),
                    ("keepalives_interval", "10"), ("keepalives_count", "3"),
                ],
                after: after)
            let schema = Self.quote(options.schema)
            try c.exec(
                "SET statement_timeout = \(Int(options.statementTimeout.seconds * 1000)); SET search_path TO \(schema);"
                    + " SET timezone TO 'UTC'")
            let version = try migrate(c)
            if options.idempotency == .staging {
                try c.exec(
                    "CREATE TEMP TABLE IF NOT EXISTS netpoller_staging (series_id bigint, time timestamptz,"
                        + " value double precision) ON COMMIT DELETE ROWS")
            }
            try maintain(c)
            metrics?.connectsOK.increment()
            logger.info(
                "postgres connected",
                metadata: .keys([
                    .sink: "\(options.name)", .target: "\(target)", .serverVersion: "\(c.serverVersion)",
                    .schemaVersion: "\(version)",
                ]))
        } catch {
            metrics?.connectsFailed.increment()
            throw error
        }
        conn = c
        return c
    }

    /// Applies the migrations this database lacks, under a transaction-scoped advisory lock so agents starting
    /// together take turns; the second finds the work done. Returns the schema version.
    private func migrate(_ c: PGConnection) throws(PGFailure) -> Int {
        try Self.migrate(c, options: options, logger: logger, metrics: metrics)
    }

    /// The migrations on any connection (the sink's, or discovery's inventory writer's).
    static func migrate(
        _ c: PGConnection, options: PostgresOptions, logger: Logger, metrics: PostgresMetrics?
    ) throws(PGFailure) -> Int {
        try c.exec("BEGIN")
        do throws(PGFailure) {
            try c.exec("SELECT pg_advisory_xact_lock(hashtext('netpoller-migrations'), hashtext($1))", [options.schema])
            if options.schema != "public" { try c.exec("CREATE SCHEMA IF NOT EXISTS \(Self.quote(options.schema))") }
            try c.exec(
                """
                CREATE TABLE IF NOT EXISTS netpoller_schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(), applied_by text)
                """)
            let current = Int(
                try c.exec("SELECT coalesce(max(version), 0) FROM netpoller_schema_migrations").int(0, 0) ?? 0)
            if current > Schema.latest {
                throw PGFailure(
                    sqlState: nil,
                    message:
                        "the database schema is version \(current), newer than this agent knows (\(Schema.latest)):"
                        + " upgrade the agent (the schema is left as it is)", connectionLost: false)
            }
            for migration in Schema.migrations where migration.version > current {
                try c.exec(migration.sql)
                try c.exec(
                    "INSERT INTO netpoller_schema_migrations (version, name, applied_by) VALUES ($1, $2, $3)",
                    ["\(migration.version)", migration.name, options.agentName])
                logger.info(
                    "postgres schema migrated",
                    metadata: .keys([.sink: "\(options.name)", .schemaVersion: "\(migration.version)"]))
            }
            try c.exec("COMMIT")
            metrics?.schemaVersion.set(Double(max(current, Schema.latest)))
            return max(current, Schema.latest)
        } catch {
            c.rollbackIfNeeded()
            throw error
        }
    }

    /// Creates the partitions from yesterday to `partitions_ahead` days ahead and applies `retention`. At connect and
    /// then hourly.
    private func maintain(_ c: PGConnection) throws(PGFailure) {
        let today = UTCDay.day(nanos: WallClock.nanos())
        try ensurePartitions(Set((today - 1)...(today + options.partitionsAhead)), c)
        if let retention = options.retention {
            let cutoffNanos = WallClock.nanos() - Int64(retention.seconds * 1e9)
            let cutoffDay = UTCDay.day(nanos: cutoffNanos)
            try locked(c) { () throws(PGFailure) in
                partitions = try loadPartitions(c)
                // A partition covers [day, day + 1): dropped once all of it is older than the cutoff.
                for day in partitions.sorted() where day < cutoffDay {
                    try c.exec("DROP TABLE IF EXISTS \(UTCDay.partition(day))")
                    partitions.remove(day)
                    metrics?.partitionsDropped.increment()
                    logger.info(
                        "postgres partition dropped by retention",
                        metadata: .keys([.sink: "\(options.name)", .partition: "\(UTCDay.partition(day))"]))
                }
                try c.exec(
                    "DELETE FROM netpoller_batches WHERE time < $1::timestamptz",
                    [UTCDay.midnight(cutoffDay)])
            }
        }
        lastMaintenance = clock.now
    }

    private func ensurePartitions(_ days: Set<Int>, _ c: PGConnection) throws(PGFailure) {
        guard !days.isSubset(of: partitions) else { return }
        try locked(c) { () throws(PGFailure) in
            partitions = try loadPartitions(c)
            for day in days.subtracting(partitions).sorted() {
                try c.exec(
                    "CREATE TABLE IF NOT EXISTS \(UTCDay.partition(day)) PARTITION OF samples"
                        + " FOR VALUES FROM ('\(UTCDay.midnight(day))') TO ('\(UTCDay.midnight(day + 1))')")
                partitions.insert(day)
                metrics?.partitionsCreated.increment()
            }
        }
    }

    /// Runs `body` in a transaction holding the schema's partition lock (agents sharing a database take turns).
    private func locked(_ c: PGConnection, _ body: () throws(PGFailure) -> Void) throws(PGFailure) {
        try c.exec("BEGIN")
        do throws(PGFailure) {
            try c.exec("SELECT pg_advisory_xact_lock(hashtext('netpoller-partitions'), hashtext($1))", [options.schema])
            try body()
            try c.exec("COMMIT")
        } catch {
            c.rollbackIfNeeded()
            throw error
        }
    }

    private func loadPartitions(_ c: PGConnection) throws(PGFailure) -> Set<Int> {
        let rows = try c.exec(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                + " WHERE i.inhparent = 'samples'::regclass")
        return Set((0..<rows.count).compactMap { rows.text($0, 0).flatMap { UTCDay.day(partition: $0) } })
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Writes

    func write(_ batches: [SampleBatch]) -> SinkResult {
        do throws(PGFailure) {
            let c = try connection()
            if let last = lastMaintenance, clock.now - last > .seconds(3600) { try maintain(c) }
            var resolved = try resolveSeries(batches, c)
            try ensurePartitions(Set(batches.map { UTCDay.day(nanos: $0.timestampNanos) }), c)
            try c.exec("BEGIN")
            var fresh = batches
            if options.idempotency == .ledger {
                fresh = try recordBatches(batches, c)
                metrics?.duplicateBatches.increment(by: Int64(batches.count - fresh.count))
            }
            // Rows are encoded and streamed in chunks while the server ingests the previous ones.
            var copy = BinaryCopy(reserveRows: 8192)
            var labels: [LabelChange] = []
            if fresh.contains(where: { !$0.samples.isEmpty }) {
                try c.beginCopy(
                    options.idempotency == .ledger
                        ? "COPY samples (series_id, time, value) FROM STDIN (FORMAT binary)"
                        : "COPY netpoller_staging (series_id, time, value) FROM STDIN (FORMAT binary)")
                for batch in fresh {
                    encode(batch, &resolved, into: &copy, labels: &labels)
                    if copy.pending >= 1 << 18 { try c.putCopy(copy.take()) }
                }
                try c.putCopy(copy.finish())
                try c.endCopy()
                if options.idempotency == .staging {
                    try c.exec(
                        "INSERT INTO samples (series_id, time, value) SELECT series_id, time, value"
                            + " FROM netpoller_staging ON CONFLICT DO NOTHING")
                }
            }
            try upsertDevices(fresh, c)
            if !labels.isEmpty {
                try c.exec(
                    "UPDATE series s SET labels = u.labels::jsonb FROM unnest($1::bigint[], $2::text[]) AS u(id, labels)"
                        + " WHERE s.id = u.id AND s.labels IS DISTINCT FROM u.labels::jsonb",
                    [
                        SQLText.array(labels.flatMap(\.ids)),
                        SQLText.array(labels.flatMap { l in l.ids.map { _ in l.json } }),
                    ])
            }
            try c.exec("COMMIT")
            for label in labels {
                if var group = cache.group(label.key) {
                    group.labelsHash = label.hash
                    cache.store(label.key, group)
                }
            }
            metrics?.rows.increment(by: Int64(copy.rows))
            metrics?.seriesCacheEntries.set(Double(cache.count))
            return .accepted
        } catch {
            if let conn {
                conn.rollbackIfNeeded()
                if conn.isBroken || error.connectionLost {
                    self.conn = nil
                    logger.warning(
                        "postgres connection lost; the write is retried on a new connection",
                        metadata: .keys([.sink: "\(options.name)", .target: "\(target)", .error: "\(error)"]))
                }
            }
            return error.sinkResult
        }
    }

    struct LabelChange {
        var key: SeriesGroupKey
        var ids: [Int64]
        var json: String
        var hash: Int
    }

    /// Ledger rows for the batches, in the open transaction; returns the batches not written before.
    private func recordBatches(_ batches: [SampleBatch], _ c: PGConnection) throws(PGFailure) -> [SampleBatch] {
        let result = try c.exec(
            "INSERT INTO netpoller_batches (batch_id, device, time, rows)"
                + " SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::integer[])"
                + " ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id",
            [
                SQLText.array(batches.map { Int64(bitPattern: $0.id) }), SQLText.array(batches.map { $0.device }),
                SQLText.array(batches.map { UTCDay.timestamp(nanos: $0.timestampNanos) }),
                SQLText.array(batches.map { Int64($0.numericFieldCount) }),
            ])
        var written = Set<Int64>()
        for row in 0..<result.count { if let id = result.int(row, 0) { written.insert(id) } }
        return batches.filter { written.contains(Int64(bitPattern: $0.id)) }
    }

    /// A sample's text fields (its labels) as a JSON object with sorted keys, and a hash to compare them cheaply.
    static func labels(_ sample: Sample) -> (hash: Int, json: () -> String)? {
        var hasher = Hasher()
        var any = false
        for field in sample.fields {
            if case .text(let text) = field.value {
                hasher.combine(field.name)
                hasher.combine(text)
                any = true
            }
        }
        guard any else { return nil }
        return (
            hasher.finalize(),
            {
                var texts: [(String, String)] = []
                for field in sample.fields {
                    if case .text(let text) = field.value { texts.append((field.name, text)) }
                }
                return SQLText.object(texts.sorted { $0.0 < $1.0 })
            }
        )
    }

    /// Finds the ids of every numeric series in the batches: from the cache, else from the database (created when
    /// new, with the sample's text fields as labels). Runs outside the write's transaction: a series row is harmless
    /// if the write then fails.
    private func resolveSeries(_ batches: [SampleBatch], _ c: PGConnection) throws(PGFailure) -> [SeriesGroupKey:
        SeriesGroup]
    {
        struct Miss {
            var key: SeriesGroupKey
            var field: String
            var kind: MetricKind
            var labels: String
            var labelsHash: Int?
        }
        var misses: [Miss] = []
        var missing: [SeriesGroupKey: Set<String>] = [:]
        var lookups = 0
        for batch in batches {
            for sample in batch.samples {
                let key = SeriesGroupKey(device: batch.device, measurement: sample.measurement, tags: sample.tags)
                let group = cache.group(key)
                var labels: (hash: Int, json: String)??
                for field in sample.fields where field.value.doubleValue != nil {
                    lookups += 1
                    if group?.ids[field.name] == nil, missing[key, default: []].insert(field.name).inserted {
                        if labels == nil { labels = Self.labels(sample).map { ($0.hash, $0.json()) } }
                        misses.append(
                            Miss(
                                key: key, field: field.name, kind: field.kind, labels: labels??.json ?? "{}",
                                labelsHash: labels??.hash))
                    }
                }
            }
        }
        // A miss is a series looked up in the database (once per write); every other lookup is a hit.
        metrics?.seriesCacheHits.increment(by: Int64(lookups - misses.count))
        metrics?.seriesCacheMisses.increment(by: Int64(misses.count))
        var resolved: [SeriesGroupKey: SeriesGroup] = [:]
        guard !misses.isEmpty else { return resolved }
        for chunk in stride(from: 0, to: misses.count, by: 20_000) {
            let part = misses[chunk..<min(misses.count, chunk + 20_000)]
            let devices = SQLText.array(part.map { $0.key.device })
            let measurements = SQLText.array(part.map { $0.key.measurement })
            let fields = SQLText.array(part.map { $0.field })
            let tags = SQLText.array(part.map { SQLText.object($0.key.tags.map { ($0.key, $0.value) }) })
            let kinds = SQLText.array(part.map { $0.kind == .counter ? "counter" : "gauge" })
            let labels = SQLText.array(part.map { $0.labels })
            // New series come back from the INSERT; existing ones (or ones another agent just made) from the SELECT.
            var ids: [Int: (id: Int64, sameLabels: Bool)] = [:]
            let inserted = try c.exec(
                """
                WITH u AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                        WITH ORDINALITY AS u(device, measurement, field, tags, kind, labels, ord)),
                ins AS (
                    INSERT INTO series (device, measurement, field, tags, kind, labels)
                    SELECT device, measurement, field, tags::jsonb, kind, labels::jsonb FROM u ORDER BY ord
                    ON CONFLICT (device, measurement, field, tags) DO NOTHING
                    RETURNING id, device, measurement, field, tags)
                SELECT u.ord, ins.id FROM ins JOIN u ON u.device = ins.device AND u.measurement = ins.measurement
                    AND u.field = ins.field AND u.tags::jsonb = ins.tags
                """, [devices, measurements, fields, tags, kinds, labels])
            for row in 0..<inserted.count {
                if let ord = inserted.int(row, 0), let id = inserted.int(row, 1) { ids[Int(ord)] = (id, true) }
            }
            if ids.count < part.count {
                let existing = try c.exec(
                    "SELECT u.ord, s.id, s.labels = u.labels::jsonb FROM unnest($1::text[], $2::text[], $3::text[],"
                        + " $4::text[], $5::text[]) WITH ORDINALITY AS u(device, measurement, field, tags, labels, ord)"
                        + " JOIN series s ON s.device = u.device AND s.measurement = u.measurement"
                        + " AND s.field = u.field AND s.tags = u.tags::jsonb",
                    [devices, measurements, fields, tags, labels])
                for row in 0..<existing.count {
                    if let ord = existing.int(row, 0), let id = existing.int(row, 1), ids[Int(ord)] == nil {
                        ids[Int(ord)] = (id, existing.text(row, 2) == "t")
                    }
                }
            }
            for (ord, found) in ids where ord >= 1 && ord <= part.count {
                let miss = part[part.startIndex + ord - 1]
                var group = resolved[miss.key] ?? cache.group(miss.key) ?? SeriesGroup()
                group.ids[miss.field] = found.id
                // Labels as stored: known to match only if every series of the group has the sample's labels.
                let agrees = group.ids.count == 1 || group.labelsHash == miss.labelsHash
                group.labelsHash = found.sameLabels && agrees ? miss.labelsHash : nil
                resolved[miss.key] = group
            }
        }
        for (key, group) in resolved { cache.store(key, group) }
        return resolved
    }

    /// Appends the batch's numeric fields as rows; collects label changes (text fields) per sample.
    private func encode(
        _ batch: SampleBatch, _ resolved: inout [SeriesGroupKey: SeriesGroup], into copy: inout BinaryCopy,
        labels: inout [LabelChange]
    ) {
        var seen = Set<Int64>()
        seen.reserveCapacity(batch.fieldCount)
        for sample in batch.samples {
            let key = SeriesGroupKey(device: batch.device, measurement: sample.measurement, tags: sample.tags)
            guard let group = resolved[key] ?? cache.group(key) else { continue }
            var ids: [Int64] = []
            for field in sample.fields {
                guard let value = field.value.doubleValue, let id = group.ids[field.name] else { continue }
                ids.append(id)
                // The same series twice in one poll (a table with duplicate index values): the first one counts.
                guard seen.insert(id).inserted else { continue }
                copy.row(seriesID: id, timestampNanos: batch.timestampNanos, value: value)
            }
            if !ids.isEmpty, let current = Self.labels(sample), current.hash != group.labelsHash,
                !labels.contains(where: { $0.key == key && $0.hash == current.hash })
            {
                labels.append(LabelChange(key: key, ids: ids, json: current.json(), hash: current.hash))
            }
        }
    }

    /// One inventory row per device in the write, from its newest batch; older data never overwrites newer.
    private func upsertDevices(_ batches: [SampleBatch], _ c: PGConnection) throws(PGFailure) {
        struct Row {
            var batch: SampleBatch
            var firstNanos: Int64
            var lastSeenNanos: Int64?
        }
        var rows: [String: Row] = [:]
        for batch in batches {
            var row = rows[batch.device] ?? Row(batch: batch, firstNanos: batch.timestampNanos)
            if batch.timestampNanos >= row.batch.timestampNanos { row.batch = batch }
            row.firstNanos = min(row.firstNanos, batch.timestampNanos)
            if !batch.samples.isEmpty { row.lastSeenNanos = max(row.lastSeenNanos ?? .min, batch.timestampNanos) }
            rows[batch.device] = row
        }
        guard !rows.isEmpty else { return }
        let list = rows.values.sorted { $0.batch.device < $1.batch.device }
        func system(_ row: Row, _ name: String) -> String? {
            for sample in row.batch.samples where sample.measurement == "system" {
                for field in sample.fields where field.name == name {
                    if case .text(let text) = field.value { return SQLText.plain(text) }
                    return nil
                }
            }
            return nil
        }
        let params: [String?] = [
            SQLText.array(list.map { $0.batch.device }),
            SQLText.array(list.map { $0.batch.poll?.address }),
            SQLText.array(list.map { system($0, "sysName") }),
            SQLText.array(list.map { system($0, "sysDescr") }),
            SQLText.array(list.map { system($0, "sysObjectID") }),
            SQLText.array(list.map { system($0, "sysLocation") }),
            SQLText.array(list.map { system($0, "sysContact") }),
            SQLText.array(list.map { $0.batch.poll.map { $0.profiles.joined(separator: ",") } }),
            SQLText.array(list.map { SQLText.object($0.batch.deviceTags.map { ($0.key, $0.value) }) }),
            SQLText.array(list.map { UTCDay.timestamp(nanos: $0.firstNanos) }),
            SQLText.array(list.map { $0.lastSeenNanos.map { UTCDay.timestamp(nanos: $0) } }),
            SQLText.array(list.map { $0.batch.poll?.state ?? ($0.batch.samples.isEmpty ? nil : "up") }),
            SQLText.array(list.map { UTCDay.timestamp(nanos: $0.batch.timestampNanos) }),
        ]
        try c.exec(
            """
            INSERT INTO devices AS d (name, address, sys_name, sys_descr, sys_object_id, sys_location, sys_contact,
                                      profiles, tags, first_seen, last_seen, last_poll_status, last_poll_time)
            SELECT u.name, u.address, u.sys_name, u.sys_descr, u.sys_object_id, u.sys_location, u.sys_contact,
                   string_to_array(NULLIF(u.profiles, ''), ','), u.tags::jsonb, u.first_seen, u.last_seen, u.status,
                   u.poll_time
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[],
                        $13::timestamptz[])
                 AS u(name, address, sys_name, sys_descr, sys_object_id, sys_location, sys_contact, profiles, tags,
                      first_seen, last_seen, status, poll_time)
            ON CONFLICT (name) DO UPDATE SET
                address = coalesce(excluded.address, d.address),
                sys_name = coalesce(excluded.sys_name, d.sys_name),
                sys_descr = coalesce(excluded.sys_descr, d.sys_descr),
                sys_object_id = coalesce(excluded.sys_object_id, d.sys_object_id),
                sys_location = coalesce(excluded.sys_location, d.sys_location),
                sys_contact = coalesce(excluded.sys_contact, d.sys_contact),
                profiles = coalesce(excluded.profiles, d.profiles),
                tags = excluded.tags,
                first_seen = least(d.first_seen, excluded.first_seen),
                last_seen = greatest(d.last_seen, excluded.last_seen),
                last_poll_status = coalesce(excluded.last_poll_status, d.last_poll_status),
                last_poll_time = excluded.last_poll_time
            WHERE d.last_poll_time IS NULL OR excluded.last_poll_time >= d.last_poll_time
            """, params)
    }
}

extension PGFailure {
    var sinkError: SinkError {
        switch sinkResult {
        case .retryable(let error): return error
        case .rejected(let reason): return SinkError(.rejected, reason)
        default: return SinkError(.unavailable, message)
        }
    }
}

extension SampleBatch {
    /// Fields that become rows in `samples` (text fields are labels).
    var numericFieldCount: Int {
        samples.reduce(0) { total, sample in total + sample.fields.count { $0.value.doubleValue != nil } }
    }
}
