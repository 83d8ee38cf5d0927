import NIOCore
import Synchronization

/// The HTTP port's limits (`[http]` keys); every one is explicit, so no client can take the agent's descriptors or
/// memory.
public struct HTTPLimits: Sendable {
    /// Connections served at once. A new connection beyond it closes the oldest one, so a flood of idle or slow
    /// clients can never lock out `/health` or a scrape: the newest connection always gets in.
    public var maxConnections = 256
    /// A connection without a complete request for this long is closed (idle keep-alive and slowloris alike).
    public var idleTimeout: Duration = .seconds(10)
    /// Request line plus headers of one request.
    public var maxHeaderBytes = 16 << 10
    /// Request body (`max_body_bytes`).
    public var maxBodyBytes = 64 << 10
    /// Called for each connection closed to make room.
    public var onEvict: @Sendable () -> Void = {}

    public init() {}
}

/// Counts the open connections in accept order and closes the oldest when a new one would pass the maximum.
final class ConnectionLimiter: Sendable {
    private struct State {
        var open: [ObjectIdentifier: (channel: any Channel, order: UInt64)] = [:]
        var next: UInt64 = 0
    }

    private let maximum: Int
    private let onEvict: @Sendable () -> Void
    private let state = Mutex(State())

    init(maximum: Int, onEvict: @escaping @Sendable () -> Void) {
        self.maximum = max(1, maximum)
        self.onEvict = onEvict
    }

    func admit(_ channel: any Channel) {
        let evicted = state.withLock { s -> (any Channel)? in
            s.next += 1
            s.open[ObjectIdentifier(channel)] = (channel, s.next)
            guard s.open.count > maximum, let oldest = s.open.min(by: { $0.value.order < $1.value.order }) else {
                return nil
            }
            s.open.removeValue(forKey: oldest.key)
            return oldest.value.channel
        }
        if let evicted {
            onEvict()
            evicted.close(promise: nil)
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var count: Int { state.withLock { $0.open.count } }
}

/// Registers each connection with the limiter while it is open.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    let limiter: ConnectionLimiter

    init(limiter: ConnectionLimiter) { self.limiter = limiter }

    func handlerAdded(context: ChannelHandlerContext) { limiter.admit(context.channel) }

    func handlerRemoved(context: ChannelHandlerContext) { limiter.remove(context.channel) }

    func channelInactive(context: ChannelHandlerContext) {
        limiter.remove(context.channel)
        context.fireChannelInactive()
    }
}
