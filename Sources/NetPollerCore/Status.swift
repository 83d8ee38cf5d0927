import Synchronization

/// What the agent knows about a device right now.
public enum DeviceState: String, Sendable, CaseIterable, Codable {
    /// Not polled yet.
    case unknown
    /// Last poll returned all data.
    case up
    /// Last poll returned some data, but a walk or GET failed.
    case degraded
    /// Last poll returned nothing (timeout, unreachable).
    case down
}

/// How a device is polled over SNMP, as `/status` and `once` show it. Never holds a secret.
public struct SNMPDeviceInfo: Sendable, Codable, Equatable {
    /// `1`, `2c` or `3`.
    public var version: String
    /// SNMPv3: `noAuthNoPriv`, `authNoPriv` or `authPriv`.
    public var securityLevel: String?
    public var username: String?
    /// SNMPv3: the engine ID in hex, once known.
    public var engineID: String?
    /// `duplicate_engine_id` when another device has the same engine ID.
    public var flags: [String]?
    /// The request sizes learned for (or pinned on) this device.
    public var learned: LearnedSizes?

    public init(version: String) { self.version = version }
}

/// The request sizes that work for one device, learned by polling (or pinned in its config).
public struct LearnedSizes: Sendable, Codable, Equatable {
    /// Varbinds per GET PDU.
    public var getSize: Int
    public var maxRepetitions: Int
    /// `bulk` (GETBULK) or `getnext`.
    public var mode: String
    /// Unix seconds of the last change.
    public var learnedAt: Double?
    /// The values come from the config (`pin`), not from learning.
    public var pinned: Bool

    public init(getSize: Int, maxRepetitions: Int, mode: String, learnedAt: Double?, pinned: Bool) {
        self.getSize = getSize
        self.maxRepetitions = maxRepetitions
        self.mode = mode
        self.learnedAt = learnedAt
        self.pinned = pinned
    }
}

/// Per-device status, as `/status` shows it.
public struct DeviceStatus: Sendable, Codable, Equatable {
    public var name: String
    public var address: String
    public var profiles: [String]
    /// Why each profile was chosen: `config`, `sysObjectID rule …`, `probe …` or `default`.
    public var profileReasons: [String: String]?
    public var state: DeviceState
    /// Unix seconds of the end of the last poll.
    public var lastPollTime: Double?
    /// Unix seconds when the poll now in progress started; nil between polls.
    public var pollStarted: Double?
    public var lastPollDurationSeconds: Double?
    public var lastError: String?
    public var lastErrorType: String?
    public var samples: Int
    public var polls: Int
    public var overruns: Int
    /// Unix seconds when this device's schedule (re)started: a reload leaves it alone unless the device changed.
    public var scheduledSince: Double?
    /// SNMP version, security level, engine and learned request sizes (never a secret).
    public var snmp: SNMPDeviceInfo?
    /// SSH connection state and age, commands run, the last command error and values that did not parse.
    public var ssh: SSHDeviceInfo? {
        get { sshBox?.value }
        set { sshBox = newValue.map(Indirect.init) }
    }
    /// Behind a reference: 8 bytes in the status of every device polled over SNMP only, not 136.
    private var sshBox: Indirect<SSHDeviceInfo>?

    private enum CodingKeys: String, CodingKey {
        case name, address, profiles, profileReasons, state, lastPollTime, pollStarted, lastPollDurationSeconds
        case lastError, lastErrorType, samples, polls, overruns, scheduledSince, snmp
        case sshBox = "ssh"
    }

    public init(name: String, address: String, profiles: [String]) {
        self.name = name
        self.address = address
        self.profiles = profiles
        self.state = .unknown
        self.samples = 0
        self.polls = 0
        self.overruns = 0
    }
}

/// Shared, thread-safe table of device status. Written by pollers, read by `/status` and the metrics gauges.
///
/// The count of devices per state is kept beside the table and published (`onCounts`, the `netpoller_devices` gauge)
/// under the same lock as every change of a state: the gauge can never show an older count than the table.
public final class StatusBoard: Sendable {
    /// One device's status behind a reference: the table's buckets hold 8 bytes each instead of a ~450-byte
    /// `DeviceStatus` (a dictionary keeps a quarter or more of its buckets empty). Only reached under the lock.
    private final class Entry {
        var status: DeviceStatus
        init(_ status: DeviceStatus) { self.status = status }
    }

    private struct Table {
        var devices: [String: Entry] = [:]
        var counts: [DeviceState: Int] = [:]

        mutating func count(_ state: DeviceState, _ delta: Int) {
            counts[state, default: 0] += delta
        }
    }

    private let table = Mutex<Table>(Table())
    private let onCounts: (@Sendable ([DeviceState: Int]) -> Void)?

    /// - Parameter onCounts: called with the counts per state after every change of them, inside the board's lock
    ///   (it must be quick and must not call back into the board).
    public init(onCounts: (@Sendable ([DeviceState: Int]) -> Void)? = nil) {
        self.onCounts = onCounts
    }

    public func register(_ status: DeviceStatus) {
        table.withLock { t in
            if let old = t.devices.updateValue(Entry(status), forKey: status.name) { t.count(old.status.state, -1) }
            t.count(status.state, 1)
            onCounts?(t.counts)
        }
    }

    public func remove(_ name: String) {
        table.withLock { t in
            guard let old = t.devices.removeValue(forKey: name) else { return }
            t.count(old.status.state, -1)
            onCounts?(t.counts)
        }
    }

    /// Applies `change` in place (nothing else in the entry is copied) and returns the state before and after it.
    @discardableResult
    public func update(_ name: String, _ change: (inout DeviceStatus) -> Void) -> (DeviceState, DeviceState)? {
        table.withLock { t in
            guard let entry = t.devices[name] else { return nil }
            let before = entry.status.state
            change(&entry.status)
            let after = entry.status.state
            if before != after {
                t.count(before, -1)
                t.count(after, 1)
                onCounts?(t.counts)
            }
            return (before, after)
        }
    }

    public func snapshot() -> [DeviceStatus] {
        table.withLock { $0.devices.values.map(\.status) }.sorted { $0.name < $1.name }
    }

    public func counts() -> [DeviceState: Int] {
        table.withLock { $0.counts.filter { $0.value != 0 } }
    }
}
