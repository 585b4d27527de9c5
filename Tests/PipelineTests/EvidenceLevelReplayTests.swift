import Check
import Foundation
import Frames
import Pipeline
import Report
import TestSupport
import Testing

/// A TCP frame whose payload is `payload` (the builder's filler bytes overwritten).
private func tcp(_ source: String, _ sourcePort: UInt16, _ destination: String, _ destinationPort: UInt16,
                 _ payload: [UInt8]) -> [UInt8] {
    let frame = F.frame(.ethernet(vlans: []), 6, source, sourcePort, destination, destinationPort, payload: payload.count)
    return Array(frame.dropLast(payload.count)) + payload
}

/// The verdicts docs/evidence.md's table promises for a flow in the management network.
@Suite struct EvidenceLevelReplayTests {
    let nfsOnStorage = conversation(client: "203.0.113.10", 700, server: "203.0.113.20", 2049, data: 6, interface: "stor0")

    func packets(_ frames: [[UInt8]], interface: String = "mgmt0", start: Int64 = 20) -> [FixturePacket] {
        frames.enumerated().map {
            FixturePacket(interface: interface, linkType: .ethernet, seconds: start + Int64($0.offset), bytes: $0.element)
        }
    }

    @Test func aPortRangeAloneIsInconclusiveNamingTheFlow() throws {
        let dir = try TemporaryDirectory()
        // A VNC session to 6900 (in Ceph's OSD range): the server's greeting, the client's reply.
        let vnc = packets([
            F.frame(.ethernet(vlans: []), 6, "198.51.100.10", 40_100, "198.51.100.30", 6900, flags: 0x02),
            tcp("198.51.100.30", 6900, "198.51.100.10", 40_100, Array("RFB 003.008\n".utf8)),
            tcp("198.51.100.10", 40_100, "198.51.100.30", 6900, Array("RFB 003.008\n".utf8)),
        ])
        try Fixtures.writePcapng(dir.file("vnc.pcapng"), nfsOnStorage + vnc)
        let result = try replay(Fixtures.policy(), [dir.file("vnc.pcapng")]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.violations.isEmpty)
        #expect(result.unconfirmed.count == 1)
        let flow = try #require(result.unconfirmed.first)
        #expect(flow.evidence == .portRange)
        #expect(flow.service == "ceph-osd")
        #expect(flow.server.description == "198.51.100.30:6900")
        #expect(result.reasons.count == 1)
        #expect(result.reasons[0].contains("possibly Ceph OSD by port 6900 only: 198.51.100.10:40100 -> 198.51.100.30:6900 on mgmt0, 3 packets"))
        // Still counted as (possible) storage on the management network.
        #expect(network(result, "management")?.storagePackets == 3)

        let json = JSONReport.render(result)
        #expect(json.contains("\"unconfirmed\": ["))
        #expect(json.contains("\"evidence\": \"port range\""))
        let text = TextReport.render(result)
        #expect(text.contains("Possibly storage, known only by a port range"))
        #expect(text.contains("recognised by port 6900 (port range)"))
    }

    @Test func cephContentOnAnOSDPortFails() throws {
        let dir = try TemporaryDirectory()
        let osd = packets([
            F.frame(.ethernet(vlans: []), 6, "198.51.100.10", 40_200, "198.51.100.31", 6801, flags: 0x02),
            tcp("198.51.100.31", 6801, "198.51.100.10", 40_200, Array("ceph v2\n".utf8) + [0x10, 0, 0, 0, 0, 0, 0, 0]),
        ])
        try Fixtures.writePcapng(dir.file("osd.pcapng"), nfsOnStorage + osd)
        let result = try replay(Fixtures.policy(), [dir.file("osd.pcapng")]).result
        #expect(result.verdict == .fail)
        #expect(result.unconfirmed.isEmpty)
        let violation = try #require(result.violations.first)
        #expect(violation.service == "ceph-osd")
        #expect(violation.evidence == .content)
        #expect(violation.recognition == "ceph v2 banner")
    }

    @Test func aWellKnownPortFailsAndAnAllowedRangeFlowIsAllowed() throws {
        let dir = try TemporaryDirectory()
        let mon = packets([F.frame(.ethernet(vlans: []), 6, "198.51.100.10", 40_300, "198.51.100.32", 6789, flags: 0x02)])
        let range = packets([F.frame(.ethernet(vlans: []), 6, "198.51.100.10", 40_301, "198.51.100.33", 7000, flags: 0x02)],
                            start: 30)
        try Fixtures.writePcapng(dir.file("mon.pcapng"), nfsOnStorage + mon + range)
        let result = try replay(Fixtures.policy("allow:\n  - {protocol: ceph, peer: 198.51.100.33/32}"),
                                [dir.file("mon.pcapng")]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.map(\.evidence) == [.wellKnownPort])
        #expect(result.allowed.map(\.server.port) == [7000])
        #expect(result.unconfirmed.isEmpty)
    }
}
