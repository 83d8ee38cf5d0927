import NetPollerCore

/// `[credentials.snmp.<name>]` and `[[devices]]`.
extension ConfigDecoder {
    func decodeCredentials(_ table: ConfigTable?) -> [String: SNMPCredential] {
        var result: [String: SNMPCredential] = [:]
        guard var t = table else { return result }
        defer { t.finish() }
        guard var snmp = t.table("snmp") else { return result }
        for name in snmp.presentKeys {
            guard var entry = snmp.table(name) else { continue }
            defer { entry.finish() }
            var version = SNMPVersion.v2c
            if entry.has("version"), case .int(1) = entry.node["version"]?.value {
                version = .v1
            } else if let text = entry.string("version") {
                if let v = SNMPVersion(rawValue: text) {
                    version = v
                } else {
                    entry.problem(
                        "version", "\"\(text)\" is not supported (use \"1\" or \"2c\"; SNMPv3 comes in a later release)"
                    )
                }
            }
            if let community = entry.secret("community") {
                if community.value.isEmpty {
                    entry.problem("community", "must not be empty")
                } else {
                    result[name] = SNMPCredential(name: name, version: version, community: community)
                }
            }
        }
        snmp.finish()
        return result
    }

    func decodeDevices(
        _ root: inout ConfigTable, agent: AgentSettings, credentials: [String: SNMPCredential], profiles: Set<String>
    ) -> [DeviceConfig] {
        var devices: [DeviceConfig] = []
        var seen: [String: Int] = [:]
        for (index, var entry) in root.tables("devices").enumerated() {
            defer { entry.finish() }
            let name = entry.string("name")
            if !entry.has("name") { entry.problem("name", "missing (every device needs a unique name)") }
            if let name {
                if name.isEmpty { entry.problem("name", "must not be empty") }
                if Self.hasControlCharacters(name) {
                    entry.problem("name", "must not hold a newline or another control character")
                }
                if let first = seen[name] {
                    entry.problem(
                        "name", "duplicate device name \"\(name)\" (also devices[\(first)]); names must be unique")
                } else {
                    seen[name] = index
                }
            }
            var address: HostAddress?
            if let text = entry.string("address") {
                switch Self.parseAddress(text, defaultPort: ConfigLoader.defaultPort) {
                case .success(let a): address = a
                case .failure(let error):
                    entry.problem("address", "\(error.reason) (examples: 192.0.2.1, [2001:db8::1]:161, r1.example.net)")
                }
            } else if !entry.has("address") {
                entry.problem("address", "missing (host or host:port)")
            }
            let credentialName = entry.string("snmp") ?? "default"
            if credentials[credentialName] == nil {
                let known = credentials.keys.sorted()
                let hint =
                    known.isEmpty
                    ? "define [credentials.snmp.\(credentialName)]"
                    : "known: \(known.joined(separator: ", "))"
                entry.problem(
                    "snmp",
                    entry.has("snmp")
                        ? "unknown credential \"\(credentialName)\" (\(hint))"
                        : "missing, and no credential named \"default\" exists (\(hint))")
            }
            var deviceProfiles: [String]?
            if let list = entry.stringArray("profiles") {
                for (i, p) in list.enumerated() where !profiles.contains(p) {
                    entry.problem(
                        "profiles", path: "\(entry.keyPath("profiles"))[\(i)]",
                        "unknown profile \"\(p)\" (known: \(profiles.sorted().joined(separator: ", ")))")
                }
                deviceProfiles = list
            }
            var tags: [Tag] = []
            for (key, value) in entry.entries("tags", wrongType: "expected a table (tags = { site = \"ams1\" })") ?? []
            {
                let path = "\(entry.keyPath("tags")).\(key)"
                if key == "device" {
                    problem(value, path, "\"device\" is reserved for the device name")
                } else if !Self.isLabelName(key) {
                    problem(
                        value, path,
                        "\"\(key)\" is not a usable label name (letters, digits and '_', not starting with a digit or \"__\")"
                    )
                } else if let text = entry.decoder.string(value, path) {
                    if Self.hasControlCharacters(text) {
                        problem(value, path, "must not hold a newline or another control character")
                    } else {
                        tags.append(Tag(key, text))
                    }
                }
            }
            tags.sort { $0.key < $1.key }
            let interval =
                entry.duration("interval", minimum: .seconds(1), maximum: (.seconds(7 * 86_400), "7d"))
                ?? agent.interval
            let timeout = entry.duration("timeout", minimum: .milliseconds(10)) ?? agent.timeout
            let retries = entry.int("retries", range: 0...10) ?? agent.retries
            let maxRepetitions = entry.int("max_repetitions", range: 1...200) ?? agent.maxRepetitions
            let maxWalkVarbinds = entry.int("max_walk_varbinds", range: 1...10_000_000) ?? agent.maxWalkVarbinds
            let pollBudget =
                entry.duration("poll_budget", minimum: .seconds(1), maximum: (.seconds(7 * 86_400), "7d"))
                ?? agent.pollBudget
            let reprobe =
                entry.duration("reprobe", minimum: .seconds(60), maximum: (.seconds(365 * 86_400), "365d"))
                ?? agent.reprobe
            if let name, let address {
                var device = DeviceConfig(
                    name: name, address: address, credential: credentialName, profiles: deviceProfiles,
                    interval: interval, timeout: timeout, retries: retries, maxRepetitions: maxRepetitions,
                    tags: tags)
                device.maxWalkVarbinds = maxWalkVarbinds
                device.pollBudget = pollBudget
                device.reprobe = reprobe
                devices.append(device)
            }
        }
        return devices
    }

    /// Whether text holds a character that would break a log line, a label or line protocol.
    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) }
    }

    /// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !name.hasPrefix("__") else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        return letter(first) && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }
}
