import Capture
import Check
import Flows
import Foundation
import Frames
import Pipeline
import Policy
import TestSupport
import Testing

/// Captures nobody here wrote, from the test suites of tcpdump, nDPI, Zeek, suricata-verify
/// and Arkime (PublicCaptures/SOURCES.md names each file's origin, commit and licence), cut
/// to a few KB. Every frame is replayed as the management network's, the harshest reading:
/// anything lanekeeper takes for storage would fail the host.
@Suite struct PublicCaptureTests {
    static let directory: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("PublicCaptures").path
    }()

    static let everythingIsManagement = """
        version: 1
        networks:
          management:
            interfaces: [any0]
        """

    static func replay(_ path: String, erspan: [UInt16: String] = [:], policy: String = everythingIsManagement)
        throws -> CheckResult
    {
        try Replay.run(
            ReplayConfiguration(
                policy: Policy.parse(policy, path: "public.yaml"), inputs: [ReplayInput(argument: "any0=" + path)],
                erspanNames: erspan)
        ).result
    }

    static func files(_ subdirectory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + subdirectory)) ?? []
        return names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }

    /// Non-storage captures in which a port of Ceph's OSD range (6800-7300) is a server's
    /// port, with how many such flows: possible storage, so inconclusive, never a fail.
    static let portRangeOnly: [String: Int] = [
        "anydesk-tcp7070-ndpi.pcapng": 2, "bittorrent-tcp6881-ndpi.pcapng": 1, "bittorrent-tracker-tcp6969-zeek.pcap": 1,
        "cassandra-tcp7000-ndpi.pcap": 1, "echo-tcp7000-zeek.pcap": 16, "gnutella-tcp6888-6906-7097-ndpi.pcap": 3,
        "http-tcp7080-trickbot-ndpi.pcap": 1, "nano-tcp7075-ndpi.pcapng": 1, "template-tcp7000-suricata.pcap": 1,
        "vnc-tcp6900-ndpi.pcap": 1,
    ]

    @Test func theSetIsThere() {
        #expect(Self.files("nonstorage").count == 40)
        #expect(Self.files("storage").count == 11)
    }

    /// LDP, TDP, STUN and SOME/IP once passed for iSNS; client ports in 6800-7300 for Ceph
    /// OSDs. None of these captures holds storage: none fails, and only a server's port in
    /// the OSD range is possible storage (listed as unconfirmed, the verdict inconclusive).
    @Test(arguments: files("nonstorage"))
    func noStorageWhereThereIsNone(_ name: String) throws {
        let result = try Self.replay(Self.directory + "/nonstorage/" + name)
        #expect(result.verdict != .fail)
        #expect(result.violations.isEmpty, "\(result.violations.map { "\($0.service) \($0.recognition) \($0.server)" })")
        #expect(result.totals.undecodable == 0)
        #expect(result.unconfirmed.count == Self.portRangeOnly[name, default: 0])
        #expect(result.unconfirmed.allSatisfy { $0.evidence == .portRange && $0.service == "ceph-osd" })
        #expect(result.totals.storageFlows == result.unconfirmed.count)
        if !result.unconfirmed.isEmpty {
            #expect(result.reasons.contains { $0.contains("possibly Ceph OSD by port") })
        }
    }

    @Test func theRealCephSessionFailsByItsBanner() throws {
        let result = try Self.replay(Self.directory + "/storage/ceph-v027-tcp6789-ndpi.pcap")
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(result.violations.count == 1)
        #expect(violation.service == "ceph-mon")
        #expect(violation.recognition == "ceph v027 banner")
        #expect(violation.evidence == .content)
        #expect(violation.server.description == "10.0.3.67:6789")
    }

    /// tcpdump's wccp_redirect_gre.pcap: SMB to 445 redirected by WCCP inside GRE (0x883E).
    @Test func smbInsideAWCCPRedirectIsStorage() throws {
        let result = try Self.replay(Self.directory + "/storage/wccp-gre-smb445-tcpdump.pcap")
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(violation.protocolName == "smb")
        #expect(violation.server.port == 445)
        #expect(violation.tunnel?.kind == "gre")
    }

    @Test func nfsV41IsRecognisedByItsCalls() throws {
        let result = try Self.replay(Self.directory + "/storage/nfsv41-exchange-id-suricata.pcap")
        #expect(result.verdict == .fail)
        #expect(result.violations.map(\.recognition) == ["rpc program 100003 v4"])
    }

    /// The encapsulation captures carry no storage; their inner packets are decoded (no
    /// undecodable frame), and flows form on the inner 5-tuple where there are ports.
    @Test func encapsulationsDecodeWithoutStorage() throws {
        for name in Self.files("storage") where !name.hasPrefix("ceph") && !name.hasPrefix("wccp") && !name.hasPrefix("nfs") {
            let result = try Self.replay(Self.directory + "/storage/" + name)
            #expect(result.totals.undecodable == 0, "\(name)")
            #expect(result.totals.storageFlows == 0, "\(name)")
        }
        // Geneve's SSH (tcpdump geneve.pcap) is a flow of the inner addresses.
        let geneve = try Self.replay(Self.directory + "/storage/geneve-icmp-ssh-tcpdump.pcap")
        #expect(geneve.totals.flows == 1)
    }

    // MARK: Real framing around storage

    /// The first frame of a public capture.
    static func firstFrame(_ name: String) throws -> [UInt8] {
        try #require(try Fixtures.readPackets(directory + "/storage/" + name).first).bytes
    }

    /// A pcap of `frames`, each the first `headerLength` bytes of a real frame of `name`
    /// (its outer Ethernet, IPv4 and tunnel headers as the switch or host wrote them) around
    /// `inner`, with the outer IPv4 total length (and, at `udpLengthOffset`, the UDP length)
    /// set for the new payload.
    static func splice(_ name: String, headerLength: Int, udpLengthOffset: Int? = nil, inner: [[UInt8]], into path: String)
        throws
    {
        let outer = Array(try firstFrame(name).prefix(headerLength))
        let frames = inner.map { frame -> [UInt8] in
            var bytes = outer + frame
            let ipLength = bytes.count - 14
            bytes[16] = UInt8(ipLength >> 8)
            bytes[17] = UInt8(ipLength & 0xff)
            if let offset = udpLengthOffset {
                let udpLength = bytes.count - (offset - 4)
                bytes[offset] = UInt8(udpLength >> 8)
                bytes[offset + 1] = UInt8(udpLength & 0xff)
            }
            return bytes
        }
        try Fixtures.writePcap(path, frames.enumerated().map { (seconds: Int64($0.offset + 1), bytes: $0.element) })
    }

    static let nfsSession: [[UInt8]] = [
        F.frame(.ethernet(vlans: []), 6, "192.0.2.10", 801, "192.0.2.20", 2049, flags: 0x02),
        F.frame(.ethernet(vlans: []), 6, "192.0.2.20", 2049, "192.0.2.10", 801, flags: 0x12),
        F.frame(.ethernet(vlans: []), 6, "192.0.2.10", 801, "192.0.2.20", 2049, payload: 120),
    ]

    /// Zeek's erspanII.pcap framing (Ethernet, IPv4, GRE with a sequence number, the 8-byte
    /// ERSPAN II header of session 100, VLAN 23) around an NFS session: attributed to the
    /// interface `--erspan 100=...` names, in VLAN 23; without it, to the capture's.
    @Test func erspanTypeIIFramingAroundNFS() throws {
        let dir = try TemporaryDirectory()
        try Self.splice("erspan-ii-icmp-zeek.pcap", headerLength: 50, inner: Self.nfsSession, into: dir.file("e2.pcap"))
        let policy = Self.everythingIsManagement + "\n  storage:\n    interfaces: [vmnic1]\n"
        let named = try Self.replay(dir.file("e2.pcap"), erspan: [100: "vmnic1"], policy: policy)
        #expect(named.verdict == .pass)
        #expect(named.networks.first { $0.name == "storage" }?.storagePackets == 3)
        let unnamed = try Self.replay(dir.file("e2.pcap"), policy: policy)
        #expect(unnamed.verdict == .fail)
        let violation = try #require(unnamed.violations.first)
        #expect(violation.interface == "any0")
        #expect(violation.tunnel?.kind == "erspan")
        #expect(violation.tunnel?.id == 100)
        #expect(violation.server.description == "192.0.2.20:2049")
    }

    /// Zeek's erspanIII.pcap framing (GRE 0x22EB, the 12-byte ERSPAN III header, session 0)
    /// around the same session.
    @Test func erspanTypeIIIFramingAroundNFS() throws {
        let dir = try TemporaryDirectory()
        try Self.splice("erspan-iii-icmp-zeek.pcap", headerLength: 54, inner: Self.nfsSession, into: dir.file("e3.pcap"))
        let result = try Self.replay(dir.file("e3.pcap"), erspan: [0: "vmnic0"],
                                     policy: "version: 1\nnetworks:\n  management:\n    interfaces: [vmnic0]\n")
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(violation.interface == "vmnic0")
        #expect(violation.tunnel?.kind == "erspan")
        #expect(violation.packets == 3)
    }

    /// Zeek's geneve.pcap framing (UDP 6081, a Geneve header with 8 bytes of options, VNI 0)
    /// around the same session: recognised on the inner 5-tuple.
    @Test func geneveFramingAroundNFS() throws {
        let dir = try TemporaryDirectory()
        try Self.splice("geneve-icmp-zeek.pcap", headerLength: 58, udpLengthOffset: 38, inner: Self.nfsSession,
                        into: dir.file("g.pcap"))
        let result = try Self.replay(dir.file("g.pcap"))
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(violation.tunnel?.kind == "geneve")
        #expect(violation.tunnel?.id == 0)
        #expect(violation.tunnel?.outerClient.description == "20.0.0.1")
        #expect(violation.server.description == "192.0.2.20:2049")
        #expect(violation.packets == 3)
    }
}

/// The NFSv4.0 callback channel on a real SETCLIENTID: the lab's NFSv4.0 client (libnfs)
/// names no callback (r_addr `0.0.0.0.0.0`, port 0), so lanekeeper learns nothing from it;
/// with the port of that same message set to 777 (`0.0.0.0.3.9`, the same length, so every
/// other byte is the client's own), the NFS server's connection back to the client's port
/// 777 is storage from its SYN, and a violation when it crosses the management interface.
@Suite struct NFSv4CallbackOnALabCaptureTests {
    static func frames(patchingCallbackTo address: String?) throws -> [FixturePacket] {
        let wildcard = Array("0.0.0.0.0.0".utf8)
        var packets = try Fixtures.readPackets(labCaptures + "/clean/host.pcapng").map { packet in
            var patched = packet
            if let address, let at = patched.bytes.indices.first(where: { patched.bytes[$0...].starts(with: wildcard) }) {
                patched.bytes.replaceSubrange(at..<(at + wildcard.count), with: Array(address.utf8))
            }
            return patched
        }
        // The server (203.0.113.20) connects back to the client (203.0.113.10), through mgmt0.
        packets.append(FixturePacket(
            interface: "mgmt0", seconds: packets.last!.seconds + 1,
            bytes: F.frame(.ethernet(vlans: []), 6, "203.0.113.20", 45_000, "203.0.113.10", 777, flags: 0x02)))
        return packets
    }

    @Test func theClientsCallbackAddressMakesTheConnectionBackStorage() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("patched.pcapng"), try Self.frames(patchingCallbackTo: "0.0.0.0.3.9"))
        let policy = try Policy.load(path: labCaptures + "/clean/policy.yaml")
        let result = try replay(policy, [dir.file("patched.pcapng")]).result
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.first)
        #expect(result.violations.count == 1)
        #expect(violation.service == "nfs-callback")
        #expect(violation.interface == "mgmt0")
        #expect(violation.recognition == "nfsv4.0 callback address port 777")
        #expect(violation.evidence == .wellKnownPort)
        #expect(violation.server.description == "203.0.113.10:777")
    }

    @Test func libnfsNamesNoCallbackSoNothingIsLearned() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("as-is.pcapng"), try Self.frames(patchingCallbackTo: nil))
        let policy = try Policy.load(path: labCaptures + "/clean/policy.yaml")
        let result = try replay(policy, [dir.file("as-is.pcapng")]).result
        #expect(result.violations.isEmpty)
        #expect(result.verdict == .pass)
    }
}
