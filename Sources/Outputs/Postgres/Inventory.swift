import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime

/// Discovery's inventory in this output's database (migration 2: `inventory_devices`, `inventory_links`). Each run is
/// upserted on its own short connection on a blocking queue (the sink's thread keeps its COPY connection): devices by
/// identity, links by their five columns; `first_seen` keeps the earliest, `last_seen` moves on. A failed write is
/// retried by the next run (the inventory is a snapshot, not a stream: nothing is spooled).
public struct PostgresInventoryWriter: InventoryWriter {
    public let options: PostgresOptions
    let logger: Logger
    public var name: String { options.name }

    public init(options: PostgresOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// One writer per `[[outputs.postgres]]`.
    public static func writers(_ config: AgentConfiguration, logger: Logger) -> [any InventoryWriter] {
        config.outputs.of("postgres", as: PostgresOptions.self).map {
            PostgresInventoryWriter(options: $0.options, logger: logger)
        }
    }

    public func write(_ result: DiscoveryResult, at unixSeconds: Double) async throws {
        let options = self.options
        let logger = self.logger
        try await DispatchQueue.global().run { () throws(PGFailure) in
            var after = [("connect_timeout", "\(max(2, Int(options.connectTimeout.seconds.rounded(.up))))")]
            if let password = options.password { after.append(("password", password)) }
            let c = try PGConnection(
                conninfo: options.conninfo, before: [("fallback_application_name", "netpoller-discovery")],
                after: after)
            try c.exec(
                "SET statement_timeout = \(Int(options.statementTimeout.seconds * 1000)); "
                    + "SET search_path TO \(PostgresWriter.quote(options.schema)); SET timezone TO 'UTC'")
            _ = try PostgresWriter.migrate(c, options: options, logger: logger, metrics: nil)
            let seen = "\(unixSeconds)"
            try c.exec("BEGIN")
            do throws(PGFailure) {
                for d in result.devices {
                    try c.exec(
                        """
                        INSERT INTO inventory_devices (identity, name, address, addresses, sys_name, sys_descr,
                            sys_object_id, serial, engine_id, credential, profiles, found, first_seen, last_seen)
                        VALUES ($1, $2, $3::inet, $4::inet[], $5, $6, $7, $8, $9, $10, $11::text[], $12,
                            $13::timestamptz, to_timestamp($14::double precision))
                        ON CONFLICT (identity) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,
                            addresses = EXCLUDED.addresses, sys_name = EXCLUDED.sys_name,
                            sys_descr = EXCLUDED.sys_descr, sys_object_id = EXCLUDED.sys_object_id,
                            serial = EXCLUDED.serial, engine_id = EXCLUDED.engine_id,
                            credential = EXCLUDED.credential, profiles = EXCLUDED.profiles, found = EXCLUDED.found,
                            first_seen = least(inventory_devices.first_seen, EXCLUDED.first_seen),
                            last_seen = EXCLUDED.last_seen
                        """,
                        [
                            d.identity, d.name, d.address.description, Self.array(d.addresses.map(\.description)),
                            d.sysName, d.sysDescr, d.sysObjectID, d.serial, d.engineID, d.credential,
                            Self.array(d.profiles), d.found, d.firstSeen, seen,
                        ])
                }
                for l in result.links {
                    try c.exec(
                        """
                        INSERT INTO inventory_links (protocol, local_device, local_port, remote_device, remote_port,
                            remote_known, first_seen, last_seen)
                        VALUES ($1, $2, $3, $4, $5, $6::boolean, to_timestamp($7::double precision),
                            to_timestamp($7::double precision))
                        ON CONFLICT (local_device, local_port, protocol, remote_device, remote_port)
                        DO UPDATE SET remote_known = EXCLUDED.remote_known, last_seen = EXCLUDED.last_seen
                        """,
                        [
                            l.protocolName, l.localDevice, l.localPort, l.remoteDevice, l.remotePort,
                            l.remoteKnown ? "true" : "false", seen,
                        ])
                }
                try c.exec("COMMIT")
            } catch {
                c.rollbackIfNeeded()
                throw error
            }
        }
    }

    /// A PostgreSQL array literal of text items (each double-quoted).
    static func array(_ items: [String]) -> String {
        "{"
            + items.map {
                "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    + "\""
            }
            .joined(separator: ",") + "}"
    }
}
