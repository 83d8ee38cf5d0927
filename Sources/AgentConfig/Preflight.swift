import Foundation
import NetPollerCore

/// What `check` looks at beyond the config's own validity, all without side effects (nothing is created or written):
/// problems that would stop `run` (exit 73 for an unusable `state_dir`), and warnings about what is legal but likely
/// wrong. `run` logs the warnings at start.
public enum Preflight {
    /// Problems `run` would stop on.
    public static func problems(_ config: AgentConfiguration) -> [String] {
        var problems: [String] = []
        if let problem = stateDirProblem(config.agent.stateDir) { problems.append("agent.state_dir: \(problem)") }
        return problems
    }

    static func stateDirProblem(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return "\"\(path)\" is not a directory" }
            return access(path, W_OK | X_OK) == 0 ? nil : "\"\(path)\" is not writable by this user"
        }
        // It will be created: the nearest existing parent must let us.
        var parent = (path as NSString).deletingLastPathComponent
        while !parent.isEmpty && parent != "/" && !FileManager.default.fileExists(atPath: parent) {
            parent = (parent as NSString).deletingLastPathComponent
        }
        if parent.isEmpty { parent = "." }
        return access(parent, W_OK | X_OK) == 0
            ? nil : "\"\(path)\" does not exist and \"\(parent)\" is not writable by this user to create it"
    }

    /// Legal but likely wrong.
    public static func warnings(_ config: AgentConfiguration) -> [String] {
        var warnings: [String] = []
        if config.devices.isEmpty { warnings.append("no [[devices]]: the agent will poll nothing") }
        for (index, device) in config.devices.enumerated() {
            let worst = device.timeout * (device.retries + 1)
            if worst > device.interval {
                warnings.append(
                    "devices[\(index)] (\(device.name)): timeout × (retries + 1) = \(worst) is longer than its interval "
                        + "\(device.interval): while it does not answer, each poll runs into the next")
            }
        }
        let host = config.http.listen.host
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        let web = config.http.web
        if !loopback && web?.tls == nil && (web?.basicAuthUsers.isEmpty ?? true) {
            warnings.append(
                "http.listen \(config.http.listen) is not loopback and has neither TLS nor basic auth: anyone who "
                    + "reaches the port reads device data (set http.web_config_file, docs/security.md)")
        }
        // Like ssh with its keys: files holding secrets should be readable by their owner (and group) only.
        var files = config.files + config.secretFiles
        if let web { files.append(web.file) }
        for file in Set(files).sorted() {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                let mode = attributes[.posixPermissions] as? Int
            else { continue }
            if mode & 0o004 != 0 {
                warnings.append(
                    "\(file) is readable by others (mode \(String(mode, radix: 8))): it may hold secrets; "
                        + "chmod o-rwx \(file)")
            } else if mode & 0o040 != 0 && config.secretFiles.contains(file) {
                warnings.append(
                    "\(file) holds a secret and is readable by its group (mode \(String(mode, radix: 8))); "
                        + "chmod 600 \(file) unless the group is the agent's")
            }
        }
        return warnings
    }
}
