/// The profiles that ship with the agent, and the sysObjectID rules that pick them.
public enum BuiltinProfiles {
    private static func oid(_ text: String) -> OID {
        guard let oid = OID(text) else { preconditionFailure("bad built-in OID \(text)") }
        return oid
    }

    /// The declared type of every built-in field that has one: counters are counters and everything else numeric is a
    /// gauge whatever the device sends, and ifPhysAddress is a MAC address.
    static let types: [String: FieldType] = {
        var types: [String: FieldType] = ["ifPhysAddress": .mac]
        let counters = [
            "ifInOctets", "ifInUcastPkts", "ifInNUcastPkts", "ifInDiscards", "ifInErrors", "ifInUnknownProtos",
            "ifOutOctets", "ifOutUcastPkts", "ifOutNUcastPkts", "ifOutDiscards", "ifOutErrors", "ifInMulticastPkts",
            "ifInBroadcastPkts", "ifOutMulticastPkts", "ifOutBroadcastPkts", "ifHCInOctets", "ifHCInUcastPkts",
            "ifHCInMulticastPkts", "ifHCInBroadcastPkts", "ifHCOutOctets", "ifHCOutUcastPkts", "ifHCOutMulticastPkts",
            "ifHCOutBroadcastPkts", "hrStorageAllocationFailures", "ssCpuRawUser", "ssCpuRawNice", "ssCpuRawSystem",
            "ssCpuRawIdle", "ssCpuRawWait", "ssCpuRawInterrupt", "ssCpuRawSoftIRQ",
        ]
        let gauges = [
            "sysUpTime", "ifType", "ifMtu", "ifSpeed", "ifAdminStatus", "ifOperStatus", "ifLastChange", "ifOutQLen",
            "ifLinkUpDownTrapEnable", "ifHighSpeed", "ifPromiscuousMode", "ifConnectorPresent",
            "ifCounterDiscontinuityTime", "hrSystemUptime", "hrSystemNumUsers", "hrSystemProcesses", "hrProcessorLoad",
            "hrStorageAllocationUnits", "hrStorageSize", "hrStorageUsed", "memTotalSwap", "memAvailSwap",
            "memTotalReal", "memAvailReal", "memTotalFree", "memMinimumSwap", "memShared", "memBuffer", "memCached",
            "laLoadInt", "laLoadFloat",
        ]
        for name in counters { types[name] = .counter }
        for name in gauges { types[name] = .gauge }
        return types
    }()

    private static func field(_ name: String, _ oid: OID) -> FieldSpec { FieldSpec(name, oid, type: types[name]) }

    private static func columns(_ base: String, _ names: [(UInt32, String)]) -> [FieldSpec] {
        let root = oid(base)
        return names.map { field($0.1, root.appending($0.0)) }
    }

    /// sysUpTime, sysName, sysDescr, sysObjectID, sysContact, sysLocation.
    public static let system = Profile(
        name: "system",
        scalars: [
            ScalarGroup(
                measurement: "system",
                fields: columns(
                    "1.3.6.1.2.1.1",
                    [
                        (1, "sysDescr"), (2, "sysObjectID"), (3, "sysUpTime"), (4, "sysContact"), (5, "sysName"),
                        (6, "sysLocation"),
                    ]
                ).map { field($0.name, $0.oid.appending(0)) })
        ],
        builtIn: true)

    static let ifEntry = "1.3.6.1.2.1.2.2.1"
    static let ifXEntry = "1.3.6.1.2.1.31.1.1.1"

    /// ifTable + ifXTable (with the 64-bit HC counters) as one `interface` measurement per ifIndex.
    public static let ifMIB = Profile(
        name: "if-mib",
        tables: [
            TableSpec(
                measurement: "interface",
                fields: columns(
                    ifEntry,
                    [
                        (3, "ifType"), (4, "ifMtu"), (5, "ifSpeed"), (6, "ifPhysAddress"), (7, "ifAdminStatus"),
                        (8, "ifOperStatus"), (9, "ifLastChange"), (10, "ifInOctets"), (11, "ifInUcastPkts"),
                        (12, "ifInNUcastPkts"), (13, "ifInDiscards"), (14, "ifInErrors"), (15, "ifInUnknownProtos"),
                        (16, "ifOutOctets"), (17, "ifOutUcastPkts"), (18, "ifOutNUcastPkts"), (19, "ifOutDiscards"),
                        (20, "ifOutErrors"), (21, "ifOutQLen"), (22, "ifSpecific"),
                    ])
                    + columns(
                        ifXEntry,
                        [
                            (2, "ifInMulticastPkts"), (3, "ifInBroadcastPkts"), (4, "ifOutMulticastPkts"),
                            (5, "ifOutBroadcastPkts"), (6, "ifHCInOctets"), (7, "ifHCInUcastPkts"),
                            (8, "ifHCInMulticastPkts"), (9, "ifHCInBroadcastPkts"), (10, "ifHCOutOctets"),
                            (11, "ifHCOutUcastPkts"), (12, "ifHCOutMulticastPkts"), (13, "ifHCOutBroadcastPkts"),
                            (14, "ifLinkUpDownTrapEnable"), (15, "ifHighSpeed"), (16, "ifPromiscuousMode"),
                            (17, "ifConnectorPresent"), (19, "ifCounterDiscontinuityTime"),
                        ]),
                indexTags: columns(ifEntry, [(2, "ifDescr")]) + columns(ifXEntry, [(1, "ifName"), (18, "ifAlias")]),
                indexTag: "ifIndex")
        ],
        builtIn: true)

    /// hrProcessorLoad per CPU, hrStorage table, and the hrSystem scalars.
    public static let hostResources = Profile(
        name: "host-resources",
        scalars: [
            ScalarGroup(
                measurement: "hr_system",
                fields: [
                    field("hrSystemUptime", oid("1.3.6.1.2.1.25.1.1.0")),
                    field("hrSystemNumUsers", oid("1.3.6.1.2.1.25.1.5.0")),
                    field("hrSystemProcesses", oid("1.3.6.1.2.1.25.1.6.0")),
                ])
        ],
        tables: [
            TableSpec(
                measurement: "hr_processor",
                fields: [field("hrProcessorLoad", oid("1.3.6.1.2.1.25.3.3.1.2"))],
                indexTags: [], indexTag: "hrDeviceIndex", walk: .columns),
            TableSpec(
                measurement: "hr_storage",
                fields: columns(
                    "1.3.6.1.2.1.25.2.3.1",
                    [
                        (2, "hrStorageType"), (4, "hrStorageAllocationUnits"), (5, "hrStorageSize"),
                        (6, "hrStorageUsed"), (7, "hrStorageAllocationFailures"),
                    ]),
                indexTags: [FieldSpec("hrStorageDescr", oid("1.3.6.1.2.1.25.2.3.1.3"))],
                indexTag: "hrStorageIndex"),
        ],
        builtIn: true)

    /// UCD-SNMP-MIB: load averages, memory, raw CPU counters (net-snmp agents).
    public static let ucdSNMP = Profile(
        name: "ucd-snmp",
        scalars: [
            ScalarGroup(
                measurement: "ucd_memory",
                fields: columns(
                    "1.3.6.1.4.1.2021.4",
                    [
                        (3, "memTotalSwap"), (4, "memAvailSwap"), (5, "memTotalReal"), (6, "memAvailReal"),
                        (11, "memTotalFree"), (12, "memMinimumSwap"), (13, "memShared"), (14, "memBuffer"),
                        (15, "memCached"),
                    ]
                ).map { field($0.name, $0.oid.appending(0)) }),
            ScalarGroup(
                measurement: "ucd_cpu",
                fields: columns(
                    "1.3.6.1.4.1.2021.11",
                    [
                        (50, "ssCpuRawUser"), (51, "ssCpuRawNice"), (52, "ssCpuRawSystem"), (53, "ssCpuRawIdle"),
                        (54, "ssCpuRawWait"), (56, "ssCpuRawInterrupt"), (61, "ssCpuRawSoftIRQ"),
                    ]
                ).map { field($0.name, $0.oid.appending(0)) }),
        ],
        tables: [
            TableSpec(
                measurement: "ucd_load",
                fields: columns("1.3.6.1.4.1.2021.10.1", [(5, "laLoadInt"), (6, "laLoadFloat")]),
                indexTags: columns("1.3.6.1.4.1.2021.10.1", [(2, "laNames")]),
                indexTag: "laIndex")
        ],
        builtIn: true)

    public static let all: [Profile] = [system, ifMIB, hostResources, ucdSNMP]

    /// The default set when no sysObjectID rule matches (overridable by `[agent] default_profiles`).
    public static let defaultSet = ["system", "if-mib"]

    /// Built-in sysObjectID prefix rules. All matching rules apply.
    public static let rules: [(prefix: OID, profiles: [String])] = [
        // net-snmp agents (Linux, BSD, …): NET-SNMP-MIB::netSnmpAgentOIDs
        (oid("1.3.6.1.4.1.8072.3.2"), ["system", "if-mib", "host-resources", "ucd-snmp"]),
        // Microsoft Windows SNMP service
        (oid("1.3.6.1.4.1.311.1.1.3"), ["system", "if-mib", "host-resources"]),
    ]

    /// Each built-in profile's sentinel: a scalar that any device implementing the profile's MIB answers. A device
    /// that answers one gets the profile whatever its sysObjectID (a Junos box with host-resources, a printer with
    /// if-mib).
    public static let sentinels: [(profile: String, name: String, oid: OID)] = [
        ("if-mib", "ifNumber", oid("1.3.6.1.2.1.2.1.0")),
        ("host-resources", "hrSystemUptime", oid("1.3.6.1.2.1.25.1.1.0")),
        ("ucd-snmp", "memTotalReal", oid("1.3.6.1.4.1.2021.4.5.0")),
    ]

    /// The profiles for a device and why each was chosen: every matching sysObjectID rule (built-in or a user
    /// profile's prefixes), else the default set, plus every built-in profile whose sentinel the device answered.
    public static func choose(
        sysObjectID: OID?, answered: Set<String>, userProfiles: [Profile], defaultSet: [String]
    ) -> ProfileChoice {
        var profiles: [String] = []
        var reasons: [String: String] = [:]
        func add(_ name: String, _ why: String) {
            guard reasons[name] == nil else { return }
            profiles.append(name)
            reasons[name] = why
        }
        if let sysObjectID {
            for rule in rules where sysObjectID.hasPrefix(rule.prefix) {
                for name in rule.profiles { add(name, "sysObjectID rule \(rule.prefix)") }
            }
            for profile in userProfiles {
                if let prefix = profile.sysObjectIDPrefixes.first(where: sysObjectID.hasPrefix) {
                    add(profile.name, "sysObjectID prefix \(prefix)")
                }
            }
        }
        if profiles.isEmpty {
            for name in defaultSet { add(name, "default") }
        }
        for sentinel in sentinels where answered.contains(sentinel.profile) {
            add(sentinel.profile, "probe \(sentinel.name)")
        }
        if reasons["system"] == nil {
            profiles.insert("system", at: 0)
            reasons["system"] = reasons.isEmpty ? "default" : "always"
        }
        return ProfileChoice(profiles: profiles, reasons: reasons, sysObjectID: sysObjectID)
    }

    /// Profiles for a device by its sysObjectID: every matching built-in rule and user profile, else the default set.
    public static func select(sysObjectID: OID?, userProfiles: [Profile], defaultSet: [String]) -> [String] {
        var chosen: [String] = []
        if let sysObjectID {
            for rule in rules where sysObjectID.hasPrefix(rule.prefix) {
                for name in rule.profiles where !chosen.contains(name) { chosen.append(name) }
            }
            for profile in userProfiles where profile.sysObjectIDPrefixes.contains(where: sysObjectID.hasPrefix) {
                if !chosen.contains(profile.name) { chosen.append(profile.name) }
            }
        }
        if chosen.isEmpty { return defaultSet }
        if !chosen.contains("system") { chosen.insert("system", at: 0) }
        return chosen
    }
}
