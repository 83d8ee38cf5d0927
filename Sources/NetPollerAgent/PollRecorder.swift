import Logging
import NetPollerCore
import Pipeline

/// Turns one poll's outcome into what the rest of the agent sees: the device's status, the poll metrics of its
/// collector's kind, a batch on the queue, and one log line when the device's state changes.
struct PollRecorder: Sendable {
    let metrics: SelfMetrics
    let status: StatusBoard
    let queue: SampleQueue
    let logger: Logger

    /// One collector's part of a device's poll.
    struct KindOutcome: Sendable {
        var kind: String
        var outcome: PollOutcome
        var duration: Duration
    }

    func record(
        _ device: DeviceRuntime, _ outcome: PollOutcome, kind: String, duration: Duration, timestamp: Int64
    ) {
        record(device, [KindOutcome(kind: kind, outcome: outcome, duration: duration)], timestamp: timestamp)
    }

    /// The outcomes of one device's poll by each of its collectors: metrics per kind, then one status update and one
    /// batch for the device (its state is the worst but `down` only when every kind is down).
    func record(_ device: DeviceRuntime, _ parts: [KindOutcome], timestamp: Int64) {
        let name = device.config.name
        for part in parts {
            let polls = metrics.polls(kind: part.kind)
            polls.record(part.outcome.state, duration: part.duration)
            for error in part.outcome.errors { polls.error(error.code) }
            for error in part.outcome.walkErrors { metrics.walkError(error.code) }
        }
        let outcome = Self.merge(parts.map(\.outcome))
        let duration = parts.map(\.duration).max() ?? .zero
        let firstError = outcome.errors.first
        var knownProfiles: [String] = []
        let change = status.update(name) { s in
            s.state = outcome.state
            s.lastPollTime = Double(timestamp) / 1e9 + duration.seconds
            s.pollStarted = nil
            s.lastPollDurationSeconds = duration.seconds
            s.lastError = firstError?.description
            s.lastErrorType = firstError?.code.rawValue
            s.samples = outcome.samples.count
            s.polls += 1
            if !outcome.profiles.isEmpty { s.profiles = outcome.profiles }
            if !outcome.profileReasons.isEmpty { s.profileReasons = outcome.profileReasons }
            if let snmp = outcome.snmp { s.snmp = snmp }
            if let ssh = outcome.ssh { s.ssh = ssh }
            knownProfiles = s.profiles
        }
        // A poll with data is a batch; a poll that lost the device is a status-only batch once, at the change, so sinks
        // that keep an inventory (postgres `devices`) see it go down.
        let stateChanged = change.map { $0.0 != $0.1 } ?? false
        if !outcome.samples.isEmpty || stateChanged {
            var samples = outcome.samples
            device.reuseTags(&samples)
            let batch = SampleBatch(
                id: Schedule.batchID(device: name, timestampNanos: timestamp), device: name,
                deviceTags: device.config.tags, timestampNanos: timestamp, samples: samples,
                poll: PollInfo(
                    address: device.config.displayAddress, profiles: knownProfiles, state: outcome.state.rawValue))
            queue.push(batch)
        }
        if let (before, after) = change, before != after {
            var metadata: Logger.Metadata = .keys([
                .device: "\(name)", .address: "\(device.config.displayAddress)", .state: "\(after.rawValue)",
                .previousState: "\(before.rawValue)",
            ])
            if let firstError {
                metadata[LogKey.errorType.rawValue] = "\(firstError.code.rawValue)"
                metadata[LogKey.error.rawValue] = "\(firstError.message)"
            }
            if after == .up {
                logger.info("device up", metadata: metadata)
            } else {
                logger.warning("device \(after.rawValue)", metadata: metadata)
            }
        }
    }

    /// One device's outcome from its kinds' outcomes.
    static func merge(_ outcomes: [PollOutcome]) -> PollOutcome {
        guard var merged = outcomes.first else { return .failed(PollError(.sessionFailed, "nothing polled")) }
        for other in outcomes.dropFirst() {
            merged.samples += other.samples
            merged.errors += other.errors
            merged.walkErrors += other.walkErrors
            merged.varbinds += other.varbinds
            merged.requests += other.requests
            merged.sysObjectID = merged.sysObjectID ?? other.sysObjectID
            for profile in other.profiles where !merged.profiles.contains(profile) { merged.profiles.append(profile) }
            merged.profileReasons.merge(other.profileReasons) { a, _ in a }
            merged.snmp = merged.snmp ?? other.snmp
            merged.ssh = merged.ssh ?? other.ssh
            let states = [merged.state, other.state]
            if states.allSatisfy({ $0 == .down }) {
                merged.state = .down
            } else if states.allSatisfy({ $0 == .up }) {
                merged.state = .up
            } else {
                merged.state = .degraded
            }
        }
        return merged
    }

    func recordOverrun(_ name: String, _ missed: Int) {
        metrics.pollOverruns.increment(by: Int64(missed))
        status.update(name) { $0.overruns += missed }
    }
}
