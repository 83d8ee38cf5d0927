import Prometheus
import Synchronization

/// A full metric name with its help text (the unit is part of the name). Plugins declare their metrics with it too.
public func metricDescriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

/// Every self-metric of the agent, declared once (swift-prometheus stops the process if one name is registered twice
/// with different help or type). Label values are bounded: codes, kinds, results and configured sink names. Each output
/// plugin declares its own metrics in its folder, on this registry.
public final class SelfMetrics: Sendable {
    public static let version = "0.1.0"

    public let registry: PrometheusCollectorRegistry

    public let pollOverruns: Counter
    public let pollStartDelay: DurationHistogram
    public let snmpVarbinds: Counter
    public let snmpRequests: Counter
    public let snmpLoopWakes: Counter
    public let snmpHandBacks: Counter
    public let snmpSessionEvictions: Counter
    public let snmpTimeouts: Counter
    public let snmpTooBig: Counter
    public let snmpTypeMismatches: Counter
    public let snmpEngineDiscoveries: Counter
    public let snmpTimeSyncs: Counter
    public let snmpLearningChanges: Counter
    public let counterResets: Counter
    public let counterWraps: Counter
    public let counterImplausible: Counter
    public let queueLength: Gauge
    public let queueCapacity: Gauge
    public let pollLoopHeartbeatAge: Gauge
    public let ready: Gauge
    public let reloadsOK: Counter
    public let reloadsFailed: Counter
    public let lastReloadSuccessful: Gauge
    public let httpEvictions: Counter
    public let sshConnections: Counter
    public let sshCommands: Counter
    public let sshBytesRead: Counter
    public let sshPagerAnswers: Counter
    public let sshParseFailures: Counter
    private let pollMetricsByKind = Mutex<[String: PollMetrics]>([:])
    private let walkErrors: [PollError.Code: Counter]
    private let devices: [DeviceState: Gauge]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let info = registry.makeGauge(
            descriptor: metricDescriptor("netpoller_build_info", "Build information; the value is always 1."),
            labels: [("version", Self.version)])
        info.set(1.0)
        pollOverruns = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_poll_overruns_total",
                "Polls skipped because the previous poll of the same device was still running when the next was due."),
        )
        pollStartDelay = registry.makeDurationHistogram(
            descriptor: metricDescriptor(
                "netpoller_poll_start_delay_seconds",
                "How late each poll started after its slot (waiting for a max_in_flight permit included)."),
            buckets: [
                .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
                .seconds(30),
            ])
        snmpVarbinds = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_varbinds_total", "Variable bindings received from SNMP agents."), )
        snmpRequests = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_requests_total", "SNMP request PDUs sent (retries by timeout not included)."), )
        snmpLoopWakes = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_io_wakeups_total",
                "Writes to the SNMP I/O thread's wake pipe: one per hand-off that found the thread asleep (a busy "
                    + "thread takes hand-offs without one)."), )
        snmpHandBacks = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_io_handbacks_total",
                "Times the SNMP I/O thread handed finished polls back to the async side: once per batch of polls that "
                    + "finish together (at most 20 ms apart), not once per poll."), )
        snmpSessionEvictions = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_session_evictions_total",
                "Idle SNMP sessions closed because the session cap (max_snmp_sessions, or the open-file limit) was "
                    + "reached; each is opened again at its device's next poll."), )
        snmpTimeouts = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_timeouts_total", "SNMP requests that got no answer after all retries."),
        )
        snmpTooBig = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_toobig_total",
                "tooBig answers; each halves max-repetitions for the request and retries."), )
        snmpTypeMismatches = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_type_mismatches_total",
                "Values whose wire type disagreed with their field's declared counter or gauge type; each is converted."
            ), )
        snmpEngineDiscoveries = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_engine_discoveries_total",
                "SNMPv3 engine-ID discovery requests sent (none for an engine known from the cache or the config)."), )
        snmpTimeSyncs = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_time_syncs_total",
                "SNMPv3 notInTimeWindow reports answered by one resynchronisation and a retry."), )
        snmpLearningChanges = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_snmp_learning_changes_total",
                "Changes of a device's learned GET size, max-repetitions or GETBULK/GETNEXT mode."), )
        counterResets = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_counter_resets_total",
                "Counter series reset (sysUpTime went back, or the discontinuity time changed): no rate for that poll."
            ), )
        counterWraps = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_counter_wraps_total", "Counter32 values that wrapped past 2^32 (delta + 2^32 used)."), )
        counterImplausible = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_implausible_deltas_total",
                "Counter deltas dropped as implausible (above the interface speed, or a Counter64 going back)."), )
        sshConnections = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_ssh_connections_total",
                "SSH TCP connections opened (a connection is kept across polls; each reconnect counts)."), )
        sshCommands = registry.makeCounter(
            descriptor: metricDescriptor("netpoller_ssh_commands_total", "CLI commands sent over SSH."), )
        sshBytesRead = registry.makeCounter(
            descriptor: metricDescriptor("netpoller_ssh_read_bytes_total", "Command output bytes read over SSH."), )
        sshPagerAnswers = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_ssh_pager_answers_total",
                "--More-- prompts answered in shell mode (non-zero: a device ignored the paging-off command)."), )
        sshParseFailures = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_ssh_parse_failures_total",
                "Values (or whole outputs) from SSH commands that did not parse; each is named in /status."), )
        var walkErrors: [PollError.Code: Counter] = [:]
        for code in PollError.Code.allCases {
            walkErrors[code] = registry.makeCounter(
                descriptor: metricDescriptor(
                    "netpoller_snmp_walk_errors_total",
                    "Table walks that ended early, by error type; data received before the error is kept."),
                labels: [("error_type", code.rawValue)])
        }
        self.walkErrors = walkErrors
        queueLength = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_queue_length_samples", "Samples waiting in the queue between pollers and sinks."), )
        queueCapacity = registry.makeGauge(
            descriptor: metricDescriptor("netpoller_queue_capacity_samples", "Capacity of the queue in samples."), )
        var devices: [DeviceState: Gauge] = [:]
        for state in DeviceState.allCases {
            devices[state] = registry.makeGauge(
                descriptor: metricDescriptor("netpoller_devices", "Configured devices by state."),
                labels: [("state", state.rawValue)])
        }
        self.devices = devices
        pollLoopHeartbeatAge = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_poll_loop_heartbeat_age_seconds",
                "Seconds since the SNMP I/O thread last answered a heartbeat."), )
        ready = registry.makeGauge(
            descriptor: metricDescriptor("netpoller_ready", "1 when the agent is ready (see /ready), else 0."), )
        func reloads(_ result: String) -> Counter {
            registry.makeCounter(
                descriptor: metricDescriptor("netpoller_config_reloads_total", "Config reloads (SIGHUP) by result."),
                labels: [("result", result)])
        }
        reloadsOK = reloads("success")
        reloadsFailed = reloads("failure")
        lastReloadSuccessful = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_config_last_reload_successful", "1 if the last config reload succeeded (or none was tried)."
            ), )
        lastReloadSuccessful.set(1.0)
        httpEvictions = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_http_connections_evicted_total",
                "HTTP connections closed to make room for a new one at [http] max_connections."), )
        for reason in Self.dropReasons { _ = droppedSamples(reason: reason) }
    }

    /// The poll counters of one collector kind (`kind="snmp"`), made on first use; the agent asks for each
    /// collector's at start, so every series is exported from the start (at 0).
    public func polls(kind: String) -> PollMetrics {
        pollMetricsByKind.withLock { byKind in
            if let metrics = byKind[kind] { return metrics }
            let metrics = PollMetrics(registry: registry, kind: kind)
            byKind[kind] = metrics
            return metrics
        }
    }
    public func walkError(_ code: PollError.Code) { walkErrors[code]?.increment() }

    public func setDevices(_ counts: [DeviceState: Int]) {
        for state in DeviceState.allCases { devices[state]?.set(Double(counts[state] ?? 0)) }
    }

    /// Every reason a sample can be dropped for; each is exported from the start (at 0).
    public static let dropReasons = [
        "queue_full", "buffer_full", "spool_full", "spool_expired", "spool_corrupt", "spool_error", "shutdown",
    ]

    /// Counter of dropped samples by reason. Drops in a sink's buffer or spool count once per sink.
    public func droppedSamples(reason: String) -> Counter {
        registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_dropped_samples_total",
                "Samples dropped before reaching a sink, by reason (a drop in one sink's buffer counts once)."),
            labels: [("reason", reason)])
    }

    /// The metrics of one sink (label values come from the configured sink names).
    public func sink(_ name: String) -> SinkMetrics { SinkMetrics(registry: registry, sink: name) }

    /// `netpoller_config_info{hash}`: 1 for the running config. Returns the gauge so a reload can remove it.
    public func configInfo(hash: String) -> Gauge {
        let gauge = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_config_info", "The running configuration's hash (FNV-1a 64 of the files); always 1."),
            labels: [("hash", hash)])
        gauge.set(1.0)
        return gauge
    }

    public func removeConfigInfo(_ gauge: Gauge) { registry.unregisterGauge(gauge) }

    /// The exposition text of all self-metrics.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}

/// The self-metrics of one sink, all labelled `sink`.
public struct SinkMetrics: Sendable {
    public let writesAccepted: Counter
    public let writesRejected: Counter
    public let writesRetryable: Counter
    public let samples: Counter
    public let rejectedSamples: Counter
    public let retries: Counter
    public let circuitOpens: Counter
    public let probesPassed: Counter
    public let probesFailed: Counter
    public let backlog: Gauge
    public let memory: Gauge
    public let spoolBytes: Gauge
    public let spoolOldestAge: Gauge
    public let spoolSynced: Counter
    public let spoolSyncs: Counter
    public let spoolSyncsNotNeeded: Counter
    public let spoolCorruptions: Counter
    public let spoolWriteErrors: Counter
    public let states: [String: Gauge]
    private let errors: [SinkError.Code: Counter]

    /// The states a sink can be in, as exported by `netpoller_sink_state`.
    public static let stateNames = ["ok", "degraded", "circuit_open", "rejecting"]

    init(registry: PrometheusCollectorRegistry, sink: String) {
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: metricDescriptor(name, help), labels: [("sink", sink)] + labels)
        }
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: metricDescriptor(name, help), labels: [("sink", sink)] + labels)
        }
        let writesHelp = "Writes (one request or transaction of one or more batches) by sink and result."
        writesAccepted = counter("netpoller_sink_writes_total", writesHelp, [("result", "accepted")])
        writesRejected = counter("netpoller_sink_writes_total", writesHelp, [("result", "rejected")])
        writesRetryable = counter("netpoller_sink_writes_total", writesHelp, [("result", "retryable")])
        samples = counter("netpoller_sink_samples_total", "Samples accepted by a sink.")
        rejectedSamples = counter(
            "netpoller_sink_rejected_samples_total",
            "Samples a sink rejected as bad data (sent to the dead-letter file).")
        retries = counter("netpoller_sink_retries_total", "Writes retried after a retryable failure.")
        circuitOpens = counter("netpoller_sink_circuit_opens_total", "Times the sink's circuit breaker opened.")
        let probesHelp = "Cheap health probes of a failing sink (every probe_interval while it waits), by result."
        probesPassed = counter("netpoller_sink_probes_total", probesHelp, [("result", "passed")])
        probesFailed = counter("netpoller_sink_probes_total", probesHelp, [("result", "failed")])
        backlog = gauge(
            "netpoller_sink_backlog_samples", "Samples not yet delivered to the sink (memory, spool and in flight).")
        memory = gauge("netpoller_sink_buffer_samples", "Samples held in the sink's memory buffer.")
        spoolBytes = gauge("netpoller_spool_bytes", "Undelivered bytes in the sink's disk spool.")
        spoolOldestAge = gauge(
            "netpoller_spool_oldest_age_seconds", "Age of the oldest undelivered sample in the spool or buffer.")
        spoolSynced = counter(
            "netpoller_spool_synced_samples_total", "Samples made durable in the spool (written and fsynced).")
        let syncsHelp =
            "Spool sync intervals (fsync = a duration) by result: synced (an fdatasync), or not_needed (the sink had "
            + "acknowledged everything written in it first)."
        spoolSyncs = counter("netpoller_spool_syncs_total", syncsHelp, [("result", "synced")])
        spoolSyncsNotNeeded = counter("netpoller_spool_syncs_total", syncsHelp, [("result", "not_needed")])
        spoolCorruptions = counter(
            "netpoller_spool_corruptions_total", "Torn or corrupt spool records found and cut off.")
        spoolWriteErrors = counter(
            "netpoller_spool_write_errors_total",
            "Batches the spool could not write (disk full, I/O error); kept in memory while they fit.")
        var states: [String: Gauge] = [:]
        for state in Self.stateNames {
            states[state] = gauge(
                "netpoller_sink_state",
                "1 for the sink's current state (ok, degraded, circuit_open, rejecting), else 0.",
                [("state", state)])
        }
        self.states = states
        var errors: [SinkError.Code: Counter] = [:]
        for code in SinkError.Code.allCases {
            errors[code] = counter(
                "netpoller_sink_errors_total", "Failed or rejected writes by sink and error type.",
                [("error_type", code.rawValue)])
        }
        self.errors = errors
    }

    public func error(_ code: SinkError.Code) { errors[code]?.increment() }

    public func probe(passed: Bool) { (passed ? probesPassed : probesFailed).increment() }

    public func setState(_ state: String) {
        for (name, gauge) in states { gauge.set(name == state ? 1.0 : 0.0) }
    }
}

/// `netpoller_polls_total`, `netpoller_poll_duration_seconds` and `netpoller_poll_errors_total` of one collector kind.
public struct PollMetrics: Sendable {
    public let ok: Counter
    public let partial: Counter
    public let failed: Counter
    public let duration: DurationHistogram
    private let errors: [PollError.Code: Counter]

    init(registry: PrometheusCollectorRegistry, kind: String) {
        func polls(_ result: String) -> Counter {
            registry.makeCounter(
                descriptor: metricDescriptor(
                    "netpoller_polls_total",
                    "Device polls by kind and result (ok, partial: some data kept after an error, failed)."),
                labels: [("kind", kind), ("result", result)])
        }
        ok = polls("ok")
        partial = polls("partial")
        failed = polls("failed")
        duration = registry.makeDurationHistogram(
            descriptor: metricDescriptor(
                "netpoller_poll_duration_seconds", "Wall time of one device poll, from start to last answer."),
            labels: [("kind", kind)],
            buckets: [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
                .seconds(30), .seconds(60),
            ])
        var errors: [PollError.Code: Counter] = [:]
        for code in PollError.Code.allCases {
            errors[code] = registry.makeCounter(
                descriptor: metricDescriptor("netpoller_poll_errors_total", "Poll errors by kind and error type."),
                labels: [("kind", kind), ("error_type", code.rawValue)])
        }
        self.errors = errors
    }

    /// Counts one finished poll by the state it left the device in.
    public func record(_ state: DeviceState, duration: Duration) {
        self.duration.record(duration)
        switch state {
        case .up: ok.increment()
        case .degraded: partial.increment()
        default: failed.increment()
        }
    }

    public func error(_ code: PollError.Code) { errors[code]?.increment() }
}
