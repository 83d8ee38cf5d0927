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
        _ = copy.withUnsafeMutableBufferPointer { snmp_pdu_parse(pdu, $0.baseAddress, &length) }
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
}
