import Foundation
import NetPollerCore
import TextFSM

/// Every SSH profile's commands compiled once per config: templates read and compiled (built-in, from a file, or by
/// the `templates_dir` index for a device's platform), regexes built, mappings checked against what the parser can
/// produce. `check` reports every problem; at run time a command whose parser did not compile fails as `parse_failed`.
struct TemplateFailure: Error {
    var message: String
}

struct CommandCatalog: Sendable {
    struct Problem: Error, Sendable, CustomStringConvertible {
        var profile: String
        var command: String
        var message: String
        var description: String { "profile \"\(profile)\", command \"\(command)\": \(message)" }
    }

    /// Compiled commands by profile name and platform (`""` when the parser does not depend on the platform).
    private var compiled: [String: [String: [Result<CompiledCommand, Problem>]]] = [:]
    private let profiles: [String: Profile]
    private let templatesDir: String?
    private let index: TemplateIndex?
    private let indexProblem: String?

    init(config: AgentConfiguration) {
        profiles = config.allProfiles.filter { $0.value.isSSH }
        templatesDir = config.ssh.templatesDir
        if let dir = templatesDir {
            let path = (dir as NSString).appendingPathComponent("index")
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                do {
                    index = try TemplateIndex(text, name: path)
                    indexProblem = nil
                } catch {
                    index = nil
                    indexProblem = "\(error)"
                }
            } else {
                index = nil
                indexProblem = FileManager.default.fileExists(atPath: path) ? "cannot read \(path)" : nil
            }
        } else {
            index = nil
            indexProblem = nil
        }
        var templates: [String: Result<Template, TemplateFailure>] = [:]
        let platforms = Set(config.devices.compactMap { $0.ssh?.platform })
        for (name, profile) in profiles {
            var byPlatform: [String: [Result<CompiledCommand, Problem>]] = [:]
            let needsPlatform = profile.commands.contains { $0.parser == .textfsm(.index) }
            let keys = needsPlatform ? Array(platforms.union(profile.platforms)).sorted() : [""]
            for platform in keys {
                byPlatform[platform] = profile.commands.map {
                    compile($0, profile: name, platform: platform, templates: &templates)
                }
            }
            compiled[name] = byPlatform
        }
    }

    /// The profiles a device is polled with: the SSH profiles it names, else every profile of its platform.
    func profileNames(for device: SSHDeviceConfig) -> [String] {
        if let names = device.profiles { return names.filter { profiles[$0] != nil } }
        guard let platform = device.platform else { return [] }
        return profiles.values.filter { $0.platforms.contains(platform) }.map(\.name).sorted()
    }

    /// The compiled commands of a profile for a platform.
    func commands(profile: String, platform: String?) -> [Result<CompiledCommand, Problem>] {
        guard let byPlatform = compiled[profile] else { return [] }
        return byPlatform[""] ?? byPlatform[platform ?? ""] ?? byPlatform.values.first ?? []
    }

    /// Every problem of every profile a device uses or could use (for `check`).
    var problems: [Problem] {
        var all: [Problem] = []
        if let indexProblem, let dir = templatesDir {
            all.append(Problem(profile: "-", command: "-", message: "templates_dir \(dir): \(indexProblem)"))
        }
        for name in compiled.keys.sorted() {
            for platform in compiled[name]!.keys.sorted() {
                for case .failure(let problem) in compiled[name]![platform]! { all.append(problem) }
            }
        }
        return all
    }

    private func compile(
        _ spec: CommandSpec, profile: String, platform: String,
        templates: inout [String: Result<Template, TemplateFailure>]
    ) -> Result<CompiledCommand, Problem> {
        func fail(_ message: String) -> Result<CompiledCommand, Problem> {
            .failure(Problem(profile: profile, command: spec.command, message: message))
        }
        var template: Template?
        var regex: NSRegularExpression?
        var columns: Set<String>?
        switch spec.parser {
        case .textfsm(let source):
            let key: String
            let text: String?
            switch source {
            case .builtin(let name):
                key = "builtin:\(name)"
                text = BuiltinTemplates.all[name]
                if text == nil { return fail("no built-in template \"\(name)\"") }
            case .file(let file):
                let path =
                    file.hasPrefix("/") || templatesDir == nil
                    ? file : (templatesDir! as NSString).appendingPathComponent(file)
                key = "file:\(path)"
                text = try? String(contentsOfFile: path, encoding: .utf8)
                if text == nil && templates[key] == nil { return fail("cannot read template \(path)") }
            case .index:
                guard let dir = templatesDir else {
                    return fail("template lookup by the index needs [ssh] templates_dir (or give template = \"FILE\")")
                }
                guard let index else { return fail("no readable index in templates_dir \(dir)") }
                guard !platform.isEmpty else { return fail("template lookup by the index needs the device's platform") }
                guard let files = index.templates(for: ["Platform": platform, "Command": spec.command]),
                    let first = files.first
                else { return fail("the index of \(dir) has no template for platform \(platform)") }
                let path = (dir as NSString).appendingPathComponent(first)
                key = "file:\(path)"
                text = try? String(contentsOfFile: path, encoding: .utf8)
                if text == nil && templates[key] == nil { return fail("cannot read template \(path)") }
            }
            if templates[key] == nil {
                do {
                    templates[key] = .success(
                        try Template(text ?? "", name: String(key.drop { $0 != ":" }.dropFirst())))
                } catch {
                    templates[key] = .failure(TemplateFailure(message: "\(error)"))
                }
            }
            switch templates[key]! {
            case .success(let t):
                template = t
                columns = Set(t.header)
            case .failure(let failure):
                return fail(failure.message)
            }
        case .regex(let pattern):
            let translated = pattern.replacingOccurrences(of: "(?P<", with: "(?<")
            do {
                regex = try NSRegularExpression(pattern: translated, options: [.anchorsMatchLines])
            } catch {
                return fail("the regex does not compile: \(pattern)")
            }
            let names = CompiledCommand.groupNames(translated)
            if names.isEmpty { return fail("the regex has no named group ((?P<name>…))") }
            columns = Set(names)
        case .json:
            columns = nil
        }
        if let columns {
            let known = columns.sorted().joined(separator: ", ")
            for field in spec.fields where !columns.contains(field.source) {
                return fail(
                    "field \(field.name): no value \"\(field.source)\" in the parser's output (it has \(known))")
            }
            for tag in spec.tags where !columns.contains(tag.source) {
                return fail("tag \(tag.name): no value \"\(tag.source)\" in the parser's output (it has \(known))")
            }
        }
        return .success(CompiledCommand(spec: spec, template: template, regex: regex))
    }
}
