import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import Prometheus
import Synchronization

/// Discovery's own metrics, on the agent's registry.
public final class DiscoveryMetrics: Sendable {
    let runs: Counter
    let addressesProbed: Counter
    let packets: Counter
    let devices: Gauge
    let links: Gauge
    let noCredential: Gauge
    let unreachable: Gauge
    let duration: Gauge
    let lastRun: Gauge
    let changes: [String: Counter]
    private let errors = Mutex<[String: Counter]>([:])
    private let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        runs = registry.makeCounter(
            descriptor: metricDescriptor("netpoller_discovery_runs_total", "Discovery runs finished."))
        addressesProbed = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_discovery_addresses_probed_total", "Addresses discovery sent a probe to."))
        packets = registry.makeCounter(
            descriptor: metricDescriptor(
                "netpoller_discovery_packets_total",
                "SNMP packets discovery sent, as its rate limiter counted them (an SNMPv3 first contact counts 3)."))
        devices = registry.makeGauge(
            descriptor: metricDescriptor("netpoller_discovery_devices", "Devices the last discovery run found."))
        links = registry.makeGauge(
            descriptor: metricDescriptor("netpoller_discovery_links", "Neighbour links the last discovery run found."))
        noCredential = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_discovery_no_credential",
                "Addresses that answered SNMP but none of the discovery credentials in the last run."))
        unreachable = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_discovery_unreachable",
                "Seeds and neighbours' management addresses that answered nothing in the last run."))
        duration = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_discovery_duration_seconds", "Wall time of the last discovery run (sweep and crawl)."))
        lastRun = registry.makeGauge(
            descriptor: metricDescriptor(
                "netpoller_discovery_last_run_timestamp_seconds", "When the last discovery run ended (Unix time)."))
        var changes: [String: Counter] = [:]
        for change in ["new", "changed", "gone"] {
            changes[change] = registry.makeCounter(
                descriptor: metricDescriptor(
                    "netpoller_discovery_changes_total",
                    "Devices new, changed or gone from one discovery run to the next."),
                labels: [("change", change)])
        }
        self.changes = changes
        for code in ["state_write", "conf_write", "inventory_write"] { _ = error(code) }
    }

    /// `netpoller_discovery_errors_total{error_type}`: what discovery could not keep or write.
    @discardableResult
    func error(_ code: String) -> Counter {
        errors.withLock { errors in
            if let counter = errors[code] { return counter }
            let counter = registry.makeCounter(
                descriptor: metricDescriptor(
                    "netpoller_discovery_errors_total",
                    "Discovery failures by error_type (state_write, conf_write, inventory_write)."),
                labels: [("error_type", code)])
            errors[code] = counter
            return counter
        }
    }
}

/// The agent's periodic discovery: one `DiscoveryRun` per call, `discovered.conf` rewritten when its devices change,
/// metrics and `/status` kept, every failure counted and logged once per run.
public final class AgentDiscovery: DiscoveryRunner {
    public let transport: any DiscoveryTransport
    let metrics: DiscoveryMetrics
    let logger: Logger
    let inventoryWriters: @Sendable (AgentConfiguration) -> [any InventoryWriter]
    private let state = Mutex<DiscoveryStatus?>(nil)

    public init(
        transport: any DiscoveryTransport, registry: PrometheusCollectorRegistry, logger: Logger,
        inventoryWriters: @escaping @Sendable (AgentConfiguration) -> [any InventoryWriter] = { _ in [] }
    ) {
        self.transport = transport
        self.metrics = DiscoveryMetrics(registry: registry)
        self.logger = logger
        self.inventoryWriters = inventoryWriters
    }

    public var status: DiscoveryStatus? { state.withLock { $0 } }

    public func run(_ config: AgentConfiguration) async -> Bool {
        guard let settings = config.discovery else { return false }
        let path = settings.outputDir.map { ($0 as NSString).appendingPathComponent(DiscoveryRun.fileName) }
        logger.info(
            "discovery started",
            metadata: .keys([
                .phase: "discovery", .networks: "\(settings.networks.map(\.description).joined(separator: ","))",
            ]))
        let outcome = await DiscoveryRun(config: config, settings: settings, transport: transport, logger: logger)
            .perform(ownFile: path)
        let result = outcome.result
        var lastError: String?
        if let warning = outcome.stateWarning {
            metrics.error("state_write").increment()
            logger.error("discovery: \(warning)", metadata: .keys([.phase: "discovery"]))
            lastError = warning
        }
        var fileChanged = false
        if let path {
            // Reading and writing discovered.conf is blocking file I/O: off the cooperative pool.
            let (changed, writeError) = await DispatchQueue.global().run {
                Self.writeConf(result, config: config, path: path)
            }
            fileChanged = changed
            if let writeError {
                metrics.error("conf_write").increment()
                logger.error("discovery: \(writeError)", metadata: .keys([.phase: "discovery"]))
                lastError = writeError
            }
        }
        for writer in inventoryWriters(config) {
            do {
                try await writer.write(result, at: Date().timeIntervalSince1970)
            } catch {
                metrics.error("inventory_write").increment()
                let message = "inventory not written to \(writer.name): \(error)"
                logger.error("discovery: \(message)", metadata: .keys([.phase: "discovery", .sink: "\(writer.name)"]))
                lastError = message
            }
        }
        let o = outcome.observations
        metrics.runs.increment()
        metrics.addressesProbed.increment(by: Int64(o.addressesProbed))
        metrics.packets.increment(by: Int64(o.packets))
        metrics.devices.set(Double(result.devices.count))
        metrics.links.set(Double(result.links.count))
        metrics.noCredential.set(Double(result.noCredential.count))
        metrics.unreachable.set(Double(result.unreachable.count))
        metrics.duration.set(o.seconds)
        metrics.lastRun.set(Date().timeIntervalSince1970)
        metrics.changes["new"]?.increment(by: Int64(outcome.changes.new.count))
        metrics.changes["changed"]?.increment(by: Int64(outcome.changes.changed.count))
        metrics.changes["gone"]?.increment(by: Int64(outcome.changes.gone.count))
        let reload = fileChanged && settings.autoAdd
        var line = outcome.summary
        if !outcome.changes.new.isEmpty { line += "; new: " + outcome.changes.new.prefix(20).joined(separator: ", ") }
        if reload { line += "; reloading (auto_add)" }
        logger.info("\(line)", metadata: .keys([.phase: "discovery", .file: "\(path ?? "")"]))
        state.withLock { status in
            var s = status ?? DiscoveryStatus()
            s.runs += 1
            s.lastRunTime = Date().timeIntervalSince1970
            s.lastRunSeconds = o.seconds
            s.nextRunTime = Date().timeIntervalSince1970 + Double(settings.interval.components.seconds)
            s.addressesProbed = o.addressesProbed
            s.packets = o.packets
            s.devices = result.devices.count
            s.links = result.links.count
            s.new = Array(outcome.changes.new.prefix(100))
            s.changed = Array(outcome.changes.changed.prefix(100))
            s.gone = Array(outcome.changes.gone.prefix(100))
            s.noCredential = result.noCredential.prefix(100).map(\.address.description)
            s.unreachable = result.unreachable.prefix(100).map(\.description)
            s.file = path
            s.fileChanged = fileChanged
            s.autoAdd = settings.autoAdd
            s.lastError = lastError
            status = s
        }
        return reload
    }

    /// Rewrites `path` when its text changes, leaving out devices configured elsewhere (by address or name). Returns
    /// whether its devices changed, and the write error if any.
    static func writeConf(_ result: DiscoveryResult, config: AgentConfiguration, path: String) -> (Bool, String?) {
        let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
        let ours = existing.map(DiscoveryRender.names(inConf:)) ?? []
        let byHand = config.devices.filter { !ours.contains($0.name) }
        let handAddresses = Set(byHand.compactMap { IPv4($0.address.host) })
        let handNames = Set(byHand.map(\.name))
        let exclude = Set(
            result.devices.filter { d in
                handNames.contains(d.name) || d.addresses.contains { handAddresses.contains($0) }
            }.map(\.name))
        let text = DiscoveryRender.conf(result, excluding: exclude)
        let changed = existing.map { devicesPart($0) != devicesPart(text) } ?? true
        guard existing != text else { return (changed, nil) }
        do {
            try writeAtomically(Data(text.utf8), to: path)
            return (changed, nil)
        } catch {
            return (false, "cannot write \(path): \(error)")
        }
    }

    /// The lines that make devices (comments aside): what decides whether a reload is worth it.
    static func devicesPart(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }
    }
}
