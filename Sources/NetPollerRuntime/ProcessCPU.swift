import Glibc

/// CPU time of this process: user plus system, every thread (getrusage RUSAGE_SELF). What the benchmarks divide by.
public enum ProcessCPU {
    public static func seconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
