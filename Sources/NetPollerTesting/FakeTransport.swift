import NetPollerCore
import SNMPPolling
import Synchronization

/// An in-memory SNMP agent for pure-logic tests: a sorted OID → value table, GET and walk over it, optional delay.
public final class FakeTransport: SNMPTransport {
    public let table: [(OID, SNMPValue)]
    private let calls = Mutex<[String]>([])
    public let delay: Duration?
    public let failAll: PollError?

    public init(_ values: [(String, SNMPValue)], delay: Duration? = nil, failAll: PollError? = nil) {
        table = values.compactMap { text, value in OID(text).map { ($0, value) } }.sorted { $0.0 < $1.0 }
        self.delay = delay
        self.failAll = failAll
    }

    public var log: [String] { calls.withLock { $0 } }

    public func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult {
        calls.withLock { $0.append("get \(oids.count)") }
        if let delay { try? await Task.sleep(for: delay) }
        if let failAll { throw failAll }
        return GetResult(values: oids.map { oid in table.first { $0.0 == oid }?.1 ?? .noSuchObject })
    }

    /// The walk through the real `WalkMachine`, fed this table's rows after the root (and endOfMibView at its end).
    public func walk(_ target: SNMPTarget, root: OID, limits: WalkLimits) async -> WalkResult {
        calls.withLock { $0.append("walk \(root)") }
        if let delay { try? await Task.sleep(for: delay) }
        var machine = WalkMachine(root: root, version: target.version, limits: limits)
        if let failAll {
            machine.fail(failAll)
            return machine.result
        }
        var action = machine.start()
        while case .send(let from, _, _) = action {
            if let deadline = limits.deadline, ContinuousClock.now >= deadline {
                machine.budgetExhausted()
                break
            }
            _ = machine.answer(.noError)
            let after = OID(from)
            let repetitions = max(1, limits.maxRepetitions)
            var fed = 0
            var open = true
            for (oid, value) in table.lazy.filter({ $0.0 > after }).prefix(repetitions) {
                fed += 1
                if !machine.varbind(name: oid.components, value: value) {
                    open = false
                    break
                }
            }
            if open && fed < repetitions { _ = machine.varbind(name: from, value: .endOfMibView) }
            action = machine.endOfAnswer()
        }
        return machine.result
    }

}
