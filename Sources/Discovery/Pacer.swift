import Synchronization

/// The packet budget as a value: a token bucket that never refuses, it schedules. `reserve` takes the tokens at once
/// (the balance may go below zero) and answers how long the caller waits before sending, so callers are served in the
/// order they asked and no window of one second ever holds more than `rate + burst` packets.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    /// The most that may go out back to back (`rate / 100`, at least 1).
    public let burst: Double
    private var balance: Double
    private var updated: Double

    public init(rate: Int, now: Double) {
        self.rate = Double(rate)
        self.burst = max(1, Double(rate) / 100)
        self.balance = burst
        self.updated = now
    }

    /// Takes `packets` tokens at `now` (seconds); returns the seconds to wait before sending them.
    public mutating func reserve(_ packets: Int, now: Double) -> Double {
        if now > updated {
            balance = min(burst, balance + (now - updated) * rate)
            updated = now
        }
        balance -= Double(packets)
        return balance >= 0 ? 0 : -balance / rate
    }
}

/// The shared budget of one discovery run: every request and retry takes its tokens here before it is sent.
final class Pacer: Sendable {
    private let bucket: Mutex<TokenBucket>
    private let origin = ContinuousClock.now
    private let reserved = Atomic<Int>(0)

    init(rate: Int) { bucket = Mutex(TokenBucket(rate: rate, now: 0)) }

    /// Packets reserved so far (each counted once, SNMPv3 first contacts at their worst case).
    var packets: Int { reserved.load(ordering: .relaxed) }

    /// Waits until `packets` more may be sent.
    func take(_ packets: Int) async {
        reserved.add(packets, ordering: .relaxed)
        let elapsed = ContinuousClock.now - origin
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let wait = bucket.withLock { $0.reserve(packets, now: now) }
        if wait > 0 { try? await Task.sleep(until: origin + .seconds(now + wait), clock: .continuous) }
    }
}
