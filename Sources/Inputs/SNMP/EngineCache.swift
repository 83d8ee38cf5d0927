import Foundation
import NetPollerCore
import Synchronization

/// What SNMPv3 learned about each agent (by peer): its engine ID, and its boots and time when last seen. The I/O thread
/// reads it when it opens a v3 session (a known engine needs no discovery round-trip, and known boots and time need no
/// notInTimeWindow round-trip) and writes it after a discovery or a resynchronisation. Kept in
/// `<state_dir>/snmp-engines.json` so that a restart starts where the last run stopped.
public final class EngineCache: Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// The engine ID in lowercase hex.
        public var engineID: String
        public var boots: UInt32
        public var time: UInt32
        /// Unix seconds when `boots`/`time` were true.
        public var at: Double

        public init(engineID: String, boots: UInt32, time: UInt32, at: Double) {
            self.engineID = engineID
            self.boots = boots
            self.time = time
            self.at = at
        }

        /// The engine time now, estimated from the elapsed wall time (saturating).
        public func timeNow(_ now: Double) -> UInt32 {
            let elapsed = max(0, now - at)
            return UInt32(min(Double(Int32.max), Double(time) + elapsed.rounded(.down)))
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Peers whose engine ID another peer also has (cloned configs).
        var duplicates: Set<String> = []
        var path: String?
    }

    private let state = Mutex(State())
    private let writer = CoalescedWriter(label: "netpoller.snmp-engines")
    /// Engine discoveries and time resynchronisations (`netpoller_snmp_engine_discoveries_total`, …).
    let metrics: SelfMetrics?

    public init(metrics: SelfMetrics? = nil) { self.metrics = metrics }

    /// Loads `<state_dir>/snmp-engines.json` (once per directory) and keeps it up to date from now on.
    public func attach(stateDir: String) {
        let path = (stateDir as NSString).appendingPathComponent("snmp-engines.json")
        let fresh = state.withLock { state -> Bool in
            guard state.path != path else { return false }
            state.path = path
            return true
        }
        guard fresh else { return }
        var loaded: [String: Entry] = [:]
        if let data = FileManager.default.contents(atPath: path),
            let decoded = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            loaded = decoded.filter { EngineCache.bytes(hex: $0.value.engineID) != nil }
        }
        state.withLock { state in
            for (peer, entry) in loaded where state.entries[peer] == nil { state.entries[peer] = entry }
        }
    }

    public func entry(_ peer: String) -> Entry? { state.withLock { $0.entries[peer] } }

    public func isDuplicate(_ peer: String) -> Bool { state.withLock { $0.duplicates.contains(peer) } }

    /// Records what was learned; saved when the engine ID or the boots changed, or the time drifted by a minute.
    func store(_ peer: String, _ entry: Entry) {
        let changed = state.withLock { state -> Bool in
            let old = state.entries[peer]
            state.entries[peer] = entry
            guard let old else { return true }
            if old.engineID != entry.engineID || old.boots != entry.boots { return true }
            let drift = Double(entry.time) - (Double(old.time) + (entry.at - old.at))
            return abs(drift) > 60
        }
        if changed { save() }
    }

    func forget(_ peer: String) {
        if state.withLock({ $0.entries.removeValue(forKey: peer) }) != nil { save() }
    }

    func markDuplicates(_ peers: Set<String>) {
        state.withLock { $0.duplicates.formUnion(peers) }
    }

    func clearDuplicate(_ peer: String) {
        _ = state.withLock { $0.duplicates.remove(peer) }
    }

    private func save() { writer.changed(encode) }

    private func encode() -> (path: String, data: Data)? {
        let (snapshot, path) = state.withLock { ($0.entries, $0.path) }
        guard let path else { return nil }
        return CoalescedWriter.json(snapshot).map { (path, $0) }
    }

    /// Writes what is waiting now, and waits for it (shutdown, tests).
    public func flush() { writer.flush(encode) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0, !utf8.isEmpty, utf8.count <= 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
