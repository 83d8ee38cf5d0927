import Prometheus

/// Every self-metric of the agent, declared once (swift-prometheus stops the process if one name is registered twice
/// with different help or type). Label values are bounded: codes, kinds, results and configured sink names.
/// A full metric name with its help text (the unit is part of the name).
private func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

public final class SelfMetrics: Sendable {
    public static let version = "0.1.0"

    public let registry: PrometheusCollectorRegistry

    public let pollsOK: Counter
    public let pollsPartial: Counter
    public let pollsFailed: Counter
    public let pollDuration: DurationHistogram
    public let pollOverruns: Counter
    public let snmpVarbinds: Counter
    public let snmpRequests: Counter
    public let snmpTimeouts: Counter
    public let snmpTooBig: Counter
    public let queueLength: Gauge
    public let queueCapacity: Gauge
    public let pollLoopHeartbeatAge: Gauge
    public let ready: Gauge
    private let pollErrors: [PollError.Code: Counter]
    private let walkErrors: [PollError.Code: Counter]
    private let devices: [DeviceState: Gauge]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let info = registry.makeGauge(
            descriptor: describe("netpoller_build_info", "Build information; the value is always 1."),
            labels: [("version", Self.version)])
        info.set(1.0)
        func polls(_ result: String) -> Counter {
            registry.makeCounter(
                descriptor: describe(
                    "netpoller_polls_total",
                    "Device polls by kind and result (ok, partial: some data kept after an error, failed)."),
                labels: [("kind", "snmp"), ("result", result)])
        }
        pollsOK = polls("ok")
        pollsPartial = polls("partial")
        pollsFailed = polls("failed")
        pollDuration = registry.makeDurationHistogram(
            descriptor: describe(
                "netpoller_poll_duration_seconds", "Wall time of one device poll, from start to last answer."),
            labels: [("kind", "snmp")],
            buckets: [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
                .seconds(30), .seconds(60),
            ])
        pollOverruns = registry.makeCounter(
            descriptor: describe(
                "netpoller_poll_overruns_total",
                "Polls skipped because the previous poll of the same device was still running when the next was due."),
        )
        snmpVarbinds = registry.makeCounter(
            descriptor: describe("netpoller_snmp_varbinds_total", "Variable bindings received from SNMP agents."), )
        snmpRequests = registry.makeCounter(
            descriptor: describe(
                "netpoller_snmp_requests_total", "SNMP request PDUs sent (retries by timeout not included)."), )
        snmpTimeouts = registry.makeCounter(
            descriptor: describe("netpoller_snmp_timeouts_total", "SNMP requests that got no answer after all retries."),
        )
        snmpTooBig = registry.makeCounter(
            descriptor: describe(
                "netpoller_snmp_toobig_total",
                "tooBig answers; each halves max-repetitions for the request and retries."), )
        var pollErrors: [PollError.Code: Counter] = [:]
        var walkErrors: [PollError.Code: Counter] = [:]
        for code in PollError.Code.allCases {
            pollErrors[code] = registry.makeCounter(
                descriptor: describe("netpoller_poll_errors_total", "Poll errors by kind and error type."),
                labels: [("kind", "snmp"), ("error_type", code.rawValue)])
            walkErrors[code] = registry.makeCounter(
                descriptor: describe(
                    "netpoller_snmp_walk_errors_total",
                    "Table walks that ended early, by error type; data received before the error is kept."),
                labels: [("error_type", code.rawValue)])
        }
        self.pollErrors = pollErrors
        self.walkErrors = walkErrors
        queueLength = registry.makeGauge(
            descriptor: describe(
                "netpoller_queue_length_samples", "Samples waiting in the queue between pollers and sinks."), )
        queueCapacity = registry.makeGauge(
            descriptor: describe("netpoller_queue_capacity_samples", "Capacity of the queue in samples."), )
        var devices: [DeviceState: Gauge] = [:]
        for state in DeviceState.allCases {
            devices[state] = registry.makeGauge(
                descriptor: describe("netpoller_devices", "Configured devices by state."),
                labels: [("state", state.rawValue)])
        }
        self.devices = devices
        pollLoopHeartbeatAge = registry.makeGauge(
            descriptor: describe(
                "netpoller_poll_loop_heartbeat_age_seconds",
                "Seconds since the SNMP I/O thread last answered a heartbeat."), )
        ready = registry.makeGauge(
            descriptor: describe("netpoller_ready", "1 when the agent is ready (see /ready), else 0."), )
    }

    public func pollError(_ code: PollError.Code) { pollErrors[code]?.increment() }
    public func walkError(_ code: PollError.Code) { walkErrors[code]?.increment() }

    public func setDevices(_ counts: [DeviceState: Int]) {
        for state in DeviceState.allCases { devices[state]?.set(Double(counts[state] ?? 0)) }
    }

    /// Counter of dropped samples by reason (`queue_full`, later `spool_full`, `spool_expired`).
    public func droppedSamples(reason: String) -> Counter {
        registry.makeCounter(
            descriptor: describe(
                "netpoller_dropped_samples_total", "Samples dropped before reaching a sink, by reason."),
            labels: [("reason", reason)])
    }

    /// Batches written per sink and result (accepted, rejected, retryable).
    public func sinkWrites(sink: String, result: String) -> Counter {
        registry.makeCounter(
            descriptor: describe("netpoller_sink_writes_total", "Batches handed to a sink, by sink and result."),
            labels: [("sink", sink), ("result", result)])
    }

    /// Samples accepted per sink.
    public func sinkSamples(sink: String) -> Counter {
        registry.makeCounter(
            descriptor: describe("netpoller_sink_samples_total", "Samples accepted by a sink."),
            labels: [("sink", sink)])
    }

    /// The exposition text of all self-metrics.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
