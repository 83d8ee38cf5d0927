import CNetSNMP
import NetPollerCore

/// One GET or walk in progress.
///
/// Safe to send: it crosses from the caller to the I/O thread once, through the engine's locked inbox, and from then
/// on only the I/O thread touches its state; `finish` hands the result back through a continuation exactly once.
class Operation: @unchecked Sendable {
    let target: SNMPTarget
    weak var loop: IOLoop?
    /// Datagrams that came while this waited and could not be used (garbage, a wrong request id): a timeout after any
    /// is `bad_response`, not `timeout`.
    var unusableAnswers = 0
    /// SNMPv3: a notInTimeWindow Report was answered by one resynchronisation (a second one ends the operation).
    var resynced = false
    /// SNMPv3: after a first timeout, the engine time was forgotten and the request sent once more.
    var retriedAfterTimeReset = false

    init(target: SNMPTarget) { self.target = target }

    func start(session: Session) {}
    func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {}
    func timedOut(session: Session, sendFailed: Bool) {}
    func fail(_ error: PollError) {}

    /// An SNMPv3 Report (the agent refused the request): the error it names.
    func report(_ type: Int32, pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        fail(USMReport.error(type, target: target, ours: false))
    }

    /// Sends the request in flight once more; false if there is none.
    func retryCurrent(session: Session) -> Bool { false }

    /// A timeout's error, decided after one engine discovery when it is ambiguous: an SNMPv3 session that never got an
    /// answer, with an engine ID from the cache (authPriv) or from the config. If the discovery is answered, the
    /// device is alive: it drops what it cannot decrypt (a privacy mismatch), or its engine ID is not the configured
    /// one.
    func timeoutVerdict(session: Session, sendFailed: Bool, _ done: @escaping (PollError) -> Void) {
        // A session that never got an answer may hold an engine time far off (a stale cache, a clock jump): the
        // agent's notInTimeWindow Report then looks too old to accept. Forget the time and send once more: the
        // agent's Report resynchronises it (RFC 3414 4).
        if !sendFailed, session.isV3, session.authenticatedAnswers == 0, !retriedAfterTimeReset,
            let id = session.engineID, loop?.stopping == false
        {
            retriedAfterTimeReset = true
            np_set_engine_time(id, id.count, 0, 0)
            session.ownTime = nil
            if retryCurrent(session: session) { return }
        }
        let fixed = session.target.usm?.engineID
        let ambiguous =
            !sendFailed && session.isV3 && session.authenticatedAnswers == 0 && !session.discovering
            && loop?.stopping == false
            && (fixed != nil || (session.target.usm?.level == .authPriv && !session.discovered && unusableAnswers == 0))
        guard ambiguous, let loop else {
            done(timeoutError(sendFailed: sendFailed, session: session))
            return
        }
        let error = timeoutError(sendFailed: sendFailed, session: session)
        guard error.code == .timeout || error.code == .privacyMismatch || error.code == .badResponse else {
            done(error)
            return
        }
        if fixed == nil { session.discovering = true }
        let probe = DiscoveryOperation(target: target, session: session, adopt: fixed == nil) { [self] result in
            switch result {
            case .success(let found):
                if let fixed, found != fixed {
                    done(
                        PollError(
                            .unknownEngineID,
                            "\(target.peer) has engine ID \(EngineCache.hex(found)), not the configured engine_id "
                                + EngineCache.hex(fixed)))
                } else {
                    // The same timeout, judged again now that the device is known alive (counted once).
                    session.discovered = true
                    done(timeoutError(sendFailed: false, session: session, counted: true))
                }
            case .failure: done(error)
            }
        }
        probe.loop = loop
        loop.counters.discovery()
        probe.start(session: session)
    }

    /// `counted`: this timeout is already in `netpoller_snmp_timeouts_total`.
    func timeoutError(sendFailed: Bool, session: Session? = nil, counted: Bool = false) -> PollError {
        if loop?.stopping == true { return PollError(.cancelled, "abandoned at shutdown") }
        if sendFailed { return PollError(.sendFailed, "could not send to \(target.peer)") }
        if let session, let usm = session.target.usm {
            defer { loop?.noteTimeout(session) }
            // Alive (it answered discovery, or sent something this side could not use) but never a usable answer to
            // an encrypted request: a device silently drops what it cannot decrypt.
            if usm.level == .authPriv, session.authenticatedAnswers == 0, session.discovered || unusableAnswers > 0 {
                let hint =
                    switch usm.privProtocol {
                    case .aes192, .aes256: " (AES192/AES256 here; Cisco devices usually need AES192C/AES256C)"
                    case .aes192c, .aes256c: " (AES192C/AES256C here; most non-Cisco devices need AES192/AES256)"
                    default: ""
                    }
                return PollError(
                    .privacyMismatch,
                    "\(target.peer) answers but not to encrypted requests: likely a privacy protocol or priv_password "
                        + "mismatch for user \(usm.username)\(hint)")
            }
        }
        if unusableAnswers > 0 {
            return PollError(
                .badResponse,
                "\(unusableAnswers) answer\(unusableAnswers == 1 ? "" : "s") from \(target.peer) could not be used "
                    + "(not SNMP, or not an answer to the request sent)")
        }
        if !counted { loop?.counters.timeout() }
        return PollError(.timeout, "no answer from \(target.peer) after \(target.retries + 1) tries")
    }
}

/// SNMPv3 engine-ID discovery (RFC 3414 4): an empty unauthenticated GET whose Report carries the engine ID. Owned
/// by the I/O loop, which starts the operations that waited for it.
final class DiscoveryOperation: Operation, @unchecked Sendable {
    private unowned let session: Session
    private var done = false
    /// Whether the session takes the engine ID found (false: only `then` learns it).
    private let adopt: Bool
    /// Called after the loop has taken the result (a timeout's verdict waits for it).
    private let then: ((Result<[UInt8], PollError>) -> Void)?

    init(
        target: SNMPTarget, session: Session, adopt: Bool = true,
        then: ((Result<[UInt8], PollError>) -> Void)? = nil
    ) {
        self.session = session
        self.adopt = adopt
        self.then = then
        super.init(target: target)
    }

    override func start(session: Session) {
        guard let pdu = np_discovery_pdu() else {
            fail(PollError(.sendFailed, "out of memory"))
            return
        }
        guard let loop, loop.send(pdu, for: self, on: session) else {
            fail(PollError(.sendFailed, "could not send to \(target.peer)"))
            return
        }
    }

    override func report(_ type: Int32, pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        received(pdu, session: session)
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = np_pdu_engine_id(pdu, &buffer, buffer.count)
        guard length > 0 else {
            fail(PollError(.badResponse, "the answer to SNMPv3 engine discovery from \(target.peer) has no engine ID"))
            return
        }
        guard !done else { return }
        done = true
        let engineID = Array(buffer.prefix(length))
        if adopt { loop?.engineDiscovered(session, engineID: engineID) }
        then?(.success(engineID))
    }

    override func timedOut(session: Session, sendFailed: Bool) {
        var error = timeoutError(sendFailed: sendFailed)
        if error.code == .timeout { error.message = "no answer to SNMPv3 engine discovery: " + error.message }
        fail(error)
    }

    override func fail(_ error: PollError) {
        guard !done else { return }
        done = true
        if adopt { loop?.discoveryFailed(session, error) }
        then?(.failure(error))
    }
}

/// net-snmp's names of the USM protocols (also snmpd's, in `createUser`).
public enum USMNames {
    public static func auth(_ p: USMCredential.AuthProtocol) -> String {
        switch p {
        case .md5: "MD5"
        case .sha: "SHA"
        case .sha224: "SHA-224"
        case .sha256: "SHA-256"
        case .sha384: "SHA-384"
        case .sha512: "SHA-512"
        }
    }

    public static func priv(_ p: USMCredential.PrivProtocol) -> String {
        switch p {
        case .des: "DES"
        case .aes: "AES"
        case .aes192: "AES-192"
        case .aes256: "AES-256"
        case .aes192c: "AES-192-C"
        case .aes256c: "AES-256-C"
        }
    }
}

enum USMReport {
    /// The error a Report type (`snmpv3_get_report_type`) or a local USM failure stands for. Names the user, never a
    /// password.
    static func error(_ type: Int32, target: SNMPTarget, ours: Bool) -> PollError {
        let user = target.usm?.username ?? ""
        let peer = target.peer
        switch type {
        case Int32(NP_SNMPERR_UNKNOWN_USER_NAME), Int32(SNMPERR_USM_UNKNOWNSECURITYNAME):
            return PollError(.unknownUser, "\(peer) does not know SNMPv3 user \(user) (usmStatsUnknownUserNames)")
        case Int32(NP_SNMPERR_UNKNOWN_ENG_ID), Int32(SNMPERR_USM_UNKNOWNENGINEID):
            let fixed = target.usm?.engineID != nil
            return PollError(
                .unknownEngineID,
                "\(peer) has another engine ID than the one used (usmStatsUnknownEngineIDs)"
                    + (fixed ? "; check engine_id" : "; it is discovered again on the next poll"))
        case Int32(NP_SNMPERR_AUTHENTICATION_FAILURE), Int32(SNMPERR_USM_AUTHENTICATIONFAILURE):
            return PollError(
                .wrongDigest,
                ours
                    ? "the answer from \(peer) failed authentication with user \(user)'s key"
                    : "\(peer) rejected the digest of user \(user): wrong auth_password or auth_protocol "
                        + "(usmStatsWrongDigests)")
        case Int32(NP_SNMPERR_DECRYPTION_ERR), Int32(SNMPERR_USM_DECRYPTIONERROR):
            return PollError(
                .decryptionError,
                "\(peer) could not decrypt the request of user \(user): wrong priv_password or priv_protocol "
                    + "(usmStatsDecryptionErrors)")
        case Int32(NP_SNMPERR_NOT_IN_TIME_WINDOW), Int32(SNMPERR_USM_NOTINTIMEWINDOW):
            return PollError(
                .notInTimeWindow,
                "\(peer) still reports notInTimeWindow after one resynchronisation (usmStatsNotInTimeWindows)")
        case Int32(NP_SNMPERR_UNSUPPORTED_SEC_LEVEL), Int32(SNMPERR_USM_UNSUPPORTEDSECURITYLEVEL):
            return PollError(
                .unsupportedSecurityLevel,
                "\(peer) does not accept security_level \(target.usm?.level.rawValue ?? "") for user \(user) "
                    + "(usmStatsUnsupportedSecLevels)")
        default:
            return PollError(.badResponse, "\(peer) answered with an SNMPv3 Report (\(type))")
        }
    }
}

/// The status of an answer PDU, for the request machines.
func answerStatus(_ pdu: UnsafeMutablePointer<netsnmp_pdu>) -> AnswerStatus {
    let status = Int(pdu.pointee.errstat)
    let index = Int(pdu.pointee.errindex)
    switch status {
    case Int(SNMP_ERR_NOERROR): return .noError
    case Int(SNMP_ERR_TOOBIG): return .tooBig
    case Int(SNMP_ERR_NOSUCHNAME): return .noSuchName(index: index)
    default: return .other(status: status, index: index)
    }
}

/// A GET on the wire: `GetMachine` decides, this class builds and reads the PDUs.
final class GetOperation: Operation, @unchecked Sendable {
    private let oids: [OID]
    private var machine: GetMachine
    private var completion: ((Result<GetResult, PollError>) -> Void)?

    init(target: SNMPTarget, oids: [OID], maxPerPDU: Int, completion: @escaping (Result<GetResult, PollError>) -> Void)
    {
        self.oids = oids
        self.machine = GetMachine(count: oids.count, maxPerPDU: maxPerPDU)
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) { perform(machine.start(), session) }

    private func perform(_ action: GetMachine.Action, _ session: Session) {
        switch action {
        case .finish: finish(.success(machine.result))
        case .fail(let error): finish(.failure(error))
        case .send(let positions):
            guard let pdu = snmp_pdu_create(Int32(NP_SNMP_MSG_GET)) else {
                finish(.failure(PollError(.sendFailed, "out of memory")))
                return
            }
            for position in positions {
                let oid = oids[position].components.map { CNetSNMP.oid($0) }
                _ = oid.withUnsafeBufferPointer { snmp_add_null_var(pdu, $0.baseAddress, $0.count) }
            }
            guard let loop, loop.send(pdu, for: self, on: session) else {
                finish(.failure(PollError(.sendFailed, "could not send to \(target.peer)")))
                return
            }
        }
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        let status = answerStatus(pdu)
        var values: [SNMPValue] = []
        if status == .noError {
            var variable = pdu.pointee.variables
            while let vb = variable {
                values.append(decodeValue(vb))
                variable = vb.pointee.next_variable
            }
            loop?.counters.varbinds(values.count)
        } else if status == .tooBig {
            loop?.counters.tooBig()
        }
        perform(machine.received(status, values: values), session)
    }

    override func timedOut(session: Session, sendFailed: Bool) {
        timeoutVerdict(session: session, sendFailed: sendFailed) { [self] in finish(.failure($0)) }
    }

    override func retryCurrent(session: Session) -> Bool {
        perform(machine.retry(), session)
        return true
    }

    override func fail(_ error: PollError) { finish(.failure(error)) }

    private func finish(_ result: Result<GetResult, PollError>) {
        completion?(result)
        completion = nil
    }
}

/// A walk on the wire: `WalkMachine` decides, this class builds the PDUs and feeds it each varbind straight from
/// net-snmp's memory (no OID is copied unless it is kept).
final class WalkOperation: Operation, @unchecked Sendable {
    private var machine: WalkMachine
    private var request: [oid] = []
    private var completion: ((WalkResult) -> Void)?
    private let deadline: ContinuousClock.Instant?

    init(target: SNMPTarget, root: OID, limits: WalkLimits, completion: @escaping (WalkResult) -> Void) {
        self.machine = WalkMachine(root: root, version: target.version, limits: limits)
        self.deadline = limits.deadline
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) { perform(machine.start(), session) }

    private func perform(_ action: WalkMachine.Action, _ session: Session) {
        guard case .send(let from, let maxRepetitions, let bulk) = action else {
            finish()
            return
        }
        if let deadline, ContinuousClock.now >= deadline {
            machine.budgetExhausted()
            finish()
            return
        }
        guard let pdu = snmp_pdu_create(Int32(bulk ? NP_SNMP_MSG_GETBULK : NP_SNMP_MSG_GETNEXT)) else {
            machine.fail(PollError(.sendFailed, "out of memory"))
            finish()
            return
        }
        request.removeAll(keepingCapacity: true)
        request.append(contentsOf: from.lazy.map { oid($0) })
        _ = request.withUnsafeBufferPointer { snmp_add_null_var(pdu, $0.baseAddress, $0.count) }
        if bulk { np_pdu_set_bulk(pdu, 0, maxRepetitions) }
        guard let loop, loop.send(pdu, for: self, on: session) else {
            machine.fail(PollError(.sendFailed, "could not send to \(target.peer)"))
            finish()
            return
        }
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        let status = answerStatus(pdu)
        if status == .tooBig { loop?.counters.tooBig() }
        if let action = machine.answer(status) {
            perform(action, session)
            return
        }
        var variable = pdu.pointee.variables
        var count = 0
        while let vb = variable, count < 1 << 16 {
            count += 1
            variable = vb.pointee.next_variable
        }
        machine.expect(count, firstNameLength: pdu.pointee.variables.map { Int($0.pointee.name_length) } ?? 0)
        variable = pdu.pointee.variables
        var received = 0
        while let vb = variable {
            received += 1
            let name = UnsafeBufferPointer(
                start: vb.pointee.name, count: vb.pointee.name == nil ? 0 : vb.pointee.name_length)
            guard machine.varbind(name: name.lazy.map { UInt32(truncatingIfNeeded: $0) }, value: decodeValue(vb)) else {
                break
            }
            variable = vb.pointee.next_variable
        }
        loop?.counters.varbinds(received)
        perform(machine.endOfAnswer(), session)
    }

    override func timedOut(session: Session, sendFailed: Bool) {
        // A device that answers (this poll's GET came back) but not this GETBULK: smaller, or GETNEXT.
        if !sendFailed, machine.canAdaptToTimeout, loop?.stopping == false,
            !session.isV3 || session.authenticatedAnswers > 0
        {
            loop?.counters.timeout()
            perform(machine.timedOut(), session)
            return
        }
        timeoutVerdict(session: session, sendFailed: sendFailed) { [self] in
            machine.fail($0)
            finish()
        }
    }

    override func retryCurrent(session: Session) -> Bool {
        perform(machine.retry(), session)
        return true
    }

    override func fail(_ error: PollError) {
        machine.fail(error)
        finish()
    }

    private func finish() {
        completion?(machine.result)
        completion = nil
    }
}

/// Copies one varbind's value out of net-snmp's memory.
func decodeValue(_ vb: UnsafeMutablePointer<netsnmp_variable_list>) -> SNMPValue {
    let v = vb.pointee
    switch Int32(v.type) {
    case Int32(ASN_INTEGER):
        return .integer(Int64(v.val.integer.pointee))
    case Int32(NP_ASN_COUNTER):
        return .counter32(UInt32(truncatingIfNeeded: v.val.integer.pointee))
    case Int32(NP_ASN_GAUGE):
        return .gauge32(UInt32(truncatingIfNeeded: v.val.integer.pointee))
    case Int32(NP_ASN_TIMETICKS):
        return .timeticks(UInt32(truncatingIfNeeded: v.val.integer.pointee))
    case Int32(NP_ASN_COUNTER64), Int32(NP_ASN_OPAQUE_COUNTER64), Int32(NP_ASN_OPAQUE_U64):
        let c = v.val.counter64.pointee
        return .counter64(UInt64(c.high & 0xFFFF_FFFF) << 32 | UInt64(c.low & 0xFFFF_FFFF))
    case Int32(ASN_OCTET_STR):
        guard let bytes = v.val.string, v.val_len > 0 else { return .octets([]) }
        return .octets(Array(UnsafeBufferPointer(start: bytes, count: v.val_len)))
    case Int32(NP_ASN_IPADDRESS):
        guard let bytes = v.val.string, v.val_len == 4 else { return .opaque([]) }
        return .ipAddress(bytes[0], bytes[1], bytes[2], bytes[3])
    case Int32(ASN_OBJECT_ID):
        guard let objid = v.val.objid else { return .null }
        let count = v.val_len / MemoryLayout<oid>.size
        return .oid(OID(UnsafeBufferPointer(start: objid, count: count).map { UInt32(truncatingIfNeeded: $0) }))
    case Int32(NP_ASN_OPAQUE_FLOAT):
        return .float(Double(v.val.floatVal.pointee))
    case Int32(NP_ASN_OPAQUE_DOUBLE):
        return .float(v.val.doubleVal.pointee)
    case Int32(NP_ASN_OPAQUE):
        guard let bytes = v.val.string else { return .opaque([]) }
        return .opaque(Array(UnsafeBufferPointer(start: bytes, count: v.val_len)))
    case Int32(NP_SNMP_NOSUCHOBJECT):
        return .noSuchObject
    case Int32(NP_SNMP_NOSUCHINSTANCE):
        return .noSuchInstance
    case Int32(NP_SNMP_ENDOFMIBVIEW):
        return .endOfMibView
    default:
        return .null
    }
}

/// One GETNEXT or GETBULK PDU and its answer, for callers that pace their own requests (discovery): exactly one
/// request per try, the varbinds as they came (OID and value), no walk logic.
final class NextOperation: Operation, @unchecked Sendable {
    private let oids: [OID]
    private let maxRepetitions: Int
    private var completion: ((Result<[(OID, SNMPValue)], PollError>) -> Void)?

    init(
        target: SNMPTarget, oids: [OID], maxRepetitions: Int,
        completion: @escaping (Result<[(OID, SNMPValue)], PollError>) -> Void
    ) {
        self.oids = oids
        self.maxRepetitions = maxRepetitions
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) {
        let bulk = target.version != .v1 && maxRepetitions > 0
        guard let pdu = snmp_pdu_create(Int32(bulk ? NP_SNMP_MSG_GETBULK : NP_SNMP_MSG_GETNEXT)) else {
            finish(.failure(PollError(.sendFailed, "out of memory")))
            return
        }
        for requested in oids {
            let name = requested.components.map { CNetSNMP.oid($0) }
            _ = name.withUnsafeBufferPointer { snmp_add_null_var(pdu, $0.baseAddress, $0.count) }
        }
        if bulk { np_pdu_set_bulk(pdu, 0, maxRepetitions) }
        guard let loop, loop.send(pdu, for: self, on: session) else {
            finish(.failure(PollError(.sendFailed, "could not send to \(target.peer)")))
            return
        }
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        let status = answerStatus(pdu)
        switch status {
        case .noError, .noSuchName:
            // noSuchName (v1): the end of the MIB view for this request.
            var rows: [(OID, SNMPValue)] = []
            if case .noError = status {
                var variable = pdu.pointee.variables
                while let vb = variable {
                    let name = UnsafeBufferPointer(
                        start: vb.pointee.name, count: vb.pointee.name == nil ? 0 : vb.pointee.name_length)
                    rows.append((OID(name.map { UInt32(truncatingIfNeeded: $0) }), decodeValue(vb)))
                    variable = vb.pointee.next_variable
                }
            }
            loop?.counters.varbinds(rows.count)
            finish(.success(rows))
        case .tooBig:
            loop?.counters.tooBig()
            finish(.failure(PollError(.errorStatus, "\(target.peer) answered tooBig")))
        default:
            finish(.failure(PollError(.errorStatus, "\(target.peer) answered with \(status)")))
        }
    }

    override func timedOut(session: Session, sendFailed: Bool) {
        finish(.failure(timeoutError(sendFailed: sendFailed, session: session)))
    }

    override func fail(_ error: PollError) { finish(.failure(error)) }

    private func finish(_ result: Result<[(OID, SNMPValue)], PollError>) {
        completion?(result)
        completion = nil
    }
}

/// One SNMPv3 engine-ID discovery PDU sent whatever the session knows (RFC 3414 4), its engine ID handed back and not
/// adopted: tells an SNMP agent that answers none of the credentials from a dead address (discovery).
final class EngineProbeOperation: Operation, @unchecked Sendable {
    private var completion: ((Result<[UInt8], PollError>) -> Void)?

    init(target: SNMPTarget, completion: @escaping (Result<[UInt8], PollError>) -> Void) {
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) {
        let probe = DiscoveryOperation(target: target, session: session, adopt: false) { [self] result in
            completion?(result)
            completion = nil
        }
        probe.loop = loop
        loop?.counters.discovery()
        probe.start(session: session)
    }

    override func fail(_ error: PollError) {
        completion?(.failure(error))
        completion = nil
    }
}
