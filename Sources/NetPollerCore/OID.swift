/// An SNMP object identifier.
public struct OID: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var components: [UInt32]

    public init(_ components: [UInt32]) {
        self.components = components
    }

    /// Parses dotted notation (`1.3.6.1.2.1.1.3.0`, a leading dot is allowed). Nil if malformed.
    public init?(_ text: String) {
        var body = Substring(text)
        if body.hasPrefix(".") { body = body.dropFirst() }
        guard !body.isEmpty else { return nil }
        var parts: [UInt32] = []
        for part in body.split(separator: ".", omittingEmptySubsequences: false) {
            guard let value = UInt32(part) else { return nil }
            parts.append(value)
        }
        guard parts.count >= 2, parts.count <= 128 else { return nil }
        components = parts
    }

    public var description: String { components.map(String.init).joined(separator: ".") }

    public func hasPrefix(_ prefix: OID) -> Bool { components.starts(with: prefix.components) }

    public func appending(_ more: UInt32...) -> OID { OID(components + more) }

    public static func < (lhs: OID, rhs: OID) -> Bool {
        lhs.components.lexicographicallyPrecedes(rhs.components)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let oid = OID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad OID"))
        }
        self = oid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
