import Foundation
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// The SNMP transport on net-snmp: every net-snmp call runs on ONE dedicated I/O thread with a poll loop over all
/// sessions (Debian's net-snmp is not reentrant). Async callers hand operations over through a locked inbox and a
/// wake-up pipe; results come back through continuations.
public final class SNMPEngine: SNMPTransport {
    private let inbox = Mutex<Inbox>(Inbox())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let heartbeat = Atomic<Int64>(0)
    /// The loop waits for work with nothing in flight (no heartbeat is due meanwhile).
    private let parked = Atomic<Bool>(false)
    private let finished = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let done = Atomic<Bool>(false)
    /// Requests sent, varbinds received, timeouts: read by the metrics.
    let counters: EngineCounters
    /// Maximum varbinds per GET PDU.
    public let maxGetOIDs: Int
    /// SNMPv3 engine IDs, boots and times by peer (persisted in `state_dir` once attached).
    public let engines: EngineCache

    struct Inbox {
        var operations: [Operation] = []
        var stopping = false
        var closed: [SNMPTarget] = []
        /// The loop is in (or about to enter) `epoll_wait` with an empty inbox: the next hand-off writes the wake pipe.
        var sleeping = false

        var isEmpty: Bool { operations.isEmpty && closed.isEmpty && !stopping }

        /// Whether the loop sleeps, and it will not any more (the caller writes the wake pipe).
        mutating func takeSleeping() -> Bool {
            defer { sleeping = false }
            return sleeping
        }
    }

    /// Most net-snmp sessions (one socket each) open at once: beyond it the least recently used idle session is closed
    /// (and opened again at its next poll). The smaller of `max_snmp_sessions` and the descriptor cap: running out of
    /// descriptors is not survivable on Linux (libdispatch's worker monitor traps when it cannot open /proc), so the
    /// sessions leave a quarter of the limit, at least 512 descriptors, to files, sinks and HTTP connections.
    public var maxSessions: Int { min(descriptorCap, configuredCap.load(ordering: .relaxed)) }
    /// The cap from the open-file limit.
    public let descriptorCap: Int
    private let configuredCap: Atomic<Int>

    /// `max_snmp_sessions` (config reload): sessions beyond it are closed as others open.
    public func setMaxSessions(_ value: Int) { configuredCap.store(max(1, value), ordering: .relaxed) }

    /// The session cap for a descriptor limit (see `maxSessions`).
    public static func sessionCap(descriptorLimit: Int) -> Int {
        max(64, descriptorLimit - max(512, descriptorLimit / 4))
    }

    public init(
        metrics: SelfMetrics? = nil, persistentDirectory: String? = nil, maxGetOIDs: Int = 32, maxSessions: Int? = nil
    ) {
        descriptorCap = Self.sessionCap(descriptorLimit: Int(clamping: FileLimits.raiseToHardMaximum()))
        configuredCap = Atomic(maxSessions ?? AgentSettings.defaultMaxSNMPSessions)
        var fds: [Int32] = [0, 0]
        let rc = pipe(&fds)
        precondition(rc == 0, "pipe() failed: the agent cannot run without file descriptors")
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        wakeRead = fds[0]
        wakeWrite = fds[1]
        counters = EngineCounters(metrics: metrics)
        engines = EngineCache(metrics: metrics)
        self.maxGetOIDs = maxGetOIDs
        heartbeat.store(Self.monotonicNanos(), ordering: .relaxed)
        let directory = persistentDirectory ?? (NSTemporaryDirectory() + "netpoller-snmp-\(getuid())")
        let thread = Thread { [self] in
            DedicatedThread.nameCurrentThread("snmp-io")
            IOLoop.runThread(engine: self, persistentDirectory: directory)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: SNMPTransport

    public func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult {
        try await get(target, oids: oids, maxPerPDU: maxGetOIDs)
    }

    public func get(_ target: SNMPTarget, oids: [OID], maxPerPDU: Int) async throws(PollError) -> GetResult {
        let result: Result<GetResult, PollError> = await withCheckedContinuation { continuation in
            submit(
                GetOperation(target: target, oids: oids, maxPerPDU: maxPerPDU) { continuation.resume(returning: $0) })
        }
        return try result.get()
    }

    public func walk(_ target: SNMPTarget, root: OID, limits: WalkLimits) async -> WalkResult {
        await withCheckedContinuation { continuation in
            submit(
                WalkOperation(target: target, root: root, limits: limits) {
                    continuation.resume(returning: $0)
                })
        }
    }

    /// A whole poll's requests on the I/O thread: one hand-off in, one result back.
    public func run(_ plan: RequestPlan) async -> PlanResult {
        await withCheckedContinuation { continuation in
            submit(PlanOperation(plan: plan) { continuation.resume(returning: $0) })
        }
    }

    /// One GETNEXT (v1, or `maxRepetitions` 0) or GETBULK PDU for `oids`: one request per call (with `retries` 0 on
    /// the target), so a caller that paces its packets (discovery) knows what it sends. The varbinds come back as
    /// they were answered.
    public func next(_ target: SNMPTarget, oids: [OID], maxRepetitions: Int) async throws(PollError) -> [(
        OID, SNMPValue
    )] {
        let result: Result<[(OID, SNMPValue)], PollError> = await withCheckedContinuation { continuation in
            submit(
                NextOperation(target: target, oids: oids, maxRepetitions: maxRepetitions) {
                    continuation.resume(returning: $0)
                })
        }
        return try result.get()
    }

    /// One SNMPv3 engine-ID discovery request to `target` (an SNMPv3 target; its user is never used): the engine ID
    /// when an SNMP agent answers, whichever credentials it takes. Nothing is cached.
    public func probeEngineID(_ target: SNMPTarget) async throws(PollError) -> [UInt8] {
        let result: Result<[UInt8], PollError> = await withCheckedContinuation { continuation in
            submit(EngineProbeOperation(target: target) { continuation.resume(returning: $0) })
        }
        return try result.get()
    }

    // MARK: Lifecycle and health

    /// Closes the sessions of a target no longer polled (device removed).
    public func release(_ target: SNMPTarget) {
        if inbox.withLock({ inbox in
            inbox.closed.append(target)
            return inbox.takeSleeping()
        }) {
            wake()
        }
    }

    /// Stops the loop: pending operations end with `cancelled`; later ones fail at once.
    public func shutdown() async {
        if inbox.withLock({ inbox in
            inbox.stopping = true
            return inbox.takeSleeping()
        }) {
            wake()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDone = finished.withLock { waiting -> Bool in
                if done.load(ordering: .acquiring) { return true }
                waiting.append(continuation)
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }

    /// Seconds since the I/O thread last went round its loop; 0 while it is parked (nothing in flight, waiting for
    /// work on its wake pipe: there is nothing it could be stuck on).
    public var heartbeatAge: Double {
        if parked.load(ordering: .acquiring) { return 0 }
        return Double(Self.monotonicNanos() - heartbeat.load(ordering: .relaxed)) / 1e9
    }

    // MARK: Used by the I/O thread

    /// Hands an operation to the I/O thread: one lock, and a wake-pipe write only when the loop sleeps (an awake loop
    /// takes its inbox before it sleeps again).
    func submit(_ operation: Operation) {
        let (accepted, sleeping) = inbox.withLock { inbox -> (Bool, Bool) in
            if inbox.stopping { return (false, false) }
            inbox.operations.append(operation)
            return (true, inbox.takeSleeping())
        }
        if !accepted {
            operation.fail(PollError(.cancelled, "the SNMP engine is shutting down"))
        } else if sleeping {
            counters.wake()
            wake()
        }
    }

    /// The loop is about to sleep: true if the inbox is empty (the next hand-off will wake it), false if work came
    /// in since it last looked (it must not sleep).
    func prepareToSleep() -> Bool {
        inbox.withLock { inbox in
            guard inbox.isEmpty else { return false }
            inbox.sleeping = true
            return true
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = Foundation.write(wakeWrite, &byte, 1)
    }

    var wakeDescriptor: Int32 { wakeRead }

    func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while Foundation.read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    func takeInbox() -> Inbox {
        inbox.withLock { inbox in
            inbox.sleeping = false
            if inbox.isEmpty { return Inbox() }
            let taken = inbox
            inbox.operations.removeAll()
            inbox.closed.removeAll()
            return taken
        }
    }

    func beat() { heartbeat.store(Self.monotonicNanos(), ordering: .relaxed) }

    /// The loop is about to wait with nothing in flight (true), or has woken (false).
    func park(_ value: Bool) {
        if !value { beat() }
        parked.store(value, ordering: .releasing)
    }

    func loopFinished() {
        let waiting = finished.withLock { waiting -> [CheckedContinuation<Void, Never>] in
            done.store(true, ordering: .releasing)
            defer { waiting.removeAll() }
            return waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// Counters kept by the I/O thread; `SelfMetrics` counters are atomic, so they are touched directly.
struct EngineCounters: Sendable {
    let metrics: SelfMetrics?

    func requestSent() { metrics?.snmpRequests.increment() }
    func wake() { metrics?.snmpLoopWakes.increment() }
    func handBack() { metrics?.snmpHandBacks.increment() }
    func sessionEvicted() { metrics?.snmpSessionEvictions.increment() }
    func varbinds(_ n: Int) { metrics?.snmpVarbinds.increment(by: Int64(n)) }
    func timeout() { metrics?.snmpTimeouts.increment() }
    func tooBig() { metrics?.snmpTooBig.increment() }
    func discovery() { metrics?.snmpEngineDiscoveries.increment() }
    func timeSync() { metrics?.snmpTimeSyncs.increment() }
}
