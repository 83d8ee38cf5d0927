import Foundation
import Logging
import NetPollerCore
import Synchronization

/// The SNMP collector: the `Collector` seam over `DevicePoller` and its transport (the net-snmp engine in the agent,
/// a fake in tests). It resolves each device's address to a numeric `SNMPTarget`, remembers each device's
/// sysObjectID, and closes a device's session when the device goes away.
public final class SNMPCollector: Collector {
    /// What this collector learned about one device; dropped by `release`. A class: the table holds a reference per
    /// device, not ~450 bytes inline in every bucket of a dictionary that keeps a quarter or more of them empty.
    /// Only ever reached under `devices`' lock, and never handed out of it.
    private final class DeviceState {
        var target: SNMPTarget?
        var resolvedAt: ContinuousClock.Instant?
        /// The configured credential's box, shared by every device that names it (8 bytes here, not 128).
        var credential: Indirect<SNMPCredential>
        var address: HostAddress
        /// The profile choice in force, and when it was made (wall seconds); nil: probe on the next poll.
        var choice: ProfileChoice?
        var choiceAt: Double?
        /// Whether `/status` has been told why the profiles were chosen.
        var reasonsReported = false
        /// Fields whose type mismatch was logged (once per device and field).
        var loggedMismatches: Set<String> = []
        /// A duplicate engine ID was logged for this device.
        var loggedDuplicate = false
        /// Request sizes learned (nil: not loaded yet, or learning off).
        var learned: LearnedRequests?
        /// Counter semantics for `rates`.
        var counters = CounterTracker()

        init(credential: Indirect<SNMPCredential>, address: HostAddress) {
            self.credential = credential
            self.address = address
        }
    }

    private struct Configured {
        var poller: DevicePoller
        /// One box per credential, shared by the devices' states (see `DeviceState.credential`).
        var credentials: [String: Indirect<SNMPCredential>]
        var stateDir: String
        /// Opened on first use, once the agent has created `state_dir`.
        var memory: DeviceMemory<RememberedChoice>?
        /// The request sizes learned per device (`<state_dir>/snmp-learned.json`).
        var learned: DeviceMemory<LearnedRequests>?
        var agent: AgentSettings
        var profiles: [String: Profile]
    }

    public let kind = "snmp"
    private let transport: any SNMPTransport
    private let engine: SNMPEngine?
    private let configured: Mutex<Configured?> = Mutex(nil)
    private let devices = Mutex<[String: DeviceState]>([:])
    /// `/status`'s reasons for configured profiles, one dictionary per distinct profile list (shared by every device
    /// that names the same list, instead of one copy each); emptied at every reload, so it holds the config's lists.
    private let configuredReasons = Mutex<[[String]: [String: String]]>([:])
    private let metrics: SelfMetrics?
    private let logger: Logger
    /// Wall time in Unix seconds (a manual clock in tests: counter rates and probe ages are computed from it).
    private let clock: @Sendable () -> Double
    /// How long a resolved DNS name is used before it is looked up again.
    static let resolveEvery: Duration = .seconds(300)

    /// The collector on the real net-snmp engine (its I/O thread starts here).
    public convenience init(metrics: SelfMetrics?, logger: Logger = Logger(label: "netpoller.snmp")) {
        let engine = SNMPEngine(metrics: metrics)
        self.init(transport: engine, engine: engine, metrics: metrics, logger: logger)
    }

    /// A collector on any transport (tests use `FakeTransport`).
    public convenience init(
        transport: any SNMPTransport, metrics: SelfMetrics? = nil, logger: Logger = Logger(label: "netpoller.snmp"),
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.init(
            transport: transport, engine: transport as? SNMPEngine, metrics: metrics, logger: logger, clock: clock)
    }

    private init(
        transport: any SNMPTransport, engine: SNMPEngine?, metrics: SelfMetrics?, logger: Logger,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.transport = transport
        self.engine = engine
        self.logger = logger
        self.metrics = metrics
        self.clock = clock
    }

    /// The first call loads the profile memory from `state_dir`; every later one (a reload) makes each device probe
    /// its profiles again on its next poll.
    public func configure(_ config: AgentConfiguration) {
        engine?.setMaxSessions(config.agent.maxSNMPSessions)
        let poller = DevicePoller(
            transport: transport, profiles: config.allProfiles, userProfiles: config.profiles,
            defaultSet: config.agent.defaultProfiles)
        let reload = configured.withLock { configured -> Bool in
            let same = configured?.stateDir == config.agent.stateDir
            let memory = same ? configured?.memory : nil
            let learned = same ? configured?.learned : nil
            defer {
                configured = Configured(
                    poller: poller, credentials: config.credentials.mapValues(Indirect.init),
                    stateDir: config.agent.stateDir, memory: memory,
                    learned: learned, agent: config.agent, profiles: config.allProfiles)
            }
            return configured != nil
        }
        configuredReasons.withLock { $0.removeAll() }
        if reload {
            devices.withLock { devices in
                for name in devices.keys {
                    devices[name]?.choice = nil
                    devices[name]?.choiceAt = nil
                }
            }
        }
    }

    public func poll(_ device: DeviceConfig) async -> PollOutcome {
        guard let configured = configured.withLock({ $0 }),
            let credential = configured.credentials[device.credential]
        else {
            return .failed(PollError(.sessionFailed, "no SNMP credential \"\(device.credential)\""))
        }
        let target: SNMPTarget
        do {
            target = try await self.target(device, credential: credential)
        } catch {
            return .failed(error)
        }
        let now = clock()
        let address = "\(device.address)"
        let memory = profileMemory()
        let reprobe = device.reprobe.seconds
        let (known, report) = devices.withLock { devices -> (ProfileChoice?, [String: String]?) in
            guard let state = devices[device.name] else { return (nil, nil) }
            if state.choice == nil, state.choiceAt == nil, !state.reasonsReported,
                let remembered = memory?.value(device.name, address: address)
            {
                // After a restart: the choice from state_dir, while it is young enough.
                state.choice = remembered.choice
                state.choiceAt = remembered.probedAt
            }
            if let at = state.choiceAt, now - at >= reprobe {
                state.choice = nil
                state.choiceAt = nil
            }
            var report: [String: String]?
            if let choice = state.choice, !state.reasonsReported {
                report = choice.reasons
                state.reasonsReported = true
            }
            devices[device.name] = state
            return (state.choice, report)
        }
        let names = device.profiles ?? known?.profiles ?? []
        let profiles = names.compactMap { configured.profiles[$0] }
        let rates = device.rates ?? (configured.agent.rates || profiles.contains { $0.rates })
        var options = PollOptions(maxRepetitions: device.maxRepetitions)
        options.maxWalkVarbinds = device.maxWalkVarbinds
        options.budget = device.effectivePollBudget
        options.tolerateUnordered = max(device.tolerateUnordered, profiles.map(\.tolerateUnordered).max() ?? 0)
        options.trackWidths = rates
        options.now = now
        options.getSize = device.getSize
        options.bulk = device.walkMode != "getnext"
        if device.learnRequestSizes {
            let learnedMemory = self.configured.withLock { $0?.learned }
            var learner =
                devices.withLock { $0[device.name]?.learned }
                ?? learnedMemory?.value(device.name, address: address)
                ?? LearnedRequests(
                    getSize: device.getSize, maxRepetitions: device.maxRepetitions,
                    getCeiling: max(device.getSize, configured.agent.maxGetSize),
                    repetitionsCeiling: max(device.maxRepetitions, configured.agent.maxRepetitionsLimit))
            Self.pin(&learner, device)
            options.learner = learner
        }
        let result = await configured.poller.poll(
            target, explicitProfiles: device.profiles, known: known, options: options)
        var outcome = result.outcome
        let mismatches = result.mismatches
        var learnedInfo: LearnedSizes?
        if var learned = result.learned {
            Self.pin(&learned, device)
            let changed = devices.withLock { devices -> Bool in
                let old = devices[device.name]?.learned
                devices[device.name]?.learned = learned
                return old != learned
            }
            if changed {
                if let before = options.learner,
                    before.get.current != learned.get.current
                        || before.repetitions.current != learned.repetitions.current || before.bulk != learned.bulk
                {
                    metrics?.snmpLearningChanges.increment()
                }
                self.configured.withLock { $0?.learned }?.remember(device.name, address: address, learned)
            }
            learnedInfo = learned.info(
                pinnedGet: device.pinnedGetSize, pinnedRepetitions: device.pinnedMaxRepetitions,
                pinnedMode: device.walkMode != nil)
        } else {
            learnedInfo = LearnedSizes(
                getSize: device.getSize, maxRepetitions: device.maxRepetitions,
                mode: device.walkMode ?? "bulk", learnedAt: nil, pinned: true)
        }
        if rates && !outcome.samples.isEmpty {
            var tracker = devices.withLock { $0[device.name]?.counters } ?? CounterTracker()
            let counts = tracker.process(&outcome.samples, at: now, wide: mismatches.wide)
            devices.withLock { $0[device.name]?.counters = tracker }
            if counts.wraps > 0 { metrics?.counterWraps.increment(by: Int64(counts.wraps)) }
            if counts.resets > 0 { metrics?.counterResets.increment(by: Int64(counts.resets)) }
            if counts.implausible > 0 { metrics?.counterImplausible.increment(by: Int64(counts.implausible)) }
        }
        if let report, outcome.profileReasons.isEmpty { outcome.profileReasons = report }
        if device.profiles != nil {
            if !devices.withLock({ $0[device.name]?.reasonsReported ?? true }) {
                let profiles = outcome.profiles
                outcome.profileReasons = configuredReasons.withLock { shared in
                    if let reasons = shared[profiles] { return reasons }
                    let reasons = ProfileChoice.configured(profiles).reasons
                    shared[profiles] = reasons
                    return reasons
                }
                devices.withLock { $0[device.name]?.reasonsReported = true }
            }
        } else if known == nil && !outcome.profileReasons.isEmpty {
            let choice = ProfileChoice(
                profiles: outcome.profiles, reasons: outcome.profileReasons, sysObjectID: outcome.sysObjectID)
            devices.withLock { devices in
                devices[device.name]?.choice = choice
                devices[device.name]?.choiceAt = now
                devices[device.name]?.reasonsReported = true
            }
            memory?.remember(device.name, address: address, RememberedChoice(choice: choice, probedAt: now))
        }
        if !mismatches.isEmpty { learned(device.name, mismatches: mismatches) }
        outcome.snmp = info(device, target: target)
        outcome.snmp?.learned = learnedInfo
        return outcome
    }

    /// Config pins win over learning: `get_size`, `max_repetitions` and `walk_mode` set on the device.
    static func pin(_ learned: inout LearnedRequests, _ device: DeviceConfig) {
        if device.pinnedGetSize {
            learned.get = SizeBracket(start: device.getSize, ceiling: device.getSize)
        }
        if device.pinnedMaxRepetitions {
            learned.repetitions = SizeBracket(start: device.maxRepetitions, ceiling: device.maxRepetitions)
        }
        if let mode = device.walkMode { learned.bulk = mode == "bulk" }
    }

    /// What `/status` shows of the SNMP side: version, security level, engine (flagged when another device has the same
    /// engine ID; logged once per device).
    private func info(_ device: DeviceConfig, target: SNMPTarget) -> SNMPDeviceInfo {
        var info = SNMPDeviceInfo(version: target.versionName)
        guard let usm = target.usm else { return info }
        info.securityLevel = usm.level.rawValue
        info.username = usm.username
        guard let engines = engine?.engines else { return info }
        info.engineID = usm.engineID.map { EngineCache.hex($0) } ?? engines.entry(target.peer)?.engineID
        if engines.isDuplicate(target.peer) {
            info.flags = ["duplicate_engine_id"]
            let first = devices.withLock { devices -> Bool in
                guard devices[device.name]?.loggedDuplicate == false else { return false }
                devices[device.name]?.loggedDuplicate = true
                return true
            }
            if first {
                logger.warning(
                    "engine ID \(info.engineID ?? "?") is also used by another device (cloned config?): both are polled, each with its own engine time",
                    metadata: .keys([.device: "\(device.name)", .errorType: "duplicate_engine_id"]))
            }
        }
        return info
    }

    /// Counts type mismatches, logging each (device, field) once.
    private func learned(_ name: String, mismatches: TypeMismatches) {
        metrics?.snmpTypeMismatches.increment(by: Int64(mismatches.total))
        let toLog = devices.withLock { devices -> [(String, TypeMismatches.Entry)] in
            guard let state = devices[name] else { return [] }
            var fresh: [(String, TypeMismatches.Entry)] = []
            for (field, entry) in mismatches.byField where state.loggedMismatches.insert(field).inserted {
                fresh.append((field, entry))
            }
            devices[name] = state
            return fresh
        }
        for (field, entry) in toLog.sorted(by: { $0.0 < $1.0 }) {
            logger.warning(
                "field \(field) is declared \(entry.declared == .counter ? "counter" : "gauge") but the device sends \(entry.wire): converted",
                metadata: .keys([.device: "\(name)", .errorType: "type_mismatch"]))
        }
    }

    public func release(_ device: String) {
        let target = devices.withLock { $0.removeValue(forKey: device)?.target }
        if let target { engine?.release(target) }
        configured.withLock { $0?.memory }?.forget(device)
        configured.withLock { $0?.learned }?.forget(device)
    }

    /// Waits until the profile memory and the engine cache are on disk (tests).
    public func flushProfileMemory() {
        configured.withLock { $0?.memory }?.flush()
        configured.withLock { $0?.learned }?.flush()
        engine?.engines.flush()
    }

    /// The profile memory in `state_dir`, opened (and read) on first use once the directory exists.
    private func profileMemory() -> DeviceMemory<RememberedChoice>? {
        configured.withLock { configured -> DeviceMemory<RememberedChoice>? in
            if let memory = configured?.memory { return memory }
            guard let directory = configured?.stateDir, FileManager.default.fileExists(atPath: directory) else {
                return nil
            }
            let memory = DeviceMemory<RememberedChoice>(stateDir: directory, file: "snmp-profiles.json")
            configured?.memory = memory
            configured?.learned = DeviceMemory<LearnedRequests>(stateDir: directory, file: "snmp-learned.json")
            engine?.engines.attach(stateDir: directory)
            return memory
        }
    }

    public func shutdown() async {
        await engine?.shutdown()
        // What was learned since the last (coalesced) write is kept for the next start.
        await DispatchQueue.global().run { [self] in flushProfileMemory() }
    }

    public var heartbeatAge: Double? { engine?.heartbeatAge }

    /// The net-snmp engine (nil on a fake transport): discovery sends through it, so net-snmp keeps one I/O thread.
    public var snmpEngine: SNMPEngine? { engine }

    /// The numeric target; DNS names are resolved on a thread of their own (getaddrinfo blocks).
    func target(_ device: DeviceConfig, credential box: Indirect<SNMPCredential>) async throws(PollError) -> SNMPTarget
    {
        let now = ContinuousClock.now
        if let cached = devices.withLock({ devices -> SNMPTarget? in
            guard let state = devices[device.name], state.credential == box, state.address == device.address,
                let target = state.target,
                let at = state.resolvedAt, now - at < Self.resolveEvery
            else { return nil }
            return target
        }) {
            return cached
        }
        let credential = box.value
        let address = device.address
        var peer: String
        switch address.family {
        case .ipv4: peer = "udp:\(address.host):\(address.port)"
        case .ipv6: peer = "udp6:[\(address.host)]:\(address.port)"
        case .dns:
            guard let resolved = await Resolver.resolve(address.host) else {
                throw PollError(.sessionFailed, "cannot resolve \(address.host)")
            }
            peer = resolved.contains(":") ? "udp6:[\(resolved)]:\(address.port)" : "udp:\(resolved):\(address.port)"
        }
        let target =
            credential.usm.map { SNMPTarget(peer: peer, usm: $0, timeout: device.timeout, retries: device.retries) }
            ?? SNMPTarget(
                peer: peer, version: credential.version == .v1 ? .v1 : .v2c, community: credential.community.value,
                timeout: device.timeout, retries: device.retries)
        devices.withLock { devices in
            let state = devices[device.name] ?? DeviceState(credential: box, address: address)
            state.credential = box
            state.address = address
            state.target = target
            state.resolvedAt = now
            devices[device.name] = state
        }
        return target
    }
}

/// getaddrinfo on a dedicated thread, so a slow DNS server never blocks the cooperative pool or the SNMP I/O thread.
enum Resolver {
    static func resolve(_ host: String) async -> String? {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                    continuation.resume(returning: nil)
                    return
                }
                defer { freeaddrinfo(result) }
                var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                let rc = getnameinfo(
                    first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                    NI_NUMERICHOST)
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                continuation.resume(returning: rc == 0 ? text : nil)
            }
            thread.start()
        }
    }
}
