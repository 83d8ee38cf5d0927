import NetPollerCore

/// The server's algorithm offer (its SSH_MSG_KEXINIT, RFC 4253 7.1), read from the clear-text start of a connection.
/// libssh2 says only that key exchange failed; this says what the server offered, so `kex_failed` can name the gap.
struct KexInit: Equatable {
    var kex: [String]
    var hostKey: [String]
    var ciphers: [String]
    var macs: [String]

    /// Parses what a server sent first: its identification line(s), then one binary packet holding its KEXINIT.
    /// nil: not complete yet (or not SSH).
    static func parse(_ bytes: [UInt8]) -> KexInit? {
        // Lines before "SSH-" are allowed (RFC 4253 4.2); the identification line ends in CR LF (or LF).
        var index = 0
        while true {
            guard let newline = bytes[index...].firstIndex(of: 0x0A) else { return nil }
            let isIdentification = bytes[index...].starts(with: Array("SSH-".utf8))
            index = newline + 1
            if isIdentification { break }
            if index > 8192 { return nil }
        }
        guard bytes.count >= index + 6 else { return nil }
        let length = Int(readUInt32(bytes, index))
        guard length >= 12, length < 256 * 1024 else { return nil }
        guard bytes.count >= index + 4 + length else { return nil }
        let padding = Int(bytes[index + 4])
        var p = index + 5
        let end = index + 4 + length - padding
        guard p < end, bytes[p] == 20 else { return nil }  // SSH_MSG_KEXINIT
        p += 1 + 16  // the cookie
        var lists: [[String]] = []
        for _ in 0..<10 {
            guard p + 4 <= end else { return nil }
            let n = Int(readUInt32(bytes, p))
            p += 4
            guard p + n <= end else { return nil }
            let text = String(decoding: bytes[p..<p + n], as: UTF8.self)
            lists.append(text.isEmpty ? [] : text.split(separator: ",").map(String.init))
            p += n
        }
        return KexInit(kex: lists[0], hostKey: lists[1], ciphers: lists[2], macs: lists[4])
    }

    private static func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    /// The `kex_failed` message: each method with nothing in common, with both lists.
    func mismatch(with ours: SSHAlgorithms) -> String {
        var parts: [String] = []
        func compare(_ what: String, _ theirs: [String], _ mine: [String]) {
            // The server's list may carry extension markers (ext-info-s, kex-strict-…) that are not algorithms.
            let real = theirs.filter { !$0.hasPrefix("ext-info") && !$0.hasPrefix("kex-strict") }
            if Set(real).isDisjoint(with: mine) {
                parts.append(
                    "no common \(what): the server offers [\(real.joined(separator: ","))], we offer [\(mine.joined(separator: ","))]"
                )
            }
        }
        compare("key exchange", kex, ours.kex)
        compare("host key algorithm", hostKey, ours.hostKey)
        compare("cipher", ciphers, ours.ciphers)
        compare("MAC", macs, ours.macs)
        if parts.isEmpty {
            return
                "key exchange failed although every method has a name in common (server: kex [\(kex.joined(separator: ","))], host keys [\(hostKey.joined(separator: ","))])"
        }
        return parts.joined(separator: "; ")
    }
}
