import Foundation
import LineProtocol
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// Appends line protocol or JSON lines to a file (`[[outputs.file]]`), like Telegraf's file output. The file is
/// opened for each write, so a rotated (moved) file is followed and a missing directory is a retryable failure that
/// heals when the directory comes back.
public final class FileSink: Sink {
    public let name: String
    public let path: String
    private let format: TextFormat
    /// Blocking file I/O runs on this serial queue, never on the cooperative pool.
    private let writer: DispatchQueue
    /// Kept between writes: it remembers each device's escaped series.
    private let encoder = Mutex(LineProtocol.Encoder())

    public init(name: String, path: String, format: TextFormat) {
        self.name = name
        self.path = path
        self.format = format
        writer = DispatchQueue(label: "netpoller.file-sink.\(name)")
    }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let bytes = encoder.withLock { TextEncoding.encode(batches, format: format, encoder: &$0) }
        let path = self.path
        let error = await writer.run { FileWriting.append(path, bytes) }
        return error.map { .retryable($0) } ?? .accepted
    }

    public func probe() async -> SinkError? {
        let path = self.path
        return await writer.run { FileWriting.append(path, []) }
    }
}
