import Foundation
import NetPollerCore

/// What discovery remembers between runs (`<state_dir>/discovery-inventory.json`): each identity's name, first and
/// last sight, address and profiles; and which identities the last run found. It keeps names and first-seen times
/// stable (so output is byte-identical run after run) and tells what is new, changed and gone.
public struct DiscoveryInventory: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var name: String
        public var firstSeen: String
        public var lastSeen: String
        public var address: String
        public var addresses: [String]
        public var profiles: [String]
        public var credential: String
        public var sysName: String

        enum CodingKeys: String, CodingKey {
            case name, address, addresses, profiles, credential
            case firstSeen = "first_seen"
            case lastSeen = "last_seen"
            case sysName = "sys_name"
        }
    }

    public var entries: [String: Entry] = [:]
    /// The identities the last run found.
    public var lastRun: [String] = []

    enum CodingKeys: String, CodingKey {
        case entries
        case lastRun = "last_run"
    }

    public init() {}

    public static let fileName = "discovery-inventory.json"
    /// An identity not seen for this long is forgotten.
    public static let forgetAfter: TimeInterval = 30 * 86_400

    public var known: [String: IdentityMerge.Known] {
        entries.mapValues { IdentityMerge.Known(name: $0.name, firstSeen: $0.firstSeen) }
    }

    public struct Changes: Sendable, Equatable {
        public var new: [String] = []
        public var changed: [String] = []
        public var gone: [String] = []
    }

    /// Takes a run's result in; returns what changed against the last run (device names).
    public mutating func apply(_ result: DiscoveryResult, now: Date) -> Changes {
        let stamp = Self.iso(now)
        var changes = Changes()
        let previous = Set(lastRun)
        for device in result.devices {
            let entry = Entry(
                name: device.name, firstSeen: device.firstSeen, lastSeen: stamp, address: device.address.description,
                addresses: device.addresses.map(\.description), profiles: device.profiles,
                credential: device.credential, sysName: device.sysName)
            if !previous.contains(device.identity) {
                changes.new.append(device.name)
            } else if let old = entries[device.identity],
                old.address != entry.address || old.profiles != entry.profiles || old.credential != entry.credential
                    || old.name != entry.name || old.addresses != entry.addresses
            {
                changes.changed.append(device.name)
            }
            entries[device.identity] = entry
        }
        let current = Set(result.devices.map(\.identity))
        for identity in previous.subtracting(current) {
            if let entry = entries[identity] { changes.gone.append(entry.name) }
        }
        lastRun = current.sorted()
        entries = entries.filter { _, entry in
            guard let seen = Self.date(entry.lastSeen) else { return false }
            return now.timeIntervalSince(seen) < Self.forgetAfter
        }
        changes.new.sort()
        changes.changed.sort()
        changes.gone.sort()
        return changes
    }

    public static func load(stateDir: String) -> DiscoveryInventory {
        let path = (stateDir as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path),
            let inventory = try? JSONDecoder().decode(DiscoveryInventory.self, from: data)
        else { return DiscoveryInventory() }
        return inventory
    }

    /// Writes atomically (a temporary file renamed over the old one), mode 0600.
    public func save(stateDir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let path = (stateDir as NSString).appendingPathComponent(Self.fileName)
        try writeAtomically(data, to: path, mode: 0o600)
    }

    public static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func date(_ text: String) -> Date? { ISO8601DateFormatter().date(from: text) }
}

/// Writes `data` to a temporary file beside `path`, then renames it over `path`.
public func writeAtomically(_ data: Data, to path: String, mode: Int = 0o644) throws {
    let temporary = path + ".tmp"
    guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: mode])
    else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
    }
    guard rename(temporary, path) == 0 else {
        let code = errno
        unlink(temporary)
        throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
}
