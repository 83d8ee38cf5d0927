/// The SSH profiles the agent ships: interfaces, BGP neighbours, environment and version for cisco_ios, cisco_nxos,
/// arista_eos and juniper_junos, with TextFSM templates the project writes itself (`BuiltinTemplates`). A device with
/// `ssh` and a `platform` and no SSH profile of its own gets every profile of its platform.
public enum BuiltinSSHProfiles {
    public static let all: [Profile] = [
        // Cisco IOS / IOS-XE
        profile(
            "cisco_ios-interfaces", "cisco_ios", "show interfaces", "np_cisco_ios_show_interfaces", interfaceMapping),
        profile("cisco_ios-bgp", "cisco_ios", "show ip bgp summary", "np_cisco_bgp_summary", ciscoBGPMapping),
        profile(
            "cisco_ios-environment", "cisco_ios", "show environment temperature", "np_cisco_ios_show_env_temperature",
            (
                "cli_temperature",
                [
                    field("celsius", "TEMPERATURE"), field("yellow_threshold", "YELLOW"), field("red_threshold", "RED"),
                    CommandField(name: "ok", source: "STATE", map: ["GREEN": 1, "OK": 1, "*": 0]),
                ], [("switch", "SWITCH"), ("sensor", "SENSOR")]
            )),
        profile(
            "cisco_ios-version", "cisco_ios", "show version", "np_cisco_ios_show_version",
            ciscoVersionMapping),
        // Cisco NX-OS
        profile(
            "cisco_nxos-interfaces", "cisco_nxos", "show interface", "np_cisco_nxos_show_interface", interfaceMapping),
        profile("cisco_nxos-bgp", "cisco_nxos", "show ip bgp summary", "np_cisco_bgp_summary", ciscoBGPMapping),
        profile(
            "cisco_nxos-environment", "cisco_nxos", "show environment temperature",
            "np_cisco_nxos_show_env_temperature",
            (
                "cli_temperature",
                [
                    field("celsius", "CURRENT"), field("major_threshold", "MAJOR"), field("minor_threshold", "MINOR"),
                    CommandField(name: "ok", source: "STATUS", map: ["ok": 1, "*": 0]),
                ], [("module", "MODULE"), ("sensor", "SENSOR")]
            )),
        profile(
            "cisco_nxos-version", "cisco_nxos", "show version", "np_cisco_nxos_show_version",
            ciscoVersionMapping),
        // Arista EOS
        profile(
            "arista_eos-interfaces", "arista_eos", "show interfaces", "np_arista_eos_show_interfaces", interfaceMapping),
        profile(
            "arista_eos-bgp", "arista_eos", "show ip bgp summary", "np_arista_eos_show_ip_bgp_summary",
            (
                "cli_bgp_peer",
                [
                    CommandField(name: "established", source: "STATE", map: ["Estab": 1, "Established": 1, "*": 0]),
                    field("prefixes_received", "PREFIXES_RCVD"), field("prefixes_accepted", "PREFIXES_ACCEPTED"),
                    CommandField(name: "messages_received", source: "MSG_RCVD", kind: .counter),
                    CommandField(name: "messages_sent", source: "MSG_SENT", kind: .counter),
                    field("in_queue", "IN_Q"), field("out_queue", "OUT_Q"),
                    CommandField(name: "uptime_seconds", source: "UP_DOWN", kind: .gauge, duration: true),
                    info("state", "STATE"),
                ], [("vrf", "VRF"), ("neighbor", "NEIGHBOR"), ("remote_as", "REMOTE_AS"), ("local_as", "LOCAL_AS")]
            )),
        profile(
            "arista_eos-environment", "arista_eos", "show environment temperature",
            "np_arista_eos_show_env_temperature",
            (
                "cli_temperature",
                [
                    field("celsius", "TEMPERATURE"), field("alert_threshold", "ALERT"),
                    field("critical_threshold", "CRITICAL"),
                ],
                [("card", "CARD"), ("sensor", "SENSOR"), ("description", "DESCRIPTION")]
            )),
        profile(
            "arista_eos-version", "arista_eos", "show version", "np_arista_eos_show_version",
            (
                "cli_system",
                [
                    CommandField(name: "uptime_seconds", source: "UPTIME", kind: .gauge, duration: true),
                    CommandField(name: "memory_total_bytes", source: "TOTAL_MEMORY", scale: 1024),
                    CommandField(name: "memory_free_bytes", source: "FREE_MEMORY", scale: 1024),
                    info("version", "VERSION"), info("hardware", "MODEL"), info("serial", "SERIAL"),
                ], []
            )),
        // Juniper Junos
        profile(
            "juniper_junos-interfaces", "juniper_junos", "show interfaces", "np_juniper_junos_show_interfaces",
            (
                "cli_interface",
                [
                    CommandField(name: "admin_up", source: "ADMIN_STATUS", map: ["Enabled": 1, "Disabled": 0]),
                    CommandField(name: "link_up", source: "LINK_STATUS", map: ["Up": 1, "Down": 0]),
                    CommandField(name: "mtu", source: "MTU", map: ["Unlimited": 0]),
                    field("speed_bps", "SPEED"), field("in_rate_bps", "IN_RATE_BPS"),
                    field("out_rate_bps", "OUT_RATE_BPS"), info("description", "DESCRIPTION"),
                ], [("interface", "INTERFACE"), ("snmp_ifindex", "SNMP_IFINDEX")]
            )),
        profile(
            "juniper_junos-bgp", "juniper_junos", "show bgp summary", "np_juniper_junos_show_bgp_summary",
            (
                "cli_bgp_peer",
                [
                    CommandField(name: "established", source: "STATE", map: ["Establ": 1, "Established": 1, "*": 0]),
                    field("prefixes_active", "ACTIVE"), field("prefixes_received", "RECEIVED"),
                    field("prefixes_accepted", "ACCEPTED"),
                    CommandField(name: "packets_received", source: "IN_PKT", kind: .counter),
                    CommandField(name: "packets_sent", source: "OUT_PKT", kind: .counter),
                    CommandField(name: "flaps", source: "FLAPS", kind: .counter), field("out_queue", "OUT_Q"),
                    CommandField(name: "uptime_seconds", source: "UP_DOWN", kind: .gauge, duration: true),
                    info("state", "STATE"),
                ], [("neighbor", "NEIGHBOR"), ("remote_as", "REMOTE_AS"), ("table", "TABLE")]
            )),
        profile(
            "juniper_junos-environment", "juniper_junos", "show chassis environment",
            "np_juniper_junos_show_chassis_environment",
            (
                "cli_temperature",
                [field("celsius", "TEMPERATURE"), CommandField(name: "ok", source: "STATUS", map: ["OK": 1, "*": 0])],
                [("sensor", "ITEM")]
            )),
        Profile(
            name: "juniper_junos-version", builtIn: true,
            commands: [
                CommandSpec(
                    command: "show version", parser: .textfsm(.builtin("np_juniper_junos_show_version")),
                    measurement: "cli_system",
                    fields: [info("version", "VERSION"), info("hardware", "MODEL"), info("hostname", "HOSTNAME")],
                    tags: [(name: "member", source: "MEMBER")]),
                CommandSpec(
                    command: "show system uptime", parser: .textfsm(.builtin("np_juniper_junos_show_system_uptime")),
                    measurement: "cli_system",
                    fields: [CommandField(name: "uptime_seconds", source: "BOOTED_AGO", kind: .gauge, duration: true)],
                    tags: []),
            ], platforms: ["juniper_junos"]),
    ]

    typealias Mapping = (measurement: String, fields: [CommandField], tags: [(name: String, source: String)])

    static func field(_ name: String, _ source: String) -> CommandField { CommandField(name: name, source: source) }
    static func info(_ name: String, _ source: String) -> CommandField {
        CommandField(name: name, source: source, kind: .info)
    }

    static func profile(_ name: String, _ platform: String, _ command: String, _ template: String, _ m: Mapping)
        -> Profile
    {
        Profile(
            name: name, builtIn: true,
            commands: [
                CommandSpec(
                    command: command, parser: .textfsm(.builtin(template)), measurement: m.measurement,
                    fields: m.fields, tags: m.tags)
            ], platforms: [platform])
    }

    /// Interfaces on IOS, NX-OS and EOS: the same columns from each platform's template.
    static let interfaceMapping: Mapping = (
        "cli_interface",
        [
            CommandField(
                name: "link_up", source: "LINK_STATUS", map: ["up": 1, "down": 0, "administratively down": 0, "*": 0]),
            CommandField(name: "protocol_up", source: "PROTOCOL_STATUS", map: ["up": 1, "*": 0]),
            field("mtu", "MTU"), CommandField(name: "bandwidth_bps", source: "BANDWIDTH_KBIT", scale: 1000),
            CommandField(name: "in_packets", source: "IN_PACKETS", kind: .counter),
            CommandField(name: "in_bytes", source: "IN_BYTES", kind: .counter),
            CommandField(name: "out_packets", source: "OUT_PACKETS", kind: .counter),
            CommandField(name: "out_bytes", source: "OUT_BYTES", kind: .counter),
            CommandField(name: "in_errors", source: "IN_ERRORS", kind: .counter),
            CommandField(name: "in_crc", source: "IN_CRC", kind: .counter),
            CommandField(name: "out_errors", source: "OUT_ERRORS", kind: .counter),
            field("in_rate_bps", "IN_RATE_BPS"), field("out_rate_bps", "OUT_RATE_BPS"),
            info("description", "DESCRIPTION"),
        ], [("interface", "INTERFACE")]
    )

    /// `show version` on IOS and NX-OS.
    static let ciscoVersionMapping: Mapping = (
        "cli_system",
        [
            CommandField(name: "uptime_seconds", source: "UPTIME", kind: .gauge, duration: true),
            info("version", "VERSION"), info("hardware", "HARDWARE"), info("serial", "SERIAL"),
            info("hostname", "HOSTNAME"),
        ], []
    )

    /// `show ip bgp summary` on IOS and NX-OS.
    static let ciscoBGPMapping: Mapping = (
        "cli_bgp_peer",
        [
            CommandField(name: "established", source: "PREFIXES", present: true),
            field("prefixes_received", "PREFIXES"),
            CommandField(name: "messages_received", source: "MSG_RCVD", kind: .counter),
            CommandField(name: "messages_sent", source: "MSG_SENT", kind: .counter),
            field("in_queue", "IN_Q"), field("out_queue", "OUT_Q"),
            CommandField(name: "uptime_seconds", source: "UP_DOWN", kind: .gauge, duration: true),
            info("state", "STATE"),
        ], [("vrf", "VRF"), ("neighbor", "NEIGHBOR"), ("remote_as", "REMOTE_AS"), ("local_as", "LOCAL_AS")]
    )
}
