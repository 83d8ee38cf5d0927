/// InfluxDB line protocol encoder, appending bytes to a buffer (no allocation per field for integers and strings).
///
/// Escaping follows what InfluxDB 1.x (and VictoriaMetrics) parse back exactly: the measurement escapes `,` and space;
/// tag keys, tag values and field keys escape `,`, `=` and space; string field values escape `"` and `\`. Tags are
/// sorted by key; a repeated key keeps the sample's value over the device's. What the protocol cannot carry is
/// changed the way Telegraf does: backslashes at the end of a name, key or tag value, or right before a character
/// that gets escaped, are dropped (InfluxDB would read them as escapes); a newline in a name, key, tag value or
/// string field value becomes a space (VictoriaMetrics ends a line at any newline); empty tag keys and values are
/// omitted; NaN and infinite floats are omitted; an unsigned value above Int64.max is written as Int64.max (InfluxDB
/// 1.x has no unsigned integers); a line without fields is not written.
public enum LineProtocol {
    /// Timestamp precision: the divisor applied to nanoseconds.
    public enum Precision: String, Sendable, CaseIterable {
        case ns, us, ms, s

        public var divisor: Int64 {
            switch self {
            case .ns: return 1
            case .us: return 1000
            case .ms: return 1_000_000
            case .s: return 1_000_000_000
            }
        }
    }

    /// Appends one line per sample of `batch`.
    public static func encode(_ batch: SampleBatch, precision: Precision = .ns, into out: inout [UInt8]) {
        var encoder = Encoder()
        encoder.encode(batch, precision: precision, into: &out)
    }

    /// Encodes batches with scratch space kept between calls: the device's tags are escaped once per batch and merged
    /// with each sample's (both come sorted by key), so a line costs no allocation and no sort.
    public struct Encoder: Sendable {
        private var device: [Tag] = []
        /// The escaped `,key=value` of each device-side tag, end offsets into `deviceBytes`.
        private var deviceBytes: [UInt8] = []
        private var deviceEnds: [Int] = []
        private var scratch: [Tag] = []

        public init() {}

        /// Appends one line per sample of `batch`; returns the number of lines.
        @discardableResult
        public mutating func encode(_ batch: SampleBatch, precision: Precision, into out: inout [UInt8]) -> Int {
            prepareDevice(batch)
            var lines = 0
            let timestamp = batch.timestampNanos / precision.divisor
            for sample in batch.samples {
                let start = out.count
                escape(sample.measurement, into: &out, special: .measurement)
                guard out.count > start else { continue }
                if Self.isStrictlySorted(sample.tags) {
                    mergeTags(sample.tags, into: &out)
                } else {
                    // Unsorted or repeated sample tags (made by hand): the general path.
                    out.removeSubrange(start...)
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(Tag("device", batch.device))
                    scratch.append(contentsOf: batch.deviceTags)
                    scratch.append(contentsOf: sample.tags)
                    if encodeLine(
                        measurement: sample.measurement, unsortedTags: &scratch, fields: sample.fields,
                        timestamp: timestamp, into: &out)
                    {
                        lines += 1
                    }
                    continue
                }
                if appendFields(sample.fields, timestamp: timestamp, into: &out) {
                    lines += 1
                } else {
                    out.removeSubrange(start...)
                }
            }
            return lines
        }

        /// `device` and the device's tags: sorted, one per key (the later wins), without empty ones, escaped.
        private mutating func prepareDevice(_ batch: SampleBatch) {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(Tag("device", batch.device))
            scratch.append(contentsOf: batch.deviceTags)
            scratch.sortByKey()
            device.removeAll(keepingCapacity: true)
            deviceBytes.removeAll(keepingCapacity: true)
            deviceEnds.removeAll(keepingCapacity: true)
            for (index, tag) in scratch.enumerated() {
                if index + 1 < scratch.count && scratch[index + 1].key == tag.key { continue }
                guard appendTag(tag, into: &deviceBytes) else { continue }
                device.append(tag)
                deviceEnds.append(deviceBytes.count)
            }
        }

        /// Device-side and sample tags in key order; of equal keys the sample's (non-empty) value wins.
        private func mergeTags(_ tags: [Tag], into out: inout [UInt8]) {
            var i = 0
            var j = 0
            while i < device.count || j < tags.count {
                if j == tags.count || (i < device.count && device[i].key < tags[j].key) {
                    appendDevice(i, into: &out)
                    i += 1
                } else if i < device.count && device[i].key == tags[j].key {
                    if !appendTag(tags[j], into: &out) { appendDevice(i, into: &out) }
                    i += 1
                    j += 1
                } else {
                    appendTag(tags[j], into: &out)
                    j += 1
                }
            }
        }

        @inline(__always)
        private func appendDevice(_ index: Int, into out: inout [UInt8]) {
            let start = index == 0 ? 0 : deviceEnds[index - 1]
            deviceBytes.withUnsafeBufferPointer {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[start..<deviceEnds[index]]))
            }
        }

        /// Sample tags as they come from a poll: sorted by key, no key twice.
        @inline(__always)
        static func isStrictlySorted(_ tags: [Tag]) -> Bool {
            guard tags.count > 1 else { return true }
            for index in 1..<tags.count where !(tags[index - 1].key < tags[index].key) { return false }
            return true
        }
    }

    /// Appends `,key=value`; false (and nothing appended) when the key or value is empty before or after escaping.
    @discardableResult
    @inline(__always)
    static func appendTag(_ tag: Tag, into out: inout [UInt8]) -> Bool {
        guard !tag.value.isEmpty && !tag.key.isEmpty else { return false }
        let mark = out.count
        out.append(UInt8(ascii: ","))
        escape(tag.key, into: &out, special: .key)
        let keyEnd = out.count
        out.append(UInt8(ascii: "="))
        escape(tag.value, into: &out, special: .key)
        if keyEnd == mark + 1 || out.count == keyEnd + 1 {
            out.removeSubrange(mark...)
            return false
        }
        return true
    }

    /// Appends one line; tags must already be sorted by key.
    public static func encodeLine(
        measurement: String, tags: [Tag], fields: [Field], timestampNanos: Int64, into out: inout [UInt8]
    ) {
        var copy = tags
        encodeLine(measurement: measurement, unsortedTags: &copy, fields: fields, timestamp: timestampNanos, into: &out)
    }

    /// Appends one line (sorting `tags` in place); false if the line had nothing to write.
    @discardableResult
    static func encodeLine(
        measurement: String, unsortedTags tags: inout [Tag], fields: [Field], timestamp: Int64, into out: inout [UInt8]
    ) -> Bool {
        let start = out.count
        escape(measurement, into: &out, special: .measurement)
        guard out.count > start else { return false }
        // Stable, so of two equal keys the later one (the sample's, after the device's) is last and kept.
        if tags.count > 1 { tags.sortByKey() }
        for (index, tag) in tags.enumerated() where !tag.value.isEmpty && !tag.key.isEmpty {
            if tags[(index + 1)...].prefix(while: { $0.key == tag.key }).contains(where: { !$0.value.isEmpty }) {
                continue
            }
            appendTag(tag, into: &out)
        }
        if appendFields(fields, timestamp: timestamp, into: &out) { return true }
        out.removeSubrange(start...)
        return false
    }

    /// Appends ` field=value,…  timestamp\n`; false (with the buffer left as it was after the tags) when no field
    /// could be written.
    @inline(__always)
    static func appendFields(_ fields: [Field], timestamp: Int64, into out: inout [UInt8]) -> Bool {
        let start = out.count
        var first = true
        for field in fields {
            if case .double(let d) = field.value, !d.isFinite { continue }
            let mark = out.count
            out.append(first ? UInt8(ascii: " ") : UInt8(ascii: ","))
            escape(field.name, into: &out, special: .key)
            if out.count == mark + 1 {
                out.removeSubrange(mark...)
                continue
            }
            first = false
            out.append(UInt8(ascii: "="))
            switch field.value {
            case .int(let v):
                appendDecimal(v, into: &out)
                out.append(UInt8(ascii: "i"))
            case .uint(let v):
                appendDecimal(v <= UInt64(Int64.max) ? Int64(v) : Int64.max, into: &out)
                out.append(UInt8(ascii: "i"))
            case .double(let d):
                out.append(contentsOf: d.description.utf8)
            case .text(let s):
                appendString(s, into: &out)
            }
        }
        if first {
            out.removeSubrange(start...)
            return false
        }
        out.append(UInt8(ascii: " "))
        appendDecimal(timestamp, into: &out)
        out.append(UInt8(ascii: "\n"))
        return true
    }

    /// A string field value in quotes, `"` and `\` escaped.
    @inline(__always)
    static func appendString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let plain = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes
            where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n") {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain != true {
            for byte in s.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                // InfluxDB 1.x reads a newline inside quotes, VictoriaMetrics ends the line there: a space.
                out.append(byte == UInt8(ascii: "\n") ? UInt8(ascii: " ") : byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Which characters a text escapes: a measurement `,` and space; a key or tag value also `=`.
    public enum Special: Sendable { case measurement, key }

    @inline(__always)
    static func isSpecial(_ byte: UInt8, _ special: Special) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n")
            || (special == .key && byte == UInt8(ascii: "="))
    }

    /// Escapes a measurement, key or tag value (see the type's notes for what cannot be carried).
    @inline(__always)
    public static func escape(_ s: String, into out: inout [UInt8], special: Special) {
        // Most names and values need no escaping: one bulk copy.
        let plain = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where needsEscape(byte) { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true { return }
        escapeSlowly(s, into: &out, special: special)
    }

    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "=")
            || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n")
    }

    static func escapeSlowly(_ s: String, into out: inout [UInt8], special: Special) {
        var utf8 = s.utf8.makeIterator()
        var next = utf8.next()
        while let byte = next {
            next = utf8.next()
            switch byte {
            case UInt8(ascii: "\\"):
                // A run of backslashes is read back as escapes if it ends the text or precedes a character that gets
                // escaped: then it is dropped whole.
                var run = 1
                while next == UInt8(ascii: "\\") {
                    run += 1
                    next = utf8.next()
                }
                if let following = next, !isSpecial(following, special) {
                    for _ in 0..<run { out.append(byte) }
                }
            case UInt8(ascii: "\n"):
                // A newline would end the line: line protocol has no escape for it.
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: " "))
            case UInt8(ascii: ","), UInt8(ascii: " "):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case UInt8(ascii: "=") where special == .key:
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            default:
                out.append(byte)
            }
        }
    }

    /// Decimal digits of `value` without going through String.
    @inline(__always)
    public static func appendDecimal(_ value: Int64, into out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 20
            while magnitude > 0 {
                n -= 1
                digits[n] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n...]))
        }
    }
}

extension [Tag] {
    /// Insertion sort by key (String order, which is byte order for ASCII): stable, no allocation, fast for the
    /// handful of tags a sample has.
    mutating func sortByKey() {
        guard count > 1 else { return }
        for i in 1..<count {
            let tag = self[i]
            var j = i - 1
            while j >= 0, tag.key < self[j].key {
                self[j + 1] = self[j]
                j -= 1
            }
            self[j + 1] = tag
        }
    }
}
