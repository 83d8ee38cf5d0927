import Foundation
import NetPollerCore

/// `[http] web_config_file`: the Prometheus exporter-toolkit web-config format (YAML), so teams reuse the files their
/// exporters already have. What netpoller reads: `tls_server_config` (cert_file, key_file, client_ca_file,
/// client_auth_type, min_version, max_version), `basic_auth_users` (bcrypt hashes) and `http_server_config.headers`.
/// Anything else is an error naming the file, the line and the key, never silently ignored.
public enum WebConfigFile {
    /// The headers exporter-toolkit lets a web-config set.
    public static let allowedHeaders = [
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
        "Content-Security-Policy",
    ]
    public static let tlsVersions = ["TLS10", "TLS11", "TLS12", "TLS13"]

    /// Reads and checks the file; problems name it and their line.
    public static func load(_ path: String) -> Result<WebSettings, ConfigError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(
                ConfigError(problems: [
                    ConfigProblem(file: path, path: "", message: "cannot read the web config file (does it exist?)")
                ]))
        }
        guard data.count <= 1 << 20, let text = String(data: data, encoding: .utf8) else {
            return .failure(
                ConfigError(problems: [
                    ConfigProblem(file: path, path: "", message: "not UTF-8 text of at most 1 MiB")
                ]))
        }
        var problems: [ConfigProblem] = []
        func problem(_ line: Int?, _ key: String, _ message: String) {
            problems.append(ConfigProblem(file: path, line: line, path: key, message: message))
        }
        let root: YAMLNode
        switch YAMLSubset.parse(text) {
        case .failure(let error):
            return .failure(
                ConfigError(problems: [ConfigProblem(file: path, line: error.line, path: "", message: error.message)]))
        case .success(let node): root = node
        }
        var settings = WebSettings(file: path)
        let directory = (path as NSString).deletingLastPathComponent
        func file(_ value: String, _ line: Int, _ key: String) -> String {
            let resolved = value.hasPrefix("/") ? value : (directory as NSString).appendingPathComponent(value)
            if !FileManager.default.isReadableFile(atPath: resolved) {
                problem(line, key, "cannot read \"\(resolved)\"")
            }
            return resolved
        }
        for (key, value, line) in root.entries {
            switch key {
            case "tls_server_config":
                var cert: String?
                var keyFile: String?
                var tls = WebSettings.TLS(certFile: "", keyFile: "")
                for (k, v, l) in value.entries {
                    let path = "tls_server_config.\(k)"
                    guard let text = v.scalar else {
                        problem(l, path, "expected a value")
                        continue
                    }
                    switch k {
                    case "cert_file": cert = file(text, l, path)
                    case "key_file": keyFile = file(text, l, path)
                    case "client_ca_file": tls.clientCAFile = file(text, l, path)
                    case "client_auth_type":
                        if let auth = WebSettings.ClientAuth(rawValue: text) {
                            tls.clientAuth = auth
                        } else {
                            problem(
                                l, path,
                                "\"\(text)\" is not a client_auth_type (\(WebSettings.ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")))"
                            )
                        }
                    case "min_version", "max_version":
                        if !tlsVersions.contains(text) {
                            problem(
                                l, path, "\"\(text)\" is not a TLS version (\(tlsVersions.joined(separator: ", ")))")
                        } else if k == "min_version" {
                            tls.minVersion = text
                        } else {
                            tls.maxVersion = text
                        }
                    default:
                        problem(
                            l, path,
                            "is not supported by netpoller (cert_file, key_file, client_ca_file, client_auth_type, "
                                + "min_version, max_version; ciphers and curves are the TLS library's safe defaults)")
                    }
                }
                if cert == nil { problem(line, "tls_server_config.cert_file", "missing") }
                if keyFile == nil { problem(line, "tls_server_config.key_file", "missing") }
                let needsCA = [.verifyClientCertIfGiven, .requireAndVerifyClientCert].contains(tls.clientAuth)
                if needsCA && tls.clientCAFile == nil {
                    problem(
                        line, "tls_server_config.client_ca_file", "client_auth_type \(tls.clientAuth.rawValue) needs it"
                    )
                }
                tls.certFile = cert ?? ""
                tls.keyFile = keyFile ?? ""
                settings.tls = tls
            case "basic_auth_users":
                for (user, v, l) in value.entries {
                    guard let hash = v.scalar, hash.hasPrefix("$2"), hash.count == 60 else {
                        problem(
                            l, "basic_auth_users.\(user)", "must be a bcrypt hash ($2y$…, e.g. from htpasswd -nBC 10)")
                        continue
                    }
                    settings.basicAuthUsers[user] = Secret(hash)
                }
            case "http_server_config":
                for (k, v, l) in value.entries {
                    guard k == "headers" else {
                        problem(l, "http_server_config.\(k)", "is not supported by netpoller (headers)")
                        continue
                    }
                    for (name, headerValue, hl) in v.entries {
                        guard let canonical = allowedHeaders.first(where: { $0.lowercased() == name.lowercased() })
                        else {
                            problem(
                                hl, "http_server_config.headers.\(name)",
                                "cannot be set (allowed: \(allowedHeaders.joined(separator: ", ")))")
                            continue
                        }
                        guard let text = headerValue.scalar, !text.contains(where: \.isNewline) else {
                            problem(hl, "http_server_config.headers.\(name)", "expected one line of text")
                            continue
                        }
                        settings.headers[canonical] = text
                    }
                }
            default:
                problem(line, key, "unknown key (tls_server_config, basic_auth_users, http_server_config)")
            }
        }
        return problems.isEmpty ? .success(settings) : .failure(ConfigError(problems: problems))
    }
}

/// A YAML node of the subset web-config files use: block mappings, block lists of scalars, plain and quoted scalars,
/// comments. A flow collection is kept as its text (the key that holds it is then refused by name); anchors, tags and
/// multi-line scalars are errors.
indirect enum YAMLNode {
    case scalar(String)
    case map([(key: String, value: YAMLNode, line: Int)])
    case list([YAMLNode])

    var entries: [(key: String, value: YAMLNode, line: Int)] {
        if case .map(let pairs) = self { return pairs }
        return []
    }

    var scalar: String? {
        if case .scalar(let text) = self { return text }
        return nil
    }
}

enum YAMLSubset {
    struct Failure: Error {
        var line: Int
        var message: String
    }

    struct Line {
        var number: Int
        var indent: Int
        var text: Substring
    }

    static func parse(_ text: String) -> Result<YAMLNode, Failure> {
        var lines: [Line] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("---") && line.trimmingCharacters(in: .whitespaces) == "---" { continue }
            if line.contains("\t") && line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                return .failure(Failure(line: i + 1, message: "a tab in the indentation (YAML indents with spaces)"))
            }
            let stripped = stripComment(line)
            if stripped.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indent = stripped.prefix(while: { $0 == " " }).count
            lines.append(Line(number: i + 1, indent: indent, text: stripped.dropFirst(indent)))
        }
        var index = 0
        if lines.isEmpty { return .success(.map([])) }
        do {
            let node = try block(&lines, &index, indent: lines[0].indent)
            if index < lines.count { throw Failure(line: lines[index].number, message: "unexpected indentation") }
            return .success(node)
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(Failure(line: 1, message: "unreadable YAML"))
        }
    }

    /// A `#` starts a comment at the line's start or after a space, outside quotes.
    static func stripComment(_ line: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for i in line.indices {
            let c = line[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || i == line.startIndex) {
                return line[..<i]
            }
            previous = c
        }
        return line
    }

    static func block(_ lines: inout [Line], _ index: inout Int, indent: Int) throws -> YAMLNode {
        if lines[index].text.hasPrefix("- ") || lines[index].text == "-" {
            var items: [YAMLNode] = []
            while index < lines.count && lines[index].indent == indent && lines[index].text.hasPrefix("-") {
                items.append(
                    .scalar(try scalar(lines[index].text.dropFirst().drop(while: { $0 == " " }), lines[index].number)))
                index += 1
            }
            return .list(items)
        }
        var pairs: [(key: String, value: YAMLNode, line: Int)] = []
        while index < lines.count && lines[index].indent == indent {
            let line = lines[index]
            guard let colon = keyEnd(line.text) else {
                throw Failure(line: line.number, message: "expected \"key: value\"")
            }
            let key = try scalar(line.text[..<colon], line.number)
            if pairs.contains(where: { $0.key == key }) {
                throw Failure(line: line.number, message: "duplicate key \"\(key)\"")
            }
            let rest = line.text[line.text.index(after: colon)...].drop(while: { $0 == " " })
            index += 1
            if rest.isEmpty {
                if index < lines.count && lines[index].indent > indent {
                    pairs.append((key, try block(&lines, &index, indent: lines[index].indent), line.number))
                } else if index < lines.count && lines[index].indent == indent && lines[index].text.hasPrefix("- ") {
                    pairs.append((key, try block(&lines, &index, indent: indent), line.number))
                } else {
                    pairs.append((key, .scalar(""), line.number))
                }
            } else {
                pairs.append((key, .scalar(try scalar(rest, line.number)), line.number))
            }
        }
        return .map(pairs)
    }

    /// The `:` that ends a key (followed by a space or the line's end), outside quotes.
    static func keyEnd(_ text: Substring) -> Substring.Index? {
        var quote: Character?
        for i in text.indices {
            let c = text[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == ":" {
                let next = text.index(after: i)
                if next == text.endIndex || text[next] == " " { return i }
            }
        }
        return nil
    }

    static func scalar(_ raw: Substring, _ line: Int) throws -> String {
        let text = raw.trimmingCharacters(in: .whitespaces)
        if let first = text.first, "&*|>!%@`".contains(first) {
            throw Failure(line: line, message: "\"\(text)\": anchors, tags and block scalars are not supported")
        }
        if text.count >= 2, text.first == "'", text.last == "'" {
            return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        if text.count >= 2, text.first == "\"", text.last == "\"" {
            var out = ""
            var escaped = false
            for c in text.dropFirst().dropLast() {
                if escaped {
                    switch c {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    default: out.append(c)
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else {
                    out.append(c)
                }
            }
            return out
        }
        return text
    }
}
