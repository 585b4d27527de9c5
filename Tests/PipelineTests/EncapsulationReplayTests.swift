import Check
import Foundation
import Pipeline
import Policy
import Report
import TestSupport
import Testing

/// Storage inside WCCP GRE, Geneve, ERSPAN (attributed with `--erspan`) and MPLS, replayed
/// end to end from pcapng files built in memory.
@Suite struct EncapsulationReplayTests {
    /// eth1 is a hypervisor port a switch mirrors with ERSPAN to span0, the collector's port.
    static let policyYAML = """
        version: 1
        networks:
          management:
            interfaces: [mgmt0, eth1]
          storage:
            interfaces: [stor0]
          monitoring:
            interfaces: [span0]
        """

    static func policy() throws -> Policy { try Policy.parse(policyYAML, path: "encapsulation-policy.yaml") }

    static func run(_ path: String, erspan: [UInt16: String] = [:]) throws -> CheckResult {
        try Replay.run(ReplayConfiguration(policy: policy(), inputs: [ReplayInput(path: path)], erspanNames: erspan))
            .result
    }

    /// `packets` with each frame's bytes wrapped by `wrap`, seen on `interface`.
    static func wrapped(_ packets: [FixturePacket], on interface: String, _ wrap: ([UInt8]) -> [UInt8]) -> [FixturePacket] {
        packets.map { FixturePacket(interface: interface, seconds: $0.seconds, bytes: wrap($0.bytes)) }
    }

    /// Ethernet / IPv4 `source` -> `destination` of protocol `ipProtocol` carrying `payload`.
    static func outer(_ source: String, _ destination: String, _ ipProtocol: UInt8, _ payload: [UInt8]) -> [UInt8] {
        F.link(.ethernet(vlans: []), etherType: 0x0800, F.ipv4(source, destination, ipProtocol: ipProtocol, payload: payload))
    }

    /// An IP packet redirected by WCCPv2: GRE 0x883E and the redirect header.
    static func wccp(_ ip: [UInt8]) -> [UInt8] {
        outer("198.51.100.1", "198.51.100.30", 47, [0, 0, 0x88, 0x3e, 0, 0, 0, 42] + ip)
    }

    /// An Ethernet frame in Geneve (VNI 0x123456, no options).
    static func geneve(_ frame: [UInt8]) -> [UInt8] {
        let header: [UInt8] = [0, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0]
        let datagram = F.be16(49152) + F.be16(6081) + F.be16(UInt16(16 + frame.count)) + [0, 0] + header + frame
        return outer("198.51.100.10", "198.51.100.20", 17, datagram)
    }

    /// An Ethernet frame a switch (198.51.100.5) mirrored to a collector (198.51.100.99) with
    /// ERSPAN type II (session `session`, VLAN `vlan`) or, with `typeIII`, type III (VLAN 0).
    static func erspan(_ frame: [UInt8], session: UInt16, vlan: UInt16 = 0, typeIII: Bool = false) -> [UInt8] {
        let header: [UInt8] =
            typeIII
            ? [0, 0x22, 0xeb, 0, 0, 0, 1] + F.be16(0x2000) + F.be16(session) + F.be32(0x0102_0304) + [0, 0, 0, 0]
            : [0, 0x88, 0xbe, 0, 0, 0, 1] + F.be16(0x1000 | vlan) + F.be16(session) + F.be32(0)
        return outer("198.51.100.5", "198.51.100.99", 47, [0x10] + header + frame)
    }

    /// An IP packet under two MPLS labels.
    static func mpls(_ ip: [UInt8]) -> [UInt8] {
        F.link(.ethernet(vlans: []), etherType: 0x8847, F.be32(16 << 12 | 64) + F.be32(17 << 12 | 0x100 | 64) + ip)
    }

    @Test func smbInsideWCCPGREOnManagementFails() throws {
        let dir = try TemporaryDirectory()
        let smb = conversation(.raw, client: "192.0.2.50", 49500, server: "192.0.2.60", 445, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("wccp.pcapng"), Self.wrapped(smb, on: "mgmt0", Self.wccp))
        let result = try Self.run(dir.file("wccp.pcapng"))
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(result.violations.count == 1)
        #expect(violation.interface == "mgmt0" && violation.protocolName == "smb" && violation.packets == 5)
        #expect(violation.server.description == "192.0.2.60:445")
        #expect(violation.tunnelPhrase == "inside gre 0 from 198.51.100.1 to 198.51.100.30")
    }

    @Test func nfsInsideGeneveIsRecognisedAndSaysSo() throws {
        let dir = try TemporaryDirectory()
        let nfs = conversation(client: "192.0.2.10", 700, server: "192.0.2.20", 2049, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("geneve.pcapng"), Self.wrapped(nfs, on: "mgmt0", Self.geneve))
        let result = try Self.run(dir.file("geneve.pcapng"))
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(violation.protocolName == "nfs" && violation.interface == "mgmt0" && violation.packets == 5)
        let tunnel = try #require(violation.tunnel)
        #expect(tunnel.kind == "geneve" && tunnel.id == 0x123456)
        #expect(tunnel.outerClient.description == "198.51.100.10" && tunnel.outerServer.description == "198.51.100.20")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(JSONReport.render(result).utf8)) as? [String: Any])
        let tunnelJSON = try #require((json["violations"] as? [[String: Any]])?.first?["tunnel"] as? [String: Any])
        #expect(tunnelJSON["kind"] as? String == "geneve" && tunnelJSON["outer_client"] as? String == "198.51.100.10")
    }

    /// NFS mirrored from eth1 by session 5: one flow with ERSPAN II (the header's VLAN 100),
    /// another with ERSPAN III.
    static func mirroredNFS() -> [FixturePacket] {
        let typeII = conversation(client: "192.0.2.10", 700, server: "192.0.2.20", 2049, interface: "span0")
        let typeIII = conversation(client: "192.0.2.10", 701, server: "192.0.2.20", 2049, interface: "span0", start: 10)
        return Self.wrapped(typeII, on: "span0") { Self.erspan($0, session: 5, vlan: 100) }
            + Self.wrapped(typeIII, on: "span0") { Self.erspan($0, session: 5, typeIII: true) }
    }

    @Test func erspanSessionNamedWithErspanIsJudgedOnThatInterface() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("span.pcapng"), Self.mirroredNFS())
        let result = try Self.run(dir.file("span.pcapng"), erspan: [5: "eth1"])
        #expect(result.verdict == .fail)
        #expect(result.violations.count == 2)
        for violation in result.violations {
            #expect(violation.interface == "eth1" && violation.network == "management" && violation.protocolName == "nfs")
            #expect(violation.packets == 5)
            let tunnel = try #require(violation.tunnel)
            #expect(tunnel.kind == "erspan" && tunnel.id == 5)
            #expect(violation.tunnelPhrase == "mirrored by ERSPAN session 5 from 198.51.100.5 to 198.51.100.99")
        }
        // Type II's header says VLAN 100; type III's says none and the mirrored frame is untagged.
        #expect(Set(result.violations.map(\.vlan)) == [100, nil])
        #expect(network(result, "management")?.storagePackets == 10)
        #expect(TextReport.render(result).contains("mirrored by ERSPAN session 5 from 198.51.100.5 to 198.51.100.99"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(JSONReport.render(result).utf8)) as? [String: Any])
        let tunnelJSON = try #require((json["violations"] as? [[String: Any]])?.first?["tunnel"] as? [String: Any])
        #expect(tunnelJSON["kind"] as? String == "erspan" && tunnelJSON["id"] as? Int == 5)
        #expect(tunnelJSON["mirror_source"] as? String == "198.51.100.5")
        #expect(tunnelJSON["mirror_destination"] as? String == "198.51.100.99")
    }

    @Test func erspanSessionWithoutANameStaysOnTheCaptureInterface() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("span.pcapng"), Self.mirroredNFS())
        for names: [UInt16: String] in [[:], [6: "eth1"]] {
            let result = try Self.run(dir.file("span.pcapng"), erspan: names)
            #expect(result.verdict != .fail && result.violations.isEmpty)
            #expect(network(result, "monitoring")?.storagePackets == 10)
            #expect(network(result, "management")?.storagePackets == 0)
        }
    }

    @Test func nfsOverTwoMPLSLabelsIsRecognised() throws {
        let dir = try TemporaryDirectory()
        let nfs = conversation(.raw, client: "192.0.2.10", 700, server: "192.0.2.20", 2049, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("mpls.pcapng"), Self.wrapped(nfs, on: "mgmt0", Self.mpls))
        let result = try Self.run(dir.file("mpls.pcapng"))
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(violation.protocolName == "nfs" && violation.packets == 5 && violation.tunnel == nil)
        #expect(result.totals.decoded == 5)
    }
}
