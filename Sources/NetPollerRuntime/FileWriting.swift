import Foundation
import NetPollerCore

/// Blocking writes to a file descriptor or an appended file; call them on a queue or thread of their own.
public enum FileWriting {
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Appends to `path` (created with `mode` if missing); nil on success.
    public static func append(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) -> SinkError? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else {
            return SinkError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        return writeAll(fd, bytes) ? nil : SinkError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}
