import AgentConfig
import AgentHTTP
import Foundation
import InfluxOutput
import Logging
import NetPollerCore
import Pipeline
import PostgresOutput
import Prometheus
import SNMPPolling
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The whole agent as one service: config → state_dir → sinks → SNMP I/O thread → pollers → HTTP, and the reverse on
/// shutdown. SIGHUP reloads the config in place (see `reload`).
public final class Agent: Service {
    /// Everything a reload may change, swapped together.
    struct Live: Sendable {
        var config: AgentConfiguration
        var devices: [String: DeviceRuntime]
        var poller: DevicePoller
    }

    public let metrics: SelfMetrics
    let logger: Logger
    let status = StatusBoard()
    let queue: SampleQueue
    let cache = LatestValueCache()
    let engine: SNMPEngine
    let extraSinks: [any Sink]
    let runner: SinkRunner
    let scheduler: DeviceScheduler
    let clock: any DeliveryClock
    /// Re-reads the config files (SIGHUP); nil when the agent was built from a config value only.
    let reloadSource: (@Sendable () throws(ConfigError) -> AgentConfiguration)?
    private let live: Mutex<Live>
    private let readyFlag = Atomic<Bool>(false)
    private let startedAt = Date()
    private let configInfo: Mutex<Gauge>
    private let reloadState = Mutex<ReloadStatus>(ReloadStatus())
    private let stateDirectory = Mutex<StateDirectory?>(nil)
    /// Running PostgreSQL and InfluxDB sinks with the settings they were made from: a reload with the same settings
    /// keeps the sink (and its connection) instead of making a new one.
    private let postgresSinks = ReusableSinks<PostgresOptions, PostgresSink>()
    private let influxSinks = ReusableSinks<InfluxOptions, InfluxSink>()

    struct ReloadStatus: Encodable {
        var reloads = 0
        var lastReloadTime: Double?
        var lastReloadResult: String?
        var lastReloadError: String?
    }

    public var config: AgentConfiguration { live.withLock { $0.config } }

    public init(
        config: AgentConfiguration, logger: Logger, extraSinks: [any Sink] = [],
        clock: any DeliveryClock = SystemDeliveryClock(),
        reloadSource: (@Sendable () throws(ConfigError) -> AgentConfiguration)? = nil
    ) {
        self.logger = logger
        self.extraSinks = extraSinks
        self.clock = clock
        self.reloadSource = reloadSource
        metrics = SelfMetrics()
        queue = SampleQueue(capacity: config.agent.queueCapacity, metrics: metrics)
        engine = SNMPEngine(metrics: metrics)
        scheduler = DeviceScheduler(maxInFlight: config.agent.maxInFlight)
        live = Mutex(Live(config: config, devices: [:], poller: Self.makePoller(config, engine: engine)))
        let cache = self.cache
        runner = SinkRunner(
            queue: queue, clock: clock, metrics: metrics, logger: logger, observers: [{ cache.store($0) }])
        configInfo = Mutex(metrics.configInfo(hash: config.hash))
        let devices = applyDevices(config, previous: [:]).devices
        live.withLock { $0.devices = devices }
        metrics.setDevices(status.counts())
    }

    static func makePoller(_ config: AgentConfiguration, engine: SNMPEngine) -> DevicePoller {
        DevicePoller(
            transport: engine, profiles: config.allProfiles, userProfiles: config.profiles,
            defaultSet: config.agent.defaultProfiles)
    }

    /// Builds the runtimes for `config`'s devices, keeping those whose config and credential did not change.
    private func applyDevices(_ config: AgentConfiguration, previous: [String: DeviceRuntime]) -> (
        devices: [String: DeviceRuntime], removed: [DeviceRuntime]
    ) {
        var devices: [String: DeviceRuntime] = [:]
        for device in config.devices {
            guard let credential = config.credentials[device.credential] else { continue }
            if let old = previous[device.name], old.config == device, old.credential == credential {
                devices[device.name] = old
                continue
            }
            devices[device.name] = DeviceRuntime(config: device, credential: credential)
            if previous[device.name] == nil {
                status.register(
                    DeviceStatus(
                        name: device.name, address: device.address.description, profiles: device.profiles ?? []))
            } else {
                status.update(device.name) { s in
                    s.address = device.address.description
                    if let profiles = device.profiles { s.profiles = profiles }
                }
            }
            cache.setTimeToLive(device: device.name, device.interval * 3 + device.timeout * (device.retries + 1))
        }
        let removed = previous.filter { devices[$0.key] !== $0.value }.map(\.value)
        for old in removed where devices[old.config.name] == nil {
            status.remove(old.config.name)
            cache.remove(device: old.config.name)
        }
        return (devices, removed)
    }

    /// The sinks a config asks for, with their delivery policies.
    func sinkPlans(_ config: AgentConfiguration) -> [(
        sink: any Sink, type: String, policy: DeliveryPolicy, start: StartPolicy
    )] {
        var plans: [(any Sink, String, DeliveryPolicy, StartPolicy)] = []
        for output in config.outputs.stdout {
            plans.append(
                (
                    StdoutSink(name: output.name, format: output.format == .json ? .json : .influx), "stdout",
                    policy(output.name, output.delivery, config), output.delivery.onStartUnavailable
                ))
        }
        for output in config.outputs.file {
            plans.append(
                (
                    FileSink(name: output.name, path: output.path, format: output.format == .json ? .json : .influx),
                    "file", policy(output.name, output.delivery, config), output.delivery.onStartUnavailable
                ))
        }
        for output in config.outputs.postgres {
            plans.append(
                (
                    postgresSink(output, agentName: config.agent.name), "postgres",
                    policy(output.name, output.delivery, config), output.delivery.onStartUnavailable
                ))
        }
        for output in config.outputs.influxdb {
            plans.append(
                (
                    influxSink(output), "influxdb", policy(output.name, output.delivery, config),
                    output.delivery.onStartUnavailable
                ))
        }
        for sink in extraSinks {
            plans.append((sink, "extra", policy(sink.name, OutputDelivery(), config), .retry))
        }
        return plans
    }

    func postgresSink(_ output: PostgresOutput, agentName: String) -> PostgresSink {
        var options = output.options
        options.agentName = agentName
        return postgresSinks.sink(output.name, options, isClosed: \.isClosed) {
            PostgresSink(options: options, metrics: metrics.postgres(output.name), logger: logger)
        }
    }

    func influxSink(_ output: InfluxOutput) -> InfluxSink {
        influxSinks.sink(output.name, output.options, isClosed: \.isClosed) {
            InfluxSink(options: output.options, metrics: metrics, logger: logger)
        }
    }

    /// The configured policy with the paths that depend on the running `state_dir` filled in.
    func policy(_ name: String, _ delivery: OutputDelivery, _ config: AgentConfiguration) -> DeliveryPolicy {
        var policy = delivery.policy
        let state = config.agent.stateDir
        if policy.deadLetterPath == nil { policy.deadLetterPath = "\(state)/dead-letter/\(name).jsonl" }
        policy.spool?.directory = "\(state)/spool/\(name)"
        return policy
    }

    // MARK: Run

    public func run() async throws {
        let config = self.config
        let listen = config.http.listen
        do {
            try ListenCheck.check(host: listen.host, port: listen.port)
            let path = config.agent.stateDir
            // mkdir, a write test with fsync and a lock: blocking, so not on the cooperative pool.
            let directory = try await DispatchQueue.global().run { () throws(StateDirectory.Failure) in
                try StateDirectory(path: path)
            }
            stateDirectory.withLock { $0 = directory }
            for plan in sinkPlans(config) {
                try await runner.add(plan.sink, type: plan.type, policy: plan.policy, onStartUnavailable: plan.start)
            }
        } catch {
            await runner.drain(until: clock.now)
            await engine.shutdown()
            throw error
        }
        let runnerTask = Task { await runner.run() }
        logger.info(
            "sinks started",
            metadata: .keys([.phase: "sinks", .sink: "\(runner.status.map(\.name).joined(separator: ","))"]))
        logger.info("snmp io thread started", metadata: .keys([.phase: "io"]))
        applySchedule()
        logger.info(
            "pollers started",
            metadata: .keys([.phase: "pollers", .devices: "\(config.devices.count)", .hash: "\(config.hash)"]))
        let started = AsyncStream<Int>.makeStream()
        let app = AgentHTTPServer.application(
            host: listen.host, port: listen.port, handlers: handlers(), logger: logger,
            onRunning: { port in started.continuation.yield(port) })
        // The HTTP server runs in its own service group, outside this service's graceful-shutdown context, so it keeps
        // answering (/ready says 503) while the agent drains; it is stopped last.
        let httpGroup = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], logger: logger))
        let httpTask = Task.detached { try await httpGroup.run() }
        var iterator = started.stream.makeAsyncIterator()
        _ = await iterator.next()
        readyFlag.store(true, ordering: .releasing)
        metrics.ready.set(1.0)
        logger.info("http listening", metadata: .keys([.phase: "http", .listen: "\(listen)"]))
        let hangups = Task { [self] in
            // One reload at a time, in the order the signals came.
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                await reloadFromSource()
            }
        }

        try? await gracefulShutdown()

        hangups.cancel()
        let shutdownStarted = clock.now
        readyFlag.store(false, ordering: .releasing)
        metrics.ready.set(0.0)
        logger.info("shutdown: stopping the schedule", metadata: .keys([.phase: "shutdown"]))
        let timeout = self.config.agent.shutdownTimeout
        let engine = self.engine
        let scheduler = self.scheduler
        let abandoned = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await scheduler.stopAll()
                return false
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                } catch {
                    return false
                }
                await engine.shutdown()
                return true
            }
            let first = await group.next() ?? false
            group.cancelAll()
            var any = first
            for await result in group { any = any || result }
            return any
        }
        await engine.shutdown()
        logger.info(
            abandoned
                ? "shutdown: in-flight polls abandoned at shutdown_timeout" : "shutdown: in-flight polls finished",
            metadata: .keys([.phase: "shutdown"]))
        queue.close()
        await runnerTask.value
        logger.info("shutdown: queue flushed to the sinks", metadata: .keys([.phase: "shutdown"]))
        // The sinks get what is left of shutdown_timeout (at least a second) to drain; the rest stays spooled.
        let deadline = max(shutdownStarted + timeout, clock.now + .seconds(1))
        await runner.drain(until: deadline)
        logger.info("shutdown: sinks drained or spooled", metadata: .keys([.phase: "shutdown"]))
        await httpGroup.triggerGracefulShutdown()
        _ = try? await httpTask.value
        stateDirectory.withLock { $0 = nil }
        logger.info("stopped", metadata: .keys([.phase: "stopped"]))
    }

    private func applySchedule() {
        let (entries, maxInFlight) = live.withLock { l in
            (
                l.config.devices.filter { l.devices[$0.name] != nil }.map {
                    DeviceScheduler.Entry(name: $0.name, interval: $0.interval)
                }, l.config.agent.maxInFlight
            )
        }
        scheduler.setMaxInFlight(maxInFlight)
        let (started, _) = scheduler.apply(
            entries, poll: { [self] name in await pollDevice(name) },
            overrun: { [self] name, missed in recordOverrun(name, missed) })
        let now = Double(clock.wallNanos) / 1e9
        for name in started { status.update(name) { $0.scheduledSince = now } }
    }

    // MARK: Reload

    /// SIGHUP: re-reads the config files and applies them; a bad config is logged and the running one stays.
    func reloadFromSource() async {
        guard let reloadSource else { return }
        let next: AgentConfiguration
        do throws(ConfigError) {
            next = try reloadSource()
        } catch {
            metrics.reloadsFailed.increment()
            metrics.lastReloadSuccessful.set(0.0)
            reloadState.withLock { r in
                r.reloads += 1
                r.lastReloadTime = Double(clock.wallNanos) / 1e9
                r.lastReloadResult = "failure"
                r.lastReloadError = error.description
            }
            logger.error(
                "config reload rejected; the running config stays",
                metadata: .keys([.config: "\(error.problems.first?.file ?? "")", .error: "\(error.description)"]))
            return
        }
        await reload(to: next)
    }

    /// Applies a new, valid config: devices added, changed and removed (unchanged devices keep their schedule),
    /// profiles, sinks (buffers and spools kept), and the hash. Settings that need a restart are logged.
    public func reload(to next: AgentConfiguration) async {
        let current = self.config
        for (key, changed) in [
            ("http.listen", current.http != next.http),
            ("agent.state_dir", current.agent.stateDir != next.agent.stateDir),
            ("agent.queue_capacity", current.agent.queueCapacity != next.agent.queueCapacity),
            ("log", current.log != next.log),
        ] where changed {
            logger.warning(
                "config reload: this setting changes only on restart", metadata: .keys([.config: "\(key)"]))
        }
        var applied = next
        applied.http = current.http
        applied.agent.stateDir = current.agent.stateDir
        applied.agent.queueCapacity = current.agent.queueCapacity
        applied.log = current.log
        let previous = live.withLock { $0.devices }
        let (devices, removed) = applyDevices(applied, previous: previous)
        let poller = Self.makePoller(applied, engine: engine)
        live.withLock { l in
            l.config = applied
            l.devices = devices
            l.poller = poller
        }
        let (started, stopped) = scheduler.apply(
            applied.devices.filter { devices[$0.name] != nil }.map {
                DeviceScheduler.Entry(name: $0.name, interval: $0.interval)
            }, poll: { [self] name in await pollDevice(name) },
            overrun: { [self] name, missed in recordOverrun(name, missed) })
        scheduler.setMaxInFlight(applied.agent.maxInFlight)
        let now = Double(clock.wallNanos) / 1e9
        for name in started { status.update(name) { $0.scheduledSince = now } }
        for device in removed {
            if let target = device.resolvedTarget { engine.release(target) }
        }
        // Sinks: same name and type → new settings in place; gone → stopped (spool kept); new → started.
        let plans = sinkPlans(applied)
        let running = Dictionary(runner.status.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        for plan in plans where running[plan.sink.name] != nil && running[plan.sink.name] != plan.type {
            await runner.remove(plan.sink.name, grace: applied.agent.shutdownTimeout)
        }
        for name in running.keys where !plans.contains(where: { $0.sink.name == name }) {
            await runner.remove(name, grace: applied.agent.shutdownTimeout)
        }
        let stillRunning = Set(runner.status.map(\.name))
        for plan in plans {
            if stillRunning.contains(plan.sink.name) {
                runner.update(plan.sink, policy: plan.policy)
            } else {
                do {
                    try await runner.add(plan.sink, type: plan.type, policy: plan.policy, onStartUnavailable: .retry)
                } catch {
                    await plan.sink.close()
                    logger.error(
                        "config reload: cannot start sink",
                        metadata: .keys([.sink: "\(plan.sink.name)", .error: "\(error)"]))
                }
            }
        }
        configInfo.withLock { gauge in
            metrics.removeConfigInfo(gauge)
            gauge = metrics.configInfo(hash: applied.hash)
        }
        metrics.reloadsOK.increment()
        metrics.lastReloadSuccessful.set(1.0)
        metrics.setDevices(status.counts())
        reloadState.withLock { r in
            r.reloads += 1
            r.lastReloadTime = now
            r.lastReloadResult = "success"
            r.lastReloadError = nil
        }
        logger.info(
            "config reloaded",
            metadata: .keys([
                .hash: "\(applied.hash)", .devices: "\(applied.devices.count)",
                .started: "\(started.joined(separator: ","))", .stopped: "\(stopped.joined(separator: ","))",
            ]))
    }

    // MARK: Polling

    func pollDevice(_ name: String) async {
        guard let (device, poller) = live.withLock({ l in l.devices[name].map { ($0, l.poller) } }) else { return }
        let clock = ContinuousClock()
        let start = clock.now
        let timestamp = WallClock.nanos()
        let outcome: PollOutcome
        do {
            let target = try await device.target()
            outcome = await poller.poll(
                target, explicitProfiles: device.config.profiles, knownSysObjectID: device.sysObjectID,
                maxRepetitions: device.config.maxRepetitions)
        } catch {
            outcome = PollOutcome(
                samples: [], errors: [error], state: .down, varbinds: 0, requests: 0, sysObjectID: nil,
                profiles: [])
        }
        let duration = clock.now - start
        if let sysObjectID = outcome.sysObjectID { device.sysObjectID = sysObjectID }
        record(device, outcome, duration: duration, timestamp: timestamp)
    }

    func record(_ device: DeviceRuntime, _ outcome: PollOutcome, duration: Duration, timestamp: Int64) {
        let name = device.config.name
        metrics.pollDuration.record(duration)
        switch outcome.state {
        case .up: metrics.pollsOK.increment()
        case .degraded: metrics.pollsPartial.increment()
        default: metrics.pollsFailed.increment()
        }
        for error in outcome.errors { metrics.pollError(error.code) }
        for error in outcome.walkErrors { metrics.walkError(error.code) }
        let firstError = outcome.errors.first
        var knownProfiles: [String] = []
        let change = status.update(name) { s in
            s.state = outcome.state
            s.lastPollTime = Double(timestamp) / 1e9
            s.lastPollDurationSeconds = duration.seconds
            s.lastError = firstError?.description
            s.lastErrorType = firstError?.code.rawValue
            s.samples = outcome.samples.count
            s.polls += 1
            if !outcome.profiles.isEmpty { s.profiles = outcome.profiles }
            knownProfiles = s.profiles
        }
        // A poll with data is a batch; a poll that lost the device is a status-only batch once, at the change, so sinks
        // that keep an inventory (postgres `devices`) see it go down.
        let stateChanged = change.map { $0.0 != $0.1 } ?? false
        if !outcome.samples.isEmpty || stateChanged {
            var samples = outcome.samples
            device.reuseTags(&samples)
            let batch = SampleBatch(
                id: Schedule.batchID(device: name, timestampNanos: timestamp), device: name,
                deviceTags: device.config.tags, timestampNanos: timestamp, samples: samples,
                poll: PollInfo(
                    address: "\(device.config.address)", profiles: knownProfiles, state: outcome.state.rawValue))
            queue.push(batch)
        }
        if let (before, after) = change, before != after {
            var metadata: Logger.Metadata = .keys([
                .device: "\(name)", .address: "\(device.config.address)", .state: "\(after.rawValue)",
                .previousState: "\(before.rawValue)",
            ])
            if let firstError {
                metadata[LogKey.errorType.rawValue] = "\(firstError.code.rawValue)"
                metadata[LogKey.error.rawValue] = "\(firstError.message)"
            }
            if after == .up {
                logger.info("device up", metadata: metadata)
            } else {
                logger.warning("device \(after.rawValue)", metadata: metadata)
            }
            metrics.setDevices(status.counts())
        }
    }

    func recordOverrun(_ name: String, _ missed: Int) {
        metrics.pollOverruns.increment(by: Int64(missed))
        status.update(name) { $0.overruns += missed }
    }

    // MARK: HTTP

    func handlers() -> HTTPHandlers {
        HTTPHandlers(
            metrics: { [self] in
                metrics.pollLoopHeartbeatAge.set(engine.heartbeatAge)
                runner.updateGauges()
                return metrics.exposition()
            },
            devices: { [self] name in
                if let name {
                    guard live.withLock({ $0.devices[name] != nil }) else { return nil }
                    return DeviceExposition.render(
                        cache.latest(device: name), status: status.snapshot().filter { $0.name == name })
                }
                return DeviceExposition.render(cache.latest(), status: status.snapshot())
            },
            health: { [self] in
                let age = engine.heartbeatAge
                return age < 5 ? (true, "ok") : (false, String(format: "snmp io thread stalled for %.1fs", age))
            },
            ready: { [self] in readiness() },
            status: { [self] in statusJSON() })
    }

    /// 200 while polling runs, even with sinks degraded ("ready, degraded: …"), unless `ready_requires_sinks`.
    func readiness() -> (Bool, String) {
        guard readyFlag.load(ordering: .acquiring) else { return (false, "not ready") }
        let troubled = runner.status.filter { $0.state != "ok" }
        guard !troubled.isEmpty else { return (true, "ready") }
        let detail = troubled.map { "sink \($0.name) \($0.state)" }.joined(separator: ", ")
        if config.agent.readyRequiresSinks { return (false, "not ready: \(detail)") }
        return (true, "ready, degraded: \(detail)")
    }

    struct StatusDocument: Encodable {
        struct AgentPart: Encodable {
            var name: String
            var version: String
            var ready: Bool
            var uptimeSeconds: Double
            var configFiles: [String]
            var configHash: String
            var reload: ReloadStatus
        }
        struct QueuePart: Encodable {
            var lengthSamples: Int
            var capacitySamples: Int
        }
        var agent: AgentPart
        var devices: [DeviceStatus]
        var queue: QueuePart
        var sinks: [SinkStatus]
    }

    func statusJSON() -> [UInt8] {
        let config = self.config
        let document = StatusDocument(
            agent: .init(
                name: config.agent.name, version: SelfMetrics.version, ready: readiness().0,
                uptimeSeconds: Date().timeIntervalSince(startedAt), configFiles: config.files, configHash: config.hash,
                reload: reloadState.withLock { $0 }),
            devices: status.snapshot(),
            queue: .init(lengthSamples: queue.count, capacitySamples: queue.capacity),
            sinks: runner.status)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array((try? encoder.encode(document)) ?? Data())
    }

    // MARK: Once

    /// Polls every device (or one) once, writes the samples to `sink`, returns how many devices failed.
    public func pollOnce(only: String?, sink: any Sink) async -> Int {
        let names = config.devices.map(\.name).filter { only == nil || $0 == only }
        let limiter = AsyncLimiter(limit: config.agent.maxInFlight)
        let failures = await withTaskGroup(of: Bool.self) { group in
            for name in names {
                group.addTask { [self] in
                    await limiter.acquire()
                    await pollDevice(name)
                    limiter.release()
                    let state = status.snapshot().first { $0.name == name }?.state
                    return state == .down || state == .unknown
                }
            }
            var failed = 0
            for await down in group where down { failed += 1 }
            return failed
        }
        queue.close()
        while let batch = await queue.next() { _ = await sink.write([batch]) }
        await engine.shutdown()
        return failures
    }

    /// Status of every device (for `once` error reporting).
    public func deviceStatuses() -> [DeviceStatus] { status.snapshot() }
}

/// Sinks kept across reloads, by name: the running one while its settings are unchanged (and it is open), else a new
/// one made from the new settings.
final class ReusableSinks<Options: Equatable & Sendable, S: Sink>: Sendable {
    private let sinks = Mutex<[String: (options: Options, sink: S)]>([:])

    func sink(_ name: String, _ options: Options, isClosed: (S) -> Bool, make: () -> S) -> S {
        sinks.withLock { sinks in
            if let running = sinks[name], running.options == options, !isClosed(running.sink) { return running.sink }
            let sink = make()
            sinks[name] = (options, sink)
            return sink
        }
    }
}
