/// The database schema as versioned migrations, applied in order, each once, recorded in `netpoller_schema_migrations`.
///
/// Never edit a released migration: add a new one. An agent refuses a database whose newest recorded version is
/// higher than the last one it knows (a newer agent migrated it).
enum Schema {
    struct Migration {
        var version: Int
        var name: String
        var sql: String
    }

    static var latest: Int { migrations.last!.version }

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "devices, series, samples partitioned by day, batch ledger, views",
            sql: """
                CREATE TABLE devices (
                    name             text PRIMARY KEY,
                    address          text,
                    sys_name         text,
                    sys_descr        text,
                    sys_object_id    text,
                    sys_location     text,
                    sys_contact      text,
                    profiles         text[],
                    tags             jsonb NOT NULL DEFAULT '{}',
                    first_seen       timestamptz NOT NULL,
                    last_seen        timestamptz,
                    last_poll_status text,
                    last_poll_time   timestamptz
                );

                CREATE TABLE series (
                    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    device      text NOT NULL,
                    measurement text NOT NULL,
                    field       text NOT NULL,
                    tags        jsonb NOT NULL DEFAULT '{}',
                    kind        text NOT NULL,
                    labels      jsonb NOT NULL DEFAULT '{}',
                    first_seen  timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (device, measurement, field, tags)
                );
                CREATE INDEX series_device_measurement ON series (device, measurement);

                CREATE TABLE samples (
                    series_id bigint NOT NULL,
                    time      timestamptz NOT NULL,
                    value     double precision NOT NULL,
                    PRIMARY KEY (series_id, time)
                ) PARTITION BY RANGE (time);
                CREATE INDEX samples_time ON samples USING brin (time);

                CREATE TABLE netpoller_batches (
                    batch_id   bigint PRIMARY KEY,
                    device     text NOT NULL,
                    time       timestamptz NOT NULL,
                    rows       integer NOT NULL,
                    written_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX netpoller_batches_time ON netpoller_batches (time);

                CREATE VIEW sample_values AS
                    SELECT sm.time, s.device, s.measurement, s.field, s.tags, s.labels, sm.value, s.id AS series_id
                    FROM samples sm JOIN series s ON s.id = sm.series_id;

                CREATE VIEW interface_counters AS
                    SELECT sm.time, s.device,
                           (s.tags->>'ifIndex')::bigint AS if_index,
                           s.tags->>'ifName' AS if_name, s.tags->>'ifDescr' AS if_descr, s.tags->>'ifAlias' AS if_alias,
                           s.field AS counter, sm.value, s.id AS series_id
                    FROM samples sm JOIN series s ON s.id = sm.series_id
                    WHERE s.measurement = 'interface';

                CREATE VIEW interface_rates AS
                    SELECT time, device, if_index, if_name, if_alias, counter,
                           CASE WHEN value >= lag(value) OVER w
                                THEN (value - lag(value) OVER w)
                                     / NULLIF(extract(epoch FROM time - lag(time) OVER w), 0)
                           END AS per_second
                    FROM interface_counters
                    WINDOW w AS (PARTITION BY series_id ORDER BY time);

                CREATE VIEW device_status AS
                    SELECT name, address, sys_name, last_poll_status, last_poll_time, last_seen,
                           now() - last_seen AS since_last_seen, profiles, tags
                    FROM devices;
                """),
        Migration(
            version: 2, name: "discovery inventory: devices by identity, neighbour links",
            sql: """
                CREATE TABLE inventory_devices (
                    identity      text PRIMARY KEY,
                    name          text NOT NULL,
                    address       inet NOT NULL,
                    addresses     inet[] NOT NULL,
                    sys_name      text,
                    sys_descr     text,
                    sys_object_id text,
                    serial        text,
                    engine_id     text,
                    credential    text,
                    profiles      text[],
                    found         text,
                    first_seen    timestamptz NOT NULL,
                    last_seen     timestamptz NOT NULL
                );
                CREATE INDEX inventory_devices_name ON inventory_devices (name);
                CREATE INDEX inventory_devices_last_seen ON inventory_devices (last_seen);
                CREATE TABLE inventory_links (
                    protocol      text NOT NULL,
                    local_device  text NOT NULL,
                    local_port    text NOT NULL,
                    remote_device text NOT NULL,
                    remote_port   text NOT NULL,
                    remote_known  boolean NOT NULL,
                    first_seen    timestamptz NOT NULL,
                    last_seen     timestamptz NOT NULL,
                    PRIMARY KEY (local_device, local_port, protocol, remote_device, remote_port)
                );
                CREATE INDEX inventory_links_remote ON inventory_links (remote_device);
                """),
    ]
}
