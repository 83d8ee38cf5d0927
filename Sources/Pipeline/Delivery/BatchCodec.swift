import CZlib
import NetPollerCore

/// The spool's binary form of a `SampleBatch`: little-endian, length-prefixed strings, one tag per field value.
///
/// Versioned by the record magic in `SpoolSegment`; decoding checks every length against the buffer, so a garbled
/// record is an error, never a crash.
public enum BatchCodec {
    public struct DecodeError: Error, Sendable, Equatable {}

    public static func encode(_ batch: SampleBatch, into out: inout [UInt8]) {
        out.append(contentsOf: encode(batch))
    }

    /// One pass sizes the record exactly, a second writes it through a pointer (every batch is spooled as it
    /// arrives: this runs for every sample the agent polls).
    public static func encode(_ batch: SampleBatch) -> [UInt8] {
        let size = encodedSize(batch)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var writer = Writer(position: UnsafeMutableRawPointer(buffer.baseAddress!))
            writer.u64(batch.id)
            writer.u64(UInt64(bitPattern: batch.timestampNanos))
            writer.string(batch.device)
            writer.tags(batch.deviceTags)
            writer.u32(UInt32(batch.samples.count))
            for sample in batch.samples.indices {
                writer.string(batch.samples[sample].measurement)
                writer.tags(batch.samples[sample].tags)
                writer.u32(UInt32(batch.samples[sample].fields.count))
                batch.samples[sample].fields.withUnsafeBufferPointer { fields in
                    for f in fields.indices { writer.field(fields[f]) }
                }
            }
            // Optional trailer (absent in records written before it existed): the poll's inventory.
            if let poll = batch.poll {
                writer.u8(1)
                writer.string(poll.address)
                writer.string(poll.state)
                writer.u32(UInt32(poll.profiles.count))
                for profile in poll.profiles { writer.string(profile) }
            }
            count = writer.position - UnsafeMutableRawPointer(buffer.baseAddress!)
            precondition(count == size, "BatchCodec: record size mismatch")
        }
    }

    /// The exact size `encode` writes.
    static func encodedSize(_ batch: SampleBatch) -> Int {
        var size = 8 + 8 + 4 + batch.device.utf8.count + tagsSize(batch.deviceTags) + 4
        batch.samples.withUnsafeBufferPointer { samples in
            for s in samples.indices {
                size += 4 + samples[s].measurement.utf8.count + tagsSize(samples[s].tags) + 4
                samples[s].fields.withUnsafeBufferPointer { fields in
                    for f in fields.indices {
                        size += 4 + fields[f].name.utf8.count + 2
                        if case .text(let v) = fields[f].value { size += 4 + v.utf8.count } else { size += 8 }
                    }
                }
            }
        }
        if let poll = batch.poll {
            size += 1 + 4 + poll.address.utf8.count + 4 + poll.state.utf8.count + 4
            for profile in poll.profiles { size += 4 + profile.utf8.count }
        }
        return size
    }

    @inline(__always)
    static func tagsSize(_ tags: [Tag]) -> Int {
        var size = 4
        tags.withUnsafeBufferPointer { tags in
            for t in tags.indices { size += 8 + tags[t].key.utf8.count + tags[t].value.utf8.count }
        }
        return size
    }

    /// Little-endian stores into memory sized beforehand.
    struct Writer {
        var position: UnsafeMutableRawPointer

        @inline(__always)
        mutating func u8(_ v: UInt8) {
            position.storeBytes(of: v, as: UInt8.self)
            position += 1
        }

        @inline(__always)
        mutating func u32(_ v: UInt32) {
            position.storeBytes(of: v.littleEndian, as: UInt32.self)
            position += 4
        }

        @inline(__always)
        mutating func u64(_ v: UInt64) {
            position.storeBytes(of: v.littleEndian, as: UInt64.self)
            position += 8
        }

        @inline(__always)
        mutating func string(_ s: String) {
            var s = s
            s.withUTF8 { utf8 in
                u32(UInt32(utf8.count))
                if let base = utf8.baseAddress { position.copyMemory(from: base, byteCount: utf8.count) }
                position += utf8.count
            }
        }

        @inline(__always)
        mutating func field(_ field: Field) {
            string(field.name)
            u8(field.kind.rawValue)
            switch field.value {
            case .int(let v):
                u8(0)
                u64(UInt64(bitPattern: v))
            case .uint(let v):
                u8(1)
                u64(v)
            case .double(let v):
                u8(2)
                u64(v.bitPattern)
            case .text(let v):
                u8(3)
                string(v)
            }
        }

        @inline(__always)
        mutating func tags(_ tags: [Tag]) {
            u32(UInt32(tags.count))
            for tag in tags {
                string(tag.key)
                string(tag.value)
            }
        }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> SampleBatch {
        var reader = Reader(bytes: bytes)
        let id = try reader.u64()
        let timestamp = Int64(bitPattern: try reader.u64())
        let device = try reader.string()
        let deviceTags = try reader.tags()
        let sampleCount = Int(try reader.u32())
        guard sampleCount <= bytes.count else { throw DecodeError() }
        var samples: [Sample] = []
        samples.reserveCapacity(sampleCount)
        for _ in 0..<sampleCount {
            let measurement = try reader.string()
            let tags = try reader.tags()
            let fieldCount = Int(try reader.u32())
            guard fieldCount <= bytes.count else { throw DecodeError() }
            var fields: [Field] = []
            fields.reserveCapacity(fieldCount)
            for _ in 0..<fieldCount {
                let name = try reader.string()
                guard let kind = MetricKind(rawValue: try reader.u8()) else { throw DecodeError() }
                let value: FieldValue
                switch try reader.u8() {
                case 0: value = .int(Int64(bitPattern: try reader.u64()))
                case 1: value = .uint(try reader.u64())
                case 2: value = .double(Double(bitPattern: try reader.u64()))
                case 3: value = .text(try reader.string())
                default: throw DecodeError()
                }
                fields.append(Field(name: name, value: value, kind: kind))
            }
            samples.append(Sample(measurement: measurement, tags: tags, fields: fields))
        }
        var poll: PollInfo?
        if reader.offset < bytes.count {
            guard try reader.u8() == 1 else { throw DecodeError() }
            let address = try reader.string()
            let state = try reader.string()
            let profileCount = Int(try reader.u32())
            guard profileCount <= bytes.count else { throw DecodeError() }
            var profiles: [String] = []
            for _ in 0..<profileCount { profiles.append(try reader.string()) }
            poll = PollInfo(address: address, profiles: profiles, state: state)
        }
        guard reader.offset == bytes.count else { throw DecodeError() }
        return SampleBatch(
            id: id, device: device, deviceTags: deviceTags, timestampNanos: timestamp, samples: samples, poll: poll)
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> SampleBatch {
        let result = bytes.withUnsafeBytes { raw -> Result<SampleBatch, DecodeError> in
            do throws(DecodeError) {
                return .success(try decode(raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// CRC-32 (zlib's) of a byte range.
    public static func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return UInt32(CZlib.crc32(UInt(seed), base.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
    }

    // Little-endian appends for the spool's small headers.
    static func put(_ v: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func put(_ v: UInt32, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func u8() throws(DecodeError) -> UInt8 {
            guard offset < bytes.count else { throw DecodeError() }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u32() throws(DecodeError) -> UInt32 {
            guard bytes.count - offset >= 4 else { throw DecodeError() }
            defer { offset += 4 }
            return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        mutating func u64() throws(DecodeError) -> UInt64 {
            guard bytes.count - offset >= 8 else { throw DecodeError() }
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        mutating func string() throws(DecodeError) -> String {
            let length = Int(try u32())
            guard bytes.count - offset >= length else { throw DecodeError() }
            defer { offset += length }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), as: UTF8.self)
        }

        mutating func tags() throws(DecodeError) -> [Tag] {
            let count = Int(try u32())
            guard count <= bytes.count else { throw DecodeError() }
            var tags: [Tag] = []
            tags.reserveCapacity(count)
            for _ in 0..<count {
                let key = try string()
                tags.append(Tag(key, try string()))
            }
            return tags
        }
    }
}
