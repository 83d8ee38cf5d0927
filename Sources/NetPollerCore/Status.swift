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
