/// When the I/O thread hands finished polls back to the async side: together, not one by one.
///
/// The scheduler starts a fleet in batches (`poll_start_window`), and a batch's results crossing back one at a time
/// woke the cooperative pool, the queue's consumer, each sink's spool and each sink's worker once per poll. Held here,
/// they cross back once none is in flight any more, or when the oldest has waited `hold`, or at `maxResults`: once per
/// batch. Decided without I/O; the loop asks `isDue` before it sleeps and sleeps no longer than `deadline`.
struct HandBackBatch<Result> {
    /// The longest a finished poll's result waits for the others of its batch (monotonic ns).
    let hold: Int64
    /// Results handed back at once when this many wait.
    let maxResults: Int
    private(set) var results: [Result] = []
    /// When the oldest waiting result came (monotonic ns).
    private var since: Int64 = 0
    /// Polls started and not finished.
    private(set) var inFlight = 0

    init(hold: Int64, maxResults: Int) {
        self.hold = hold
        self.maxResults = max(1, maxResults)
    }

    mutating func started() { inFlight += 1 }

    mutating func finished(_ result: Result, now: Int64) {
        inFlight = max(0, inFlight - 1)
        if results.isEmpty { since = now }
        results.append(result)
    }

    /// Whether the waiting results go back now.
    func isDue(now: Int64) -> Bool {
        !results.isEmpty && (inFlight == 0 || results.count >= maxResults || now - since >= hold)
    }

    /// When the waiting results go back at the latest; nil when none waits.
    var deadline: Int64? { results.isEmpty ? nil : since + hold }

    /// The waiting results, in the order they finished; none waits afterwards.
    mutating func take() -> [Result] {
        defer { results = [] }
        return results
    }
}
