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

    /// Writes a classic little-endian microsecond pcap file.
    static func writePcap(_ path: String, linkType: LinkType = .ethernet, _ frames: [(seconds: Int64, bytes: [UInt8])]) throws {
        var data = Data()
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        le32(0xa1b2_c3d4); le16(2); le16(4); le32(0); le32(0); le32(262_144); le32(linkType.rawValue)
        for frame in frames {
            le32(UInt32(frame.seconds)); le32(500_000); le32(UInt32(frame.bytes.count)); le32(UInt32(frame.bytes.count))
            data.append(contentsOf: frame.bytes)
        }
        try data.write(to: URL(fileURLWithPath: path))
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
