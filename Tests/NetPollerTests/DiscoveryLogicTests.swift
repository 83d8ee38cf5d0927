import AgentConfig
import BuiltinPlugins
import Foundation
import NetPollerCore
import NetPollerTesting
import SNMPPolling
import Synchronization
import Testing

@testable import Discovery

/// A scripted network for `Discoverer`: devices by address with their community and values; records every peer a
/// request went to. Pure logic, no sockets.
final class FakeNetwork: DiscoveryTransport {
    struct Device {
        var community: String
        var values: [(OID, SNMPValue)]
        var engine: [UInt8]?
    }

    private let devices: [String: Device]
    let peers = Mutex<[String]>([])

    init(_ devices: [String: Device]) { self.devices = devices }

    private func device(_ target: SNMPTarget) throws(PollError) -> Device {
        peers.withLock { $0.append(target.peer) }
        let host = target.peer.split(separator: ":")[1]
        guard let device = devices[String(host)], device.community == target.community else {
            throw PollError(.timeout, "no answer")
        }
        return device
    }

    func get(_ target: SNMPTarget, oids: [OID]) async throws(PollError) -> GetResult {
        let d = try device(target)
        return GetResult(values: oids.map { oid in d.values.first { $0.0 == oid }?.1 ?? .noSuchObject })
    }

    func next(_ target: SNMPTarget, oids: [OID], maxRepetitions: Int) async throws(PollError) -> [(OID, SNMPValue)] {
        let d = try device(target)
        let after = d.values.filter { $0.0 > oids[0] }.prefix(max(1, maxRepetitions))
        return after.isEmpty ? [(oids[0], .endOfMibView)] : Array(after)
    }

    func probeEngineID(_ target: SNMPTarget) async throws(PollError) -> [UInt8] {
        peers.withLock { $0.append(target.peer) }
        let host = target.peer.split(separator: ":")[1]
        guard let engine = devices[String(host)]?.engine else { throw PollError(.timeout, "no answer") }
        return engine
    }

    func release(_ target: SNMPTarget) {}
    func cachedEngineID(_ peer: String) -> String? { nil }

    /// A device answering `public` with a sysName, an engine ID and LLDP neighbours at these management addresses.
    static func device(_ name: String, engine: String?, neighbours: [String]) -> Device {
        var values: [(OID, SNMPValue)] = [
            (Discoverer.sysDescr, .octets(Array("\(name) OS".utf8))),
            (Discoverer.sysObjectID, .oid(OID("1.3.6.1.4.1.9.1.1")!)), (Discoverer.sysName, .octets(Array(name.utf8))),
        ]
        if let engine { values.append((Discoverer.snmpEngineID, .octets(Array(engine.utf8)))) }
        for (i, address) in neighbours.enumerated() {
            let port = UInt32(i + 1)
            let parts = address.split(separator: ".").map { UInt32($0)! }
            values.append((Discoverer.lldpRemChassisID.appending(0, port, 1), .octets([0, 1, 2, 3, 4, UInt8(i)])))
            values.append((Discoverer.lldpRemSysName.appending(0, port, 1), .octets(Array("n\(i)".utf8))))
            values.append(
                (OID(Discoverer.lldpRemManAddrIfSubtype.components + [0, port, 1, 1, 4] + parts), .integer(2)))
        }
        return Device(community: "public", values: values.sorted { $0.0 < $1.0 })
    }
}

@Suite struct DiscoveryLogicTests {
    @Test func networksParseStrictlyAndSweepTheirHosts() {
        guard case .success(let net) = IPv4Network.parse("192.0.2.0/24") else {
            Issue.record("parse")
            return
        }
        #expect(net.hosts.count == 254 && net.contains(IPv4("192.0.2.200")!) && !net.contains(IPv4("192.0.3.1")!))
        #expect(
            IPv4Network.parse("192.0.2.1/24") == .failure(.hostBits(IPv4Network(base: IPv4("192.0.2.0")!, prefix: 24))))
        #expect(IPv4Network.parse("192.0.2.0/33") == .failure(.malformed))
        #expect(IPv4Network.parse("192.0.02.0/24") == .failure(.malformed))
        #expect(IPv4Network.parse("2001:db8::/32") == .failure(.malformed))
        if case .success(let host) = IPv4Network.parse("192.0.2.7") { #expect(host.hosts.count == 1) }
        if case .success(let p2p) = IPv4Network.parse("192.0.2.6/31") { #expect(p2p.hosts.count == 2) }
        var settings = DiscoverySettings()
        settings.networks = [net]
        settings.exclude = [IPv4Network(base: IPv4("192.0.2.128")!, prefix: 25)]
        #expect(settings.allows(IPv4("192.0.2.1")!) && !settings.allows(IPv4("192.0.2.129")!))
        #expect(!settings.allows(IPv4("198.51.100.1")!))
    }

    @Test func theTokenBucketSpacesPacketsAtTheRate() {
        var bucket = TokenBucket(rate: 500, now: 0)
        // A burst of rate/100 goes at once, then one packet every 2 ms, in the order asked.
        let waits = (0..<10).map { _ in bucket.reserve(1, now: 0) }
        #expect(waits.prefix(5).allSatisfy { $0 == 0 })
        #expect(abs(waits[5] - 0.002) < 1e-9 && abs(waits[9] - 0.01) < 1e-9)
        // In any one second no more than rate + burst are scheduled.
        var b = TokenBucket(rate: 100, now: 0)
        let times = (0..<1000).map { _ in b.reserve(1, now: 0) }
        #expect(times.filter { $0 < 1.0 }.count <= 101)
        // Idle time refills up to the burst, never more.
        var idle = TokenBucket(rate: 100, now: 0)
        _ = idle.reserve(1, now: 0)
        #expect(idle.reserve(1, now: 60) == 0 && idle.reserve(1, now: 60) > 0)
    }

    func problems(_ discovery: String) throws -> [String] {
        let dir = try Lab.temporaryDirectory("discoveryconf")
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [credentials.snmp.lab]
        community = "c"
        [discovery]
        \(discovery)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        do throws(ConfigError) {
            _ = try ConfigLoader.load(files: [path], environment: [:], hostName: "h")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func discoveryConfigMistakesAreNamedWithTheirKey() throws {
        let cases: [(String, String)] = [
            (
                "networks = [\"0.0.0.0/0\"]\ncredentials = [\"lab\"]",
                "discovery.networks[0]: \"0.0.0.0/0\" is the whole"
            ),
            ("networks = [\"10.0.0.0/8\"]\ncredentials = [\"lab\"]", "more than a /16; split it, or set allow_large"),
            ("networks = [\"10.0.0.1/24\"]\ncredentials = [\"lab\"]", "has host bits set (did you mean 10.0.0.0/24?)"),
            ("networks = [\"10.0.0.0/24\"]\ncredentials = [\"nope\"]", "unknown SNMP credential \"nope\" (known: lab)"),
            (
                "networks = [\"10.0.0.0/24\"]\ncredentials = [\"lab\"]\nseeds = [\"10.0.1.1\"]",
                "10.0.1.1 is outside networks"
            ),
            (
                "networks = [\"10.0.0.0/24\"]\ncredentials = [\"lab\"]\nsweep = false",
                "sweep = false needs at least one seed"
            ),
            ("networks = [\"10.0.0.0/24\"]\ncredentials = [\"lab\"]\nauto_add = true", "auto_add: needs output_dir"),
            ("credentials = [\"lab\"]", "discovery.networks: missing"),
            ("networks = [\"10.0.0.0/24\"]\ncredentials = [\"lab\"]\nrate = 0", "discovery.rate"),
            ("networks = [\"10.0.0.0/24\"]\ncredentials = [\"lab\"]\nnetwork = 1", "network"),
        ]
        for (text, expected) in cases {
            let found = try problems(text)
            #expect(found.contains { $0.contains(expected) && $0.contains("agent.conf:") }, "\(expected) in \(found)")
        }
        #expect(try problems("networks = [\"10.0.0.0/8\"]\nallow_large = true\ncredentials = [\"lab\"]").isEmpty)
    }

    func probe(
        _ address: String, engine: String = "", serial: String = "", name: String = "sw", own: [String] = [],
        tables: Bool = true, via: FoundVia = .sweep
    ) -> DeviceProbe {
        var p = DeviceProbe(address: IPv4(address)!, credential: "lab", via: via, depth: 0)
        p.engineID = engine
        p.serial = serial
        p.sysName = name
        p.sysObjectID = OID("1.3.6.1.4.1.9.1.1")
        p.ownAddresses = own.map { IPv4($0)! }
        p.tablesRead = tables
        p.profiles = ["system", "if-mib"]
        return p
    }

    func settings(_ networks: [String], prefer: [String] = []) -> DiscoverySettings {
        var s = DiscoverySettings()
        s.networks = networks.map { try! IPv4Network.parse($0).get() }
        s.prefer = prefer.map { try! IPv4Network.parse($0).get() }
        s.credentials = ["lab"]
        return s
    }

    @Test func oneDevicePerIdentityPolledAtItsPreferredAddress() {
        var o = DiscoveryObservations()
        o.probes = [
            probe("192.0.2.3", engine: "e1", tables: false), probe("10.9.0.1", engine: "e1", tables: true),
            probe("192.0.2.1", engine: "e1", tables: false),
            // Same sysObjectID + serial at two addresses, no engine ID: one device.
            probe("192.0.2.20", serial: "S1", name: "sw"), probe("192.0.2.21", serial: "S1", name: "sw"),
            // Neither: sysName + own addresses; the same set from two addresses is one device, another set is not.
            probe("192.0.2.30", name: "ups", own: ["192.0.2.30", "192.0.2.31"]),
            probe("192.0.2.31", name: "ups", own: ["192.0.2.30", "192.0.2.31"]),
            probe("192.0.2.40", name: "ups", own: ["192.0.2.40"]),
        ]
        let s = settings(["192.0.2.0/24", "10.0.0.0/8"])
        let result = IdentityMerge.merge(o, settings: s, now: "2026-11-30T00:00:00Z")
        #expect(result.devices.count == 4, "\(result.devices.map(\.name))")
        let e1 = result.devices.first { $0.identity == "engine:e1" }
        #expect(e1?.address == IPv4("192.0.2.1") && e1?.answeredAt.count == 3)
        // The first network in `networks` order wins; `prefer` beats it.
        let preferred = IdentityMerge.merge(
            o, settings: settings(["192.0.2.0/24", "10.0.0.0/8"], prefer: ["10.9.0.0/16"]), now: "x")
        #expect(preferred.devices.first { $0.identity == "engine:e1" }?.address == IPv4("10.9.0.1"))
        // Names: sysName, then sysName-<address> for the next one; an identity keeps the name it had; config
        // names are never reused.
        let names = result.devices.map(\.name).sorted()
        #expect(names.contains("ups") && names.contains("ups-192-0-2-40"), "\(names)")
        let again = IdentityMerge.merge(
            o, settings: s,
            known: ["name:ups/192.0.2.40": .init(name: "ups-old", firstSeen: "2026-01-01T00:00:00Z")],
            reserved: ["sw"], now: "2026-11-30T00:00:00Z")
        let ups40 = again.devices.first { $0.identity == "name:ups/192.0.2.40" }
        #expect(ups40?.name == "ups-old" && ups40?.firstSeen == "2026-01-01T00:00:00Z")
        #expect(!again.devices.contains { $0.name == "sw" })
    }

    @Test func confOutputIsStableEscapedAndReadsBack() throws {
        var o = DiscoveryObservations()
        var odd = probe("192.0.2.5", engine: "e5", name: "we\"ird sw\n")
        odd.sysDescr = "line one\nline two # not a key = 1"
        o.probes = [odd, probe("192.0.2.6", engine: "e6", name: "b")]
        o.noCredential = [IPv4("192.0.2.9")!: "8000"]
        let result = IdentityMerge.merge(o, settings: settings(["192.0.2.0/24"]), now: "2026-11-30T00:00:00Z")
        let text = DiscoveryRender.conf(result)
        #expect(text == DiscoveryRender.conf(result))
        #expect(text.contains("name = \"we-ird-sw\""), "\(text)")
        #expect(text.contains("# no_credential: 192.0.2.9"))
        let dir = try Lab.temporaryDirectory("discoveryconf")
        try "[credentials.snmp.lab]\ncommunity = \"c\"\n".write(
            toFile: dir.path + "/a.conf", atomically: true, encoding: .utf8)
        try text.write(toFile: dir.path + "/b.conf", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(
            files: [dir.path + "/a.conf", dir.path + "/b.conf"], environment: [:], hostName: "h")
        #expect(config.devices.map(\.name) == ["b", "we-ird-sw"])
        #expect(config.devices.map(\.credential) == ["lab", "lab"])
        // --diff: one gone, one new, one changed.
        var configured = config.devices
        configured.removeAll { $0.name == "b" }
        configured[0].address.host = "192.0.2.50"
        configured[0].address.port = 161
        var old = configured[0]
        old.name = "old"
        old.address.host = "192.0.2.77"
        configured.append(old)
        let diff = DiscoveryRender.diff(result, against: configured, settings: settings(["192.0.2.0/24"]))
        #expect(diff.new == 1 && diff.gone == 1 && diff.changed == 1, "\(diff.text)")
        #expect(diff.text.contains("changed  we-ird-sw  address 192.0.2.50:161 -> 192.0.2.5:161"), "\(diff.text)")
    }

    @Test func theInventoryTellsNewChangedAndGone() {
        var inventory = DiscoveryInventory()
        func result(_ devices: [(String, String)]) -> DiscoveryResult {
            var o = DiscoveryObservations()
            o.probes = devices.map { probe($0.1, engine: $0.0, name: $0.0) }
            return IdentityMerge.merge(
                o, settings: settings(["192.0.2.0/24"]), known: inventory.known, now: "2026-11-30T00:00:00Z")
        }
        let now = Date()
        #expect(inventory.apply(result([("a", "192.0.2.1"), ("b", "192.0.2.2")]), now: now).new == ["a", "b"])
        let changes = inventory.apply(result([("a", "192.0.2.3"), ("c", "192.0.2.4")]), now: now)
        #expect(changes.new == ["c"] && changes.changed == ["a"] && changes.gone == ["b"])
        #expect(inventory.apply(result([("a", "192.0.2.3"), ("c", "192.0.2.4")]), now: now) == .init())
    }

    @Test func theCrawlStopsAtMaxDepthAndNeverLeavesTheNetworks() async {
        // a → b → c → d, and b names an address outside the networks.
        let network = FakeNetwork([
            "192.0.2.1": FakeNetwork.device("a", engine: "ea", neighbours: ["192.0.2.2"]),
            "192.0.2.2": FakeNetwork.device("b", engine: "eb", neighbours: ["192.0.2.3", "198.51.100.7"]),
            "192.0.2.3": FakeNetwork.device("c", engine: "ec", neighbours: ["192.0.2.4"]),
            "192.0.2.4": FakeNetwork.device("d", engine: "ed", neighbours: []),
        ])
        var s = settings(["192.0.2.0/24"])
        s.sweep = false
        s.seeds = [IPv4("192.0.2.1")!]
        s.maxDepth = 2
        s.rate = 10_000
        s.retries = 2
        let credentials = ["lab": SNMPCredential(name: "lab", version: .v2c, community: Secret("public"))]
        let o = await Discoverer(settings: s, credentials: credentials, transport: network).observe()
        #expect(Set(o.probes.map(\.address.description)) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        #expect(o.outside == [IPv4("198.51.100.7")!])
        let peers = network.peers.withLock { $0 }
        #expect(peers.allSatisfy { $0.hasPrefix("udp:192.0.2.") }, "\(peers)")
        #expect(!peers.contains { $0.hasPrefix("udp:192.0.2.4:") }, "beyond max_depth")
        let c = o.probes.first { $0.address == IPv4("192.0.2.3") }
        #expect(c?.depth == 2 && c?.via == .neighbour(protocol: "lldp", of: IPv4("192.0.2.2")!))
        // Every request went through the budget.
        #expect(o.packets == peers.count, "\(o.packets) reserved, \(peers.count) sent")
    }
}
