import NetPollerCore

/// `[credentials.snmp.<name>]` and `[[devices]]`.
extension ConfigDecoder {
    func decodeCredentials(_ table: ConfigTable?) -> [String: SNMPCredential] {
        var result: [String: SNMPCredential] = [:]
        guard var snmp = table else { return result }
        for name in snmp.presentKeys {
            guard var entry = snmp.table(name) else { continue }
            defer { entry.finish() }
            var version = SNMPVersion.v2c
            if entry.has("version"), case .int(let number) = entry.node["version"]?.value, number == 1 || number == 3 {
                version = number == 1 ? .v1 : .v3
            } else if let text = entry.string("version") {
                if let v = SNMPVersion(rawValue: text) {
                    version = v
                } else {
                    entry.problem("version", "\"\(text)\" is not supported (use \"1\", \"2c\" or \"3\")")
                }
            }
            if version == .v3 {
                if let usm = decodeUSM(&entry, name: name) { result[name] = SNMPCredential(name: name, usm: usm) }
                continue
            }
            for key in Self.usmKeys where entry.has(key) {
                entry.problem(
                    key, "is an SNMPv3 setting; this credential is version \(version.rawValue) (set version = \"3\")")
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

    static let usmKeys = [
        "username", "security_level", "auth_protocol", "auth_password", "auth_password_file", "priv_protocol",
        "priv_password", "priv_password_file", "context_name", "engine_id",
    ]

    /// The SNMPv3 keys of one credential. Every inconsistency is an error, never a silent downgrade: a level that
    /// needs a protocol or password without it, a protocol or password the level would not use.
    func decodeUSM(_ entry: inout ConfigTable, name: String) -> USMCredential? {
        if entry.has("community") || entry.has("community_file") {
            entry.problem(
                entry.has("community") ? "community" : "community_file",
                "SNMPv3 has no community (use username and the auth_/priv_ keys)")
        }
        _ = entry.secret("community", required: false)
        let username = entry.string("username")
        if !entry.has("username") { entry.problem("username", "missing (the SNMPv3 user name)") }
        if let username {
            if username.isEmpty || username.utf8.count > 32 {
                entry.problem("username", "must be 1 to 32 bytes (RFC 3414 SnmpAdminString)")
            } else if Self.hasControlCharacters(username) {
                entry.problem("username", "must not hold a control character")
            }
        }
        let level: USMCredential.Level =
            entry.has("security_level")
            ? entry.choice("security_level", "a security level") ?? .authPriv : .authPriv
        let authProtocol: USMCredential.AuthProtocol? = entry.choice("auth_protocol", "an authentication protocol")
        let privProtocol: USMCredential.PrivProtocol? = entry.choice("priv_protocol", "a privacy protocol")
        let authPassword = entry.secret("auth_password", required: false)
        let privPassword = entry.secret("priv_password", required: false)
        let contextName = entry.string("context_name") ?? ""
        var engineID: [UInt8]?
        if let text = entry.string("engine_id") {
            engineID = Self.parseEngineID(text)
            if engineID == nil {
                entry.problem("engine_id", "must be 5 to 32 bytes in hex (e.g. \"80001f8880a1b2c3d4e5f60708\")")
            }
        }
        let needsAuth = level != .noAuthNoPriv
        let needsPriv = level == .authPriv
        func check(_ key: String, present: Bool, needed: Bool, what: String) {
            if needed && !present {
                entry.problem(key, "missing: security_level \(level.rawValue) needs \(what)")
            } else if !needed && present {
                entry.problem(key, "is set but security_level \(level.rawValue) does not use it")
            }
        }
        check("auth_protocol", present: entry.has("auth_protocol"), needed: needsAuth, what: "an auth_protocol")
        check(
            "auth_password", present: entry.has("auth_password") || entry.has("auth_password_file"),
            needed: needsAuth, what: "auth_password or auth_password_file")
        check("priv_protocol", present: entry.has("priv_protocol"), needed: needsPriv, what: "a priv_protocol")
        check(
            "priv_password", present: entry.has("priv_password") || entry.has("priv_password_file"),
            needed: needsPriv, what: "priv_password or priv_password_file")
        for (key, secret) in [("auth_password", authPassword), ("priv_password", privPassword)] {
            if let secret, secret.value.utf8.count < 8 {
                entry.problem(key, "must be at least 8 characters (RFC 3414)")
            }
        }
        guard let username, !username.isEmpty else { return nil }
        if needsAuth && (authProtocol == nil || authPassword == nil) { return nil }
        if needsPriv && (privProtocol == nil || privPassword == nil) { return nil }
        return USMCredential(
            username: username, level: level, authProtocol: needsAuth ? authProtocol : nil,
            authPassword: needsAuth ? authPassword : nil, privProtocol: needsPriv ? privProtocol : nil,
            privPassword: needsPriv ? privPassword : nil, contextName: contextName, engineID: engineID)
    }

    /// An engine ID in hex (`80001f88…`, optionally `0x`-prefixed or with `:` separators), 5 to 32 bytes.
    static func parseEngineID(_ text: String) -> [UInt8]? {
        var hex = String(text.lowercased().filter { $0 != ":" })
        if hex.hasPrefix("0x") { hex.removeFirst(2) }
        guard hex.count % 2 == 0, (10...64).contains(hex.count) else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    func decodeDevices(
        _ root: inout ConfigTable, agent: AgentSettings, credentials: [String: SNMPCredential], profiles: Set<String>,
        ssh: SSHSettings = SSHSettings(), sshCredentials: [String: SSHCredential] = [:], sshProfiles: Set<String> = []
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
            let sshDevice = decodeDeviceSSH(&entry, settings: ssh, credentials: sshCredentials)
            // A device with `ssh` and no `snmp` is polled over SSH only.
            let snmpEnabled = entry.has("snmp") || sshDevice == nil
            let credentialName = entry.string("snmp") ?? "default"
            if snmpEnabled && credentials[credentialName] == nil {
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
            // Profiles name SNMP and SSH profiles alike; each poller takes its own (none of its kind: automatic).
            var sshDevice_ = sshDevice
            if let list = deviceProfiles {
                let sshNames = list.filter { sshProfiles.contains($0) }
                let snmpNames = list.filter { !sshProfiles.contains($0) }
                if !sshNames.isEmpty {
                    if sshDevice_ == nil {
                        entry.problem(
                            "profiles",
                            "names SSH profiles (\(sshNames.joined(separator: ", "))) but the device has no ssh credential"
                        )
                    }
                    sshDevice_?.profiles = sshNames
                }
                deviceProfiles = snmpNames.isEmpty ? nil : snmpNames
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
            let pinnedRepetitions = entry.int("max_repetitions", range: 1...200)
            let maxRepetitions = pinnedRepetitions ?? agent.maxRepetitions
            let pinnedGetSize = entry.int("get_size", range: 1...128)
            let walkMode = entry.string("walk_mode")
            if let walkMode, walkMode != "bulk", walkMode != "getnext" {
                entry.problem("walk_mode", "\"\(walkMode)\" is not a walk mode (bulk or getnext)")
            }
            let rates = entry.bool("rates")
            let learn = entry.bool("learn_request_sizes") ?? agent.learnRequestSizes
            let tolerate = entry.int("tolerate_unordered", range: 0...1000) ?? 0
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
                device.rates = rates
                device.learnRequestSizes = learn
                device.getSize = pinnedGetSize ?? agent.getSize
                device.pinnedGetSize = pinnedGetSize != nil
                device.pinnedMaxRepetitions = pinnedRepetitions != nil
                device.walkMode = walkMode == "bulk" || walkMode == "getnext" ? walkMode : nil
                device.tolerateUnordered = tolerate
                device.snmpEnabled = snmpEnabled
                device.ssh = sshDevice_
                devices.append(device)
            }
        }
        // Exactly as many slots as devices: this is the one list every device's runtime reads for the agent's life
        // (grown by appending, up to half of it was empty: 1.5 MB at 10,000 devices).
        var exact: [DeviceConfig] = []
        exact.reserveCapacity(devices.count)
        exact.append(contentsOf: devices)
        return exact
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
