import CCurl
import Foundation
import NetPollerCore

/// One libcurl easy handle, reused for every request so the connection stays alive. Not thread-safe: it is owned by
/// one `InfluxWriter`, which only runs on its sink's own thread; `deinit` is the single place that frees it.
final class CurlHandle {
    struct Response {
        var status: Int
        var body: [UInt8]
        var retryAfter: Duration?
        var text: String { String(decoding: body.prefix(4096), as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        var code: CURLcode
        var message: String
        var description: String { message }
    }

    /// What the C callbacks fill in during one request.
    final class Exchange {
        var body: [UInt8] = []
        var retryAfter: Duration?
    }

    /// `curl_global_init` once per process, before the first handle.
    /// What POSTFIELDS points at when there is no body (and after a request: no dangling pointer).
    private static let empty: StaticString = ""
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    private let handle: UnsafeMutableRawPointer
    private var headers: UnsafeMutablePointer<curl_slist>?

    init(options: InfluxOptions, headers lines: [String]) throws(Failure) {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else {
            throw Failure(code: CURLE_FAILED_INIT, message: "libcurl: cannot create a handle")
        }
        self.handle = handle
        for line in lines { headers = curl_slist_append(headers, line) }
        var failure: Failure?
        func set(_ option: CURLoption, _ value: Int) {
            let code = np_curl_setopt_long(handle, option, value)
            if code != CURLE_OK, failure == nil { failure = Self.failure(code) }
        }
        func set(_ option: CURLoption, _ value: String) {
            let code = value.withCString { np_curl_setopt_ptr(handle, option, $0) }  // libcurl copies strings
            if code != CURLE_OK, failure == nil { failure = Self.failure(code) }
        }
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_TIMEOUT_MS, Int(options.timeout.seconds * 1000))
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout.seconds * 1000))
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_USERAGENT, "netpoller/\(SelfMetrics.version)")
        set(CURLOPT_POST, 1)
        // A body goes out in pieces of this size (libcurl's default is 64 KiB): fewer, larger sends cost less CPU.
        set(CURLOPT_UPLOAD_BUFFERSIZE, 1 << 20)
        if let ca = options.tlsCAFile { set(CURLOPT_CAINFO, ca) }
        if let cert = options.tlsCertFile { set(CURLOPT_SSLCERT, cert) }
        if let key = options.tlsKeyFile { set(CURLOPT_SSLKEY, key) }
        if options.insecureSkipVerify {
            set(CURLOPT_SSL_VERIFYPEER, 0)
            set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if options.api == .v1, let username = options.username {
            set(CURLOPT_HTTPAUTH, Int(NP_CURLAUTH_BASIC))
            set(CURLOPT_USERNAME, username)
            set(CURLOPT_PASSWORD, options.password ?? "")
        }
        if let headers { _ = np_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers) }
        _ = np_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, Self.onBody)
        _ = np_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, Self.onHeader)
        if let failure {
            curl_slist_free_all(headers)
            curl_easy_cleanup(handle)
            throw failure
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headers)
    }

    /// POSTs `body` to `url` and returns the answer (any status); throws on a transport failure.
    func post(_ url: String, body: [UInt8]) throws(Failure) -> Response {
        try body.withUnsafeBytes { raw in Result { () throws(Failure) in try post(url, body: raw) } }.get()
    }

    /// POSTs `body` (not copied: it must stay valid until this returns) and returns the answer.
    func post(_ url: String, body: UnsafeRawBufferPointer) throws(Failure) -> Response {
        let exchange = Exchange()
        let context = Unmanaged.passRetained(exchange)
        defer { context.release() }
        _ = np_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context.toOpaque())
        _ = np_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context.toOpaque())
        _ = url.withCString { np_curl_setopt_ptr(handle, CURLOPT_URL, $0) }
        // POSTFIELDS does not copy: the body stays alive (and unmoved) until curl_easy_perform returns.
        // Never a null POSTFIELDS: libcurl would read the body from its read callback (stdin) instead.
        _ = np_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
        _ = np_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafeRawPointer(Self.empty.utf8Start))
        let code = curl_easy_perform(handle)
        _ = np_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, UnsafeRawPointer(Self.empty.utf8Start))
        guard code == CURLE_OK else { throw Self.failure(code) }
        var status = 0
        _ = np_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return Response(status: status, body: exchange.body, retryAfter: exchange.retryAfter)
    }

    static func failure(_ code: CURLcode) -> Failure {
        Failure(code: code, message: "libcurl: " + String(cString: curl_easy_strerror(code)))
    }

    private static let onBody: np_curl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        if exchange.body.count < 1 << 20 {
            data.withMemoryRebound(to: UInt8.self, capacity: n) {
                exchange.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n))
            }
        }
        return n
    }

    private static let onHeader: np_curl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        // Every answer brings several headers and only one matters: read the bytes, make no string of the others.
        data.withMemoryRebound(to: UInt8.self, capacity: n) { start in
            let line = UnsafeBufferPointer(start: start, count: n)
            // A new response (after a redirect or a 100 Continue) starts over.
            if line.starts(with: "HTTP/".utf8) { exchange.retryAfter = nil }
            guard let seconds = retryAfterSeconds(line) else { return }
            exchange.retryAfter = .seconds(min(seconds, 3600))
        }
        return n
    }

    /// The seconds of a `Retry-After: <seconds>` header line (any case; an HTTP date is not taken), else nil.
    static func retryAfterSeconds(_ line: UnsafeBufferPointer<UInt8>) -> Int? {
        let name = "retry-after:".utf8
        guard line.count > name.count,
            zip(line, name).allSatisfy({
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 | 0x20 == $1 : $0 == $1
            })
        else { return nil }
        let value = line[name.count...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let digits = value.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        let rest = value.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 9,
            rest.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == 13 || $0 == 10 })
        else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
