import NetPollerCore

/// What a reload changes, worked out from the running config and the new one without touching anything: the agent
/// applies it (`Agent.reload`), tests check it as a pure function.
public struct ReloadPlan: Sendable, Equatable {
    /// The config to run: the new one, with the settings that change only on restart kept at their running values.
    public var applied: AgentConfiguration
    /// The keys whose new value waits for a restart (`http.listen` and the other `[http]` keys, `agent.state_dir`, `agent.queue_capacity`, `log`).
    public var restartOnly: [String] = []
    /// Devices in config order (added, changed) or name order (removed, unchanged). A device is changed when its
    /// settings or the credential it uses changed: it is polled anew, with a new session, from its next slot.
    public var devicesAdded: [String] = []
    public var devicesChanged: [String] = []
    public var devicesRemoved: [String] = []
    public var devicesUnchanged: [String] = []
    /// Sinks by name. Kept: same name and type, so the new settings apply in place and the buffer and spool stay.
    /// Replaced: same name, another type; the old sink stops (its spool stays on disk) and the new one starts.
    public var sinksAdded: [String] = []
    public var sinksKept: [String] = []
    public var sinksReplaced: [String] = []
    public var sinksRemoved: [String] = []

    /// `[http]` without `web_config_file`: what needs a restart.
    static func limits(_ http: HTTPSettings) -> HTTPSettings {
        var copy = http
        copy.web = nil
        return copy
    }

    public init(from current: AgentConfiguration, to next: AgentConfiguration) {
        var applied = next
        for (key, changed) in [
            ("http.listen", current.http.listen != next.http.listen),
            (
                "http limits",
                Self.limits(current.http) != Self.limits(next.http) && current.http.listen == next.http.listen
            ),
            ("agent.state_dir", current.agent.stateDir != next.agent.stateDir),
            ("agent.queue_capacity", current.agent.queueCapacity != next.agent.queueCapacity),
            ("log", current.log != next.log),
            ("ssh.io_threads", current.ssh.ioThreads != next.ssh.ioThreads),
        ] where changed {
            restartOnly.append(key)
        }
        applied.http = current.http
        // web_config_file (TLS, users, headers) applies at once: each new connection takes it.
        applied.http.web = next.http.web
        applied.agent.stateDir = current.agent.stateDir
        applied.agent.queueCapacity = current.agent.queueCapacity
        applied.log = current.log
        applied.ssh.ioThreads = current.ssh.ioThreads
        self.applied = applied

        let before = Dictionary(current.devices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var seen: Set<String> = []
        for device in next.devices where seen.insert(device.name).inserted {
            guard let old = before[device.name] else {
                devicesAdded.append(device.name)
                continue
            }
            let sameCredential = current.credentials[old.credential] == next.credentials[device.credential]
            // An SSH login that changed (password, key, host key policy, algorithms) means a new session too.
            let sameSSH =
                old.ssh.map { current.sshCredentials[$0.credential] }
                == device.ssh.map { next.sshCredentials[$0.credential] }
            if old == device && sameCredential && sameSSH {
                devicesUnchanged.append(device.name)
            } else {
                devicesChanged.append(device.name)
            }
        }
        devicesRemoved = before.keys.filter { !seen.contains($0) }.sorted()
        devicesUnchanged.sort()

        let running = Dictionary(current.outputs.names.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        var wanted: Set<String> = []
        for (name, type) in next.outputs.names where wanted.insert(name).inserted {
            switch running[name] {
            case nil: sinksAdded.append(name)
            case type: sinksKept.append(name)
            default: sinksReplaced.append(name)
            }
        }
        sinksRemoved = running.keys.filter { !wanted.contains($0) }.sorted()
    }

}
