import NetPollerCore
import Prometheus

extension SelfMetrics {
    /// The PostgreSQL sink's own metrics (`[[outputs.postgres]]`), labelled `sink`.
    public func postgres(_ name: String) -> PostgresMetrics { PostgresMetrics(registry: registry, sink: name) }
}

/// The PostgreSQL sink's metrics beyond the common sink ones, all labelled `sink`.
public struct PostgresMetrics: Sendable {
    public let seriesCacheHits: Counter
    public let seriesCacheMisses: Counter
    public let seriesCacheEntries: Gauge
    public let rows: Counter
    public let duplicateBatches: Counter
    public let connectsOK: Counter
    public let connectsFailed: Counter
    public let partitionsCreated: Counter
    public let partitionsDropped: Counter
    public let schemaVersion: Gauge

    public init(registry: PrometheusCollectorRegistry, sink: String) {
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: metricDescriptor(name, help), labels: [("sink", sink)] + labels)
        }
        seriesCacheHits = counter(
            "netpoller_postgres_series_cache_hits_total", "Series ids found in the agent's series cache.")
        seriesCacheMisses = counter(
            "netpoller_postgres_series_cache_misses_total",
            "Series ids not in the agent's series cache (looked up or created in the database).")
        seriesCacheEntries = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_postgres_series_cache_entries", "Series ids held in the agent's cache."),
            labels: [("sink", sink)])
        rows = counter("netpoller_postgres_rows_total", "Rows written to the samples table.")
        duplicateBatches = counter(
            "netpoller_postgres_duplicate_batches_total",
            "Redelivered batches skipped because the batch ledger shows them written.")
        let connectsHelp = "Connection attempts to PostgreSQL by result."
        connectsOK = counter("netpoller_postgres_connects_total", connectsHelp, [("result", "ok")])
        connectsFailed = counter("netpoller_postgres_connects_total", connectsHelp, [("result", "failed")])
        let partitionsHelp = "Daily samples partitions created ahead or dropped by retention."
        partitionsCreated = counter("netpoller_postgres_partitions_total", partitionsHelp, [("action", "created")])
        partitionsDropped = counter("netpoller_postgres_partitions_total", partitionsHelp, [("action", "dropped")])
        schemaVersion = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_postgres_schema_version", "Schema version of the database after the agent's migrations."),
            labels: [("sink", sink)])
    }
}
