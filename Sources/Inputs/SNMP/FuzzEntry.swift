import CNetSNMP
import NetPollerCore

/// The fuzz target's way in (`Sources/Fuzz/VarbindFuzz`, `make fuzz`): bytes a device could send, through the same
/// code an answer goes through.
public enum SNMPFuzzEntry {
    private static let plan = PollPlan(profiles: BuiltinProfiles.all)

    /// Parses `bytes` as a PDU with net-snmp, then decodes every varbind, feeds it to an entry walk and maps it every
    /// way a profile can (wire type, declared counter and gauge, each text display, tag text), and builds samples.
    public static func pdu(_ bytes: UnsafeRawBufferPointer) {
        guard let pdu = snmp_pdu_create(Int32(NP_SNMP_MSG_RESPONSE)) else { return }
        defer { snmp_free_pdu(pdu) }
        var copy = Array(bytes)
        var length = copy.count
        let parsed = copy.withUnsafeMutableBufferPointer { snmp_pdu_parse(pdu, $0.baseAddress, &length) }
        agreesWithTheAnswerParser(bytes, netsnmp: pdu, parsedOK: parsed == 0)
        var walk = WalkMachine(
            root: OID([1, 3, 6, 1, 2, 1, 2, 2, 1]), version: .v2c,
            limits: WalkLimits(maxRepetitions: 10, maxVarbinds: 10_000, lastColumn: 22))
        _ = walk.start()
        _ = walk.answer(answerStatus(pdu))
        var values: [SNMPValue] = []
        var variable = pdu.pointee.variables
        while let vb = variable, values.count < 100_000 {
            let value = decodeValue(vb)
            values.append(value)
            _ = ValueMapping.field(value)
            _ = ValueMapping.tagText(value)
            _ = ValueMapping.declared(value, as: .counter)
            _ = ValueMapping.declared(value, as: .gauge)
            if case .octets(let octets) = value {
                for display in TextDisplay.allCases { _ = ValueMapping.show(octets, as: display) }
            }
            let name = UnsafeBufferPointer(
                start: vb.pointee.name, count: vb.pointee.name == nil ? 0 : vb.pointee.name_length)
            _ = walk.varbind(name: name.lazy.map { UInt32(truncatingIfNeeded: $0) }, value: value)
            variable = vb.pointee.next_variable
        }
        _ = walk.endOfAnswer()
        let scalars = plan.scalarOIDs.indices.map { values.indices.contains($0) ? values[$0] : SNMPValue.null }
        var walks: [WalkResult?] = Array(repeating: nil, count: plan.walkRoots.count)
        if !walks.isEmpty { walks[0] = walk.result }
        _ = plan.samples(scalars: scalars, walks: walks)
    }

    /// The same bytes as the PDU of a v2c message, through the I/O thread's own answer parser
    /// (`np_parse_community`, varbinds from a pool): whatever net-snmp's `snmp_pdu_parse` made of a Response, it
    /// makes the same values and names of; anything else it may refuse, never crash on.
    static func agreesWithTheAnswerParser(
        _ bytes: UnsafeRawBufferPointer, netsnmp: UnsafeMutablePointer<netsnmp_pdu>, parsedOK: Bool
    ) {
        guard let pool = np_vb_pool_create(8) else { return }
        defer { np_vb_pool_destroy(pool) }
        guard let pdu = snmp_pdu_create(Int32(NP_SNMP_MSG_RESPONSE)) else { return }
        var session = netsnmp_session()
        session.version = 1  // SNMP_VERSION_2c
        session.myvoid = UnsafeMutableRawPointer(pool)
        var message = tlv(0x30, [0x02, 0x01, 0x01] + tlv(0x04, Array("public".utf8)) + Array(bytes))
        let rc = message.withUnsafeMutableBufferPointer { np_parse_community(&session, pdu, $0.baseAddress, $0.count) }
        let ours = varbinds(pdu)
        if rc == 0 && parsedOK && Int32(netsnmp.pointee.command) == Int32(NP_SNMP_MSG_RESPONSE) {
            let theirs = varbinds(netsnmp)
            precondition(
                ours.map(\.0) == theirs.map(\.0) && ours.count == theirs.count
                    && zip(ours, theirs).allSatisfy { same($0.1, $1.1) }
                    && pdu.pointee.reqid == netsnmp.pointee.reqid && pdu.pointee.errstat == netsnmp.pointee.errstat,
                "the answer parser disagrees with snmp_pdu_parse")
        }
        np_vb_recycle(&session, pdu)
        snmp_free_pdu(pdu)
    }

    /// A PDU's varbinds as names and values.
    static func varbinds(_ pdu: UnsafeMutablePointer<netsnmp_pdu>) -> [([oid], SNMPValue)] {
        var out: [([oid], SNMPValue)] = []
        var variable = pdu.pointee.variables
        while let vb = variable {
            let name = vb.pointee.name.map { Array(UnsafeBufferPointer(start: $0, count: vb.pointee.name_length)) }
            out.append((name ?? [], decodeValue(vb)))
            variable = vb.pointee.next_variable
        }
        return out
    }

    /// Equal values (a NaN float is the same NaN).
    static func same(_ a: SNMPValue, _ b: SNMPValue) -> Bool {
        if case .float(let x) = a, case .float(let y) = b, x.isNaN, y.isNaN { return true }
        return a == b
    }

    /// A BER type-length-value (definite length).
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        let n = content.count
        var out: [UInt8] = [tag]
        if n < 0x80 {
            out.append(UInt8(n))
        } else if n <= 0xFF {
            out += [0x81, UInt8(n)]
        } else if n <= 0xFFFF {
            out += [0x82, UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            out += [0x83, UInt8(n >> 16), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
        }
        return out + content
    }
}
