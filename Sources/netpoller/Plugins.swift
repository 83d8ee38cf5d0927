import NetPollerCore
import SNMPPolling

/// The registration point: every collector (input) the agent runs. A new poller is one folder under `Sources/Inputs`
/// and one line here.
enum Plugins {
    static func collectors(metrics: SelfMetrics) -> [any Collector] {
        [SNMPCollector(metrics: metrics)]
    }
}
