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
