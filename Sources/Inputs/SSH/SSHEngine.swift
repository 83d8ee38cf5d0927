import CLibSSH2
import Foundation
import Glibc
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// A small fixed set of SSH I/O threads (`[ssh] io_threads`), each multiplexing its devices' sessions with `poll(2)`.
/// A device always lands on the same thread (by the hash of its name), so its connection, session and channels only
/// ever see that thread. A job crosses into the thread once per poll and its result crosses back once.
public final class SSHEngine: Sendable {
    private let threads: [SSHIOThread]

    public init(threads count: Int, metrics: SelfMetrics?) {
        SSHLibrary.initialize()
        let counters = SSHCounters(
            connectionsOpened: { metrics?.sshConnections.increment() },
            commandsRun: { metrics?.sshCommands.increment() },
            bytesRead: { metrics?.sshBytesRead.increment(by: Int64($0)) },
            pagerAnswered: { metrics?.sshPagerAnswers.increment() })
        threads = (0..<max(1, count)).map { SSHIOThread(index: $0, counters: counters) }
    }

    private func thread(for device: String) -> SSHIOThread {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in device.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return threads[Int(hash % UInt64(threads.count))]
    }

    /// Runs `commands` on the device's connection (opened or reused); one result per command, in order.
    func run(_ target: SSHTarget, commands: [String]) async -> SSHJobResult {
        await withCheckedContinuation { continuation in
            let job = SSHJob(target: target, commands: commands) { continuation.resume(returning: $0) }
            thread(for: target.device).submit(.job(job))
        }
    }

    /// Closes the device's connection (removed or changed by a reload).
    func release(_ device: String) {
        thread(for: device).submit(.release(device))
    }

    /// Ends every job (as `cancelled`), closes every connection, and stops the threads.
    func shutdown() async {
        for thread in threads { await thread.stop() }
    }

    /// Seconds since the slowest I/O thread last went round its loop (0 for a thread parked with no connection).
    var heartbeatAge: Double {
        let now = monotonicNanos()
        return threads.map {
            $0.parked.load(ordering: .acquiring) ? 0 : Double(now - $0.heartbeat.load(ordering: .relaxed)) / 1e9
        }.max() ?? 0
    }

    /// OS threads the engine runs (for tests: fixed, whatever the number of devices).
    public var threadCount: Int { threads.count }
}

enum SSHLibrary {
    private static let once: Void = { libssh2_init(0) == 0 ? () : () }()
    static func initialize() { _ = once }
}

/// One SSH I/O thread: an inbox under a lock, an eventfd to wake it, and the loop that owns the connections.
final class SSHIOThread: Sendable {
    enum Message: Sendable {
        case job(SSHJob)
        case release(String)
    }

    private struct Inbox {
        var messages: [Message] = []
        var stopping = false
        var stopped: [CheckedContinuation<Void, Never>] = []
        var finished = false
    }

    private let inbox = Mutex(Inbox())
    let wakeFD: Int32
    let heartbeat = Atomic<Int64>(monotonicNanos())
    /// Waiting for a message with no connection at all (nothing to stall on; no heartbeat is due).
    let parked = Atomic<Bool>(false)

    init(index: Int, counters: SSHCounters) {
        wakeFD = np_eventfd()
        let thread = Thread { [self] in
            DedicatedThread.nameCurrentThread("ssh-io-\(index)")
            SSHLoop(thread: self, counters: counters).run()
        }
        thread.start()
    }

    func submit(_ message: Message) {
        let accepted = inbox.withLock { box -> Bool in
            guard !box.stopping else { return false }
            box.messages.append(message)
            return true
        }
        guard accepted else {
            if case .job(let job) = message {
                let error = PollError(.cancelled, "the SSH poller is stopping")
                job.complete(SSHJobResult(results: job.commands.map { _ in .failed(error) }, info: SSHConnectionInfo()))
            }
            return
        }
        wake()
    }

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Empties the wake-up eventfd (only after poll said it is readable: no syscall on other passes).
    func drainWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    func take() -> (messages: [Message], stopping: Bool) {
        inbox.withLock { box in
            defer { box.messages.removeAll() }
            return (box.messages, box.stopping)
        }
    }

    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = inbox.withLock { box -> Bool in
                if box.finished { return true }
                box.stopping = true
                box.stopped.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wake() }
        }
    }

    func finished() {
        let waiting = inbox.withLock { box -> [CheckedContinuation<Void, Never>] in
            box.finished = true
            defer { box.stopped.removeAll() }
            return box.stopped
        }
        close(wakeFD)
        for continuation in waiting { continuation.resume() }
    }
}

/// The poll loop of one SSH I/O thread. Lives and dies on it.
final class SSHLoop {
    unowned let thread: SSHIOThread
    let counters: SSHCounters
    private var connections: [String: SSHConnection] = [:]
    /// Connections to advance on this pass: new work, a ready socket or a passed deadline.
    private var due: Set<String> = []

    init(thread: SSHIOThread, counters: SSHCounters) {
        self.thread = thread
        self.counters = counters
    }

    func run() {
        var fds: [pollfd] = []
        var owners: [SSHConnection] = []
        var waits: [String: SSHConnection.Wait] = [:]
        while true {
            thread.heartbeat.store(monotonicNanos(), ordering: .relaxed)
            let (messages, stopping) = thread.take()
            for message in messages {
                switch message {
                case .job(let job):
                    let name = job.target.device
                    let connection =
                        connections[name] ?? SSHConnection(device: name, target: job.target, counters: counters)
                    connections[name] = connection
                    connection.enqueue(job)
                    due.insert(name)
                case .release(let device):
                    if let connection = connections.removeValue(forKey: device) {
                        connection.cancelAll(PollError(.cancelled, "the device was removed or changed"))
                    }
                    waits[device] = nil
                }
            }
            if stopping {
                for connection in connections.values {
                    connection.cancelAll(PollError(.cancelled, "abandoned at shutdown"))
                }
                connections.removeAll()
                thread.finished()
                return
            }
            let now = monotonicNanos()
            for (name, connection) in connections where connection.nextDeadline(now: now) != 0 {
                if connection.nextDeadline(now: now) <= now { due.insert(name) }
            }
            for name in due {
                guard let connection = connections[name] else { continue }
                let wait = connection.advance(now: monotonicNanos())
                if wait == .idle && !connection.hasWork && connection.phase == .closed {
                    // Nothing open and nothing to do: the connection object goes (its counters stay in `info` of
                    // the last result; a new one starts from zero only after a release or a long idle).
                    waits[name] = .idle
                } else {
                    waits[name] = wait
                }
            }
            due.removeAll()
            fds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: thread.wakeFD, events: Int16(POLLIN), revents: 0))
            var nearest: Int64 = 0
            let afterAdvance = monotonicNanos()
            for (name, connection) in connections {
                if case .io(let events) = waits[name] ?? .idle, connection.socket >= 0 {
                    fds.append(pollfd(fd: connection.socket, events: events, revents: 0))
                    owners.append(connection)
                }
                let d = connection.nextDeadline(now: afterAdvance)
                if d != 0 && (nearest == 0 || d < nearest) { nearest = d }
            }
            // Wake at least once a second: the heartbeat `/health` reads. With no connection at all, park until a
            // message arrives (its eventfd write wakes the poll): an agent without SSH devices never wakes these.
            var timeout: Int32 = connections.isEmpty ? -1 : 1000
            if nearest != 0 { timeout = Int32(max(0, min(1000, (nearest - afterAdvance + 999_999) / 1_000_000))) }
            if timeout < 0 { thread.parked.store(true, ordering: .releasing) }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if timeout < 0 {
                thread.heartbeat.store(monotonicNanos(), ordering: .relaxed)
                thread.parked.store(false, ordering: .releasing)
            }
            guard ready > 0 else { continue }
            if fds[0].revents != 0 { thread.drainWake() }
            for i in 1..<fds.count where fds[i].revents != 0 {
                let connection = owners[i - 1]
                if waits[connection.device] == .io(Int16(NP_POLLRDHUP)) && !connection.hasWork {
                    connection.peerClosed()
                    waits[connection.device] = .idle
                    continue
                }
                due.insert(connection.device)
            }
        }
    }
}
