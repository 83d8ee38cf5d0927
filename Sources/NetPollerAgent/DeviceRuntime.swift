import AgentConfig
import Foundation
import NetPollerCore
import SNMPPolling
import Synchronization

/// A device as the agent runs it: its config, the resolved target, and what earlier polls learned.
final class DeviceRuntime: Sendable {
    private struct State {
        var target: SNMPTarget?
        var resolvedAt: Date = .distantPast
        var sysObjectID: OID?
        var sequence: UInt64 = 0
        var tagReuse = TagReuse()
    }

    let config: DeviceConfig
    let credential: SNMPCredential
    private let state = Mutex(State())
    /// How long a resolved DNS name is used before it is looked up again.
    static let resolveEvery: TimeInterval = 300

    init(config: DeviceConfig, credential: SNMPCredential) {
        self.config = config
        self.credential = credential
    }

    var sysObjectID: OID? {
        get { state.withLock { $0.sysObjectID } }
        set { state.withLock { $0.sysObjectID = newValue } }
    }

    /// The target last resolved, if any (to close its session when the device goes away).
    var resolvedTarget: SNMPTarget? { state.withLock { $0.target } }

    /// Hands unchanged rows the previous poll's tags arrays (see `TagReuse`).
    func reuseTags(_ samples: inout [Sample]) {
        state.withLock { $0.tagReuse.apply(to: &samples) }
    }

    func nextSequence() -> UInt64 {
        state.withLock {
            $0.sequence += 1; return $0.sequence
        }
    }

    /// The numeric target; DNS names are resolved on a thread of their own (getaddrinfo blocks).
    func target() async throws(PollError) -> SNMPTarget {
        if let cached = state.withLock({ s in
            s.target.flatMap { Date().timeIntervalSince(s.resolvedAt) < Self.resolveEvery ? $0 : nil }
        }) {
            return cached
        }
        let address = config.address
        var peer: String
        switch address.family {
        case .ipv4: peer = "udp:\(address.host):\(address.port)"
        case .ipv6: peer = "udp6:[\(address.host)]:\(address.port)"
        case .dns:
            guard let resolved = await Resolver.resolve(address.host) else {
                throw PollError(.sessionFailed, "cannot resolve \(address.host)")
            }
            peer = resolved.contains(":") ? "udp6:[\(resolved)]:\(address.port)" : "udp:\(resolved):\(address.port)"
        }
        let target = SNMPTarget(
            peer: peer, version: credential.version == .v1 ? .v1 : .v2c, community: credential.community.value,
            timeout: config.timeout, retries: config.retries)
        state.withLock {
            $0.target = target
            $0.resolvedAt = Date()
        }
        return target
    }
}

/// getaddrinfo on a dedicated thread, so a slow DNS server never blocks the cooperative pool or the SNMP I/O thread.
enum Resolver {
    static func resolve(_ host: String) async -> String? {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                    continuation.resume(returning: nil)
                    return
                }
                defer { freeaddrinfo(result) }
                var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                let rc = getnameinfo(
                    first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                    NI_NUMERICHOST)
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                continuation.resume(returning: rc == 0 ? text : nil)
            }
            thread.start()
        }
    }
}
