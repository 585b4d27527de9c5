// swift-tools-version: 6.1
import Foundation
import PackageDescription

// SwiftPM names a local package after its directory (lowercased): "lanekeeper" in a fresh
// clone, whatever this checkout is called.
let lanekeeper = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

// libFuzzer targets for lanekeeper's readers, decoder and recognisers. Build and run them
// with scripts/fuzz (they need -sanitize=fuzzer, so a plain `swift build` cannot link them).
let package = Package(
    name: "LanekeeperFuzz",
    dependencies: [
        .package(path: "..")
    ],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "LanekeeperReading", package: lanekeeper)]
        ),
        .executableTarget(name: "FuzzPcap", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzPcapng", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzDecode", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzFlows", dependencies: ["FuzzSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
