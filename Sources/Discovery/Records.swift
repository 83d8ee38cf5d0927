import NetPollerCore

/// How an address came to be probed.
public enum FoundVia: Sendable, Hashable {
    case seed
    case sweep
    /// A neighbour table (`lldp` or `cdp`) of the device answering at `of` named it.
    case neighbour(protocol: String, of: IPv4)
}

/// One row of a neighbour table, as the local device reports it.
public struct Neighbour: Sendable, Hashable {
    /// `lldp` or `cdp`.
    public var protocolName: String
    public var localPort: String
    public var remoteName: String
    public var remotePort: String
    /// LLDP chassis ID in hex (matched against other devices' lldpLocChassisId); empty for CDP.
    public var remoteChassis: String
    /// The management addresses it lists (IPv4).
    public var addresses: [IPv4]

    public init(
        protocolName: String, localPort: String, remoteName: String, remotePort: String, remoteChassis: String,
        addresses: [IPv4]
    ) {
        self.protocolName = protocolName
        self.localPort = localPort
        self.remoteName = remoteName
        self.remotePort = remotePort
        self.remoteChassis = remoteChassis
        self.addresses = addresses
    }
}

/// What one answering address told: its identity scalars, and (unless another address of the same engine read them)
/// its tables.
public struct DeviceProbe: Sendable, Equatable {
    public var address: IPv4
    public var credential: String
    public var via: FoundVia
    public var depth: Int
    public var sysObjectID: OID?
    public var sysName = ""
    public var sysDescr = ""
    /// snmpEngineID in hex; empty when the device has none.
    public var engineID = ""
    /// ENTITY-MIB chassis serial; empty when absent.
    public var serial = ""
    /// lldpLocChassisId in hex; empty when absent.
    public var chassisID = ""
    /// The device's own IPv4 addresses (ipAddrTable / ipAddressTable), sorted.
    public var ownAddresses: [IPv4] = []
    public var neighbours: [Neighbour] = []
    /// The profiles the poller would choose (sysObjectID rules and sentinels).
    public var profiles: [String] = []
    /// Whether the tables were read here (false: another address of the same engine read them).
    public var tablesRead = false

    public init(address: IPv4, credential: String, via: FoundVia, depth: Int) {
        self.address = address
        self.credential = credential
        self.via = via
        self.depth = depth
    }

    /// Engine ID, else sysObjectID + chassis serial, else sysName + its own addresses.
    public var identity: String {
        if !engineID.isEmpty { return "engine:\(engineID)" }
        if !serial.isEmpty { return "serial:\(sysObjectID?.description ?? "")/\(serial)" }
        let addresses = ownAddresses.isEmpty ? [address] : ownAddresses
        return "name:\(sysName)/\(addresses.map(\.description).joined(separator: ","))"
    }
}

/// Everything one run saw, before identities are merged.
public struct DiscoveryObservations: Sendable {
    public var probes: [DeviceProbe] = []
    /// Addresses that answered an SNMPv3 engine-ID probe but none of the credentials, with the engine ID.
    public var noCredential: [IPv4: String] = [:]
    /// Seeds and neighbours' addresses that answered nothing.
    public var unreachable: Set<IPv4> = []
    /// Neighbour addresses outside `networks` or inside `exclude` (recorded, never probed).
    public var outside: Set<IPv4> = []
    public var addressesProbed = 0
    public var packets = 0
    public var seconds = 0.0
    /// Answering addresses beyond `max_devices` (not kept).
    public var dropped = 0

    public init() {}
}

/// One device after merging: what `--format conf` writes as a `[[devices]]` entry.
public struct DiscoveredDevice: Sendable, Equatable, Codable {
    public var identity: String
    public var name: String
    public var address: IPv4
    public var port: Int
    public var credential: String
    public var profiles: [String]
    public var sysObjectID: String
    public var sysName: String
    public var sysDescr: String
    public var engineID: String
    public var serial: String
    /// Every address it answered at or reported as its own, sorted.
    public var addresses: [IPv4]
    /// The addresses it answered at.
    public var answeredAt: [IPv4]
    /// `seed`, `sweep of <network>`, or `<lldp|cdp> neighbour of <device>`.
    public var found: String
    /// When this identity was first seen (from the discovery state), ISO 8601 UTC.
    public var firstSeen: String

    enum CodingKeys: String, CodingKey {
        case identity, name, address, port, credential, profiles, found, serial, addresses
        case sysObjectID = "sys_object_id"
        case sysName = "sys_name"
        case sysDescr = "sys_descr"
        case engineID = "engine_id"
        case answeredAt = "answered_at"
        case firstSeen = "first_seen"
    }
}

/// A neighbour relation: (local device, local port, remote device, remote port), as the local device reports it.
public struct DiscoveredLink: Sendable, Hashable, Codable, Comparable {
    public var protocolName: String
    public var localDevice: String
    public var localPort: String
    /// A discovered device's name, or the name the neighbour table gives when it is not one.
    public var remoteDevice: String
    public var remotePort: String
    /// Whether `remoteDevice` is a discovered device.
    public var remoteKnown: Bool

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol"
        case localDevice = "local_device"
        case localPort = "local_port"
        case remoteDevice = "remote_device"
        case remotePort = "remote_port"
        case remoteKnown = "remote_known"
    }

    public static func < (a: DiscoveredLink, b: DiscoveredLink) -> Bool {
        (a.localDevice, a.localPort, a.remoteDevice, a.remotePort, a.protocolName)
            < (b.localDevice, b.localPort, b.remoteDevice, b.remotePort, b.protocolName)
    }
}

/// An address that answered no credential.
public struct NoCredential: Sendable, Equatable, Codable {
    public var address: IPv4
    /// The engine ID its SNMPv3 engine-ID probe reported.
    public var engineID: String
    /// The credential names tried (never a secret).
    public var tried: [String]

    enum CodingKeys: String, CodingKey {
        case address, tried
        case engineID = "engine_id"
    }
}

/// The merged result of one run: stable order everywhere, so two runs over the same network compare byte for byte.
public struct DiscoveryResult: Sendable, Equatable, Codable {
    public var networks: [String]
    public var devices: [DiscoveredDevice]
    public var links: [DiscoveredLink]
    public var noCredential: [NoCredential]
    public var unreachable: [IPv4]
    /// Neighbours' management addresses outside `networks` (never probed).
    public var outside: [IPv4]

    enum CodingKeys: String, CodingKey {
        case networks, devices, links, unreachable, outside
        case noCredential = "no_credential"
    }
}
