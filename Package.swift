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
    ],
    targets: [
        // One system library each; small C helpers live in each module's own header.
        .systemLibrary(name: "CNetSNMP", pkgConfig: "netsnmp", providers: [.apt(["libsnmp-dev"])]),
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Data model, seams, errors, self-metrics, log keys. No I/O.
        .target(
            name: "NetPollerCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        // TOML -> validated model (libpq's own parser checks a postgres `conninfo`).
        .target(
            name: "AgentConfig",
            dependencies: ["NetPollerCore", "CLibPQ", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swift6
        ),
        // Queue, scheduler, sink runner with buffers, retries, breaker and disk spool; built-in sinks (stdout, file,
        // latest-value cache). zlib gives the spool its CRC-32.
        .target(
            name: "Pipeline",
            dependencies: [
                "NetPollerCore", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swift6
        ),
        // SNMP poller: net-snmp on one dedicated I/O thread.
        .target(
            name: "SNMPPolling",
            dependencies: ["NetPollerCore", "CNetSNMP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        // `[[outputs.postgres]]`: libpq on the sink's own thread, binary COPY, migrations, partitions.
        .target(
            name: "PostgresOutput",
            dependencies: [
                "NetPollerCore", "CLibPQ", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // `[[outputs.influxdb]]`: line protocol over libcurl (one easy handle on the sink's own thread), gzip by zlib.
        .target(
            name: "InfluxOutput",
            dependencies: ["NetPollerCore", "CCurl", "CZlib", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        // /metrics, /metrics/devices, /health, /ready, /status.
        .target(
            name: "AgentHTTP",
            dependencies: [
                "NetPollerCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // Wires config, poller, pipeline and HTTP into services. Only the executables import it.
        .target(
            name: "NetPollerAgent",
            dependencies: [
                "NetPollerCore", "AgentConfig", "Pipeline", "AgentHTTP", "PostgresOutput",
                "InfluxOutput", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "netpoller",
            dependencies: [
                "NetPollerAgent", "AgentConfig", "AgentHTTP", "NetPollerCore", "Pipeline", "PostgresOutput",
                "SNMPPolling", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "netpoller-bench",
            dependencies: [
                "NetPollerAgent", "NetPollerCore", "SNMPPolling", "AgentConfig", "Pipeline", "PostgresOutput",
                "InfluxOutput", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // Test kit: fakes and the lab launcher (real snmpd, snmpsim, prometheus on loopback).
        .target(
            name: "NetPollerTesting",
            dependencies: [
                "NetPollerCore", "Pipeline", "SNMPPolling", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NetPollerTests",
            dependencies: [
                "NetPollerCore", "AgentConfig", "Pipeline", "SNMPPolling", "AgentHTTP", "NetPollerAgent",
                "NetPollerTesting", "PostgresOutput", "InfluxOutput", "CNetSNMP", "CLibSSH2", "CLibPQ", "CCurl",
                "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swift6
        ),
    ]
)
