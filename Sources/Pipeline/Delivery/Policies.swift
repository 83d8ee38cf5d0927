import NetPollerCore

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

    /// A cheap probe of the sink passed while the circuit was open: the next write goes out at once (half-open), without
    /// waiting out the rest of the cooldown.
    public mutating func probePassed() {
        if case .open = state { state = .halfOpen }
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
