import Foundation

/// `[agent] state_dir`: checked at start (created, writable, not used by another agent) and locked for the agent's
/// life. Spools live under `spool/<sink>/`, dead letters under `dead-letter/`.
public final class StateDirectory: Sendable {
    /// The state directory cannot be used; `run` exits 73 (EX_CANTCREAT) with this message.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "state_dir \(path) is not usable: \(reason)" }
        public static let exitCode: Int32 = 73
    }

    public let path: String
    /// Held (flock) while the agent runs; closed by the kernel when the process exits.
    private let lockFD: Int32

    public init(path: String) throws(Failure) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw Failure(path: path, reason: "cannot create it (\(Self.errnoText(of: error)))")
        }
        let probe = path + "/.write-test"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0, write(fd, "ok", 2) == 2, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw Failure(path: path, reason: "cannot write in it (\(reason))")
        }
        close(fd)
        unlink(probe)
        let lock = open(path + "/netpoller.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            throw Failure(path: path, reason: "cannot create the lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw Failure(path: path, reason: "another netpoller is running with this state_dir")
        }
        // Set last: a throwing init with every property set runs deinit, which must not close a second time.
        lockFD = lock
    }

    deinit { close(lockFD) }

    private static func errnoText(of error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain
        {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}
