import AgentConfig
import BuiltinPlugins
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Testing

@testable import PostgresOutput

/// Made-up polls: `interfaces` interface samples (counters, a gauge, a text field) and a system sample.
func pgBatch(device: String, second: Int64, interfaces: Int = 4, poll: PollInfo? = nil, bump: Double = 0)
    -> SampleBatch
{
    var samples: [Sample] = [
        Sample(
            measurement: "system", tags: [],
            fields: [
                Field(name: "sysName", value: .text("\(device).lab"), kind: .info),
                Field(name: "sysDescr", value: .text("Linux \(device)\u{0} test"), kind: .info),
                Field(name: "sysUpTime", value: .uint(UInt64(second) * 100), kind: .gauge),
            ])
    ]
    for index in 1...max(1, interfaces) {
        samples.append(
            Sample(
                measurement: "interface", tags: [Tag("ifIndex", "\(index)"), Tag("ifName", "eth\(index)")],
                fields: [
                    Field(name: "ifHCInOctets", value: .uint(UInt64(second) * 1000 + UInt64(index)), kind: .counter),
                    Field(name: "ifHCOutOctets", value: .uint(UInt64(second) * 500), kind: .counter),
                    Field(name: "ifOperStatus", value: .int(1), kind: .gauge),
                    Field(name: "ifSpeed", value: .double(1e9 + bump), kind: .gauge),
                    Field(name: "ifPhysAddress", value: .text("00:11:22:33:44:\(index)"), kind: .info),
                ]))
    }
    let nanos = second * 1_000_000_000
    return SampleBatch(
        id: Schedule.batchID(device: device, timestampNanos: nanos), device: device, deviceTags: [Tag("site", "lab")],
        timestampNanos: nanos, samples: samples,
        poll: poll ?? PollInfo(address: "192.0.2.1:161", profiles: ["system", "if-mib"], state: "up"))
}

/// Rows a batch puts into `samples` (numeric fields).
func pgRows(_ batches: [SampleBatch]) -> Int {
    batches.reduce(0) { $0 + $1.samples.reduce(0) { $0 + $1.fields.count { $0.value.doubleValue != nil } } }
}

/// The sink against a real PostgreSQL 15 (scripts/pg.sh), each test in its own schema or cluster.
@Suite(.serialized) struct PostgresSinkTests {
    func sink(
        _ pg: PostgresLab, schema: String, metrics: PostgresMetrics? = nil,
        _ configure: (inout PostgresOptions) -> Void = { _ in }
    ) -> PostgresSink {
        var options = PostgresOptions(name: "pg", conninfo: pg.conninfo)
        options.password = pg.password
        options.schema = schema
        configure(&options)
        return PostgresSink(options: options, metrics: metrics, logger: Logger(label: "test"))
    }

    static let now = Int64(Date().timeIntervalSince1970)

    @Test func createsTheSchemaOnAnEmptyDatabaseAndRerunsMigrationsIdempotently() async throws {
        let pg = try await PostgresLab.start()
        #expect(try await pg.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0")
        let first = sink(pg, schema: "public")
        #expect(await first.probe() == nil)
        await first.close()
        #expect(
            try await pg.sql(
                "SELECT string_agg(version || '|' || applied_by, ',' ORDER BY version) FROM netpoller_schema_migrations"
            )
                == "1|netpoller,2|netpoller")
        let tables = try await pg.sql(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
                + " AND tablename NOT LIKE 'samples_%'")
        #expect(
            tables
                == "devices,inventory_devices,inventory_links,netpoller_batches,netpoller_schema_migrations,samples,series"
        )
        let views = try await pg.sql(
            "SELECT string_agg(viewname, ',' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public'")
        #expect(views == "device_status,interface_counters,interface_rates,sample_values")
        // Yesterday, today and partitions_ahead (3) days ahead.
        let partitions = try await pg.sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'samples'::regclass")
        #expect(partitions == "5")
        #expect(try await pg.sql("SELECT relkind FROM pg_class WHERE relname = 'samples'") == "p")

        let second = sink(pg, schema: "public")
        #expect(await second.probe() == nil)
        #expect(await second.write([pgBatch(device: "r1", second: Self.now)]) == .accepted)
        await second.close()
        #expect(try await pg.sql("SELECT count(*) FROM netpoller_schema_migrations") == "2")
        #expect(try await pg.sql("SELECT count(*) FROM samples") == "\(pgRows([pgBatch(device: "r1", second: 0)]))")
    }

    /// Discovery's inventory (migration 2): devices upserted by identity (first_seen kept, last_seen moved), links by
    /// their columns; the example queries of docs/discovery.md answer.
    @Test func discoveryInventoryUpsertsDevicesAndLinksAndAnswersTheDocumentedQueries() async throws {
        let pg = try await PostgresLab.start()
        var options = PostgresOptions(name: "pg", conninfo: pg.conninfo)
        options.password = pg.password
        let writer = PostgresInventoryWriter(options: options, logger: Logger(label: "test"))
        func device(_ name: String, _ address: String, identity: String, firstSeen: String) -> DiscoveredDevice {
            DiscoveredDevice(
                identity: identity, name: name, address: IPv4(address)!, port: 161, credential: "lab",
                profiles: ["system", "if-mib"], sysObjectID: "1.3.6.1.4.1.9.1.1208", sysName: name, sysDescr: "IOS",
                engineID: "", serial: "", addresses: [IPv4(address)!], answeredAt: [IPv4(address)!], found: "sweep",
                firstSeen: firstSeen)
        }
        let link = DiscoveredLink(
            protocolName: "lldp", localDevice: "core1", localPort: "Gi1/0/1", remoteDevice: "dist1",
            remotePort: "Gi0/1", remoteKnown: true)
        let back = DiscoveredLink(
            protocolName: "lldp", localDevice: "dist1", localPort: "Gi0/1", remoteDevice: "core1",
            remotePort: "Gi1/0/1", remoteKnown: true)
        let now = Date().timeIntervalSince1970
        let old = DiscoveryResult(
            networks: ["192.0.2.0/24"],
            devices: [device("retired", "192.0.2.9", identity: "engine:09", firstSeen: "2026-01-01T00:00:00Z")],
            links: [], noCredential: [], unreachable: [], outside: [])
        try await writer.write(old, at: now - 8 * 86_400)
        let first = DiscoveryResult(
            networks: ["192.0.2.0/24"],
            devices: [
                device("core1", "192.0.2.1", identity: "engine:01", firstSeen: "2026-11-01T00:00:00Z"),
                device("dist1", "192.0.2.11", identity: "engine:11", firstSeen: "2026-11-02T00:00:00Z"),
            ], links: [link, back], noCredential: [], unreachable: [], outside: [])
        try await writer.write(first, at: now - 60)
        var moved = first
        moved.devices[0].address = IPv4("192.0.2.2")!
        moved.devices[0].addresses = [IPv4("192.0.2.1")!, IPv4("192.0.2.2")!]
        try await writer.write(moved, at: now)
        #expect(try await pg.sql("SELECT count(*) FROM inventory_devices") == "3")
        #expect(
            try await pg.sql(
                "SELECT host(address), array_length(addresses, 1) FROM inventory_devices WHERE name = 'core1'")
                == "192.0.2.2|2")
        #expect(
            try await pg.sql("SELECT first_seen FROM inventory_devices WHERE identity = 'engine:01'")
                == "2026-11-01 00:00:00+00")
        #expect(try await pg.sql("SELECT count(*) FROM inventory_links") == "2")
        // The neighbours of core1 (docs/discovery.md).
        #expect(
            try await pg.sql(
                """
                SELECT local_port, remote_device, remote_port FROM inventory_links WHERE local_device = 'core1'
                UNION SELECT remote_port, local_device, local_port FROM inventory_links WHERE remote_device = 'core1'
                ORDER BY 2
                """) == "Gi1/0/1|dist1|Gi0/1")
        // Devices not seen for 7 days.
        #expect(
            try await pg.sql(
                "SELECT name FROM inventory_devices WHERE last_seen < now() - interval '7 days' ORDER BY name")
                == "retired")
    }

    @Test func agentsMigratingAtOnceTakeTurns() async throws {
        let pg = try await PostgresLab.start()
        let sinks = (0..<4).map { _ in sink(pg, schema: "race") }
        let errors = await withTaskGroup(of: SinkError?.self) { group in
            for s in sinks { group.addTask { await s.probe() } }
            var errors: [SinkError] = []
            for await error in group { if let error { errors.append(error) } }
            return errors
        }
        #expect(errors.isEmpty, "\(errors)")
        // All four write at once too (series creation and partitions race as well).
        let results = await withTaskGroup(of: SinkResult.self) { group in
            for (index, s) in sinks.enumerated() {
                group.addTask { await s.write([pgBatch(device: "shared", second: Self.now + Int64(index))]) }
            }
            var results: [SinkResult] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results.allSatisfy { $0 == .accepted }, "\(results)")
        for s in sinks { await s.close() }
        #expect(try await pg.sql("SELECT count(*) FROM race.netpoller_schema_migrations") == "2")
        #expect(try await pg.sql("SELECT count(*) FROM race.series") == "\(1 + 4 * 4)")
        #expect(
            try await pg.sql("SELECT count(*) FROM race.samples") == "\(4 * pgRows([pgBatch(device: "s", second: 0)]))")
    }

    @Test func refusesADatabaseMigratedByANewerAgent() async throws {
        let pg = try await PostgresLab.start()
        let first = sink(pg, schema: "newer")
        #expect(await first.probe() == nil)
        await first.close()
        try await pg.sql("INSERT INTO newer.netpoller_schema_migrations (version, name) VALUES (99, 'from the future')")
        let second = sink(pg, schema: "newer")
        let error = await second.probe()
        #expect(
            error?.message.contains("schema is version 99, newer than this agent knows (2)") == true,
            "\(String(describing: error))")
        #expect(await second.write([pgBatch(device: "r1", second: Self.now)]) != .accepted)
        await second.close()
        #expect(try await pg.sql("SELECT count(*) FROM newer.samples") == "0")
    }

    @Test(arguments: [PostgresOptions.Idempotency.ledger, .staging])
    func redeliveredBatchesAreNotWrittenTwiceAndTheInventoryIsKept(mode: PostgresOptions.Idempotency) async throws {
        let pg = try await PostgresLab.start()
        let metrics = SelfMetrics()
        let s = sink(pg, schema: "idem", metrics: metrics.postgres("pg")) { $0.idempotency = mode }
        let batches = (0..<3).map { pgBatch(device: "r1", second: Self.now + Int64($0)) }
        #expect(await s.write(batches) == .accepted)
        #expect(await s.write(batches) == .accepted)
        #expect(await s.write([batches[1], pgBatch(device: "r1", second: Self.now + 3)]) == .accepted)
        let expected = pgRows(batches) + pgRows([batches[0]])
        #expect(try await pg.sql("SELECT count(*) FROM idem.samples") == "\(expected)")
        #expect(try await pg.sql("SELECT count(*) - count(DISTINCT (series_id, time)) FROM idem.samples") == "0")
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        if mode == .ledger {
            #expect(text.contains("netpoller_postgres_duplicate_batches_total{sink=\"pg\"} 4"))
        }
        // 1 uptime + 4 interfaces x 4 numeric fields, created once and then served from the cache.
        #expect(text.contains("netpoller_postgres_series_cache_misses_total{sink=\"pg\"} 17"))
        let lookups = 2 * pgRows(batches) + 2 * pgRows([batches[0]])
        #expect(text.contains("netpoller_postgres_series_cache_hits_total{sink=\"pg\"} \(lookups - 17)"))

        // Inventory: address, profiles, sysName, sysDescr (its NUL dropped), status; labels hold text fields.
        let device = try await pg.sql(
            "SELECT address, sys_name, sys_descr, array_to_string(profiles, ','), last_poll_status, tags->>'site'"
                + " FROM idem.devices")
        #expect(device == "192.0.2.1:161|r1.lab|Linux r1 test|system,if-mib|up|lab")
        let label = try await pg.sql(
            "SELECT labels->>'ifPhysAddress' FROM idem.series WHERE field = 'ifHCInOctets' AND tags->>'ifIndex' = '2'")
        #expect(label == "00:11:22:33:44:2")
        // A text field that changes (a new MAC) updates the labels of that sample's series, and only those.
        var changed = pgBatch(device: "r1", second: Self.now + 4)
        changed.samples[2].fields[4].value = .text("aa:bb:cc:dd:ee:ff")
        #expect(await s.write([changed]) == .accepted)
        let labelsNow = try await pg.sql(
            "SELECT tags->>'ifIndex', count(*) FROM idem.series WHERE labels->>'ifPhysAddress' = 'aa:bb:cc:dd:ee:ff'"
                + " GROUP BY 1")
        #expect(labelsNow == "2|4")
        let rate = try await pg.sql(
            "SELECT per_second FROM idem.interface_rates WHERE if_name = 'eth1' AND counter = 'ifHCInOctets'"
                + " AND per_second IS NOT NULL ORDER BY time LIMIT 1")
        #expect(rate == "1000")

        // A status-only batch (the device went down): status changes, last_seen stays at the last data.
        let lastSeen = try await pg.sql("SELECT extract(epoch FROM last_seen)::bigint FROM idem.devices")
        var down = pgBatch(device: "r1", second: Self.now + 10)
        down.samples = []
        down.poll?.state = "down"
        #expect(await s.write([down]) == .accepted)
        #expect(try await pg.sql("SELECT last_poll_status FROM idem.devices") == "down")
        #expect(try await pg.sql("SELECT extract(epoch FROM last_seen)::bigint FROM idem.devices") == lastSeen)
        // Older data arriving late (from a spool) does not overwrite the newer inventory.
        #expect(await s.write([pgBatch(device: "r1", second: Self.now - 60)]) == .accepted)
        #expect(try await pg.sql("SELECT last_poll_status FROM idem.devices") == "down")
        await s.close()
    }

    @Test func aLargeCopyArrivesWhole() async throws {
        let pg = try await PostgresLab.start()
        let s = sink(pg, schema: "large")
        // 60 devices x 250 interfaces x 4 numeric fields, in one write: 60,060 rows.
        let batches = (0..<60).map { pgBatch(device: "d\($0)", second: Self.now, interfaces: 250) }
        #expect(await s.write(batches) == .accepted)
        await s.close()
        #expect(try await pg.sql("SELECT count(*) FROM large.samples") == "\(pgRows(batches))")
        #expect(try await pg.sql("SELECT count(*) FROM large.series") == "\(60 * 1001)")
    }

    @Test func aConnectionCutMidCopyIsRetriedOnANewConnectionWithoutLossOrDuplicates() async throws {
        let pg = try await PostgresLab.start()
        let s = sink(pg, schema: "cut")
        let warm = (0..<40).map { pgBatch(device: "d\($0)", second: Self.now, interfaces: 250) }
        #expect(await s.write(warm) == .accepted)  // series exist: the next writes are mostly COPY
        var written = warm
        var cutMidCopy = false
        for attempt in 1...8 where !cutMidCopy {
            let batches = (0..<40).map { pgBatch(device: "d\($0)", second: Self.now + Int64(attempt), interfaces: 250) }
            // Kill the sink's backend while its COPY runs (another session, as a DBA or a failover would).
            let killer = Task {
                for _ in 0..<200 {
                    let killed = try? await pg.sql(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE state = 'active'"
                            + " AND query LIKE 'COPY samples%'")
                    if killed == "1" { return true }
                }
                return false
            }
            let first = await s.write(batches)
            let killed = await killer.value
            if case .retryable(let error) = first {
                #expect(killed)
                #expect(error.code == .unavailable, "\(error)")
                cutMidCopy = true
                #expect(await s.write(batches) == .accepted)  // the runner's retry: a new connection
            } else {
                #expect(first == .accepted)
                killer.cancel()
            }
            written += batches
        }
        #expect(cutMidCopy, "no COPY was caught in flight in 8 attempts")
        await s.close()
        #expect(try await pg.sql("SELECT count(*) FROM cut.samples") == "\(pgRows(written))")
        #expect(try await pg.sql("SELECT count(*) FROM cut.netpoller_batches") == "\(written.count)")
    }

    @Test func aValueTheServerRejectsIsDeadLetteredAndTheRestDelivered() async throws {
        let pg = try await PostgresLab.start()
        let setup = sink(pg, schema: "rejects")
        #expect(await setup.probe() == nil)
        await setup.close()
        try await pg.sql("ALTER TABLE rejects.samples ADD CONSTRAINT sane_speed CHECK (value < 1e15)")
        let dir = try Lab.temporaryDirectory("pg-dead")
        let queue = SampleQueue(capacity: 100_000)
        let metrics = SelfMetrics()
        let runner = SinkRunner(queue: queue, metrics: metrics, logger: Logger(label: "test"))
        let task = Task { await runner.run() }
        var policy = DeliveryPolicy()
        policy.batchSize = 100_000
        policy.flushInterval = .milliseconds(300)
        policy.retryBackoff = .milliseconds(50)
        policy.deadLetterPath = dir.appendingPathComponent("dead.jsonl").path
        try await runner.add(
            sink(pg, schema: "rejects"), type: "postgres", policy: policy, onStartUnavailable: .fail)
        let good = (0..<5).map { pgBatch(device: "r\($0)", second: Self.now) }
        let bad = pgBatch(device: "bad", second: Self.now, bump: 1e16)
        for batch in good[0..<3] + [bad] + good[3...] { queue.push(batch) }
        #expect(
            await eventually(20) {
                let status = runner.status.first
                return status?.rejectedBatches == 1 && status?.acceptedBatches == 5
            })
        queue.close()
        await task.value
        await runner.drain(until: SystemDeliveryClock().now + .seconds(5))
        #expect(try await pg.sql("SELECT count(*) FROM rejects.samples") == "\(pgRows(good))")
        let dead = try String(contentsOfFile: policy.deadLetterPath!, encoding: .utf8)
        #expect(dead.contains("\"device\":\"bad\""))
        #expect(dead.contains("sane_speed"))
        #expect(dead.contains("23514"))
    }

    @Test func retentionDropsWholeOldPartitionsAndTheirLedger() async throws {
        let pg = try await PostgresLab.start()
        let old = Self.now - 40 * 86_400
        let first = sink(pg, schema: "ret") { $0.retention = .seconds(30 * 86_400) }
        #expect(await first.write([pgBatch(device: "r1", second: old)]) == .accepted)
        #expect(await first.write([pgBatch(device: "r1", second: Self.now)]) == .accepted)
        await first.close()
        let oldPartition = UTCDay.partition(UTCDay.day(nanos: old * 1_000_000_000))
        #expect(try await pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = '\(oldPartition)'") == "1")
        // Maintenance runs at connect (and hourly): the 40-day-old partition goes, today's stays.
        let second = sink(pg, schema: "ret") { $0.retention = .seconds(30 * 86_400) }
        #expect(await second.probe() == nil)
        await second.close()
        #expect(try await pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = '\(oldPartition)'") == "0")
        #expect(try await pg.sql("SELECT count(*) FROM ret.samples") == "\(pgRows([pgBatch(device: "r1", second: 0)]))")
        #expect(try await pg.sql("SELECT count(*) FROM ret.netpoller_batches") == "1")
    }
}

/// Pure parts of the sink: day arithmetic, text encodings, the binary COPY layout, the cache bound, redaction.
@Suite struct PostgresEncodingTests {
    @Test func daysAndPartitionNamesRoundTrip() {
        #expect(UTCDay.partition(0) == "samples_19700101")
        #expect(UTCDay.day(partition: "samples_20261121") == UTCDay.days(2026, 11, 21))
        #expect(UTCDay.midnight(UTCDay.days(2024, 2, 29)) == "2024-02-29 00:00:00+00")
        for day in stride(from: -800, to: 40_000, by: 37) {
            #expect(UTCDay.day(partition: UTCDay.partition(day)) == day)
        }
        #expect(UTCDay.timestamp(nanos: 1_763_700_000_123_456_789) == "2025-11-21 04:40:00.123456+00")
        #expect(UTCDay.day(nanos: -1) == -1)
        #expect(UTCDay.day(partition: "samples_default") == nil)
    }

    @Test func arrayLiteralsAndJSONAreEscaped() {
        #expect(SQLText.array(["a", "b\"c", "d\\e", nil, ""]) == #"{"a","b\"c","d\\e",NULL,""}"#)
        #expect(SQLText.array([1, -2]) == "{1,-2}")
        #expect(SQLText.object([("k\"", "v\n\u{0}\u{1}")]) == #"{"k\"":"v\n\u0001"}"#)
        #expect(SQLText.plain("a\u{0}b") == "ab")
    }

    @Test func binaryCopyLayout() {
        var copy = BinaryCopy(reserveRows: 1)
        copy.row(seriesID: 7, timestampNanos: 946_684_800_000_001_000, value: 1.5)
        let bytes = copy.finish()
        #expect(Array(bytes[0..<11]) == Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        #expect(bytes.count == 19 + 2 + 3 * 12 + 2)
        #expect(Array(bytes[19..<21]) == [0, 3])
        #expect(Array(bytes[21..<33]) == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7])
        #expect(Array(bytes[33..<45]) == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(Array(bytes.suffix(2)) == [0xFF, 0xFF])
    }

    @Test func seriesCacheIsBoundedAndKeepsWhatIsUsed() {
        var cache = SeriesCache(capacity: 100)
        func key(_ i: Int) -> SeriesGroupKey { SeriesGroupKey(device: "d", measurement: "m", tags: [Tag("i", "\(i)")]) }
        for i in 0..<1000 {
            cache.store(key(i), SeriesGroup(ids: ["a": Int64(i), "b": Int64(i)], labelsHash: nil))
            _ = cache.group(key(0))  // used all the time: stays
            #expect(cache.count <= 100)
        }
        #expect(cache.group(key(0))?.ids["a"] == 0)
        #expect(cache.group(key(999))?.ids["b"] == 999)
        #expect(cache.group(key(5)) == nil)
    }

    @Test func configKeysAreDecodedAndSecretsNeverPrint() throws {
        let dir = try Lab.temporaryDirectory("pg-config")
        let passwordFile = dir.appendingPathComponent("pw").path
        try "s3cret-pw\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [[outputs.postgres]]
        name = "db"
        conninfo = "postgresql://np:uri-secret@db1,db2/metrics?target_session_attrs=read-write"
        password_file = "\(passwordFile)"
        connect_timeout = "5s"
        statement_timeout = "2m"
        schema = "netpoller"
        retention = "30d"
        partitions_ahead = 7
        series_cache_size = 5000
        batch_size = 20000
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(files: [path])
        let options = try #require(config.outputs.postgres.first?.options)
        #expect(options.name == "db" && options.password == "s3cret-pw" && options.schema == "netpoller")
        #expect(options.connectTimeout == .seconds(5) && options.statementTimeout == .seconds(120))
        #expect(options.retention == .seconds(30 * 86_400) && options.partitionsAhead == 7)
        #expect(options.seriesCacheSize == 5000 && config.outputs.postgres.first?.delivery.policy.batchSize == 20000)
        #expect(config.outputs.names.map(\.type) == ["postgres"])
        for text in ["\(config)", String(reflecting: config)] {
            #expect(!text.contains("s3cret-pw") && !text.contains("uri-secret"))
        }

        try """
        [[outputs.postgres]]
        conninfo = "host=db1"
        schema = "Bad-Name"
        retention = "2h"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(files: [path]) }
        let text = error?.description ?? ""
        #expect(text.contains("outputs.postgres[0].schema"))
        #expect(text.contains("outputs.postgres[0].retention"))
    }

    @Test func conninfoIsShownWithoutSecrets() {
        let shown = Conninfo.redacted("host=db1 port=5433 dbname=m user=np password=hunter2 sslmode=require")
        #expect(shown == "host=db1 port=5433 dbname=m user=np sslmode=require")
        #expect(!Conninfo.redacted("postgresql://np:hunter2@db1/m").contains("hunter2"))
        let problem = ConfigLoader.conninfoProblem("host=db1 password=hunter2 oops")
        #expect(problem != nil)
        #expect(problem?.contains("hunter2") == false)
        #expect(ConfigLoader.conninfoProblem("host=db1 bogus=1")?.contains("bogus") == true)
        #expect(ConfigLoader.conninfoProblem("host=db1 dbname=x target_session_attrs=read-write") == nil)
    }
}

/// The real binary with a PostgreSQL sink: the server crashing mid-run, a wrong password, a malformed conninfo.
@Suite(.serialized) struct PostgresAgentTests {
    static var binary: String { DurableAgentTests.binary }
    let helpers = DurableAgentTests()

    func config(dir: URL, pg: PostgresLab, snmpPort: Int, httpPort: Int, passwordFile: String) -> String {
        var text = """
            [agent]
            state_dir = "\(dir.path)/state"
            interval = "1s"
            timeout = "500ms"
            retries = 0
            shutdown_timeout = "15s"
            [http]
            listen = "127.0.0.1:\(httpPort)"
            [credentials.snmp.default]
            community = "public"
            [[outputs.file]]
            name = "archive"
            path = "\(dir.path)/archive.jsonl"
            format = "json"
            flush_interval = "200ms"
            [[outputs.postgres]]
            name = "pg"
            conninfo = "\(pg.conninfo)"
            password_file = "\(passwordFile)"
            flush_interval = "300ms"
            retry_backoff = "100ms"
            retry_backoff_max = "500ms"
            circuit_breaker_cooldown = "1s"
            [outputs.postgres.spool]
            fsync = "always"

            """
        for name in ["r1", "r2", "r3"] {
            text += """
                [[devices]]
                name = "\(name)"
                address = "127.0.0.1:\(snmpPort)"
                profiles = ["system", "if-mib"]

                """
        }
        return text
    }

    /// Rows the file sink's JSON lines stand for: numeric fields of distinct lines.
    func expectedRows(_ path: String) -> (rows: Int, batches: Int) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return (0, 0) }
        var rows = 0
        var batches = Set<String>()
        for line in Set(text.split(separator: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let fields = object["fields"] as? [String: Any], let id = object["batch_id"] as? String
            else { continue }
            batches.insert(id)
            rows += fields.values.count { $0 is NSNumber }
        }
        return (rows, batches.count)
    }

    @Test func serverKilledMidRunAndRestartedLosesNothingAndDuplicatesNothing() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let pg = try await PostgresLab.start()
        let dir = try Lab.temporaryDirectory("pg-crash")
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        try config(dir: dir, pg: pg, snmpPort: snmpd.port, httpPort: httpPort, passwordFile: pg.passwordFile)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let base = "http://127.0.0.1:\(httpPort)"
        let agent = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/agent.log")
        defer { agent.stop() }
        #expect(await Lab.waitForHTTP("\(base)/ready") != nil)
        #expect(await eventually(30) { (Int((try? await pg.sql("SELECT count(*) FROM samples")) ?? "") ?? 0) > 0 })

        // Crash: no shutdown checkpoint, connections cut mid-COPY or mid-commit.
        await pg.stop(mode: "immediate")
        let degraded = await Lab.waitForHTTP("\(base)/status", seconds: 20) { body in
            let sink = helpers.sinkStatus(body, "pg")
            return sink?["state"] as? String != "ok" && (sink?["buffered_samples"] as? Int ?? 0) > 0
        }
        #expect(degraded != nil)
        #expect(await Lab.httpGet("\(base)/ready")?.0 == 200)
        try await Task.sleep(for: .seconds(2))
        try await pg.restart()
        let drained = await Lab.waitForHTTP("\(base)/status", seconds: 40) { body in
            let sink = helpers.sinkStatus(body, "pg")
            return sink?["state"] as? String == "ok" && sink?["buffered_samples"] as? Int == 0
        }
        #expect(drained != nil)
        try await Task.sleep(for: .seconds(1))
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(30)) == 0)

        let expected = expectedRows(dir.path + "/archive.jsonl")
        #expect(expected.rows > 1000)
        #expect(try await pg.sql("SELECT count(*) FROM samples") == "\(expected.rows)")
        #expect(try await pg.sql("SELECT count(*) - count(DISTINCT (series_id, time)) FROM samples") == "0")
        #expect(try await pg.sql("SELECT count(*) FROM netpoller_batches") == "\(expected.batches)")
        #expect(
            try await pg.sql("SELECT string_agg(name || ':' || last_poll_status, ',' ORDER BY name) FROM devices")
                == "r1:up,r2:up,r3:up")
        let log = (try? String(contentsOfFile: dir.path + "/agent.log", encoding: .utf8)) ?? ""
        #expect(log.contains("sink failing; data is kept and retried"))
        #expect(log.contains("sink recovered"))
    }

    @Test func wrongPasswordDegradesTheSinkWithAClearErrorAndNeverShowsThePassword() async throws {
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let pg = try await PostgresLab.start()
        let dir = try Lab.temporaryDirectory("pg-auth")
        let passwordFile = dir.appendingPathComponent("pg-password").path
        let wrong = "wrong-Secret-\(UInt32.random(in: 1000...9999))"
        try wrong.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let httpPort = Lab.freePort()
        let configPath = dir.appendingPathComponent("agent.conf").path
        try config(dir: dir, pg: pg, snmpPort: snmpd.port, httpPort: httpPort, passwordFile: passwordFile)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let base = "http://127.0.0.1:\(httpPort)"
        let agent = try Child.spawn(Self.binary, ["run", "--config", configPath], output: dir.path + "/agent.log")
        defer { agent.stop() }
        let status = await Lab.waitForHTTP("\(base)/status", seconds: 20) { body in
            (helpers.sinkStatus(body, "pg")?["last_error"] as? String)?.contains("password authentication failed")
                == true
        }
        let body = try #require(status)
        #expect(helpers.sinkStatus(body, "pg")?["state"] as? String != "ok")
        #expect((helpers.sinkStatus(body, "pg")?["last_error"] as? String)?.hasPrefix("auth:") == true)
        let ready = await Lab.httpGet("\(base)/ready")
        #expect(ready?.0 == 200 && ready?.1.contains("sink pg") == true)
        let metrics = await Lab.httpGet("\(base)/metrics")?.1 ?? ""
        #expect(metrics.contains("netpoller_sink_errors_total{sink=\"pg\",error_type=\"auth\"}"))

        // The right password and a SIGHUP: the sink recovers and the buffered data arrives.
        try pg.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        agent.signal(SIGHUP)
        let recovered = await Lab.waitForHTTP("\(base)/status", seconds: 30) { body in
            helpers.sinkStatus(body, "pg")?["state"] as? String == "ok"
        }
        #expect(recovered != nil)
        #expect(await eventually(20) { (Int((try? await pg.sql("SELECT count(*) FROM samples")) ?? "") ?? 0) > 0 })
        let finalStatus = await Lab.httpGet("\(base)/status")?.1 ?? ""
        agent.signal(SIGTERM)
        #expect(await agent.wait(timeout: .seconds(30)) == 0)
        let log = (try? String(contentsOfFile: dir.path + "/agent.log", encoding: .utf8)) ?? ""
        #expect(log.contains("password authentication failed"))
        for text in [log, body, finalStatus, metrics] {
            #expect(!text.contains(wrong))
            #expect(!text.contains(pg.password))
        }
    }

    @Test func aMalformedConninfoStopsTheStartWithExit78NamingTheKey() async throws {
        let dir = try Lab.temporaryDirectory("pg-conninfo")
        let configPath = dir.appendingPathComponent("agent.conf").path
        try """
        [agent]
        state_dir = "\(dir.path)/state"
        [[devices]]
        name = "r1"
        address = "127.0.0.1:161"
        [[outputs.postgres]]
        conninfo = "host=127.0.0.1 password=hunter2-secret dbname"
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        for verb in ["check", "run"] {
            let (status, output) = try await Lab.run(Self.binary, [verb, "--config", configPath])
            #expect(status == 78, "\(verb): \(output)")
            #expect(
                output.contains(
                    "\(configPath):7: outputs.postgres[0].conninfo: is not a valid libpq connection string"),
                "\(output)")
            #expect(!output.contains("hunter2-secret"))
        }
    }
}
