import Foundation
import Testing

/// The vlan-bond fixture's netlink files are what `FixtureBuilder` makes; run with
/// LANEKEEPER_REGENERATE_FIXTURES=1 to write them again after changing the builder.
@Suite struct FixtureFilesTests {
    @Test func vlanBondNetlinkFilesAreCurrent() throws {
        let directory = fixture("vlan-bond")
        for (name, bytes) in FixtureBuilder.vlanBondFiles.sorted(by: { $0.key < $1.key }) {
            let path = "\(directory)/\(name)"
            if ProcessInfo.processInfo.environment["LANEKEEPER_REGENERATE_FIXTURES"] == "1" {
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
            let stored = try #require(FileManager.default.contents(atPath: path), "\(path) is missing")
            #expect([UInt8](stored) == bytes, "\(name) differs from FixtureBuilder's")
        }
    }
}
