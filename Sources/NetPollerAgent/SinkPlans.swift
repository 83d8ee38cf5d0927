import InfluxOutput
import Logging
import NetPollerCore
import Pipeline
import PostgresOutput
import Synchronization

/// One sink a config asks for, with its delivery policy.
struct SinkPlan {
    var sink: any Sink
    var type: String
    var policy: DeliveryPolicy
    var start: StartPolicy
}

/// Makes the sinks a config asks for. PostgreSQL and InfluxDB sinks whose settings did not change are kept across
/// reloads (with their connections) instead of being made anew.
final class SinkFactory: Sendable {
    let metrics: SelfMetrics
    let logger: Logger
    let extraSinks: [any Sink]
    private let postgresSinks = ReusableSinks<PostgresOptions, PostgresSink>()
    private let influxSinks = ReusableSinks<InfluxOptions, InfluxSink>()

    init(metrics: SelfMetrics, logger: Logger, extraSinks: [any Sink]) {
        self.metrics = metrics
        self.logger = logger
        self.extraSinks = extraSinks
    }

    func plans(_ config: AgentConfiguration) -> [SinkPlan] {
        var plans: [SinkPlan] = []
        func add(_ sink: any Sink, _ type: String, _ delivery: OutputDelivery) {
            plans.append(
                SinkPlan(
                    sink: sink, type: type, policy: policy(sink.name, delivery, config),
                    start: delivery.onStartUnavailable))
        }
        for output in config.outputs.stdout {
            add(
                StdoutSink(name: output.name, format: output.format == .json ? .json : .influx), "stdout",
                output.delivery)
        }
        for output in config.outputs.file {
            add(
                FileSink(name: output.name, path: output.path, format: output.format == .json ? .json : .influx),
                "file", output.delivery)
        }
        for output in config.outputs.postgres {
            var options = output.options
            options.agentName = config.agent.name
            let sink = postgresSinks.sink(output.name, options, isClosed: \.isClosed) {
                PostgresSink(options: options, metrics: metrics.postgres(output.name), logger: logger)
            }
            add(sink, "postgres", output.delivery)
        }
        for output in config.outputs.influxdb {
            let sink = influxSinks.sink(output.name, output.options, isClosed: \.isClosed) {
                InfluxSink(options: output.options, metrics: metrics, logger: logger)
            }
            add(sink, "influxdb", output.delivery)
        }
        for sink in extraSinks {
            plans.append(
                SinkPlan(sink: sink, type: "extra", policy: policy(sink.name, OutputDelivery(), config), start: .retry))
        }
        return plans
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

/// Sinks kept across reloads, by name: the running one while its settings are unchanged (and it is open), else a new
/// one made from the new settings.
final class ReusableSinks<Options: Equatable & Sendable, S: Sink>: Sendable {
    private let sinks = Mutex<[String: (options: Options, sink: S)]>([:])

    func sink(_ name: String, _ options: Options, isClosed: (S) -> Bool, make: () -> S) -> S {
        sinks.withLock { sinks in
            if let running = sinks[name], running.options == options, !isClosed(running.sink) { return running.sink }
            let sink = make()
            sinks[name] = (options, sink)
            return sink
        }
    }
}
