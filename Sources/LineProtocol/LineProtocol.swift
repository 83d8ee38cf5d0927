import NetPollerCore

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

    /// Appends one line; tags must already be sorted by key.
    public static func encodeLine(
        measurement: String, tags: [Tag], fields: [Field], timestampNanos: Int64, into out: inout [UInt8]
    ) {
        // A batch without a device name: the `device` tag is empty, so it is left out.
        let batch = SampleBatch(
            id: 0, device: "", deviceTags: [], timestampNanos: timestampNanos,
            samples: [Sample(measurement: measurement, tags: tags, fields: fields)])
        encode(batch, into: &out)
    }

    /// Encodes batches, remembering between calls what each device's lines start with.
    ///
    /// A device's samples come back poll after poll in the same order with the same measurement, tags and field
    /// names; only values and the timestamp change. So the escaped series key (measurement, device tags and sample
    /// tags merged in key order) and the escaped field keys are kept per device and sample position. A line costs a
    /// comparison of the measurement and field names (cheap: most are inline small strings) and of the tags array (by
    /// identity: the poller hands an unchanged row the previous poll's array, see `TagReuse`; else tag by tag), copies
    /// of the cached bytes and the value digits: no allocation, no escaping, no sort. A device whose batches stop
    /// coming is forgotten after a while (see `evict`), so the cache holds the active fleet's series, no more.
    public struct Encoder: Sendable {
        private var devices: [String: DeviceSeries] = [:]
        /// Every shape in use, by measurement and field names: one per profile table, not one per device.
        private var shapes: [[String]: Shape] = [:]
        /// Past this many shapes, the ones no device uses any more are dropped (see `purgeShapes`).
        private var shapeLimit = 256
        private var builder = KeyBuilder()
        /// Batches encoded: the cache's clock.
        private var uses = 0

        public init() {}

        /// Devices with remembered series (for tests).
        public var cachedDevices: Int { devices.count }

        /// Distinct measurement and field-name lists remembered (for tests).
        public var cachedShapes: Int { shapes.count }

        /// Appends one line per sample of `batch`; returns the number of lines.
        @discardableResult
        public mutating func encode(_ batch: SampleBatch, precision: Precision, into out: OutputBytes) -> Int {
            uses &+= 1
            if uses % 1024 == 0 { evict() }
            builder.begin(batch, timestamp: batch.timestampNanos / precision.divisor)
            let (lines, added) = Self.encode(
                batch, cache: &devices[batch.device, default: DeviceSeries()], shapes: &shapes, builder: &builder,
                use: uses, into: out)
            if added && shapes.count > shapeLimit { purgeShapes() }
            return lines
        }

        /// Drops the shapes no device refers to (a device whose field set changes from poll to poll makes a new one
        /// each time), so the table stays the size of what is in use.
        private mutating func purgeShapes() {
            var unused: [[String]] = []
            // Not `shapes.indices`: that holds the dictionary, and the in-place access below would copy it.
            var index = shapes.startIndex
            while index != shapes.endIndex {
                if isKnownUniquelyReferenced(&shapes.values[index]) { unused.append(shapes.keys[index]) }
                shapes.formIndex(after: &index)
            }
            for key in unused { shapes.removeValue(forKey: key) }
            shapeLimit = max(256, 2 * shapes.count)
        }

        /// Appends one line per sample of `batch` to an array (for callers that are not on a hot path).
        @discardableResult
        public mutating func encode(_ batch: SampleBatch, precision: Precision, into out: inout [UInt8]) -> Int {
            let bytes = OutputBytes(capacity: 192 * max(1, batch.count))
            let lines = encode(batch, precision: precision, into: bytes)
            out.append(contentsOf: UnsafeBufferPointer(start: bytes.base, count: bytes.count))
            return lines
        }

        /// Forgets devices not seen in the last `max(4 × devices, 4096)` batches: a device polled at least a quarter
        /// as often as the average one stays.
        private mutating func evict() {
            let horizon = uses - max(4 * devices.count, 4096)
            guard devices.values.contains(where: { $0.lastUse < horizon }) else { return }
            devices = devices.filter { $0.value.lastUse >= horizon }
            purgeShapes()
        }

        private static func encode(
            _ batch: SampleBatch, cache: inout DeviceSeries, shapes: inout [[String]: Shape], builder: inout KeyBuilder,
            use: Int, into out: OutputBytes
        ) -> (lines: Int, added: Bool) {
            if cache.deviceTags != batch.deviceTags {
                cache.deviceTags = batch.deviceTags
                cache.forget(from: 0)
            }
            cache.lastUse = use
            var cursor = ByteCursor(out)
            // A first pass sizes the output for the batch. It also starts bringing in every sample's field array
            // (written by another thread, usually a while ago: not in this core's cache) with independent loads the
            // CPU overlaps, where the line loop below would wait for one after another.
            var estimate = 0
            for index in batch.samples.indices {
                let fields = batch.samples[index].fields
                estimate &+= 40 &* fields.count &+ builder.stamp.count
            }
            cursor.reserve(estimate)
            var lines = 0
            var added = false
            builder.stamp.withUnsafeBufferPointer { stamp in
                for index in batch.samples.indices {
                    // From the first sample that differs from what is remembered, the rest is remembered anew.
                    if index < cache.entries.count && !cache.matches(index, batch.samples[index]) {
                        cache.forget(from: index)
                    }
                    if index == cache.entries.count {
                        let sample = batch.samples[index]
                        let fresh = Shape(sample)
                        let shape = shapes[fresh.names] ?? fresh
                        if shape === fresh { shapes[fresh.names] = fresh }
                        cache.add(sample, shape: shape, builder: &builder)
                        added = true
                    }
                    if cache.write(index, batch.samples[index].fields, stamp: stamp, to: &cursor) { lines += 1 }
                }
            }
            if added { cache.compact() }
            cursor.commit()
            return (lines, added)
        }
    }

    /// The part of a line that many devices share: a measurement and its field names in order, with every field's
    /// escaped `key=`. Interned by the encoder, so a fleet of devices with the same profiles holds one of each
    /// (at 10,000 devices a per-device copy was 2.9 KiB each, the largest item of the agent's memory per device).
    final class Shape: Sendable {
        /// The measurement, then the field names: what a sample is compared with.
        let names: [String]
        /// Each field's escaped key and `=` (empty for a name the protocol cannot carry), back to back.
        let keyBytes: [UInt8]
        /// End of each field's key in `keyBytes`.
        let keyEnds: [UInt32]

        init(_ sample: Sample) {
            var names: [String] = []
            names.reserveCapacity(sample.fields.count + 1)
            names.append(sample.measurement)
            var bytes: [UInt8] = []
            var ends: [UInt32] = []
            ends.reserveCapacity(sample.fields.count)
            for field in sample.fields {
                names.append(field.name)
                let mark = bytes.count
                escape(field.name, into: &bytes, special: .key)
                if bytes.count > mark { bytes.append(UInt8(ascii: "=")) }
                ends.append(UInt32(bytes.count))
            }
            self.names = names
            self.keyBytes = bytes.exactCopy()
            self.keyEnds = ends
        }

        /// Whether `sample` has this measurement and these field names.
        @inline(__always)
        func matches(_ sample: Sample) -> Bool {
            guard names.count == sample.fields.count + 1, names[0] == sample.measurement else { return false }
            var at = 1
            for field in sample.fields.indices {
                guard names[at] == sample.fields[field].name else { return false }
                at += 1
            }
            return true
        }
    }

    /// What the encoder keeps of one device: per sample position its shape (shared), its tags as remembered and its
    /// escaped series key (measurement and tags) in one byte array.
    ///
    /// The hot path reads `entries` only: plain values, so reading one costs no reference counting (a shape and a tags
    /// array held in the entry itself cost four atomic operations per line, 40% of the encoder's time). `shapes` and
    /// `tagArrays` hold the references, by position; a shape is reached through `Unmanaged` while `shapes` keeps it.
    struct DeviceSeries: Sendable {
        struct Entry: Sendable {
            var shape: Unmanaged<Shape>
            /// The identity of the tags array remembered (the poller hands an unchanged row the very same array).
            var tagsIdentity: UInt
            /// `bytes[prefix..<end]`: escaped measurement and `,key=value` tags (empty: the line is not written).
            var prefix: UInt32
            var end: UInt32
        }

        var deviceTags: [Tag] = []
        var lastUse = 0
        /// By position in the device's batches.
        var entries: [Entry] = []
        /// The shape of each position (the strong references behind `Entry.shape`).
        var shapes: [Shape] = []
        /// Each position's tags array as remembered (compared value by value when a sample brings another array).
        var tagArrays: [[Tag]] = []
        var bytes: [UInt8] = []

        @inline(__always)
        func matches(_ index: Int, _ sample: Sample) -> Bool {
            let entry = entries[index]
            if unsafeBitCast(sample.tags, to: UInt.self) != entry.tagsIdentity {
                guard tagArrays[index] == sample.tags else { return false }
            }
            return entry.shape._withUnsafeGuaranteedRef { $0.matches(sample) }
        }

        /// Remembers `sample` as the next position.
        mutating func add(_ sample: Sample, shape: Shape, builder: inout KeyBuilder) {
            let prefix = UInt32(bytes.count)
            builder.appendPrefix(for: sample, into: &bytes)
            entries.append(
                Entry(
                    shape: Unmanaged.passUnretained(shape), tagsIdentity: unsafeBitCast(sample.tags, to: UInt.self),
                    prefix: prefix, end: UInt32(bytes.count)))
            shapes.append(shape)
            tagArrays.append(sample.tags)
        }

        /// Forgets positions `index...`.
        mutating func forget(from index: Int) {
            guard index < entries.count else { return }
            bytes.removeSubrange(Int(entries[index].prefix)...)
            entries.removeSubrange(index...)
            shapes.removeSubrange(index...)
            tagArrays.removeSubrange(index...)
        }

        /// Drops the spare capacity the arrays grew while positions were added (they are kept for many polls).
        mutating func compact() {
            if entries.capacity > entries.count { entries = entries.exactCopy() }
            if shapes.capacity > shapes.count { shapes = shapes.exactCopy() }
            if tagArrays.capacity > tagArrays.count { tagArrays = tagArrays.exactCopy() }
            if bytes.capacity > bytes.count { bytes = bytes.exactCopy() }
        }

        /// Writes the line of position `index`: prefix, ` key=value,…`, the timestamp part; false (nothing written)
        /// without a field.
        @inline(__always)
        func write(_ index: Int, _ fields: [Field], stamp: UnsafeBufferPointer<UInt8>, to cursor: inout ByteCursor)
            -> Bool
        {
            let entry = entries[index]
            guard entry.end > entry.prefix else { return false }
            return entry.shape._withUnsafeGuaranteedRef { shape in
                // The most the line can take: a value is at most 24 characters (a double) plus its separator and
                // suffix.
                var bound = Int(entry.end - entry.prefix) + shape.keyBytes.count + stamp.count + 26 * fields.count
                for field in fields.indices {
                    if case .text(let text) = fields[field].value { bound += 2 * text.utf8.count + 2 }
                }
                cursor.reserve(bound)
                let start = cursor.position
                var first = true
                bytes.withUnsafeBufferPointer { bytes in
                    cursor.put(UnsafeBufferPointer(rebasing: bytes[Int(entry.prefix)..<Int(entry.end)]))
                }
                shape.keyBytes.withUnsafeBufferPointer { keys in
                    shape.keyEnds.withUnsafeBufferPointer { ends in
                        var keyStart = 0
                        for field in fields.indices {
                            let keyEnd = Int(ends[field])
                            defer { keyStart = keyEnd }
                            if keyStart == keyEnd { continue }
                            if case .double(let d) = fields[field].value, !d.isFinite { continue }
                            cursor.put(first ? UInt8(ascii: " ") : UInt8(ascii: ","))
                            first = false
                            cursor.put(UnsafeBufferPointer(rebasing: keys[keyStart..<keyEnd]))
                            switch fields[field].value {
                            case .int(let v):
                                cursor.putDecimal(v)
                                cursor.put(UInt8(ascii: "i"))
                            case .uint(let v):
                                cursor.putDecimal(min(v, UInt64(Int64.max)))
                                cursor.put(UInt8(ascii: "i"))
                            case .double(let d):
                                LineProtocol.putDouble(d, to: &cursor)
                            case .text(let text):
                                LineProtocol.putString(text, to: &cursor)
                            }
                        }
                    }
                }
                if first {
                    cursor.position = start
                    return false
                }
                cursor.put(stamp)
                return true
            }
        }
    }

    /// Builds series keys on a cache miss: the device's tags escaped once per batch (lazily), merged with the
    /// sample's.
    struct KeyBuilder: Sendable {
        /// ` <timestamp>\n` of the current batch.
        var stamp: [UInt8] = []
        private var batchDevice = ""
        private var batchTags: [Tag] = []
        private var prepared = false
        private var device: [Tag] = []
        /// The escaped `,key=value` of each device-side tag, end offsets into `deviceBytes`.
        private var deviceBytes: [UInt8] = []
        private var deviceEnds: [Int] = []
        private var scratch: [Tag] = []

        mutating func begin(_ batch: SampleBatch, timestamp: Int64) {
            stamp.removeAll(keepingCapacity: true)
            stamp.append(UInt8(ascii: " "))
            appendDecimal(timestamp, into: &stamp)
            stamp.append(UInt8(ascii: "\n"))
            batchDevice = batch.device
            batchTags = batch.deviceTags
            prepared = false
        }

        /// Appends the escaped measurement and tags of `sample` (nothing if the measurement escapes to nothing).
        mutating func appendPrefix(for sample: Sample, into prefix: inout [UInt8]) {
            let start = prefix.count
            escape(sample.measurement, into: &prefix, special: .measurement)
            if prefix.count > start {
                if isStrictlySorted(sample.tags) {
                    prepareDevice()
                    mergeTags(sample.tags, into: &prefix)
                } else {
                    // Unsorted or repeated sample tags (made by hand): sort everything, of equal keys the last
                    // non-empty one (the sample's, after the device's) wins.
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(Tag("device", batchDevice))
                    scratch.append(contentsOf: batchTags)
                    scratch.append(contentsOf: sample.tags)
                    scratch.sortByKey()
                    for (index, tag) in scratch.enumerated() where !tag.value.isEmpty && !tag.key.isEmpty {
                        let later = scratch[(index + 1)...].prefix { $0.key == tag.key }
                        if later.contains(where: { !$0.value.isEmpty }) { continue }
                        appendTag(tag, into: &prefix)
                    }
                }
            }
        }

        /// `device` and the device's tags: sorted, one per key (the later wins), without empty ones, escaped.
        private mutating func prepareDevice() {
            guard !prepared else { return }
            prepared = true
            scratch.removeAll(keepingCapacity: true)
            scratch.append(Tag("device", batchDevice))
            scratch.append(contentsOf: batchTags)
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

        private func appendDevice(_ index: Int, into out: inout [UInt8]) {
            let start = index == 0 ? 0 : deviceEnds[index - 1]
            out.append(contentsOf: deviceBytes[start..<deviceEnds[index]])
        }

        /// Sample tags as they come from a poll: sorted by key, no key twice.
        private func isStrictlySorted(_ tags: [Tag]) -> Bool {
            guard tags.count > 1 else { return true }
            for index in 1..<tags.count where !(tags[index - 1].key < tags[index].key) { return false }
            return true
        }
    }

    /// A float: integral values below 2^53 as plain digits (read back as the same float: no `i`), others in Swift's
    /// shortest round-trip form. The caller reserved 24 bytes.
    @inline(__always)
    static func putDouble(_ d: Double, to cursor: inout ByteCursor) {
        if d.magnitude < 9_007_199_254_740_992, d == d.rounded(.towardZero) {
            if d.sign == .minus && d != 0 { cursor.put(UInt8(ascii: "-")) }
            cursor.putDecimal(UInt64(d.magnitude))
            return
        }
        var text = d.description
        text.withUTF8 { cursor.put($0) }
    }

    /// A string field value in quotes, `"` and `\` escaped, a newline as a space (InfluxDB 1.x reads a newline
    /// inside quotes, VictoriaMetrics ends the line there). The caller reserved twice the length plus two.
    @inline(__always)
    static func putString(_ s: String, to cursor: inout ByteCursor) {
        cursor.put(UInt8(ascii: "\""))
        var text = s
        text.withUTF8 { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    cursor.put(UInt8(ascii: "\\"))
                    cursor.put(byte)
                } else {
                    cursor.put(byte == UInt8(ascii: "\n") ? UInt8(ascii: " ") : byte)
                }
            }
        }
        cursor.put(UInt8(ascii: "\""))
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

extension Array {
    /// A copy whose storage holds exactly its elements (appending grows capacity geometrically, and `Array(slice)`
    /// may hand back the same storage).
    func exactCopy() -> [Element] {
        [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = buffer.initialize(fromContentsOf: self)
            initialized = count
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
