extension Duration {
    /// Whole nanoseconds (truncated).
    @inlinable
    public var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// Seconds as a double, for metrics and `/status`.
    @inlinable
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
