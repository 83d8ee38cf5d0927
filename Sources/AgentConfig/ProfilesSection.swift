import NetPollerCore

/// `[[profiles]]`: user profiles with `[[profiles.scalars]]` and `[[profiles.tables]]`.
extension ConfigDecoder {
    func decodeProfiles(_ root: inout ConfigTable) -> [Profile] {
        var result: [Profile] = []
        for var entry in root.tables("profiles") {
            defer { entry.finish() }
            let name = entry.string("name")
            if name == nil && !entry.has("name") { entry.problem("name", "missing") }
            var profile = Profile(name: name ?? "")
            for (i, text) in (entry.stringArray("sysobjectid_prefixes") ?? []).enumerated() {
                if let oid = OID(text.hasSuffix(".") ? String(text.dropLast()) : text) {
                    profile.sysObjectIDPrefixes.append(oid)
                } else {
                    entry.problem(
                        "sysobjectid_prefixes", path: "\(entry.keyPath("sysobjectid_prefixes"))[\(i)]",
                        "\"\(text)\" is not an OID (example: 1.3.6.1.4.1.9)")
                }
            }
            for var scalar in entry.tables("scalars") {
                defer { scalar.finish() }
                let measurement = scalar.string("measurement") ?? name ?? ""
                let fields = fieldSpecs(&scalar, "fields", required: true)
                let tags = fieldSpecs(&scalar, "tags", required: false)
                profile.scalars.append(ScalarGroup(measurement: measurement, fields: fields, tags: tags))
            }
            for var table in entry.tables("tables") {
                defer { table.finish() }
                let measurement = table.string("measurement") ?? name ?? ""
                let fields = fieldSpecs(&table, "fields", required: true)
                let indexTags = fieldSpecs(&table, "index_tags", required: false)
                let indexTag = table.string("index_tag") ?? "index"
                var walk = TableSpec.WalkMode.entry
                if let text = table.string("walk") {
                    if let mode = TableSpec.WalkMode(rawValue: text) {
                        walk = mode
                    } else {
                        table.problem("walk", "\"\(text)\" is not a walk mode (entry or columns)")
                    }
                }
                profile.tables.append(
                    TableSpec(
                        measurement: measurement, fields: fields, indexTags: indexTags, indexTag: indexTag, walk: walk)
                )
            }
            profile.commands = decodeCommands(&entry, profile: name ?? "")
            profile.platforms = entry.stringArray("platforms") ?? []
            if !profile.platforms.isEmpty && profile.commands.isEmpty {
                entry.problem("platforms", "is for SSH profiles (with [[profiles.commands]])")
            }
            if !profile.commands.isEmpty && !(profile.scalars.isEmpty && profile.tables.isEmpty) {
                entry.problem(
                    nil,
                    "profile \"\(name ?? "")\" mixes SNMP ([[profiles.scalars]]/[[profiles.tables]]) and SSH ([[profiles.commands]]); make two profiles"
                )
            }
            if let v = entry.bool("rates") { profile.rates = v }
            if let v = entry.int("tolerate_unordered", range: 0...1000) { profile.tolerateUnordered = v }
            guard let name else { continue }
            if profile.scalars.isEmpty && profile.tables.isEmpty && profile.commands.isEmpty {
                entry.problem(
                    nil,
                    "profile \"\(name)\" has neither [[profiles.scalars]], [[profiles.tables]] nor [[profiles.commands]]"
                )
            }
            result.append(profile)
        }
        return result
    }

    /// `fields = { name = "1.3.6…" }`, or with a declared type: `name = { oid = "1.3.6…", type = "mac" }` (a metric
    /// type, `counter` or `gauge`, or a text type).
    func fieldSpecs(_ table: inout ConfigTable, _ key: String, required: Bool) -> [FieldSpec] {
        let path = table.keyPath(key)
        guard let pairs = table.entries(key, wrongType: "expected a table of name = \"OID\"") else {
            if required && !table.has(key) { table.problem(key, "missing (fields = { name = \"OID\" })") }
            return []
        }
        var specs: [FieldSpec] = []
        var decoder = table.decoder
        for (name, value) in pairs {
            var oidNode: Node? = value
            var type: FieldType?
            if case .table = value.value, var spec = ConfigTable(value, path: "\(path).\(name)", decoder: decoder) {
                oidNode = spec.read("oid")
                type = spec.choice("type", "a field type")
                if oidNode == nil { spec.problem("oid", "missing (the column's or scalar's OID)") }
                spec.finish()
            }
            guard let oidNode, let text = decoder.string(oidNode, "\(path).\(name)") else { continue }
            if let oid = OID(text) {
                specs.append(FieldSpec(name, oid, type: type))
            } else {
                problem(oidNode, "\(path).\(name)", "\"\(text)\" is not an OID (example: 1.3.6.1.2.1.2.2.1.10)")
            }
        }
        if required && specs.isEmpty && pairs.isEmpty { table.problem(key, "must list at least one field") }
        return specs
    }
}
