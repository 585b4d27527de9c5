import Capture
import Foundation
import Frames
import Policy
import TestSupport

/// One packet of a fixture: which interface (name, link type), when, and its bytes.
struct FixturePacket {
    var interface: String
    var linkType: LinkType = .ethernet
    var seconds: Int64
    var bytes: [UInt8]
    var wireLength: Int? = nil
}

enum Fixtures {
    /// Writes `packets` to a pcapng file with one named interface per (name, link type).
    static func writePcapng(_ path: String, _ packets: [FixturePacket]) throws {
        let writer = try PcapngWriter(path: path)
        var ids: [String: UInt32] = [:]
        for packet in packets {
            let key = "\(packet.interface)/\(packet.linkType.rawValue)"
            let id: UInt32
            if let known = ids[key] {
                id = known
            } else {
                id = try writer.interfaceID(name: packet.interface, linkType: packet.linkType)
                ids[key] = id
            }
            try packet.bytes.withUnsafeBytes { bytes in
                try writer.write(
                    frameBytes: bytes, wireLength: packet.wireLength ?? packet.bytes.count,
                    timestamp: Timestamp(nanoseconds: packet.seconds * 1_000_000_000 + 123_456_789), interface: id)
            }
        }
        try writer.close()
    }

    /// Every frame of a capture file as fixture packets, each on its interface's name (`?` for
    /// one the file does not name), whole seconds kept.
    static func readPackets(_ path: String) throws -> [FixturePacket] {
        var source = try CaptureFile.open(path: path)
        var read: [(interface: Int?, packet: FixturePacket)] = []
        _ = source.read { frame in
            read.append((frame.interface, FixturePacket(
                interface: "", linkType: frame.linkType, seconds: frame.timestamp.nanoseconds / 1_000_000_000,
                bytes: Array(frame.bytes), wireLength: frame.wireLength)))
        }
        // Interface names are known once their description blocks are read.
        let names = source.interfaces.map { $0.name ?? "?" }
        return read.map { item in
            var packet = item.packet
            packet.interface = item.interface.map { $0 < names.count ? names[$0] : "?" } ?? "?"
            return packet
        }
    }

    /// Writes a classic little-endian microsecond pcap file.
    static func writePcap(_ path: String, linkType: LinkType = .ethernet, _ frames: [(seconds: Int64, bytes: [UInt8])]) throws {
        let records = frames.map { PcapBytes.Record(seconds: UInt32($0.seconds), fraction: 500_000, data: $0.bytes) }
        let bytes = PcapBytes.file(
            bigEndian: false, nanoseconds: false, linkType: linkType.rawValue, snapLength: 262_144, records: records)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static let policyYAML = """
        version: 1
        networks:
          management:
            interfaces: [mgmt0]
            subnets: [198.51.100.0/24, "2001:db8:0:198::/64"]
          storage:
            interfaces: [stor0]
            vlans: [42]
            subnets: [203.0.113.0/24, "2001:db8:0:203::/64"]
            expect_storage_traffic: true
          guest:
            interfaces: [guest0]
        """

    static func policy(_ extra: String = "") throws -> Policy {
        try Policy.parse(policyYAML + "\n" + extra, path: "test-policy.yaml")
    }
}
