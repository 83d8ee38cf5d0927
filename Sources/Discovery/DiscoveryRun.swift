import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime

/// One whole run as `discover` and the agent do it: observe, merge against the inventory, remember.
public struct DiscoveryRun: Sendable {
    public let config: AgentConfiguration
    public let settings: DiscoverySettings
    public let transport: any DiscoveryTransport
    let logger: Logger

    public init(
        config: AgentConfiguration, settings: DiscoverySettings, transport: any DiscoveryTransport,
        logger: Logger = Logger(label: "netpoller.discovery")
    ) {
        self.config = config
        self.settings = settings
        self.transport = transport
        self.logger = logger
    }

    public struct Outcome: Sendable {
        public var result: DiscoveryResult
        public var observations: DiscoveryObservations
        public var changes: DiscoveryInventory.Changes
        /// The state could not be kept (first-seen times and names will not be stable).
        public var stateWarning: String?
        public var peakRSSBytes: Int

        public var summary: String {
            let o = observations
            var text =
                "discovery: \(o.addressesProbed) addresses probed, \(result.devices.count) devices, "
                + "\(result.links.count) links, \(result.noCredential.count) no_credential, "
                + "\(result.unreachable.count) unreachable, \(o.packets) packets in "
                + String(format: "%.2f", o.seconds) + " s; \(changes.new.count) new, \(changes.changed.count) changed, "
                + "\(changes.gone.count) gone; peak RSS \(peakRSSBytes >> 20) MiB"
            if o.dropped > 0 { text += "; \(o.dropped) answering addresses beyond max_devices not kept" }
            return text
        }
    }

    /// - Parameter ownFile: the file this run's conf output replaces (its devices are not "configured by hand").
    public func perform(ownFile: String? = nil) async -> Outcome {
        var discoverer = Discoverer(
            settings: settings, credentials: config.credentials, transport: transport, logger: logger)
        discoverer.userProfiles = config.profiles
        discoverer.defaultProfiles = config.agent.defaultProfiles
        let observations = await discoverer.observe()
        // The state file and the output file: blocking file I/O, so off the cooperative pool.
        let config = self.config
        let settings = self.settings
        return await DispatchQueue.global().run {
            Self.remember(observations, config: config, settings: settings, ownFile: ownFile)
        }
    }

    /// Merges against the inventory and saves it (blocking).
    static func remember(
        _ observations: DiscoveryObservations, config: AgentConfiguration, settings: DiscoverySettings,
        ownFile: String?
    ) -> Outcome {
        let stateDir = config.agent.stateDir
        var stateWarning: String?
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        } catch {
            stateWarning = "cannot create state_dir \(stateDir): names and first-seen times are not kept"
        }
        var inventory = DiscoveryInventory.load(stateDir: stateDir)
        let now = Date()
        var own = Set<String>()
        for file in [ownFile, settings.outputDir.map { ($0 as NSString).appendingPathComponent(fileName) }] {
            if let file, let data = FileManager.default.contents(atPath: file) {
                own.formUnion(DiscoveryRender.names(inConf: String(decoding: data, as: UTF8.self)))
            }
        }
        let reserved = Set(config.devices.map(\.name)).subtracting(own)
        let result = IdentityMerge.merge(
            observations, settings: settings, known: inventory.known, reserved: reserved,
            now: DiscoveryInventory.iso(now))
        let changes = inventory.apply(result, now: now)
        if stateWarning == nil {
            do {
                try inventory.save(stateDir: stateDir)
            } catch {
                stateWarning = "cannot write \(stateDir)/\(DiscoveryInventory.fileName): \(error)"
            }
        }
        return Outcome(
            result: result, observations: observations, changes: changes, stateWarning: stateWarning,
            peakRSSBytes: peakRSS())
    }

    /// What the agent writes into `output_dir`.
    public static let fileName = "discovered.conf"

    /// VmHWM of this process, in bytes.
    static func peakRSS() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
        return 0
    }
}
