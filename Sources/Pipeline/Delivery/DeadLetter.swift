import Foundation
import LineProtocol
import NetPollerCore
import NetPollerRuntime

/// Appends rejected batches to a JSON-lines file, one object per batch:
/// `{"batch_id":"…","device":"…","lines":"<line protocol>","reason":"…","samples":N,"sink":"…","time":"…"}`.
/// The file is opened per write on the writer's own queue, so it can be moved away (rotated) at any time.
public final class DeadLetterFile: Sendable {
    struct Record: Encodable {
        enum CodingKeys: String, CodingKey {
            case batchID = "batch_id"
            case device, lines, reason, samples, sink, time
        }
        var batchID: String
        var device: String
        var lines: String
        var reason: String
        var samples: Int
        var sink: String
        var time: String
    }

    public let path: String
    private let writer = DispatchQueue(label: "netpoller.dead-letter")

    public init(path: String) {
        self.path = path
    }

    /// Writes the batches with the sink's reason; returns an error text if the file cannot be written.
    public func write(_ batches: [SampleBatch], sink: String, reason: String) async -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let time = ISO8601DateFormatter().string(from: Date())
        var out: [UInt8] = []
        for batch in batches {
            var lines: [UInt8] = []
            LineProtocol.encode(batch, into: &lines)
            let record = Record(
                batchID: String(batch.id, radix: 16), device: batch.device,
                lines: String(decoding: lines, as: UTF8.self),
                reason: reason, samples: batch.count, sink: sink, time: time)
            if let data = try? encoder.encode(record) {
                out += data
                out.append(UInt8(ascii: "\n"))
            }
        }
        return await append(out)
    }

    /// Writes the refused parts of batches (a partial write), one record per part.
    public func write(_ parts: [RejectedPart], sink: String) async -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let time = ISO8601DateFormatter().string(from: Date())
        var out: [UInt8] = []
        for part in parts {
            let record = Record(
                batchID: String(part.batchID, radix: 16), device: part.device, lines: part.lines,
                reason: part.reason, samples: part.samples, sink: sink, time: time)
            if let data = try? encoder.encode(record) {
                out += data
                out.append(UInt8(ascii: "\n"))
            }
        }
        return await append(out)
    }

    private func append(_ bytes: [UInt8]) async -> String? {
        let path = self.path
        return await writer.run {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // Rejected data may hold what the server echoed back: readable by the agent's user only.
            return FileWriting.append(path, bytes, mode: 0o600)?.message
        }
    }
}
