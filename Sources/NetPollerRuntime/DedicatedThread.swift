import Foundation
import NetPollerCore
import Synchronization

/// One OS thread of its own that runs blocking jobs (C library calls) in order, off Swift's cooperative pool. A sink
/// that owns a C handle (a `PGconn`, a curl easy handle) keeps it on one of these, so the handle only ever sees one
/// thread. Jobs submitted after `stop()` are not run.
public final class DedicatedThread: Sendable {
    /// The queue and the loop; the thread holds it until it has stopped.
    // @unchecked Sendable: `jobs` and `stopped` are only read or written while `condition` is locked.
    private final class Worker: @unchecked Sendable {
        let condition = NSCondition()
        var jobs: [@Sendable () -> Void] = []
        var stopped = false

        func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard !stopped else { return false }
            jobs.append(job)
            condition.signal()
            return true
        }

        func stop() {
            condition.lock()
            stopped = true
            condition.signal()
            condition.unlock()
        }

        func loop() {
            while true {
                condition.lock()
                while jobs.isEmpty && !stopped { condition.wait() }
                if jobs.isEmpty {
                    condition.unlock()
                    return
                }
                let batch = jobs
                jobs.removeAll()
                condition.unlock()
                for job in batch { job() }
            }
        }
    }

    private let worker = Worker()

    /// `name` shows in `top -H`, `ps -L` and profiles, cut to what Linux keeps (15 bytes; a longer name is refused
    /// and the thread would show its creator's).
    public init(name: String) {
        let worker = self.worker
        let thread = Thread {
            Self.nameCurrentThread(name)
            worker.loop()
        }
        thread.start()
    }

    /// Names the calling thread (Foundation's `Thread.name` does not reach the OS on Linux, and glibc's
    /// `pthread_setname_np` is not visible from Swift): through `/proc/thread-self/comm`, as prctl would.
    public static func nameCurrentThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var bytes = Array(threadName(name).utf8)
        _ = write(fd, &bytes, bytes.count)
    }

    /// `name` cut to the 15 bytes Linux keeps of a thread name, on a character boundary.
    public static func threadName(_ name: String) -> String {
        var short = Substring(name)
        while short.utf8.count > 15 { short = short.dropLast() }
        return String(short)
    }

    deinit { worker.stop() }

    /// Runs `body` on the thread and returns its result; nil if the thread was stopped first.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            if !worker.submit({ continuation.resume(returning: body()) }) { continuation.resume(returning: nil) }
        }
    }

    /// Queues `job` on the thread without waiting for it; false (and `job` is dropped) if the thread was stopped.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool { worker.submit(job) }

    /// No more jobs: the ones already queued still run, then the thread ends.
    public func stop() { worker.stop() }
}

/// What a sink does on its own thread: blocking C calls against a handle it owns.
public protocol ThreadConfinedWriter: AnyObject, Sendable {
    func write(_ batches: [SampleBatch]) -> SinkResult
    func probe() -> SinkError?
    /// Frees the handle; called once, after the last write.
    func close()
}

/// The async face of a `ThreadConfinedWriter`: every call is handed to one `DedicatedThread`, so the writer's handle
/// only ever sees that thread; after `close()` nothing more is sent to it.
public final class SinkThread<Writer: ThreadConfinedWriter>: Sendable {
    private let thread: DedicatedThread
    private let writer: Writer
    private let closed = Atomic(false)

    public init(name: String, writer: Writer) {
        thread = DedicatedThread(name: name)
        self.writer = writer
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let writer = self.writer
        return await thread.run { writer.write(batches) } ?? .retryable(SinkError(.unavailable, "sink is closed"))
    }

    /// Starts a write on the thread; `completion` is called there with the result (see `Sink.startWrite`).
    public func startWrite(_ batches: [SampleBatch], completion: @escaping @Sendable (SinkResult) -> Void) {
        let writer = self.writer
        if !thread.submit({ completion(writer.write(batches)) }) {
            completion(.retryable(SinkError(.unavailable, "sink is closed")))
        }
    }

    public func probe() async -> SinkError? {
        let writer = self.writer
        return await thread.run { writer.probe() } ?? SinkError(.unavailable, "sink is closed")
    }

    /// Closes the writer after any write in flight, then ends the thread.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let writer = self.writer
        _ = await thread.run { writer.close() }
        thread.stop()
    }
}
