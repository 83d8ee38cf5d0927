import NetPollerCore
import Synchronization

/// A device as the agent runs it: its config, and the previous poll's tags arrays. A reload that changes the device
/// makes a new one; what a collector learned about the device lives in the collector (`Collector.release`).
///
/// The config is not a copy: every runtime holds the running configuration's one device list (a reference) and its
/// place in it, so a device's ~240-byte `DeviceConfig` is kept once, not twice. A reload moves the runtimes of
/// unchanged devices onto the new list (`rebased`), so no runtime keeps an older list alive.
final class DeviceRuntime: Sendable {
    private let list: [DeviceConfig]
    private let index: Int
    /// Shared by a runtime and its rebased successors (a reload keeps what the last poll's tags were).
    private let tagReuse: SharedTagReuse

    var config: DeviceConfig { list[index] }

    /// The device at `index` of `list` (the configuration's `devices`).
    init(list: [DeviceConfig], index: Int) {
        self.list = list
        self.index = index
        tagReuse = SharedTagReuse()
    }

    private init(list: [DeviceConfig], index: Int, tagReuse: SharedTagReuse) {
        self.list = list
        self.index = index
        self.tagReuse = tagReuse
    }

    /// The same device (unchanged by a reload) at `index` of the new configuration's list.
    func rebased(list: [DeviceConfig], index: Int) -> DeviceRuntime {
        DeviceRuntime(list: list, index: index, tagReuse: tagReuse)
    }

    /// A runtime per device name of `list` (the first device of a name wins): the runtimes in `old` whose names are not
    /// in `renewed` rebased onto `list`, new ones for the rest.
    static func table(
        for list: [DeviceConfig], keeping old: [String: DeviceRuntime] = [:], except renewed: Set<String> = []
    ) -> [String: DeviceRuntime] {
        var table: [String: DeviceRuntime] = [:]
        table.reserveCapacity(list.count)
        for (index, device) in list.enumerated() where table[device.name] == nil {
            let kept = renewed.contains(device.name) ? nil : old[device.name]
            table[device.name] =
                kept?.rebased(list: list, index: index) ?? DeviceRuntime(list: list, index: index)
        }
        return table
    }

    /// Hands unchanged rows the previous poll's tags arrays (see `TagReuse`).
    func reuseTags(_ samples: inout [Sample]) {
        tagReuse.state.withLock { $0.apply(to: &samples) }
    }
}

private final class SharedTagReuse: Sendable {
    let state = Mutex(TagReuse())
}
