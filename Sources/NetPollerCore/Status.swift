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
    public var ssh: SSHDeviceInfo?

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
public final class StatusBoard: Sendable {
    private let devices = Mutex<[String: DeviceStatus]>([:])

    public init() {}

    public func register(_ status: DeviceStatus) {
        devices.withLock { $0[status.name] = status }
    }

    public func remove(_ name: String) {
        _ = devices.withLock { $0.removeValue(forKey: name) }
    }

    /// Applies `change` and returns the state before and after it.
    @discardableResult
    public func update(_ name: String, _ change: (inout DeviceStatus) -> Void) -> (DeviceState, DeviceState)? {
        devices.withLock { table in
            guard var status = table[name] else { return nil }
            let before = status.state
            change(&status)
            table[name] = status
            return (before, status.state)
        }
    }

    public func snapshot() -> [DeviceStatus] {
        devices.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    public func counts() -> [DeviceState: Int] {
        devices.withLock { table in
            var counts: [DeviceState: Int] = [:]
            for status in table.values { counts[status.state, default: 0] += 1 }
            return counts
        }
    }
}
