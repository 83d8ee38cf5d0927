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

    public func walk(_ target: SNMPTarget, root: OID, maxRepetitions: Int) async -> WalkResult {
        calls.withLock { $0.append("walk \(root)") }
        if let delay { try? await Task.sleep(for: delay) }
        var result = WalkResult(root: root)
        if let failAll {
            result.error = failAll
            return result
        }
        for (oid, value) in table where oid.hasPrefix(root) && oid.components.count > root.components.count {
            result.append(suffix: oid.components.dropFirst(root.components.count), value: value)
        }
        return result
    }
}
