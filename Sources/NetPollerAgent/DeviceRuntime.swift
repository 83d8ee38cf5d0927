import NetPollerCore
import Synchronization

/// A device as the agent runs it: its config, and the previous poll's tags arrays. A reload that changes the device
/// makes a new one; what a collector learned about the device lives in the collector (`Collector.release`).
final class DeviceRuntime: Sendable {
    let config: DeviceConfig
    private let tagReuse = Mutex(TagReuse())

    init(config: DeviceConfig) {
        self.config = config
    }

    /// Hands unchanged rows the previous poll's tags arrays (see `TagReuse`).
    func reuseTags(_ samples: inout [Sample]) {
        tagReuse.withLock { $0.apply(to: &samples) }
    }
}
