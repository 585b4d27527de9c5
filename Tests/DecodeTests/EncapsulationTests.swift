import Decode
import Frames
import TestSupport
import Testing

/// WCCP in GRE, Geneve, ERSPAN types I-III and MPLS label stacks: every field of each golden
/// frame, the variants each allows, what is malformed, what is deliberately not followed, and
/// nesting. (Their every-prefix sweeps run with `TunnelTests` and `MalformedInputTests`.)
@Suite struct EncapsulationTests {
    // MARK: WCCP

    @Test func wccpWithAndWithoutTheRedirectHeaderCarryingSMB() {
        // WCCPv2's redirect header, then WCCPv1's bare IPv4 packet (its first nibble is 4, so no
        // redirect header is skipped).
        for (frame, payload) in [(TunnelFrames.wccpSMB, 82), (TunnelFrames.wccpV1SMB, 78)] {
            var e = TunnelTests.tunnelled(
                .gre, outer: ("198.51.100.1", "198.51.100.30"), inner: ("192.0.2.50", "192.0.2.60"), ipProtocol: 6)
            e.fragmentID = 0x4545
            e.setTransport(ports: (49500, 445), payload: payload, length: 4, tcpFlags: 0x18)
            expectFields(decode(frame, .ethernet), e)
        }
    }

    @Test func wccpRedirectHeaderCarryingIPv6() {
        // The redirect header followed by an IPv6 packet (draft-mclaggan-wccp-v2rev1 redirects IPv6 too).
        let inner = FrameBuilder.ipv6(
            "2001:db8::1", "2001:db8::2", nextHeader: 6,
            payload: FrameBuilder.transport(6, sourcePort: 49500, destinationPort: 445, flags: 0x02, payload: 0))
        let frame = FrameBuilder.link(
            .ethernet(vlans: []), etherType: 0x0800,
            FrameBuilder.ipv4(
                "198.51.100.1", "198.51.100.30", ipProtocol: 47, payload: [0, 0, 0x88, 0x3e, 0, 0, 0, 0] + inner))
        let packet = decode(frame, .ethernet)
        #expect(packet.stop == nil && packet.tunnel == .gre)
        #expect(packet.ipVersion == 6 && packet.destination == address("2001:db8::2") && packet.destinationPort == 445)
    }

    @Test func wccpCutShort() {
        // Nothing after GRE (at 34; the payload starts at 38), then half a redirect header.
        #expect(
            decodePrefix(TunnelFrames.wccpSMB, 38, .ethernet).stop
                == DecodeError(code: .tooShort, layer: .gre, offset: 38, required: 1, available: 0, field: "wccp payload"))
        let half = decodePrefix(TunnelFrames.wccpSMB, 40, .ethernet)
        #expect(
            half.stop
                == DecodeError(
                    code: .tooShort, layer: .gre, offset: 38, required: 4, available: 2, field: "wccp redirect header"))
        #expect(half.truncated && half.tunnel == .none && half.ipProtocol == 47)
    }

    @Test func wccpPayloadThatIsNotIP() {
        // Version nibble 5 after the redirect header (inner IPv4 at 42).
        let packet = decode(TunnelFrames.wccpSMB.setting(0x55, at: 42), .ethernet)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .gre, offset: 42, field: "ip version"))
        #expect(packet.tunnel == .none && packet.ipProtocol == 47 && !packet.truncated)
    }

    // MARK: Geneve

    @Test func geneveWithAnOptionCarryingEthernet() {
        var e = TunnelTests.tunnelled(
            .geneve, id: 0x123456, outer: ("198.51.100.10", "198.51.100.20"), inner: ("192.0.2.10", "192.0.2.20"),
            ipProtocol: 6)
        e.fragmentID = 0x1212
        e.setTransport(ports: (700, 2049), payload: 112, length: 4, tcpFlags: 0x18)
        expectFields(decode(TunnelFrames.geneveTCP, .ethernet), e)
    }

    @Test func geneveCarryingIPv6() {
        var e = TunnelTests.tunnelled(
            .geneve, id: 7, outer: ("2001:db8:0:198::10", "2001:db8:0:198::20"),
            inner: ("2001:db8:0:203::10", "2001:db8:0:203::20"), ipProtocol: 17, etherType: 0x86DD)
        e.setTransport(ports: (800, 2049), payload: 118, length: 8)
        expectFields(decode(TunnelFrames.geneveIPv6, .ethernet), e)
    }

    @Test(arguments: [UInt8(0x42), UInt8(0x82), UInt8(0xC2)])
    func geneveVersionOtherThanZeroIsInvalid(_ firstByte: UInt8) {
        // Versions 1, 2, 3 with Opt Len 2, at 42.
        let packet = decode(TunnelFrames.geneveTCP.setting(firstByte, at: 42), .ethernet)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .geneve, offset: 42, field: "version"))
        #expect(packet.tunnel == .none && packet.destinationPort == 6081)
    }

    @Test func geneveOptionsPastTheUDPPayload() {
        // Opt Len 63: 8 + 252 bytes of header, and the IP and UDP lengths leave 74 (the UDP
        // length ends where the IP packet does, so the IP length is named).
        let packet = decode(TunnelFrames.geneveTCP.setting(0x3F, at: 42), .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .geneve, offset: 42, required: 260, available: 74, field: "options",
                    lengthSource: .ipv4TotalLength))
        // A UDP length (at 38) of 36, shorter than the IP packet: the Geneve header at 42 gets 28 bytes.
        let short = decode(TunnelFrames.geneveTCP.setting(0x3F, at: 42).settingUInt16(36, at: 38), .ethernet)
        #expect(
            short.stop
                == DecodeError(
                    code: .tooShort, layer: .geneve, offset: 42, required: 260, available: 28, field: "options",
                    lengthSource: .udpLength))
        #expect(!packet.truncated && packet.tunnel == .none && packet.destinationPort == 6081)
        // Opt Len 1 (options 4 bytes): the inner Ethernet header is read 4 bytes early, from the
        // option's data: its EtherType is then the inner MAC bytes, not IP, and nothing is wrong.
        let shifted = decode(TunnelFrames.geneveTCP.setting(0x01, at: 42), .ethernet)
        #expect(shifted.tunnel == .none && shifted.stop == nil)
    }

    @Test func geneveCarryingNeitherEthernetNorIPIsLeftAlone() {
        // Protocol type (at 44) ARP.
        let packet = decode(TunnelFrames.geneveTCP.settingUInt16(0x0806, at: 44), .ethernet)
        #expect(packet.tunnel == .none && packet.stop == nil && packet.destinationPort == 6081)
    }

    @Test func onlyTheDestinationPortMeansGeneve() {
        let packet = decode(
            TunnelFrames.geneveTCP.settingUInt16(6081, at: 34).settingUInt16(49152, at: 36), .ethernet)
        #expect(packet.tunnel == .none && packet.stop == nil && packet.sourcePort == 6081)
    }

    // MARK: ERSPAN

    /// What each ERSPAN golden frame's decode holds besides its transport.
    static func mirrored(session: UInt32, inner: (String, String), ipProtocol: UInt8, id: UInt16) -> DecodedPacket {
        var e = TunnelTests.tunnelled(
            .erspan, id: session, outer: ("198.51.100.5", "198.51.100.99"), inner: inner, ipProtocol: ipProtocol)
        e.fragmentID = UInt32(id)
        return e
    }

    @Test func erspanTypeII() {
        var e = Self.mirrored(session: 5, inner: ("192.0.2.10", "192.0.2.20"), ipProtocol: 6, id: 0x3434)
        e.erspanVLAN = 100
        e.tunnelVLANCount = 1
        e.tunnelVLAN = 7
        e.setTransport(ports: (700, 2049), payload: 108, length: 4, tcpFlags: 0x18)
        expectFields(decode(TunnelFrames.erspanIITCP, .ethernet), e)
    }

    @Test func erspanTypeIIIWithItsPlatformSubheader() {
        var e = Self.mirrored(session: 5, inner: ("192.0.2.10", "192.0.2.20"), ipProtocol: 6, id: 0x3434)
        e.setTransport(ports: (700, 2049), payload: 116, length: 4, tcpFlags: 0x18)
        expectFields(decode(TunnelFrames.erspanIIITCP, .ethernet), e)
    }

    @Test func erspanTypeIIIWithoutTheSubheader() {
        // O clear (at 53), the 8 subheader bytes (54..<62) gone, outer total length (at 16) 8 less.
        var frame = TunnelFrames.erspanIIITCP.setting(0x00, at: 53).settingUInt16(98, at: 16)
        frame.removeSubrange(54..<62)
        var e = Self.mirrored(session: 5, inner: ("192.0.2.10", "192.0.2.20"), ipProtocol: 6, id: 0x3434)
        e.setTransport(ports: (700, 2049), payload: 108, length: 4, tcpFlags: 0x18)
        expectFields(decode(frame, .ethernet), e)
    }

    @Test func erspanTypeIHasNoHeader() {
        var e = Self.mirrored(session: 0, inner: ("192.0.2.1", "192.0.2.2"), ipProtocol: 17, id: 0x6767)
        e.setTransport(ports: (700, 111), payload: 80, length: 4)
        expectFields(decode(TunnelFrames.erspanIUDP, .ethernet), e)
    }

    @Test func erspanSessionIsTenBits() {
        // COS 7, En 3, T set around session 1023 (bytes 44-45): only the 10 bits are the session.
        let packet = decode(TunnelFrames.erspanIITCP.settingUInt16(0xFFFF, at: 44), .ethernet)
        #expect(packet.tunnel == .erspan && packet.tunnelID == 1023 && packet.erspanVLAN == 100)
    }

    @Test func erspanWrongVersionIsInvalid() {
        // Version 2 in a type II header, 1 in a type III header (at 42).
        for (frame, versionByte) in [(TunnelFrames.erspanIITCP, UInt8(0x20)), (TunnelFrames.erspanIIITCP, UInt8(0x10))] {
            let packet = decode(frame.setting(versionByte, at: 42), .ethernet)
            #expect(packet.stop == DecodeError(code: .invalidField, layer: .erspan, offset: 42, field: "version"))
            #expect(packet.tunnel == .none && packet.ipProtocol == 47 && !packet.truncated)
        }
    }

    @Test func erspanCutShort() {
        let typeII = decodePrefix(TunnelFrames.erspanIITCP, 46, .ethernet)
        #expect(
            typeII.stop
                == DecodeError(code: .tooShort, layer: .erspan, offset: 42, required: 8, available: 4, field: "type II header"))
        let typeIII = decodePrefix(TunnelFrames.erspanIIITCP, 50, .ethernet)
        #expect(
            typeIII.stop
                == DecodeError(
                    code: .tooShort, layer: .erspan, offset: 42, required: 12, available: 8, field: "type III header"))
        let subheader = decodePrefix(TunnelFrames.erspanIIITCP, 60, .ethernet)
        #expect(
            subheader.stop
                == DecodeError(
                    code: .tooShort, layer: .erspan, offset: 42, required: 20, available: 18, field: "platform subheader"))
        #expect(subheader.truncated && subheader.tunnel == .none)
    }

    @Test func erspanTypeIIIOfAnotherFrameTypeIsNotFollowed() {
        // FT 2 (bits 0x7C00 of bytes 52-53), O still set.
        let packet = decode(TunnelFrames.erspanIIITCP.settingUInt16(0x0801, at: 52), .ethernet)
        #expect(packet.tunnel == .none && packet.stop == nil && packet.ipProtocol == 47)
    }

    // MARK: MPLS

    static let mplsExpected: DecodedPacket = {
        var e = DecodedPacket()
        e.etherType = 0x8847
        e.mplsLabelCount = 2
        e.mplsLabel = 16
        e.ipVersion = 4
        e.source = address("203.0.113.10")
        e.destination = address("203.0.113.20")
        e.ipProtocol = 6
        e.fragmentID = 0x7878
        e.setTransport(ports: (700, 2049), payload: 62, length: 4, tcpFlags: 0x18)
        return e
    }()

    @Test func mplsTwoLabelsCarryingIPv4() {
        expectFields(decode(GoldenFrames.mplsTCP, .ethernet), Self.mplsExpected)
    }

    @Test func mplsBehindAVLANTagAndMulticast() {
        // An 802.1Q tag (VLAN 42) after the MAC addresses, and the multicast EtherType.
        let tagged = Array(GoldenFrames.mplsTCP[0..<12]) + [0x81, 0x00, 0x00, 0x2a, 0x88, 0x48]
            + GoldenFrames.mplsTCP[14...]
        var e = Self.mplsExpected
        e.vlanCount = 1
        e.outerVLAN = 42
        e.etherType = 0x8848
        e.payloadOffset = 66
        expectFields(decode(tagged, .ethernet), e)
    }

    @Test func mplsOverLinuxCookedCaptures() {
        let stack = Array(GoldenFrames.mplsTCP[14...])
        let sll2 = decode(FrameBuilder.link(.sll2(ifindex: 3), etherType: 0x8847, stack), .linuxSLL2)
        #expect(sll2.stop == nil && sll2.sllInterfaceIndex == 3 && sll2.mplsLabelCount == 2)
        #expect(sll2.destination == address("203.0.113.20") && sll2.destinationPort == 2049 && sll2.payloadOffset == 68)
        let sll = decode(FrameBuilder.link(.sll, etherType: 0x8847, stack), .linuxSLL)
        #expect(sll.stop == nil && sll.mplsLabelCount == 2 && sll.destinationPort == 2049 && sll.payloadOffset == 64)
    }

    /// An Ethernet frame with `labels` MPLS labels (the last one bottom of stack), then `payload`.
    static func mplsFrame(labels: Int, payload: [UInt8]) -> [UInt8] {
        var stack: [UInt8] = []
        for index in 0..<labels {
            stack += FrameBuilder.be32(UInt32(16 + index) << 12 | (index == labels - 1 ? 0x100 : 0) | 64)
        }
        return FrameBuilder.link(.ethernet(vlans: []), etherType: 0x8847, stack + payload)
    }

    static let mplsIPv6Payload = FrameBuilder.ipv6(
        "2001:db8::1", "2001:db8::2", nextHeader: 17,
        payload: FrameBuilder.transport(17, sourcePort: 700, destinationPort: 2049, flags: 0, payload: 4))

    @Test func mplsEightLabelsAreFollowed() {
        let packet = decode(Self.mplsFrame(labels: 8, payload: Self.mplsIPv6Payload), .ethernet)
        #expect(packet.stop == nil && packet.mplsLabelCount == 8 && packet.mplsLabel == 16)
        #expect(packet.ipVersion == 6 && packet.destinationPort == 2049 && packet.payloadOffset == 94)
    }

    @Test func mplsNineLabelsAreTooMany() {
        let packet = decode(Self.mplsFrame(labels: 9, payload: Self.mplsIPv6Payload), .ethernet)
        #expect(packet.stop == DecodeError(code: .tooManyHeaders, layer: .mpls, offset: 46, field: "mpls labels"))
        #expect(packet.stop?.description == "mpls at offset 46: too many mpls labels")
        #expect(packet.mplsLabelCount == 8 && packet.ipVersion == 0 && !packet.truncated)
    }

    @Test func mplsStackWithoutItsBottomRunsIntoTheEnd() {
        // Three labels, none bottom of stack, and nothing after them.
        let frame = FrameBuilder.link(
            .ethernet(vlans: []), etherType: 0x8847, FrameBuilder.be32(16 << 12) + FrameBuilder.be32(17 << 12)
                + FrameBuilder.be32(18 << 12))
        let packet = decode(frame, .ethernet)
        #expect(
            packet.stop == DecodeError(code: .tooShort, layer: .mpls, offset: 26, required: 4, available: 0, field: "label"))
        #expect(packet.truncated && packet.mplsLabelCount == 3)
    }

    @Test func mplsPseudowireAndUnknownPayloadsAreNotFollowed() {
        // A control word (first nibble 0, RFC 4385) then an Ethernet frame; and a nibble of 5.
        let pseudowire = decode(Self.mplsFrame(labels: 2, payload: [0, 0, 0, 1] + GoldenFrames.ethernetTCPSyn), .ethernet)
        #expect(pseudowire.stop == nil && !pseudowire.truncated && pseudowire.mplsLabelCount == 2)
        #expect(pseudowire.ipVersion == 0 && !pseudowire.hasPorts)
        let other = decode(Self.mplsFrame(labels: 1, payload: [0x50, 0, 0, 0]), .ethernet)
        #expect(other.stop == nil && other.ipVersion == 0 && other.mplsLabelCount == 1)
    }

    @Test func mplsInsideATunnelIsFollowedButNotCounted() {
        // vxlanTCP with its inner EtherType (at 62) MPLS and one label inserted before the inner
        // IPv4 (at 64); the outer IPv4 total length (at 16) and UDP length (at 38) 4 more.
        var frame = TunnelFrames.vxlanTCP.settingUInt16(0x8847, at: 62).settingUInt16(98, at: 16)
            .settingUInt16(78, at: 38)
        frame.insert(contentsOf: FrameBuilder.be32(100 << 12 | 0x100 | 64), at: 64)
        let packet = decode(frame, .ethernet)
        #expect(packet.stop == nil && packet.tunnel == .vxlan && packet.tunnelID == 42)
        #expect(packet.mplsLabelCount == 0 && packet.etherType == 0x0800)
        #expect(packet.destination == address("192.0.2.20") && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 108 && packet.payloadLength == 4)
    }

    // MARK: One tunnel level

    @Test func erspanInsideGeneveIsLeftAlone() {
        let packet = decode(TunnelFrames.erspanInGeneve, .ethernet)
        #expect(packet.tunnel == .geneve && packet.tunnelID == 9)
        #expect(packet.source == address("198.51.100.5") && packet.ipProtocol == 47)
        #expect(packet.stop == DecodeError(code: .tooManyHeaders, layer: .gre, offset: 70, field: "tunnel levels"))
    }

    @Test func geneveInsideERSPANIsLeftAlone() {
        let packet = decode(TunnelFrames.geneveInERSPAN, .ethernet)
        #expect(packet.tunnel == .erspan && packet.tunnelID == 5)
        #expect(packet.source == address("198.51.100.10") && packet.destinationPort == 6081)
        #expect(packet.stop == DecodeError(code: .tooManyHeaders, layer: .geneve, offset: 92, field: "tunnel levels"))
    }
}
