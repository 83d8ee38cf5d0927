import CLibSSH2
import Foundation
import Glibc
import NetPollerCore

/// Monotonic nanoseconds.
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension Duration {
    var nanos: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// One device's SSH connection: a TCP socket, a libssh2 session in non-blocking mode and (in shell mode) one
/// interactive channel, driven as a state machine by its I/O thread. Every libssh2 call returns at once; on EAGAIN the
/// connection says which socket direction it waits for, and the thread's poll loop calls `advance` again when the
/// socket is ready or a deadline passes. Owned by one `SSHLoop`, which frees it; only that thread touches it.
final class SSHConnection {
    enum Phase {
        case closed
        case connecting
        case handshake
        case kexProbe
        case authList
        case auth
        case ready
    }

    /// A shell session's stage (mode = "shell").
    enum ShellStage {
        case open, pty, start, firstPrompt, enable, enablePassword, setup(Int), ready
    }

    /// One command on its own exec channel.
    final class ExecRun {
        enum Stage { case open, start, read, close, free, done }
        let index: Int
        let command: String
        var channel: OpaquePointer?
        var stage = Stage.open
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var deadline: Int64
        var result: CommandResult?

        init(index: Int, command: String, deadline: Int64) {
            self.index = index
            self.command = command
            self.deadline = deadline
        }
    }

    /// What `advance` wants next.
    enum Wait: Equatable {
        /// Nothing to do until a new job.
        case idle
        /// The socket, for these poll events (POLLIN, POLLOUT), or a deadline.
        case io(Int16)
        /// Output is arriving: read again at `gatherUntil`, not at every packet (see `gather`).
        case later
    }

    let device: String
    private(set) var target: SSHTarget
    private let counters: SSHCounters
    private(set) var phase = Phase.closed
    private(set) var socket: Int32 = -1
    private var session: OpaquePointer?
    /// The deadline of the current phase or command (monotonic ns); 0: none.
    private(set) var deadline: Int64 = 0
    private var jobs: [SSHJob] = []
    private var job: SSHJob?
    private var results: [CommandResult?] = []
    private var nextCommand = 0
    private var runs: [ExecRun] = []
    /// Authentication methods still to try, in order.
    private var authMethods: [String] = []
    private var authMethodsOffered: [String] = []
    // Shell mode.
    private var shell: OpaquePointer?
    private var shellStage = ShellStage.open
    private var shellBuffer: [UInt8] = []
    private var promptBase: [UInt8] = []
    private var pendingWrite: [UInt8] = []
    private var shellCommand: Int?
    // Reconnect backoff and what `/status` shows.
    private var backoffUntil: Int64 = 0
    private var backoff: Duration = .zero
    private var lastConnectError: PollError?
    private(set) var info = SSHConnectionInfo()
    private var lastUsed: Int64 = 0
    private var lastKeepalive: Int64 = 0
    /// The session was in use before this job: a dead socket found now is retried once on a new connection.
    private var reused = false
    private var retriedStale = false
    // KEXINIT probe after a failed key exchange.
    private var probeBuffer: [UInt8] = []
    private var probeSent = false
    private var probeError: PollError?

    /// After a read that got part of an output, the next read waits a moment (5 ms, doubling while the output keeps
    /// coming in pieces, at most 40 ms), so a device that sends its output line by line costs a few wake-ups per
    /// command instead of one per line. The end of an output is still found by EOF or the prompt, never by waiting: a
    /// command's end is seen at most one gather later than it arrives.
    static let gatherFirst: Int64 = 5_000_000
    static let gatherMax: Int64 = 40_000_000
    private var gather = SSHConnection.gatherFirst
    private(set) var gatherUntil: Int64 = 0

    /// The next gather interval: doubled each time output keeps arriving.
    private func nextGather() -> Int64 {
        let g = gather
        gather = min(gather * 2, Self.gatherMax)
        return g
    }
    private var readSinceWait = false
    /// The last shell read ended in EAGAIN: nothing more is buffered right now.
    private var drained = false

    /// Where reads land before they are appended (one per connection, reused).
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32768, alignment: 8)

    init(device: String, target: SSHTarget, counters: SSHCounters) {
        self.device = device
        self.target = target
        self.counters = counters
    }

    deinit {
        disconnect()
        readBuffer.deallocate()
    }

    var hasWork: Bool { job != nil || !jobs.isEmpty }

    func enqueue(_ job: SSHJob) {
        if !job.target.sameConnection(as: target) {
            if phase != .closed { disconnect() }
            backoffUntil = 0
            backoff = .zero
        }
        target = job.target
        jobs.append(job)
    }

    /// Ends the current and queued jobs with `error` (shutdown, release) and closes the connection.
    func cancelAll(_ error: PollError) {
        if let job {
            finishJob(job, failingRemainingWith: error)
        }
        for queued in jobs {
            queued.complete(SSHJobResult(results: queued.commands.map { _ in .failed(error) }, info: info))
        }
        jobs.removeAll()
        disconnect()
    }

    // MARK: The state machine

    /// Makes every step possible now; returns what to wait for next.
    func advance(now: Int64) -> Wait {
        gatherUntil = 0
        while true {
            if job == nil {
                guard !jobs.isEmpty else { return idleWait(now: now) }
                job = jobs.removeFirst()
                results = Array(repeating: nil, count: job!.commands.count)
                nextCommand = 0
                runs = []
                reused = phase == .ready
                retriedStale = false
                shellCommand = nil
            }
            if deadline != 0 && now >= deadline && phase != .ready && phase != .closed {
                phaseTimedOut()
                continue
            }
            switch phase {
            case .closed:
                if now < backoffUntil {
                    let wait = Double(backoffUntil - now) / 1e9
                    let reason = lastConnectError?.message ?? "the last connection failed"
                    failConnection(
                        PollError(
                            lastConnectError?.code ?? .connectFailed,
                            "\(reason) (reconnecting in \(String(format: "%.0f", wait.rounded(.up)))s)"),
                        backoff: false)
                    continue
                }
                if let error = startConnect(now: now) {
                    failConnection(error, backoff: true)
                    continue
                }
            case .connecting:
                var pfd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                guard poll(&pfd, 1, 0) > 0 else { return .io(Int16(POLLOUT)) }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length)
                if error != 0 {
                    failConnection(
                        PollError(
                            .connectFailed, "TCP connect to \(endpoint) failed: \(String(cString: strerror(error)))"),
                        backoff: true)
                    continue
                }
                guard let session = makeSession() else {
                    failConnection(
                        PollError(
                            .kexFailed,
                            "libssh2 could not create a session with the configured algorithms (\(offerSummary))"),
                        backoff: true)
                    continue
                }
                self.session = session
                phase = .handshake
            case .handshake:
                let rc = libssh2_session_handshake(session, libssh2_socket_t(socket))
                if rc == Int32(NP_SSH_EAGAIN) { return .io(directions) }
                if rc != 0 {
                    let message = lastError
                    if rc == Int32(NP_SSH_KEX_FAILURE) || message.lowercased().contains("no matching")
                        || message.lowercased().contains("exchange encryption keys")
                    {
                        startKexProbe(now: now, libssh2Message: message)
                        continue
                    }
                    failConnection(
                        PollError(.connectFailed, "SSH handshake with \(endpoint) failed: \(message)"), backoff: true)
                    continue
                }
                switch HostKeys.verify(session: session!, target: target) {
                case .refused(let error):
                    failConnection(error, backoff: true)
                    continue
                case .trusted(let fingerprint), .recorded(let fingerprint):
                    info.hostKey = fingerprint
                }
                phase = .authList
                deadline = now + target.authTimeout.nanos
            case .kexProbe:
                if let wait = advanceKexProbe() { return wait }
            case .authList:
                let user = target.credential.username
                let list = libssh2_userauth_list(session, user, UInt32(user.utf8.count))
                if list == nil {
                    if libssh2_userauth_authenticated(session) != 0 {
                        connected(now: now)
                        continue
                    }
                    if libssh2_session_last_errno(session) == Int32(NP_SSH_EAGAIN) { return .io(directions) }
                    failConnection(
                        PollError(.authFailed, "\(endpoint): no authentication methods: \(lastError)"), backoff: true)
                    continue
                }
                authMethodsOffered = String(cString: list!).split(separator: ",").map(String.init)
                authMethods = plannedAuthMethods(offered: authMethodsOffered)
                if authMethods.isEmpty {
                    failConnection(
                        PollError(
                            .authFailed,
                            "\(endpoint) offers authentication by \(authMethodsOffered.joined(separator: ", ")); credential \"\(target.credential.name)\" has \(configuredMethods.joined(separator: ", "))"
                        ), backoff: true)
                    continue
                }
                phase = .auth
            case .auth:
                let rc = tryAuthMethod(authMethods[0])
                if rc == Int32(NP_SSH_EAGAIN) { return .io(directions) }
                if rc == 0 {
                    connected(now: now)
                    continue
                }
                authMethods.removeFirst()
                if authMethods.isEmpty {
                    failConnection(
                        PollError(
                            .authFailed,
                            "\(endpoint) refused user \"\(target.credential.username)\" (tried \(plannedAuthMethods(offered: authMethodsOffered).joined(separator: ", ")))"
                        ), backoff: true)
                }
            case .ready:
                if let wait = target.mode == .shell ? advanceShell(now: now) : advanceExec(now: now) {
                    return wait
                }
            }
        }
    }

    /// The earliest deadline this connection has (phase, commands, idle close, keepalive); 0: none.
    func nextDeadline(now: Int64) -> Int64 {
        var next: Int64 = 0
        func consider(_ t: Int64) { if t != 0 && (next == 0 || t < next) { next = t } }
        if job != nil || !jobs.isEmpty {
            consider(deadline)
            consider(gatherUntil)
            for run in runs where run.stage != .done { consider(run.deadline) }
            if phase == .closed { consider(max(backoffUntil, now)) }
        } else if phase == .ready {
            consider(lastUsed + target.idleTimeout.nanos)
            if target.keepalive > .zero { consider(lastKeepalive + target.keepalive.nanos) }
        }
        return next
    }

    private func idleWait(now: Int64) -> Wait {
        guard phase == .ready else { return .idle }
        if now >= lastUsed + target.idleTimeout.nanos {
            disconnect()
            return .idle
        }
        if target.keepalive > .zero && now >= lastKeepalive + target.keepalive.nanos {
            var next: Int32 = 0
            let rc = libssh2_keepalive_send(session, &next)
            lastKeepalive = now
            if rc != 0 && rc != Int32(NP_SSH_EAGAIN) {
                disconnect()
                return .idle
            }
        }
        // An idle session is watched only for the peer going away.
        return .io(Int16(NP_POLLRDHUP))
    }

    /// The idle socket reported hang-up or an error: the peer closed it.
    func peerClosed() {
        guard job == nil, phase == .ready else { return }
        disconnect()
    }

    // MARK: Connecting

    private var endpoint: String { HostKeys.entryName(host: target.knownHostsName, port: target.port) }

    private var directions: Int16 {
        guard let session else { return Int16(POLLIN) }
        let d = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if d & Int32(Int32(NP_SSH_BLOCK_IN)) != 0 { events |= Int16(POLLIN) }
        if d & Int32(Int32(NP_SSH_BLOCK_OUT)) != 0 { events |= Int16(POLLOUT) }
        return events == 0 ? Int16(POLLIN) : events
    }

    private var lastError: String {
        guard let session else { return "no session" }
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        libssh2_session_last_error(session, &message, &length, 0)
        return message.map { String(cString: $0) } ?? "unknown error"
    }

    /// Opens a non-blocking TCP socket and starts connecting; an error if it cannot start.
    private func startConnect(now: Int64) -> PollError? {
        closeSocket()
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &list) == 0, let info = list else {
            return PollError(.connectFailed, "\(target.host) is not a numeric address")
        }
        defer { freeaddrinfo(list) }
        let fd = Glibc.socket(
            info.pointee.ai_family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return PollError(.connectFailed, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
        if rc != 0 && errno != EINPROGRESS {
            let error = String(cString: strerror(errno))
            close(fd)
            return PollError(.connectFailed, "TCP connect to \(endpoint) failed: \(error)")
        }
        socket = fd
        phase = .connecting
        deadline = now + target.connectTimeout.nanos
        self.info.connections += 1
        counters.connectionsOpened()
        return nil
    }

    private func makeSession() -> OpaquePointer? {
        guard let s = np_ssh_session_init() else { return nil }
        libssh2_session_set_blocking(s, 0)
        let algorithms = target.credential.algorithms
        // A list libssh2 knows nothing of is refused by it and would leave its (wider) defaults: never offer those.
        for (method, list) in [
            (LIBSSH2_METHOD_KEX, algorithms.kex), (LIBSSH2_METHOD_HOSTKEY, algorithms.hostKey),
            (LIBSSH2_METHOD_CRYPT_CS, algorithms.ciphers), (LIBSSH2_METHOD_CRYPT_SC, algorithms.ciphers),
            (LIBSSH2_METHOD_MAC_CS, algorithms.macs), (LIBSSH2_METHOD_MAC_SC, algorithms.macs),
        ] where libssh2_session_method_pref(s, method, list.joined(separator: ",")) != 0 {
            libssh2_session_free(s)
            return nil
        }
        libssh2_session_flag(s, LIBSSH2_FLAG_COMPRESS, 0)
        if target.keepalive > .zero {
            libssh2_keepalive_config(s, 0, UInt32(max(1, target.keepalive.components.seconds)))
        }
        return s
    }

    private var configuredMethods: [String] {
        var m: [String] = []
        if target.credential.privateKeyFile != nil { m.append("publickey") }
        if target.credential.password != nil { m.append(contentsOf: ["password", "keyboard-interactive"]) }
        return m
    }

    /// Key first, then password, then keyboard-interactive answered with the password; only what the server offers.
    private func plannedAuthMethods(offered: [String]) -> [String] {
        configuredMethods.filter { offered.contains($0) }
    }

    private func tryAuthMethod(_ method: String) -> Int32 {
        let user = target.credential.username
        let password = target.credential.password?.value
        switch method {
        case "publickey":
            let passphrase = target.credential.passphrase?.value
            return np_ssh_publickey(session, user, target.credential.privateKeyFile ?? "", passphrase)
        case "password":
            return np_ssh_password(session, user, password ?? "")
        default:
            // The password must stay valid while libssh2 may call back: this call only.
            return (password ?? "").withCString { np_ssh_kbdint(session, user, $0) }
        }
    }

    private func connected(now: Int64) {
        phase = .ready
        deadline = 0
        backoff = .zero
        backoffUntil = 0
        lastConnectError = nil
        info.state = "connected"
        info.connectedSince = Date().timeIntervalSince1970
        lastUsed = now
        lastKeepalive = now
        shellStage = .open
        shellBuffer = []
        promptBase = []
    }

    private func phaseTimedOut() {
        switch phase {
        case .connecting, .handshake:
            failConnection(
                PollError(
                    .connectFailed, "\(endpoint): no SSH connection within connect_timeout (\(target.connectTimeout))"),
                backoff: true)
        case .kexProbe:
            failConnection(probeError ?? PollError(.kexFailed, "key exchange with \(endpoint) failed"), backoff: true)
        case .authList, .auth:
            failConnection(
                PollError(
                    .authFailed, "\(endpoint): authentication not done within auth_timeout (\(target.authTimeout))"),
                backoff: true)
        case .closed, .ready:
            break
        }
    }

    /// The connection failed: every command of the current job fails with `error`, the session closes, and the next
    /// attempt waits for the backoff.
    private func failConnection(_ error: PollError, backoff arm: Bool) {
        disconnect()
        if arm {
            backoff = backoff == .zero ? target.reconnectBackoff : min(backoff * 2, target.reconnectBackoffMax)
            backoffUntil = monotonicNanos() + backoff.nanos
            lastConnectError = error
        }
        if backoffUntil > monotonicNanos() { info.state = "backoff" }
        if let job { finishJob(job, failingRemainingWith: error) }
    }

    // MARK: Key exchange probe

    /// libssh2 says only that key exchange failed: read the server's KEXINIT on a fresh connection to say why.
    private func startKexProbe(now: Int64, libssh2Message: String) {
        freeSession()
        closeSocket()
        probeBuffer = []
        probeSent = false
        probeError = PollError(
            .kexFailed, "key exchange with \(endpoint) failed (\(libssh2Message)); we offer \(offerSummary)")
        phase = .kexProbe
        // Reuse the TCP connect; the probe gets what is left of connect_timeout.
        if startConnect(now: now) != nil {
            failConnection(probeError!, backoff: true)
            return
        }
        info.connections -= 1
        phase = .kexProbe
    }

    private var offerSummary: String {
        let a = target.credential.algorithms
        return "kex [\(a.kex.joined(separator: ","))], host keys [\(a.hostKey.joined(separator: ","))]"
    }

    private func advanceKexProbe() -> Wait? {
        if !probeSent {
            var pfd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, 0) > 0 else { return .io(Int16(POLLOUT)) }
            let banner = Array("SSH-2.0-netpoller_probe\r\n".utf8)
            guard send(socket, banner, banner.count, Int32(MSG_NOSIGNAL)) == banner.count else {
                failConnection(probeError!, backoff: true)
                return nil
            }
            probeSent = true
        }
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(socket, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                probeBuffer.append(contentsOf: chunk[0..<n])
                if let offer = KexInit.parse(probeBuffer) {
                    failConnection(
                        PollError(
                            .kexFailed,
                            "key exchange with \(endpoint) failed: \(offer.mismatch(with: target.credential.algorithms))"
                        ),
                        backoff: true)
                    return nil
                }
                if probeBuffer.count > 300_000 {
                    failConnection(probeError!, backoff: true)
                    return nil
                }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .io(Int16(POLLIN)) }
            failConnection(probeError!, backoff: true)
            return nil
        }
    }

    // MARK: Exec mode

    /// Starts channels up to `max_channels`, steps each; nil when the job finished (go round again).
    private func advanceExec(now: Int64) -> Wait? {
        guard let job else { return .idle }
        while runs.filter({ $0.stage != .done }).count < max(1, target.maxChannels), nextCommand < job.commands.count {
            runs.append(
                ExecRun(
                    index: nextCommand, command: job.commands[nextCommand], deadline: now + target.commandTimeout.nanos)
            )
            nextCommand += 1
        }
        var waiting = false
        for run in runs where run.stage != .done {
            if now >= run.deadline {
                // The channel's state is unknown after a timeout: the whole connection goes (it is reopened at once).
                let error = PollError(
                    .commandTimeout,
                    "\"\(run.command)\": no end of output within command_timeout (\(target.commandTimeout))")
                results[run.index] = .failed(error)
                dropConnectionKeepingJob(.failed(error), retryable: false)
                return nil
            }
            switch stepExec(run) {
            case .wait: waiting = true
            case .progress: continue
            case .sessionBroken(let error):
                dropConnectionKeepingJob(.failed(error))
                return nil
            }
        }
        for run in runs where run.stage == .done && results[run.index] == nil { results[run.index] = run.result }
        runs.removeAll { $0.stage == .done }
        if runs.isEmpty && nextCommand >= job.commands.count {
            lastUsed = now
            finishJob(job, failingRemainingWith: PollError(.channelFailed, "not run"))
            return nil
        }
        if waiting && readSinceWait {
            readSinceWait = false
            gatherUntil = now + nextGather()
            return .later
        }
        if waiting { gather = Self.gatherFirst }
        return waiting ? .io(directions) : nil
    }

    enum Step {
        case wait
        case progress
        case sessionBroken(PollError)
    }

    private func isSessionError(_ rc: Int) -> Bool {
        rc == Int(LIBSSH2_ERROR_SOCKET_SEND) || rc == Int(LIBSSH2_ERROR_SOCKET_RECV)
            || rc == Int(LIBSSH2_ERROR_SOCKET_DISCONNECT) || rc == Int(LIBSSH2_ERROR_SOCKET_TIMEOUT)
            || rc == Int(LIBSSH2_ERROR_TIMEOUT) || rc == Int(LIBSSH2_ERROR_BAD_SOCKET)
            || rc == Int(LIBSSH2_ERROR_DECRYPT) || rc == Int(LIBSSH2_ERROR_PROTO)
    }

    private func stepExec(_ run: ExecRun) -> Step {
        let eagain = Int(Int32(NP_SSH_EAGAIN))
        while true {
            switch run.stage {
            case .open:
                guard let channel = np_ssh_channel_open(session) else {
                    let errno_ = Int(libssh2_session_last_errno(session))
                    if errno_ == eagain { return .wait }
                    if isSessionError(errno_) {
                        return .sessionBroken(PollError(.channelFailed, "\(endpoint): connection lost: \(lastError)"))
                    }
                    run.result = .failed(
                        PollError(.channelFailed, "\"\(run.command)\": the server refused a channel: \(lastError)"))
                    run.stage = .done
                    return .progress
                }
                run.channel = channel
                run.stage = .start
            case .start:
                let rc = Int(np_ssh_channel_exec(run.channel, run.command))
                if rc == eagain { return .wait }
                if rc != 0 {
                    if isSessionError(rc) {
                        return .sessionBroken(PollError(.channelFailed, "\(endpoint): connection lost: \(lastError)"))
                    }
                    run.result = .failed(
                        PollError(
                            .channelFailed, "\"\(run.command)\": exec refused (\(lastError)); try mode = \"shell\""))
                    run.stage = .close
                    continue
                }
                counters.commandsRun()
                info.commands += 1
                run.stage = .read
            case .read:
                switch readChannel(run) {
                case .wait: return .wait
                case .sessionBroken(let e): return .sessionBroken(e)
                case .progress:
                    if run.result == nil {
                        let status = libssh2_channel_get_exit_status(run.channel)
                        let out = String(decoding: ShellCLI.normalizeLineEnds(run.stdout), as: UTF8.self)
                        if status != 0 && run.stdout.isEmpty {
                            let err = String(decoding: run.stderr.prefix(300), as: UTF8.self)
                                .trimmingCharacters(in: .whitespacesAndNewlines)
                            run.result = .failed(
                                PollError(.channelFailed, "\"\(run.command)\" exited with status \(status): \(err)"))
                        } else if let rejection = ShellCLI.rejection(out) {
                            run.result = .failed(
                                PollError(.channelFailed, "\"\(run.command)\": the device rejected it: \(rejection)"))
                        } else {
                            run.result = .output(out)
                        }
                    }
                    run.stage = .close
                }
            case .close:
                let rc = Int(libssh2_channel_close(run.channel))
                if rc == eagain { return .wait }
                run.stage = .free
            case .free:
                let rc = Int(libssh2_channel_free(run.channel))
                if rc == eagain { return .wait }
                run.channel = nil
                run.stage = .done
                return .progress
            case .done:
                return .progress
            }
        }
    }

    /// Reads stdout and stderr until EAGAIN or EOF; `.progress` at EOF (or when the output cap ended it).
    private func readChannel(_ run: ExecRun) -> Step {
        let eagain = Int(Int32(NP_SSH_EAGAIN))
        let buffer = readBuffer
        while true {
            var gotData = false
            var blocked = 0
            for stream in [Int32(0), Int32(1)] {
                let n = np_ssh_channel_read(
                    run.channel, stream, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
                if n > 0 {
                    gotData = true
                    readSinceWait = true
                    counters.bytesRead(n)
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    if stream == 0 {
                        run.stdout.append(contentsOf: chunk)
                    } else if run.stderr.count < 65536 {
                        run.stderr.append(contentsOf: chunk)
                    }
                    if run.stdout.count > target.maxOutputBytes {
                        run.result = .failed(
                            PollError(
                                .channelFailed,
                                "\"\(run.command)\": output passed max_output_bytes (\(target.maxOutputBytes))"))
                        return .progress
                    }
                } else if n == eagain {
                    blocked += 1
                } else if n < 0 {
                    if isSessionError(n) {
                        return .sessionBroken(PollError(.channelFailed, "\(endpoint): connection lost: \(lastError)"))
                    }
                    run.result = .failed(PollError(.channelFailed, "\"\(run.command)\": read failed: \(lastError)"))
                    return .progress
                }
            }
            if libssh2_channel_eof(run.channel) != 0 && !gotData { return .progress }
            if !gotData && blocked > 0 { return .wait }
            if !gotData { return .wait }
        }
    }

    // MARK: Shell mode

    /// Opens the interactive shell once per connection (pty, prompt, enable, paging off), then runs the job's commands
    /// one by one, each ending at the prompt.
    private func advanceShell(now: Int64) -> Wait? {
        guard let job else { return .idle }
        let eagain = Int(Int32(NP_SSH_EAGAIN))
        if case .ready = shellStage {
        } else if deadline == 0 {
            deadline = now + target.commandTimeout.nanos
        }
        if deadline != 0 && now >= deadline {
            let what = shellCommand.map { "\"\(job.commands[$0])\"" } ?? "the shell's prompt"
            let error = PollError(
                .commandTimeout, "\(what): no prompt within command_timeout (\(target.commandTimeout))")
            dropConnectionKeepingJob(.failed(error), retryable: false)
            return nil
        }
        while true {
            switch shellStage {
            case .open:
                guard let channel = np_ssh_channel_open(session) else {
                    let e = Int(libssh2_session_last_errno(session))
                    if e == eagain { return .io(directions) }
                    dropConnectionKeepingJob(
                        .failed(PollError(.channelFailed, "\(endpoint): no shell channel: \(lastError)")))
                    return nil
                }
                shell = channel
                shellStage = .pty
            case .pty:
                let rc = Int(np_ssh_channel_pty(shell))
                if rc == eagain { return .io(directions) }
                if rc != 0 {
                    dropConnectionKeepingJob(
                        .failed(PollError(.channelFailed, "\(endpoint): pty refused: \(lastError)")))
                    return nil
                }
                shellStage = .start
            case .start:
                let rc = Int(np_ssh_channel_shell(shell))
                if rc == eagain { return .io(directions) }
                if rc != 0 {
                    dropConnectionKeepingJob(
                        .failed(PollError(.channelFailed, "\(endpoint): shell refused: \(lastError)")))
                    return nil
                }
                shellStage = .firstPrompt
                shellBuffer = []
            case .firstPrompt:
                if let wait = pumpShell() { return wait }
                guard let base = ShellCLI.detectPrompt(shellBuffer) else {
                    if let wait = readMore() { return wait }
                    continue
                }
                promptBase = base
                if target.credential.enablePassword != nil || target.credential.enable,
                    ShellCLI.hasEnable(platform: target.platform),
                    ShellCLI.promptTerminator(shellBuffer) == UInt8(ascii: ">")
                {
                    shellBuffer = []
                    pendingWrite = Array("enable\n".utf8)
                    shellStage = .enable
                } else {
                    beginSetup(0)
                }
            case .enable:
                if let wait = pumpShell() { return wait }
                if ShellCLI.endsWithPasswordPrompt(shellBuffer) {
                    guard let password = target.credential.enablePassword else {
                        dropConnectionKeepingJob(
                            .failed(
                                PollError(.authFailed, "\(endpoint): enable asks for a password; set enable_password")))
                        return nil
                    }
                    shellBuffer = []
                    pendingWrite = Array((password.value + "\n").utf8)
                    shellStage = .enablePassword
                    continue
                }
                if ShellCLI.endsWithPrompt(shellBuffer, base: promptBase) {
                    if ShellCLI.promptTerminator(shellBuffer) == UInt8(ascii: "#") {
                        beginSetup(0)
                        continue
                    }
                    dropConnectionKeepingJob(.failed(PollError(.authFailed, "\(endpoint): enable was refused")))
                    return nil
                }
                if let wait = readMore() { return wait }
            case .enablePassword:
                if let wait = pumpShell() { return wait }
                if ShellCLI.endsWithPrompt(shellBuffer, base: promptBase) {
                    if ShellCLI.promptTerminator(shellBuffer) == UInt8(ascii: "#") {
                        beginSetup(0)
                        continue
                    }
                    dropConnectionKeepingJob(
                        .failed(PollError(.authFailed, "\(endpoint): enable password refused (prompt stayed at >)")))
                    return nil
                }
                if ShellCLI.endsWithPasswordPrompt(shellBuffer) {
                    dropConnectionKeepingJob(.failed(PollError(.authFailed, "\(endpoint): enable password refused")))
                    return nil
                }
                if let wait = readMore() { return wait }
            case .setup(let i):
                if let wait = pumpShell() { return wait }
                if ShellCLI.endsWithPrompt(shellBuffer, base: promptBase) {
                    beginSetup(i + 1)
                    continue
                }
                if let wait = readMore() { return wait }
            case .ready:
                if shellCommand == nil {
                    guard nextCommand < job.commands.count else {
                        lastUsed = now
                        deadline = 0
                        finishJob(job, failingRemainingWith: PollError(.channelFailed, "not run"))
                        return nil
                    }
                    shellCommand = nextCommand
                    nextCommand += 1
                    shellBuffer = []
                    pendingWrite = Array((job.commands[shellCommand!] + "\n").utf8)
                    deadline = now + target.commandTimeout.nanos
                    counters.commandsRun()
                    info.commands += 1
                }
                if let wait = pumpShell() { return wait }
                if let start = ShellCLI.pagerStart(shellBuffer) {
                    // Paging is still on (the device ignored the paging-off command): answer it, keep the output.
                    shellBuffer.removeSubrange(start...)
                    pendingWrite = Array(" ".utf8)
                    info.pagerAnswers += 1
                    counters.pagerAnswered()
                    continue
                }
                if shellBuffer.count > target.maxOutputBytes {
                    let command = job.commands[shellCommand!]
                    dropConnectionKeepingJob(
                        .failed(
                            PollError(
                                .channelFailed,
                                "\"\(command)\": output passed max_output_bytes (\(target.maxOutputBytes))")))
                    return nil
                }
                // The prompt ends the output only after the echoed command line (the echo may hold a prompt).
                if shellBuffer.contains(0x0A), ShellCLI.endsWithPrompt(shellBuffer, base: promptBase) {
                    let index = shellCommand!
                    let output = ShellCLI.cleanOutput(shellBuffer, command: job.commands[index])
                    if let rejection = ShellCLI.rejection(output) {
                        results[index] = .failed(
                            PollError(
                                .channelFailed, "\"\(job.commands[index])\": the device rejected it: \(rejection)"))
                    } else {
                        results[index] = .output(output)
                    }
                    shellCommand = nil
                    shellBuffer = []
                    deadline = 0
                    continue
                }
                if let wait = readMore() { return wait }
            }
        }
    }

    private func beginSetup(_ index: Int) {
        let commands = ShellCLI.setupCommands(platform: target.platform)
        shellBuffer = []
        if index < commands.count {
            pendingWrite = Array((commands[index] + "\n").utf8)
            shellStage = .setup(index)
        } else {
            shellStage = .ready
            deadline = 0
        }
    }

    /// Writes what is pending; a wait while the channel cannot take it, nil once written.
    private func pumpShell() -> Wait? {
        while !pendingWrite.isEmpty {
            let n = pendingWrite.withUnsafeBytes {
                np_ssh_channel_write(shell, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
            }
            if n == Int(Int32(NP_SSH_EAGAIN)) { return .io(directions) }
            if n < 0 {
                dropConnectionKeepingJob(
                    .failed(PollError(.channelFailed, "\(endpoint): shell write failed: \(lastError)")))
                return .io(0)
            }
            pendingWrite.removeFirst(n)
        }
        return nil
    }

    /// Reads what the shell has sent; a wait when there is nothing yet, nil when something arrived.
    private func readMore() -> Wait? {
        // The last read emptied the socket and the output has not ended: gather before the next one.
        if drained && readSinceWait {
            drained = false
            readSinceWait = false
            gatherUntil = monotonicNanos() + nextGather()
            return .later
        }
        drained = false
        // Everything the channel has now, then one look at the end of it (prompt, pager).
        var got = 0
        var n = 0
        repeat {
            n = np_ssh_channel_read(
                shell, 0, readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self), readBuffer.count)
            if n > 0 {
                got += n
                shellBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            }
        } while n > 0 && shellBuffer.count <= target.maxOutputBytes
        if got > 0 {
            counters.bytesRead(got)
            readSinceWait = true
            drained = n == Int(Int32(NP_SSH_EAGAIN))
            return nil
        }
        if n == Int(Int32(NP_SSH_EAGAIN)) && readSinceWait {
            readSinceWait = false
            gatherUntil = monotonicNanos() + nextGather()
            return .later
        }
        if n == Int(Int32(NP_SSH_EAGAIN)) || (n == 0 && libssh2_channel_eof(shell) == 0) {
            gather = Self.gatherFirst
            return .io(directions)
        }
        let message = n == 0 ? "the device closed the shell" : "shell read failed: \(lastError)"
        dropConnectionKeepingJob(.failed(PollError(.channelFailed, "\(endpoint): \(message)")))
        return .io(0)
    }

    // MARK: Ending

    /// A session-level failure during a job: the connection goes; commands not done fail with `error`, and the next
    /// poll reconnects at once (no backoff: the connection worked).
    private func dropConnectionKeepingJob(_ result: CommandResult, retryable: Bool = true) {
        let nothingDone = results.allSatisfy { if case .none = $0 { true } else { false } }
        if retryable && reused && !retriedStale && nothingDone && job != nil {
            // A connection that died while idle (the device closed it, a firewall forgot it): once, at once, anew.
            retriedStale = true
            reconnectForRetry()
            return
        }
        disconnect()
        guard let job else { return }
        let error: PollError
        if case .failed(let e) = result { error = e } else { error = PollError(.channelFailed, "connection lost") }
        if let current = shellCommand, results[current] == nil { results[current] = .failed(error) }
        finishJob(job, failingRemainingWith: error)
    }

    /// Reconnects at once for the same job (a connection that died while idle).
    private func reconnectForRetry() {
        disconnect()
        for run in runs { results[run.index] = nil }
        runs.removeAll()
        nextCommand = 0
        shellCommand = nil
        results = results.map { _ in nil }
    }

    private func finishJob(_ job: SSHJob, failingRemainingWith error: PollError) {
        let final = results.map { $0 ?? .failed(error) }
        self.job = nil
        runs.removeAll()
        results = []
        shellCommand = nil
        job.complete(SSHJobResult(results: final, info: info))
    }

    private func freeSession() {
        if let shell {
            libssh2_channel_free(shell)
            self.shell = nil
        }
        for run in runs {
            if let channel = run.channel { libssh2_channel_free(channel) }
            run.channel = nil
        }
        if let session {
            // Best effort in non-blocking mode: a goodbye if the socket takes it now, then the session is freed.
            _ = np_ssh_disconnect(session)
            libssh2_session_free(session)
            self.session = nil
        }
    }

    private func closeSocket() {
        if socket >= 0 {
            close(socket)
            socket = -1
        }
    }

    /// Frees the session and closes the socket; the connection is `closed`.
    func disconnect() {
        freeSession()
        closeSocket()
        phase = .closed
        deadline = 0
        shellStage = .open
        shellBuffer = []
        pendingWrite = []
        info.state = "disconnected"
        info.connectedSince = nil
    }
}
