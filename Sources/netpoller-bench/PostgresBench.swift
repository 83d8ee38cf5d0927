import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import Pipeline
import PostgresOutput
import Synchronization

/// `make bench-postgres`, the agent's half: real poll batches (the warm-up cycle) replayed with new timestamps and ids
/// through the real delivery path — SampleQueue → SinkRunner (default delivery policy, disk spool on) → PostgresSink —
/// into the samples table. One untimed round first creates the series (its time is printed apart); the timed rounds
/// run from the first push until the sink has accepted every sample, the producer staying at most four rounds ahead
/// (polling goes on while the sink works through a backlog). The script then times `psql \copy` of the same rows into
/// an identical table on the same server.
/// Forwards to the sink and adds up the time spent inside its writes (the rest of the wall time is the runner's).
final class TimedSink: Sink {
    let inner: PostgresSink
    let spent = Mutex<(Duration, Int)>((.zero, 0))
    var name: String { inner.name }

    init(_ inner: PostgresSink) { self.inner = inner }

    func write(_ batches: [SampleBatch]) async -> SinkResult {
        let start = ContinuousClock.now
        let result = await inner.write(batches)
        let elapsed = ContinuousClock.now - start
        spent.withLock { $0 = ($0.0 + elapsed, $0.1 + 1) }
        return result
    }

    func probe() async -> SinkError? { await inner.probe() }
    func close() async { await inner.close() }
}

enum PostgresBench {
    static func run(batches: [SampleBatch], conninfo: String, rows target: Int) async throws {
        self.conninfo = conninfo
        let rowsPerRound = batches.reduce(0) { total, batch in
            total + batch.samples.reduce(0) { $0 + $1.fields.count { $0.value.doubleValue != nil } }
        }
        let rounds = max(1, target / max(1, rowsPerRound))
        print("postgres: \(batches.count) batches per round, \(rowsPerRound) rows per round, \(rounds) timed rounds")
        // The table psql \copy fills: same migrations, same partitions, no rows.
        let empty = PostgresSink(options: options(conninfo, schema: "psqlcopy", .ledger), metrics: nil, logger: logger)
        if let error = await empty.probe() { throw error }
        await empty.close()
        for (schema, mode) in [("public", PostgresOptions.Idempotency.ledger), ("staging", .staging)] {
            let result = try await replay(
                batches,
                sink: PostgresSink(options: options(conninfo, schema: schema, mode), metrics: nil, logger: logger),
                rounds: rounds, rowsPerRound: rowsPerRound)
            print(
                String(
                    format: "postgres %@: series creation round %.2f s; %d rows in %.2f s wall, %.2f agent CPU-s",
                    schema, result.firstRound, result.rows, result.wall, result.cpu))
            print(
                String(
                    format: "RESULT postgres %@ rows/s: %.0f", mode == .ledger ? "ledger" : "staging",
                    Double(result.rows) / result.wall))
        }
    }

    static let logger = Logger(label: "bench")
    nonisolated(unsafe) static var conninfo = ""

    /// Every timed phase (and psql's, in the script) starts right after a checkpoint, so none pays for another's WAL.
    static func checkpoint() throws {
        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: "/usr/lib/postgresql/15/bin/psql")
        psql.arguments = [
            "-X", "-q", "-c", "CHECKPOINT", conninfo.replacingOccurrences(of: "user=netpoller", with: "user=postgres"),
        ]
        try psql.run()
        psql.waitUntilExit()
    }

    static func options(_ conninfo: String, schema: String, _ mode: PostgresOptions.Idempotency) -> PostgresOptions {
        var options = PostgresOptions(name: "bench-\(schema)", conninfo: conninfo)
        options.schema = schema
        options.idempotency = mode
        options.seriesCacheSize = 1_000_000
        return options
    }

    static func replay(_ batches: [SampleBatch], sink inner: PostgresSink, rounds: Int, rowsPerRound: Int) async throws
        -> (firstRound: Double, rows: Int, wall: Double, cpu: Double)
    {
        let sink = TimedSink(inner)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("netpoller-pgbench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var policy = DeliveryPolicy()
        policy.spool = SpoolPolicy(directory: directory.appendingPathComponent(sink.name).path)
        // The last, partial write would wait the whole default flush interval (1 s) for more data.
        policy.flushInterval = .milliseconds(100)
        let queue = SampleQueue(capacity: 100_000_000)
        let runner = SinkRunner(queue: queue, metrics: nil, logger: logger)
        try await runner.add(sink, type: "postgres", policy: policy, onStartUnavailable: .fail)
        let task = Task { await runner.run() }
        let base = WallClock.nanos()
        let samplesPerRound = batches.reduce(0) { $0 + $1.count }
        func push(_ round: Int) {
            for var batch in batches {
                batch.timestampNanos = base + Int64(round) * 10_000_000_000 + Int64.random(in: 0..<1_000_000)
                batch.id = Schedule.batchID(device: batch.device, timestampNanos: batch.timestampNanos)
                queue.push(batch)
            }
        }
        func accepted() -> Int { runner.status.first?.acceptedSamples ?? 0 }
        let clock = ContinuousClock()
        let t0 = clock.now
        push(0)
        while accepted() < samplesPerRound { try await Task.sleep(for: .milliseconds(1)) }
        let firstRound = (clock.now - t0).seconds
        try checkpoint()
        let cpu0 = cpuSeconds()
        let t1 = clock.now
        // A producer faster than the sink, as polling is during a backlog: always more than a write ahead, never
        // more than four rounds.
        for round in 1...rounds {
            while accepted() < samplesPerRound * (round - 4) { try await Task.sleep(for: .milliseconds(1)) }
            push(round)
        }
        while accepted() < samplesPerRound * (rounds + 1) { try await Task.sleep(for: .milliseconds(1)) }
        let wall = (clock.now - t1).seconds
        let cpu = cpuSeconds() - cpu0
        let (inWrites, writes) = sink.spent.withLock { $0 }
        print(
            String(
                format: "postgres %@: %d writes, %.2f s inside the sink's writes (all rounds)", sink.name, writes,
                inWrites.seconds))
        queue.close()
        await task.value
        await runner.drain(until: SystemDeliveryClock().now + .seconds(5))
        return (firstRound, rowsPerRound * rounds, wall, cpu)
    }
}
