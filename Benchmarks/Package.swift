// swift-tools-version: 6.1
import Foundation
import PackageDescription

// The project is the package one directory up; SwiftPM names a path dependency after its
// directory, whatever the clone is called.
let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Per-packet benchmarks of lanekeeper's hot path (decode -> flow tracking -> classification),
// kept apart from the main package so that its build and tests do not need package-benchmark.
//   swift package --package-path Benchmarks benchmark                      # run
//   scripts/bench-alloc                                                    # check thresholds
let package = Package(
    name: "LanekeeperBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "PacketPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "LanekeeperCore", package: project),
            ],
            path: "Benchmarks/PacketPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
