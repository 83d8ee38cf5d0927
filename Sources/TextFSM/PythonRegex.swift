import Foundation

/// Python `re` syntax → ICU (NSRegularExpression) syntax, for the constructs TextFSM templates use. Named groups
/// become plain groups (ICU names allow no `_`); their names are returned by group number. What cannot be translated
/// exactly is refused with the construct named: a template never silently parses differently.
struct PythonRegex {
    /// The ICU pattern.
    var pattern: String
    /// The name of each capturing group by number (1-based; nil for an unnamed group), in order of its `(`.
    var groupNames: [String?]

    enum Failure: Error, Equatable {
        case unsupported(String)
        case invalid(String)
    }

    /// Translates `source`. Throws `unsupported` for constructs ICU does not share with Python.
    static func translate(_ source: String) throws(Failure) -> PythonRegex {
        let chars = Array(source.unicodeScalars)
        var out = String.UnicodeScalarView()
        var names: [String?] = []
        var i = 0
        var inClass = false
        var classStart = 0
        // Open groups: whether each is a lookaround, and where it starts in `out` (in scalars).
        var groups: [(lookaround: Bool, start: Int)] = []
        func emit(_ s: String) { out.append(contentsOf: s.unicodeScalars) }
        while i < chars.count {
            let c = chars[i]
            if c == "\\" {
                guard i + 1 < chars.count else { throw .invalid("a trailing backslash") }
                let n = chars[i + 1]
                switch n {
                case "Z": emit(inClass ? "Z" : "\\z")
                case "A": emit(inClass ? "A" : "\\A")
                case "a": emit("\\x{07}")
                case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
                    if inClass || n == "0" {
                        // An octal escape.
                        var digits = String(n)
                        var j = i + 2
                        while j < chars.count, digits.count < 3, ("0"..."7").contains(chars[j]) {
                            digits.unicodeScalars.append(chars[j])
                            j += 1
                        }
                        guard let value = UInt32(digits, radix: 8), let scalar = Unicode.Scalar(value) else {
                            throw .invalid("the escape \\\(digits)")
                        }
                        emit(String(format: "\\x{%X}", scalar.value))
                        i = j
                        continue
                    }
                    emit("\\\(n)")
                default:
                    out.append(c)
                    out.append(n)
                }
                i += 2
                continue
            }
            if inClass {
                switch c {
                case "]" where i > classStart:
                    inClass = false
                    out.append(c)
                case "[": emit("\\[")  // ICU: a nested set; Python: a literal.
                case "&": emit("\\&")  // ICU: set intersection with &&.
                case "-" where i + 1 < chars.count && chars[i + 1] == "-": emit("\\-")  // ICU: set difference.
                default: out.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case "[":
                inClass = true
                out.append(c)
                i += 1
                // `[]…]` and `[^]…]`: a leading `]` is a literal in Python.
                if i < chars.count, chars[i] == "^" {
                    out.append("^")
                    i += 1
                }
                if i < chars.count, chars[i] == "]" {
                    emit("\\]")
                    i += 1
                }
                classStart = i
                continue
            case "(":
                if i + 1 < chars.count, chars[i + 1] == "?" {
                    let rest = String(String.UnicodeScalarView(chars[(i + 2)...]))
                    if rest.hasPrefix("P<") {
                        guard let close = rest.firstIndex(of: ">") else { throw .invalid("an unterminated group name") }
                        let name = String(rest[rest.index(rest.startIndex, offsetBy: 2)..<close])
                        guard !name.isEmpty,
                            name.unicodeScalars.allSatisfy({
                                $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
                            })
                        else { throw .invalid("the group name \"\(name)\"") }
                        names.append(name)
                        groups.append((false, out.count))
                        out.append("(")
                        i += 2 + name.unicodeScalars.count + 3
                        continue
                    }
                    if rest.hasPrefix("P=") {
                        guard let close = rest.firstIndex(of: ")") else {
                            throw .invalid("an unterminated backreference")
                        }
                        let name = String(rest[rest.index(rest.startIndex, offsetBy: 2)..<close])
                        guard let number = names.firstIndex(of: name) else {
                            throw .invalid("a backreference to unknown group \"\(name)\"")
                        }
                        emit("\\\(number + 1)")
                        i += 2 + name.unicodeScalars.count + 3
                        continue
                    }
                    if rest.hasPrefix("(") { throw .unsupported("the conditional group (?(…)…)") }
                    if rest.hasPrefix("#") {
                        guard let close = rest.firstIndex(of: ")") else { throw .invalid("an unterminated comment") }
                        i += 2 + rest.distance(from: rest.startIndex, to: close) + 1
                        continue
                    }
                    if rest.hasPrefix(":") || rest.hasPrefix("=") || rest.hasPrefix("!") || rest.hasPrefix("<=")
                        || rest.hasPrefix("<!") || rest.hasPrefix(">")
                    {
                        let lookaround = !rest.hasPrefix(":") && !rest.hasPrefix(">")
                        groups.append((lookaround, out.count))
                        out.append("(")
                        i += 1
                        continue
                    }
                    // Inline flags: (?imsx) or (?imsx:…); a, L and u have no ICU meaning.
                    var j = i + 2
                    var flags = ""
                    while j < chars.count, "aiLmsux-".unicodeScalars.contains(chars[j]) {
                        flags.unicodeScalars.append(chars[j])
                        j += 1
                    }
                    if flags.contains("a") || flags.contains("L") {
                        throw .unsupported("the inline flag (?\(flags)) (ASCII or locale matching)")
                    }
                    guard j < chars.count, chars[j] == ")" || chars[j] == ":" else {
                        throw .unsupported("the group (?\(String(rest.prefix(3)))…)")
                    }
                    let kept = flags.replacingOccurrences(of: "u", with: "")
                    if chars[j] == ":" { groups.append((false, out.count)) }
                    if kept.isEmpty || kept == "-" {
                        if chars[j] == ":" { emit("(?:") }
                    } else {
                        emit("(?\(kept)\(String(chars[j]))")
                    }
                    i = j + 1
                    continue
                }
                names.append(nil)
                groups.append((false, out.count))
                out.append("(")
            case ")":
                out.append(")")
                guard let group = groups.popLast(), group.lookaround, i + 1 < chars.count else { break }
                // A quantified assertion (Python allows it, ICU does not): `+` or `{1,}` is the assertion once;
                // `*`, `?` or `{0,…}` may be skipped, which is no assertion at all.
                var j = i + 1
                var minimum: Int?
                switch chars[j] {
                case "+": minimum = 1; j += 1
                case "*", "?": minimum = 0; j += 1
                case "{":
                    var body = ""
                    var k = j + 1
                    while k < chars.count, ("0"..."9").contains(chars[k]) || chars[k] == "," {
                        body.unicodeScalars.append(chars[k])
                        k += 1
                    }
                    if k < chars.count, chars[k] == "}", !body.isEmpty {
                        minimum = Int(body.split(separator: ",", omittingEmptySubsequences: false).first ?? "") ?? 0
                        j = k + 1
                    }
                default: break
                }
                guard let minimum else { break }
                if j < chars.count, chars[j] == "?" || chars[j] == "+" { j += 1 }
                if minimum == 0 {
                    out = String.UnicodeScalarView(out.prefix(group.start))
                }
                i = j
                continue
            case "{":
                // A quantifier only when Python would read one; else a literal brace.
                var j = i + 1
                var body = ""
                while j < chars.count, ("0"..."9").contains(chars[j]) || chars[j] == "," {
                    body.unicodeScalars.append(chars[j])
                    j += 1
                }
                let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                let valid =
                    j < chars.count && chars[j] == "}" && !body.isEmpty && parts.count <= 2
                    && !(parts.count == 1 && parts[0].isEmpty)
                if valid {
                    emit("{" + (body.hasPrefix(",") ? "0" + body : body) + "}")
                    i = j + 1
                    continue
                }
                emit("\\{")
            case "}": emit("\\}")
            default: out.append(c)
            }
            i += 1
        }
        if inClass { throw .invalid("an unterminated character set") }
        return PythonRegex(pattern: String(out), groupNames: names)
    }
}
