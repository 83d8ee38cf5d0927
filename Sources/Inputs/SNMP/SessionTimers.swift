import HeapModule

/// When each session next needs `snmp_sess_timeout`: a min-heap of deadlines (monotonic ns), so the I/O loop's cost
/// per pass does not depend on how many sessions exist, only on the ones whose time has come.
///
/// Entries are removed lazily: rescheduling or clearing a session bumps its generation, and an entry whose generation
/// is not the session's current one is dropped when it reaches the top. A session pushes an entry when it goes from no
/// request in flight to one, and after a timeout pass; every entry leaves the heap by its deadline, so the heap holds
/// at most the entries pushed within one timeout period.
struct SessionTimers {
    struct Entry: Comparable {
        var deadline: Int64
        var fd: Int32
        var generation: UInt64

        static func < (a: Entry, b: Entry) -> Bool { a.deadline < b.deadline }
        static func == (a: Entry, b: Entry) -> Bool { a.deadline == b.deadline && a.generation == b.generation }
    }

    private var heap = Heap<Entry>()
    private var lastGeneration: UInt64 = 0

    /// A new timer for the session on `fd`: the generation to keep on the session (never 0).
    mutating func schedule(fd: Int32, at deadline: Int64) -> UInt64 {
        lastGeneration += 1
        heap.insert(Entry(deadline: deadline, fd: fd, generation: lastGeneration))
        return lastGeneration
    }

    /// The earliest deadline (possibly of a stale entry: waking for it costs one empty pass).
    var earliest: Int64? { heap.min?.deadline }

    /// The next entry due at `now`, if any (the caller checks its generation against the session's).
    mutating func popDue(now: Int64) -> Entry? {
        guard let top = heap.min, top.deadline <= now else { return nil }
        return heap.removeMin()
    }

    var count: Int { heap.count }
}
