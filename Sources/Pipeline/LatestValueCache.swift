import Glibc
import LineProtocol
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// Keeps the latest batch of every device, behind `/metrics/devices`. The sink runner updates it as batches leave the
/// queue (it is in memory: no buffer, retry or spool needed), HTTP reads it, and nothing ever polls on demand.
///
/// An entry's age runs from when it was stored (the end of its poll, not its start), and entries older than their
/// time-to-live (3 × the device interval plus the time a dead device takes to time out) are not served, so a dead
/// device's last values do not look current. While a device's poll is in progress its last complete data is served
/// whatever its age: a slow device stays visible.
public final class LatestValueCache: Sendable {
    /// One device: its last batch, when it was stored, its time-to-live and whether a poll is running. One table
    /// keyed by device, not four (each would hold every device's name and its own half-empty buckets).
    private struct Entry {
        var batch: SampleBatch?
        var storedAt: Int64 = 0
        var ttlNanos: Int64?
        var polling = false
    }

    private let state = Mutex<[String: Entry]>([:])
    private let now: @Sendable () -> Int64

    public init(now: @escaping @Sendable () -> Int64 = { WallClock.nanos() }) {
        self.now = now
    }

    public func setTimeToLive(device: String, _ ttl: Duration) {
        state.withLock { $0[device, default: Entry()].ttlNanos = ttl.nanoseconds }
    }

    public func remove(device: String) {
        _ = state.withLock { $0.removeValue(forKey: device) }
    }

    public func store(_ batch: SampleBatch) {
        let t = now()
        // One lookup; the batch replaced is handed out and freed after the lock (a device's last batch is dozens of
        // allocations to release).
        let replaced = state.withLock { entries -> SampleBatch? in
            guard let index = entries.index(forKey: batch.device) else {
                var entry = Entry()
                entry.batch = batch
                entry.storedAt = t
                entries[batch.device] = entry
                return nil
            }
            let previous = entries.values[index].batch
            entries.values[index].batch = batch
            entries.values[index].storedAt = t
            return previous
        }
        withExtendedLifetime(replaced) {}
    }

    /// A poll of the device started (true) or ended (false): while it runs, the last data does not expire.
    public func setPolling(device: String, _ polling: Bool) {
        state.withLock { entries in
            if polling {
                entries[device, default: Entry()].polling = true
            } else if let index = entries.index(forKey: device) {
                entries.values[index].polling = false
            }
        }
    }

    /// The fresh batches, for one device or all, sorted by device name.
    public func latest(device: String? = nil) -> [SampleBatch] {
        let t = now()
        func fresh(_ entry: Entry) -> SampleBatch? {
            guard let batch = entry.batch else { return nil }
            if let ttl = entry.ttlNanos, !entry.polling, t - entry.storedAt > ttl { return nil }
            return batch
        }
        return state.withLock { entries in
            if let device { return entries[device].flatMap(fresh).map { [$0] } ?? [] }
            return entries.values.compactMap(fresh)
        }.sorted { $0.device < $1.device }
    }
}

/// Prometheus text exposition of device samples, named as Prometheus' snmp_exporter names them: the metric is the MIB
/// object name, labels are the index tags plus `device` (and the device's configured tags). Counter32/64 are typed
/// counter, other numbers gauge; text values become an info-style gauge of value 1 with the text in a label of the
/// metric's own name, as snmp_exporter does for DisplayString.
///
/// No line is ever dropped for its type: a family is typed `counter` only when every one of its lines is a counter,
/// and `gauge` otherwise (any number is a valid gauge). So one device that sends a counter column as INTEGER (when its
/// profile declares no type) cannot blank the metric for the others.
public enum DeviceExposition {
    private struct Family {
        var allCounters = true
        var lines: [UInt8] = []
    }

    public static func render(_ batches: [SampleBatch], status: [DeviceStatus] = []) -> [UInt8] {
        var families: [String: Family] = [:]
        var order: [String] = []
        var labels: [UInt8] = []
        for batch in batches {
            for sample in batch.samples {
                labels.removeAll(keepingCapacity: true)
                appendLabel("device", batch.device, into: &labels)
                for tag in batch.deviceTags + sample.tags {
                    labels.append(UInt8(ascii: ","))
                    appendLabel(tag.key, tag.value, into: &labels)
                }
                for field in sample.fields {
                    let name = metricName(field.name)
                    if families[name] == nil {
                        families[name] = Family()
                        order.append(name)
                    }
                    if field.kind != .counter { families[name]?.allCounters = false }
                    var line = Array(name.utf8)
                    line.append(UInt8(ascii: "{"))
                    line.append(contentsOf: labels)
                    switch field.value {
                    case .text(let text):
                        line.append(UInt8(ascii: ","))
                        appendLabel(field.name, text, into: &line)
                        line.append(contentsOf: "} 1\n".utf8)
                    case .int(let v):
                        line.append(contentsOf: "} ".utf8)
                        LineProtocol.appendDecimal(v, into: &line)
                        line.append(UInt8(ascii: "\n"))
                    case .uint(let v):
                        line.append(contentsOf: "} \(v)\n".utf8)
                    case .double(let v):
                        line.append(contentsOf: "} \(formatDouble(v))\n".utf8)
                    }
                    families[name]?.lines.append(contentsOf: line)
                }
            }
        }
        var out: [UInt8] = []
        for name in order {
            guard let family = families[name] else { continue }
            out.append(contentsOf: "# TYPE \(name) \(family.allCounters ? "counter" : "gauge")\n".utf8)
            out.append(contentsOf: family.lines)
        }
        if !status.isEmpty {
            out.append(contentsOf: "# HELP netpoller_device_up 1 if the last poll of the device returned data.\n".utf8)
            out.append(contentsOf: "# TYPE netpoller_device_up gauge\n".utf8)
            for device in status {
                var line: [UInt8] = Array("netpoller_device_up{".utf8)
                appendLabel("device", device.name, into: &line)
                let up = device.state == .up || device.state == .degraded
                line.append(contentsOf: "} \(up ? 1 : 0)\n".utf8)
                out.append(contentsOf: line)
            }
            out.append(
                contentsOf: "# HELP netpoller_device_last_poll_duration_seconds Duration of the device's last poll.\n"
                    .utf8)
            out.append(contentsOf: "# TYPE netpoller_device_last_poll_duration_seconds gauge\n".utf8)
            for device in status {
                guard let duration = device.lastPollDurationSeconds else { continue }
                var line: [UInt8] = Array("netpoller_device_last_poll_duration_seconds{".utf8)
                appendLabel("device", device.name, into: &line)
                line.append(contentsOf: "} \(formatDouble(duration))\n".utf8)
                out.append(contentsOf: line)
            }
        }
        return out
    }

    /// A valid Prometheus metric or label name: `[a-zA-Z_][a-zA-Z0-9_]*`, other characters become `_`.
    public static func metricName(_ name: String) -> String {
        var out = ""
        for (i, c) in name.unicodeScalars.enumerated() {
            let ok = c.isASCII && (c.properties.isAlphabetic || c == "_" || (i > 0 && ("0"..."9").contains(c)))
            out.unicodeScalars.append(ok ? c : "_")
        }
        return out.isEmpty ? "_" : out
    }

    static func appendLabel(_ key: String, _ value: String, into out: inout [UInt8]) {
        out.append(contentsOf: metricName(key).utf8)
        out.append(contentsOf: "=\"".utf8)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func formatDouble(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        return v.description
    }
}
