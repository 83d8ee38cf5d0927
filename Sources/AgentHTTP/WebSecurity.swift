import CCrypt
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import NetPollerCore
import NetPollerRuntime
import Synchronization

/// What `web_config_file` asks of the port, held for the running server and replaced on SIGHUP: the TLS context each
/// new connection gets, the basic-auth users and the headers every response carries.
public final class WebSecurity: Sendable {
    struct State {
        var settings: WebSettings?
        var tls: NIOSSLContext?
        /// Verified (user, password) pairs, so a scrape does not pay bcrypt each time; cleared on every change.
        var verified: Set<String> = []
    }

    private let state = Mutex(State())
    /// bcrypt verifications running: bounded, so wrong passwords cannot take every core.
    private let verifying = Atomic<Int>(0)
    static let maxVerifying = 4
    static let maxVerifiedCache = 256

    public init() {}

    /// The TLS context `settings` needs (nil: plain HTTP); an error names the file or setting that is wrong.
    public static func context(_ settings: WebSettings?) throws -> NIOSSLContext? {
        guard let tls = settings?.tls else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = version(tls.minVersion) ?? .tlsv12
        configuration.maximumTLSVersion = tls.maxVersion.flatMap(version)
        if let ca = tls.clientCAFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        switch tls.clientAuth {
        case .noClientCert: configuration.certificateVerification = .none
        case .requestClientCert, .verifyClientCertIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAnyClientCert, .requireAndVerifyClientCert:
            configuration.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    static func version(_ name: String) -> TLSVersion? {
        switch name {
        case "TLS10": .tlsv1
        case "TLS11": .tlsv11
        case "TLS12": .tlsv12
        case "TLS13": .tlsv13
        default: nil
        }
    }

    /// Problems `check` reports: a certificate or key that does not load.
    public static func problems(_ settings: WebSettings?) -> [String] {
        do {
            _ = try context(settings)
            return []
        } catch {
            return ["\(settings?.file ?? "web_config_file"): tls_server_config: \(error)"]
        }
    }

    /// Applies new settings (start, SIGHUP). On a TLS error the old settings stay and the error is thrown.
    public func apply(_ settings: WebSettings?) throws {
        let context = try Self.context(settings)
        state.withLock { s in
            s.settings = settings
            s.tls = context
            s.verified.removeAll()
        }
    }

    var tlsContext: NIOSSLContext? { state.withLock { $0.tls } }
    var headers: [String: String] { state.withLock { $0.settings?.headers ?? [:] } }
    var isTLS: Bool { tlsContext != nil }

    enum Verdict { case ok, denied, busy }

    /// Checks `Authorization: Basic …` against `basic_auth_users`; `.ok` when no users are configured.
    func authorize(_ header: String?) async -> Verdict {
        let users = state.withLock { $0.settings?.basicAuthUsers ?? [:] }
        guard !users.isEmpty else { return .ok }
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return .denied }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        guard let hash = users[user]?.value else { return .denied }
        let key = "\(user)\u{0}\(password)\u{0}\(hash)"
        if state.withLock({ $0.verified.contains(key) }) { return .ok }
        guard verifying.add(1, ordering: .relaxed).newValue <= Self.maxVerifying else {
            verifying.subtract(1, ordering: .relaxed)
            return .busy
        }
        defer { verifying.subtract(1, ordering: .relaxed) }
        // bcrypt costs tens of milliseconds: never on an event loop.
        let ok = await DispatchQueue.global().run { np_crypt_verify(password, hash) == 1 }
        guard ok else { return .denied }
        state.withLock { s in
            if s.verified.count >= Self.maxVerifiedCache { s.verified.removeAll() }
            s.verified.insert(key)
        }
        return .ok
    }
}

/// Basic auth and the configured headers, on every route.
struct WebSecurityMiddleware<Context: RequestContext>: RouterMiddleware {
    let security: WebSecurity

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        switch await security.authorize(request.headers[.authorization]) {
        case .ok: response = try await next(request, context)
        case .denied:
            response = Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: "Basic realm=\"netpoller\"", .contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "unauthorized\n")))
        case .busy:
            response = Response(
                status: .serviceUnavailable, headers: [.retryAfter: "1", .contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "too many authentications in progress\n")))
        }
        for (name, value) in security.headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }
}

/// Each new connection takes the TLS context in force when it arrives (none: plain HTTP), so a reload that replaces
/// the certificate applies to the next connection without closing the port.
struct SecuredChannel<Base: HTTPChannelHandler>: HTTPChannelHandler {
    typealias Value = Base.Value
    let base: Base
    let security: WebSecurity

    var responder: HTTPChannelHandler.Responder { base.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let context = security.tlsContext else { return base.setup(channel: channel, logger: logger) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

/// Bodies: every endpoint is a GET, so a GET (or HEAD) with a body is answered 400 and closed, a chunked body (no
/// length announced) 411, and any request whose body passes `max_body_bytes` 413, each before the body is read.
final class RequestBodyGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let maxBody: Int
    private var received = 0
    private var refused = false

    init(maxBody: Int) { self.maxBody = maxBody }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            received = 0
            let length = request.headerFields[.contentLength].flatMap { Int($0) }
            let chunked = request.headerFields[.transferEncoding]?.lowercased().contains("chunked") ?? false
            let hasBody = (length ?? 0) > 0 || chunked
            if (request.method == .get || request.method == .head) && hasBody {
                refuse(context, .badRequest, "a GET takes no body\n")
                return
            }
            if chunked {
                refuse(context, .lengthRequired, "a body without Content-Length is not accepted\n")
                return
            }
            if let length, length > maxBody {
                refuse(context, .contentTooLarge, "the body is larger than max_body_bytes (\(maxBody))\n")
                return
            }
        case .body(let buffer):
            received += buffer.readableBytes
            if received > maxBody {
                refuse(context, .contentTooLarge, "the body is larger than max_body_bytes (\(maxBody))\n")
                return
            }
        case .end: break
        }
        context.fireChannelRead(data)
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ text: String) {
        refused = true
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = "text/plain"
        head.headerFields[.contentLength] = "\(text.utf8.count)"
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: text))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
