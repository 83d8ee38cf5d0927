import AgentConfig
import ArgumentParser
import Discovery
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import SNMPPolling

struct Discover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sweep and crawl the config's [discovery] networks; print the devices found for review.",
        discussion: """
            Writes a TOML fragment for the config directory (--format conf, the default) or JSON with devices and \
            links (--format json). --diff CONFIG shows what is new, changed and gone against a config instead. \
            Never sends a packet outside [discovery] networks; credentials appear by name only. A summary goes to \
            standard error. Exit 0, 78 on a config error.
            """)
    @OptionGroup var options: ConfigOptions

    @Option(help: "Output format: conf (TOML [[devices]]) or json (devices and links).")
    var format: String = "conf"

    @Option(help: "Compare with this config file (or directory of *.conf) and print new, changed and gone devices.")
    var diff: String?

    @Option(help: "Write the output to this file (atomically) instead of standard output.")
    var output: String?

    func validate() throws {
        guard ["conf", "json"].contains(format) else {
            throw ValidationError("--format must be conf or json, not \"\(format)\"")
        }
    }

    func run() async throws {
        let config = try options.load()
        guard let settings = config.discovery else {
            FileHandle.standardError.write(
                Data(
                    "netpoller: configuration error\n\(config.files.first ?? ""): discovery: no [discovery] section\n"
                        .utf8))
            throw ExitCode(ConfigError.exitCode)
        }
        var against: [DeviceConfig]?
        if let diff {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: diff, isDirectory: &isDirectory)
            do {
                let files = try ConfigLoader.files(
                    config: isDirectory.boolValue ? nil : diff, configDirectory: isDirectory.boolValue ? diff : nil)
                against = try ConfigLoader.load(files: files).devices
            } catch {
                FileHandle.standardError.write(
                    Data("netpoller: configuration error in --diff\n\(error.description)\n".utf8))
                throw ExitCode(ConfigError.exitCode)
            }
        }
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
        let engine = SNMPEngine(metrics: nil)
        let run = DiscoveryRun(config: config, settings: settings, transport: engine)
        let outcome = await run.perform(ownFile: output)
        await engine.shutdown()
        let result = outcome.result
        let text: String
        if let against {
            text = DiscoveryRender.diff(result, against: against, settings: settings).text
        } else if format == "json" {
            text = DiscoveryRender.json(result)
        } else {
            text = DiscoveryRender.conf(result)
        }
        if let output {
            try writeAtomically(Data(text.utf8), to: output)
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        FileHandle.standardError.write(Data((outcome.summary + "\n").utf8))
        if let warning = outcome.stateWarning {
            FileHandle.standardError.write(Data("netpoller: warning: \(warning)\n".utf8))
        }
    }
}
