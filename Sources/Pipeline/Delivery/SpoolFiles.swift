import Foundation
import NetPollerCore

/// A position in the spool: a segment and a byte offset in it.
public struct SpoolLocation: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var segment: UInt64
    public var offset: Int

    public static func < (a: SpoolLocation, b: SpoolLocation) -> Bool {
        (a.segment, a.offset) < (b.segment, b.offset)
    }

    public var description: String { "\(segment):\(offset)" }
}

/// A spool failure at start or while writing: names the path and the system error.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String { "\(path): \(message)" }

    static func system(_ path: String, _ what: String) -> SpoolError {
        SpoolError(path: path, message: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// What the start-up scan found and repaired.
public struct SpoolRecovery: Sendable, Equatable {
    public struct Corruption: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        public var droppedBytes: Int
    }

    public var segments = 0
    public var records = 0
    public var samples = 0
    public var corruptions: [Corruption] = []
}

/// One record as read back from disk.
struct SpoolRecord {
    var seq: UInt64
    var timestampNanos: Int64
    var samples: Int
    var payload: [UInt8]
    var end: SpoolLocation
}

/// The spool's files: numbered segment files of checksummed records, plus an `ack` file with the delivery position.
///
/// Segment: an 8-byte header `NPSPOOL1`, then records. Record: magic `NPR1` (u32), payload length (u32), CRC-32 of
/// everything after the CRC (u32), sequence (u64), batch timestamp (i64), sample count (u32), payload
/// (`BatchCodec`). All little-endian. A record that fails any check ends its segment: the file is truncated there and
/// the loss reported, which is how a torn write from a crash is repaired.
///
/// Not thread-safe: the owning `SinkBuffer` calls it from its serial queue only.
final class SpoolFiles {
    struct RecordInfo {
        var offset: Int
        var seq: UInt64
        var timestampNanos: Int64
        var samples: Int
    }

    struct Segment {
        var id: UInt64
        var bytes: Int
        var records: [RecordInfo] = []
    }

    static let segmentMagic: [UInt8] = Array("NPSPOOL1".utf8)
    static let recordMagic: UInt32 = 0x3152_504E  // "NPR1"
    static let ackMagic: UInt32 = 0x3141_504E  // "NPA1"
    static let headerBytes = 8
    static let recordHeaderBytes = 32
    static let maxPayload = 256 << 20

    let directory: String
    let policy: SpoolPolicy
    private(set) var segments: [Segment] = []
    private var activeFD: Int32 = -1
    private var ackFD: Int32 = -1
    private var lockFD: Int32 = -1
    /// Everything before this location has been delivered.
    private(set) var ack: SpoolLocation
    private var ackSeq: UInt64 = 0
    private var ackWritten: SpoolLocation?
    /// The ack position last written, with or without an fdatasync.
    private var ackLazilyWritten: SpoolLocation?
    private(set) var nextSeq: UInt64 = 1
    private(set) var totalBytes: Int64 = 0
    private(set) var dirty = false

    /// Opens (creating) the directory, takes its lock, scans and repairs every segment.
    init(policy: SpoolPolicy) throws(SpoolError) {
        self.policy = policy
        directory = policy.directory
        ack = SpoolLocation(segment: 0, offset: 0)
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw SpoolError(
                path: directory, message: "cannot create the spool directory (\(error.localizedDescription))")
        }
        lockFD = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw .system(directory + "/lock", "cannot create") }
        // On a throw from here on, deinit runs (every property is set) and closes what is open: never close twice,
        // or a descriptor number another thread has reused since would be closed under it.
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            throw SpoolError(path: directory, message: "in use by another netpoller process (lock held)")
        }
        ackFD = open(directory + "/ack", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard ackFD >= 0 else { throw .system(directory + "/ack", "cannot open") }
    }

    deinit { closeFiles() }

    func closeFiles() {
        for fd in [activeFD, ackFD, lockFD] where fd >= 0 { close(fd) }
        activeFD = -1
        ackFD = -1
        lockFD = -1
    }

    func path(_ id: UInt64) -> String {
        let digits = String(id)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    // MARK: Recovery

    /// Scans every segment, truncates torn or corrupt tails, reads the ack position. Returns what it found.
    func recover() throws(SpoolError) -> SpoolRecovery {
        var report = SpoolRecovery()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let ids = names.compactMap { name -> UInt64? in
            guard name.hasSuffix(".seg") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
        readAck()
        for id in ids {
            var segment = Segment(id: id, bytes: 0)
            let file = path(id)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SpoolError(path: file, message: "cannot read the spool segment")
            }
            let bytes = [UInt8](data)
            var offset = 0
            if bytes.count >= Self.headerBytes && Array(bytes[0..<Self.headerBytes]) == Self.segmentMagic {
                offset = Self.headerBytes
                while offset < bytes.count {
                    guard let info = Self.check(bytes, at: offset) else { break }
                    segment.records.append(
                        RecordInfo(offset: offset, seq: info.seq, timestampNanos: info.timestamp, samples: info.samples)
                    )
                    offset += Self.recordHeaderBytes + info.length
                }
            }
            if offset < bytes.count || offset == 0 {
                report.corruptions.append(
                    .init(segment: file, offset: offset, droppedBytes: bytes.count - offset))
                if segment.records.isEmpty {
                    unlink(file)
                    continue
                }
                guard truncate(file, off_t(offset)) == 0 else { throw .system(file, "cannot truncate") }
            }
            segment.bytes = offset
            if let last = segment.records.last { nextSeq = max(nextSeq, last.seq + 1) }
            segments.append(segment)
        }
        // Segments wholly before the ack are delivered; a missing ack segment means start at the oldest data.
        while let first = segments.first, first.id < ack.segment {
            unlink(path(first.id))
            segments.removeFirst()
        }
        if let first = segments.first, first.id > ack.segment {
            ack = SpoolLocation(segment: first.id, offset: Self.headerBytes)
        }
        // After a host crash the ack may point past the end of its segment: it is written without an fdatasync once
        // everything up to it was delivered (`writeAckLazily`), and records after the last sync may never have reached
        // the disk. Records appended from now on come after it.
        if let segment = segments.first(where: { $0.id == ack.segment }), ack.offset > segment.bytes {
            ack.offset = segment.bytes
        }
        nextSeq = max(nextSeq, ackSeq + 1)
        for segment in segments {
            totalBytes += Int64(segment.bytes)
            for record in segment.records where SpoolLocation(segment: segment.id, offset: record.offset) >= ack {
                report.records += 1
                report.samples += record.samples
            }
        }
        report.segments = segments.count
        if let last = segments.last {
            activeFD = open(path(last.id), O_WRONLY | O_APPEND | O_CLOEXEC)
            guard activeFD >= 0 else { throw .system(path(last.id), "cannot open") }
        }
        return report
    }

    /// Validates the record at `offset`; nil if torn or corrupt.
    private static func check(_ bytes: [UInt8], at offset: Int) -> (
        seq: UInt64, timestamp: Int64, samples: Int, length: Int
    )? {
        guard bytes.count - offset >= recordHeaderBytes else { return nil }
        return bytes.withUnsafeBytes { raw in
            let magic = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
            let crc = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
            guard magic == recordMagic, length <= maxPayload, bytes.count - offset - recordHeaderBytes >= length
            else { return nil }
            let covered = UnsafeRawBufferPointer(rebasing: raw[(offset + 12)..<(offset + recordHeaderBytes + length)])
            guard BatchCodec.crc32(covered) == crc else { return nil }
            let seq = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt64.self))
            let timestamp = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 20, as: Int64.self))
            let samples = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 28, as: UInt32.self)))
            return (seq, timestamp, samples, length)
        }
    }

    private func readAck() {
        var raw = [UInt8](repeating: 0, count: 32)
        let n = raw.withUnsafeMutableBytes { pread(ackFD, $0.baseAddress, 32, 0) }
        guard n == 32 else { return }
        raw.withUnsafeBytes { raw in
            let magic = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let crc = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            guard magic == Self.ackMagic, BatchCodec.crc32(UnsafeRawBufferPointer(rebasing: raw[8..<32])) == crc
            else { return }
            ack.segment = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            ack.offset = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            ackSeq = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
        ackWritten = ack
    }

    // MARK: Writing

    /// Appends one record; returns where it starts and ends.
    func append(seq: UInt64, timestampNanos: Int64, samples: Int, payload: [UInt8]) throws(SpoolError) -> (
        start: SpoolLocation, end: SpoolLocation
    ) {
        if segments.isEmpty || segments[segments.count - 1].bytes >= policy.effectiveSegmentBytes {
            try roll()
        }
        var record: [UInt8] = []
        record.reserveCapacity(Self.recordHeaderBytes + payload.count)
        BatchCodec.put(Self.recordMagic, &record)
        BatchCodec.put(UInt32(payload.count), &record)
        BatchCodec.put(UInt32(0), &record)
        BatchCodec.put(seq, &record)
        BatchCodec.put(UInt64(bitPattern: timestampNanos), &record)
        BatchCodec.put(UInt32(samples), &record)
        record.append(contentsOf: payload)
        let crc = record.withUnsafeBytes { BatchCodec.crc32(UnsafeRawBufferPointer(rebasing: $0[12...])) }
        withUnsafeBytes(of: crc.littleEndian) { crcBytes in
            for i in 0..<4 { record[8 + i] = crcBytes[i] }
        }
        let index = segments.count - 1
        let start = SpoolLocation(segment: segments[index].id, offset: segments[index].bytes)
        do {
            try writeAll(activeFD, record, path(segments[index].id))
        } catch {
            // A record cut short (disk full) is cut off, so the next append (when space returns) follows a whole one.
            _ = ftruncate(activeFD, off_t(segments[index].bytes))
            throw error
        }
        segments[index].records.append(
            RecordInfo(offset: start.offset, seq: seq, timestampNanos: timestampNanos, samples: samples))
        segments[index].bytes += record.count
        totalBytes += Int64(record.count)
        nextSeq = seq + 1
        dirty = true
        if policy.fsync == .always { sync() }
        return (start, SpoolLocation(segment: start.segment, offset: start.offset + record.count))
    }

    private func roll() throws(SpoolError) {
        let id = (segments.last?.id ?? ack.segment) + 1
        let file = path(id)
        if activeFD >= 0 {
            fdatasync(activeFD)
            close(activeFD)
        }
        activeFD = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard activeFD >= 0 else { throw .system(file, "cannot create a spool segment") }
        try writeAll(activeFD, Self.segmentMagic, file)
        fsyncDirectory()
        segments.append(Segment(id: id, bytes: Self.headerBytes))
        totalBytes += Int64(Self.headerBytes)
        if segments.count == 1 && ack < SpoolLocation(segment: id, offset: Self.headerBytes) {
            ack = SpoolLocation(segment: id, offset: Self.headerBytes)
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ file: String) throws(SpoolError) {
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        if !ok { throw .system(file, "cannot write") }
    }

    private func fsyncDirectory() {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Makes appended records and the ack position durable.
    func sync() {
        if dirty, activeFD >= 0 { fdatasync(activeFD) }
        dirty = false
        writeAck()
    }

    /// Writes the ack position without an fdatasync, when every appended record is acknowledged (nothing undelivered
    /// needs a sync): a crash of the agent keeps it (the page cache), a crash of the host may deliver the records since
    /// the last synced position again, never lose one.
    func writeAckLazily() {
        guard ackLazilyWritten != ack else { return }
        if putAck() { ackLazilyWritten = ack }
    }

    private func writeAck() {
        guard ackWritten != ack, ackFD >= 0 else { return }
        if putAck() {
            fdatasync(ackFD)
            ackWritten = ack
            ackLazilyWritten = ack
        }
    }

    private func putAck() -> Bool {
        guard ackFD >= 0 else { return false }
        var raw: [UInt8] = []
        BatchCodec.put(Self.ackMagic, &raw)
        BatchCodec.put(UInt32(0), &raw)
        BatchCodec.put(ack.segment, &raw)
        BatchCodec.put(UInt64(ack.offset), &raw)
        BatchCodec.put(ackSeq, &raw)
        let crc = raw.withUnsafeBytes { BatchCodec.crc32(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        withUnsafeBytes(of: crc.littleEndian) { crcBytes in
            for i in 0..<4 { raw[4 + i] = crcBytes[i] }
        }
        return raw.withUnsafeBytes { pwrite(ackFD, $0.baseAddress, 32, 0) } == 32
    }

    // MARK: Reading and acknowledging

    /// The location of the first record at or after `location` (skipping to the next segment at a segment's end).
    func normalize(_ location: SpoolLocation) -> SpoolLocation? {
        var location = location
        for (index, segment) in segments.enumerated() where segment.id >= location.segment {
            if segment.id > location.segment { location = SpoolLocation(segment: segment.id, offset: Self.headerBytes) }
            if location.offset < segment.bytes { return location }
            if index == segments.count - 1 { return nil }
        }
        return nil
    }

    /// Reads records from `location` until `maxSamples` samples (at least one record) or the end of the data.
    /// A record that fails its checksum here ends its segment: the caller learns it through `corrupt`.
    func read(from location: SpoolLocation, maxSamples: Int) -> (records: [SpoolRecord], corrupt: SpoolLocation?) {
        var records: [SpoolRecord] = []
        var samples = 0
        var cursor = location
        // One descriptor per segment read, not per record.
        var open: (segment: UInt64, fd: Int32)?
        defer { if let open { close(open.fd) } }
        while samples < maxSamples || records.isEmpty, let at = normalize(cursor) {
            if open?.segment != at.segment {
                if let previous = open { close(previous.fd) }
                let descriptor = Glibc.open(path(at.segment), O_RDONLY | O_CLOEXEC)
                open = descriptor >= 0 ? (at.segment, descriptor) : nil
            }
            guard let fd = open?.fd else { return (records, at) }
            var header = [UInt8](repeating: 0, count: Self.recordHeaderBytes)
            guard
                header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, Self.recordHeaderBytes, off_t(at.offset)) })
                    == Self.recordHeaderBytes
            else { return (records, at) }
            let length = Int(
                header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) })
            guard length <= Self.maxPayload else { return (records, at) }
            var whole = header + [UInt8](repeating: 0, count: length)
            let got = whole.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + Self.recordHeaderBytes, length, off_t(at.offset + Self.recordHeaderBytes))
            }
            guard got == length, let info = Self.check(whole, at: 0) else { return (records, at) }
            whole.removeFirst(Self.recordHeaderBytes)
            let end = SpoolLocation(segment: at.segment, offset: at.offset + Self.recordHeaderBytes + length)
            records.append(
                SpoolRecord(
                    seq: info.seq, timestampNanos: info.timestamp, samples: info.samples, payload: whole, end: end))
            samples += info.samples
            cursor = end
        }
        return (records, nil)
    }

    /// Everything before `location` is delivered: deletes segments wholly before it; persisted at the next sync.
    func acknowledge(through location: SpoolLocation, seq: UInt64) {
        guard location > ack else { return }
        ack = location
        ackSeq = seq
        while segments.count > 1, let first = segments.first,
            first.id < ack.segment || first.bytes <= ack.offset && first.id == ack.segment
        {
            deleteFirst()
        }
        if policy.fsync == .always { writeAck() }
    }

    /// Removes the oldest segment file and returns it.
    @discardableResult
    func deleteFirst() -> Segment? {
        guard !segments.isEmpty else { return nil }
        let first = segments.removeFirst()
        if segments.isEmpty {
            if activeFD >= 0 { close(activeFD) }
            activeFD = -1
        }
        unlink(path(first.id))
        totalBytes -= Int64(first.bytes)
        return first
    }

    /// Bytes not yet delivered.
    var pendingBytes: Int64 {
        var total: Int64 = 0
        for segment in segments where segment.id >= ack.segment {
            total += Int64(segment.bytes - (segment.id == ack.segment ? min(ack.offset, segment.bytes) : 0))
        }
        return total
    }

    /// Timestamp of the oldest record at or after `location`.
    func oldestTimestamp(from location: SpoolLocation) -> Int64? {
        for segment in segments where segment.id >= location.segment {
            for record in segment.records
            where segment.id > location.segment || record.offset >= location.offset {
                return record.timestampNanos
            }
        }
        return nil
    }
}
