import NetPollerCore
import SNMPPolling
import Synchronization

/// An in-memory SNMP agent for pure-logic tests: a sorted OID → value table, GET and walk over it, optional delay.
/// The table can be replaced between polls, or scripted: step `n` of a script answers the `n`th poll (a poll starts
/// with the GET that holds sysUpTime), and the last step stays.
public final class FakeTransport: SNMPTransport {
    private struct State {
        var table: [(OID, SNMPValue)]
        var script: [[(OID, SNMPValue)]?] = []
        var step = -1
        var failAll: PollError?
    }

    private let state: Mutex<State>
    private let calls = Mutex<[String]>([])
    public let delay: Duration?
    static let sysUpTime = OID([1, 3, 6, 1, 2, 1, 1, 3, 0])

    public init(_ values: [(String, SNMPValue)], delay: Duration? = nil, failAll: PollError? = nil) {
        state = Mutex(State(table: Self.sorted(values), failAll: failAll))
        self.delay = delay
    }

    /// A script of polls; a nil step fails that poll with a timeout.
    public convenience init(script: [[(String, SNMPValue)]?]) {
        self.init([])
        state.withLock { $0.script = script.map { $0.map(Self.sorted) } }
    }

    static func sorted(_ values: [(String, SNMPValue)]) -> [(OID, SNMPValue)] {
        values.compactMap { text, value in OID(text).map { ($0, value) } }.sorted { $0.0 < $1.0 }
    }

    public var table: [(OID, SNMPValue)] { state.withLock { $0.table } }
    public var failAll: PollError? { state.withLock { $0.failAll } }
    /// The script step answering now (-1 before the first poll).
    public var step: Int { state.withLock { $0.step } }

    public func replace(_ values: [(String, SNMPValue)]) { state.withLock { $0.table = Self.sorted(values) } }

    public var log: [String] { calls.withLock { $0 } }

    public func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult {
        calls.withLock { $0.append("get \(oids.count)") }
        if let delay { try? await Task.sleep(for: delay) }
        let (table, failAll) = state.withLock { state -> ([(OID, SNMPValue)], PollError?) in
            if !state.script.isEmpty, oids.contains(Self.sysUpTime) {
                state.step = min(state.step + 1, state.script.count - 1)
                if let table = state.script[state.step] {
                    state.table = table
                    state.failAll = nil
                } else {
                    state.failAll = PollError(.timeout, "scripted timeout")
                }
            }
            return (state.table, state.failAll)
        }
        if let failAll { throw failAll }
        return GetResult(values: oids.map { oid in table.first { $0.0 == oid }?.1 ?? .noSuchObject })
    }

    /// The walk through the real `WalkMachine`, fed this table's rows after the root (and endOfMibView at its end).
    public func walk(_ target: SNMPTarget, root: OID, limits: WalkLimits) async -> WalkResult {
        calls.withLock { $0.append("walk \(root)") }
        if let delay { try? await Task.sleep(for: delay) }
        var machine = WalkMachine(root: root, version: target.version, limits: limits)
        let (table, failAll) = state.withLock { ($0.table, $0.failAll) }
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
