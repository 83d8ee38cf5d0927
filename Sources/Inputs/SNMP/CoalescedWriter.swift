import Foundation
import Synchronization

/// Writes one state file of the SNMP collector (learned sizes, profile choices, engine IDs) at most once per
/// `coalesce`, whatever the number of changes: the first change schedules a write on the file's own queue, the ones
/// before it runs ride along, and the write takes the state as it is then. 10,000 devices learning at start cost a
/// handful of whole-file writes, not one per device.
final class CoalescedWriter: Sendable {
    private let scheduled = Atomic<Bool>(false)
    private let queue: DispatchQueue
    private let coalesce: Duration

    init(label: String, coalesce: Duration = .seconds(2)) {
        queue = DispatchQueue(label: label)
        self.coalesce = coalesce
    }

    /// Something changed: `encode` runs on the file's queue once the window has passed (it returns the path and the
    /// bytes to write, or nil for nothing).
    func changed(_ encode: @escaping @Sendable () -> (path: String, data: Data)?) {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.asyncAfter(deadline: .now() + Double(coalesce.nanoseconds) / 1e9) { [self] in
            write(encode)
        }
    }

    /// Writes now what is waiting, and waits for it (shutdown, tests).
    func flush(_ encode: @escaping @Sendable () -> (path: String, data: Data)?) {
        queue.sync { write(encode) }
    }

    private func write(_ encode: () -> (path: String, data: Data)?) {
        guard scheduled.exchange(false, ordering: .acquiringAndReleasing), let (path, data) = encode() else { return }
        // Not fatal: without the file the next start learns again.
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
        _ = chmod(path, 0o600)
    }

    /// JSON with sorted keys, as every state file is written: the object of every device's entry, encoded one entry
    /// at a time. (JSONEncoder on the whole dictionary builds a tree of every entry first: 20 MB that lived for the
    /// write at 10,000 devices, the heap's peak, and the arena kept it.)
    static func json<Value: Encodable>(_ entries: [String: Value]) -> Data? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out = Data("{".utf8)
        for (index, key) in entries.keys.sorted().enumerated() {
            guard let name = try? encoder.encode(key), let value = try? encoder.encode(entries[key]) else { return nil }
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(name)
            out.append(UInt8(ascii: ":"))
            out.append(value)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
