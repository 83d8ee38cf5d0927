import AgentConfig
import AgentHTTP
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import Pipeline
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The whole agent as one service: config → state_dir → sinks → collectors → pollers → HTTP, and the reverse on
/// shutdown. SIGHUP reloads the config in place (see `reload`). The agent is handed its collectors (one per device
/// kind), so a test builds a whole agent in-process with a fake one.
public final class Agent: Service {
    /// Everything a reload may change, swapped together.
    struct Live: Sendable {
        var config: AgentConfiguration
        var devices: [String: DeviceRuntime]
    }

    public let metrics: SelfMetrics
    let logger: Logger
    let status: StatusBoard
    let queue: SampleQueue
    let cache = LatestValueCache()
    /// The collectors by `kind`.
    let collectors: [String: any Collector]
    let sinks: SinkFactory
    let runner: SinkRunner
    let scheduler: DeviceScheduler
    let clock: any DeliveryClock
    let recorder: PollRecorder
    /// Re-reads the config files (SIGHUP); nil when the agent was built from a config value only.
    let reloadSource: (@Sendable () throws(ConfigError) -> AgentConfiguration)?
    private let live: Mutex<Live>
    private let readyFlag = Atomic<Bool>(false)
    private let startedAt = Date()
    private let configInfo: Mutex<Gauge>
    private let reloadState = Mutex<AgentEndpoints.ReloadStatus>(AgentEndpoints.ReloadStatus())
    private let stateDirectory = Mutex<StateDirectory?>(nil)
    /// SIGHUP caught since before start-up (`run` installs it first thing); nil: trapped once running (tests).
    private let hangupQueue: SignalQueue?
    /// `[discovery]` in `run`: repeated every `interval`.
    let discovery: (any DiscoveryRunner)?
    /// systemd's notification socket (`Type=notify`); inactive without `$NOTIFY_SOCKET`.
    let notifier: SystemdNotifier
    /// `[http] web_config_file` in force: TLS, basic auth, headers (replaced on reload).
    let webSecurity = WebSecurity()

    public var config: AgentConfiguration { live.withLock { $0.config } }

    /// - Parameters:
    ///   - metrics: the registry the collectors were made with (their own counters go there too).
    ///   - collectors: one per device kind; each device is polled by the collector of its `kind`.
    ///   - outputs: the output plugins that make the configured sinks (`BuiltinPlugins.outputs`).
    ///   - extraSinks: sinks beyond the configured outputs (tests), with the default delivery policy.
    public init(
        config: AgentConfiguration, logger: Logger, metrics: SelfMetrics = SelfMetrics(),
        collectors: [any Collector], outputs: [any OutputPlugin] = [], extraSinks: [any Sink] = [],
        clock: any DeliveryClock = SystemDeliveryClock(),
        reloadSource: (@Sendable () throws(ConfigError) -> AgentConfiguration)? = nil,
        hangups: SignalQueue? = nil, discovery: (any DiscoveryRunner)? = nil,
        notifier: SystemdNotifier = SystemdNotifier()
    ) {
        self.hangupQueue = hangups
        self.discovery = discovery
        self.notifier = notifier
        self.logger = logger
        self.clock = clock
        self.reloadSource = reloadSource
        self.metrics = metrics
        status = StatusBoard(onCounts: { [metrics] in metrics.setDevices($0) })
        self.collectors = Dictionary(collectors.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        sinks = SinkFactory(metrics: metrics, logger: logger, plugins: outputs, extraSinks: extraSinks)
        queue = SampleQueue(capacity: config.agent.queueCapacity, metrics: metrics)
        scheduler = DeviceScheduler(
            maxInFlight: config.agent.maxInFlight, batchWindow: config.agent.pollStartWindow,
            started: { [metrics] in metrics.pollStartDelay.recordNanoseconds($0.nanoseconds) })
        recorder = PollRecorder(metrics: metrics, status: status, queue: queue, logger: logger)
        live = Mutex(Live(config: config, devices: [:]))
        let cache = self.cache
        runner = SinkRunner(
            queue: queue, clock: clock, metrics: metrics, logger: logger, observers: [{ cache.store($0) }])
        configInfo = Mutex(metrics.configInfo(hash: config.hash))
        for collector in collectors {
            _ = metrics.polls(kind: collector.kind)
            collector.configure(config)
        }
        let devices = DeviceRuntime.table(for: config.devices)
        for runtime in devices.values { register(runtime.config) }
        live.withLock { $0.devices = devices }
    }

    /// A new or changed device in `/status` and the cache's time to live.
    private func register(_ device: DeviceConfig) {
        let known = status.update(device.name) { s in
            s.address = device.displayAddress
            if let profiles = device.profiles { s.profiles = profiles }
        }
        if known == nil {
            status.register(
                DeviceStatus(name: device.name, address: device.displayAddress, profiles: device.profiles ?? []))
        }
        cache.setTimeToLive(device: device.name, device.interval * 3 + device.timeout * (device.retries + 1))
    }

    private var endpoints: AgentEndpoints {
        AgentEndpoints(
            metrics: metrics, status: status, cache: cache, queue: queue, runner: runner,
            collectors: Array(collectors.values), startedAt: startedAt,
            isReady: { [self] in readyFlag.load(ordering: .acquiring) }, config: { [self] in config },
            hasDevice: { [self] name in live.withLock { $0.devices[name] != nil } },
            reloadStatus: { [self] in reloadState.withLock { $0 } },
            discoveryStatus: { [discovery] in discovery?.status })
    }

    /// Stops every collector (polls in flight end as `cancelled`).
    private func shutdownCollectors() async {
        for collector in collectors.values { await collector.shutdown() }
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
            for plan in sinks.plans(config) {
                try await runner.add(plan.sink, type: plan.type, policy: plan.policy, onStartUnavailable: plan.start)
            }
        } catch {
            await runner.drain(until: clock.now)
            await shutdownCollectors()
            throw error
        }
        let runnerTask = Task { await runner.run() }
        logger.info(
            "sinks started",
            metadata: .keys([.phase: "sinks", .sink: "\(runner.status.map(\.name).joined(separator: ","))"]))
        for kind in collectors.keys.sorted() {
            logger.info("\(kind) io thread started", metadata: .keys([.phase: "io"]))
        }
        applySchedule()
        logger.info(
            "pollers started",
            metadata: .keys([.phase: "pollers", .devices: "\(config.devices.count)", .hash: "\(config.hash)"]))
        let started = AsyncStream<Int>.makeStream()
        var limits = HTTPLimits()
        limits.maxConnections = config.http.maxConnections
        limits.idleTimeout = config.http.idleTimeout
        limits.maxHeaderBytes = config.http.maxHeaderBytes
        limits.maxBodyBytes = config.http.maxBodyBytes
        try webSecurity.apply(config.http.web)
        limits.onEvict = { [metrics] in metrics.httpEvictions.increment() }
        let app = try AgentHTTPServer.service(
            host: listen.host, port: listen.port, handlers: endpoints.handlers(), logger: logger, limits: limits,
            security: webSecurity,
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
            // One reload at a time, in the order the signals came; one asked for during start-up runs now.
            if let hangupQueue {
                for await _ in hangupQueue.signals { await reloadFromSource() }
            } else {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { await reloadFromSource() }
            }
        }

        let discovering = Task { [self] in await discoverPeriodically() }
        let systemd = Task { [self] in await notifySystemd() }
        let housekeeping = Task { await Self.trimHeapPeriodically() }

        try? await gracefulShutdown()

        notifier.stopping()
        systemd.cancel()
        discovering.cancel()
        housekeeping.cancel()
        hangups.cancel()
        let shutdownStarted = clock.now
        readyFlag.store(false, ordering: .releasing)
        metrics.ready.set(0.0)
        logger.info("shutdown: stopping the schedule", metadata: .keys([.phase: "shutdown"]))
        let timeout = self.config.agent.shutdownTimeout
        // shutdown_timeout is a hard budget: whatever hangs (a walk, a DNS lookup, a sink, an HTTP client), the process
        // ends a moment after it. What reached the spools is kept for the next start.
        let watchdog = ShutdownWatchdog(after: timeout + .seconds(3), logger: logger)
        defer { watchdog.disarm() }
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
                await self.shutdownCollectors()
                return true
            }
            let first = await group.next() ?? false
            group.cancelAll()
            var any = first
            for await result in group { any = any || result }
            return any
        }
        await shutdownCollectors()
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

    /// `[discovery]`: a run at start, then every `interval` (read again after each run, so a reload applies). With
    /// `auto_add`, a run that changed `discovered.conf` reloads as SIGHUP does (through the same queue of reloads).
    private func discoverPeriodically() async {
        guard let discovery else { return }
        while !Task.isCancelled {
            let config = self.config
            guard let settings = config.discovery, settings.interval > .zero else {
                // Not configured (now): look again after a reload might have added it.
                try? await Task.sleep(for: .seconds(30))
                continue
            }
            if await discovery.run(config) {
                if hangupQueue != nil {
                    kill(getpid(), SIGHUP)
                } else {
                    await reloadFromSource()
                }
            }
            try? await Task.sleep(for: settings.interval)
        }
    }

    /// The heap's free pages go back to the system 30 s after start and then once a minute (`MallocTuning.trim`): what the
    /// start-up and each reload freed (the parsed config, the first round's transients) would otherwise stay in RSS,
    /// held by glibc's arenas. At 10,000 devices this is 20-40 MiB of RSS.
    private static func trimHeapPeriodically() async {
        var wait: Duration = .seconds(30)
        while !Task.isCancelled {
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            await DispatchQueue.global().run { _ = MallocTuning.trim() }
            wait = .seconds(60)
        }
    }

    /// `Type=notify`: `READY=1` once `/ready` would first answer 200; then, with `WatchdogSec=`, `WATCHDOG=1` every half
    /// period while `/health` is fine (every I/O thread's heartbeat fresh): a stalled poll loop stops the pings and
    /// systemd restarts the agent.
    private func notifySystemd() async {
        guard notifier.isActive else { return }
        let endpoints = self.endpoints
        while !Task.isCancelled && !endpoints.readiness().0 {
            try? await Task.sleep(for: .milliseconds(100))
        }
        guard !Task.isCancelled else { return }
        notifier.ready(status: "polling \(config.devices.count) devices")
        guard let interval = notifier.watchdogInterval else { return }
        while !Task.isCancelled {
            if endpoints.health().0 { notifier.watchdog() }
            try? await Task.sleep(for: interval / 2)
        }
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
            overrun: { [recorder] name, missed in recorder.recordOverrun(name, missed) })
        let now = Double(clock.wallNanos) / 1e9
        for name in started { status.update(name) { $0.scheduledSince = now } }
    }

    // MARK: Reload

    /// SIGHUP: re-reads the config files and applies them; a bad config is logged and the running one stays.
    func reloadFromSource() async {
        guard let reloadSource else { return }
        // systemd: RELOADING=1 (with MONOTONIC_USEC) now, READY=1 once the reload is applied or rejected.
        notifier.reloading()
        defer { notifier.ready(status: "polling \(config.devices.count) devices") }
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

    /// Applies a new, valid config (see `ReloadPlan`): devices added, changed and removed (unchanged devices keep
    /// their schedule), profiles, sinks (buffers and spools kept), and the hash. Settings that need a restart are
    /// logged and keep their running value.
    public func reload(to next: AgentConfiguration) async {
        let current = self.config
        let plan = ReloadPlan(from: current, to: next)
        for key in plan.restartOnly {
            logger.warning(
                "config reload: this setting changes only on restart", metadata: .keys([.config: "\(key)"]))
        }
        let applied = plan.applied
        // The web config is re-read with every reload (a rotated certificate too); one that does not load keeps the
        // running one.
        do {
            try webSecurity.apply(applied.http.web)
        } catch {
            logger.error(
                "config reload: web_config_file not applied; the running TLS and users stay",
                metadata: .keys([.config: "\(applied.http.web?.file ?? "")", .error: "\(error)"]))
        }
        for collector in collectors.values { collector.configure(applied) }
        let renewed = Set(plan.devicesAdded + plan.devicesChanged)
        // Every runtime moves onto the new device list (see `DeviceRuntime`): new and changed devices get a new one,
        // unchanged ones keep theirs, rebased.
        let devices = live.withLock { l in
            l.config = applied
            l.devices = DeviceRuntime.table(for: applied.devices, keeping: l.devices, except: renewed)
            return l.devices
        }
        for name in plan.devicesAdded + plan.devicesChanged {
            if let runtime = devices[name] { register(runtime.config) }
        }
        for name in plan.devicesRemoved {
            status.remove(name)
            cache.remove(device: name)
        }
        // A changed device's old session and what was learned about it go; it is polled anew from its next slot.
        let previousKinds = Dictionary(current.devices.map { ($0.name, $0.kinds) }, uniquingKeysWith: { a, _ in a })
        for name in plan.devicesRemoved + plan.devicesChanged {
            for kind in previousKinds[name] ?? [] { collectors[kind]?.release(name) }
        }
        let (started, stopped) = scheduler.apply(
            applied.devices.map { DeviceScheduler.Entry(name: $0.name, interval: $0.interval) },
            poll: { [self] name in await pollDevice(name) },
            overrun: { [recorder] name, missed in recorder.recordOverrun(name, missed) })
        scheduler.setMaxInFlight(applied.agent.maxInFlight)
        scheduler.setBatchWindow(applied.agent.pollStartWindow)
        let now = Double(clock.wallNanos) / 1e9
        for name in started { status.update(name) { $0.scheduledSince = now } }
        // Sinks: kept → new settings in place; replaced or removed → stopped (spool kept); new → started.
        for name in plan.sinksReplaced + plan.sinksRemoved {
            await runner.remove(name, grace: applied.agent.shutdownTimeout)
            sinks.forget(name)
        }
        let stillRunning = Set(runner.status.map(\.name))
        for sinkPlan in sinks.plans(applied) {
            if stillRunning.contains(sinkPlan.sink.name) {
                runner.update(sinkPlan.sink, policy: sinkPlan.policy)
            } else {
                do {
                    try await runner.add(
                        sinkPlan.sink, type: sinkPlan.type, policy: sinkPlan.policy, onStartUnavailable: .retry)
                } catch {
                    sinks.forget(sinkPlan.sink.name)
                    await sinkPlan.sink.close()
                    logger.error(
                        "config reload: cannot start sink",
                        metadata: .keys([.sink: "\(sinkPlan.sink.name)", .error: "\(error)"]))
                }
            }
        }
        configInfo.withLock { gauge in
            metrics.removeConfigInfo(gauge)
            gauge = metrics.configInfo(hash: applied.hash)
        }
        metrics.reloadsOK.increment()
        metrics.lastReloadSuccessful.set(1.0)
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

    /// One poll of one device by the collector of each of its kinds (SNMP and SSH at once when it has both),
    /// recorded together (status, metrics per kind, one batch, log).
    func pollDevice(_ name: String) async {
        guard let device = live.withLock({ $0.devices[name] }) else { return }
        let timestamp = WallClock.nanos()
        status.update(name) { $0.pollStarted = Double(timestamp) / 1e9 }
        cache.setPolling(device: name, true)
        defer { cache.setPolling(device: name, false) }
        let config = device.config
        let collectors = self.collectors
        @Sendable func one(_ kind: String) async -> PollRecorder.KindOutcome {
            let start = ContinuousClock.now
            let outcome: PollOutcome
            if let collector = collectors[kind] {
                outcome = await collector.poll(config)
            } else {
                outcome = .failed(PollError(.sessionFailed, "no collector polls devices of kind \(kind)"))
            }
            // A transport that hands results back in batches says when the last answer came.
            let end = min(outcome.answeredAt ?? .now, .now)
            return PollRecorder.KindOutcome(kind: kind, outcome: outcome, duration: end - start)
        }
        let kinds = config.kinds
        var outcomes: [PollRecorder.KindOutcome] = []
        if kinds.count == 1 {
            outcomes = [await one(kinds[0])]
        } else {
            outcomes = await withTaskGroup(of: PollRecorder.KindOutcome.self) { group in
                for kind in kinds { group.addTask { await one(kind) } }
                var all: [PollRecorder.KindOutcome] = []
                for await result in group { all.append(result) }
                return all.sorted { (kinds.firstIndex(of: $0.kind) ?? 0) < (kinds.firstIndex(of: $1.kind) ?? 0) }
            }
        }
        recorder.record(device, outcomes, timestamp: timestamp)
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
        await shutdownCollectors()
        return failures
    }

    /// Status of every device (for `once` error reporting).
    public func deviceStatuses() -> [DeviceStatus] { status.snapshot() }
}
