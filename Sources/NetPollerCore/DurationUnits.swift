#if canImport(Glibc)
    import Glibc
#endif

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

/// The wall clock (CLOCK_REALTIME) in nanoseconds since the Unix epoch: sample timestamps.
public enum WallClock {
    public static func nanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
