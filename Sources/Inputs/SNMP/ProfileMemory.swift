import Foundation
import NetPollerCore
import Synchronization

/// The profile choice of every device (`BuiltinProfiles.choose`), kept in `<state_dir>/snmp-profiles.json` so that
/// after a restart the first poll needs no probe while the choice is younger than the device's `reprobe` interval.
/// Written on a queue of its own, whole and atomically (rename), after each change.
final class ProfileMemory: Sendable {
    struct Entry: Codable, Equatable {
        /// The device's address when it was probed: a device that moved is probed again.
        var address: String
        var choice: ProfileChoice
        /// Unix seconds of the probe.
        var probedAt: Double
    }

    let path: String
    private let entries: Mutex<[String: Entry]>
    private let writes = DispatchQueue(label: "netpoller.snmp-profiles")

    init(stateDir: String) {
        path = (stateDir as NSString).appendingPathComponent("snmp-profiles.json")
        var loaded: [String: Entry] = [:]
        if let data = FileManager.default.contents(atPath: path),
            let decoded = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            loaded = decoded
        }
        entries = Mutex(loaded)
    }

    /// What is remembered for a device at this address, if any.
    func entry(_ device: String, address: String) -> Entry? {
        entries.withLock { $0[device] }.flatMap { $0.address == address ? $0 : nil }
    }

    func remember(_ device: String, _ entry: Entry) {
        let changed = entries.withLock { entries -> Bool in
            guard entries[device] != entry else { return false }
            entries[device] = entry
            return true
        }
        if changed { save() }
    }

    func forget(_ device: String) {
        if entries.withLock({ $0.removeValue(forKey: device) }) != nil { save() }
    }

    private func save() {
        writes.async { [self] in
            let snapshot = entries.withLock { $0 }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            guard let data = try? encoder.encode(snapshot) else { return }
            // Not fatal: without the file the next start probes again.
            try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
            _ = chmod(path, 0o600)
        }
    }

    /// Waits for writes in flight (tests).
    func flush() { writes.sync {} }
}
