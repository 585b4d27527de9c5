import Capture
import Check
import Foundation
import Frames
import Pipeline
import Policy
import Report
import TestSupport
import Testing

typealias F = FrameBuilder

/// The three packets of a TCP handshake plus `data` data segments between client and server.
func conversation(_ link: F.Link = .ethernet(vlans: []), client: String, _ clientPort: UInt16, server: String,
                  _ serverPort: UInt16, data: Int = 2, interface: String, linkType: LinkType = .ethernet,
                  start: Int64 = 1) -> [FixturePacket] {
    var frames = [
        F.frame(link, 6, client, clientPort, server, serverPort, flags: 0x02),
        F.frame(link, 6, server, serverPort, client, clientPort, flags: 0x12),
        F.frame(link, 6, client, clientPort, server, serverPort, flags: 0x10),
    ]
    for i in 0..<data {
        frames.append(i % 2 == 0
            ? F.frame(link, 6, client, clientPort, server, serverPort, payload: 200)
            : F.frame(link, 6, server, serverPort, client, clientPort, payload: 1400))
    }
    return frames.enumerated().map {
        FixturePacket(interface: interface, linkType: linkType, seconds: start + Int64($0.offset), bytes: $0.element)
    }
}

func replay(_ policy: Policy, _ inputs: [String], ifindex: [Int32: String] = [:], evidence: String? = nil) throws -> ReplayOutcome {
    try Replay.run(ReplayConfiguration(policy: policy, inputs: inputs.map(ReplayInput.init(argument:)),
                                       ifindexNames: ifindex, evidencePath: evidence))
}

func network(_ result: CheckResult, _ name: String) -> NetworkSummary? {
    result.networks.first { $0.name == name }
}

@Suite struct ReplayTests {
    let noise = conversation(client: "198.51.100.10", 40022, server: "198.51.100.1", 22, data: 4, interface: "mgmt0")
    let nfsOnStorage = conversation(client: "203.0.113.10", 700, server: "203.0.113.20", 2049, data: 6, interface: "stor0")

    @Test func cleanHostPasses() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("clean.pcapng"), noise + nfsOnStorage)
        let result = try replay(Fixtures.policy(), [dir.file("clean.pcapng")]).result
        #expect(result.verdict == .pass)
        #expect(result.reasons.isEmpty)
        #expect(network(result, "storage")?.storagePackets == 9)
        #expect(network(result, "management")?.storagePackets == 0)
        #expect(network(result, "management")?.packets == 7)
        #expect(result.totals.packets == 16)
        #expect(result.totals.decoded == 16)
        #expect(result.violations.isEmpty)
    }

    @Test func nfsOnTheManagementInterfaceFailsWithEvidence() throws {
        let dir = try TemporaryDirectory()
        let leak = conversation(client: "198.51.100.10", 701, server: "198.51.100.20", 2049, data: 3, interface: "mgmt0", start: 10)
        try Fixtures.writePcapng(dir.file("leak.pcapng"), noise + nfsOnStorage + leak)
        let outcome = try replay(Fixtures.policy(), [dir.file("leak.pcapng")], evidence: dir.file("evidence.pcapng"))
        let result = outcome.result
        #expect(result.verdict == .fail)
        #expect(result.violations.count == 1)
        let violation = try #require(result.violations.first)
        #expect(violation.interface == "mgmt0")
        #expect(violation.network == "management")
        #expect(violation.protocolName == "nfs")
        #expect(violation.transport == "tcp")
        #expect(violation.vlan == nil)
        #expect(violation.client.description == "198.51.100.10:701")
        #expect(violation.server.description == "198.51.100.20:2049")
        #expect(violation.packets == 6)
        #expect(violation.bytes == leak.reduce(0) { $0 + $1.bytes.count })
        #expect(violation.firstSeen.rfc3339 == "1970-01-01T00:00:10.123456789Z")
        #expect(violation.lastSeen.rfc3339 == "1970-01-01T00:00:15.123456789Z")
        #expect(network(result, "management")?.storagePackets == 6)

        // The evidence file holds exactly the violating flow's packets, on a named interface.
        #expect(outcome.evidenceError == nil)
        #expect(outcome.evidencePackets == 6)
        var reader = try CaptureFile.open(path: dir.file("evidence.pcapng"))
        var frames: [[UInt8]] = []
        var interfaces: [Int?] = []
        _ = reader.read { frame in
            frames.append(Array(frame.bytes))
            interfaces.append(frame.interface)
        }
        #expect(frames == leak.map(\.bytes))
        #expect(reader.interfaces.map(\.name) == ["mgmt0"])
    }

    @Test func theJSONReportCarriesTheContractFields() throws {
        let dir = try TemporaryDirectory()
        let leak = conversation(client: "198.51.100.10", 701, server: "198.51.100.20", 3260, data: 1, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("leak.pcapng"), leak + nfsOnStorage)
        let result = try replay(Fixtures.policy(), [dir.file("leak.pcapng")]).result
        let json = JSONReport.render(result)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == 1)
        #expect(object["verdict"] as? String == "fail")
        let networks = try #require(object["networks"] as? [[String: Any]])
        #expect(networks.map { $0["name"] as? String } == ["management", "storage", "guest"])
        #expect(networks[0]["storage_packets"] as? Int == 4)
        let interfaces = try #require(object["interfaces"] as? [[String: Any]])
        #expect(interfaces.contains { $0["name"] as? String == "mgmt0" && $0["network"] as? String == "management" })
        let violations = try #require(object["violations"] as? [[String: Any]])
        #expect(violations.count == 1)
        #expect(violations[0]["protocol"] as? String == "iscsi")
        #expect(violations[0]["vlan"] is NSNull)
        #expect(violations[0]["server"] as? String == "198.51.100.20:3260")
        #expect(violations[0]["recognized_by"] as? String == "port 3260")
        #expect(object["unobservable_protocols"] as? [String] == [])
        #expect((violations[0]["first_seen"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func vlanTaggedStorageOnAnUnlistedTrunkBelongsToTheStorageNetwork() throws {
        let dir = try TemporaryDirectory()
        let tagged = conversation(.ethernet(vlans: [(0x8100, 42)]), client: "203.0.113.10", 800, server: "203.0.113.20",
                                  3260, interface: "trunk0")
        let qinq = conversation(.ethernet(vlans: [(0x88a8, 100), (0x8100, 42)]), client: "203.0.113.11", 801,
                                server: "203.0.113.20", 2049, interface: "trunk0")
        try Fixtures.writePcapng(dir.file("vlan.pcapng"), noise + tagged + qinq)
        let result = try replay(Fixtures.policy(), [dir.file("vlan.pcapng")]).result
        #expect(result.verdict == .pass)
        #expect(network(result, "storage")?.storagePackets == 10)
    }

    @Test func storageOnAVLANOfTheManagementInterfaceThatIsNotTheStorageVLANIsAViolation() throws {
        let dir = try TemporaryDirectory()
        let tagged = conversation(.ethernet(vlans: [(0x8100, 7)]), client: "198.51.100.10", 800, server: "198.51.100.20",
                                  2049, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("v.pcapng"), tagged + nfsOnStorage)
        let result = try replay(Fixtures.policy(), [dir.file("v.pcapng")]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.first?.vlan == 7)
    }

    @Test func sll2InterfaceIndexesAreNamedWithIfindexAndOtherwiseInconclusive() throws {
        let dir = try TemporaryDirectory()
        let mgmt = conversation(.sll2(ifindex: 2), client: "198.51.100.10", 40022, server: "198.51.100.1", 22,
                                interface: "any", linkType: .linuxSLL2)
        let stor = conversation(.sll2(ifindex: 3), client: "203.0.113.10", 700, server: "203.0.113.20", 2049,
                                interface: "any", linkType: .linuxSLL2)
        let path = dir.file("any.pcap")
        try Fixtures.writePcap(path, linkType: .linuxSLL2, (mgmt + stor).map { ($0.seconds, $0.bytes) })

        let named = try replay(Fixtures.policy(), [path], ifindex: [2: "mgmt0", 3: "stor0"]).result
        #expect(named.verdict == .pass)
        #expect(network(named, "storage")?.storagePackets == 5)
        #expect(network(named, "management")?.packets == 5)

        let unnamed = try replay(Fixtures.policy(), [path], ifindex: [2: "mgmt0"]).result
        #expect(unnamed.verdict == .inconclusive)
        #expect(unnamed.reasons.contains { $0.contains("could not be attributed") && $0.contains("--ifindex 3=NAME") })

        // An SLL2 capture of a single interface can be named like any other file.
        let single = dir.file("stor0-sll2.pcap")
        try Fixtures.writePcap(single, linkType: .linuxSLL2, stor.map { ($0.seconds, $0.bytes) })
        let byName = try replay(Fixtures.policy(), ["stor0=" + single]).result
        #expect(byName.verdict == .pass)
        #expect(network(byName, "storage")?.storagePackets == 5)
    }

    @Test func perInterfacePcapFilesAreNamedOnTheCommandLine() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcap(dir.file("m.pcap"), noise.map { ($0.seconds, $0.bytes) })
        try Fixtures.writePcap(dir.file("s.pcap"), nfsOnStorage.map { ($0.seconds, $0.bytes) })
        let result = try replay(Fixtures.policy(), ["mgmt0=" + dir.file("m.pcap"), "stor0=" + dir.file("s.pcap")]).result
        #expect(result.verdict == .pass)
        #expect(network(result, "storage")?.storagePackets == 9)

        // Without names nothing can be attributed: never a silent pass.
        let anonymous = try replay(Fixtures.policy(), [dir.file("m.pcap"), dir.file("s.pcap")]).result
        #expect(anonymous.verdict == .inconclusive)
    }

    @Test func linuxCookedV1AndRawIPCapturesAreNamedWithInterfaceEqualsPath() throws {
        let dir = try TemporaryDirectory()
        let sll = conversation(.sll, client: "198.51.100.10", 701, server: "198.51.100.20", 2049, interface: "x")
        try Fixtures.writePcap(dir.file("sll.pcap"), linkType: .linuxSLL, sll.map { ($0.seconds, $0.bytes) })
        let raw = conversation(.raw, client: "2001:db8:0:203::10", 702, server: "2001:db8:0:203::20", 3260, interface: "x")
        try Fixtures.writePcap(dir.file("raw.pcap"), linkType: .raw, raw.map { ($0.seconds, $0.bytes) })
        let result = try replay(Fixtures.policy(), ["mgmt0=" + dir.file("sll.pcap"), "stor0=" + dir.file("raw.pcap")]).result
        #expect(result.verdict == .fail)
        #expect(network(result, "management")?.storagePackets == 5)
        #expect(network(result, "storage")?.storagePackets == 5)
        #expect(result.totals.undecodable == 0)
    }

    @Test func theSameInterfaceInTwoFilesIsOneFlow() throws {
        let dir = try TemporaryDirectory()
        let leak = conversation(client: "198.51.100.10", 701, server: "198.51.100.20", 2049, data: 4, interface: "mgmt0")
        try Fixtures.writePcap(dir.file("a.pcap"), leak.prefix(3).map { ($0.seconds, $0.bytes) })
        try Fixtures.writePcap(dir.file("b.pcap"), leak.dropFirst(3).map { ($0.seconds, $0.bytes) })
        let result = try replay(Fixtures.policy(), ["mgmt0=" + dir.file("a.pcap"), "mgmt0=" + dir.file("b.pcap")]).result
        #expect(result.violations.count == 1)
        #expect(result.violations.first?.packets == 7)
    }

    @Test func allowedPeersAreListedButDoNotFail() throws {
        let dir = try TemporaryDirectory()
        let secondary = conversation(client: "198.51.100.10", 702, server: "198.51.100.60", 2049, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("a.pcapng"), secondary + nfsOnStorage)
        let policy = try Fixtures.policy("allow:\n  - {protocol: nfs, peer: 198.51.100.60/32}")
        let result = try replay(policy, [dir.file("a.pcapng")]).result
        #expect(result.verdict == .pass)
        #expect(result.allowed.count == 1)
        #expect(result.violations.isEmpty)
    }

    @Test func protocolsPacketCaptureCannotSeeAreNeverSilentlyPassed() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("c.pcapng"), noise + nfsOnStorage)
        let result = try replay(Fixtures.policy("storage_protocols: [nfs, iser]"), [dir.file("c.pcapng")]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.unobservableProtocols == ["iser"])
        #expect(result.reasons.contains { $0.contains("iser") && $0.contains("cannot vouch") })
    }

    @Test func noStorageAnywhereIsInconclusive() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcapng(dir.file("n.pcapng"), noise)
        let result = try replay(Fixtures.policy(), [dir.file("n.pcapng")]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.reasons.contains { $0.contains("expects storage traffic") })
        #expect(result.reasons.contains { $0.contains("no storage traffic was seen at all") })
    }

    @Test func storageOnAnInterfaceOfNoNetworkIsInconclusive() throws {
        let dir = try TemporaryDirectory()
        let stray = conversation(client: "203.0.113.10", 700, server: "203.0.113.20", 2049, interface: "eth9")
        try Fixtures.writePcapng(dir.file("s.pcapng"), stray + nfsOnStorage)
        let result = try replay(Fixtures.policy(), [dir.file("s.pcapng")]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.reasons.contains { $0.contains("eth9") && $0.contains("belongs to no network") })
    }

    @Test func fragmentedNFSOverUDPOnManagementIsCountedWholeInAnyOrder() throws {
        let dir = try TemporaryDirectory()
        let fragments = F.fragmentedUDP(.ethernet(vlans: []), "198.51.100.10", 800, "198.51.100.20", 2049, payload: 8000, id: 77)
        #expect(fragments.count == 6)
        // Deliver the last fragments first, as a reordering switch might.
        let reordered = Array(fragments.reversed())
        let packets = reordered.enumerated().map { FixturePacket(interface: "mgmt0", seconds: Int64($0.offset), bytes: $0.element) }
        try Fixtures.writePcapng(dir.file("f.pcapng"), packets + nfsOnStorage)
        let outcome = try replay(Fixtures.policy(), [dir.file("f.pcapng")], evidence: dir.file("e.pcapng"))
        #expect(outcome.result.verdict == .fail)
        #expect(outcome.result.violations.first?.packets == 6)
        #expect(outcome.result.violations.first?.transport == "udp")
        #expect(network(outcome.result, "management")?.storagePackets == 6)
        #expect(outcome.evidencePackets == 6)
    }

    @Test func aFileDamagedInTheMiddleKeepsWhatWasReadAndIsAtBestInconclusive() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("d.pcapng")
        try Fixtures.writePcapng(path, nfsOnStorage + noise)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Find the last Enhanced Packet Block and give it an impossible length.
        let bytes = [UInt8](data)
        var offset = 0
        var lastEPB = -1
        while offset + 8 <= bytes.count {
            let type = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            let length = Int(UInt32(bytes[offset + 4]) | UInt32(bytes[offset + 5]) << 8 | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 24)
            if type == 6 { lastEPB = offset }
            guard length >= 12 else { break }
            offset += length
        }
        try #require(lastEPB > 0)
        data.replaceSubrange((lastEPB + 4)..<(lastEPB + 8), with: [0x05, 0x00, 0x00, 0x00])
        try data.write(to: URL(fileURLWithPath: path))
        let result = try replay(Fixtures.policy(), [path]).result
        #expect(result.verdict == .inconclusive)
        #expect(result.totals.packets == 15)
        #expect(result.reasons.contains { $0.contains("damaged at byte \(lastEPB)") })
    }

    @Test func aCaptureCutShortIsReadUpToTheCut() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("cut.pcapng")
        try Fixtures.writePcapng(path, noise + nfsOnStorage)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: path))
        let result = try replay(Fixtures.policy(), [path]).result
        #expect(result.verdict == .pass)
        #expect(result.totals.packets == 15)
        #expect(result.warnings.contains { $0.contains("cut short") })
    }

    @Test func missingAndGarbageCapturesAreErrors() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: ReplayError.self) { try replay(Fixtures.policy(), [dir.file("nope.pcap")]) }
        do {
            _ = try replay(Fixtures.policy(), [dir.file("nope.pcap")])
        } catch let error as ReplayError {
            #expect(error.code == .notFound)
        }
        try Data("hello, not a capture".utf8).write(to: URL(fileURLWithPath: dir.file("junk.pcap")))
        do {
            _ = try replay(Fixtures.policy(), [dir.file("junk.pcap")])
            Issue.record("a garbage file must not replay")
        } catch let error as ReplayError {
            #expect(error.code == .unusableInput)
            #expect(error.message.contains("junk.pcap"))
        }
    }

    @Test func ipv6StorageOnTheManagementNetworkFails() throws {
        let dir = try TemporaryDirectory()
        let leak = conversation(client: "2001:db8:0:198::10", 900, server: "2001:db8:0:198::20", 3260, interface: "mgmt0")
        try Fixtures.writePcapng(dir.file("v6.pcapng"), leak + nfsOnStorage)
        let result = try replay(Fixtures.policy(), [dir.file("v6.pcapng")]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.first?.server.description == "[2001:db8:0:198::20]:3260")
    }

    @Test func everyPacketIsCountedExactlyOnce() throws {
        let dir = try TemporaryDirectory()
        var packets = noise + nfsOnStorage
        // A truncated frame (snaplen 40) and an ARP frame.
        let big = F.frame(.ethernet(vlans: []), 6, "203.0.113.10", 700, "203.0.113.20", 2049, payload: 1000)
        packets.append(FixturePacket(interface: "stor0", seconds: 50, bytes: Array(big.prefix(40)), wireLength: big.count))
        packets.append(FixturePacket(interface: "stor0", seconds: 51, bytes: F.link(.ethernet(vlans: []), etherType: 0x0806, [UInt8](repeating: 1, count: 28))))
        try Fixtures.writePcapng(dir.file("t.pcapng"), packets)
        let result = try replay(Fixtures.policy(), [dir.file("t.pcapng")]).result
        let t = result.totals
        #expect(t.packets == packets.count)
        #expect(t.decoded + t.truncated + t.undecodable == t.packets)
        #expect(t.truncated == 1)
        #expect(result.interfaces.reduce(0) { $0 + $1.packets } == t.packets)
        #expect(result.networks.reduce(0) { $0 + $1.packets } == t.packets)
    }
}
