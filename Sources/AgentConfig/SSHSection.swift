import Foundation
import NetPollerCore

/// `[ssh]`, `[credentials.ssh.NAME]`, the SSH keys of `[[devices]]` and `[[profiles.commands]]` (docs/ssh.md).
extension ConfigDecoder {
    func decodeSSH(_ table: ConfigTable?) -> SSHSettings {
        var settings = SSHSettings()
        guard var t = table else { return settings }
        defer { t.finish() }
        if let v = t.int("io_threads", range: 1...64) { settings.ioThreads = v }
        if let v = t.duration("connect_timeout", minimum: .milliseconds(100)) { settings.connectTimeout = v }
        if let v = t.duration("auth_timeout", minimum: .milliseconds(100)) { settings.authTimeout = v }
        if let v = t.duration("command_timeout", minimum: .milliseconds(100)) { settings.commandTimeout = v }
        if let v = t.int("max_channels", range: 1...16) { settings.maxChannels = v }
        if let v = t.byteSize("max_output_bytes", minimum: 1024, maximum: 1 << 30) { settings.maxOutputBytes = Int(v) }
        if let v = t.duration("reconnect_backoff", minimum: .milliseconds(100)) { settings.reconnectBackoff = v }
        if let v = t.duration("reconnect_backoff_max", minimum: .milliseconds(100)) { settings.reconnectBackoffMax = v }
        if settings.reconnectBackoffMax < settings.reconnectBackoff {
            t.problem(
                "reconnect_backoff_max", "must not be shorter than reconnect_backoff (\(settings.reconnectBackoff))")
        }
        if let v = t.duration("idle_timeout", minimum: .seconds(1)) { settings.idleTimeout = v }
        if t.has("keepalive") {
            if let text = t.string("keepalive"), text == "0" {
                settings.keepalive = .zero
            } else if let v = t.duration("keepalive", minimum: .seconds(1)) {
                settings.keepalive = v
            }
        }
        if let v = t.string("templates_dir") {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: v, isDirectory: &isDirectory) || !isDirectory.boolValue {
                t.problem("templates_dir", "\"\(v)\" is not a directory")
            } else {
                settings.templatesDir = v
            }
        }
        return settings
    }

    func decodeSSHCredentials(_ table: ConfigTable?) -> [String: SSHCredential] {
        var result: [String: SSHCredential] = [:]
        guard var ssh = table else { return result }
        defer { ssh.finish() }
        for name in ssh.presentKeys {
            guard var entry = ssh.table(name) else { continue }
            defer { entry.finish() }
            let username = entry.string("username")
            if !entry.has("username") { entry.problem("username", "missing (the SSH login name)") }
            let password = entry.secret("password", required: false)
            let keyFile = entry.string("private_key_file")
            if let keyFile, !FileManager.default.isReadableFile(atPath: keyFile) {
                entry.problem("private_key_file", "cannot read \"\(keyFile)\"")
            }
            let passphrase = entry.secret("passphrase", required: false)
            if passphrase != nil && keyFile == nil {
                entry.problem("passphrase", "is set but there is no private_key_file")
            }
            if password == nil && keyFile == nil && entry.has("username") {
                entry.problem(nil, "credentials.ssh.\(name) has neither password (password_file) nor private_key_file")
            }
            var credential = SSHCredential(name: name, username: username ?? "")
            credential.password = password
            credential.privateKeyFile = keyFile
            credential.passphrase = passphrase
            if let file = entry.string("known_hosts") {
                if !FileManager.default.isReadableFile(atPath: file) {
                    entry.problem("known_hosts", "cannot read \"\(file)\"")
                }
                credential.knownHosts = file
            }
            if let policy: SSHCredential.HostKeyPolicy = entry.choice("host_key_policy", "a host key policy") {
                credential.hostKeyPolicy = policy
            }
            if let port = entry.int("port", range: 1...65535) { credential.port = port }
            credential.enablePassword = entry.secret("enable_password", required: false)
            credential.enable = entry.bool("enable") ?? (credential.enablePassword != nil)
            credential.legacy = entry.bool("legacy") ?? false
            let supported = SSHAlgorithms.supported
            for (key, known) in [
                ("kex", supported.kex), ("host_key_algorithms", supported.hostKey), ("ciphers", supported.ciphers),
                ("macs", supported.macs),
            ] {
                guard let list = entry.stringArray(key) else { continue }
                if list.isEmpty { entry.problem(key, "must not be empty") }
                for item in list where !known.contains(item) {
                    entry.problem(
                        key,
                        "\"\(item)\" is not supported by libssh2 1.10 (supported: \(known.joined(separator: ", ")))")
                }
                switch key {
                case "kex": credential.kex = list
                case "host_key_algorithms": credential.hostKeyAlgorithms = list
                case "ciphers": credential.ciphers = list
                default: credential.macs = list
                }
            }
            if username != nil { result[name] = credential }
        }
        return result
    }

    /// The SSH keys of one `[[devices]]` entry: `ssh`, `platform`, `ssh_port`, `ssh_mode`, timeouts, `max_channels`.
    func decodeDeviceSSH(
        _ entry: inout ConfigTable, settings: SSHSettings, credentials: [String: SSHCredential]
    ) -> SSHDeviceConfig? {
        let platform = entry.string("platform")
        let port = entry.int("ssh_port", range: 1...65535)
        let mode: SSHMode? = entry.choice("ssh_mode", "an SSH mode")
        let connect = entry.duration("connect_timeout", minimum: .milliseconds(100))
        let auth = entry.duration("auth_timeout", minimum: .milliseconds(100))
        let command = entry.duration("command_timeout", minimum: .milliseconds(100))
        let channels = entry.int("max_channels", range: 1...16)
        guard let name = entry.string("ssh") else {
            for key in [
                "platform", "ssh_port", "ssh_mode", "connect_timeout", "auth_timeout", "command_timeout",
                "max_channels",
            ]
            where entry.has(key) {
                entry.problem(key, "is an SSH setting; this device has no ssh credential (set ssh = \"NAME\")")
            }
            return nil
        }
        if credentials[name] == nil {
            let known = credentials.keys.sorted()
            entry.problem(
                "ssh",
                "unknown SSH credential \"\(name)\" (\(known.isEmpty ? "define [credentials.ssh.\(name)]" : "known: \(known.joined(separator: ", "))"))"
            )
        }
        var device = SSHDeviceConfig(credential: name, settings: settings)
        device.platform = platform
        device.port = port ?? credentials[name]?.port ?? 22
        if let mode { device.mode = mode }
        if let connect { device.connectTimeout = connect }
        if let auth { device.authTimeout = auth }
        if let command { device.commandTimeout = command }
        if let channels { device.maxChannels = channels }
        if device.mode == .shell && device.maxChannels > 1 {
            entry.problem(
                "max_channels",
                "shell mode uses one channel (one interactive shell); remove max_channels or use ssh_mode = \"exec\"")
        }
        return device
    }

    /// `[[profiles.commands]]` of one profile.
    func decodeCommands(_ entry: inout ConfigTable, profile: String) -> [CommandSpec] {
        var specs: [CommandSpec] = []
        for var table in entry.tables("commands") {
            defer { table.finish() }
            let command = table.string("command")
            if !table.has("command") {
                table.problem("command", "missing (the CLI command, e.g. \"show ip bgp summary\")")
            }
            if let command, command.isEmpty || Self.hasControlCharacters(command) {
                table.problem("command", "must be one line of text")
            }
            let parserName = table.string("parser") ?? "textfsm"
            var parser: CommandParser?
            let template = table.string("template")
            let pattern = table.string("pattern")
            let rows = table.string("rows")
            switch parserName {
            case "textfsm":
                parser = .textfsm(template.map { .file($0) } ?? .index)
                if pattern != nil { table.problem("pattern", "is for parser = \"regex\"") }
                if rows != nil { table.problem("rows", "is for parser = \"json\"") }
            case "regex":
                if let pattern {
                    parser = .regex(pattern)
                } else {
                    table.problem("pattern", "missing: parser = \"regex\" needs a pattern with named groups")
                }
                if template != nil { table.problem("template", "is for parser = \"textfsm\"") }
            case "json":
                parser = .json(rows: rows)
                if template != nil { table.problem("template", "is for parser = \"textfsm\"") }
                if pattern != nil { table.problem("pattern", "is for parser = \"regex\"") }
            default:
                table.problem("parser", "\"\(parserName)\" is not a parser (textfsm, regex or json)")
            }
            let measurement = table.string("measurement") ?? profile
            if measurement.isEmpty { table.problem("measurement", "must not be empty") }
            let fields = commandFields(&table)
            if fields.isEmpty && !table.has("fields") {
                table.problem("fields", "missing (fields = { name = \"COLUMN\" })")
            }
            var tags: [(name: String, source: String)] = []
            for (key, value) in table.entries("tags", wrongType: "expected a table of name = \"COLUMN\"") ?? [] {
                let path = "\(table.keyPath("tags")).\(key)"
                if !Self.isLabelName(key) || key == "device" {
                    problem(value, path, "\"\(key)\" is not a usable tag name")
                } else if let source = table.decoder.string(value, path) {
                    tags.append((key, source))
                }
            }
            if let command, let parser {
                specs.append(
                    CommandSpec(command: command, parser: parser, measurement: measurement, fields: fields, tags: tags))
            }
        }
        return specs
    }

    /// `fields = { name = "COLUMN" }`, or `name = { from = "COLUMN", type = "counter", map = { up = 1 }, scale = 8 }`.
    private func commandFields(_ table: inout ConfigTable) -> [CommandField] {
        let path = table.keyPath("fields")
        var fields: [CommandField] = []
        for (name, value) in table.entries("fields", wrongType: "expected a table of name = \"COLUMN\"") ?? [] {
            let fieldPath = "\(path).\(name)"
            if !Self.isLabelName(name) {
                problem(value, fieldPath, "\"\(name)\" is not a usable field name (letters, digits and '_')")
                continue
            }
            if case .table = value.value, var spec = ConfigTable(value, path: fieldPath, decoder: table.decoder) {
                defer { spec.finish() }
                guard let from = spec.string("from") else {
                    if !spec.has("from") { spec.problem("from", "missing (the column or JSON path)") }
                    continue
                }
                var field = CommandField(name: name, source: from)
                switch spec.string("type") ?? "gauge" {
                case "gauge": break
                case "counter": field.kind = .counter
                case "info", "text": field.kind = .info
                case "duration": field.duration = true
                case "present": field.present = true
                case let other:
                    spec.problem("type", "\"\(other)\" is not a field type (gauge, counter, info, duration or present)")
                }
                if let scaleNode = spec.read("scale") {
                    switch scaleNode.value {
                    case .int(let i): field.scale = Double(i)
                    case .double(let d): field.scale = d
                    default: spec.problem("scale", "expected a number")
                    }
                }
                if let pairs = spec.entries("map", wrongType: "expected a table of \"TEXT\" = number") {
                    var map: [String: Double] = [:]
                    for (text, node) in pairs {
                        switch node.value {
                        case .int(let i): map[text] = Double(i)
                        case .double(let d): map[text] = d
                        default: problem(node, "\(fieldPath).map.\(text)", "expected a number")
                        }
                    }
                    field.map = map
                }
                fields.append(field)
            } else if let from = table.decoder.string(value, fieldPath) {
                fields.append(CommandField(name: name, source: from))
            }
        }
        return fields
    }
}
