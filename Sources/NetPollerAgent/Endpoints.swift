import AgentHTTP
import Foundation
import NetPollerCore
import Pipeline

/// What the HTTP endpoints serve, read from the running agent's parts; never polls and never waits on a sink.
struct AgentEndpoints: Sendable {
    /// `/status` → `agent.reload`.
    struct ReloadStatus: Encodable, Sendable {
        var reloads = 0
        var lastReloadTime: Double?
        var lastReloadResult: String?
        var lastReloadError: String?
    }

    let metrics: SelfMetrics
    let status: StatusBoard
    let cache: LatestValueCache
    let queue: SampleQueue
    let runner: SinkRunner
    let collectors: [any Collector]
    let startedAt: Date
    let isReady: @Sendable () -> Bool
    let config: @Sendable () -> AgentConfiguration
    let hasDevice: @Sendable (String) -> Bool
    let reloadStatus: @Sendable () -> ReloadStatus
    /// `[discovery]`'s last run; nil when the agent does not discover.
    var discoveryStatus: @Sendable () -> DiscoveryStatus? = { nil }

    func handlers() -> HTTPHandlers {
        HTTPHandlers(
            metrics: { [self] in
                metrics.pollLoopHeartbeatAge.set(collectors.compactMap(\.heartbeatAge).max() ?? 0)
                runner.updateGauges()
                return metrics.exposition()
            },
            devices: { [self] name in
                if let name {
                    guard hasDevice(name) else { return nil }
                    return DeviceExposition.render(
                        cache.latest(device: name), status: status.snapshot().filter { $0.name == name })
                }
                return DeviceExposition.render(cache.latest(), status: status.snapshot())
            },
            health: { [self] in health() },
            ready: { [self] in readiness() },
            status: { [self] in statusJSON() })
    }

    /// Live while every collector's I/O thread goes round its loop (each wakes at least every 250 ms).
    func health() -> (Bool, String) {
        for collector in collectors {
            if let age = collector.heartbeatAge, age >= 5 {
                return (false, "\(collector.kind) io thread stalled for \(String(format: "%.1f", age))s")
            }
        }
        return (true, "ok")
    }

    /// 200 while polling runs, even with sinks degraded ("ready, degraded: …"), unless `ready_requires_sinks`.
    func readiness() -> (Bool, String) {
        guard isReady() else { return (false, "not ready") }
        let troubled = runner.status.filter { $0.state != "ok" }
        guard !troubled.isEmpty else { return (true, "ready") }
        let detail = troubled.map { "sink \($0.name) \($0.state)" }.joined(separator: ", ")
        if config().agent.readyRequiresSinks { return (false, "not ready: \(detail)") }
        return (true, "ready, degraded: \(detail)")
    }

    struct StatusDocument: Encodable {
        struct AgentPart: Encodable {
            var name: String
            var version: String
            var ready: Bool
            var uptimeSeconds: Double
            var configFiles: [String]
            var configHash: String
            var reload: ReloadStatus
        }
        struct QueuePart: Encodable {
            var lengthSamples: Int
            var capacitySamples: Int
        }
        var agent: AgentPart
        var devices: [DeviceStatus]
        var queue: QueuePart
        var sinks: [SinkStatus]
        var discovery: DiscoveryStatus?
    }

    func statusJSON() -> [UInt8] {
        let config = self.config()
        let document = StatusDocument(
            agent: .init(
                name: config.agent.name, version: SelfMetrics.version, ready: readiness().0,
                uptimeSeconds: Date().timeIntervalSince(startedAt), configFiles: config.files, configHash: config.hash,
                reload: reloadStatus()),
            devices: status.snapshot(),
            queue: .init(lengthSamples: queue.count, capacitySamples: queue.capacity),
            sinks: runner.status, discovery: discoveryStatus())
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array((try? encoder.encode(document)) ?? Data())
    }
}
