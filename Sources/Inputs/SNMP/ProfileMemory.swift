import Foundation
import NetPollerCore
import Synchronization

/// What the SNMP collector remembers per device in one JSON file of `state_dir`: written whole and atomically
/// (rename) by a `CoalescedWriter` (at most one write per 2 s however many devices changed); read once when opened.
/// Each entry carries the device's address: a device that moved starts afresh.
final class DeviceMemory<Value: Codable & Equatable & Sendable>: Sendable {
    /// A reference: the table's buckets hold 8 bytes each, not the whole entry (a dictionary of 50,000 devices has
    /// 131,072 buckets; inline, 120-byte learned sizes made that 17.8 MB).
    final class Entry: Codable, Equatable, Sendable {
        let address: String
        let value: Value

        init(address: String, value: Value) {
            self.address = address
            self.value = value
        }

        static func == (a: Entry, b: Entry) -> Bool { a === b || (a.address == b.address && a.value == b.value) }
    }

    let path: String
    private let entries: Mutex<[String: Entry]>
    private let writer: CoalescedWriter

    init(stateDir: String, file: String) {
        path = (stateDir as NSString).appendingPathComponent(file)
        writer = CoalescedWriter(label: "netpoller.\(file)")
        var loaded: [String: Entry] = [:]
        if let data = FileManager.default.contents(atPath: path),
            let decoded = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            loaded = decoded
        }
        entries = Mutex(loaded)
    }

    /// What is remembered for a device at this address, if any.
    func value(_ device: String, address: String) -> Value? {
        entries.withLock { $0[device] }.flatMap { $0.address == address ? $0.value : nil }
    }

    func remember(_ device: String, address: String, _ value: Value) {
        let entry = Entry(address: address, value: value)
        let changed = entries.withLock { entries -> Bool in
            guard entries[device] != entry else { return false }
            entries[device] = entry
            return true
        }
        if changed { writer.changed(encode) }
    }

    func forget(_ device: String) {
        if entries.withLock({ $0.removeValue(forKey: device) }) != nil { writer.changed(encode) }
    }

    private func encode() -> (path: String, data: Data)? {
        CoalescedWriter.json(entries.withLock { $0 }).map { (path, $0) }
    }

    /// Writes what is waiting now, and waits for it (shutdown, tests).
    func flush() { writer.flush(encode) }
}

/// The profile choice of every device (`BuiltinProfiles.choose`) and when it was probed, kept in
/// `<state_dir>/snmp-profiles.json` so that after a restart the first poll needs no probe while the choice is younger
/// than the device's `reprobe` interval.
struct RememberedChoice: Codable, Equatable, Sendable {
    var choice: ProfileChoice
    /// Unix seconds of the probe.
    var probedAt: Double
}
