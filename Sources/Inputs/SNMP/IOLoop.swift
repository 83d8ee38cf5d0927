import CNetSNMP
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
    /// Position in `IOLoop.active`, or -1.
    var activeIndex = -1
    /// Answers delivered to an operation (counted by the callback): a read that delivers none was unusable.
    var delivered = 0

    init(target: SNMPTarget, handle: UnsafeMutableRawPointer) {
        self.target = target
        self.handle = handle
        self.socket = np_sess_socket(handle)
    }
}

/// The C callback for every answer, timeout and send failure. `magic` is the unretained `Session`.
private let snmpCallback: netsnmp_callback = { operation, _, requestID, pdu, magic in
    guard let magic else { return 1 }
    let session = Unmanaged<Session>.fromOpaque(magic).takeUnretainedValue()
    switch operation {
    case NETSNMP_CALLBACK_OP_RESEND:
        // Informational: net-snmp is retrying after a timeout.
        return 1
    case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
        guard let op = session.pending.removeValue(forKey: requestID) else { return 1 }
        session.delivered += 1
        op.loop?.sessionBecameIdleIfNeeded(session)
        if let pdu {
            op.received(pdu, session: session)
        } else {
            op.fail(PollError(.badResponse, "empty answer"))
        }
    default:
        guard let op = session.pending.removeValue(forKey: requestID) else { return 1 }
        op.loop?.sessionBecameIdleIfNeeded(session)
        op.timedOut(session: session, sendFailed: operation == NETSNMP_CALLBACK_OP_SEND_FAILED)
    }
    return 1
}

/// The poll loop. Lives and dies on the engine's I/O thread.
final class IOLoop {
    unowned let engine: SNMPEngine
    private var sessions: [SNMPTarget: Session] = [:]
    /// Sessions with requests in flight: the only ones the loop selects on.
    private var active: [Session] = []
    private(set) var stopping = false
    var counters: EngineCounters { engine.counters }

    init(engine: SNMPEngine) {
        self.engine = engine
    }

    /// The I/O thread's body: library set-up, then the loop until shutdown.
    static func runThread(engine: SNMPEngine, persistentDirectory: String) {
        SNMPLibrary.initialize(persistentDirectory: persistentDirectory)
        IOLoop(engine: engine).run()
    }

    func run() {
        let fdset = UnsafeMutablePointer<netsnmp_large_fd_set>.allocate(capacity: 1)
        netsnmp_large_fd_set_init(fdset, Int32(FD_SETSIZE))
        defer {
            netsnmp_large_fd_set_cleanup(fdset)
            fdset.deallocate()
        }
        var timeoutDeadline: Int64 = .max
        while true {
            engine.beat()
            let inbox = engine.takeInbox()
            for target in inbox.closed { closeSession(target) }
            for operation in inbox.operations { start(operation) }
            if inbox.stopping {
                stopping = true
                for target in Array(sessions.keys) { closeSession(target) }
                break
            }

            np_large_fd_zero(fdset)
            var numfds = engine.wakeDescriptor + 1
            netsnmp_large_fd_setfd(engine.wakeDescriptor, fdset)
            var tv = timeval(tv_sec: 0, tv_usec: 250_000)
            var block: Int32 = 1
            for session in active {
                snmp_sess_select_info2(session.handle, &numfds, fdset, &tv, &block)
            }
            if block == 0 {
                let now = SNMPEngine.monotonicNanos()
                timeoutDeadline = now + Int64(tv.tv_sec) * 1_000_000_000 + Int64(tv.tv_usec) * 1000
                if tv.tv_sec > 0 || tv.tv_usec > 250_000 { tv = timeval(tv_sec: 0, tv_usec: 250_000) }
            }
            let ready = netsnmp_large_fd_set_select(numfds, fdset, nil, nil, &tv)
            if ready > 0 {
                if netsnmp_large_fd_is_set(engine.wakeDescriptor, fdset) != 0 { engine.drainWakePipe() }
                // Reading may fire callbacks that change `active`: iterate over a snapshot.
                for session in active where session.socket >= 0 && netsnmp_large_fd_is_set(session.socket, fdset) != 0 {
                    let delivered = session.delivered
                    snmp_sess_read2(session.handle, fdset)
                    // One datagram read and no answer delivered: net-snmp dropped it (not SNMP, another version, a
                    // wrong request id). Counted against what waits on this session. (SNMPv3 engine discovery, which
                    // net-snmp answers inside the library, will need to be told apart here.)
                    if session.delivered == delivered {
                        for operation in session.pending.values { operation.unusableAnswers += 1 }
                    }
                }
            }
            if SNMPEngine.monotonicNanos() >= timeoutDeadline {
                timeoutDeadline = .max
                for session in active { snmp_sess_timeout(session.handle) }
            }
        }
        engine.loopFinished()
    }

    private func start(_ operation: Operation) {
        operation.loop = self
        guard let session = session(for: operation.target) else {
            operation.fail(PollError(.sessionFailed, "cannot open an SNMP session to \(operation.target.peer)"))
            return
        }
        operation.start(session: session)
    }

    private func session(for target: SNMPTarget) -> Session? {
        if let session = sessions[target] { return session }
        let timeoutMicros = Int(target.timeout.nanoseconds / 1000)
        let handle = target.peer.withCString { peer in
            Array(target.community.utf8).withUnsafeBufferPointer { community in
                np_snmp_open(
                    peer, target.version.rawValue, community.baseAddress, community.count, timeoutMicros,
                    Int32(target.retries), snmpCallback, nil)
            }
        }
        guard let handle else { return nil }
        let session = Session(target: target, handle: handle)
        sessions[target] = session
        return session
    }

    private func closeSession(_ target: SNMPTarget) {
        guard let session = sessions.removeValue(forKey: target) else { return }
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
        let requestID = snmp_sess_async_send(
            session.handle, pdu, snmpCallback, Unmanaged.passUnretained(session).toOpaque())
        guard requestID != 0 else {
            snmp_free_pdu(pdu)
            return false
        }
        session.pending[requestID] = operation
        if session.activeIndex < 0 {
            session.activeIndex = active.count
            active.append(session)
        }
        counters.requestSent()
        return true
    }

    func sessionBecameIdleIfNeeded(_ session: Session) {
        guard session.pending.isEmpty, session.activeIndex >= 0 else { return }
        let index = session.activeIndex
        let last = active.removeLast()
        if index < active.count {
            active[index] = last
            last.activeIndex = index
        }
        session.activeIndex = -1
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
