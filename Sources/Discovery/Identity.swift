import Foundation
import NetPollerCore

/// Merging as a value: observations in, one device per identity out, in a stable order. No I/O and no clock (the time
/// comes in as text), so merging, naming and the choice of polling address are tested directly.
public enum IdentityMerge {
    /// What an earlier run knew about one identity: its name stays, and so does its first-seen time.
    public struct Known: Sendable, Equatable {
        public var name: String
        public var firstSeen: String
        public init(name: String, firstSeen: String) {
            self.name = name
            self.firstSeen = firstSeen
        }
    }

    /// - Parameters:
    ///   - known: identities of earlier runs (`DiscoveryInventory`).
    ///   - reserved: device names already taken by the rest of the config (never given to a discovered device).
    ///   - now: this run's time, ISO 8601, the first-seen of a new identity.
    public static func merge(
        _ observations: DiscoveryObservations, settings: DiscoverySettings, known: [String: Known] = [:],
        reserved: Set<String> = [], now: String
    ) -> DiscoveryResult {
        var groups: [String: [DeviceProbe]] = [:]
        for probe in observations.probes { groups[probe.identity, default: []].append(probe) }
        let seeds = Set(settings.seeds)

        struct Draft {
            var identity: String
            var probes: [DeviceProbe]
            var data: DeviceProbe
            var address: IPv4
            var addresses: [IPv4]
        }
        var drafts: [Draft] = []
        for (identity, probes) in groups {
            let sorted = probes.sorted { $0.address < $1.address }
            let data = sorted.first(where: \.tablesRead) ?? sorted[0]
            var all = Set(sorted.map(\.address))
            for probe in sorted { all.formUnion(probe.ownAddresses) }
            let address = sorted.map(\.address).min { rank($0, settings) < rank($1, settings) }!
            drafts.append(
                Draft(identity: identity, probes: sorted, data: data, address: address, addresses: all.sorted()))
        }
        drafts.sort { rank($0.address, settings) < rank($1.address, settings) }

        // Names: an identity keeps the name it had; a new one takes its sysName, or sysName-<address> when taken.
        var names: [String: String] = [:]
        var taken = reserved
        for draft in drafts {
            if let name = known[draft.identity]?.name, !taken.contains(name) {
                names[draft.identity] = name
                taken.insert(name)
            }
        }
        for draft in drafts where names[draft.identity] == nil {
            let dashed = draft.address.description.replacingOccurrences(of: ".", with: "-")
            let base = deviceName(draft.data.sysName) ?? "device-\(dashed)"
            var name = base
            if taken.contains(name) { name = "\(base)-\(dashed)" }
            var n = 2
            while taken.contains(name) {
                name = "\(base)-\(dashed)-\(n)"
                n += 1
            }
            names[draft.identity] = name
            taken.insert(name)
        }

        var owner: [IPv4: String] = [:]
        var byChassis: [String: String] = [:]
        var bySysName: [String: [String]] = [:]
        for draft in drafts {
            let name = names[draft.identity]!
            for address in draft.addresses where owner[address] == nil { owner[address] = name }
            if !draft.data.chassisID.isEmpty { byChassis[draft.data.chassisID] = name }
            if !draft.data.sysName.isEmpty { bySysName[draft.data.sysName, default: []].append(name) }
        }

        var devices: [DiscoveredDevice] = []
        var links = Set<DiscoveredLink>()
        for draft in drafts {
            let name = names[draft.identity]!
            let polled = draft.probes.first { $0.address == draft.address }!
            var found: String
            if let seed = draft.probes.first(where: { seeds.contains($0.address) }) {
                found = "seed \(seed.address)"
            } else if draft.probes.contains(where: { $0.via == .sweep }) {
                let swept = draft.probes.filter { $0.via == .sweep }.map(\.address)
                let best = swept.min { rank($0, settings) < rank($1, settings) }!
                found = "sweep of \(settings.networks.first { $0.contains(best) }?.description ?? best.description)"
            } else {
                var best: (depth: Int, protocolName: String, of: String)?
                for probe in draft.probes {
                    guard case .neighbour(let protocolName, let of) = probe.via else { continue }
                    let candidate = (probe.depth, protocolName, owner[of] ?? of.description)
                    if best == nil || candidate < best! { best = candidate }
                }
                found = best.map { "\($0.protocolName) neighbour of \($0.of)" } ?? "probe"
            }
            devices.append(
                DiscoveredDevice(
                    identity: draft.identity, name: name, address: draft.address, port: settings.port,
                    credential: polled.credential, profiles: draft.data.profiles,
                    sysObjectID: draft.data.sysObjectID?.description ?? "", sysName: draft.data.sysName,
                    sysDescr: draft.data.sysDescr, engineID: draft.data.engineID, serial: draft.data.serial,
                    addresses: draft.addresses, answeredAt: draft.probes.map(\.address), found: found,
                    firstSeen: known[draft.identity]?.firstSeen ?? now))
            for probe in draft.probes where probe.tablesRead {
                for neighbour in probe.neighbours {
                    var remote: String?
                    for address in neighbour.addresses.sorted() {
                        if let o = owner[address] {
                            remote = o
                            break
                        }
                    }
                    if remote == nil, !neighbour.remoteChassis.isEmpty { remote = byChassis[neighbour.remoteChassis] }
                    if remote == nil, let matches = bySysName[neighbour.remoteName], matches.count == 1 {
                        remote = matches[0]
                    }
                    let fallback =
                        !neighbour.remoteName.isEmpty
                        ? neighbour.remoteName
                        : neighbour.addresses.first?.description ?? neighbour.remoteChassis
                    links.insert(
                        DiscoveredLink(
                            protocolName: neighbour.protocolName, localDevice: name, localPort: neighbour.localPort,
                            remoteDevice: remote ?? fallback, remotePort: neighbour.remotePort,
                            remoteKnown: remote != nil))
                }
            }
        }
        devices.sort { $0.name < $1.name }
        let noCredential = observations.noCredential.keys.filter { owner[$0] == nil }.sorted().map {
            NoCredential(address: $0, engineID: observations.noCredential[$0] ?? "", tried: settings.credentials)
        }
        return DiscoveryResult(
            networks: settings.networks.map(\.description), devices: devices, links: links.sorted(),
            noCredential: noCredential, unreachable: observations.unreachable.filter { owner[$0] == nil }.sorted(),
            outside: observations.outside.sorted())
    }

    /// The order addresses are preferred in as a polling address: inside `prefer` (in its order), then by the first
    /// network of `networks` holding it, then numerically.
    static func rank(_ address: IPv4, _ settings: DiscoverySettings) -> (Int, Int, UInt32) {
        (
            settings.prefer.firstIndex { $0.contains(address) } ?? Int.max, settings.rank(address) ?? Int.max,
            address.value
        )
    }

    /// A device name from a sysName: trimmed, anything but letters, digits, `.`, `-` and `_` replaced by `-`, at most
    /// 64 characters; nil when nothing is left.
    public static func deviceName(_ sysName: String) -> String? {
        var name = ""
        for scalar in sysName.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars.prefix(64) {
            let ok =
                ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "." || scalar == "-" || scalar == "_"
            name.unicodeScalars.append(ok ? scalar : "-")
        }
        return name.allSatisfy({ $0 == "-" }) ? nil : name
    }
}
