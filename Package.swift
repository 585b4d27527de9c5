// swift-tools-version: 6.1
import PackageDescription

// Under everything, `SystemCalls`: the one funnel for file and socket calls (EINTR, typed errno).
// The pipeline, one module per stage, each depending only on the stages before it:
//   Frames (the frame model) -> Capture (sources) -> Decode -> Flows -> Policy -> Check
//   -> Pipeline (wires the stages: replay, watch, continuous windows) -> Report (renders outcomes)
// then the outer layers, each using only what comes before it: Supervision (the privilege split
// of `watch`: the messages between the supervisor, which keeps the caller's identity for COMMAND
// and the output files, and the unprivileged capture process), Telemetry (metrics), Audit (a host's
// routes and mounts; CloudStack, the management server's API, which it folds into policies), Expectations (`check`),
// and `lanekeeper`, the command line.
let package = Package(
    name: "lanekeeper",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lanekeeper", targets: ["lanekeeper"]),
        .library(name: "LanekeeperReading", targets: ["Frames", "Capture", "Decode", "Flows"]),  // for Fuzz/
        .library(name: "LanekeeperCore", targets: ["Frames", "Decode", "Flows", "Policy", "Check", "Pipeline"]),  // for Benchmarks/
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .systemLibrary(name: "CPrivileges"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CShims"),
        .target(name: "SystemCalls"),
        .target(name: "Frames"),
        .target(name: "Capture", dependencies: ["Frames", "CPcap", "CZlib", "CZstd", "SystemCalls"]),
        .target(name: "Decode", dependencies: ["Frames"]),
        .target(name: "Flows", dependencies: ["Frames", "Decode", "CShims"]),
        .target(name: "Policy", dependencies: ["Decode", "Flows", "SystemCalls", .product(name: "Yams", package: "Yams")]),
        .target(name: "Check", dependencies: ["Frames", "Decode", "Flows", "Policy"]),
        .target(name: "Pipeline", dependencies: ["CShims", "Frames", "Capture", "Decode", "Flows", "Policy", "Check"]),
        .target(name: "Report", dependencies: ["Frames", "Decode", "Flows", "Policy", "Check", "Pipeline"]),
        .target(name: "Supervision", dependencies: ["Capture", "Pipeline", "SystemCalls"]),
        .target(name: "Telemetry", dependencies: ["Capture", "Check", "Pipeline", "Report", "SystemCalls", .product(name: "Prometheus", package: "swift-prometheus"),
                                            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                                            .product(name: "NIOHTTP1", package: "swift-nio")]),
        // CloudStack's HTTP API (signed requests, the list calls `policy init` and `audit` use); no pipeline module.
        .target(name: "CloudStack", dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client"),
                                                   .product(name: "Crypto", package: "swift-crypto"),
                                                   .product(name: "NIOCore", package: "swift-nio"),
                                                   .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .target(name: "Audit", dependencies: ["Decode", "Flows", "Policy", "Check", "Report", "SystemCalls", "CloudStack"]),
        .target(
            name: "Expectations",
            dependencies: ["Pipeline", "Policy", "Check", "Report", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "lanekeeper",
            dependencies: [
                "Pipeline", "Policy", "Check", "Report", "Expectations", "Capture", "Audit", "Telemetry",
                "CPrivileges", "Supervision", "SystemCalls", "CloudStack",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Frames", "SystemCalls", "TestSupport"]),
        .testTarget(name: "SupervisionTests", dependencies: ["Supervision", "Capture", "Pipeline", "TestSupport"]),
        .testTarget(name: "DecodeTests", dependencies: ["Decode", "Frames", "TestSupport"]),
        .testTarget(name: "FlowsTests", dependencies: ["Flows", "Decode", "Frames", "TestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Flows", "Decode", "TestSupport"]),
        .testTarget(name: "ExpectationsTests", dependencies: ["Expectations", "Check", "Policy", "TestSupport"]),
        .target(name: "TestSupport", dependencies: ["Decode", "Frames"], path: "Tests/TestSupport"),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "HTMLReportTests", dependencies: ["TestSupport", "Capture", "Frames", "Check", "Report"]),
        .testTarget(name: "ContinuousTests", dependencies: ["TestSupport", "Pipeline", "Telemetry", "Capture", "Policy", "Frames", "Check"],
                    exclude: ["scrape.py"]),
        .testTarget(name: "WatchTests", dependencies: ["TestSupport", "Pipeline", "Capture", "Policy", "Frames"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "CloudStack", "Flows", "Policy", "Check", "Decode", "Report", "TestSupport",
                                                 .product(name: "Yams", package: "Yams")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "PipelineTests", dependencies: ["TestSupport", "CShims", "Pipeline", "Check", "Report", "Policy", "Capture", "Frames", "Expectations", "Flows"],
                    exclude: ["PublicCaptures"]),
    ],
    swiftLanguageModes: [.v6]
)
