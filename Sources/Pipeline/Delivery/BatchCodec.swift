import CZlib
import NetPollerCore

/// The spool's binary form of a `SampleBatch`: little-endian, length-prefixed strings, one tag per field value.
///
/// Versioned by the record magic in `SpoolSegment`; decoding checks every length against the buffer, so a garbled
/// record is an error, never a crash.
public enum BatchCodec {
    public struct DecodeError: Error, Sendable, Equatable {}

    public static func encode(_ batch: SampleBatch, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 64 + batch.count * 96)
        put(batch.id, &out)
        put(UInt64(bitPattern: batch.timestampNanos), &out)
        put(batch.device, &out)
        put(tags: batch.deviceTags, &out)
        put(UInt32(batch.samples.count), &out)
        for sample in batch.samples {
            put(sample.measurement, &out)
            put(tags: sample.tags, &out)
            put(UInt32(sample.fields.count), &out)
            for field in sample.fields {
                put(field.name, &out)
                out.append(field.kind.rawValue)
                switch field.value {
                case .int(let v):
                    out.append(0)
                    put(UInt64(bitPattern: v), &out)
                case .uint(let v):
                    out.append(1)
                    put(v, &out)
                case .double(let v):
                    out.append(2)
                    put(v.bitPattern, &out)
                case .text(let v):
                    out.append(3)
                    put(v, &out)
                }
            }
        }
        // Optional trailer (absent in records written before it existed): the poll's inventory.
        if let poll = batch.poll {
            out.append(1)
            put(poll.address, &out)
            put(poll.state, &out)
            put(UInt32(poll.profiles.count), &out)
            for profile in poll.profiles { put(profile, &out) }
        }
    }

    public static func encode(_ batch: SampleBatch) -> [UInt8] {
        var out: [UInt8] = []
        encode(batch, into: &out)
        return out
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

    // MARK: Primitives

    @inline(__always)
    static func put(_ v: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    static func put(_ v: UInt32, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    static func put(_ s: String, _ out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            put(UInt32(utf8.count), &out)
            out.append(contentsOf: utf8)
        }
    }

    static func put(tags: [Tag], _ out: inout [UInt8]) {
        put(UInt32(tags.count), &out)
        for tag in tags {
            put(tag.key, &out)
            put(tag.value, &out)
        }
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
