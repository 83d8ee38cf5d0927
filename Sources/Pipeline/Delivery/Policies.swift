import NetPollerCore

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
    /// Disk spool; nil keeps data in memory only.
    public var spool: SpoolPolicy?
    /// Where rejected batches are written (JSON lines); nil logs and counts them only.
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

    /// The sink's own directory (under `[agent] state_dir`).
    public var directory: String
    public var fsync: Fsync = .interval(.seconds(1))
    /// Cap on spooled bytes; at the cap the oldest segment is dropped (`reason="spool_full"`).
    public var maxBytes: Int64 = 1 << 30
    /// Data older than this is dropped (`reason="spool_expired"`).
    public var maxAge: Duration = .seconds(72 * 3600)
    /// Size at which a segment file is closed and a new one started.
    public var segmentBytes: Int = 16 << 20

    public init(directory: String) {
        self.directory = directory
    }

    /// Segments small enough that dropping one at the cap loses only part of the spool.
    var effectiveSegmentBytes: Int { max(4096, min(segmentBytes, Int(maxBytes / 8))) }
}

/// Exponential backoff with equal jitter: the n-th consecutive failure waits between d/2 and d, d = initial·2ⁿ⁻¹
/// capped at `maximum`. Jitter keeps a fleet of agents from retrying a recovered database in lockstep.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var failures = 0

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// Records a failure and returns the delay before the next attempt; `random` is uniform in 0..<1.
    public mutating func nextDelay(random: Double) -> Duration {
        failures += 1
        var delay = initial
        var doublings = failures - 1
        while doublings > 0 && delay < maximum {
            delay = delay * 2
            doublings -= 1
        }
        delay = min(delay, maximum)
        return delay / 2 + delay * (0.5 * min(max(random, 0), 1))
    }

    public mutating func reset() { failures = 0 }
}

/// Opens after `threshold` consecutive failures; after `cooldown` lets one probe write through (half-open); a success
/// closes it, a failed probe opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        case open(until: Duration)
        case halfOpen
    }

    public enum Permit: Sendable, Equatable {
        case allowed
        case wait(until: Duration)
    }

    public let threshold: Int
    public let cooldown: Duration
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0

    public init(threshold: Int, cooldown: Duration) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    /// May a write go out now? An open circuit whose cooldown has passed turns half-open and allows one probe.
    public mutating func permit(now: Duration) -> Permit {
        switch state {
        case .closed, .halfOpen:
            return .allowed
        case .open(let until):
            if now >= until {
                state = .halfOpen
                return .allowed
            }
            return .wait(until: until)
        }
    }

    /// Returns true when this success closed an open or half-open circuit.
    public mutating func recordSuccess() -> Bool {
        consecutiveFailures = 0
        defer { state = .closed }
        return state != .closed
    }

    /// Returns true when this failure opened the circuit.
    public mutating func recordFailure(now: Duration) -> Bool {
        consecutiveFailures += 1
        switch state {
        case .halfOpen:
            state = .open(until: now + cooldown)
            return true
        case .closed where consecutiveFailures >= threshold:
            state = .open(until: now + cooldown)
            return true
        default:
            return false
        }
    }

    public var isOpen: Bool {
        if case .closed = state { return false }
        return true
    }
}

/// Decides when a write goes out: when it holds `maxSamples`, or when its oldest sample has waited `maxWait`.
public struct Batcher: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case flush
        case wait(until: Duration)
    }

    public let maxSamples: Int
    public let maxWait: Duration
    public private(set) var samples = 0
    public private(set) var oldest: Duration?

    public init(maxSamples: Int, maxWait: Duration) {
        self.maxSamples = max(1, maxSamples)
        self.maxWait = maxWait
    }

    /// Adds samples that entered the buffer at `enqueuedAt` and says what to do at `now`.
    public mutating func add(_ count: Int, enqueuedAt: Duration, now: Duration) -> Decision {
        samples += count
        oldest = min(oldest ?? enqueuedAt, enqueuedAt)
        return decide(now: now)
    }

    public func decide(now: Duration) -> Decision {
        guard let oldest else { return .wait(until: now + maxWait) }
        if samples >= maxSamples { return .flush }
        let deadline = oldest + maxWait
        return now >= deadline ? .flush : .wait(until: deadline)
    }

    /// Room left in this write.
    public var room: Int { max(0, maxSamples - samples) }

    public mutating func reset() {
        samples = 0
        oldest = nil
    }
}
