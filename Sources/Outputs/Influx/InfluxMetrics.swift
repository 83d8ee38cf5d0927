import NetPollerCore
import Prometheus

extension SelfMetrics {
    /// The InfluxDB sink's own metrics (`[[outputs.influxdb]]`), labelled `sink`.
    public func influx(_ name: String) -> InfluxMetrics { InfluxMetrics(registry: registry, sink: name) }
}

/// The InfluxDB sink's metrics beyond the common sink ones, all labelled `sink`.
public struct InfluxMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let sink: String

    /// One answer: its HTTP status (`204`, `400`, `503` …) or `error` for a transport failure.
    public func response(_ status: String) {
        registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_influxdb_responses_total",
                "Write requests by the server's HTTP status, or error when no answer came (transport failure)."),
            labels: [("sink", sink), ("status", status)]
        ).increment()
    }

    /// Request body sizes: line protocol before (`raw`) and after gzip (`sent`).
    public func bytes(raw: Int, sent: Int) {
        let descriptor = metricDescriptor(
            "netpoller_influxdb_body_bytes_total", "Request body bytes: line protocol (raw) and as sent (after gzip).")
        registry.makeCounter(descriptor: descriptor, labels: [("sink", sink), ("stage", "raw")])
            .increment(by: Int64(raw))
        registry.makeCounter(descriptor: descriptor, labels: [("sink", sink), ("stage", "sent")])
            .increment(by: Int64(sent))
    }
}
