import Foundation
import Logging
import NetPollerCore
import Synchronization

/// Ends the process if the shutdown has not finished in time: a thread of its own, so neither a blocked cooperative
/// pool nor a hung C call can hold the exit back.
final class ShutdownWatchdog: Sendable {
    private let armed = Atomic<Bool>(true)

    init(after budget: Duration, logger: Logger) {
        let thread = Thread { [self] in
            Thread.sleep(
                forTimeInterval: Double(budget.components.seconds) + Double(budget.components.attoseconds) / 1e18)
            guard self.armed.load(ordering: .acquiring) else { return }
            logger.error(
                "shutdown overran shutdown_timeout; exiting now (spooled data is kept for the next start)",
                metadata: .keys([.phase: "shutdown"]))
            exit(1)
        }
        thread.start()
    }

    func disarm() { armed.store(false, ordering: .releasing) }
}
