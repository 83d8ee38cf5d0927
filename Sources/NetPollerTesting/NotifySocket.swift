import Foundation

/// The receiving end of systemd's notification socket in tests: an `AF_UNIX` datagram socket at `path`; every message
/// the agent sends is kept with its arrival time.
public final class NotifySocket: @unchecked Sendable {
    // Safe to send: the socket is read only by the reader thread; `messages` is guarded by `lock`.
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(time: Date, text: String)] = []
    private var stopped = false
    public let path: String

    public init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < 108 else { throw LabError.didNotStart("notify socket: path too long") }
        withUnsafeMutableBytes(of: &sun.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &sun) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw LabError.didNotStart("notify socket at \(path) (errno \(errno))")
        }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        Thread { [self] in readLoop() }.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            lock.lock()
            let done = stopped
            lock.unlock()
            if done { return }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { continue }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            lock.lock()
            received.append((Date(), text))
            lock.unlock()
        }
    }

    public var messages: [(time: Date, text: String)] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Waits until a message satisfies `match` (after the first `skip` messages); that message.
    public func wait(seconds: Double = 30, after skip: Int = 0, _ match: (String) -> Bool) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let found = messages.dropFirst(skip).first(where: { match($0.text) }) { return found.text }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Ends the reader thread (it holds the socket until then).
    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    deinit {
        close(fd)
        unlink(path)
    }
}
