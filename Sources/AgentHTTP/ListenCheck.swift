import Glibc

/// Binds the listen address once before the server starts, so "address in use" or "cannot assign" is a clear error
/// naming the address instead of a failure deep inside the server.
public enum ListenCheck {
    public struct Failure: Error, CustomStringConvertible {
        public var address: String
        public var reason: String
        public var description: String { "cannot listen on \(address): \(reason)" }
    }

    public static func check(host: String, port: Int) throws(Failure) {
        let isV6 = host.contains(":")
        let display = isV6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        let resolvedHost = host == "localhost" ? "127.0.0.1" : host
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(address: display, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if isV6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, resolvedHost, &addr.sin6_addr) == 1 else {
                throw Failure(address: display, reason: "not an IPv6 address")
            }
            rc = bindTo(fd, addr)
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, resolvedHost, &addr.sin_addr) == 1 else {
                throw Failure(address: display, reason: "not an IPv4 address")
            }
            rc = bindTo(fd, addr)
        }
        if rc != 0 { throw Failure(address: display, reason: String(cString: strerror(errno))) }
        if listen(fd, 1) != 0 { throw Failure(address: display, reason: String(cString: strerror(errno))) }
    }

    private static func bindTo<Address>(_ fd: Int32, _ address: Address) -> Int32 {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
    }
}
