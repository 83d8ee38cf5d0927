import Foundation

/// A simulated device for discovery tests: its recording is written from these fields and served by its own snmpsim
/// on each of its loopback addresses (one process per device: snmpsim selects a recording by community, not by the
/// address asked).
public struct SimulatedDevice: Sendable {
    public struct LLDPRow: Sendable {
        public var localPort: Int
        public var localName: String
        public var remoteName: String
        public var remotePort: String
        public var remoteChassis: String
        public var management: String?

        public init(
            localPort: Int, localName: String, remoteName: String, remotePort: String, remoteChassis: String,
            management: String?
        ) {
            self.localPort = localPort
            self.localName = localName
            self.remoteName = remoteName
            self.remotePort = remotePort
            self.remoteChassis = remoteChassis
            self.management = management
        }
    }

    public struct CDPRow: Sendable {
        public var ifIndex: Int
        public var ifName: String
        public var deviceID: String
        public var port: String
        public var address: String?

        public init(ifIndex: Int, ifName: String, deviceID: String, port: String, address: String?) {
            self.ifIndex = ifIndex
            self.ifName = ifName
            self.deviceID = deviceID
            self.port = port
            self.address = address
        }
    }

    public var addresses: [String]
    public var community = "public"
    public var sysName: String
    public var sysObjectID: String
    public var sysDescr: String
    /// snmpEngineID in hex; nil: the device has none.
    public var engineID: String?
    public var serial: String?
    /// lldpLocChassisId in hex.
    public var chassisID: String?
    /// Listed in ipAddrTable (default: `addresses`).
    public var ownAddresses: [String]?
    public var lldp: [LLDPRow] = []
    public var cdp: [CDPRow] = []

    public init(addresses: [String], sysName: String, sysObjectID: String, sysDescr: String) {
        self.addresses = addresses
        self.sysName = sysName
        self.sysObjectID = sysObjectID
        self.sysDescr = sysDescr
    }

    /// The snmprec recording, sorted by OID.
    public var recording: String {
        var rows: [(oid: [UInt32], line: String)] = []
        func add(_ oid: String, _ tag: String, _ value: String) {
            rows.append((oid.split(separator: ".").map { UInt32($0)! }, "\(oid)|\(tag)|\(value)"))
        }
        func hexOf(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
        func ipHex(_ address: String) -> String {
            address.split(separator: ".").map { String(format: "%02x", Int($0)!) }.joined()
        }
        add("1.3.6.1.2.1.1.1.0", "4", sysDescr)
        add("1.3.6.1.2.1.1.2.0", "6", sysObjectID)
        add("1.3.6.1.2.1.1.3.0", "67", "123456")
        add("1.3.6.1.2.1.1.5.0", "4", sysName)
        add("1.3.6.1.2.1.2.1.0", "2", "\(max(1, cdp.count + lldp.count))")
        for address in ownAddresses ?? addresses {
            add("1.3.6.1.2.1.4.20.1.1.\(address)", "64", address)
        }
        if let serial {
            add("1.3.6.1.2.1.47.1.1.1.1.5.1", "2", "3")
            add("1.3.6.1.2.1.47.1.1.1.1.5.2", "2", "10")
            add("1.3.6.1.2.1.47.1.1.1.1.11.1", "4", serial)
            add("1.3.6.1.2.1.47.1.1.1.1.11.2", "4", "PSU-\(serial)")
        }
        if let engineID { add("1.3.6.1.6.3.10.2.1.1.0", "4x", engineID) }
        if let chassisID { add("1.0.8802.1.1.2.1.3.2.0", "4x", chassisID) }
        for row in lldp {
            add("1.0.8802.1.1.2.1.3.7.1.3.\(row.localPort)", "4", row.localName)
            add("1.0.8802.1.1.2.1.3.7.1.4.\(row.localPort)", "4", "uplink \(row.localName)")
            let index = "0.\(row.localPort).1"
            add("1.0.8802.1.1.2.1.4.1.1.4.\(index)", "2", "4")
            add("1.0.8802.1.1.2.1.4.1.1.5.\(index)", "4x", row.remoteChassis)
            add("1.0.8802.1.1.2.1.4.1.1.6.\(index)", "2", "5")
            add("1.0.8802.1.1.2.1.4.1.1.7.\(index)", "4x", hexOf(row.remotePort))
            add("1.0.8802.1.1.2.1.4.1.1.8.\(index)", "4", "port \(row.remotePort)")
            add("1.0.8802.1.1.2.1.4.1.1.9.\(index)", "4", row.remoteName)
            if let management = row.management {
                add("1.0.8802.1.1.2.1.4.2.1.3.\(index).1.4.\(management)", "2", "2")
                add("1.0.8802.1.1.2.1.4.2.1.4.\(index).1.4.\(management)", "2", "1")
            }
        }
        for row in cdp {
            add("1.3.6.1.2.1.2.2.1.2.\(row.ifIndex)", "4", row.ifName)
            add("1.3.6.1.2.1.31.1.1.1.1.\(row.ifIndex)", "4", row.ifName)
            add("1.3.6.1.4.1.9.9.23.1.2.1.1.3.\(row.ifIndex).1", "2", "1")
            if let address = row.address { add("1.3.6.1.4.1.9.9.23.1.2.1.1.4.\(row.ifIndex).1", "4x", ipHex(address)) }
            add("1.3.6.1.4.1.9.9.23.1.2.1.1.6.\(row.ifIndex).1", "4", row.deviceID)
            add("1.3.6.1.4.1.9.9.23.1.2.1.1.7.\(row.ifIndex).1", "4", row.port)
        }
        rows.sort { $0.oid.lexicographicallyPrecedes($1.oid) }
        return rows.map(\.line).joined(separator: "\n") + "\n"
    }
}

extension Lab {
    /// One snmpsim per device, listening on each of its addresses at `port` (all on loopback).
    public static func startSimulatedDevices(_ devices: [SimulatedDevice], port: Int) async throws -> [LabProcess] {
        guard let responder = which("snmpsim-command-responder") else {
            throw LabError.notFound("snmpsim-command-responder")
        }
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        let group = String(cString: getgrgid(getgid()).pointee.gr_name)
        var labs: [LabProcess] = []
        for device in devices {
            precondition(device.addresses.allSatisfy { $0.hasPrefix("127.") }, "simulated devices live on loopback")
            let dir = try temporaryDirectory("snmpsim-\(device.sysName)")
            let data = dir.appendingPathComponent("data")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try device.recording.write(
                to: data.appendingPathComponent("\(device.community).snmprec"), atomically: true, encoding: .utf8)
            let process = try launch(
                responder,
                ["--data-dir=\(data.path)"] + device.addresses.map { "--agent-udpv4-endpoint=\($0):\(port)" } + [
                    "--cache-dir=\(dir.appendingPathComponent("cache").path)", "--process-user=\(user)",
                    "--process-group=\(group)",
                ],
                environment: ["SNMPSIM_ALLOW_ROOT": "true"], log: dir.appendingPathComponent("snmpsim.log"))
            labs.append(LabProcess(process: process, port: port, directory: dir))
        }
        for device in devices {
            for address in device.addresses {
                try await waitForSNMP(address: address, port: port, community: device.community, seconds: 60)
            }
        }
        return labs
    }

    /// An snmpd that answers SNMPv3 only (user `user`, SHA/AES authPriv) on `address`:`port`, with no address tables
    /// in its view (they would list this host's real interfaces).
    public static func startSnmpdV3Only(
        address: String, port: Int, user: String, authPassword: String, privPassword: String, sysName: String
    ) async throws -> LabProcess {
        guard let snmpd = which("snmpd", ["/usr/sbin/snmpd"]) else { throw LabError.notFound("snmpd") }
        precondition(address.hasPrefix("127."))
        let dir = try temporaryDirectory("snmpd-v3")
        let configDir = dir.appendingPathComponent("conf")
        let stateDir = dir.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: configDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true)
        let config = """
            agentaddress udp:\(address):\(port)
            createUser \(user) SHA \(authPassword) AES \(privPassword)
            view discovery included .1
            view discovery excluded .1.3.6.1.2.1.4.20
            view discovery excluded .1.3.6.1.2.1.4.34
            view discovery excluded .1.3.6.1.2.1.47
            rouser \(user) priv -V discovery
            sysName \(sysName)
            """
        try config.write(to: configDir.appendingPathComponent("snmpd.conf"), atomically: true, encoding: .utf8)
        let process = try launch(
            snmpd, ["-C", "-c", configDir.appendingPathComponent("snmpd.conf").path, "-f", "-Lo"],
            environment: ["SNMP_PERSISTENT_DIR": stateDir.path], log: dir.appendingPathComponent("snmpd.log"))
        let lab = LabProcess(process: process, port: port, directory: dir)
        guard let snmpget = which("snmpget") else { throw LabError.notFound("snmpget") }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let child = try Child.spawn(
                snmpget,
                [
                    "-v3", "-u", user, "-l", "authPriv", "-a", "SHA", "-A", authPassword, "-x", "AES", "-X",
                    privPassword, "-t", "0.3", "-r", "0", "\(address):\(port)", "1.3.6.1.2.1.1.5.0",
                ])
            if await child.wait() == 0 { return lab }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw LabError.didNotStart("snmpd (SNMPv3) on \(address):\(port)")
    }

    /// Waits until `snmpget` gets an answer from `address`:`port`.
    public static func waitForSNMP(address: String, port: Int, community: String, seconds: Double) async throws {
        guard let snmpget = which("snmpget") else { throw LabError.notFound("snmpget") }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let child = try Child.spawn(
                snmpget, ["-v2c", "-c", community, "-t", "0.3", "-r", "0", "\(address):\(port)", "1.3.6.1.2.1.1.5.0"])
            if await child.wait() == 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw LabError.didNotStart("SNMP agent on \(address):\(port)")
    }
}

/// A UDP socket that only counts what arrives (bound to one loopback address, or to every address of a port): the
/// responder side of the rate and allow-list checks. Never answers.
public final class UDPCounter: @unchecked Sendable {
    // Safe to send: the socket is read only by the reader thread; `arrivals` is guarded by `lock`.
    private let fd: Int32
    private let lock = NSLock()
    private var arrivals: [(time: Double, destination: UInt32)] = []
    private var stopped = false
    public let port: Int

    /// - Parameter address: "0.0.0.0" counts every loopback address at `port` (with the destination of each).
    public init(address: String, port: Int) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IP), IP_PKTINFO, &on, socklen_t(MemoryLayout<Int32>.size))
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &sin.sin_addr)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw LabError.didNotStart("UDP counter on \(address):\(port) (errno \(errno))")
        }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var control = [UInt8](repeating: 0, count: 256)
        while true {
            lock.lock()
            let done = stopped
            lock.unlock()
            if done { return }
            var iov = iovec()
            var message = msghdr()
            let n = buffer.withUnsafeMutableBytes { bytes in
                control.withUnsafeMutableBytes { ctl in
                    iov.iov_base = bytes.baseAddress
                    iov.iov_len = bytes.count
                    return withUnsafeMutablePointer(to: &iov) { iovPointer in
                        message.msg_iov = iovPointer
                        message.msg_iovlen = 1
                        message.msg_control = ctl.baseAddress
                        message.msg_controllen = ctl.count
                        let n = recvmsg(fd, &message, 0)
                        guard n >= 0 else { return -1 }
                        var destination: UInt32 = 0
                        var header = CMSG_FIRSTHDR_(&message)
                        while let h = header {
                            if h.pointee.cmsg_level == Int32(IPPROTO_IP) && h.pointee.cmsg_type == Int32(IP_PKTINFO) {
                                let info = UnsafeRawPointer(h).advanced(by: MemoryLayout<cmsghdr>.size)
                                    .loadUnaligned(as: in_pktinfo.self)
                                destination = UInt32(bigEndian: info.ipi_addr.s_addr)
                            }
                            header = CMSG_NXTHDR_(&message, h)
                        }
                        lock.lock()
                        arrivals.append((Date().timeIntervalSince1970, destination))
                        lock.unlock()
                        return n
                    }
                }
            }
            _ = n
        }
    }

    /// Arrival times (Unix seconds) and destination addresses (host order) so far.
    public var packets: [(time: Double, destination: UInt32)] {
        lock.lock()
        defer { lock.unlock() }
        return arrivals
    }

    /// The most packets that arrived within any window of `seconds`.
    public func peak(window seconds: Double) -> Int {
        let times = packets.map(\.time).sorted()
        var best = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= seconds { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    deinit {
        stop()
        close(fd)
    }
}

private func CMSG_FIRSTHDR_(_ message: UnsafeMutablePointer<msghdr>) -> UnsafeMutablePointer<cmsghdr>? {
    guard message.pointee.msg_controllen >= MemoryLayout<cmsghdr>.size else { return nil }
    return message.pointee.msg_control?.assumingMemoryBound(to: cmsghdr.self)
}

private func CMSG_NXTHDR_(
    _ message: UnsafeMutablePointer<msghdr>, _ header: UnsafeMutablePointer<cmsghdr>
) -> UnsafeMutablePointer<cmsghdr>? {
    let align = MemoryLayout<Int>.size
    let length = (Int(header.pointee.cmsg_len) + align - 1) & ~(align - 1)
    let next = UnsafeMutableRawPointer(header).advanced(by: length)
    let end = UnsafeMutableRawPointer(message.pointee.msg_control!).advanced(by: Int(message.pointee.msg_controllen))
    guard next + MemoryLayout<cmsghdr>.size <= end else { return nil }
    return next.assumingMemoryBound(to: cmsghdr.self)
}
