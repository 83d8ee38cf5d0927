import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// systemd's service notification protocol (sd_notify(3)), spoken directly: one datagram per state change to the
/// `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without the variable
/// (not under systemd, or `Type=` other than notify) every call does nothing.
public final class SystemdNotifier: Sendable {
    /// The socket address; nil when `$NOTIFY_SOCKET` is unset or unusable.
    private let address: [UInt8]?
    /// `$WATCHDOG_USEC` for this process (`$WATCHDOG_PID` unset or ours): how often systemd wants `WATCHDOG=1`.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108,
            path.hasPrefix("/") || path.hasPrefix("@")
        {
            var bytes = Array(path.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
            address = bytes
        } else {
            address = nil
        }
        if let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0,
            environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(usec)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { address != nil }

    /// Sends `state` (newline-separated `KEY=value` lines); false when there is no socket or the send failed.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sun.sun_path) { path in
            for (i, byte) in address.enumerated() { path[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &sun) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == bytes.count
    }

    public func ready(status: String? = nil) {
        notify("READY=1" + (status.map { "\nSTATUS=\($0)" } ?? ""))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (CLOCK_MONOTONIC now), as `Type=notify-reload` expects.
    public func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    public func stopping() { notify("STOPPING=1") }

    public func watchdog() { notify("WATCHDOG=1") }

    public func status(_ text: String) { notify("STATUS=\(text)") }
}
