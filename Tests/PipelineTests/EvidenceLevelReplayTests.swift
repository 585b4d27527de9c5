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

/// The storage CloudStack drives through vendor clients (docs/policy.md, "Vendor protocols"):
/// DRBD known by its handshake on any port, PowerFlex by its ports, StorPool unobservable.
@Suite struct VendorProtocolReplayTests {
    let nfsOnStorage = conversation(client: "203.0.113.10", 700, server: "203.0.113.20", 2049, data: 6, interface: "stor0")

    /// A DRBD connection to `server`:12345 (neither DRBD's customary 7789 nor in Linstor's
    /// range): the TCP handshake, P_INITIAL_DATA, both ends' P_CONNECTION_FEATURES, a P_DATA.
    /// The DRBD bytes are synthesized from drbd_protocol.h (TestSupport's `DRBDPackets`).
    func drbd(client: String, server: String, interface: String, start: Int64) -> [FixturePacket] {
        let frames = [
            F.frame(.ethernet(vlans: []), 6, client, 40_500, server, 12345, flags: 0x02),
            F.frame(.ethernet(vlans: []), 6, server, 12345, client, 40_500, flags: 0x12),
            F.frame(.ethernet(vlans: []), 6, client, 40_500, server, 12345, flags: 0x10),
            tcp(client, 40_500, server, 12345, DRBDPackets.initialData),
            tcp(client, 40_500, server, 12345, DRBDPackets.features80),
            tcp(server, 12345, client, 40_500, DRBDPackets.features80),
            tcp(client, 40_500, server, 12345, DRBDPackets.data100 + [UInt8](repeating: 0x5a, count: 1000)),
        ]
        return frames.enumerated().map {
            FixturePacket(interface: interface, linkType: .ethernet, seconds: start + Int64($0.offset), bytes: $0.element)
        }
    }

    /// Replays NFS on the storage network and that DRBD connection on `interface`.
    func replayDRBD(client: String, server: String, interface: String) throws -> CheckResult {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(
            dir.file("drbd.pcapng"), nfsOnStorage + drbd(client: client, server: server, interface: interface, start: 20))
        return try replay(Fixtures.policy(), [dir.file("drbd.pcapng")]).result
    }

    @Test func drbdOnAnyPortCrossingManagementFailsByContent() throws {
        let result = try replayDRBD(client: "198.51.100.10", server: "198.51.100.40", interface: "mgmt0")
        #expect(result.verdict == .fail)
        #expect(result.unconfirmed.isEmpty)
        let violation = try #require(result.violations.first)
        #expect(result.violations.count == 1)
        #expect(violation.service == "drbd")
        #expect(violation.evidence == .content)
        #expect(violation.recognition == "drbd header")
        #expect(violation.server.description == "198.51.100.40:12345")
        // Every packet of the flow counts, the TCP handshake before the first DRBD packet included.
        #expect(network(result, "management")?.storagePackets == 7)
        #expect(TextReport.render(result).contains("recognised by drbd header (content)"))
    }

    @Test func drbdOnTheStorageNetworkPasses() throws {
        let result = try replayDRBD(client: "203.0.113.10", server: "203.0.113.40", interface: "stor0")
        #expect(result.verdict == .pass)
        #expect(result.violations.isEmpty)
        #expect(network(result, "storage")?.storagePackets == nfsOnStorage.count + 7)
    }

    @Test func powerFlexSDSTrafficOnManagementFailsByPort() throws {
        let dir = try TemporaryDirectory()
        let sds = conversation(client: "198.51.100.10", 40_600, server: "198.51.100.50", 7072, interface: "mgmt0", start: 20)
        // The REST gateway CloudStack names as the pool's address: HTTPS, management, not storage.
        let gateway = conversation(client: "198.51.100.10", 40_601, server: "198.51.100.51", 443, interface: "mgmt0", start: 30)
        try Fixtures.writePcapng(dir.file("sds.pcapng"), nfsOnStorage + sds + gateway)
        let result = try replay(Fixtures.policy(), [dir.file("sds.pcapng")]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.map(\.service) == ["powerflex-sds"])
        #expect(result.violations.map(\.evidence) == [.wellKnownPort])
        #expect(result.violations.map(\.recognition) == ["port 7072"])
    }

    @Test func aPolicyListingStorPoolIsInconclusiveWithItsReason() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("c.pcapng"), nfsOnStorage)
        let result = try replay(Fixtures.policy("storage_protocols: [nfs, storpool]"), [dir.file("c.pcapng")]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.unobservableProtocols == ["storpool"])
        #expect(result.reasons == [
            "the policy lists storpool, whose block protocol has no public wire format or ports and, on the NICs "
                + "StorPool accelerates, bypasses the kernel where packet capture looks; lanekeeper cannot vouch for where it goes",
        ])
        // Without storpool the same capture passes: the reason is StorPool's alone.
        let without = try replay(Fixtures.policy("storage_protocols: [nfs]"), [dir.file("c.pcapng")]).result
        #expect(without.verdict == .pass)
    }
}
