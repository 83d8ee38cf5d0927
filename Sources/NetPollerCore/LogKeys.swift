import Logging

/// Every metadata key the agent logs with, declared once.
public enum LogKey: String, Sendable {
    case device = "device.name"
    case address = "device.address"
    case sink = "sink.name"
    case batchSamples = "batch.samples"
    case errorType = "error.type"
    case error = "error.message"
    case phase = "lifecycle.phase"
    case config = "config.file"
    case devices = "config.devices"
    case listen = "http.listen"
    case state = "device.state"
    case previousState = "device.previous_state"
    case duration = "poll.duration_seconds"
    case backlog = "sink.backlog_samples"
    case retryIn = "sink.retry_in_seconds"
    case deadLetter = "sink.dead_letter_file"
    case deadLetterError = "sink.dead_letter_error"
    case spool = "spool.path"
    case samples = "samples"
    case reason = "drop.reason"
    case hash = "config.hash"
    case started = "reload.started"
    case stopped = "reload.stopped"
    case target = "sink.target"
    case schemaVersion = "postgres.schema_version"
    case serverVersion = "postgres.server_version"
    case partition = "postgres.partition"
    case database = "sink.database"
    case openFiles = "process.open_files_limit"
    case networks = "discovery.networks"
    case file = "discovery.file"
}

extension Logger.Metadata {
    /// Metadata from typed keys: `[.device: "r1"]`.
    public static func keys(_ pairs: KeyValuePairs<LogKey, Logger.MetadataValue>) -> Logger.Metadata {
        var metadata = Logger.Metadata()
        for (key, value) in pairs { metadata[key.rawValue] = value }
        return metadata
    }
}
