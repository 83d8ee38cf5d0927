import NetPollerCore

/// `[agent]`, `[http]` and `[log]`.
extension ConfigDecoder {
    func decodeAgent(_ table: ConfigTable?) -> AgentSettings {
        var settings = AgentSettings(
            name: hostName, interval: .seconds(60), timeout: .seconds(2), retries: 2, maxInFlight: 64,
            maxRepetitions: 25, shutdownTimeout: .seconds(10), stateDir: "/var/lib/netpoller", queueCapacity: 100_000,
            defaultProfiles: BuiltinProfiles.defaultSet, readyRequiresSinks: false)
        guard var t = table else { return settings }
        defer { t.finish() }
        if let v = t.string("name") {
            if v.isEmpty { t.problem("name", "must not be empty") } else { settings.name = v }
        }
        if let v = t.duration("interval", minimum: .seconds(1), maximum: (.seconds(7 * 86_400), "7d")) {
            settings.interval = v
        }
        if let v = t.duration("timeout", minimum: .milliseconds(10)) { settings.timeout = v }
        if let v = t.int("retries", range: 0...10) { settings.retries = v }
        if let v = t.int("max_in_flight", range: 1...100_000) { settings.maxInFlight = v }
        if let v = t.int("max_repetitions", range: 1...200) { settings.maxRepetitions = v }
        if let v = t.duration("shutdown_timeout") { settings.shutdownTimeout = v }
        if let v = t.string("state_dir") { settings.stateDir = v }
        if let v = t.int("queue_capacity", range: 1...100_000_000) { settings.queueCapacity = v }
        if let v = t.stringArray("default_profiles") { settings.defaultProfiles = v }
        if let v = t.bool("ready_requires_sinks") { settings.readyRequiresSinks = v }
        if let v = t.int("max_walk_varbinds", range: 1...10_000_000) { settings.maxWalkVarbinds = v }
        if let v = t.duration("poll_budget", minimum: .seconds(1), maximum: (.seconds(7 * 86_400), "7d")) {
            settings.pollBudget = v
        }
        if let v = t.duration("reprobe", minimum: .seconds(60), maximum: (.seconds(365 * 86_400), "365d")) {
            settings.reprobe = v
        }
        if let v = t.bool("rates") { settings.rates = v }
        if let v = t.bool("learn_request_sizes") { settings.learnRequestSizes = v }
        if let v = t.int("get_size", range: 1...128) { settings.getSize = v }
        if let v = t.int("max_get_size", range: 1...128) { settings.maxGetSize = v }
        if let v = t.int("max_repetitions_limit", range: 1...200) { settings.maxRepetitionsLimit = v }
        if let v = t.duration("poll_start_window", minimum: .zero, maximum: (.seconds(5), "5s")) {
            settings.pollStartWindow = v
        }
        if let v = t.int("max_snmp_sessions", range: 16...1_000_000) { settings.maxSNMPSessions = v }
        return settings
    }

    func decodeHTTP(_ table: ConfigTable?) -> HTTPSettings {
        var listenText = ConfigLoader.defaultListen
        var t = table
        if let v = t?.string("listen") { listenText = v }
        defer { t?.finish() }
        var limits = HTTPSettings(listen: HostAddress(host: "127.0.0.1", port: 9271, family: .ipv4))
        if let v = t?.int("max_connections", range: 1...100_000) { limits.maxConnections = v }
        if let v = t?.duration("idle_timeout", minimum: .milliseconds(100), maximum: (.seconds(3600), "1h")) {
            limits.idleTimeout = v
        }
        if let v = t?.byteSize("max_header_bytes", minimum: 1024, maximum: 1 << 20) { limits.maxHeaderBytes = Int(v) }
        if let v = t?.byteSize("max_body_bytes", minimum: 0, maximum: 1 << 30) { limits.maxBodyBytes = Int(v) }
        if let path = t?.string("web_config_file") {
            switch WebConfigFile.load(path) {
            case .success(let web): limits.web = web
            case .failure(let error):
                for p in error.problems {
                    problem(
                        t?.node["web_config_file"], "http.web_config_file",
                        "\(p.file)\(p.line.map { ":\($0)" } ?? ""): \(p.path.isEmpty ? "" : p.path + ": ")\(p.message)")
                }
            }
        }
        switch Self.parseAddress(listenText, defaultPort: 9271) {
        case .success(let address) where address.family != .dns || address.host == "localhost":
            limits.listen = address
            return limits
        case .success:
            t?.problem("listen", "\"\(listenText)\" must be an IP address and port (e.g. 127.0.0.1:9271)")
        case .failure(let error):
            t?.problem("listen", "\"\(listenText)\": \(error.reason) (example: 127.0.0.1:9271)")
        }
        return limits
    }

    func decodeLog(_ table: ConfigTable?) -> LogSettings {
        var settings = LogSettings(level: "info", format: .logfmt)
        guard var t = table else { return settings }
        defer { t.finish() }
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        if let v = t.string("level") {
            if levels.contains(v) {
                settings.level = v
            } else {
                t.problem("level", "\"\(v)\" is not a level (one of: \(levels.joined(separator: ", ")))")
            }
        }
        if let v = t.string("format") {
            if let format = LogFormat(rawValue: v) {
                settings.format = format
            } else {
                t.problem("format", "\"\(v)\" is not a format (logfmt or json)")
            }
        }
        return settings
    }
}
