/// What to do when a sink cannot be reached at start (`on_start_unavailable`).
public enum StartPolicy: String, Sendable, Equatable {
    /// Start anyway: the sink is degraded, its data waits in the buffer and spool, writes are retried.
    case retry
    /// Refuse to start (`run` exits 69 naming the sink).
    case fail
}

/// How one sink is fed: batching, retries, circuit breaker, spool and dead letters (`[[outputs.*]]` common keys).
public struct DeliveryPolicy: Sendable, Equatable {
    /// Most samples per write.
    public var batchSize = 5000
    /// A write goes out when its oldest sample has waited this long, even if the batch is not full.
    public var flushInterval: Duration = .seconds(1)
    /// Samples held in memory for the sink; beyond it data waits on disk (spool) or the oldest is dropped (no spool).
    public var bufferSamples = 100_000
    /// A write that takes longer counts as a `timeout` failure and is retried.
    public var writeTimeout: Duration = .seconds(30)
    /// First retry delay; doubles per consecutive failure up to `retryBackoffMax`, with jitter.
    public var retryBackoff: Duration = .seconds(1)
    public var retryBackoffMax: Duration = .seconds(60)
    /// Consecutive failed writes that open the circuit.
    public var breakerFailures = 5
    /// How long an open circuit waits before one probe write (half-open).
    public var breakerCooldown: Duration = .seconds(30)
    /// While the circuit is open or a retry waits longer than this, the sink is probed this often (InfluxDB: an empty
    /// write, PostgreSQL: `SELECT 1`, file: open the file); the first probe that passes ends the wait.
    public var probeInterval: Duration = .seconds(2)
    /// Disk spool; nil keeps data in memory only.
    public var spool: SpoolPolicy?
    /// Where rejected batches are written (JSON lines); nil: the agent's default,
    /// `<state_dir>/dead-letter/<name>.jsonl`.
    public var deadLetterPath: String?

    public init() {}
}

/// The spool's settings (`[outputs.*.spool]`).
public struct SpoolPolicy: Sendable, Equatable {
    public enum Fsync: Sendable, Equatable {
        /// fdatasync after every appended batch: kill -9 loses nothing that reached the spool.
        case always
        /// fdatasync at most this long after a write: kill -9 loses at most this window.
        case interval(Duration)
    }

    /// The sink's own directory (`<state_dir>/spool/<name>`, set by the agent).
    public var directory: String
    public var fsync: Fsync = .interval(.seconds(1))
    /// Cap on spooled bytes; at the cap the oldest segment is dropped (`reason="spool_full"`).
    public var maxBytes: Int64 = 1 << 30
    /// Data older than this is dropped (`reason="spool_expired"`).
    public var maxAge: Duration = .seconds(72 * 3600)
    /// Size at which a segment file is closed and a new one started.
    public var segmentBytes: Int = 16 << 20

    public init(directory: String = "") {
        self.directory = directory
    }

    /// Segments small enough that dropping one at the cap loses only part of the spool.
    public var effectiveSegmentBytes: Int { max(4096, min(segmentBytes, Int(maxBytes / 8))) }
}
