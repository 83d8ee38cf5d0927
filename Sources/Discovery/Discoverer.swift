import Foundation
import Logging
import NetPollerCore
import SNMPPolling
import Synchronization

/// What discovery sends through: the net-snmp engine (`SNMPEngine`), or a fake in tests.
public protocol DiscoveryTransport: Sendable {
    func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult
    func next(_ target: SNMPTarget, oids: [OID], maxRepetitions: Int) async throws(PollError) -> [(OID, SNMPValue)]
    func probeEngineID(_ target: SNMPTarget) async throws(PollError) -> [UInt8]
    func release(_ target: SNMPTarget)
    /// The engine ID (hex) an SNMPv3 exchange with `peer` learned, if any.
    func cachedEngineID(_ peer: String) -> String?
}

extension SNMPEngine: DiscoveryTransport {
    public func cachedEngineID(_ peer: String) -> String? { engines.entry(peer)?.engineID }
}

/// One discovery run: the sweep and the neighbour crawl, level by level (seeds and sweep first, then their
/// neighbours, …, up to `max_depth`), `concurrency` addresses at a time, every packet paced by `rate`. Only addresses
/// that `DiscoverySettings.allows` are ever handed to the transport.
public struct Discoverer: Sendable {
    public let settings: DiscoverySettings
    public let credentials: [String: SNMPCredential]
    public let transport: any DiscoveryTransport
    let logger: Logger

    public init(
        settings: DiscoverySettings, credentials: [String: SNMPCredential], transport: any DiscoveryTransport,
        logger: Logger = Logger(label: "netpoller.discovery")
    ) {
        self.settings = settings
        self.credentials = credentials
        self.transport = transport
        self.logger = logger
    }

    /// Sweeps, probes and crawls; never throws (what did not answer is in the observations).
    public func observe() async -> DiscoveryObservations {
        let started = ContinuousClock.now
        let pacer = Pacer(rate: settings.rate)
        let state = RunState(maxDevices: settings.maxDevices)
        var level: [(IPv4, FoundVia)] = settings.seeds.map { ($0, .seed) }
        var queued = Set(settings.seeds)
        var depth = 0
        // Level 0: the seeds, then the sweep (lazily: a /16 is never held as a list).
        await probeLevel(level, sweep: settings.sweep, depth: 0, queued: queued, pacer: pacer, state: state)
        while depth < settings.maxDepth {
            let found = state.takeNeighbourAddresses()
            level = []
            for (address, via) in found.sorted(by: { $0.0 < $1.0 }) {
                guard !queued.contains(address), !(settings.sweep && swept(address)) else { continue }
                if !settings.allows(address) {
                    state.outside(address)
                    continue
                }
                queued.insert(address)
                level.append((address, via))
            }
            depth += 1
            if level.isEmpty { break }
            await probeLevel(level, sweep: false, depth: depth, queued: queued, pacer: pacer, state: state)
        }
        // Neighbours never followed (beyond max_depth, or outside the networks) are still recorded as outside.
        for (address, _) in state.takeNeighbourAddresses() where !settings.allows(address) { state.outside(address) }
        var observations = state.finish()
        observations.packets = pacer.packets
        let elapsed = ContinuousClock.now - started
        observations.seconds =
            Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return observations
    }

    /// Whether the sweep covers `address` (inside networks, outside exclude: it is probed at level 0).
    private func swept(_ address: IPv4) -> Bool {
        settings.allows(address) && settings.networks.contains { $0.hosts.contains(address.value) }
    }

    private func probeLevel(
        _ listed: [(IPv4, FoundVia)], sweep: Bool, depth: Int, queued: Set<IPv4>, pacer: Pacer, state: RunState
    ) async {
        var work = listed.makeIterator()
        var networks = sweep ? settings.networks.makeIterator() : [].makeIterator()
        var range: ClosedRange<UInt32>.Iterator?
        var seen = Set<UInt32>()
        func nextAddress() -> (IPv4, FoundVia)? {
            if let item = work.next() { return item }
            while true {
                if let value = range?.next() {
                    let address = IPv4(value)
                    // Overlapping networks are swept once; seeds were probed already; exclude is never touched.
                    guard settings.allows(address), !queued.contains(address) else { continue }
                    if settings.networks.count > 1 {
                        guard !seen.contains(value) else { continue }
                        seen.insert(value)
                    }
                    return (address, .sweep)
                }
                guard let network = networks.next() else { return nil }
                range = network.hosts.makeIterator()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            while let (address, via) = nextAddress() {
                if running >= settings.concurrency {
                    await group.next()
                    running -= 1
                }
                guard settings.allows(address) else { continue }
                running += 1
                group.addTask { await probe(address, via: via, depth: depth, pacer: pacer, state: state) }
            }
        }
    }

    // MARK: One address

    /// Errors only an answering SNMPv3 engine gives (its Reports).
    static let engineAnswers: Set<PollError.Code> = [
        .unknownUser, .unknownEngineID, .wrongDigest, .decryptionError, .notInTimeWindow, .unsupportedSecurityLevel,
        .privacyMismatch,
    ]

    static let sysDescr = OID([1, 3, 6, 1, 2, 1, 1, 1, 0])
    static let sysObjectID = OID([1, 3, 6, 1, 2, 1, 1, 2, 0])
    static let sysName = OID([1, 3, 6, 1, 2, 1, 1, 5, 0])
    static let snmpEngineID = OID([1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0])
    static let lldpLocChassisID = OID([1, 0, 8802, 1, 1, 2, 1, 3, 2, 0])
    static var identityOIDs: [OID] {
        [sysDescr, sysObjectID, sysName, snmpEngineID, lldpLocChassisID] + BuiltinProfiles.sentinels.map(\.oid)
    }

    func target(_ address: IPv4, _ credential: SNMPCredential) -> SNMPTarget {
        let peer = "udp:\(address):\(settings.port)"
        if let usm = credential.usm {
            return SNMPTarget(peer: peer, usm: usm, timeout: settings.timeout, retries: 0)
        }
        return SNMPTarget(
            peer: peer, version: credential.version == .v1 ? .v1 : .v2c, community: credential.community.value,
            timeout: settings.timeout, retries: 0)
    }

    private func probe(_ address: IPv4, via: FoundVia, depth: Int, pacer: Pacer, state: RunState) async {
        precondition(settings.allows(address), "discovery never sends outside networks")
        state.probed()
        // An SNMPv3 Report (unknown user, wrong digest, …) proves an SNMP engine lives here.
        var engineSeen = false
        for name in settings.credentials {
            guard let credential = credentials[name] else { continue }
            let target = target(address, credential)
            defer { transport.release(target) }
            var answer: GetResult?
            var fatal = false
            for attempt in 0...settings.retries {
                // SNMPv3's first contact may take three packets: engine discovery, a time-window Report, the request.
                await pacer.take(credential.usm != nil && attempt == 0 ? 3 : 1)
                do {
                    answer = try await transport.get(target, oids: Self.identityOIDs)
                    break
                } catch {
                    if error.code != .timeout { fatal = true }
                    if credential.usm != nil && Self.engineAnswers.contains(error.code) { engineSeen = true }
                }
                if fatal { break }
            }
            guard let answer else { continue }
            var record = DeviceProbe(address: address, credential: name, via: via, depth: depth)
            readIdentity(answer.values, into: &record)
            guard state.admit(record) else { return }
            if record.engineID.isEmpty || state.claim(record.engineID) {
                record.tablesRead = true
                var reader = TableReader(
                    transport: transport, target: target, pacer: pacer, retries: settings.retries,
                    maxRows: settings.maxTableRows, bulk: credential.version != .v1)
                await readTables(&reader, into: &record)
            }
            state.record(record)
            return
        }
        // No credential answered: does an SNMP agent live here at all? A v3 Report told already, else one engine-ID
        // probe tells.
        if engineSeen {
            state.noCredential(address, engineID: transport.cachedEngineID("udp:\(address):\(settings.port)") ?? "")
            return
        }
        let probeTarget = SNMPTarget(
            peer: "udp:\(address):\(settings.port)",
            usm: USMCredential(username: "netpoller-discovery", level: .noAuthNoPriv), timeout: settings.timeout,
            retries: 0)
        defer { transport.release(probeTarget) }
        await pacer.take(1)
        if let engineID = try? await transport.probeEngineID(probeTarget) {
            state.noCredential(address, engineID: hex(engineID))
        } else if via != .sweep {
            state.unreachable(address)
        }
    }

    private func readIdentity(_ values: [SNMPValue], into record: inout DeviceProbe) {
        func text(_ i: Int) -> String {
            guard i < values.count, case .octets(let bytes) = values[i] else { return "" }
            return String(decoding: bytes, as: UTF8.self).filter { !$0.isNewline }
        }
        func bytes(_ i: Int) -> [UInt8] {
            guard i < values.count, case .octets(let bytes) = values[i] else { return [] }
            return bytes
        }
        record.sysDescr = text(0)
        if values.count > 1, case .oid(let oid) = values[1] { record.sysObjectID = oid }
        record.sysName = text(2)
        record.engineID = hex(bytes(3))
        record.chassisID = hex(bytes(4))
        var answered: Set<String> = []
        for (i, sentinel) in BuiltinProfiles.sentinels.enumerated() where 5 + i < values.count {
            switch values[5 + i] {
            case .null, .noSuchObject, .noSuchInstance, .endOfMibView: continue
            default: answered.insert(sentinel.profile)
            }
        }
        record.profiles =
            BuiltinProfiles.choose(
                sysObjectID: record.sysObjectID, answered: answered, userProfiles: userProfiles,
                defaultSet: defaultProfiles
            ).profiles
    }

    /// User profiles and the default set, for choosing profiles as the poller does (set by the caller).
    public var userProfiles: [Profile] = []
    public var defaultProfiles: [String] = BuiltinProfiles.defaultSet

    // MARK: Tables

    static let entPhysicalClass = OID([1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5])
    static let entPhysicalSerialNum = OID([1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11])
    static let ipAdEntAddr = OID([1, 3, 6, 1, 2, 1, 4, 20, 1, 1])
    static let ipAddressIfIndex = OID([1, 3, 6, 1, 2, 1, 4, 34, 1, 3])
    static let lldpLocPortID = OID([1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 3])
    static let lldpLocPortDesc = OID([1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 4])
    static let lldpRemChassisID = OID([1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 5])
    static let lldpRemPortID = OID([1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 7])
    static let lldpRemPortDesc = OID([1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 8])
    static let lldpRemSysName = OID([1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9])
    static let lldpRemManAddrIfSubtype = OID([1, 0, 8802, 1, 1, 2, 1, 4, 2, 1, 3])
    static let cdpCacheAddress = OID([1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 4])
    static let cdpCacheDeviceID = OID([1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 6])
    static let cdpCacheDevicePort = OID([1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 7])
    static let ifName = OID([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1])
    static let ifDescr = OID([1, 3, 6, 1, 2, 1, 2, 2, 1, 2])

    private func readTables(_ reader: inout TableReader, into record: inout DeviceProbe) async {
        // ENTITY-MIB: the first chassis (class 3) and its serial.
        let classes = await reader.column(Self.entPhysicalClass)
        if let chassis = classes.first(where: { $0.value == .integer(3) }) {
            let serial = await reader.get([OID(Self.entPhysicalSerialNum.components + chassis.suffix)])
            if case .octets(let bytes)? = serial.first { record.serial = printable(bytes) ?? hex(bytes) }
        }
        // Own addresses: ipAddrTable, else ipAddressTable (IPv4 entries: type 1, length 4).
        var own = Set<IPv4>()
        for row in await reader.column(Self.ipAdEntAddr) {
            if case .ipAddress(let a, let b, let c, let d) = row.value { own.insert(IPv4(a, b, c, d)) }
        }
        if own.isEmpty {
            for row in await reader.column(Self.ipAddressIfIndex) where row.suffix.count == 6 && row.suffix[0] == 1 {
                if let address = IPv4(bytes: row.suffix[2...].map { UInt8(truncatingIfNeeded: $0) }) {
                    own.insert(address)
                }
            }
        }
        own.remove(IPv4(0))
        record.ownAddresses = own.sorted()

        // LLDP: remote rows by (local port, index); management addresses from lldpRemManAddrTable's index.
        let remChassis = await reader.column(Self.lldpRemChassisID)
        if !remChassis.isEmpty {
            var localPorts: [UInt32: String] = [:]
            let portIDs = await reader.column(Self.lldpLocPortID)
            let portDescs = await reader.column(Self.lldpLocPortDesc)
            for row in portDescs {
                if case .octets(let b) = row.value, !b.isEmpty { localPorts[row.suffix[0]] = text(b) }
            }
            for row in portIDs {
                if case .octets(let b) = row.value, let t = printable(b), !t.isEmpty { localPorts[row.suffix[0]] = t }
            }
            func byRow(_ rows: [TableReader.Row]) -> [[UInt32]: [UInt8]] {
                var map: [[UInt32]: [UInt8]] = [:]
                for row in rows where row.suffix.count == 3 {
                    if case .octets(let b) = row.value { map[Array(row.suffix[1...])] = b }
                }
                return map
            }
            let chassis = byRow(remChassis)
            let portID = byRow(await reader.column(Self.lldpRemPortID))
            let portDesc = byRow(await reader.column(Self.lldpRemPortDesc))
            let sysName = byRow(await reader.column(Self.lldpRemSysName))
            var managed: [[UInt32]: [IPv4]] = [:]
            for row in await reader.column(Self.lldpRemManAddrIfSubtype) where row.suffix.count == 9 {
                // timeMark, localPort, index, subtype 1 (ipv4), length 4, a, b, c, d
                guard row.suffix[3] == 1, row.suffix[4] == 4,
                    let address = IPv4(bytes: row.suffix[5...].map { UInt8(truncatingIfNeeded: $0) })
                else { continue }
                managed[Array(row.suffix[1...2]), default: []].append(address)
            }
            for key in chassis.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let remotePort =
                    portID[key].flatMap(printable).flatMap { $0.isEmpty ? nil : $0 }
                    ?? portDesc[key].map(text) ?? ""
                record.neighbours.append(
                    Neighbour(
                        protocolName: "lldp", localPort: localPorts[key[0]] ?? "port \(key[0])",
                        remoteName: sysName[key].map(text) ?? "", remotePort: remotePort,
                        remoteChassis: hex(chassis[key] ?? []), addresses: (managed[key] ?? []).sorted()))
            }
        }
        // CDP: rows by (ifIndex, device index); the local port is the ifIndex's ifName (ifDescr).
        let cdpNames = await reader.column(Self.cdpCacheDeviceID)
        if !cdpNames.isEmpty {
            var addresses: [[UInt32]: IPv4] = [:]
            for row in await reader.column(Self.cdpCacheAddress) {
                if case .octets(let b) = row.value, let address = IPv4(bytes: b) { addresses[row.suffix] = address }
            }
            var ports: [[UInt32]: String] = [:]
            for row in await reader.column(Self.cdpCacheDevicePort) {
                if case .octets(let b) = row.value { ports[row.suffix] = text(b) }
            }
            let ifIndexes = Array(Set(cdpNames.compactMap { $0.suffix.first })).sorted()
            var interfaceNames: [UInt32: String] = [:]
            for chunk in stride(from: 0, to: ifIndexes.count, by: 16) {
                let slice = Array(ifIndexes[chunk..<min(chunk + 16, ifIndexes.count)])
                let values = await reader.get(
                    slice.flatMap { [Self.ifName.appending($0), Self.ifDescr.appending($0)] })
                for (i, index) in slice.enumerated() where 2 * i + 1 < values.count {
                    for value in [values[2 * i], values[2 * i + 1]] {
                        if interfaceNames[index] == nil, case .octets(let b) = value, !b.isEmpty {
                            interfaceNames[index] = text(b)
                        }
                    }
                }
            }
            for row in cdpNames.sorted(by: { $0.suffix.lexicographicallyPrecedes($1.suffix) }) {
                guard case .octets(let b) = row.value, let ifIndex = row.suffix.first else { continue }
                record.neighbours.append(
                    Neighbour(
                        protocolName: "cdp", localPort: interfaceNames[ifIndex] ?? "ifIndex \(ifIndex)",
                        remoteName: text(b), remotePort: ports[row.suffix] ?? "", remoteChassis: "",
                        addresses: addresses[row.suffix].map { [$0] } ?? []))
            }
        }
    }
}

/// Reads table columns one paced request at a time (GETBULK, GETNEXT on v1), each capped at `maxRows` rows.
struct TableReader {
    struct Row {
        var suffix: [UInt32]
        var value: SNMPValue
    }

    let transport: any DiscoveryTransport
    let target: SNMPTarget
    let pacer: Pacer
    let retries: Int
    let maxRows: Int
    let bulk: Bool
    /// The device stopped answering: the remaining reads are skipped.
    var dead = false

    mutating func column(_ column: OID) async -> [Row] {
        var rows: [Row] = []
        var from = column
        while !dead && rows.count < maxRows {
            guard
                let answer = await send({ [self] () async throws(PollError) -> [(OID, SNMPValue)] in
                    try await transport.next(
                        target, oids: [from], maxRepetitions: bulk ? min(25, maxRows - rows.count) : 0)
                }), !answer.isEmpty
            else { break }
            for (oid, value) in answer {
                switch value {
                case .endOfMibView, .noSuchObject, .noSuchInstance: return rows
                default: break
                }
                guard oid.hasPrefix(column), oid.components.count > column.components.count, from < oid else {
                    return rows
                }
                rows.append(Row(suffix: Array(oid.components[column.components.count...]), value: value))
                from = oid
                if rows.count >= maxRows { break }
            }
        }
        return rows
    }

    mutating func get(_ oids: [OID]) async -> [SNMPValue] {
        await send({ [self] () async throws(PollError) -> [SNMPValue] in
            try await transport.get(target, oids: oids).values
        }) ?? []
    }

    /// One request with its retries, each paced; nil when it got no answer (a timeout ends the device's reads).
    private mutating func send<T>(_ request: () async throws(PollError) -> T) async -> T? {
        for _ in 0...retries {
            await pacer.take(1)
            do {
                return try await request()
            } catch {
                if error.code != .timeout { return nil }
            }
        }
        dead = true
        return nil
    }
}

/// The shared state of one run; every probe task reports here.
final class RunState: Sendable {
    private struct State {
        var observations = DiscoveryObservations()
        var admitted = 0
        var claimed: Set<String> = []
        var neighbours: [IPv4: FoundVia] = [:]
    }

    private let state = Mutex(State())
    private let maxDevices: Int

    init(maxDevices: Int) { self.maxDevices = maxDevices }

    func probed() { state.withLock { $0.observations.addressesProbed += 1 } }

    /// Whether another answering address fits under `max_devices`.
    func admit(_ probe: DeviceProbe) -> Bool {
        state.withLock { s in
            guard s.admitted < maxDevices else {
                s.observations.dropped += 1
                return false
            }
            s.admitted += 1
            return true
        }
    }

    /// Whether this address reads the tables of its engine (the first to ask does; the others only add an address).
    func claim(_ engineID: String) -> Bool { state.withLock { $0.claimed.insert(engineID).inserted } }

    func record(_ probe: DeviceProbe) {
        state.withLock { s in
            s.observations.probes.append(probe)
            for neighbour in probe.neighbours {
                for address in neighbour.addresses where s.neighbours[address] == nil {
                    s.neighbours[address] = .neighbour(protocol: neighbour.protocolName, of: probe.address)
                }
            }
        }
    }

    func noCredential(_ address: IPv4, engineID: String) {
        state.withLock { $0.observations.noCredential[address] = engineID }
    }

    func unreachable(_ address: IPv4) { _ = state.withLock { $0.observations.unreachable.insert(address) } }

    func outside(_ address: IPv4) { _ = state.withLock { $0.observations.outside.insert(address) } }

    func takeNeighbourAddresses() -> [(IPv4, FoundVia)] {
        state.withLock { s in
            defer { s.neighbours.removeAll() }
            return s.neighbours.map { ($0.key, $0.value) }
        }
    }

    func finish() -> DiscoveryObservations { state.withLock { $0.observations } }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Octets as text when they are printable ASCII/UTF-8 (a trailing NUL dropped); nil otherwise.
func printable(_ bytes: [UInt8]) -> String? {
    var b = bytes
    while b.last == 0 { b.removeLast() }
    guard let text = String(bytes: b, encoding: .utf8),
        text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
    else { return nil }
    return text
}

/// Octets as text: printable, else hex with colons (a MAC address).
func text(_ bytes: [UInt8]) -> String {
    printable(bytes) ?? bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
}
