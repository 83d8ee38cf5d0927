/// Text that came from a server (an error body, a driver message) before it is logged, shown in `/status` or written
/// to a dead-letter file: every configured secret in it is replaced and it is cut to a bounded length, so a server that
/// echoes a token or answers with megabytes cannot leak it or flood the log.
public enum Redaction {
    /// The most bytes of server text kept.
    public static let maxBytes = 512

    public static func scrub(_ text: String, secrets: [String], maxBytes: Int = Redaction.maxBytes) -> String {
        var out = text
        // Longest first, so a secret that contains another is replaced whole.
        for secret in secrets.filter({ $0.utf8.count >= 3 }).sorted(by: { $0.utf8.count > $1.utf8.count })
        where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "<secret>")
        }
        guard out.utf8.count > maxBytes else { return out }
        var kept = ""
        var bytes = 0
        for character in out {
            bytes += character.utf8.count
            if bytes > maxBytes { break }
            kept.append(character)
        }
        return kept + "… (\(out.utf8.count) bytes)"
    }
}

extension String {
    /// Every occurrence of `target` replaced, without Foundation.
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
