#if canImport(Glibc)
    import Glibc
#endif

/// The process's open-file limit.
public enum FileLimits {
    /// Raises the soft RLIMIT_NOFILE to the hard maximum (systemd's default soft limit is 1,024): sinks, SNMP sessions
    /// and HTTP connections all need descriptors. Returns the limit now in force.
    @discardableResult
    public static func raiseToHardMaximum() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }
}
