// swift-tools-version: 6.1
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "netpoller",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "netpoller", targets: ["netpoller"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        // TLS on the HTTP port (`[http] web_config_file`): NIOSSL, as Hummingbird's own TLS support uses.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // One system library each; small C helpers live in each module's own header.
        .systemLibrary(name: "CNetSNMP", pkgConfig: "netsnmp", providers: [.apt(["libsnmp-dev"])]),
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libcrypt (libxcrypt): bcrypt hashes of `basic_auth_users`.
        .systemLibrary(name: "CCrypt", providers: [.apt(["libcrypt-dev"])]),

        // Data model (samples, config, profiles), seams (Collector, Sink, OutputSettings), error codes, self-metrics,
        // log keys, status. No threads, no clocks, no I/O.
        .target(
            name: "NetPollerCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        // Threads (DedicatedThread, SinkThread), clocks (WallClock, DeliveryClock), the blocking-work helper
        // (DispatchQueue.run) and blocking file writes: what the core leaves to a runtime, as NIOPosix to NIOCore.
        .target(
            name: "NetPollerRuntime",
            dependencies: ["NetPollerCore"],
            swiftSettings: swift6
        ),
        // Text encodings of samples: InfluxDB line protocol (an encoder that remembers series) and JSON lines.
        .target(
            name: "LineProtocol",
            dependencies: ["NetPollerCore"],
            swiftSettings: swift6
        ),
        // TOML -> validated model; `ConfigTable` (the table view plugins decode their keys with) and the plugin seam.
        .target(
            name: "AgentConfig",
            dependencies: [
                "NetPollerCore", .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // Queue, scheduler, sink runner with buffers, retries, breaker and disk spool; latest-value cache. zlib gives
        // the spool its CRC-32.
        .target(
            name: "Pipeline",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "LineProtocol", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swift6
        ),
        // Inputs (collectors): each in Sources/Inputs/<Name>, depending on the core and its C library only.
        // SNMP: net-snmp on one dedicated I/O thread.
        .target(
            name: "SNMPPolling",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "CNetSNMP", .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Sources/Inputs/SNMP",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // SSH: libssh2 in non-blocking mode on a few multiplexing I/O threads; outputs parsed by TextFSM, regex or JSON.
        .target(
            name: "SSHPolling",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "CLibSSH2", "TextFSM",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Inputs/SSH",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // Discovery: sweeps and LLDP/CDP crawls over the SNMP engine, one identity per device, reviewable output
        // (`netpoller discover`, `[discovery]` in `run`).
        .target(
            name: "Discovery",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "SNMPPolling", .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // Outputs: each in Sources/Outputs/<Name> with its plugin (config keys, sink, metrics) and a README.
        // `[[outputs.postgres]]`: libpq on the sink's own thread, binary COPY, migrations, partitions.
        .target(
            name: "PostgresOutput",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "AgentConfig", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Outputs/Postgres",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // `[[outputs.influxdb]]`: line protocol over libcurl (one easy handle on the sink's own thread), gzip by zlib.
        .target(
            name: "InfluxOutput",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "AgentConfig", "LineProtocol", "CCurl", "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Outputs/Influx",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // `[[outputs.file]]`: line protocol or JSON lines appended to a file.
        .target(
            name: "FileOutput",
            dependencies: ["NetPollerCore", "NetPollerRuntime", "AgentConfig", "LineProtocol"],
            path: "Sources/Outputs/File",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // `[[outputs.stdout]]` and `once`: line protocol or JSON lines on standard output.
        .target(
            name: "StdoutOutput",
            dependencies: ["NetPollerCore", "NetPollerRuntime", "AgentConfig", "LineProtocol"],
            path: "Sources/Outputs/Stdout",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // The registration point: the collectors and output plugins the agent ships, one line each.
        .target(
            name: "BuiltinPlugins",
            dependencies: [
                "NetPollerCore", "AgentConfig", "SNMPPolling", "SSHPolling", "PostgresOutput", "InfluxOutput",
                "FileOutput",
                "StdoutOutput",
            ],
            swiftSettings: swift6
        ),
        // /metrics, /metrics/devices, /health, /ready, /status.
        .target(
            name: "AgentHTTP",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "CCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // The lifecycle: config, collectors, pipeline and HTTP as one service. It knows no plugin: the executable hands
        // it the collectors and output plugins.
        .target(
            name: "NetPollerAgent",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "AgentConfig", "Pipeline", "AgentHTTP",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "netpoller",
            dependencies: [
                "NetPollerAgent", "AgentConfig", "AgentHTTP", "NetPollerCore", "NetPollerRuntime", "Pipeline",
                "BuiltinPlugins", "StdoutOutput", "TextFSM", "Discovery", "SNMPPolling",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "netpoller-bench",
            dependencies: [
                "NetPollerAgent", "NetPollerCore", "NetPollerRuntime", "LineProtocol", "SNMPPolling", "AgentConfig",
                "Pipeline", "PostgresOutput", "InfluxOutput", "StdoutOutput", "FileOutput", "BuiltinPlugins",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // make bench-ssh's agent side: the SSH poller alone (SSHCollector), polling a config's devices.
        .executableTarget(
            name: "ssh-bench",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "AgentConfig", "BuiltinPlugins", "SSHPolling",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // make bench-textfsm's Swift side: the TextFSM engine alone.
        .executableTarget(name: "textfsm-bench", dependencies: ["TextFSM"], swiftSettings: swift6),
        // Fuzz targets (`make fuzz`): libFuzzer entry points when built with `-sanitize=fuzzer -parse-as-library
        // -D FUZZING`; a plain build replays input files through the same function.
        .executableTarget(
            name: "netpoller-fuzz-config",
            dependencies: ["AgentConfig", "StdoutOutput", "FileOutput"],
            path: "Sources/Fuzz/ConfigFuzz",
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "netpoller-fuzz-varbinds",
            dependencies: ["SNMPPolling"],
            path: "Sources/Fuzz/VarbindFuzz",
            swiftSettings: swift6
        ),
        // Test kit: fakes and the lab launcher (real snmpd, snmpsim, prometheus on loopback).
        .target(
            name: "NetPollerTesting",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "Pipeline", "SNMPPolling",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // Google's TextFSM template language (what ntc-templates are written in): template compiler and engine. Pure
        // logic, no I/O, no project dependency.
        .target(
            name: "TextFSM",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NetPollerTests",
            dependencies: [
                "NetPollerCore", "NetPollerRuntime", "LineProtocol", "AgentConfig", "Pipeline", "SNMPPolling",
                "SSHPolling",
                "AgentHTTP", "NetPollerAgent", "NetPollerTesting", "PostgresOutput", "InfluxOutput", "FileOutput",
                "StdoutOutput", "BuiltinPlugins", "TextFSM", "Discovery", "CNetSNMP", "CLibSSH2", "CLibPQ", "CCurl",
                "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swift6
        ),
    ]
)
