import CLibSSH2
import Foundation
import NetPollerCore

/// Host key verification against OpenSSH known_hosts files (hashed entries included), on the I/O thread right after
/// the handshake. Unknown and changed keys are refused and named by their fingerprint; `accept-new` records a first key
/// in the agent's own file.
enum HostKeys {
    enum Verdict {
        case trusted(fingerprint: String)
        case recorded(fingerprint: String)
        case refused(PollError)
    }

    static func keyTypeName(_ type: Int32) -> String {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: "ssh-rsa"
        case LIBSSH2_HOSTKEY_TYPE_DSS: "ssh-dss"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: "ecdsa-sha2-nistp256"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: "ecdsa-sha2-nistp384"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: "ecdsa-sha2-nistp521"
        case LIBSSH2_HOSTKEY_TYPE_ED25519: "ssh-ed25519"
        default: "unknown"
        }
    }

    static func knownHostKeyBits(_ type: Int32) -> Int32 {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: Int32(Int32(NP_SSH_KNOWNHOST_KEY_SSHRSA))
        case LIBSSH2_HOSTKEY_TYPE_DSS: Int32(Int32(NP_SSH_KNOWNHOST_KEY_SSHDSS))
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: Int32(Int32(NP_SSH_KNOWNHOST_KEY_ECDSA_256))
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: Int32(Int32(NP_SSH_KNOWNHOST_KEY_ECDSA_384))
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: Int32(Int32(NP_SSH_KNOWNHOST_KEY_ECDSA_521))
        case LIBSSH2_HOSTKEY_TYPE_ED25519: Int32(Int32(NP_SSH_KNOWNHOST_KEY_ED25519))
        default: 0
        }
    }

    /// The name a known_hosts entry has for this host: `host`, or `[host]:port` off port 22 (as OpenSSH writes it).
    static func entryName(host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    /// `SHA256:` and the unpadded base64 of the key's SHA-256, as `ssh-keygen -l` prints it.
    static func fingerprint(_ session: OpaquePointer) -> String {
        guard let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) else { return "SHA256:?" }
        let data = Data(bytes: hash, count: 32)
        var text = data.base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:\(text)"
    }

    static func verify(session: OpaquePointer, target: SSHTarget) -> Verdict {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &type) else {
            return .refused(PollError(.kexFailed, "the server sent no host key"))
        }
        let fingerprint = Self.fingerprint(session)
        let typeName = keyTypeName(type)
        let shown = "\(typeName) \(fingerprint)"
        let where_ = entryName(host: target.knownHostsName, port: target.port)
        guard let known = libssh2_knownhost_init(session) else {
            return .refused(PollError(.hostKeyUnknown, "cannot check the host key of \(where_) (\(shown))"))
        }
        defer { libssh2_knownhost_free(known) }
        var files: [String] = []
        if let user = target.credential.knownHosts { files.append(user) }
        files.append(target.agentKnownHosts)
        for file in files where FileManager.default.fileExists(atPath: file) {
            if libssh2_knownhost_readfile(known, file, Int32(Int32(NP_SSH_KNOWNHOST_FILE_OPENSSH))) < 0 {
                return .refused(
                    PollError(
                        .hostKeyUnknown,
                        "cannot read known_hosts \(file) (not OpenSSH format?); the host key of \(where_) is \(shown)"))
            }
        }
        let mask = Int32(Int32(NP_SSH_KNOWNHOST_PLAIN_RAW)) | knownHostKeyBits(type)
        var entry: UnsafeMutablePointer<libssh2_knownhost>?
        let check = libssh2_knownhost_checkp(
            known, target.knownHostsName, Int32(target.port), key, length, mask, &entry)
        switch check {
        case Int32(Int32(NP_SSH_KNOWNHOST_CHECK_MATCH)):
            return .trusted(fingerprint: fingerprint)
        case Int32(Int32(NP_SSH_KNOWNHOST_CHECK_MISMATCH)):
            return .refused(
                PollError(
                    .hostKeyMismatch,
                    "host key of \(where_) changed: the server shows \(shown), which is not the key known_hosts holds for it; refused (if the device was replaced, remove its old entry: ssh-keygen -R '\(where_)')"
                ))
        case Int32(Int32(NP_SSH_KNOWNHOST_CHECK_NOTFOUND)) where target.credential.hostKeyPolicy == .acceptNew:
            if let problem = record(
                known, key: key, length: length, type: type, name: where_, file: target.agentKnownHosts)
            {
                return .refused(
                    PollError(.hostKeyUnknown, "host key of \(where_) (\(shown)) could not be recorded: \(problem)"))
            }
            return .recorded(fingerprint: fingerprint)
        case Int32(Int32(NP_SSH_KNOWNHOST_CHECK_NOTFOUND)):
            return .refused(
                PollError(
                    .hostKeyUnknown,
                    "host key of \(where_) is not known (\(shown)); refused by host_key_policy = \"strict\" (add it to known_hosts after checking the fingerprint, or use \"accept-new\")"
                ))
        default:
            return .refused(PollError(.hostKeyUnknown, "host key of \(where_) (\(shown)) could not be checked"))
        }
    }

    /// Appends one line for the key to the agent's known_hosts (created 0600 with its directory).
    private static func record(
        _ known: OpaquePointer, key: UnsafePointer<CChar>, length: Int, type: Int32, name: String, file: String
    ) -> String? {
        var stored: UnsafeMutablePointer<libssh2_knownhost>?
        let mask = Int32(Int32(NP_SSH_KNOWNHOST_PLAIN_RAW)) | knownHostKeyBits(type)
        let comment = "netpoller accept-new"
        guard
            libssh2_knownhost_addc(
                known, name, nil, key, length, comment, comment.utf8.count, mask, &stored) == 0, let stored
        else { return "libssh2 refused the key" }
        var buffer = [CChar](repeating: 0, count: 8192)
        var written = 0
        guard
            libssh2_knownhost_writeline(
                known, stored, &buffer, buffer.count, &written, Int32(Int32(NP_SSH_KNOWNHOST_FILE_OPENSSH))) == 0
        else { return "cannot format the entry" }
        let line = Array(buffer[0..<written]).map { UInt8(bitPattern: $0) }
        let directory = (file as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot open \(file): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == line.count else { return "cannot write \(file)" }
        _ = fsync(fd)
        return nil
    }
}
