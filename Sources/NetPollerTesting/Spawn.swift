import Foundation

/// A child process started with posix_spawn and reaped with waitpid by its owner (Foundation's Process did not reap
/// short-lived children reliably under the test runner here).
public final class Child: @unchecked Sendable {
    // Safe: `pid` is immutable; `status` is written once by the thread that reaps, under `lock`.
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    init(pid: pid_t) { self.pid = pid }

    /// Spawns `executable` with `arguments`; stdout/stderr go to `output` (a file path) or /dev/null.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], output: String? = nil,
        stdinFile: String? = nil
    ) throws -> Child {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let out = output ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, stdinFile ?? "/dev/null", O_RDONLY, 0)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard rc == 0 else { throw LabError.didNotStart("\(executable): \(String(cString: strerror(rc)))") }
        return Child(pid: pid)
    }

    /// Non-blocking: the exit status if the child has ended.
    public func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid {
            status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        }
        return status
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits (polling every 10 ms, never blocking a thread for long) until the child ends.
    public func wait(timeout: Duration = .seconds(120)) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let status = poll() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Blocks the calling thread until the child ends (for deinit; never from async code).
    public func waitSync() {
        while poll() == nil { usleep(10_000) }
    }

    public func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }

    /// SIGTERM, then SIGKILL after 5 s; always reaps.
    public func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        for _ in 0..<500 {
            if poll() != nil { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        while poll() == nil { usleep(10_000) }
    }
}
