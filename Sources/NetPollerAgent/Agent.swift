import AgentConfig
import AgentHTTP
import Foundation
import Logging
import NetPollerCore
import Pipeline
import SNMPPolling
import ServiceLifecycle
import Synchronization

/// The whole agent as one service: config → SNMP I/O thread → sinks → pollers → HTTP, and the reverse on shutdown.
public final class Agent: Service {
    public let config: AgentConfiguration
    public let metrics: SelfMetrics
    let logger: Logger
    let status = StatusBoard()
    let queue: SampleQueue
    let cache = LatestValueCache()
    let engine: SNMPEngine
    let poller: DevicePoller
    let devices: [String: DeviceRuntime]
    let extraSinks: [any Sink]
    private let readyFlag = Atomic<Bool>(false)
    private let startedAt = Date()
    let runner: SinkRunner

    public init(config: AgentConfiguration, logger: Logger, extraSinks: [any Sink] = []) {
        self.config = config
        self.logger = logger
        self.extraSinks = extraSinks
        metrics = SelfMetrics()
        queue = SampleQueue(capacity: config.agent.queueCapacity, metrics: metrics)
        engine = SNMPEngine(metrics: metrics)
        poller = DevicePoller(
            transport: engine, profiles: config.allProfiles, userProfiles: config.profiles,
            defaultSet: config.agent.defaultProfiles)
        var devices: [String: DeviceRuntime] = [:]
        for device in config.devices {
            guard let credential = config.credentials[device.credential] else { continue }
            devices[device.name] = DeviceRuntime(config: device, credential: credential)
            status.register(
                DeviceStatus(name: device.name, address: device.address.description, profiles: device.profiles ?? []))
            cache.setTimeToLive(device: device.name, device.interval * 3 + device.timeout * (device.retries + 1))
        }
        self.devices = devices
        var sinks: [any Sink] = [cache]
        for output in config.outputs.stdout {
            sinks.append(StdoutSink(name: output.name, format: output.format == .json ? .json : .influx))
        }
        runner = SinkRunner(queue: queue, sinks: sinks + extraSinks, metrics: metrics, logger: logger)
        metrics.setDevices(status.counts())
    }

    // MARK: Run

    public func run() async throws {
        let listen = config.http.listen
        do {
            try ListenCheck.check(host: listen.host, port: listen.port)
        } catch {
            await engine.shutdown()
            throw error
        }
        logger.info("snmp io thread started", metadata: .keys([.phase: "io"]))
        let runnerTask = Task { await runner.run() }
        logger.info(
            "sinks started",
            metadata: .keys([.phase: "sinks", .sink: "\(runner.status.map(\.name).joined(separator: ","))"]))
        let entries = config.devices.map { DeviceScheduler.Entry(name: $0.name, interval: $0.interval) }
        let scheduler = DeviceScheduler(maxInFlight: config.agent.maxInFlight)
        let schedulerTask = Task {
            await scheduler.run(
                devices: entries, poll: { [self] name in await pollDevice(name) },
                overrun: { [self] name, missed in recordOverrun(name, missed) })
        }
        logger.info(
            "pollers started", metadata: .keys([.phase: "pollers", .devices: "\(entries.count)"]))
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

        try? await gracefulShutdown()

        readyFlag.store(false, ordering: .releasing)
        metrics.ready.set(0.0)
        logger.info("shutdown: stopping the schedule", metadata: .keys([.phase: "shutdown"]))
        schedulerTask.cancel()
        let timeout = config.agent.shutdownTimeout
        let engine = self.engine
        let abandoned = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await schedulerTask.value; return false
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
        await httpGroup.triggerGracefulShutdown()
        _ = try? await httpTask.value
        logger.info("stopped", metadata: .keys([.phase: "stopped"]))
    }

    // MARK: Polling

    func pollDevice(_ name: String) async {
        guard let device = devices[name] else { return }
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
        if !outcome.samples.isEmpty {
            let batch = SampleBatch(
                id: Schedule.batchID(device: name, timestampNanos: timestamp), device: name,
                deviceTags: device.config.tags, timestampNanos: timestamp, samples: outcome.samples)
            queue.push(batch)
        }
        let firstError = outcome.errors.first
        let change = status.update(name) { s in
            s.state = outcome.state
            s.lastPollTime = Double(timestamp) / 1e9
            s.lastPollDurationSeconds = duration.seconds
            s.lastError = firstError?.description
            s.lastErrorType = firstError?.code.rawValue
            s.samples = outcome.samples.count
            s.polls += 1
            if !outcome.profiles.isEmpty { s.profiles = outcome.profiles }
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
                return metrics.exposition()
            },
            devices: { [self] name in
                if let name {
                    guard devices[name] != nil else { return nil }
                    return DeviceExposition.render(
                        cache.latest(device: name), status: status.snapshot().filter { $0.name == name })
                }
                return DeviceExposition.render(cache.latest(), status: status.snapshot())
            },
            health: { [self] in
                let age = engine.heartbeatAge
                return age < 5 ? (true, "ok") : (false, String(format: "snmp io thread stalled for %.1fs", age))
            },
            ready: { [self] in
                readyFlag.load(ordering: .acquiring) ? (true, "ready") : (false, "not ready")
            },
            status: { [self] in statusJSON() })
    }

    struct StatusDocument: Encodable {
        struct AgentPart: Encodable {
            var name: String
            var version: String
            var ready: Bool
            var uptimeSeconds: Double
            var configFiles: [String]
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
        let document = StatusDocument(
            agent: .init(
                name: config.agent.name, version: SelfMetrics.version, ready: readyFlag.load(ordering: .acquiring),
                uptimeSeconds: Date().timeIntervalSince(startedAt), configFiles: config.files),
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
        while let batch = await queue.next() { _ = await sink.write(batch) }
        await engine.shutdown()
        return failures
    }

    /// Status of every device (for `once` error reporting).
    public func deviceStatuses() -> [DeviceStatus] { status.snapshot() }
}
