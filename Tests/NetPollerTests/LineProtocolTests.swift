import Foundation
import LineProtocol
import NetPollerCore
import Testing

/// A line protocol reader written for the tests from InfluxDB 1.x's parser rules (models/points.go): a backslash
/// makes the scanner skip the next byte; only `\,` `\ ` (and `\=` in keys and tag values) are unescaped; string field
/// values unescape `\"` and `\\`.
enum ReferenceDecoder {
    struct Point: Equatable {
        var measurement: String
        var tags: [NetPollerCore.Tag]
        var fields: [String: FieldValue]
        var timestamp: Int64
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Splits lines as InfluxDB's scanLine does: a newline inside a quoted string field value does not end a line.
    static func decode(_ text: String) throws -> [Point] {
        let bytes = Array(text.utf8)
        var lines: [[UInt8]] = []
        var start = 0
        var i = 0
        var inFields = false
        var quoted = false
        var equals = 0
        var commas = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\\") && i + 2 < bytes.count {
                i += 2
                continue
            }
            if byte == UInt8(ascii: " ") { inFields = true }
            if inFields {
                if !quoted && byte == UInt8(ascii: "=") {
                    equals += 1
                } else if !quoted && byte == UInt8(ascii: ",") {
                    commas += 1
                } else if byte == UInt8(ascii: "\"") && equals > commas {
                    quoted.toggle()
                }
            }
            if byte == UInt8(ascii: "\n") && !quoted {
                if i > start { lines.append(Array(bytes[start..<i])) }
                start = i + 1
                inFields = false
                equals = 0
                commas = 0
            }
            i += 1
        }
        if start < bytes.count { lines.append(Array(bytes[start...])) }
        return try lines.map { try decodeLine($0) }
    }

    static func decodeLine(_ line: [UInt8]) throws -> Point {
        var i = 0
        func scan(until stops: Set<UInt8>, quotes: Bool = false) -> [UInt8] {
            let start = i
            var quoted = false
            var equals = 0
            var commas = 0
            while i < line.count {
                let byte = line[i]
                if byte == UInt8(ascii: "\\") && i + 1 < line.count {
                    i += 2
                    continue
                }
                if quotes && !quoted && byte == UInt8(ascii: "=") { equals += 1 }
                if quotes && !quoted && byte == UInt8(ascii: ",") { commas += 1 }
                // A quote opens or closes a string only in a value (after a field's `=`).
                if quotes && byte == UInt8(ascii: "\"") && equals > commas { quoted.toggle() }
                if !quoted && stops.contains(byte) { break }
                i += 1
            }
            return Array(line[start..<i])
        }
        func unescape(_ bytes: [UInt8], _ escapable: Set<UInt8>) -> String {
            var out: [UInt8] = []
            var j = 0
            while j < bytes.count {
                if bytes[j] == UInt8(ascii: "\\"), j + 1 < bytes.count, escapable.contains(bytes[j + 1]) {
                    out.append(bytes[j + 1])
                    j += 2
                } else {
                    out.append(bytes[j])
                    j += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
        let comma = UInt8(ascii: ","), space = UInt8(ascii: " "), equals = UInt8(ascii: "=")
        let key = scan(until: [space])
        guard i < line.count else { throw Failure(description: "no fields") }
        i += 1
        // The key: measurement, then tags, split at unescaped commas.
        var k = 0
        func next(_ bytes: [UInt8], _ stop: UInt8) -> [UInt8] {
            let start = k
            while k < bytes.count {
                if bytes[k] == UInt8(ascii: "\\") && k + 1 < bytes.count {
                    k += 2
                    continue
                }
                if bytes[k] == stop { break }
                k += 1
            }
            defer { k += 1 }
            return Array(bytes[start..<min(k, bytes.count)])
        }
        let measurement = unescape(next(key, comma), [comma, space])
        var tags: [NetPollerCore.Tag] = []
        while k < key.count {
            let pair = next(key, comma)
            var split = 0
            while split < pair.count {
                if pair[split] == UInt8(ascii: "\\") {
                    split += 2
                    continue
                }
                if pair[split] == equals { break }
                split += 1
            }
            guard split < pair.count else { throw Failure(description: "tag without =") }
            tags.append(
                NetPollerCore.Tag(
                    unescape(Array(pair[..<split]), [comma, space, equals]),
                    unescape(Array(pair[(split + 1)...]), [comma, space, equals])))
        }
        var fields: [String: FieldValue] = [:]
        let fieldSection = scan(until: [space], quotes: true)
        var f = 0
        while f < fieldSection.count {
            // name
            let nameStart = f
            while f < fieldSection.count, fieldSection[f] != equals {
                f += fieldSection[f] == UInt8(ascii: "\\") ? 2 : 1
            }
            let name = unescape(Array(fieldSection[nameStart..<min(f, fieldSection.count)]), [comma, space, equals])
            f += 1
            guard f < fieldSection.count else { throw Failure(description: "field without value") }
            if fieldSection[f] == UInt8(ascii: "\"") {
                f += 1
                var value: [UInt8] = []
                while f < fieldSection.count, fieldSection[f] != UInt8(ascii: "\"") {
                    if fieldSection[f] == UInt8(ascii: "\\"), f + 1 < fieldSection.count,
                        fieldSection[f + 1] == UInt8(ascii: "\"") || fieldSection[f + 1] == UInt8(ascii: "\\")
                    {
                        value.append(fieldSection[f + 1])
                        f += 2
                    } else {
                        value.append(fieldSection[f])
                        f += 1
                    }
                }
                f += 1
                fields[name] = .text(String(decoding: value, as: UTF8.self))
            } else {
                let start = f
                while f < fieldSection.count, fieldSection[f] != comma { f += 1 }
                let text = String(decoding: fieldSection[start..<f], as: UTF8.self)
                if text.hasSuffix("i"), let v = Int64(text.dropLast()) {
                    fields[name] = .int(v)
                } else if let v = Double(text) {
                    fields[name] = .double(v)
                } else {
                    throw Failure(description: "bad number \(text)")
                }
            }
            if f < fieldSection.count && fieldSection[f] == comma { f += 1 }
        }
        i += 1
        guard i <= line.count, let timestamp = Int64(String(decoding: line[min(i, line.count)...], as: UTF8.self))
        else { throw Failure(description: "bad timestamp") }
        return Point(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp)
    }

    /// What the encoder promises to write for a text it cannot carry as is (the spec, written out independently).
    static func carried(_ s: String, escapable: Set<Character>) -> String {
        let chars = Array(s.map { $0 == "\n" ? " " : $0 })
        var out = ""
        for (index, c) in chars.enumerated() {
            if c == "\\" {
                // Dropped when only backslashes follow up to the end or to a character that gets escaped.
                let rest = chars[(index + 1)...].drop { $0 == "\\" }
                if rest.first.map({ escapable.contains($0) }) ?? true { continue }
            }
            out.append(c)
        }
        return out
    }
}

@Suite struct LineProtocolTests {
    static let alphabet: [String] = [
        "a", "Z", "0", " ", ",", "=", "\"", "\\", "é", "🚀", "\n", "_", "-", ".", "/", "'", "\t", "日本",
    ]

    func random<G: RandomNumberGenerator>(_ rng: inout G, maxLength: Int = 6) -> String {
        (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in Self.alphabet.randomElement(using: &rng)! }
            .joined()
    }

    @Test func everyEncodedLineReadsBackAsPromised() throws {
        var rng = SplitMix(seed: 20_261_121)
        for round in 0..<3000 {
            let measurement = "m" + random(&rng)
            var tags: [NetPollerCore.Tag] = []
            for n in 0..<Int.random(in: 0...4, using: &rng) {
                tags.append(NetPollerCore.Tag("k\(n)" + random(&rng), random(&rng)))
            }
            // Half the time as a poll makes them (sorted by key: the merge path), half not (the general path).
            if Bool.random(using: &rng) { tags.sort { $0.key < $1.key } }
            var fields: [Field] = []
            for n in 0..<Int.random(in: 1...4, using: &rng) {
                let value: FieldValue
                switch Int.random(in: 0...3, using: &rng) {
                case 0: value = .int(Int64.random(in: .min ... .max, using: &rng))
                case 1: value = .uint(UInt64.random(in: 0...UInt64(Int64.max), using: &rng))
                case 2: value = .double(Double.random(in: -1e300...1e300, using: &rng))
                default: value = .text(random(&rng, maxLength: 10))
                }
                fields.append(Field(name: "f\(n)" + random(&rng), value: value, kind: .gauge))
            }
            let batch = SampleBatch(
                id: 1, device: "d" + random(&rng), deviceTags: [], timestampNanos: Int64(round) * 1_000_000_007,
                samples: [Sample(measurement: measurement, tags: tags, fields: fields)])
            var out: [UInt8] = []
            LineProtocol.encode(batch, into: &out)
            let text = String(decoding: out, as: UTF8.self)
            let points = try ReferenceDecoder.decode(text)
            #expect(points.count == 1, "one line: \(text.debugDescription)")
            let point = try #require(points.first)
            let keyChars: Set<Character> = [",", " ", "=", "\n"]
            #expect(point.measurement == ReferenceDecoder.carried(measurement, escapable: [",", " ", "\n"]))
            var expectedTags: [String: String] = [:]
            for tag in [NetPollerCore.Tag("device", batch.device)] + tags {
                let key = ReferenceDecoder.carried(tag.key, escapable: keyChars)
                let value = ReferenceDecoder.carried(tag.value, escapable: keyChars)
                if !tag.key.isEmpty && !tag.value.isEmpty && !key.isEmpty && !value.isEmpty {
                    expectedTags[key] = value
                }
            }
            #expect(Dictionary(point.tags.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }) == expectedTags)
            var expectedFields: [String: FieldValue] = [:]
            for field in fields {
                let name = ReferenceDecoder.carried(field.name, escapable: keyChars)
                switch field.value {
                case .uint(let v): expectedFields[name] = .int(Int64(v))
                case .text(let text): expectedFields[name] = .text(text.replacingOccurrences(of: "\n", with: " "))
                default: expectedFields[name] = field.value
                }
            }
            #expect(point.fields == expectedFields, "\(text.debugDescription)")
            #expect(point.timestamp == batch.timestampNanos)
        }
    }

    /// The encoder remembers each device's series between batches; whatever changes from one poll to the next, a
    /// long-lived encoder must write exactly what a fresh one writes.
    @Test func aRememberingEncoderWritesWhatAFreshOneWrites() throws {
        var rng = SplitMix(seed: 4242)
        var encoder = LineProtocol.Encoder()
        let bytes = OutputBytes(capacity: 64)
        func makeSample(_ n: Int) -> Sample {
            Sample(
                measurement: n % 3 == 0 ? "system" : "interface",
                tags: [NetPollerCore.Tag("ifDescr", "Gi0/\(n) uplink, core"), NetPollerCore.Tag("ifIndex", "\(n)")],
                fields: [
                    Field(name: "in", value: .uint(UInt64(n)), kind: .counter),
                    Field(name: "oper status", value: .int(1), kind: .gauge),
                ])
        }
        var samples = (0..<6).map(makeSample)
        var deviceTags = [NetPollerCore.Tag("site", "lab")]
        for poll in 0..<400 {
            for index in samples.indices {
                samples[index].fields[0].value = .uint(UInt64.random(in: 0...UInt64.max, using: &rng))
                switch Int.random(in: 0..<40, using: &rng) {
                case 0: samples[index].tags[0].value = "renamed \(poll)"
                case 1: samples[index].tags = samples[index].tags.map { $0 }  // equal tags, another array
                case 2: samples[index].fields[samples[index].fields.count - 1].name = "status=\(poll % 2)"
                case 3: samples[index].fields.append(Field(name: "load", value: .double(0.5), kind: .gauge))
                case 4: samples[index].fields = Array(samples[index].fields.prefix(1))
                case 5: samples[index].measurement = "if \(poll % 3)"
                case 6: samples[index].fields[0].value = .text("a \"quoted\" \\ value\nline")
                case 7: samples[index].fields[0].value = .double(poll % 2 == 0 ? .nan : -2.5e-7)
                case 8: samples[index].tags = [NetPollerCore.Tag("z", "1"), NetPollerCore.Tag("a", "2")]  // unsorted
                default: break
                }
            }
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: samples.append(makeSample(samples.count))
            case 1 where samples.count > 1: samples.remove(at: Int.random(in: 0..<samples.count, using: &rng))
            case 2: samples.shuffle(using: &rng)
            case 3: deviceTags = [NetPollerCore.Tag("site", "lab \(poll)")]
            default: break
            }
            let batch = SampleBatch(
                id: UInt64(poll), device: poll % 5 == 0 ? "r2" : "r1", deviceTags: deviceTags,
                timestampNanos: 1_700_000_000_000_000_000 + Int64(poll), samples: samples)
            bytes.removeAll()
            let lines = encoder.encode(batch, precision: .ns, into: bytes)
            var fresh: [UInt8] = []
            LineProtocol.encode(batch, into: &fresh)
            let remembered = String(decoding: bytes.array, as: UTF8.self)
            #expect(remembered == String(decoding: fresh, as: UTF8.self), "poll \(poll)")
            // A newline in a value is written as a space: every newline ends a line.
            #expect(lines == fresh.filter { $0 == UInt8(ascii: "\n") }.count)
        }
        #expect(encoder.cachedDevices == 2)
    }

    @Test func theEncoderForgetsDevicesThatStopComing() {
        var encoder = LineProtocol.Encoder()
        let bytes = OutputBytes()
        func batch(_ device: String) -> SampleBatch {
            SampleBatch(
                id: 1, device: device, deviceTags: [], timestampNanos: 1,
                samples: [Sample(measurement: "m", tags: [], fields: [Field(name: "x", value: .int(1), kind: .gauge)])])
        }
        encoder.encode(batch("gone"), precision: .ns, into: bytes)
        for _ in 0..<6000 { encoder.encode(batch("stays"), precision: .ns, into: bytes) }
        #expect(encoder.cachedDevices == 1)
    }

    @Test func devicesWithTheSameFieldsShareOneShapeAndUnusedShapesAreDropped() {
        var encoder = LineProtocol.Encoder()
        let bytes = OutputBytes()
        func batch(_ device: String, fields: [String]) -> SampleBatch {
            SampleBatch(
                id: 1, device: device, deviceTags: [], timestampNanos: 1,
                samples: [
                    Sample(
                        measurement: "interface", tags: [NetPollerCore.Tag("ifIndex", "1")],
                        fields: fields.map { Field(name: $0, value: .int(1), kind: .gauge) })
                ])
        }
        // 1,000 devices with the same profile: one measurement and field list remembered, not 1,000.
        for n in 0..<1000 { encoder.encode(batch("d\(n)", fields: ["in", "out"]), precision: .ns, into: bytes) }
        #expect(encoder.cachedDevices == 1000)
        #expect(encoder.cachedShapes == 1)
        // A device whose field set changes every poll makes a new shape each time; the ones nobody uses are dropped.
        for poll in 0..<5000 {
            encoder.encode(batch("flappy", fields: ["in", "x\(poll)"]), precision: .ns, into: bytes)
        }
        #expect(encoder.cachedShapes <= 300)
        bytes.removeAll()
        encoder.encode(batch("d7", fields: ["in", "out"]), precision: .ns, into: bytes)
        #expect(String(decoding: bytes.array, as: UTF8.self) == "interface,device=d7,ifIndex=1 in=1i,out=1i 1\n")
    }

    @Test func unchangedTagsKeepThePreviousPollsArray() {
        var reuse = TagReuse()
        func poll(_ alias: String) -> [Sample] {
            [
                Sample(measurement: "interface", tags: [NetPollerCore.Tag("ifIndex", "1")], fields: []),
                Sample(
                    measurement: "interface",
                    tags: [NetPollerCore.Tag("ifAlias", alias), NetPollerCore.Tag("ifIndex", "2")], fields: []),
            ]
        }
        func storage(_ tags: [NetPollerCore.Tag]) -> UnsafeRawPointer? {
            tags.withUnsafeBytes { $0.baseAddress }
        }
        var first = poll("uplink")
        reuse.apply(to: &first)
        var second = poll("uplink")
        reuse.apply(to: &second)
        #expect(storage(second[0].tags) == storage(first[0].tags))
        #expect(storage(second[1].tags) == storage(first[1].tags))
        var third = poll("renamed")
        reuse.apply(to: &third)
        #expect(storage(third[0].tags) == storage(first[0].tags))
        #expect(storage(third[1].tags) != storage(first[1].tags))
        #expect(third[1].tags[0].value == "renamed")
    }

    @Test func precisionDividesTheTimestamp() throws {
        let batch = SampleBatch(
            id: 1, device: "r1", deviceTags: [], timestampNanos: 1_700_000_000_123_456_789,
            samples: [Sample(measurement: "m", tags: [], fields: [Field(name: "x", value: .int(1), kind: .gauge)])])
        for (precision, expected) in [
            (LineProtocol.Precision.ns, "1700000000123456789"), (.us, "1700000000123456"), (.ms, "1700000000123"),
            (.s, "1700000000"),
        ] {
            var out: [UInt8] = []
            LineProtocol.encode(batch, precision: precision, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == "m,device=r1 x=1i \(expected)\n")
        }
    }

    @Test func numbersAtEveryDigitCountAndKeyAtEveryLengthAreWrittenExactly() throws {
        // Every digit count (its first and last value), the extremes, and names of every length up to 40 bytes: the
        // cursor writes short keys as overlapping words and long ones with memmove.
        var values: [Int64] = [0, 1, -1, Int64.max, Int64.min, Int64.min + 1]
        var power: Int64 = 10
        for _ in 1...18 {
            values += [power - 1, power, power + 1, -(power - 1), -power]
            if power <= Int64.max / 10 { power *= 10 }
        }
        var fields: [Field] = []
        var expected: [String] = []
        for (index, value) in values.enumerated() {
            let name = String(repeating: "k", count: index % 40 + 1)
            fields.append(Field(name: name, value: .int(value), kind: .gauge))
            expected.append("\(name)=\(value)i")
        }
        fields.append(Field(name: "u", value: .uint(UInt64.max), kind: .counter))
        expected.append("u=\(Int64.max)i")
        fields.append(Field(name: "d", value: .double(-9_007_199_254_740_991), kind: .gauge))
        expected.append("d=-9007199254740991")
        let batch = SampleBatch(
            id: 1, device: "r1", deviceTags: [], timestampNanos: 5,
            samples: [Sample(measurement: "m", tags: [], fields: fields)])
        var encoder = LineProtocol.Encoder()
        for _ in 0..<2 {
            var out: [UInt8] = []
            encoder.encode(batch, precision: .ns, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == "m,device=r1 \(expected.joined(separator: ",")) 5\n")
        }
    }

    @Test func aBatchIsAValueThoughItIsStoredOnce() {
        let original = SampleBatch(
            id: 1, device: "r1", deviceTags: [NetPollerCore.Tag("site", "a")], timestampNanos: 5,
            samples: [Sample(measurement: "m", tags: [], fields: [Field(name: "x", value: .int(1), kind: .gauge)])],
            poll: PollInfo(address: "127.0.0.1", profiles: ["if"], state: "up"))
        var copy = original
        #expect(copy == original)
        copy.timestampNanos = 6
        copy.samples[0].fields[0].value = .int(2)
        copy.samples.append(copy.samples[0])
        copy.device = "r2"
        copy.deviceTags.append(NetPollerCore.Tag("x", "y"))
        copy.poll?.state = "down"
        copy.id = 9
        #expect(original.timestampNanos == 5 && original.device == "r1" && original.id == 1)
        #expect(original.samples.count == 1 && original.samples[0].fields[0].value == .int(1))
        #expect(original.deviceTags.count == 1 && original.poll?.state == "up")
        #expect(copy.samples.count == 2 && copy.samples[0].fields[0].value == .int(2) && copy.poll?.state == "down")
        #expect(copy != original)
        var again = copy
        again.id = 1
        again.timestampNanos = 5
        #expect(again != original && again.id == 1 && copy.id == 9)
    }

    @Test func aSampleTagOverridesADeviceTagOfTheSameKey() throws {
        let batch = SampleBatch(
            id: 1, device: "r1", deviceTags: [NetPollerCore.Tag("role", "device")], timestampNanos: 5,
            samples: [
                Sample(
                    measurement: "m", tags: [NetPollerCore.Tag("role", "sample")],
                    fields: [Field(name: "x", value: .int(1), kind: .gauge)])
            ])
        var out: [UInt8] = []
        LineProtocol.encode(batch, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "m,device=r1,role=sample x=1i 5\n")
    }
}

/// A small seeded generator, so a failure can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
