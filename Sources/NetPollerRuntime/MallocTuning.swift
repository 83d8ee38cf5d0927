import Glibc

/// How the agent asks glibc's malloc to hold less memory it does not use. Both calls are looked up at run time (the
/// Glibc module does not declare malloc.h; another C library may lack them, and then nothing is changed).
///
/// - Arenas: glibc gives threads that allocate at the same time arenas of their own, up to 8 per core. The agent's
///   threads (the cooperative pool, dispatch workers, the I/O and writer threads) each end up in one, and memory freed
///   in one arena is not reused by another: at 10,000 devices that spread was ~10 MiB of RSS, and two arenas still
///   cost 7 MiB against one (117.5 against 110.5 MiB; 19 MiB at 50,000 devices). `limitArenas` allows one arena per
///   four cores, at least 1 and at most 4 (the threads' own caches take most small allocations without the arena's
///   lock), unless `MALLOC_ARENA_MAX` is set (then the user's value holds).
/// - Large blocks: glibc serves a block of at least `M_MMAP_THRESHOLD` with its own mapping, returned whole when freed,
///   but by default it raises that threshold to the size of every mapped block freed (up to 32 MiB): after one large
///   walk or scrape, multi-megabyte arrays come from the heap, and their pages stay behind among long-lived data.
///   `limitLargeBlocks` fixes the threshold at 256 KiB, and the trim threshold at 8 MiB (so freeing a block at the top
///   of the heap does not shrink it for the next one to grow it again: net-snmp allocates and frees a 64 KiB receive
///   buffer for every datagram; the periodic trim gives the pages back instead). The hostile-agents test (two walks
///   capped at 100,000 varbinds, a scrape of every device's data) peaked at 122 MiB with both, 151 MiB without.
///   `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in the environment leaves the respective one alone.
/// - Trim: freed memory stays in the arenas; what the start-up left behind (the parsed config, the first round's
///   transients) would stay in RSS for good. `trim` returns every whole free page of every arena (`malloc_trim(0)`
///   uses `madvise`, not only the top of the heap); the agent calls it 30 s after start and then once a minute, off
///   the cooperative pool.
public enum MallocTuning {
    private typealias Trim = @convention(c) (Int) -> Int32
    private typealias Option = @convention(c) (Int32, Int32) -> Int32
    /// glibc's `M_ARENA_MAX`, `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD`.
    private static let arenaMaxOption: Int32 = -8
    private static let mmapThresholdOption: Int32 = -3
    private static let trimThresholdOption: Int32 = -1
    public static let mmapThreshold: Int32 = 256 << 10
    public static let trimThreshold: Int32 = 8 << 20

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        // nil is RTLD_DEFAULT: the process's own symbols, libc's included.
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// The arena cap for `cores` (see the type's notes).
    public static func arenaLimit(cores: Int) -> Int32 { Int32(min(4, max(1, cores / 4))) }

    /// Caps malloc's arenas; call it first thing, before other threads allocate. Returns the cap, or nil when the
    /// environment sets one or the C library has no `mallopt`.
    @discardableResult
    public static func limitArenas(cores: Int) -> Int32? {
        guard getenv("MALLOC_ARENA_MAX") == nil, let mallopt = symbol("mallopt", as: Option.self) else { return nil }
        let limit = arenaLimit(cores: cores)
        return mallopt(arenaMaxOption, limit) == 1 ? limit : nil
    }

    /// Fixes the mapped-block and trim thresholds (see the type's notes); call it with `limitArenas`. Returns how many
    /// of the two were set.
    @discardableResult
    public static func limitLargeBlocks() -> Int {
        guard let mallopt = symbol("mallopt", as: Option.self) else { return 0 }
        var set = 0
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil, mallopt(mmapThresholdOption, mmapThreshold) == 1 { set += 1 }
        if getenv("MALLOC_TRIM_THRESHOLD_") == nil, mallopt(trimThresholdOption, trimThreshold) == 1 { set += 1 }
        return set
    }

    /// `malloc_trim`, looked up once.
    private static let trimCall: Trim? = symbol("malloc_trim", as: Trim.self)

    /// Returns the heap's free pages to the system; true when some were.
    @discardableResult
    public static func trim() -> Bool {
        guard let trim = trimCall else { return false }
        return trim(0) != 0
    }
}
