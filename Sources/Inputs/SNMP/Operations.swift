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

    init(target: SNMPTarget) { self.target = target }

    func start(session: Session) {}
    func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {}
    func timedOut(session: Session, sendFailed: Bool) {}
    func fail(_ error: PollError) {}

    func timeoutError(sendFailed: Bool) -> PollError {
        if loop?.stopping == true { return PollError(.cancelled, "abandoned at shutdown") }
        if sendFailed { return PollError(.sendFailed, "could not send to \(target.peer)") }
        if unusableAnswers > 0 {
            return PollError(
                .badResponse,
                "\(unusableAnswers) answer\(unusableAnswers == 1 ? "" : "s") from \(target.peer) could not be used "
                    + "(not SNMP, or not an answer to the request sent)")
        }
        loop?.counters.timeout()
        return PollError(.timeout, "no answer from \(target.peer) after \(target.retries + 1) tries")
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
        finish(.failure(timeoutError(sendFailed: sendFailed)))
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
        machine.fail(timeoutError(sendFailed: sendFailed))
        finish()
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
