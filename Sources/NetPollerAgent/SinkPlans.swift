import AgentConfig
import Logging
import NetPollerCore
import Pipeline
import Synchronization

/// One sink a config asks for, with its delivery policy.
struct SinkPlan {
    var sink: any Sink
    var type: String
    var policy: DeliveryPolicy
    var start: StartPolicy
}

/// Makes the sinks a config asks for through their output plugins. A running sink whose settings did not change is
/// kept across reloads (with its connection) instead of being made anew.
final class SinkFactory: Sendable {
    private struct Running {
        var type: String
        var settings: any OutputSettings
        var agentName: String
        var sink: any Sink
    }

    let metrics: SelfMetrics
    let logger: Logger
    let extraSinks: [any Sink]
    private let plugins: [String: any OutputPlugin]
    private let running = Mutex<[String: Running]>([:])

    init(metrics: SelfMetrics, logger: Logger, plugins: [any OutputPlugin], extraSinks: [any Sink]) {
        self.metrics = metrics
        self.logger = logger
        self.extraSinks = extraSinks
        self.plugins = Dictionary(plugins.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func plans(_ config: AgentConfiguration) -> [SinkPlan] {
        let context = SinkContext(agentName: config.agent.name, metrics: metrics, logger: logger)
        var plans: [SinkPlan] = []
        for output in config.outputs.all {
            guard let plugin = plugins[output.type] else {
                logger.error("no plugin for this output type", metadata: .keys([.sink: "\(output.name)"]))
                continue
            }
            let sink = running.withLock { running -> any Sink in
                if let kept = running[output.name], kept.type == output.type,
                    kept.settings.isEqual(to: output.settings), kept.agentName == context.agentName
                {
                    return kept.sink
                }
                let sink = plugin.makeSink(name: output.name, settings: output.settings, context: context)
                running[output.name] = Running(
                    type: output.type, settings: output.settings, agentName: context.agentName, sink: sink)
                return sink
            }
            plans.append(
                SinkPlan(
                    sink: sink, type: output.type, policy: policy(output.name, output.delivery, config),
                    start: output.delivery.onStartUnavailable))
        }
        for sink in extraSinks {
            plans.append(
                SinkPlan(sink: sink, type: "extra", policy: policy(sink.name, OutputDelivery(), config), start: .retry))
        }
        return plans
    }

    /// The sink was stopped (removed or replaced by a reload, or it could not start): the next plan makes a new one.
    func forget(_ name: String) {
        running.withLock { _ = $0.removeValue(forKey: name) }
    }

    /// The configured policy with the paths that depend on the running `state_dir` filled in.
    func policy(_ name: String, _ delivery: OutputDelivery, _ config: AgentConfiguration) -> DeliveryPolicy {
        var policy = delivery.policy
        let state = config.agent.stateDir
        if policy.deadLetterPath == nil { policy.deadLetterPath = "\(state)/dead-letter/\(name).jsonl" }
        policy.spool?.directory = "\(state)/spool/\(name)"
        return policy
    }
}
