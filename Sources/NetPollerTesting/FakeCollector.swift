import NetPollerCore
import Synchronization

/// A collector for pure-logic and in-process agent tests: every poll answers one `fake` sample carrying the device's
/// address, and every call is recorded (configures, polls, releases, shutdown).
public final class FakeCollector: Collector {
    private struct State {
        var configured: [String] = []
        var polls: [String: Int] = [:]
        var polledAddresses: [String: String] = [:]
        var released: [String] = []
        var shutdown = false
        var failing: Set<String> = []
        var delays: [String: Duration] = [:]
    }

    public let kind: String
    private let state = Mutex(State())

    public init(kind: String = "snmp") { self.kind = kind }

    /// The config hash of every `configure`, in order.
    public var configuredHashes: [String] { state.withLock { $0.configured } }
    public func polls(_ device: String) -> Int { state.withLock { $0.polls[device] ?? 0 } }
    /// The address the device's last poll was made with.
    public func lastAddress(_ device: String) -> String? { state.withLock { $0.polledAddresses[device] } }
    public var released: [String] { state.withLock { $0.released } }
    public var isShutdown: Bool { state.withLock { $0.shutdown } }
    /// From now on, polls of `device` time out (or answer again with `false`).
    public func setFailing(_ device: String, _ failing: Bool = true) {
        state.withLock { s in
            if failing { s.failing.insert(device) } else { s.failing.remove(device) }
        }
    }

    /// From now on, polls of `device` take this long (nil: answer at once).
    public func setDelay(_ device: String, _ delay: Duration?) {
        state.withLock { $0.delays[device] = delay }
    }

    public func configure(_ config: AgentConfiguration) {
        state.withLock { $0.configured.append(config.hash) }
    }

    public func poll(_ device: DeviceConfig) async -> PollOutcome {
        let (failing, delay) = state.withLock { s in
            s.polls[device.name, default: 0] += 1
            s.polledAddresses[device.name] = device.address.description
            return (s.failing.contains(device.name), s.delays[device.name])
        }
        if let delay { try? await Task.sleep(for: delay) }
        if failing { return .failed(PollError(.timeout, "no answer from \(device.address)")) }
        let sample = Sample(
            measurement: "fake", tags: [Tag("address", device.address.description)],
            fields: [Field(name: "polls", value: .int(Int64(polls(device.name))), kind: .counter)])
        return PollOutcome(
            samples: [sample], errors: [], state: .up, varbinds: 1, requests: 1, sysObjectID: nil, profiles: ["fake"])
    }

    public func release(_ device: String) { state.withLock { $0.released.append(device) } }
    public func shutdown() async { state.withLock { $0.shutdown = true } }
    public var heartbeatAge: Double? { nil }
}
