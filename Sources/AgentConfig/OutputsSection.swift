import NetPollerCore

/// `[[outputs.<type>]]`: the keys every output takes (name, delivery, spool), then the plugin's own.
extension ConfigDecoder {
    func decodeOutputs(_ table: ConfigTable?, plugins: [any OutputPlugin]) -> OutputsConfig {
        var outputs = OutputsConfig()
        guard var t = table else { return outputs }
        defer { t.finish() }
        var seen: [String: String] = [:]
        for plugin in plugins {
            for var entry in t.tables(plugin.type) {
                let name = sinkName(&entry, fallback: plugin.type, seen: &seen)
                let delivery = delivery(&entry)
                let settings = plugin.decode(&entry, name: name)
                // A table that cannot make a sink may not have had all its keys read: its own problems come first.
                if settings != nil { entry.finish() }
                if let settings {
                    outputs.all.append(
                        ConfiguredOutput(type: plugin.type, name: name, settings: settings, delivery: delivery))
                }
            }
        }
        return outputs
    }

    /// The sink's name: unique over all outputs and usable as a directory name (its spool lives under it).
    func sinkName(_ entry: inout ConfigTable, fallback: String, seen: inout [String: String]) -> String {
        let name = entry.string("name") ?? fallback
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || "-_.".unicodeScalars.contains($0)
        }
        if name.isEmpty || !allowed || name.hasPrefix(".") {
            entry.problem(
                "name",
                "\"\(name)\" is not a usable sink name (letters, digits, '-', '_', '.'; it names the spool directory)")
        } else if let other = seen[name] {
            entry.problem(
                "name", "the sink name \"\(name)\" is already used by \(other); give each output its own name = \"…\"")
        }
        seen[name] = entry.path
        return name
    }

    /// Batching, retries, circuit breaker, start-up policy, dead letters and `[outputs.<type>.spool]`.
    func delivery(_ entry: inout ConfigTable) -> OutputDelivery {
        var d = OutputDelivery()
        if let v = entry.int("batch_size", range: 1...1_000_000) { d.policy.batchSize = v }
        if let v = entry.duration("flush_interval") { d.policy.flushInterval = v }
        if let v = entry.int("buffer_size", range: 1...100_000_000) { d.policy.bufferSamples = v }
        if let v = entry.duration("write_timeout", minimum: .milliseconds(10)) { d.policy.writeTimeout = v }
        if let v = entry.duration("retry_backoff") { d.policy.retryBackoff = v }
        if let v = entry.duration("retry_backoff_max") { d.policy.retryBackoffMax = v }
        if d.policy.retryBackoffMax < d.policy.retryBackoff {
            entry.problem("retry_backoff_max", "must not be shorter than retry_backoff (\(d.policy.retryBackoff))")
        }
        if let v = entry.int("circuit_breaker_failures", range: 1...1000) { d.policy.breakerFailures = v }
        if let v = entry.duration("circuit_breaker_cooldown") { d.policy.breakerCooldown = v }
        if let v = entry.duration("probe_interval", minimum: .milliseconds(100)) { d.policy.probeInterval = v }
        if let text = entry.string("on_start_unavailable") {
            if let v = StartPolicy(rawValue: text) {
                d.onStartUnavailable = v
            } else {
                entry.problem("on_start_unavailable", "\"\(text)\" is not a policy (retry or fail)")
            }
        }
        if let v = entry.string("dead_letter_file") { d.policy.deadLetterPath = v }
        guard var node = entry.table("spool") else { return d }
        defer { node.finish() }
        var spool = SpoolPolicy()
        if let text = node.string("fsync") {
            if text == "always" {
                spool.fsync = .always
            } else if let v = Self.parseDuration(text), v >= .milliseconds(1) {
                spool.fsync = .interval(v)
            } else {
                node.problem("fsync", "\"\(text)\" is neither \"always\" nor a duration (e.g. 1s)")
            }
        }
        if let v = node.byteSize("max_bytes", minimum: 64 << 10) { spool.maxBytes = v }
        if let v = node.duration("max_age", minimum: .seconds(1)) { spool.maxAge = v }
        if let v = node.byteSize("segment_bytes", minimum: 4096) { spool.segmentBytes = Int(v) }
        d.policy.spool = node.bool("enabled") == false ? nil : spool
        return d
    }
}
