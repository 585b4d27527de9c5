// swift-tools-version: 6.1
import PackageDescription

// The pipeline, one module per stage, each depending only on the stages before it:
//   Capture (sources) -> Frames (the frame model) -> Decode -> Flows -> Policy -> Check -> Report
// `Pipeline` wires the stages together; `lanekeeper` is the command line. `Supervision` is the
// privilege split of `watch` around the pipeline: the messages between the supervisor (the user's
// identity: COMMAND and the output files) and the unprivileged capture process, the capture
// process's link to its supervisor, and the supervisor's file service.
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
    ],
    targets: [
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .systemLibrary(name: "CPrivileges"),
        .systemLibrary(name: "CShims"),
        .target(name: "Frames"),
        .target(name: "Capture", dependencies: ["Frames", "CPcap"]),
        .target(name: "Decode", dependencies: ["Frames"]),
        .target(name: "Flows", dependencies: ["Frames", "Decode", "CShims"]),
        .target(name: "Policy", dependencies: ["Decode", "Flows", .product(name: "Yams", package: "Yams")]),
        .target(name: "Check", dependencies: ["Frames", "Decode", "Flows", "Policy"]),
        .target(name: "Report", dependencies: ["Frames", "Decode", "Flows", "Policy", "Check"]),
        .target(name: "Pipeline", dependencies: ["CShims", "Frames", "Capture", "Decode", "Flows", "Policy", "Check", "Report"]),
        .target(name: "Supervision", dependencies: ["Capture", "Pipeline"]),
        .target(name: "Telemetry", dependencies: ["Capture", "Check", "Pipeline", .product(name: "Prometheus", package: "swift-prometheus")]),
        .target(name: "Audit", dependencies: ["Decode", "Policy", "Check", "Report"]),
        .target(
            name: "Expectations",
            dependencies: ["Pipeline", "Policy", "Check", "Report", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "lanekeeper",
            dependencies: [
                "Pipeline", "Policy", "Check", "Report", "Expectations", "Capture", "Audit", "Telemetry",
                "CPrivileges", "Supervision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Frames", "TestSupport"]),
        .testTarget(name: "SupervisionTests", dependencies: ["Supervision", "Capture", "TestSupport"]),
        .testTarget(name: "DecodeTests", dependencies: ["Decode", "Frames", "TestSupport"]),
        .testTarget(name: "FlowsTests", dependencies: ["Flows", "Decode", "Frames", "TestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Flows", "Decode"]),
        .testTarget(name: "ExpectationsTests", dependencies: ["Expectations", "Check", "Policy"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "HTMLReportTests", dependencies: ["TestSupport", "Capture", "Frames", "Report"]),
        .testTarget(name: "ContinuousTests", dependencies: ["TestSupport", "Pipeline", "Telemetry", "Capture", "Policy", "Frames", "Check"],
                    exclude: ["scrape.py"]),
        .testTarget(name: "WatchTests", dependencies: ["TestSupport", "Pipeline", "Capture", "Policy", "Frames"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "Policy", "Check", "Decode", "Report", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "PipelineTests", dependencies: ["CShims", "Pipeline", "Check", "Report", "Policy", "Capture", "Frames", "Expectations"],
                    resources: []),
    ],
    swiftLanguageModes: [.v6]
)
