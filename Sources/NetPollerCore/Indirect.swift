/// A value kept behind a reference: a struct that embeds a large, rarely present part (an SSH config in a device's
/// config, SNMPv3 credentials in a target) holds 8 bytes for it instead of its whole size, in every copy and in every
/// bucket of the tables that keep one per device. Immutable: a change makes a new box.
public final class Indirect<Value: Sendable & Equatable>: Sendable, Equatable {
    public let value: Value

    public init(_ value: Value) { self.value = value }

    public static func == (a: Indirect, b: Indirect) -> Bool { a === b || a.value == b.value }
}

extension Indirect: Hashable where Value: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// Encoded and decoded as the value itself (a boxed property keeps its JSON shape).
extension Indirect: Codable where Value: Codable {
    public convenience init(from decoder: any Decoder) throws { self.init(try Value(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
