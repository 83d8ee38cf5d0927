import DequeModule
import Dispatch
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// What a sink buffer reports as it goes (wired to metrics and logs by the runner).
public struct BufferEvents: Sendable {
    /// Samples dropped, with the reason (`buffer_full`, `spool_full`, `spool_expired`, `spool_error`).
    public var dropped: @Sendable (_ reason: String, _ samples: Int) -> Void = { _, _ in }
    /// Samples made durable by an fsync.
    public var synced: @Sendable (_ samples: Int) -> Void = { _ in }
    /// A sync interval (`fsync` = a duration) ended: `needed` with an fdatasync, or without one because the sink had
    /// acknowledged everything written in it.
    public var syncEnded: @Sendable (_ needed: Bool) -> Void = { _ in }
    /// A corrupt or torn record was found and cut off (`what` says where).
    public var corrupt: @Sendable (_ what: String) -> Void = { _ in }
    /// The spool stopped taking writes (disk full, I/O error): called once when writes start failing, with the error,
    /// and once with nil when a write succeeds again. Each failed write is counted by `spoolWriteFailed`.
    public var spoolState: @Sendable (_ failing: SpoolError?) -> Void = { _ in }
    /// One spool write failed (its batch stays in memory if it fits, else is dropped as `spool_error`).
    public var spoolWriteFailed: @Sendable () -> Void = {}

    public init() {}
}

/// One sink's buffer: memory in front, and with a spool every batch also appended to disk (a write-ahead log) so a
/// crash or a long outage loses nothing that reached it. Batches come out in order; what the sink has taken is
/// acknowledged once written, and only then may its disk space go.
///
/// In spool mode the memory holds a contiguous window of the oldest undelivered batches (at most `bufferSamples`);
/// the rest is read back from disk when the sink gets to it. Without a spool the memory is all there is, and at
/// `bufferSamples` the oldest batches are dropped (`reason="buffer_full"`).
///
/// Safe: every mutable stored property below `queue` is touched only on `queue` (a serial dispatch queue that also
/// does the blocking file I/O, so none of it runs on the cooperative pool); `stats` is a Mutex and `pending` atomic.
/// Only a buffer without a spool, whose queue never does I/O, is also entered with `queue.sync` (by `offer` and
/// `take`).
public final class SinkBuffer: @unchecked Sendable {
    public struct Entry: Sendable {
        public var seq: UInt64
        public var batch: SampleBatch
        /// Monotonic time the batch entered the buffer (zero for batches read back from disk).
        public var enqueuedAt: Duration
        var end: SpoolLocation?
    }

    /// A snapshot for `/status` and gauges.
    public struct Stats: Sendable, Equatable {
        /// Samples not yet delivered (memory, disk and the write in flight).
        public var backlogSamples = 0
        public var memorySamples = 0
        public var spoolBytes: Int64 = 0
        public var oldestTimestampNanos: Int64?
        public var dropped: [String: Int] = [:]
        public var corruptions = 0
        public var syncedSamples = 0
    }

    public let name: String
    /// Whether the buffer has a disk spool.
    public var spooled: Bool { spoolPolicy != nil }
    private let bufferSamples: Int
    private let spoolPolicy: SpoolPolicy?
    private let clock: any DeliveryClock
    private let events: BufferEvents
    private let queue: DispatchQueue
    private let pending = Atomic<Int>(0)
    private let waiterIDs = Atomic<Int>(0)
    private let stats = Mutex(Stats())

    private var files: SpoolFiles?
    private var memory = Deque<Entry>()
    private var memorySamples = 0
    private var backlogSamples = 0
    private var nextSeq: UInt64 = 1
    private var writeSeq: UInt64 = 1
    private var cursor: SpoolLocation?
    /// The worker waiting in `take`. With a deadline it gathers a batch it has begun: it is woken when `max` samples
    /// have come since it began waiting (`gathered`) or at the deadline, not by every offer, so a fleet polled in
    /// batches costs the worker one wake per write instead of one (a hop onto this queue and one back) per offer.
    private var waiter: (id: Int, max: Int, deadline: Duration?, continuation: CheckedContinuation<[Entry], Never>)?
    private var gathered = 0
    /// The earliest deadline timer still pending (see `armTimer`); nil: none.
    private var timerDeadline: Duration?
    private var closed = false
    /// Spooled batches neither synced nor acknowledged, oldest first, each with the time (`clock`) by which it must be
    /// on disk (`fsync` = a duration) unless the sink has acknowledged it by then.
    private var unsynced = Deque<(seq: UInt64, samples: Int, due: Duration)>()
    /// The highest sequence number the sink acknowledged.
    private var ackedThrough: UInt64 = 0
    /// The pending sync timer (its token and the time it is for); nil: none.
    private var syncTimer: (token: UInt64, at: Duration)?
    private var syncTokens: UInt64 = 0
    /// The sync came due while the worker was writing the data due: it waits for that write, a quarter of the
    /// interval at most.
    private var syncDeferred = false
    private var lastExpiryCheck: Duration = .zero
    private var corruptions = 0
    private var lastOldestCheck: Duration?
    private var oldestCached: Int64?
    private var syncedSamples = 0
    /// The spool's last write failed: the next success is reported as a recovery.
    private var spoolFailing = false

    /// Opens the buffer; with a spool policy, opens and repairs the spool (throws if the directory is unusable).
    public init(
        name: String, bufferSamples: Int, spool: SpoolPolicy?, clock: any DeliveryClock, events: BufferEvents
    ) throws(SpoolError) {
        self.name = name
        self.bufferSamples = max(1, bufferSamples)
        self.spoolPolicy = spool
        self.clock = clock
        self.events = events
        queue = DispatchQueue(label: "netpoller.sink-buffer.\(name)")
        if let spool {
            let files = try SpoolFiles(policy: spool)
            let report = try files.recover()
            for corruption in report.corruptions {
                corruptions += 1
                events.corrupt(
                    "\(corruption.segment) at byte \(corruption.offset): \(corruption.droppedBytes) bytes cut off")
            }
            self.files = files
            writeSeq = files.nextSeq
            cursor = files.ack
            nextSeq = firstSeq(atOrAfter: files.ack) ?? writeSeq
            backlogSamples = report.samples
            publish()
        }
    }

    /// Samples recovered from the spool at start (delivered before new data).
    public var recoveredSamples: Int { stats.withLock { $0.backlogSamples } }

    public var snapshot: Stats { stats.withLock { $0 } }

    // MARK: Producer side

    /// Hands a batch to the buffer without waiting. `payload` is the batch's `BatchCodec` form (shared by sinks).
    public func offer(_ batch: SampleBatch, payload: [UInt8]?) { offer([(batch, payload)]) }

    /// Hands batches to the buffer without waiting, in one hop onto its queue.
    public func offer(_ batches: [(batch: SampleBatch, payload: [UInt8]?)]) {
        let enqueuedAt = clock.now
        var accepted: [(batch: SampleBatch, payload: [UInt8]?)] = []
        accepted.reserveCapacity(batches.count)
        for offer in batches {
            let n = offer.batch.count
            // Offers not yet processed are bounded too, so a stalled disk cannot grow memory without limit; a batch on
            // its own always passes (however large, it goes to the spool like any other).
            let waiting = pending.add(n, ordering: .relaxed).newValue
            if waiting > max(bufferSamples * 4, 200_000) && waiting != n {
                pending.subtract(n, ordering: .relaxed)
                count(drop: "buffer_full", n)
                continue
            }
            accepted.append(offer)
        }
        guard !accepted.isEmpty else { return }
        let add: @Sendable () -> Void = { [self, accepted] in
            for (batch, payload) in accepted {
                let n = batch.count
                pending.subtract(n, ordering: .relaxed)
                gathered += n
                if files != nil {
                    appendToSpool(batch, payload: payload ?? BatchCodec.encode(batch), enqueuedAt: enqueuedAt)
                } else {
                    memory.append(Entry(seq: writeSeq, batch: batch, enqueuedAt: enqueuedAt, end: nil))
                    writeSeq += 1
                    memorySamples += n
                    backlogSamples += n
                    while memorySamples > bufferSamples, let oldest = memory.popFirst() {
                        memorySamples -= oldest.batch.count
                        backlogSamples -= oldest.batch.count
                        count(drop: "buffer_full", oldest.batch.count)
                    }
                }
            }
            serveWaiter()
            publish()
        }
        // Memory only: nothing on the queue blocks, so the offer runs on it synchronously (inline on this thread when
        // the queue is idle) rather than waking a thread for it. With a spool the queue writes files: a hop there.
        if spoolPolicy == nil { queue.sync(execute: add) } else { queue.async(execute: add) }
    }

    private func appendToSpool(_ batch: SampleBatch, payload: [UInt8], enqueuedAt: Duration) {
        guard let files else { return }
        let n = batch.count
        let seq = writeSeq
        var end: SpoolLocation?
        do {
            end = try files.append(seq: seq, timestampNanos: batch.timestampNanos, samples: n, payload: payload).end
            if spoolFailing {
                spoolFailing = false
                events.spoolState(nil)
            }
        } catch {
            events.spoolWriteFailed()
            if !spoolFailing {
                spoolFailing = true
                events.spoolState(error)
            }
        }
        let contiguous = memory.last.map { $0.seq == seq - 1 } ?? (seq == nextSeq)
        let fits = memorySamples + n <= bufferSamples
        // A batch the spool could not take stays in memory while it fits, in or out of the window: the reader serves
        // it in order (see `takeNow`). Only when memory is full too is it dropped.
        if end == nil && !fits {
            count(drop: "spool_error", n)
            return
        }
        writeSeq += 1
        backlogSamples += n
        if fits && (contiguous || end == nil) {
            memory.append(Entry(seq: seq, batch: batch, enqueuedAt: enqueuedAt, end: end))
            memorySamples += n
        }
        if end != nil {
            if spoolPolicy?.fsync == .always {
                noteSynced(n)
            } else {
                noteUnsynced(seq: seq, samples: n)
            }
        }
        enforceCaps()
    }

    /// A batch reached the spool file: it must be on disk within the `fsync` interval, unless delivered by then.
    private func noteUnsynced(seq: UInt64, samples: Int) {
        guard case .interval(let interval) = spoolPolicy?.fsync else { return }
        let due = clock.now + interval
        unsynced.append((seq, samples, due))
        if syncTimer == nil { armSyncTimer(at: due, after: interval) }
    }

    private func armSyncTimer(at: Duration, after delay: Duration) {
        syncTokens += 1
        let token = syncTokens
        syncTimer = (token, at)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(delay.nanoseconds, 1_000_000)))) { [self] in
            syncTimerFired(token)
        }
    }

    /// The fdatasync that `fsync = <interval>` promises is needed only for data the sink has not acknowledged: on a
    /// healthy pipeline the sink has written a batch before its sync comes due, and the spool costs no fdatasync at
    /// all (the acknowledged position is still written, without one). A sync that comes due while the worker is
    /// writing that very data waits for the write, at most a quarter of the interval more.
    private func syncTimerFired(_ token: UInt64) {
        guard let timer = syncTimer, timer.token == token, let files else { return }
        syncTimer = nil
        dropAcknowledgedObligations()
        guard let oldest = unsynced.first else {
            syncDeferred = false
            files.writeAckLazily()
            events.syncEnded(false)
            return
        }
        if oldest.due > timer.at {
            // What was due is delivered; the next batch has a later due time.
            syncDeferred = false
            events.syncEnded(false)
            armSyncTimer(at: oldest.due, after: oldest.due - timer.at)
            return
        }
        if !syncDeferred, oldest.seq < nextSeq, case .interval(let interval) = spoolPolicy?.fsync {
            // Taken by the worker: its write is likely under way.
            syncDeferred = true
            armSyncTimer(at: timer.at + interval / 4, after: interval / 4)
            return
        }
        syncNow()
    }

    private func dropAcknowledgedObligations() {
        while let first = unsynced.first, first.seq <= ackedThrough { unsynced.removeFirst() }
    }

    private func syncNow() {
        guard let files else { return }
        files.sync()
        let samples = unsynced.reduce(0) { $0 + $1.samples }
        if samples > 0 {
            noteSynced(samples)
            events.syncEnded(true)
        }
        unsynced.removeAll()
        syncDeferred = false
        syncTimer = nil
        publish()
    }

    private func noteSynced(_ n: Int) {
        syncedSamples += n
        events.synced(n)
    }

    // MARK: Consumer side (one worker)

    /// The next batches in order, up to `maxSamples` samples (at least one batch). Waits for data; with a deadline,
    /// returns empty when it passes first. Returns empty once closed and drained. `acknowledging` is what the last
    /// write finished (see `acknowledge`), done in the same hop onto the buffer's queue.
    public func take(maxSamples: Int, deadline: Duration? = nil, acknowledging done: [Entry] = []) async -> [Entry] {
        var done = done
        if spoolPolicy == nil {
            // Memory only: nothing on the queue ever blocks (no file I/O), so the take runs on it synchronously —
            // inline on this thread when the queue is idle — instead of a hop there and a hop back per write.
            let ready = queue.sync { acknowledgeAndTake(done, maxSamples: maxSamples) }
            if !ready.isEmpty { return ready }
            done = []
        }
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Entry], Never>) in
                queue.async { [self, done] in
                    let ready = acknowledgeAndTake(done, maxSamples: maxSamples)
                    if !ready.isEmpty || closed {
                        continuation.resume(returning: ready)
                        return
                    }
                    waiter?.continuation.resume(returning: [])
                    waiter = (id, maxSamples, deadline, continuation)
                    gathered = 0
                    if let deadline { armTimer(for: deadline) }
                }
            }
        } onCancel: {
            queue.async { [self] in releaseWaiter(id) }
        }
    }

    /// On the queue: what the last write finished is acknowledged, and the next batches taken.
    private func acknowledgeAndTake(_ done: [Entry], maxSamples: Int) -> [Entry] {
        acknowledgeNow(done)
        let ready = takeNow(maxSamples)
        publish()
        return ready
    }

    /// Whether a `take` waits for data now (tests wait on it instead of sleeping).
    public var hasWaitingTake: Bool { queue.sync { waiter != nil } }

    /// A timer that ends the waiting take at its deadline. A worker gathering a batch takes again after every offer
    /// with the same deadline: one timer per gathering round, not one (a task and a dispatch timer) per poll. Invariant:
    /// while a waiter has a deadline, a timer is pending at or before it (`timerFired` re-arms for a later one).
    private func armTimer(for deadline: Duration) {
        if let armed = timerDeadline, armed <= deadline { return }
        timerDeadline = deadline
        clock.run(at: deadline, on: queue) { self.timerFired(deadline) }
    }

    private func timerFired(_ at: Duration) {
        if timerDeadline == at { timerDeadline = nil }
        guard let current = waiter, let due = current.deadline else { return }
        guard due <= at else {
            armTimer(for: due)
            return
        }
        // The deadline of a gathering take: what came meanwhile (possibly nothing).
        waiter = nil
        current.continuation.resume(returning: takeNow(current.max))
    }

    private func releaseWaiter(_ id: Int) {
        guard let current = waiter, current.id == id else { return }
        waiter = nil
        current.continuation.resume(returning: [])
    }

    private func serveWaiter() {
        guard let current = waiter else { return }
        if current.deadline != nil && gathered < current.max && !closed { return }
        let ready = takeNow(current.max)
        guard !ready.isEmpty || closed else { return }
        waiter = nil
        current.continuation.resume(returning: ready)
    }

    private func takeNow(_ maxSamples: Int) -> [Entry] {
        var out: [Entry] = []
        var samples = 0
        guard let files else {
            while samples < maxSamples || out.isEmpty, let first = memory.popFirst() {
                memorySamples -= first.batch.count
                samples += first.batch.count
                out.append(first)
            }
            return out
        }
        expireSegmentsIfDue()
        let oldestAllowed = clock.wallNanos - (spoolPolicy?.maxAge.nanoseconds ?? .max / 2)
        while samples < maxSamples || out.isEmpty {
            var taken: [Entry] = []
            if let first = memory.first, first.seq == nextSeq {
                memory.removeFirst()
                memorySamples -= first.batch.count
                if let end = first.end { cursor = end }
                nextSeq += 1
                taken = [first]
            } else if nextSeq < writeSeq, let at = cursor {
                let (records, corrupt) = files.read(from: at, maxSamples: maxSamples - samples)
                // A batch held only in memory (its spool write failed) comes before the disk records after it.
                let memoryNext = memory.first.map(\.seq).flatMap { $0 >= nextSeq ? $0 : nil }
                var reachedMemory = false
                for record in records {
                    if let memoryNext, record.seq > memoryNext {
                        reachedMemory = true
                        break
                    }
                    cursor = record.end
                    guard record.seq >= nextSeq else { continue }
                    nextSeq = record.seq + 1
                    if let batch = try? BatchCodec.decode(record.payload) {
                        taken.append(Entry(seq: record.seq, batch: batch, enqueuedAt: .zero, end: record.end))
                    } else {
                        reportCorrupt("record \(record.seq) in the spool of \(name) does not decode")
                        backlogSamples -= record.samples
                        count(drop: "spool_corrupt", record.samples)
                    }
                }
                if reachedMemory, let memoryNext {
                    nextSeq = memoryNext
                } else if let corrupt {
                    reportCorrupt("\(files.path(corrupt.segment)) at byte \(corrupt.offset): unreadable record")
                    skipSegment(corrupt.segment, reason: "spool_corrupt")
                } else if records.isEmpty {
                    // Nothing more on disk: continue from memory (or stop).
                    let resync = memory.first?.seq ?? writeSeq
                    if resync == nextSeq { break }
                    nextSeq = resync
                    continue
                }
                purgeStaleMemory()
            } else {
                break
            }
            for entry in taken {
                if entry.batch.timestampNanos < oldestAllowed {
                    backlogSamples -= entry.batch.count
                    count(drop: "spool_expired", entry.batch.count)
                    continue
                }
                samples += entry.batch.count
                out.append(entry)
            }
        }
        return out
    }

    /// The batches were written (or dead-lettered): their disk space may go.
    public func acknowledge(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        queue.async { [self] in
            acknowledgeNow(entries)
            publish()
        }
    }

    private func acknowledgeNow(_ entries: [Entry]) {
        guard let lastSeq = entries.last?.seq else { return }
        backlogSamples -= entries.reduce(0) { $0 + $1.batch.count }
        ackedThrough = max(ackedThrough, lastSeq)
        dropAcknowledgedObligations()
        // Through the last entry on disk (a batch held only in memory has no place there).
        if let files, let last = entries.last(where: { $0.end != nil }), let end = last.end {
            files.acknowledge(through: end, seq: last.seq)
        }
    }

    /// No more offers; the worker drains what is left, then `take` returns empty.
    public func close() {
        queue.async { [self] in
            closed = true
            if let current = waiter {
                waiter = nil
                current.continuation.resume(returning: takeNow(current.max))
            }
        }
    }

    /// After the worker stopped: syncs and closes the spool. Returns the samples left undelivered (on disk with a
    /// spool, for the next start; without one they are dropped and counted as `shutdown`).
    @discardableResult
    public func finish() async -> Int {
        await queue.run { [self] in finishNow() }
    }

    private func finishNow() -> Int {
        do {
            let left = backlogSamples
            if let files {
                syncNow()
                files.closeFiles()
                self.files = nil
            } else if left > 0 {
                count(drop: "shutdown", left)
                memory.removeAll()
                memorySamples = 0
                backlogSamples = 0
            }
            publish()
            return left
        }
    }

    // MARK: Caps

    private func enforceCaps() {
        guard let files, let policy = spoolPolicy else { return }
        while files.totalBytes > policy.maxBytes, files.segments.count > 1 {
            dropFirstSegment(reason: "spool_full")
        }
        expireSegmentsIfDue()
    }

    private func expireSegmentsIfDue() {
        guard let files, let policy = spoolPolicy else { return }
        let now = clock.now
        guard now - lastExpiryCheck >= .seconds(1) || lastExpiryCheck == .zero else { return }
        lastExpiryCheck = now
        let oldestAllowed = clock.wallNanos - policy.maxAge.nanoseconds
        while files.segments.count > 1, let newest = files.segments.first?.records.last,
            newest.timestampNanos < oldestAllowed
        {
            dropFirstSegment(reason: "spool_expired")
        }
    }

    private func dropFirstSegment(reason: String) {
        guard let files, let segment = files.deleteFirst() else { return }
        var lost = 0
        for record in segment.records where record.seq >= nextSeq { lost += record.samples }
        if lost > 0 {
            backlogSamples -= lost
            count(drop: reason, lost)
        }
        moveReader(pastSegment: segment.id)
    }

    private func skipSegment(_ id: UInt64, reason: String) {
        guard let files else { return }
        if let segment = files.segments.first(where: { $0.id == id }) {
            var lost = 0
            for record in segment.records where record.seq >= nextSeq { lost += record.samples }
            if lost > 0 {
                backlogSamples -= lost
                count(drop: reason, lost)
            }
        }
        moveReader(pastSegment: id)
    }

    private func moveReader(pastSegment id: UInt64) {
        guard let files, let at = cursor, at.segment <= id else { return }
        let next = files.segments.first { $0.id > id }
        cursor = SpoolLocation(segment: next?.id ?? id + 1, offset: SpoolFiles.headerBytes)
        nextSeq = max(nextSeq, next?.records.first?.seq ?? writeSeq)
        purgeStaleMemory()
    }

    /// Memory entries behind the reader (only possible after a spool write failed) are lost with their segment.
    private func purgeStaleMemory() {
        while let first = memory.first, first.seq < nextSeq {
            memory.removeFirst()
            memorySamples -= first.batch.count
            if first.end == nil {
                backlogSamples -= first.batch.count
                count(drop: "spool_error", first.batch.count)
            }
        }
    }

    private func firstSeq(atOrAfter location: SpoolLocation) -> UInt64? {
        guard let files else { return nil }
        for segment in files.segments where segment.id >= location.segment {
            for record in segment.records where segment.id > location.segment || record.offset >= location.offset {
                return record.seq
            }
        }
        return nil
    }

    // MARK: Reporting

    private func count(drop reason: String, _ samples: Int) {
        guard samples > 0 else { return }
        stats.withLock { $0.dropped[reason, default: 0] += samples }
        events.dropped(reason, samples)
    }

    private func reportCorrupt(_ what: String) {
        corruptions += 1
        events.corrupt(what)
    }

    private func publish() {
        let spoolBytes = files?.pendingBytes ?? 0
        let now = clock.now
        if lastOldestCheck.map({ now - $0 >= .milliseconds(250) }) ?? true {
            lastOldestCheck = now
            oldestCached = files.flatMap { $0.oldestTimestamp(from: $0.ack) }
        }
        let oldest = oldestCached ?? memory.first?.batch.timestampNanos
        let snapshot = (backlogSamples, memorySamples, corruptions, syncedSamples)
        stats.withLock { s in
            s.backlogSamples = snapshot.0
            s.memorySamples = snapshot.1
            s.spoolBytes = spoolBytes
            s.oldestTimestampNanos = snapshot.0 > 0 ? oldest : nil
            s.corruptions = snapshot.2
            s.syncedSamples = snapshot.3
        }
    }
}
