import NetPollerCore

#if canImport(Glibc)
    import Glibc
#endif

/// The compiled form of a device's profiles: which OIDs to GET, which subtrees to walk, and how each answer becomes a
/// field or tag. Built once per profile set, used every poll.
public struct PollPlan: Sendable {
    struct ScalarGroupPlan: Sendable {
        var measurement: String
        /// (field name, index into `scalarOIDs`, declared text display, declared kind)
        var fields: [(String, Int, TextDisplay?, MetricKind?)]
        var tags: [(String, Int, TextDisplay?)]
    }

    struct ColumnPlan: Sendable {
        var name: String
        var isTag: Bool
        var slot: Int
        var display: TextDisplay?
        var kind: MetricKind?
    }

    struct TablePlan: Sendable {
        var measurement: String
        var indexTag: String
        var fieldCount: Int
        var tagNames: [String]
        var fieldNames: [String]
        /// Per walk used by this table: the walk index, and the column lookup below its root.
        var walks: [(walk: Int, byColumn: [UInt32: ColumnPlan], columnMode: ColumnPlan?)]
    }

    /// Per walk root: the highest listed column of an entry walk (nil for a column walk), for `walk_truncated`.
    public private(set) var lastColumns: [UInt32?] = []

    public private(set) var scalarOIDs: [OID] = []
    public private(set) var walkRoots: [OID] = []
    var groups: [ScalarGroupPlan] = []
    var tables: [TablePlan] = []
    public let profileNames: [String]

    public init(profiles: [Profile]) {
        profileNames = profiles.map(\.name)
        var scalarIndex: [OID: Int] = [:]
        func scalar(_ oid: OID) -> Int {
            if let index = scalarIndex[oid] { return index }
            scalarIndex[oid] = scalarOIDs.count
            scalarOIDs.append(oid)
            return scalarOIDs.count - 1
        }
        var walkIndex: [OID: Int] = [:]
        func walk(_ oid: OID) -> Int {
            if let index = walkIndex[oid] { return index }
            walkIndex[oid] = walkRoots.count
            walkRoots.append(oid)
            return walkRoots.count - 1
        }
        for profile in profiles {
            for group in profile.scalars {
                groups.append(
                    ScalarGroupPlan(
                        measurement: group.measurement,
                        fields: group.fields.map { ($0.name, scalar($0.oid), $0.display, $0.kind) },
                        tags: group.tags.map { ($0.name, scalar($0.oid), $0.display) }))
            }
            for table in profile.tables {
                var plan = TablePlan(
                    measurement: table.measurement, indexTag: table.indexTag, fieldCount: table.fields.count,
                    tagNames: table.indexTags.map(\.name), fieldNames: table.fields.map(\.name), walks: [])
                let columns =
                    table.fields.enumerated().map {
                        (
                            $0.element,
                            ColumnPlan(
                                name: $0.element.name, isTag: false, slot: $0.offset, display: $0.element.display,
                                kind: $0.element.kind)
                        )
                    }
                    + table.indexTags.enumerated().map {
                        (
                            $0.element,
                            ColumnPlan(name: $0.element.name, isTag: true, slot: $0.offset, display: $0.element.display)
                        )
                    }
                for (spec, column) in columns {
                    switch table.walk {
                    case .entry:
                        let root = OID(Array(spec.oid.components.dropLast()))
                        let w = walk(root)
                        let columnNumber = spec.oid.components.last ?? 0
                        while lastColumns.count < walkRoots.count { lastColumns.append(nil) }
                        lastColumns[w] = max(lastColumns[w] ?? 0, columnNumber)
                        if let i = plan.walks.firstIndex(where: { $0.walk == w }) {
                            plan.walks[i].byColumn[columnNumber] = column
                        } else {
                            plan.walks.append((w, [columnNumber: column], nil))
                        }
                    case .columns:
                        let w = walk(spec.oid)
                        while lastColumns.count < walkRoots.count { lastColumns.append(nil) }
                        plan.walks.append((w, [:], column))
                    }
                }
                tables.append(plan)
            }
        }
        while lastColumns.count < walkRoots.count { lastColumns.append(nil) }
    }

    /// The listed columns of an entry walk after `column`, by table, for the `walk_truncated` message.
    public func missingColumns(walk: Int, after column: UInt32) -> [(measurement: String, columns: [String])] {
        tables.compactMap { table in
            guard let entry = table.walks.first(where: { $0.walk == walk && $0.columnMode == nil }) else { return nil }
            let missing = entry.byColumn.filter { $0.key > column }.sorted { $0.key < $1.key }.map(\.value.name)
            return missing.isEmpty ? nil : (table.measurement, missing)
        }
    }

    /// Builds the samples of one poll from the GET values (in `scalarOIDs` order) and the walks (in `walkRoots` order).
    public func samples(scalars: [SNMPValue]?, walks: [WalkResult?]) -> [Sample] {
        var mismatches = TypeMismatches()
        return samples(scalars: scalars, walks: walks, mismatches: &mismatches)
    }

    /// The samples, and in `mismatches` every value whose wire type disagreed with its field's declared kind.
    public func samples(scalars: [SNMPValue]?, walks: [WalkResult?], mismatches: inout TypeMismatches) -> [Sample] {
        var samples: [Sample] = []
        if let scalars {
            for group in groups {
                var fields: [Field] = []
                fields.reserveCapacity(group.fields.count)
                for (name, index, display, declared) in group.fields {
                    if let (value, kind) = ValueMapping.field(
                        scalars[index], display: display, declared: declared, name: name, mismatches: &mismatches)
                    {
                        fields.append(Field(name: name, value: value, kind: kind))
                    }
                }
                guard !fields.isEmpty else { continue }
                var tags: [Tag] = []
                for (name, index, display) in group.tags {
                    if let text = ValueMapping.tagText(scalars[index], display: display) {
                        tags.append(Tag(name, text))
                    }
                }
                tags.sort { $0.key < $1.key }
                samples.append(Sample(measurement: group.measurement, tags: tags, fields: fields))
            }
        }
        for table in tables { buildRows(table, walks: walks, into: &samples, mismatches: &mismatches) }
        return samples
    }

    /// One row while it is being built: only the fields that arrived (a wide profile on a narrow device, or an
    /// endless table, costs no empty slots), and the tags once one arrives.
    private struct Row {
        var index: ArraySlice<UInt32>
        var fields: [(slot: Int, value: FieldValue, kind: MetricKind)] = []
        var tags: [String?] = []
    }

    private func buildRows(
        _ table: TablePlan, walks: [WalkResult?], into samples: inout [Sample], mismatches: inout TypeMismatches
    ) {
        var rows: [Row] = []
        var single: [UInt32: Int] = [:]
        var multi: [[UInt32]: Int] = [:]
        func row(for index: ArraySlice<UInt32>) -> Int {
            if index.count == 1, let first = index.first {
                if let r = single[first] { return r }
                single[first] = rows.count
            } else {
                let key = Array(index)
                if let r = multi[key] { return r }
                multi[key] = rows.count
            }
            rows.append(Row(index: index))
            return rows.count - 1
        }
        for (walkNumber, byColumn, columnMode) in table.walks {
            guard walkNumber < walks.count, let walk = walks[walkNumber] else { continue }
            for i in 0..<walk.count {
                let suffix = walk.suffix(i)
                let column: ColumnPlan
                let index: ArraySlice<UInt32>
                if let columnMode {
                    column = columnMode
                    index = suffix
                } else {
                    guard let first = suffix.first, let c = byColumn[first] else { continue }
                    column = c
                    index = suffix.dropFirst()
                }
                guard !index.isEmpty else { continue }
                let r = row(for: index)
                if column.isTag {
                    if rows[r].tags.isEmpty { rows[r].tags = Array(repeating: nil, count: table.tagNames.count) }
                    rows[r].tags[column.slot] = ValueMapping.tagText(walk.values[i], display: column.display)
                } else if let (value, kind) = ValueMapping.field(
                    walk.values[i], display: column.display, declared: column.kind, name: column.name,
                    mismatches: &mismatches)
                {
                    rows[r].fields.append((column.slot, value, kind))
                }
            }
        }
        samples.reserveCapacity(samples.count + rows.count)
        for var row in rows where !row.fields.isEmpty {
            // Fields in profile order (entry walks deliver them by column number, which is usually the same).
            if zip(row.fields, row.fields.dropFirst()).contains(where: { $0.slot > $1.slot }) {
                row.fields.sort { $0.slot < $1.slot }
            }
            let fields = row.fields.map { Field(name: table.fieldNames[$0.slot], value: $0.value, kind: $0.kind) }
            var tags: [Tag] = []
            tags.reserveCapacity(1 + row.tags.count)
            tags.append(Tag(table.indexTag, Self.indexText(row.index)))
            for (slot, value) in row.tags.enumerated() {
                if let value { tags.append(Tag(table.tagNames[slot], value)) }
            }
            tags.sort { $0.key < $1.key }
            samples.append(Sample(measurement: table.measurement, tags: tags, fields: fields))
        }
    }

    /// `1` or `1.2.3`: a row's index as its tag value.
    static func indexText(_ index: ArraySlice<UInt32>) -> String {
        if index.count == 1, let only = index.first { return String(only) }
        return index.map(String.init).joined(separator: ".")
    }
}

/// Values whose wire type disagreed with their field's declared kind in one poll, by field name: converted (or, when
/// no number could be read, left out) and counted.
public struct TypeMismatches: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// The wire type seen first, e.g. `INTEGER`.
        public var wire: String
        public var declared: MetricKind
        public var count: Int
    }

    public private(set) var byField: [String: Entry] = [:]
    public var total: Int { byField.values.reduce(0) { $0 + $1.count } }
    public var isEmpty: Bool { byField.isEmpty }
    /// When set, the fields sent as Counter64 are collected in `wide` (counter rates need the width).
    public var trackWidths = false
    public private(set) var wide: Set<String> = []

    public init(trackWidths: Bool = false) { self.trackWidths = trackWidths }

    mutating func noteWide(_ field: String) { wide.insert(field) }

    mutating func note(_ field: String, wire: String, declared: MetricKind) {
        byField[field, default: Entry(wire: wire, declared: declared, count: 0)].count += 1
    }
}

/// SNMP value → field value and kind, and → tag text. The one place where wire types meet the data model.
public enum ValueMapping {
    /// The field of a value whose field may declare its kind; a disagreeing wire type is converted and noted.
    @inline(__always)
    static func field(
        _ value: SNMPValue, display: TextDisplay?, declared: MetricKind?, name: String,
        mismatches: inout TypeMismatches
    ) -> (FieldValue, MetricKind)? {
        if mismatches.trackWidths, case .counter64 = value { mismatches.noteWide(name) }
        guard let declared else { return field(value, display: display) }
        let (mapped, mismatch) = self.declared(value, as: declared)
        if mismatch { mismatches.note(name, wire: wireType(value), declared: declared) }
        return mapped
    }

    /// A value as its field declares it (`.counter` or `.gauge`). `mismatch` is true when the wire type is another:
    /// INTEGER, Gauge32 or TimeTicks for a counter (a negative INTEGER is read as the Counter32 it wrapped from),
    /// Counter32/64 for a gauge, or a number sent as text. A value that holds no number (an OID, binary) is nil.
    public static func declared(_ value: SNMPValue, as kind: MetricKind) -> (
        value: (FieldValue, MetricKind)?, mismatch: Bool
    ) {
        let counter = kind == .counter
        switch value {
        case .counter32(let v): return ((.uint(UInt64(v)), kind), !counter)
        case .counter64(let v): return ((.uint(v), kind), !counter)
        case .gauge32(let v), .timeticks(let v): return ((.uint(UInt64(v)), kind), counter)
        case .integer(let v):
            if !counter { return ((.int(v), kind), false) }
            return ((.uint(v >= 0 ? UInt64(v) : UInt64(UInt32(truncatingIfNeeded: v))), kind), true)
        case .float(let v):
            if !counter { return ((.double(v), kind), false) }
            return (v.isFinite && v >= 0 ? (.double(v), kind) : nil, true)
        case .octets(let bytes):
            let body = bytes.drop { $0 == 0x20 }.reversed().drop { $0 == 0x20 || $0 == 0 }.reversed()
            let text = String(decoding: body, as: UTF8.self)
            if let v = UInt64(text) { return ((.uint(v), kind), true) }
            if !counter, let v = Int64(text) { return ((.int(v), kind), true) }
            if !counter, let v = Double(text), v.isFinite { return ((.double(v), kind), true) }
            return (nil, true)
        case .ipAddress, .oid, .opaque: return (nil, true)
        case .null, .noSuchObject, .noSuchInstance, .endOfMibView: return (nil, false)
        }
    }

    /// The SMI name of a value's wire type, for logs.
    public static func wireType(_ value: SNMPValue) -> String {
        switch value {
        case .integer: "INTEGER"
        case .counter32: "Counter32"
        case .gauge32: "Gauge32"
        case .timeticks: "TimeTicks"
        case .counter64: "Counter64"
        case .octets: "OCTET STRING"
        case .ipAddress: "IpAddress"
        case .oid: "OBJECT IDENTIFIER"
        case .float: "Opaque Float"
        case .opaque: "Opaque"
        case .null: "NULL"
        case .noSuchObject: "noSuchObject"
        case .noSuchInstance: "noSuchInstance"
        case .endOfMibView: "endOfMibView"
        }
    }

    @inlinable
    public static func field(_ value: SNMPValue, display: TextDisplay? = nil) -> (FieldValue, MetricKind)? {
        switch value {
        case .integer(let v): return (.int(v), .gauge)
        case .counter32(let v): return (.uint(UInt64(v)), .counter)
        case .gauge32(let v): return (.uint(UInt64(v)), .gauge)
        case .timeticks(let v): return (.uint(UInt64(v)), .gauge)
        case .counter64(let v): return (.uint(v), .counter)
        case .float(let v): return (.double(v), .gauge)
        case .octets(let bytes): return (.text(display.map { show(bytes, as: $0) } ?? text(bytes)), .info)
        case .ipAddress(let a, let b, let c, let d): return (.text("\(a).\(b).\(c).\(d)"), .info)
        case .oid(let oid): return (.text(oid.description), .info)
        case .opaque(let bytes): return (.text(hex(bytes)), .info)
        case .null, .noSuchObject, .noSuchInstance, .endOfMibView: return nil
        }
    }

    public static func tagText(_ value: SNMPValue, display: TextDisplay? = nil) -> String? {
        switch field(value, display: display) {
        case .some((.text(let s), _)): return s
        case .some((.int(let v), _)): return String(v)
        case .some((.uint(let v), _)): return String(v)
        case .some((.double(let v), _)): return String(v)
        case .none: return nil
        }
    }

    /// Without a declared type: printable UTF-8 stays text (trailing NULs dropped); anything else becomes hex,
    /// `aa:bb:cc:dd:ee:ff` for 6 bytes (a MAC address), `0x…` otherwise. A 6-byte value is text only when every byte is
    /// printable ASCII (binary MACs are often valid UTF-8), and a value of NULs only is hex, never empty.
    public static func text(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "" }
        guard let text = printableText(bytes), !text.isEmpty else { return hex(bytes) }
        if bytes.count == 6 && !text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) { return hex(bytes) }
        return text
    }

    /// The value as UTF-8 text with trailing NULs trimmed, when it is valid UTF-8 without control characters (tab,
    /// newline and carriage return allowed); else nil.
    static func printableText(_ bytes: [UInt8]) -> String? {
        var end = bytes.count
        while end > 0 && bytes[end - 1] == 0 { end -= 1 }
        let body = bytes[..<end]
        guard body.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else {
            return nil
        }
        return String(validating: body, as: UTF8.self)
    }

    /// An OCTET STRING shown as its field declares.
    public static func show(_ bytes: [UInt8], as display: TextDisplay) -> String {
        switch display {
        case .mac: return separatedHex(bytes)
        case .hex: return prefixedHex(bytes)
        case .text: return printableText(bytes) ?? prefixedHex(bytes)
        case .ip:
            if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
            if bytes.count == 16 {
                var address = in6_addr()
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
                if inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil {
                    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            return prefixedHex(bytes)
        case .dateAndTime:
            guard bytes.count == 8 || bytes.count == 11 else { return prefixedHex(bytes) }
            let year = Int(bytes[0]) << 8 | Int(bytes[1])
            func two(_ v: UInt8) -> String { v < 10 ? "0\(v)" : "\(v)" }
            var out =
                "\(year)-\(two(bytes[2]))-\(two(bytes[3]))T\(two(bytes[4])):\(two(bytes[5])):\(two(bytes[6])).\(bytes[7])"
            if bytes.count == 11 {
                out += "\(bytes[8] == UInt8(ascii: "-") ? "-" : "+")\(two(bytes[9])):\(two(bytes[10]))"
            }
            return out
        }
    }

    /// `0x…` for most binary values, `aa:bb:…` for 6 bytes (a MAC address).
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.count == 6 ? separatedHex(bytes) : prefixedHex(bytes)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func separatedHex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        for (i, b) in bytes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ":")) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func prefixedHex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = Array("0x".utf8)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
