import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// A signal caught from the moment this is made, and handed out later as an async sequence: SIGHUP is installed before
/// the config is read, so a reload asked for during start-up (which may wait 10 s for a sink) neither kills the agent
/// nor is lost; it is applied once start-up has finished. Signals that arrive while one is pending coalesce into it.
public final class SignalQueue: Sendable {
    public let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    /// Kept alive for the life of the queue; only touched in `init` and `deinit`.
    private nonisolated(unsafe) let source: any DispatchSourceSignal

    public init(_ number: Int32) {
        (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // The default action (terminate) must not run; the dispatch source sees the signal all the same.
        signal(number, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        let continuation = self.continuation
        source.setEventHandler { continuation.yield() }
        source.resume()
    }

    deinit {
        source.cancel()
        continuation.finish()
    }
}
