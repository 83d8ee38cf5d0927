import Foundation
import NetPollerCore

/// `[discovery]` (docs/discovery.md): every network and address checked here, so a sweep can never leave them.
extension ConfigDecoder {
    /// The largest network accepted without `allow_large` (a /16: 65,536 addresses).
    static let largestNetworkPrefix = 16

    func decodeDiscovery(_ table: ConfigTable?, credentials: [String: SNMPCredential]) -> DiscoverySettings? {
        guard var t = table else { return nil }
        defer { t.finish() }
        var settings = DiscoverySettings()
        if let v = t.bool("allow_large") { settings.allowLarge = v }
        func networks(_ key: String, checkSize: Bool) -> [IPv4Network] {
            guard let list = t.stringArray(key) else { return [] }
            var result: [IPv4Network] = []
            for (index, text) in list.enumerated() {
                let path = "\(t.keyPath(key))[\(index)]"
                switch IPv4Network.parse(text) {
                case .failure(let error):
                    t.problem(key, path: path, "\"\(text)\" \(error)")
                case .success(let network) where network.prefix == 0:
                    t.problem(key, path: path, "\"\(text)\" is the whole address space; name the ranges to use")
                case .success(let network)
                where checkSize && !settings.allowLarge && network.prefix < Self.largestNetworkPrefix:
                    t.problem(
                        key, path: path,
                        "\"\(text)\" holds \(network.size) addresses, more than a /16; "
                            + "split it, or set allow_large = true")
                case .success(let network):
                    result.append(network)
                }
            }
            return result
        }
        settings.networks = networks("networks", checkSize: true)
        settings.exclude = networks("exclude", checkSize: false)
        settings.prefer = networks("prefer", checkSize: false)
        if !t.has("networks") {
            t.problem("networks", "missing (the CIDR ranges discovery may probe, e.g. [\"192.0.2.0/24\"])")
        } else if settings.networks.isEmpty && t.stringArray("networks")?.isEmpty == true {
            t.problem("networks", "must list at least one network")
        }
        if let list = t.stringArray("seeds") {
            for (index, text) in list.enumerated() {
                let path = "\(t.keyPath("seeds"))[\(index)]"
                guard let address = IPv4(text) else {
                    t.problem("seeds", path: path, "\"\(text)\" is not an IPv4 address")
                    continue
                }
                if !settings.networks.isEmpty && !settings.allows(address) {
                    t.problem(
                        "seeds", path: path,
                        "\(address) is outside networks or inside exclude: discovery never sends to it")
                    continue
                }
                settings.seeds.append(address)
            }
        }
        if let v = t.bool("sweep") { settings.sweep = v }
        if !settings.sweep && settings.seeds.isEmpty && t.has("networks") {
            t.problem("seeds", "sweep = false needs at least one seed to start the neighbour crawl from")
        }
        if let list = t.stringArray("credentials") {
            for (index, name) in list.enumerated() where credentials[name] == nil {
                let known = credentials.keys.sorted().joined(separator: ", ")
                t.problem(
                    "credentials", path: "\(t.keyPath("credentials"))[\(index)]",
                    "unknown SNMP credential \"\(name)\" (known: \(known.isEmpty ? "none" : known))")
            }
            if list.isEmpty { t.problem("credentials", "must name at least one [credentials.snmp.*] entry") }
            settings.credentials = list
        } else if credentials["default"] != nil {
            settings.credentials = ["default"]
        } else {
            t.problem("credentials", "missing (the [credentials.snmp.*] names to try, in order)")
        }
        if let v = t.int("port", range: 1...65_535) { settings.port = v }
        if let v = t.int("rate", range: 1...100_000) { settings.rate = v }
        if let v = t.int("concurrency", range: 1...4_096) { settings.concurrency = v }
        if let v = t.duration("timeout", minimum: .milliseconds(10), maximum: (.seconds(60), "60s")) {
            settings.timeout = v
        }
        if let v = t.int("retries", range: 0...5) { settings.retries = v }
        if let v = t.int("max_depth", range: 0...16) { settings.maxDepth = v }
        if let v = t.int("max_devices", range: 1...1_000_000) { settings.maxDevices = v }
        if let v = t.int("max_table_rows", range: 1...100_000) { settings.maxTableRows = v }
        if t.has("interval") {
            if let text = t.string("interval"), text == "0" {
                settings.interval = .zero
            } else if let v = t.duration("interval", minimum: .seconds(1), maximum: (.seconds(30 * 86_400), "30d")) {
                settings.interval = v
            }
        }
        if let v = t.string("output_dir") {
            var isDirectory: ObjCBool = false
            if v.isEmpty {
                t.problem("output_dir", "must not be empty")
            } else if !FileManager.default.fileExists(atPath: v, isDirectory: &isDirectory) || !isDirectory.boolValue {
                t.problem("output_dir", "\"\(v)\" is not a directory")
            } else {
                settings.outputDir = v
            }
        }
        if let v = t.bool("auto_add") { settings.autoAdd = v }
        if settings.autoAdd && !t.has("output_dir") {
            t.problem("auto_add", "needs output_dir (the config directory discovered.conf is written to)")
        }
        return settings
    }
}
