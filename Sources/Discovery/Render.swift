import Foundation
import NetPollerCore

/// The reviewable outputs. Everything is sorted and holds no time but first-seen, so an unchanged network renders to
/// the same bytes run after run. Credentials appear by name only.
public enum DiscoveryRender {
    /// A TOML fragment for the config directory: one `[[devices]]` per device, each with a comment saying how and when
    /// it was found. `exclude` names devices left out (already configured by hand).
    public static func conf(_ result: DiscoveryResult, excluding exclude: Set<String> = []) -> String {
        var out = "# Written by netpoller discover: review before use. Devices are named by identity (SNMP engine ID,\n"
        out += "# else sysObjectID + chassis serial, else sysName + addresses); credentials by name only.\n"
        out += "# networks: \(result.networks.joined(separator: ", "))\n"
        let devices = result.devices.filter { !exclude.contains($0.name) }
        out += "# \(devices.count) device(s), \(result.links.count) link(s), \(result.noCredential.count) "
        out += "address(es) answering no credential\n"
        for device in devices {
            out += "\n"
            if !device.sysDescr.isEmpty { out += "# \(comment(String(device.sysDescr.prefix(100))))\n" }
            out += "# found by \(comment(device.found)), first seen \(device.firstSeen); "
            out += "identity \(comment(device.identity))\n"
            if device.addresses.count > 1 {
                out += "# addresses: \(device.addresses.map(\.description).joined(separator: ", "))\n"
            }
            out += "[[devices]]\n"
            out += "name = \(quoted(device.name))\n"
            let address = device.port == 161 ? "\(device.address)" : "\(device.address):\(device.port)"
            out += "address = \(quoted(address))\n"
            out += "snmp = \(quoted(device.credential))\n"
            out += "profiles = [\(device.profiles.map(quoted).joined(separator: ", "))]\n"
        }
        for entry in result.noCredential {
            out += "\n# no_credential: \(entry.address) answers SNMP (engine \(entry.engineID)) but none of "
            out += "\(entry.tried.joined(separator: ", "))\n"
        }
        return out
    }

    /// Devices, links and the addresses that answered no credential, as JSON with sorted keys.
    public static func json(_ result: DiscoveryResult) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(result)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One line per difference against a config's devices (`new`, `changed`, `gone`), then a summary. A config
    /// device matches a discovered one by any of its addresses, else by name; one outside `networks` is not judged.
    public static func diff(
        _ result: DiscoveryResult, against devices: [DeviceConfig], settings: DiscoverySettings
    ) -> (text: String, new: Int, changed: Int, gone: Int) {
        var lines: [String] = []
        var matched = Set<String>()
        var unchanged = 0
        var new = 0
        var changed = 0
        for device in result.devices {
            let config =
                devices.first { d in IPv4(d.address.host).map { device.addresses.contains($0) } ?? false }
                ?? devices.first { $0.name == device.name }
            guard let config else {
                lines.append("new      \(device.name)  \(device.address)  found by \(device.found)")
                new += 1
                continue
            }
            matched.insert(config.name)
            var what: [String] = []
            if config.name != device.name { what.append("name \(config.name) -> \(device.name)") }
            if config.address.host != device.address.description || config.address.port != device.port {
                what.append("address \(config.address) -> \(device.address):\(device.port)")
            }
            if config.snmpEnabled && config.credential != device.credential {
                what.append("snmp \(config.credential) -> \(device.credential)")
            }
            if let profiles = config.profiles, profiles != device.profiles {
                what.append(
                    "profiles [\(profiles.joined(separator: ","))] -> [\(device.profiles.joined(separator: ","))]")
            }
            if what.isEmpty {
                unchanged += 1
            } else {
                lines.append("changed  \(config.name)  \(what.joined(separator: "; "))")
                changed += 1
            }
        }
        var gone = 0
        for device in devices.sorted(by: { $0.name < $1.name }) where !matched.contains(device.name) {
            guard let address = IPv4(device.address.host), settings.allows(address) else { continue }
            lines.append("gone     \(device.name)  \(device.address)  not found by this run")
            gone += 1
        }
        lines.append("summary: \(new) new, \(changed) changed, \(gone) gone, \(unchanged) unchanged")
        return (lines.joined(separator: "\n") + "\n", new, changed, gone)
    }

    /// Names of the devices a `discovered.conf` holds (its `name = "…"` lines).
    public static func names(inConf text: String) -> Set<String> {
        var names = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("name = \"") && line.hasSuffix("\"") {
            names.insert(String(line.dropFirst(8).dropLast()).replacingOccurrences(of: "\\\"", with: "\""))
        }
        return names
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Text safe on one comment line.
    static func comment(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
    }
}
