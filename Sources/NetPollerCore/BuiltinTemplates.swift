/// The TextFSM templates of the built-in SSH profiles (`BuiltinSSHProfiles`), written for this project and shipped
/// inside the agent. `netpoller parse --builtin NAME` runs one; docs/ssh.md lists them.
public enum BuiltinTemplates {
    /// Template text by name.
    public static let all: [String: String] = [
        "np_arista_eos_show_env_temperature": #"""
        Value Filldown CARD (\S.*?)
        Value Required SENSOR (\d+)
        Value DESCRIPTION (\S.*?)
        Value TEMPERATURE (\d+(?:\.\d+)?)
        Value ALERT (\d+(?:\.\d+)?)
        Value CRITICAL (\d+(?:\.\d+)?)

        Start
          ^${CARD}:\s*$$
          ^${SENSOR}\s+${DESCRIPTION}\s+${TEMPERATURE}\s+\(\d+\)\s+\S+\s+${ALERT}\s+${CRITICAL}\s*$$ -> Record
        """#,
        "np_arista_eos_show_interfaces": #"""
        Value Required INTERFACE (\S+)
        Value LINK_STATUS (.+?)
        Value PROTOCOL_STATUS (\S+)
        Value DESCRIPTION (.*?)
        Value MTU (\d+)
        Value BANDWIDTH_KBIT (\d+)
        Value IN_RATE_BPS (\d+)
        Value OUT_RATE_BPS (\d+)
        Value IN_PACKETS (\d+)
        Value IN_BYTES (\d+)
        Value IN_ERRORS (\d+)
        Value IN_CRC (\d+)
        Value OUT_PACKETS (\d+)
        Value OUT_BYTES (\d+)
        Value OUT_ERRORS (\d+)

        Start
          ^\S+\s+is\s+.*line\s+protocol -> Continue.Record
          ^${INTERFACE}\s+is\s+${LINK_STATUS},\s+line\s+protocol\s+is\s+${PROTOCOL_STATUS}(?:\s+\(.*\))?\s*$$
          ^\s+Description:\s+"?${DESCRIPTION}"?\s*$$
          ^\s+IP\s+MTU\s+${MTU}\s+bytes.*BW\s+${BANDWIDTH_KBIT}\s+kbit
          ^\s+\d+\s+\S+\s+input\s+rate\s+${IN_RATE_BPS}\s+bps
          ^\s+\d+\s+\S+\s+output\s+rate\s+${OUT_RATE_BPS}\s+bps
          ^\s+${IN_PACKETS}\s+packets\s+input,\s+${IN_BYTES}\s+bytes
          ^\s+${IN_ERRORS}\s+input\s+errors,\s+${IN_CRC}\s+CRC
          ^\s+${OUT_PACKETS}\s+packets\s+output,\s+${OUT_BYTES}\s+bytes
          ^\s+${OUT_ERRORS}\s+output\s+errors
        """#,
        "np_arista_eos_show_ip_bgp_summary": #"""
        Value Filldown VRF (\S+)
        Value Filldown ROUTER_ID (\S+)
        Value Filldown LOCAL_AS (\d+(?:\.\d+)?)
        Value Required NEIGHBOR (\S+)
        Value REMOTE_AS (\d+(?:\.\d+)?)
        Value MSG_RCVD (\d+)
        Value MSG_SENT (\d+)
        Value IN_Q (\d+)
        Value OUT_Q (\d+)
        Value UP_DOWN (\S+)
        Value STATE (\S+)
        Value PREFIXES_RCVD (\d+)
        Value PREFIXES_ACCEPTED (\d+)

        Start
          ^BGP\s+summary\s+information\s+for\s+VRF\s+${VRF}\s*$$
          ^Router\s+identifier\s+${ROUTER_ID},\s+local\s+AS\s+number\s+${LOCAL_AS}
          ^\s*${NEIGHBOR}\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${STATE}\s+${PREFIXES_RCVD}\s+${PREFIXES_ACCEPTED}\s*$$ -> Record
          ^\s*${NEIGHBOR}\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${STATE}\s*$$ -> Record
        """#,
        "np_arista_eos_show_version": #"""
        Value MODEL (\S.*?)
        Value SERIAL (\S*)
        Value VERSION (\S+)
        Value UPTIME (\S.*?)
        Value TOTAL_MEMORY (\d+)
        Value FREE_MEMORY (\d+)

        Start
          ^Arista\s+${MODEL}\s*$$
          ^Serial\s+number:\s*${SERIAL}\s*$$
          ^Software\s+image\s+version:\s+${VERSION}
          ^Uptime:\s+${UPTIME}\s*$$
          ^Total\s+memory:\s+${TOTAL_MEMORY}
          ^Free\s+memory:\s+${FREE_MEMORY}
        """#,
        "np_cisco_bgp_summary": #"""
        Value Filldown VRF (\S+)
        Value Filldown ROUTER_ID (\S+)
        Value Filldown LOCAL_AS (\d+(?:\.\d+)?)
        Value Required NEIGHBOR (\d+\.\d+\.\d+\.\d+|[0-9a-fA-F]*:[0-9a-fA-F:.]+)
        Value REMOTE_AS (\d+(?:\.\d+)?)
        Value MSG_RCVD (\d+)
        Value MSG_SENT (\d+)
        Value IN_Q (\d+)
        Value OUT_Q (\d+)
        Value UP_DOWN (\S+)
        Value PREFIXES (\d+)
        Value STATE (\D.*?)

        Start
          ^BGP\s+summary\s+information\s+for\s+VRF\s+${VRF},
          ^\s*BGP\s+router\s+identifier\s+${ROUTER_ID},\s+local\s+AS\s+number\s+${LOCAL_AS}
          ^${NEIGHBOR}\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${PREFIXES}\s*$$ -> Record
          ^${NEIGHBOR}\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${STATE}\s*$$ -> Record
          ^${NEIGHBOR}\s+\d+\s+${REMOTE_AS}\s*$$
          ^${NEIGHBOR}\s*$$
          ^\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${PREFIXES}\s*$$ -> Record
          ^\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${STATE}\s*$$ -> Record
          ^\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${PREFIXES}\s*$$ -> Record
          ^\s+\d+\s+${REMOTE_AS}\s+${MSG_RCVD}\s+${MSG_SENT}\s+\d+\s+${IN_Q}\s+${OUT_Q}\s+${UP_DOWN}\s+${STATE}\s*$$ -> Record
        """#,
        "np_cisco_ios_show_env_temperature": #"""
        Value Filldown SWITCH (\d+)
        Value Required SENSOR (\S+)
        Value TEMPERATURE (\d+)
        Value STATE (\S+)
        Value YELLOW (\d+)
        Value RED (\d+)

        Start
          ^Switch\s+${SWITCH}:
          ^\s*${SENSOR}\s+Temperature\s+Value:\s+${TEMPERATURE}
          ^\s*Temperature\s+State:\s+${STATE}
          ^\s*Yellow\s+Threshold\s*:\s+${YELLOW}
          ^\s*Red\s+Threshold\s*:\s+${RED} -> Record
        """#,
        "np_cisco_ios_show_interfaces": #"""
        Value Required INTERFACE (\S+)
        Value LINK_STATUS (.+?)
        Value PROTOCOL_STATUS (\S+)
        Value DESCRIPTION (.*?)
        Value MTU (\d+)
        Value BANDWIDTH_KBIT (\d+)
        Value IN_RATE_BPS (\d+)
        Value OUT_RATE_BPS (\d+)
        Value IN_PACKETS (\d+)
        Value IN_BYTES (\d+)
        Value IN_ERRORS (\d+)
        Value IN_CRC (\d+)
        Value OUT_PACKETS (\d+)
        Value OUT_BYTES (\d+)
        Value OUT_ERRORS (\d+)

        Start
          ^\S+\s+is\s+.*line\s+protocol -> Continue.Record
          ^${INTERFACE}\s+is\s+${LINK_STATUS},\s+line\s+protocol\s+is\s+${PROTOCOL_STATUS}(?:\s+\(.*\))?\s*$$
          ^\s+Description:\s+${DESCRIPTION}\s*$$
          ^\s+MTU\s+${MTU}\s+bytes,\s+BW\s+${BANDWIDTH_KBIT}\s+Kbit
          ^\s+\d+\s+minute\s+input\s+rate\s+${IN_RATE_BPS}\s+bits/sec
          ^\s+\d+\s+minute\s+output\s+rate\s+${OUT_RATE_BPS}\s+bits/sec
          ^\s+${IN_PACKETS}\s+packets\s+input,\s+${IN_BYTES}\s+bytes
          ^\s+${IN_ERRORS}\s+input\s+errors,\s+${IN_CRC}\s+CRC
          ^\s+${OUT_PACKETS}\s+packets\s+output,\s+${OUT_BYTES}\s+bytes
          ^\s+${OUT_ERRORS}\s+output\s+errors
        """#,
        "np_cisco_ios_show_version": #"""
        Value VERSION ([^,\s]+)
        Value HOSTNAME (\S+)
        Value UPTIME (\S.*?)
        Value HARDWARE (\S+)
        Value SERIAL (\S+)

        Start
          ^Cisco\s+IOS.*Version\s+${VERSION}
          ^\s*${HOSTNAME}\s+uptime\s+is\s+${UPTIME}\s*$$
          ^[Cc]isco\s+${HARDWARE}\s+.*bytes\s+of\s+memory
          ^Processor\s+board\s+ID\s+${SERIAL}
        """#,
        "np_cisco_nxos_show_env_temperature": #"""
        Value MODULE (\d+)
        Value SENSOR (\S.*?)
        Value MAJOR (\d+)
        Value MINOR (\d+)
        Value CURRENT (\d+)
        Value STATUS (\S+)

        Start
          ^${MODULE}\s+${SENSOR}\s+${MAJOR}\s+${MINOR}\s+${CURRENT}\s+${STATUS}\s*$$ -> Record
        """#,
        "np_cisco_nxos_show_interface": #"""
        Value Required INTERFACE (\S+)
        Value LINK_STATUS (up|down)
        Value PROTOCOL_STATUS (up|down)
        Value DESCRIPTION (.*?)
        Value MTU (\d+)
        Value BANDWIDTH_KBIT (\d+)
        Value IN_RATE_BPS (\d+)
        Value OUT_RATE_BPS (\d+)
        Value IN_PACKETS (\d+)
        Value IN_BYTES (\d+)
        Value IN_ERRORS (\d+)
        Value IN_CRC (\d+)
        Value OUT_PACKETS (\d+)
        Value OUT_BYTES (\d+)
        Value OUT_ERRORS (\d+)

        Start
          ^\S+\s+is\s+(?:up|down) -> Continue.Record
          ^${INTERFACE}\s+is\s+${LINK_STATUS}(?:\s+\([^)]*\))?,\s+line\s+protocol\s+is\s+${PROTOCOL_STATUS}
          ^${INTERFACE}\s+is\s+${LINK_STATUS}
          ^\s+Description:\s+${DESCRIPTION}\s*$$
          ^\s+MTU\s+${MTU}\s+bytes,\s+BW\s+${BANDWIDTH_KBIT}\s+Kbit
          ^\s+\d+\s+seconds\s+input\s+rate\s+${IN_RATE_BPS}\s+bits/sec
          ^\s+\d+\s+seconds\s+output\s+rate\s+${OUT_RATE_BPS}\s+bits/sec
          ^\s+${IN_PACKETS}\s+input\s+packets\s+${IN_BYTES}\s+bytes
          ^\s+${IN_ERRORS}\s+input\s+error\s+
          ^\s+\d+\s+runts\s+\d+\s+giants\s+${IN_CRC}\s+CRC
          ^\s+${OUT_PACKETS}\s+output\s+packets\s+${OUT_BYTES}\s+bytes
          ^\s+${OUT_ERRORS}\s+output\s+error\s+
        """#,
        "np_cisco_nxos_show_version": #"""
        Value VERSION (\S+)
        Value HOSTNAME (\S+)
        Value UPTIME (\S.*?)
        Value HARDWARE (\S.*?)
        Value SERIAL (\S+)

        Start
          ^\s+(?:system|NXOS):\s+version\s+${VERSION}
          ^\s+[Cc]isco\s+${HARDWARE}\s+[Cc]hassis
          ^\s+Processor\s+[Bb]oard\s+ID\s+${SERIAL}
          ^\s+Device\s+name:\s+${HOSTNAME}
          ^Kernel\s+uptime\s+is\s+${UPTIME}\s*$$
        """#,
        "np_juniper_junos_show_bgp_summary": #"""
        Value Required NEIGHBOR (\S+)
        Value REMOTE_AS (\d+(?:\.\d+)?)
        Value IN_PKT (\d+)
        Value OUT_PKT (\d+)
        Value OUT_Q (\d+)
        Value FLAPS (\d+)
        Value UP_DOWN (\S+(?:\s+\d+:\d+(?::\d+)?)?)
        Value STATE (\S+)
        Value TABLE (\S+)
        Value ACTIVE (\d+)
        Value RECEIVED (\d+)
        Value ACCEPTED (\d+)

        Start
          ^Peer\s+AS\s+InPkt -> Peers

        Peers
          ^\S+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+ -> Continue.Record
          ^${NEIGHBOR}\s+${REMOTE_AS}\s+${IN_PKT}\s+${OUT_PKT}\s+${OUT_Q}\s+${FLAPS}\s+${UP_DOWN}\s+${STATE}\s*$$
          ^\s+${TABLE}:\s+${ACTIVE}/${RECEIVED}/${ACCEPTED}/\d+
        """#,
        "np_juniper_junos_show_chassis_environment": #"""
        Value Required ITEM (\S.*?)
        Value STATUS (\S+)
        Value TEMPERATURE (\d+)

        Start
          ^Temp\s+${ITEM}\s+${STATUS}\s+${TEMPERATURE}\s+degrees\s+C -> Record
          ^\s+${ITEM}\s+${STATUS}\s+${TEMPERATURE}\s+degrees\s+C -> Record
        """#,
        "np_juniper_junos_show_interfaces": #"""
        Value Required INTERFACE (\S+)
        Value ADMIN_STATUS (Enabled|Disabled)
        Value LINK_STATUS (Up|Down)
        Value SNMP_IFINDEX (\d+)
        Value DESCRIPTION (.*?)
        Value MTU (\d+|Unlimited)
        Value SPEED ([^,\s]+)
        Value IN_RATE_BPS (\d+)
        Value OUT_RATE_BPS (\d+)

        Start
          ^Physical\s+interface: -> Continue.Record
          ^Physical\s+interface:\s+${INTERFACE},\s+${ADMIN_STATUS},\s+Physical\s+link\s+is\s+${LINK_STATUS}
          ^\s+Interface\s+index:\s+\d+,\s+SNMP\s+ifIndex:\s+${SNMP_IFINDEX}
          ^\s+Description:\s+${DESCRIPTION}\s*$$
          ^\s+.*MTU:\s+${MTU} -> Continue
          ^\s+.*Speed:\s+${SPEED}
          ^\s+Input\s+rate\s+:\s+${IN_RATE_BPS}\s+bps
          ^\s+Output\s+rate\s+:\s+${OUT_RATE_BPS}\s+bps
          ^\s+Logical\s+interface -> Logical

        Logical
          ^Physical\s+interface: -> Continue.Record
          ^Physical\s+interface:\s+${INTERFACE},\s+${ADMIN_STATUS},\s+Physical\s+link\s+is\s+${LINK_STATUS} -> Start
        """#,
        "np_juniper_junos_show_system_uptime": #"""
        Value BOOTED_AGO (\S.*?)

        Start
          ^System\s+booted:.*\(${BOOTED_AGO}\s+ago\)
        """#,
        "np_juniper_junos_show_version": #"""
        Value MEMBER (\S+)
        Value HOSTNAME (\S+)
        Value MODEL (\S+)
        Value VERSION (\S+)

        Start
          ^\S+:\s*$$ -> Continue.Record
          ^${MEMBER}:\s*$$
          ^\s*Hostname:\s+${HOSTNAME}
          ^\s*Model:\s+${MODEL}
          ^\s*Junos:\s+${VERSION}
          ^\s*JUNOS\s+.*Software\s+Suite\s+\[${VERSION}\]
        """#,
    ]
}
