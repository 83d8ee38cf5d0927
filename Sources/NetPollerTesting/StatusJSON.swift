import Foundation

/// Reading the agent's `/status` JSON and `/metrics` text in tests.
public enum StatusJSON {
    /// One sink's object in `/status`.
    public static func sink(_ body: String, _ name: String) -> [String: Any]? {
        entries(body, "sinks")?.first { $0["name"] as? String == name }
    }

    /// One device's object in `/status`.
    public static func device(_ body: String, _ name: String) -> [String: Any]? {
        entries(body, "devices")?.first { $0["name"] as? String == name }
    }

    /// The value of one series (`name{labels}` exactly as exposed) in Prometheus text.
    public static func metric(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Waits until `/status` at `base` shows the device with a poll done and `check` true of it; that device.
    public static func waitForDevice(
        _ base: String, _ name: String, seconds: Double = 60, _ check: @escaping ([String: Any]) -> Bool
    ) async -> [String: Any]? {
        var found: [String: Any]?
        _ = await Lab.waitForHTTP("\(base)/status", seconds: seconds) { body in
            guard let d = device(body, name), (d["polls"] as? Int ?? 0) > 0, check(d) else { return false }
            found = d
            return true
        }
        return found
    }

    static func entries(_ body: String, _ key: String) -> [[String: Any]]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return nil
        }
        return object[key] as? [[String: Any]]
    }
}
