import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NetPollerCore

/// What the HTTP endpoint serves. Each handler reads state the pipeline already keeps: nothing polls on demand.
public struct HTTPHandlers: Sendable {
    /// The agent's own metrics (Prometheus text).
    public var metrics: @Sendable () -> [UInt8]
    /// Device samples for one device (nil: all); nil result means "no such device".
    public var devices: @Sendable (String?) -> [UInt8]?
    /// Liveness: ok and a short reason.
    public var health: @Sendable () -> (ok: Bool, reason: String)
    /// Readiness: ok and a short reason.
    public var ready: @Sendable () -> (ok: Bool, reason: String)
    /// `/status` as JSON.
    public var status: @Sendable () -> [UInt8]

    public init(
        metrics: @escaping @Sendable () -> [UInt8], devices: @escaping @Sendable (String?) -> [UInt8]?,
        health: @escaping @Sendable () -> (ok: Bool, reason: String),
        ready: @escaping @Sendable () -> (ok: Bool, reason: String), status: @escaping @Sendable () -> [UInt8]
    ) {
        self.metrics = metrics
        self.devices = devices
        self.health = health
        self.ready = ready
        self.status = status
    }
}

public enum AgentHTTPServer {
    static let prometheusType = "text/plain; version=0.0.4; charset=utf-8"

    /// The routes; `security` (basic auth, headers) runs before every one of them.
    public static func router(
        _ handlers: HTTPHandlers, security: WebSecurity = WebSecurity()
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(WebSecurityMiddleware(security: security))
        router.get("/metrics") { _, _ in
            body(handlers.metrics(), type: prometheusType)
        }
        router.get("/metrics/devices") { _, _ in
            body(handlers.devices(nil) ?? [], type: prometheusType)
        }
        router.get("/metrics/devices/:name") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let bytes = handlers.devices(name) else {
                return body(Array("no device named \(name)\n".utf8), type: "text/plain", status: .notFound)
            }
            return body(bytes, type: prometheusType)
        }
        router.get("/health") { _, _ in
            let (ok, reason) = handlers.health()
            return body(Array("\(reason)\n".utf8), type: "text/plain", status: ok ? .ok : .serviceUnavailable)
        }
        router.get("/ready") { _, _ in
            let (ok, reason) = handlers.ready()
            return body(Array("\(reason)\n".utf8), type: "text/plain", status: ok ? .ok : .serviceUnavailable)
        }
        router.get("/status") { _, _ in
            body(handlers.status(), type: "application/json")
        }
        return router
    }

    public static func application(
        host: String, port: Int, handlers: HTTPHandlers, logger: Logger, limits: HTTPLimits = HTTPLimits(),
        security: WebSecurity = WebSecurity(), onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let connections = ConnectionLimiter(maximum: limits.maxConnections, onEvict: limits.onEvict)
        let maxBody = limits.maxBodyBytes
        var channel = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ConnectionLimitHandler(limiter: connections), RequestBodyGuard(maxBody: maxBody),
            ],
            idleTimeout: .nanoseconds(limits.idleTimeout.nanoseconds))
        // The request line counts against both limits (NIO's decoder counts the URL as a header field).
        channel.httpDecoder = .init(
            maxHeaderFieldSize: limits.maxHeaderBytes, maxHeaderListSize: limits.maxHeaderBytes,
            maxHeaderFieldCount: 100)
        let configured = channel
        let router = router(handlers, security: security)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                SecuredChannel(base: HTTP1Channel(responder: responder, configuration: configured), security: security)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "netpoller"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    static func body(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: type],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
