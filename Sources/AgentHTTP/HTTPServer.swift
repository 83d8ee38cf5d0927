import Glibc
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NetPollerCore
import ServiceLifecycle

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

    /// The HTTP server as one service. Not Hummingbird's `Application`: that one also runs a date cache that wakes
    /// every second (a timer, task hops and a merge of async sequences) to keep the `Date` header current. Scrapes
    /// come every 15-60 s, so each response formats its own date (a microsecond) and the agent sleeps in between.
    public static func service(
        host: String, port: Int, handlers: HTTPHandlers, logger: Logger, limits: HTTPLimits = HTTPLimits(),
        security: WebSecurity = WebSecurity(), onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> any Service {
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
        let responder = router(handlers, security: security).buildResponder()
        let builder = HTTPServerBuilder { responder in
            SecuredChannel(base: HTTP1Channel(responder: responder, configuration: configured), security: security)
        }
        return try builder.buildServer(
            configuration: .init(address: .hostname(host, port: port), serverName: "netpoller"),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger
        ) { request, responseWriter, channel in
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = HTTPDate.now()
            response.headers[.server] = "netpoller"
            // A failed write ends the connection.
            try await responseWriter.write(response: response.head, body: response.body)
        } onServerRunning: { channel in
            await onRunning(channel.localAddress?.port ?? port)
        }
    }

    static func body(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: type],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// The `Date` header's format (RFC 9110 5.6.7, IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String { format(unixSeconds: time(nil)) }

    static func format(unixSeconds: Int) -> String {
        var seconds = time_t(unixSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
