import CNetSNMP
import Foundation
import Glibc
import NetPollerCore
import NetPollerRuntime

/// One open net-snmp single session. Owned by the `IOLoop`, which closes it; only the I/O thread touches it.
final class Session {
    let target: SNMPTarget
    let handle: UnsafeMutableRawPointer
    let socket: Int32
    /// Operations waiting for an answer, by request id.
    var pending: [Int32: Operation] = [:]
    /// The generation of this session's entry in `IOLoop.timers`, or 0 when it has none (nothing in flight).
    var timerGeneration: UInt64 = 0
    /// Closed by the loop: stale timer entries and late events are ignored.
    var closed = false
    /// The sessions in order of use (`IOLoop`'s LRU list, for the session cap): the next newer and older one.
    var newer: Session?
    weak var older: Session?
    /// Answers delivered to an operation (counted by the callback): a read that delivers none was unusable.
    var delivered = 0

    // SNMPv3 only.
    /// The agent's engine ID; nil until discovered (operations wait in `waiting` meanwhile).
    var engineID: [UInt8]?
    var discovering = false
    var waiting: [Operation] = []
    /// A discovery of this session was answered: the device is alive and speaks SNMPv3.
    var discovered = false
    /// Responses (not Reports) received: the keys work.
    var authenticatedAnswers = 0
    /// Another peer has the same engine ID: net-snmp's one time record per engine is swapped per session.
    var duplicate = false
    /// This session's own engine boots and time, and when (monotonic ns); for duplicates.
    var ownTime: (boots: UInt32, time: UInt32, at: Int64)?

    /// Stored: read on every answer, and `target.usm` would copy the credential's strings each time.
    let isV3: Bool

    init(target: SNMPTarget, handle: UnsafeMutableRawPointer) {
        self.target = target
        self.handle = handle
        self.socket = np_sess_socket(handle)
        self.isV3 = target.usm != nil
    }
}

/// The C callback for every answer, timeout and send failure. `magic` is the unretained `Session`.
private let snmpCallback: netsnmp_callback = { operation, raw, requestID, pdu, magic in
    guard let magic else { return 1 }
    let session = Unmanaged<Session>.fromOpaque(magic).takeUnretainedValue()
    switch operation {
    case NETSNMP_CALLBACK_OP_RESEND:
        // Informational: net-snmp is retrying after a timeout.
        return 1
    case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE
    where pdu.map { Int32($0.pointee.command) == Int32(NP_SNMP_MSG_REPORT) } ?? false:
        IOLoop.report(pdu!, requestID: requestID, raw: raw, session: session)
    case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
        guard let op = session.pending.removeValue(forKey: requestID) else { return 1 }
        session.delivered += 1
        if session.isV3 && !(op is DiscoveryOperation) {
            session.authenticatedAnswers += 1
            // The first answer after forgetting a stale engine time is a resynchronisation too.
            if session.authenticatedAnswers == 1 && op.retriedAfterTimeReset { op.loop?.counters.timeSync() }
            if session.authenticatedAnswers == 1 || op.resynced { op.loop?.recordEngineTime(session) }
        }
        op.loop?.sessionBecameIdleIfNeeded(session)
        if let pdu {
            op.received(pdu, session: session)
            // v1/v2c: the varbinds go back to the loop's pool (net-snmp frees the PDU, now without them).
            np_vb_recycle(raw, pdu)
        } else {
            op.fail(PollError(.badResponse, "empty answer"))
        }
    case NETSNMP_CALLBACK_OP_SEC_ERROR:
        // net-snmp could not fully process the answer with this session's USM state: a discovery Report (the engine
        // is not known yet: that is the point), or an answer that failed our checks.
        guard let op = session.pending.removeValue(forKey: requestID) else { return 1 }
        op.loop?.sessionBecameIdleIfNeeded(session)
        if let pdu, op is DiscoveryOperation {
            session.delivered += 1
            op.received(pdu, session: session)
        } else if let pdu, Int32(pdu.pointee.command) == Int32(NP_SNMP_MSG_REPORT) {
            session.delivered += 1
            op.report(snmpv3_get_report_type(pdu), pdu: pdu, session: session)
        } else {
            let code = raw.map { Int32($0.pointee.s_snmp_errno) } ?? 0
            op.fail(USMReport.error(code, target: session.target, ours: true))
        }
    default:
        guard let op = session.pending.removeValue(forKey: requestID) else { return 1 }
        op.loop?.sessionBecameIdleIfNeeded(session)
        op.timedOut(session: session, sendFailed: operation == NETSNMP_CALLBACK_OP_SEND_FAILED)
    }
    return 1
}

/// The poll loop. Lives and dies on the engine's I/O thread.
///
/// Each session's socket is watched with epoll (added when the session opens, removed when it closes), and each
/// session with a request in flight has one entry in `timers`: a pass costs what is ready and what is due, never a
/// walk over every session (net-snmp's `snmp_sess_select_info2` is asked about ONE session at a time, after its
/// timeout pass). The loop sleeps in `epoll_wait` until the earliest timer, at most 1 s (the heartbeat), or parks
/// until work arrives when nothing is in flight; callers write to the wake pipe only while it sleeps
/// (`SNMPEngine.prepareToSleep`).
final class IOLoop {
    unowned let engine: SNMPEngine
    private var sessions: [SNMPTarget: Session] = [:]
    /// Open sessions by socket descriptor (descriptors are small integers: an array, not a hash).
    private var byDescriptor: [Session?] = []
    private var timers = SessionTimers()
    private var epoll: Int32 = -1
    /// The sessions from least to most recently used (closed first when the cap is reached).
    private var oldest: Session?
    private weak var newest: Session?
    /// A large fd set holding at most one bit at a time, for net-snmp's read and select-info calls.
    private let scratch: UnsafeMutablePointer<netsnmp_large_fd_set>
    /// The varbinds v1/v2c answers are parsed into, reused (`np_parse_community`): 1,136 bytes each, one per varbind,
    /// were a calloc and a free each through the arena's bins. At most 1,024 are kept (~1.1 MiB).
    private let varbinds: UnsafeMutablePointer<np_vb_pool>
    private(set) var stopping = false
    var counters: EngineCounters { engine.counters }
    /// Ku (RFC 3414 A.2) per (auth protocol, password): ~4.5 ms each, so derived once per credential.
    private var keys: [String: [UInt8]] = [:]
    /// The credential whose keys net-snmp's USM user table holds, per engine and user name, and the sessions using it.
    private var users: [String: (usm: USMCredential, sessions: Set<ObjectIdentifier>)] = [:]
    private var engineSessions: [String: [Session]] = [:]
    /// Why the last `session(for:)` returned nil, when known.
    private var openError: PollError?
    /// Slack added to a request's timeout: net-snmp stamps its expiry a moment after we read the clock.
    private static let timerSlack: Int64 = 1_000_000
    /// The longest sleep of the loop while requests are in flight: the heartbeat's period then.
    private static let heartbeatMillis: Int32 = 1000
    /// Finished polls whose results wait to cross back to the async side together (see `handBack`): held at most
    /// 20 ms, 256 at most.
    private var finished = HandBackBatch<() -> Void>(hold: 20_000_000, maxResults: 256)

    init(engine: SNMPEngine) {
        self.engine = engine
        scratch = UnsafeMutablePointer<netsnmp_large_fd_set>.allocate(capacity: 1)
        netsnmp_large_fd_set_init(scratch, Int32(FD_SETSIZE))
        guard let pool = np_vb_pool_create(1024) else {
            preconditionFailure("out of memory at the start of the SNMP I/O thread")
        }
        varbinds = pool
    }

    deinit {
        // Every session is closed by now (`run` closes them before it returns).
        np_vb_pool_destroy(varbinds)
        netsnmp_large_fd_set_cleanup(scratch)
        scratch.deallocate()
    }

    /// The I/O thread's body: library set-up, then the loop until shutdown.
    static func runThread(engine: SNMPEngine, persistentDirectory: String) {
        SNMPLibrary.initialize(persistentDirectory: persistentDirectory)
        IOLoop(engine: engine).run()
    }

    func run() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: the agent cannot run without file descriptors")
        _ = np_epoll_watch(epoll, engine.wakeDescriptor)
        let capacity = 256
        let ready = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        defer {
            ready.deallocate()
            close(epoll)
        }
        while true {
            engine.beat()
            let inbox = engine.takeInbox()
            for target in inbox.closed { closeSession(target) }
            for operation in inbox.operations { start(operation) }
            if inbox.stopping {
                stopping = true
                for target in Array(sessions.keys) { closeSession(target) }
                handBackFinished()
                break
            }
            runDueTimers()
            if finished.isDue(now: SNMPEngine.monotonicNanos()) { handBackFinished() }
            // Sleep until the next timer (at most a second, the heartbeat `/health` reads: stale at 5 s), unless work
            // arrived meanwhile. Nothing in flight: no timer to run and nothing that could stall, so the loop parks
            // until work arrives on the wake pipe (between polls the I/O thread does not wake at all; `/health`
            // counts a parked loop as alive).
            var waitMillis: Int32 = -1
            var next = timers.earliest
            if let due = finished.deadline { next = min(next ?? .max, due) }
            if let next {
                let left = (next - SNMPEngine.monotonicNanos() + 999_999) / 1_000_000
                waitMillis = Int32(clamping: max(0, min(Int64(Self.heartbeatMillis), left)))
            }
            if waitMillis != 0, !engine.prepareToSleep() { waitMillis = 0 }
            if waitMillis < 0 { engine.park(true) }
            let count = np_epoll_wait(epoll, ready, Int32(capacity), waitMillis)
            if waitMillis < 0 { engine.park(false) }
            for i in 0..<max(0, Int(count)) {
                let fd = ready[i]
                if fd == engine.wakeDescriptor {
                    engine.drainWakePipe()
                } else if fd >= 0, fd < byDescriptor.count, let session = byDescriptor[Int(fd)] {
                    read(session)
                }
            }
        }
        engine.loopFinished()
    }

    /// One datagram waits on the session's socket.
    private func read(_ session: Session) {
        let delivered = session.delivered
        if session.duplicate { swapInTime(session) }
        np_sess_read_one(session.handle, session.socket, scratch)
        if session.duplicate { captureTime(session) }
        // One datagram read and no answer delivered: net-snmp dropped it (not SNMP, another version, a wrong request
        // id). Counted against what waits on this session. (SNMPv3 Reports are delivered to the operation by the
        // callback, so they count as delivered.)
        if session.delivered == delivered {
            for operation in session.pending.values { operation.unusableAnswers += 1 }
        }
    }

    /// net-snmp's timeout pass for each session whose timer is due: it resends (retries) or ends the request.
    private func runDueTimers() {
        guard timers.earliest != nil else { return }
        let now = SNMPEngine.monotonicNanos()
        while let entry = timers.popDue(now: now) {
            guard entry.fd >= 0, Int(entry.fd) < byDescriptor.count, let session = byDescriptor[Int(entry.fd)],
                session.timerGeneration == entry.generation
            else { continue }
            session.timerGeneration = 0
            if session.duplicate { swapInTime(session) }
            snmp_sess_timeout(session.handle)
            rearm(session)
        }
    }

    /// A poll finished: its result crosses back to the async side with those of the other polls of its batch
    /// (`HandBackBatch`). The poll's duration ends at its last answer (`PlanResult.answeredAt`), not here.
    func handBack(_ result: @escaping () -> Void) {
        finished.finished(result, now: SNMPEngine.monotonicNanos())
    }

    private func handBackFinished() {
        let results = finished.take()
        guard !results.isEmpty else { return }
        counters.handBack()
        for result in results { result() }
    }

    /// After a timeout pass: the session's next expiry as net-snmp keeps it (a resent request), if none is set yet.
    private func rearm(_ session: Session) {
        guard !session.closed, session.timerGeneration == 0, !session.pending.isEmpty else { return }
        let micros = np_sess_next_timeout_us(session.handle, scratch)
        guard micros >= 0 else { return }
        session.timerGeneration = timers.schedule(
            fd: session.socket, at: SNMPEngine.monotonicNanos() + Int64(micros) * 1000 + Self.timerSlack)
    }

    func start(_ operation: Operation) {
        operation.loop = self
        if operation is PlanOperation { finished.started() }
        openError = nil
        guard let session = session(for: operation.target) else {
            operation.fail(
                openError ?? PollError(.sessionFailed, "cannot open an SNMP session to \(operation.target.peer)"))
            return
        }
        touch(session)
        if session.isV3 && session.engineID == nil && !(operation is EngineProbeOperation) {
            // The engine ID first, as an ordinary asynchronous request: a dead device delays only itself.
            session.waiting.append(operation)
            if !session.discovering {
                session.discovering = true
                let discovery = DiscoveryOperation(target: session.target, session: session)
                discovery.loop = self
                counters.discovery()
                discovery.start(session: session)
            }
            return
        }
        operation.start(session: session)
    }

    private func session(for target: SNMPTarget) -> Session? {
        if let session = sessions[target] { return session }
        if sessions.count >= engine.maxSessions && !evictIdleSession() {
            openError = PollError(
                .sessionFailed,
                "cannot open an SNMP session to \(target.peer): \(engine.maxSessions) sessions are open and busy "
                    + "(the cap comes from the open-file limit; raise LimitNOFILE)")
            return nil
        }
        let timeoutMicros = Int(target.timeout.nanoseconds / 1000)
        let handle: UnsafeMutableRawPointer?
        var known: [UInt8]?
        var seed: EngineCache.Entry?
        if let usm = target.usm {
            if let fixed = usm.engineID {
                known = fixed
            } else if let entry = engine.engines.entry(target.peer), let id = EngineCache.bytes(hex: entry.engineID) {
                known = id
                seed = entry
            }
            handle = openV3(target, usm: usm, timeoutMicros: timeoutMicros)
        } else {
            handle = target.peer.withCString { peer in
                Array(target.community.utf8).withUnsafeBufferPointer { community in
                    np_snmp_open(
                        peer, target.version.rawValue, community.baseAddress, community.count, timeoutMicros,
                        Int32(target.retries), snmpCallback, nil, varbinds)
                }
            }
        }
        guard let handle else { return nil }
        let session = Session(target: target, handle: handle)
        guard session.socket >= 0, np_epoll_watch(epoll, session.socket) == 0 else {
            snmp_sess_close(handle)
            openError = PollError(.sessionFailed, "cannot watch the SNMP socket to \(target.peer)")
            return nil
        }
        let fd = Int(session.socket)
        if fd >= byDescriptor.count {
            byDescriptor.append(
                contentsOf: repeatElement(nil, count: max(fd + 1, byDescriptor.count * 2) - byDescriptor.count))
        }
        byDescriptor[fd] = session
        sessions[target] = session
        if let known {
            if let conflict = adopt(session, engineID: known) {
                closeSession(target)
                openError = conflict
                return nil
            }
            if let seed, seed.boots > 0 || seed.time > 0 {
                // Known boots and time: the first authenticated request is in the time window without a round-trip.
                var boots: UInt32 = 0
                var time: UInt32 = 0
                if np_engine_time(known, known.count, &boots, &time) != 0 || (boots == 0 && time == 0) {
                    np_set_engine_time(known, known.count, seed.boots, seed.timeNow(Date().timeIntervalSince1970))
                }
            }
        }
        return session
    }

    /// Opens a v3 session without engine-ID probe; the keys come from the Ku cache.
    private func openV3(_ target: SNMPTarget, usm: USMCredential, timeoutMicros: Int) -> UnsafeMutableRawPointer? {
        let authType = usm.authProtocol.map { usm_lookup_auth_type(USMNames.auth($0)) } ?? 0
        let privType = usm.privProtocol.map { usm_lookup_priv_type(USMNames.priv($0)) } ?? 0
        let level: Int32 =
            switch usm.level {
            case .noAuthNoPriv: Int32(SNMP_SEC_LEVEL_NOAUTH)
            case .authNoPriv: Int32(SNMP_SEC_LEVEL_AUTHNOPRIV)
            case .authPriv: Int32(SNMP_SEC_LEVEL_AUTHPRIV)
            }
        let authKu = usm.authPassword.map { key(authType: authType, password: $0.value) } ?? []
        let privKu = usm.privPassword.map { key(authType: authType, password: $0.value) } ?? []
        if usm.level != .noAuthNoPriv && authKu.isEmpty { return nil }
        if usm.level == .authPriv && privKu.isEmpty { return nil }
        return target.peer.withCString { peer in
            usm.username.withCString { user in
                usm.contextName.withCString { context in
                    np_snmp_open_v3(
                        peer, timeoutMicros, Int32(target.retries), snmpCallback, user, level, authType, privType,
                        context, authKu, authKu.count, privKu, privKu.count, nil, 0)
                }
            }
        }
    }

    private func key(authType: Int32, password: String) -> [UInt8] {
        let cacheKey = "\(authType)\u{0}\(password)"
        if let cached = keys[cacheKey] { return cached }
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = np_generate_ku(authType, password, &buffer, buffer.count)
        let ku = Array(buffer.prefix(length))
        if !ku.isEmpty { keys[cacheKey] = ku }
        return ku
    }

    /// The session talks to this engine from now on: net-snmp's USM user for (engine, user) gets this credential's
    /// keys, localized once (a user whose credential changed is replaced).
    ///
    /// net-snmp keeps ONE key per (engine, user): a second credential with the same user name but other protocols or
    /// passwords for the same engine cannot be used while the first is; that is returned as an error (the first wins).
    @discardableResult
    private func adopt(_ session: Session, engineID: [UInt8]) -> PollError? {
        guard let usm = session.target.usm else { return nil }
        let hex = EngineCache.hex(engineID)
        if let old = session.engineID { leaveEngine(session, hex: EngineCache.hex(old)) }
        let userKey = "\(hex)\u{0}\(usm.username)"
        var replace = false
        if let existing = users[userKey], existing.usm != usm {
            if !existing.sessions.subtracting([ObjectIdentifier(session)]).isEmpty {
                return PollError(
                    .sessionFailed,
                    "SNMPv3 user \(usm.username) on engine \(hex) is already in use with other protocols or passwords "
                        + "by another device; one engine holds one key per user (use one credential for both)")
            }
            replace = true
        }
        var entry = users[userKey] ?? (usm, [])
        entry.usm = usm
        entry.sessions.insert(ObjectIdentifier(session))
        users[userKey] = entry
        _ = np_usm_set_engine(session.handle, engineID, engineID.count, replace ? 1 : 0)
        session.engineID = engineID
        engineSessions[hex, default: []].append(session)
        // More than one peer behind one engine ID: a duplicate (cloned configs).
        let owners = Set((engineSessions[hex] ?? []).map(\.target.peer))
        if owners.count > 1 {
            engine.engines.markDuplicates(owners)
            for other in engineSessions[hex] ?? [] where !other.duplicate {
                other.duplicate = true
            }
        }
        return nil
    }

    private func leaveEngine(_ session: Session, hex: String) {
        if let usm = session.target.usm {
            users["\(hex)\u{0}\(usm.username)"]?.sessions.remove(ObjectIdentifier(session))
        }
        engineSessions[hex]?.removeAll { $0 === session }
        if engineSessions[hex]?.isEmpty ?? false { engineSessions[hex] = nil }
    }

    /// The discovery Report arrived: the waiting operations start.
    func engineDiscovered(_ session: Session, engineID: [UInt8]) {
        session.discovering = false
        session.discovered = true
        if let conflict = adopt(session, engineID: engineID) {
            discoveryFailed(session, conflict)
            return
        }
        engine.engines.store(
            session.target.peer,
            EngineCache.Entry(
                engineID: EngineCache.hex(engineID), boots: 0, time: 0, at: Date().timeIntervalSince1970))
        let waiting = session.waiting
        session.waiting.removeAll()
        for operation in waiting { operation.start(session: session) }
    }

    func discoveryFailed(_ session: Session, _ error: PollError) {
        session.discovering = false
        let waiting = session.waiting
        session.waiting.removeAll()
        for operation in waiting { operation.fail(error) }
    }

    /// The engine answered an authenticated request (the first, or after a resynchronisation): keep its boots and
    /// time for the next start.
    func recordEngineTime(_ session: Session) {
        guard let id = session.engineID else { return }
        var boots: UInt32 = 0
        var time: UInt32 = 0
        guard np_engine_time(id, id.count, &boots, &time) == 0 else { return }
        engine.engines.store(
            session.target.peer,
            EngineCache.Entry(engineID: EngineCache.hex(id), boots: boots, time: time, at: Date().timeIntervalSince1970)
        )
    }

    /// A timeout on a v3 session that never had an authenticated answer: discover the engine again before the next
    /// request (a cached engine ID may be stale, and a discovery that answers tells a key problem from a dead device).
    func noteTimeout(_ session: Session) {
        guard session.isV3, session.authenticatedAnswers == 0, !session.discovered, session.target.usm?.engineID == nil,
            let id = session.engineID
        else { return }
        leaveEngine(session, hex: EngineCache.hex(id))
        session.engineID = nil
    }

    /// An engine whose ID was not the one used: discover it again on the next request.
    func engineChanged(_ session: Session) {
        guard session.target.usm?.engineID == nil, let id = session.engineID else { return }
        leaveEngine(session, hex: EngineCache.hex(id))
        session.engineID = nil
        session.discovered = false
        engine.engines.forget(session.target.peer)
    }

    /// Sessions sharing an engine ID each keep their own boots and time: net-snmp keeps one record per engine, so it
    /// holds this session's values while its messages are built or checked.
    private func swapInTime(_ session: Session) {
        guard let id = session.engineID else { return }
        if let own = session.ownTime {
            let elapsed = UInt32(max(0, (SNMPEngine.monotonicNanos() - own.at) / 1_000_000_000))
            np_set_engine_time(id, id.count, own.boots, own.time &+ elapsed)
        } else {
            np_set_engine_time(id, id.count, 0, 0)
        }
    }

    private func captureTime(_ session: Session) {
        guard let id = session.engineID else { return }
        var boots: UInt32 = 0
        var time: UInt32 = 0
        if np_engine_time(id, id.count, &boots, &time) == 0, boots != 0 || time != 0 {
            session.ownTime = (boots, time, SNMPEngine.monotonicNanos())
        }
    }

    /// A Report for one of this session's requests. notInTimeWindow, the first time for an operation: net-snmp resends
    /// the request once with the boots and time the (authenticated) Report carried. Anything else ends the operation.
    static func report(
        _ pdu: UnsafeMutablePointer<netsnmp_pdu>, requestID: Int32, raw: UnsafeMutablePointer<netsnmp_session>?,
        session: Session
    ) {
        // A Report to a request the agent could not read may carry no request id (0): with one request in flight on the
        // session (the poller's rule per device), it is that one. A Report for a request already answered (net-snmp
        // delivers a discovery Report twice) is ignored.
        var key = requestID
        if key == 0, session.pending.count == 1, let only = session.pending.keys.first { key = only }
        guard let op = session.pending[key] else {
            np_session_set_report_error(raw, 0)
            return
        }
        session.delivered += 1
        let type = snmpv3_get_report_type(pdu)
        if type == Int32(NP_SNMPERR_NOT_IN_TIME_WINDOW), !(op is DiscoveryOperation), !op.resynced {
            op.resynced = true
            op.loop?.counters.timeSync()
            np_session_set_report_error(raw, Int32(NP_SNMPERR_NOT_IN_TIME_WINDOW))
            if session.duplicate { op.loop?.captureTime(session) }
            return
        }
        np_session_set_report_error(raw, 0)
        session.pending.removeValue(forKey: key)
        op.loop?.sessionBecameIdleIfNeeded(session)
        if type == Int32(NP_SNMPERR_UNKNOWN_ENG_ID), !(op is DiscoveryOperation) { op.loop?.engineChanged(session) }
        op.report(type, pdu: pdu, session: session)
    }

    /// Moves a session to the newest end of the LRU list.
    private func touch(_ session: Session) {
        guard newest !== session else { return }
        unlink(session)
        session.older = newest
        newest?.newer = session
        newest = session
        if oldest == nil { oldest = session }
    }

    private func unlink(_ session: Session) {
        let older = session.older
        let newer = session.newer
        if let older { older.newer = newer } else if oldest === session { oldest = newer }
        if let newer { newer.older = older } else if newest === session { newest = older }
        session.older = nil
        session.newer = nil
    }

    /// Closes the least recently used session with nothing in flight (looking at the 64 oldest): false if none is idle.
    private func evictIdleSession() -> Bool {
        var candidate = oldest
        var looked = 0
        while let session = candidate, looked < 64 {
            if session.pending.isEmpty && session.waiting.isEmpty && !session.discovering {
                closeSession(session.target)
                engine.counters.sessionEvicted()
                return true
            }
            candidate = session.newer
            looked += 1
        }
        return false
    }

    private func closeSession(_ target: SNMPTarget) {
        guard let session = sessions.removeValue(forKey: target) else { return }
        unlink(session)
        if let id = session.engineID { leaveEngine(session, hex: EngineCache.hex(id)) }
        for operation in session.waiting { operation.fail(PollError(.cancelled, "the session was closed")) }
        session.waiting.removeAll()
        session.closed = true
        session.timerGeneration = 0
        _ = np_epoll_unwatch(epoll, session.socket)
        byDescriptor[Int(session.socket)] = nil
        // Closing fires timed-out callbacks for pending requests: the session object is still retained here.
        snmp_sess_close(session.handle)
        for (_, operation) in session.pending {
            operation.fail(PollError(.cancelled, "the session was closed"))
        }
        session.pending.removeAll()
        sessionBecameIdleIfNeeded(session)
    }

    /// Sends `pdu` for `operation`; frees the PDU if net-snmp did not take it.
    func send(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, for operation: Operation, on session: Session) -> Bool {
        if session.duplicate { swapInTime(session) }
        let requestID = snmp_sess_async_send(
            session.handle, pdu, snmpCallback, Unmanaged.passUnretained(session).toOpaque())
        guard requestID != 0 else {
            snmp_free_pdu(pdu)
            return false
        }
        session.pending[requestID] = operation
        if session.timerGeneration == 0 {
            // Every request of a session has the same timeout: the first one in flight sets the timer.
            session.timerGeneration = timers.schedule(
                fd: session.socket,
                at: SNMPEngine.monotonicNanos() + Int64(session.target.timeout.nanoseconds) + Self.timerSlack)
        }
        counters.requestSent()
        return true
    }

    /// Nothing in flight any more: its timer entry goes stale (dropped when it reaches the heap's top).
    func sessionBecameIdleIfNeeded(_ session: Session) {
        guard session.pending.isEmpty else { return }
        session.timerGeneration = 0
        // An idle session holds no table storage (about 130 bytes per device between polls, kept for the whole
        // interval); the next request allocates it again.
        if session.pending.capacity > 0 { session.pending = [:] }
    }
}

/// One-time library set-up, on the I/O thread before any session.
enum SNMPLibrary {
    static func initialize(persistentDirectory: String) {
        // Pre-create what init_snmp would otherwise create (and announce on stderr), inside our own directory.
        mkdir(persistentDirectory, 0o700)
        mkdir(persistentDirectory + "/cert_indexes", 0o700)
        setenv("SNMP_PERSISTENT_DIR", persistentDirectory, 1)
        netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, persistentDirectory)
        setenv("MIBS", "", 1)
        setenv("MIBDIRS", "", 1)
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1)
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1)
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1)
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1)
        netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0)
        snmp_disable_log()
        init_snmp("netpoller")
    }
}
