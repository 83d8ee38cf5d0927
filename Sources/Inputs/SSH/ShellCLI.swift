/// The interactive side of `mode = "shell"`, as pure functions over the bytes received: prompt detection, paging, enable
/// and cleaning a command's output. No I/O: the connection feeds it bytes and acts on its answers.
enum ShellCLI {
    /// What a platform needs once per session: the commands that turn paging off (and widen lines).
    static func setupCommands(platform: String?) -> [String] {
        switch platform ?? "" {
        case "juniper_junos", "juniper":
            return ["set cli screen-length 0", "set cli screen-width 511"]
        case "cisco_asa", "cisco_ftd":
            return ["terminal pager 0"]
        case "hp_procurve", "hp_comware", "huawei", "huawei_vrp":
            return platform == "hp_procurve" ? ["no page"] : ["screen-length 0 temporary"]
        case "linux":
            return []
        default:
            return ["terminal length 0", "terminal width 511"]
        }
    }

    /// Whether `platform` has an enable mode (privileged `#` after `>`).
    static func hasEnable(platform: String?) -> Bool {
        switch platform ?? "" {
        case "juniper_junos", "juniper", "linux", "huawei", "huawei_vrp", "hp_comware": return false
        default: return true
        }
    }

    /// Prompt terminators: `>` (user), `#` (privileged), `$` and `%` (shells, Junos' `%`).
    static let terminators: Set<UInt8> = [UInt8(ascii: ">"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%")]

    /// The last line of `buffer` (after the last newline or carriage return), without trailing spaces.
    static func lastLine(_ buffer: [UInt8]) -> ArraySlice<UInt8> {
        var end = buffer.endIndex
        while end > buffer.startIndex, buffer[end - 1] == UInt8(ascii: " ") { end -= 1 }
        var start = end
        while start > buffer.startIndex, buffer[start - 1] != 0x0A, buffer[start - 1] != 0x0D { start -= 1 }
        return buffer[start..<end]
    }

    /// The base of a prompt the buffer ends with (`R1` for `R1>`, `user@r1` for `user@r1>`), or nil. A prompt is a
    /// last line of 1 to 80 printable characters without spaces (Junos: `user@host>`), ending in a terminator.
    static func detectPrompt(_ buffer: [UInt8]) -> [UInt8]? {
        let line = stripEscapes(lastLine(buffer))
        guard line.count >= 2, line.count <= 81, let last = line.last, terminators.contains(last) else { return nil }
        let base = line.dropLast()
        guard base.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return Array(base)
    }

    /// Whether the buffer ends with the prompt whose base is `base` (any terminator: enable changes `>` to `#`; a
    /// `(config)` suffix is allowed too).
    static func endsWithPrompt(_ buffer: [UInt8], base: [UInt8]) -> Bool {
        let line = stripEscapes(lastLine(buffer))
        guard line.count > base.count, let last = line.last, terminators.contains(last),
            line.starts(with: base)
        else { return false }
        let middle = line.dropFirst(base.count).dropLast()
        return middle.isEmpty || (middle.first == UInt8(ascii: "(") && middle.last == UInt8(ascii: ")"))
    }

    /// The terminator of the prompt the buffer ends with (`>` or `#`).
    static func promptTerminator(_ buffer: [UInt8]) -> UInt8? { stripEscapes(lastLine(buffer)).last }

    /// Whether the buffer ends with a password prompt (`Password:`), as `enable` asks.
    static func endsWithPasswordPrompt(_ buffer: [UInt8]) -> Bool {
        let line = String(decoding: lastLine(buffer), as: UTF8.self).lowercased()
        return line.hasSuffix("password:")
    }

    /// Pager prompts devices print when paging is on: `--More--`, ` --More-- `, `-- MORE --`, `---(more)---`.
    static let pagerMarkers: [[UInt8]] = ["--more--", "-- more --", "---(more", "<--- more --->"].map { Array($0.utf8) }

    /// If the buffer ends with a pager prompt, the index where that prompt starts.
    static func pagerStart(_ buffer: [UInt8]) -> Int? {
        let line = lastLine(buffer)
        guard !line.isEmpty, line.count < 80 else { return nil }
        let lower = line.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        for marker in pagerMarkers where lower.count >= marker.count {
            for offset in 0...(lower.count - marker.count)
            where lower[offset..<offset + marker.count].elementsEqual(marker) {
                return line.startIndex
            }
        }
        return nil
    }

    /// Removes ANSI escape sequences (`ESC [ … letter`) and backspaces with what they erase: what devices draw over a
    /// pager prompt.
    static func stripEscapes<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let b = iterator.next() {
            if b == 0x1B {
                guard let next = iterator.next() else { break }
                if next == UInt8(ascii: "[") {
                    while let c = iterator.next(), !((c >= 0x40 && c <= 0x7E)) {}
                }
                continue
            }
            if b == 0x08 {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(b)
        }
        return out
    }

    /// What devices print for a command they do not take (IOS, NX-OS, EOS, Junos, Huawei, …), lower-cased.
    static let rejections = [
        "% invalid", "% incomplete", "% ambiguous", "% unknown command", "% unrecognized command", "% bad command",
        "syntax error", "unknown command", "invalid command", "error: unknown command", "error: syntax error",
    ]

    /// The device's rejection of the command, when the output starts with one (within its first three lines).
    static func rejection(_ output: String) -> String? {
        // Only the first three non-empty lines are looked at: no copy of the rest of a long output.
        var seen = 0
        var rest = Substring(output)
        while seen < 3, !rest.isEmpty {
            let end = rest.utf8.firstIndex(of: 0x0A) ?? rest.endIndex
            let line = rest[..<end]
            rest = end < rest.endIndex ? rest[rest.utf8.index(after: end)...] : ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "^" { continue }
            let lower = trimmed.lowercased()
            if rejections.contains(where: { lower.hasPrefix($0) }) { return String(trimmed.prefix(200)) }
            seen += 1
        }
        return nil
    }

    /// A command's output from what the shell sent after the command was written: without the echoed command line,
    /// the final prompt, escapes and carriage returns.
    static func cleanOutput(_ buffer: [UInt8], command: String) -> String {
        var bytes = stripEscapes(buffer)
        // Drop the final prompt line.
        if let lastNewline = bytes.lastIndex(of: 0x0A) {
            bytes.removeSubrange((lastNewline + 1)...)
        } else {
            bytes.removeAll()
        }
        var text = String(decoding: normalizeLineEnds(bytes), as: UTF8.self)
        // Drop the echo: the first line when it ends with the command.
        if let newline = text.firstIndex(of: "\n") {
            let first = text[..<newline].trimmingTrailingSpaces()
            if first.hasSuffix(command) || first.isEmpty { text = String(text[text.index(after: newline)...]) }
        }
        return text
    }
}

extension String {
    /// `\r\n` and lone `\r` (as ptys and pagers send them) as `\n`; a `\r` that redraws a line keeps the redrawn text.
    func replacingCRLF() -> String { String(decoding: ShellCLI.normalizeLineEnds(Array(utf8)), as: UTF8.self) }
}

extension ShellCLI {
    /// The bytes with `\r\n` as `\n`, and a `\r` inside a line dropping what came before it on that line (a redraw).
    static func normalizeLineEnds(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x0D) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var lineStart = 0
        var pendingCR = false
        for b in bytes {
            switch b {
            case 0x0A:
                out.append(0x0A)
                lineStart = out.count
                pendingCR = false
            case 0x0D:
                pendingCR = true
            default:
                if pendingCR {
                    out.removeSubrange(lineStart...)
                    pendingCR = false
                }
                out.append(b)
            }
        }
        return out
    }
}

extension Substring {
    func trimmingTrailingSpaces() -> Substring {
        var s = self
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return s
    }
}
