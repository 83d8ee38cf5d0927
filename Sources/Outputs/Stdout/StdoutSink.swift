import Foundation
import LineProtocol
import Logging
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// Writes InfluxDB line protocol (or JSON lines) to standard output. Used by `once` and by `[[outputs.stdout]]`.
public final class StdoutSink: Sink {
    public typealias Format = TextFormat

    public let name: String
    private let format: Format
    /// write(2) blocks when the reader is slow: it runs on this serial queue, never on the cooperative pool.
    private let writer = DispatchQueue(label: "netpoller.stdout-sink")
    /// Kept between writes: it remembers each device's escaped series.
    private let encoder = Mutex(LineProtocol.Encoder())

    public init(name: String = "stdout", format: Format) {
        self.name = name
        self.format = format
    }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let bytes = encoder.withLock { TextEncoding.encode(batches, format: format, encoder: &$0) }
        let ok = await writer.run { FileWriting.writeAll(1, bytes) }
        return ok ? .accepted : .retryable(SinkError(.io, "cannot write to standard output"))
    }
}
