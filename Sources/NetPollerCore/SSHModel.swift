/// An SSH login (`[credentials.ssh.NAME]`): who, with what, which host keys are trusted, which algorithms.
public struct SSHCredential: Sendable, Equatable {
    public enum HostKeyPolicy: String, Sendable, Equatable, CaseIterable {
        /// Only keys already in a known_hosts file are accepted (the default).
        case strict
        /// An unknown host's first key is recorded in `<state_dir>/ssh_known_hosts` and accepted; a changed key is
        /// still refused (OpenSSH's `StrictHostKeyChecking=accept-new`).
        case acceptNew = "accept-new"
    }

    public var name: String
    public var username: String
    public var password: Secret?
    public var privateKeyFile: String?
    public var passphrase: Secret?
    /// A known_hosts file in OpenSSH format (hashed entries included); nil: only the agent's own file.
    public var knownHosts: String?
    public var hostKeyPolicy: HostKeyPolicy = .strict
    /// The SSH port (`port`, default 22); a device's `ssh_port` wins.
    public var port = 22
    public var enablePassword: Secret?
    /// `enable = true`: enter enable mode in shell mode even without an `enable_password` (a device that does not ask
    /// for one). Set implicitly by `enable_password`.
    public var enable = false
    /// Algorithm lists in preference order; nil: the defaults (see `SSHAlgorithms`).
    public var kex: [String]?
    public var hostKeyAlgorithms: [String]?
    public var ciphers: [String]?
    public var macs: [String]?
    /// `legacy = true`: the old-device preset appended to the defaults.
    public var legacy = false

    public init(name: String, username: String) {
        self.name = name
        self.username = username
    }

    /// The algorithm lists offered, overrides first, else the defaults (with the legacy preset when set).
    public var algorithms: SSHAlgorithms {
        var a = legacy ? SSHAlgorithms.legacy : SSHAlgorithms.modern
        if let kex { a.kex = kex }
        if let hostKeyAlgorithms { a.hostKey = hostKeyAlgorithms }
        if let ciphers { a.ciphers = ciphers }
        if let macs { a.macs = macs }
        return a
    }
}

/// What the agent offers in the SSH handshake, per method, in preference order (libssh2 1.10 names).
public struct SSHAlgorithms: Sendable, Equatable {
    public var kex: [String]
    public var hostKey: [String]
    public var ciphers: [String]
    public var macs: [String]

    public init(kex: [String], hostKey: [String], ciphers: [String], macs: [String]) {
        self.kex = kex
        self.hostKey = hostKey
        self.ciphers = ciphers
        self.macs = macs
    }

    /// Modern defaults. `ssh-rsa` stays because most network devices have only an RSA host key (libssh2 1.10 has no
    /// rsa-sha2-*); the key itself is still pinned by known_hosts.
    public static let modern = SSHAlgorithms(
        kex: [
            "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
            "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
        ],
        hostKey: [
            "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        ],
        ciphers: ["aes256-ctr", "aes192-ctr", "aes128-ctr"],
        macs: ["hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"])

    /// `legacy = true`: the defaults, then what old devices need (SHA-1 key exchanges, DSA, CBC ciphers, 3DES, MD5).
    public static let legacy = SSHAlgorithms(
        kex: modern.kex + [
            "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1", "diffie-hellman-group1-sha1",
        ],
        hostKey: modern.hostKey + ["ssh-dss"],
        ciphers: modern.ciphers + ["aes256-cbc", "aes192-cbc", "aes128-cbc", "3des-cbc"],
        macs: modern.macs + ["hmac-md5"])

    /// Every name libssh2 1.10 implements, per method: what an override may list.
    public static let supported = SSHAlgorithms(
        kex: legacy.kex,
        hostKey: legacy.hostKey,
        ciphers: legacy.ciphers + [
            "rijndael-cbc@lysator.liu.se", "blowfish-cbc", "arcfour128", "arcfour", "cast128-cbc",
        ],
        macs: legacy.macs + ["hmac-sha1-96", "hmac-md5-96", "hmac-ripemd160", "hmac-ripemd160@openssh.com"])
}

/// How commands run on a device: one `exec` channel per command (the default), or one interactive `shell`.
public enum SSHMode: String, Sendable, Equatable, CaseIterable {
    case exec
    case shell
}

/// `[ssh]`: the SSH poller's threads, timeouts and caps (devices may override the timeouts and the mode).
public struct SSHSettings: Sendable, Equatable {
    /// SSH I/O threads multiplexing every session (`io_threads`).
    public var ioThreads = 2
    /// TCP connect plus SSH banner and handshake (`connect_timeout`).
    public var connectTimeout: Duration = .seconds(10)
    /// Host key check and authentication (`auth_timeout`).
    public var authTimeout: Duration = .seconds(10)
    /// One command, from sending it to the end of its output (`command_timeout`).
    public var commandTimeout: Duration = .seconds(30)
    /// Channels one device may have open at once (`max_channels`).
    public var maxChannels = 1
    /// Output one command may produce; more ends the command as `channel_failed` (`max_output_bytes`).
    public var maxOutputBytes = 8 << 20
    /// Wait before reconnecting after a failed connection, doubling up to the maximum (`reconnect_backoff`,
    /// `reconnect_backoff_max`).
    public var reconnectBackoff: Duration = .seconds(5)
    public var reconnectBackoffMax: Duration = .seconds(300)
    /// A connection unused for this long is closed (`idle_timeout`); the next poll reconnects.
    public var idleTimeout: Duration = .seconds(900)
    /// SSH keepalive interval on idle connections (`keepalive`); 0: none.
    public var keepalive: Duration = .seconds(60)
    /// Extra TextFSM templates (`templates_dir`): an ntc-templates folder with its `index`, or your own.
    public var templatesDir: String?

    public init() {}
}

/// Where a TextFSM template comes from.
public enum TemplateSource: Sendable, Equatable {
    /// A file: an absolute path, or a name under `templates_dir`.
    case file(String)
    /// Shipped with the agent (built-in profiles), by name.
    case builtin(String)
    /// The `index` of `templates_dir`, by the device's platform and the command (as ntc-templates resolves).
    case index
}

/// How a command's output becomes rows of named values.
public enum CommandParser: Sendable, Equatable {
    case textfsm(TemplateSource)
    /// A Python-style regular expression with named groups `(?P<name>…)`; every match is a row.
    case regex(String)
    /// JSON output (`| json`); `rows` is the dotted path to a list (or an object whose values are rows, whose key
    /// becomes `_key`); nil: the document itself is one row.
    case json(rows: String?)
}

/// One value of a row mapped to a field of the sample.
public struct CommandField: Sendable, Equatable {
    public var name: String
    /// The column (TextFSM Value, regex group) or dotted JSON path within the row.
    public var source: String
    /// `gauge` (default), `counter`, or `info` for text kept as text.
    public var kind: MetricKind
    /// Text values mapped to numbers before parsing (`map = { Established = 1, Idle = 0 }`).
    public var map: [String: Double]?
    /// A factor applied after parsing (`scale = 0.001`).
    public var scale: Double?
    /// `type = "duration"`: text such as `1 week, 3 days, 16 hours`, `3w0d`, `40d23h`, `01:51:38` as seconds.
    public var duration = false
    /// `type = "present"`: 1 when the row has the value, 0 when it does not (a BGP peer with a prefix count is up).
    public var present = false

    public init(
        name: String, source: String, kind: MetricKind = .gauge, map: [String: Double]? = nil, scale: Double? = nil,
        duration: Bool = false, present: Bool = false
    ) {
        self.name = name
        self.source = source
        self.kind = kind
        self.map = map
        self.scale = scale
        self.duration = duration
        self.present = present
    }
}

/// `[[profiles.commands]]`: one CLI command, its parser, and how its rows become samples.
public struct CommandSpec: Sendable, Equatable {
    public var command: String
    public var parser: CommandParser
    public var measurement: String
    public var fields: [CommandField]
    /// Tag name and the column it comes from.
    public var tags: [(name: String, source: String)]

    public init(
        command: String, parser: CommandParser, measurement: String, fields: [CommandField],
        tags: [(name: String, source: String)]
    ) {
        self.command = command
        self.parser = parser
        self.measurement = measurement
        self.fields = fields
        self.tags = tags
    }

    public static func == (a: CommandSpec, b: CommandSpec) -> Bool {
        a.command == b.command && a.parser == b.parser && a.measurement == b.measurement && a.fields == b.fields
            && a.tags.map(\.name) == b.tags.map(\.name) && a.tags.map(\.source) == b.tags.map(\.source)
    }
}

/// A device's SSH side (`ssh = "CRED"` on a device).
public struct SSHDeviceConfig: Sendable, Equatable {
    public var credential: String
    /// `platform` (netmiko/ntc-templates names: cisco_ios, cisco_nxos, arista_eos, juniper_junos, …).
    public var platform: String?
    /// The SSH port: `ssh_port`, else the credential's `port` (resolved when the config is read).
    public var port: Int?
    public var mode: SSHMode = .exec
    /// SSH profiles the device names; nil: the built-in profiles of its platform.
    public var profiles: [String]?
    public var connectTimeout: Duration
    public var authTimeout: Duration
    public var commandTimeout: Duration
    public var maxChannels: Int

    public init(credential: String, settings: SSHSettings) {
        self.credential = credential
        connectTimeout = settings.connectTimeout
        authTimeout = settings.authTimeout
        commandTimeout = settings.commandTimeout
        maxChannels = settings.maxChannels
    }
}

/// How a device is polled over SSH, as `/status` shows it. Never holds a secret.
public struct SSHDeviceInfo: Sendable, Codable, Equatable {
    /// `connected`, `disconnected` or `backoff` (waiting before the next connection attempt).
    public var state: String
    public var platform: String?
    public var mode: String
    /// Unix seconds when the current connection was opened; nil when not connected.
    public var connectedSince: Double?
    /// Seconds the current connection has been open.
    public var connectionAgeSeconds: Double?
    /// TCP connections opened for this device since the agent started.
    public var connections: Int
    /// Commands run over the current and earlier connections.
    public var commands: Int
    /// The last command that failed, with its error; nil once a poll runs every command cleanly.
    public var lastCommandError: String?
    /// Values that did not parse in the last poll (`command: field "value"`), at most 20.
    public var parseFailures: [String]?
    /// The server's host key fingerprint (`SHA256:…`) once connected.
    public var hostKey: String?

    public init(state: String, platform: String?, mode: String, connections: Int, commands: Int) {
        self.state = state
        self.platform = platform
        self.mode = mode
        self.connections = connections
        self.commands = commands
    }
}
