import CNetSNMP
import NetPollerCore

/// One GET or walk in progress.
///
/// Safe to send: it crosses from the caller to the I/O thread once, through the engine's locked inbox, and from then
/// on only the I/O thread touches its state; `finish` hands the result back through a continuation exactly once.
class Operation: @unchecked Sendable {
    let target: SNMPTarget
    weak var loop: IOLoop?

    init(target: SNMPTarget) { self.target = target }

    func start(session: Session) {}
    func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {}
    func timedOut(session: Session, sendFailed: Bool) {}
    func fail(_ error: PollError) {}

    func timeoutError(sendFailed: Bool) -> PollError {
        if loop?.stopping == true { return PollError(.cancelled, "abandoned at shutdown") }
        if sendFailed { return PollError(.sendFailed, "could not send to \(target.peer)") }
        loop?.counters.timeout()
        return PollError(.timeout, "no answer from \(target.peer) after \(target.retries + 1) tries")
    }
}

/// GET of a list of OIDs in PDUs of at most `maxPerPDU` varbinds, one PDU in flight at a time.
final class GetOperation: Operation, @unchecked Sendable {
    private let oids: [OID]
    private var values: [SNMPValue]
    private var queue: [ArraySlice<Int>]
    private var current: ArraySlice<Int> = []
    private var requests = 0
    private var completion: ((Result<GetResult, PollError>) -> Void)?

    init(target: SNMPTarget, oids: [OID], maxPerPDU: Int, completion: @escaping (Result<GetResult, PollError>) -> Void)
    {
        self.oids = oids
        self.values = Array(repeating: .noSuchObject, count: oids.count)
        let indices = Array(oids.indices)
        self.queue = stride(from: 0, to: indices.count, by: max(1, maxPerPDU)).map {
            indices[$0..<min($0 + maxPerPDU, indices.count)]
        }
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) { sendNext(session) }

    private func sendNext(_ session: Session) {
        guard let next = queue.popLast() else {
            var result = GetResult(values: values)
            result.requests = requests
            finish(.success(result))
            return
        }
        current = next
        guard let pdu = snmp_pdu_create(Int32(NP_SNMP_MSG_GET)) else {
            finish(.failure(PollError(.sendFailed, "out of memory")))
            return
        }
        for index in current {
            let oid = oids[index].components.map { CNetSNMP.oid($0) }
            _ = oid.withUnsafeBufferPointer { snmp_add_null_var(pdu, $0.baseAddress, $0.count) }
        }
        requests += 1
        guard let loop, loop.send(pdu, for: self, on: session) else {
            finish(.failure(PollError(.sendFailed, "could not send to \(target.peer)")))
            return
        }
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        let status = pdu.pointee.errstat
        let errorIndex = Int(pdu.pointee.errindex)
        if status == SNMP_ERR_TOOBIG {
            loop?.counters.tooBig()
            guard current.count > 1 else {
                finish(.failure(PollError(.errorStatus, "tooBig for a single varbind")))
                return
            }
            let middle = current.startIndex + current.count / 2
            queue.append(current[middle...])
            queue.append(current[..<middle])
            sendNext(session)
            return
        }
        if status == SNMP_ERR_NOSUCHNAME, (1...current.count).contains(errorIndex) {
            // SNMPv1: one OID does not exist. Drop it and ask again for the rest.
            var rest = Array(current)
            values[rest.remove(at: errorIndex - 1)] = .noSuchObject
            if !rest.isEmpty { queue.append(rest[...]) }
            sendNext(session)
            return
        }
        if status != SNMP_ERR_NOERROR {
            finish(.failure(PollError(.errorStatus, "error status \(status) at index \(errorIndex)")))
            return
        }
        var variable = pdu.pointee.variables
        var position = current.startIndex
        var count = 0
        while let vb = variable, position < current.endIndex {
            values[current[position]] = decodeValue(vb)
            position += 1
            count += 1
            variable = vb.pointee.next_variable
        }
        loop?.counters.varbinds(count)
        sendNext(session)
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

/// A subtree walk: GETBULK (GETNEXT on v1) from `root` until the answers leave the subtree.
final class WalkOperation: Operation, @unchecked Sendable {
    private let root: [oid]
    private var next: [oid]
    private var maxRepetitions: Int
    private var result: WalkResult
    private var completion: ((WalkResult) -> Void)?

    init(target: SNMPTarget, root: OID, maxRepetitions: Int, completion: @escaping (WalkResult) -> Void) {
        self.root = root.components.map { oid($0) }
        self.next = self.root
        self.maxRepetitions = max(1, maxRepetitions)
        self.result = WalkResult(root: root)
        self.completion = completion
        super.init(target: target)
    }

    override func start(session: Session) { sendNext(session) }

    private func sendNext(_ session: Session) {
        let bulk = target.version != .v1
        guard let pdu = snmp_pdu_create(Int32(bulk ? NP_SNMP_MSG_GETBULK : NP_SNMP_MSG_GETNEXT)) else {
            finish(PollError(.sendFailed, "out of memory"))
            return
        }
        _ = next.withUnsafeBufferPointer { snmp_add_null_var(pdu, $0.baseAddress, $0.count) }
        if bulk { np_pdu_set_bulk(pdu, 0, maxRepetitions) }
        result.requests += 1
        guard let loop, loop.send(pdu, for: self, on: session) else {
            finish(PollError(.sendFailed, "could not send to \(target.peer)"))
            return
        }
    }

    override func received(_ pdu: UnsafeMutablePointer<netsnmp_pdu>, session: Session) {
        let status = pdu.pointee.errstat
        if status == SNMP_ERR_TOOBIG {
            result.tooBig += 1
            loop?.counters.tooBig()
            guard maxRepetitions > 1 else {
                finish(PollError(.errorStatus, "tooBig with max-repetitions 1"))
                return
            }
            maxRepetitions = max(1, maxRepetitions / 2)
            sendNext(session)
            return
        }
        if status == SNMP_ERR_NOSUCHNAME && target.version == .v1 {
            finish(nil)  // SNMPv1's end of the MIB view.
            return
        }
        if status != SNMP_ERR_NOERROR {
            finish(PollError(.errorStatus, "error status \(status) at index \(pdu.pointee.errindex)"))
            return
        }
        var variable = pdu.pointee.variables
        var received = 0
        var ended = false
        var error: PollError?
        let rootCount = root.count
        while let vb = variable {
            received += 1
            let type = Int32(vb.pointee.type)
            if type == Int32(NP_SNMP_ENDOFMIBVIEW) {
                ended = true
                break
            }
            let name = vb.pointee.name
            let length = vb.pointee.name_length
            guard let name, length > rootCount,
                root.withUnsafeBufferPointer({ netsnmp_oid_is_subtree($0.baseAddress, rootCount, name, length) }) == 0
            else {
                ended = true
                break
            }
            let increasing = next.withUnsafeBufferPointer { snmp_oid_compare(name, length, $0.baseAddress, $0.count) }
            guard increasing > 0 else {
                error = PollError(.oidNotIncreasing, "the agent returned a non-increasing OID; walk stopped")
                ended = true
                break
            }
            let suffix = UnsafeBufferPointer(start: name + rootCount, count: length - rootCount)
            result.append(suffix: suffix.lazy.map { UInt32(truncatingIfNeeded: $0) }, value: decodeValue(vb))
            next.removeAll(keepingCapacity: true)
            next.append(contentsOf: UnsafeBufferPointer(start: name, count: length))
            variable = vb.pointee.next_variable
        }
        loop?.counters.varbinds(received)
        if received == 0 || ended {
            finish(error)
        } else {
            sendNext(session)
        }
    }

    override func timedOut(session: Session, sendFailed: Bool) {
        finish(timeoutError(sendFailed: sendFailed))
    }

    override func fail(_ error: PollError) { finish(error) }

    private func finish(_ error: PollError?) {
        result.error = error
        completion?(result)
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
