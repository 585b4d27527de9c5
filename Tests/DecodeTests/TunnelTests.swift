import Decode
import Frames
import Testing

/// VXLAN and GRE (and, in the prefix sweep, Geneve, WCCP and ERSPAN): every field of the inner and outer packet for each golden frame, every
/// prefix, lengths that lie, what is deliberately not followed, and nested tunnels.
@Suite struct TunnelTests {
    // MARK: Golden frames

    /// What a decoded tunnel frame of these tests holds besides its transport: the tunnel,
    /// the outer IP header (its version follows from the addresses) and the inner addresses.
    static func tunnelled(
        _ tunnel: DecodedPacket.Tunnel, id: UInt32 = 0, outer: (String, String), inner: (String, String),
        ipProtocol: UInt8, etherType: UInt16 = 0x0800
    ) -> DecodedPacket {
        var e = DecodedPacket()
        e.etherType = etherType
        e.tunnel = tunnel
        e.tunnelID = id
        e.outerSource = address(outer.0)
        e.outerDestination = address(outer.1)
        e.outerIPVersion = e.outerSource.isIPv4 ? 4 : 6
        e.outerIPProtocol = tunnel == .vxlan || tunnel == .geneve ? 17 : 47
        e.source = address(inner.0)
        e.destination = address(inner.1)
        e.ipVersion = e.source.isIPv4 ? 4 : 6
        e.ipProtocol = ipProtocol
        return e
    }

    @Test func vxlanEthernetIPv4TCP() {
        var e = Self.tunnelled(
            .vxlan, id: 42, outer: ("198.51.100.10", "198.51.100.20"), inner: ("192.0.2.10", "192.0.2.20"), ipProtocol: 6)
        e.fragmentID = 0x1111
        e.setTransport(ports: (51000, 2049), payload: 104, length: 4, tcpFlags: 0x18)
        expectFields(decode(TunnelFrames.vxlanTCP, .ethernet), e)
    }

    @Test func greTransparentEthernetBridgingTCP() {
        var e = Self.tunnelled(
            .gre, outer: ("198.51.100.10", "198.51.100.20"), inner: ("203.0.113.10", "203.0.113.20"), ipProtocol: 6)
        e.tunnelVLANCount = 1
        e.tunnelVLAN = 7
        e.fragmentID = 0x3333
        e.setTransport(ports: (40000, 3260), payload: 96, length: 0, tcpFlags: 0x02)
        expectFields(decode(TunnelFrames.greTEBTCP, .ethernet), e)
    }

    @Test func greKeySequenceOverIPv6CarryingIPv6() {
        var e = Self.tunnelled(
            .gre, id: 0x1234, outer: ("2001:db8:0:198::10", "2001:db8:0:198::20"),
            inner: ("2001:db8:0:203::10", "2001:db8:0:203::20"), ipProtocol: 17, etherType: 0x86DD)
        e.setTransport(ports: (800, 2049), payload: 114, length: 8)
        expectFields(decode(TunnelFrames.greKeySeqIPv6, .ethernet), e)
    }

    @Test func greChecksumKeyCarryingIPv4() {
        // The key is read after the checksum word.
        var e = Self.tunnelled(
            .gre, id: 0xdead_beef, outer: ("198.51.100.10", "198.51.100.20"), inner: ("192.0.2.1", "192.0.2.2"),
            ipProtocol: 17, etherType: 0)
        e.fragmentID = 0x5555
        e.setTransport(ports: (700, 111), payload: 60, length: 4)
        expectFields(decode(TunnelFrames.greChecksumKeyIPv4, .raw), e)
        expectFields(decode(TunnelFrames.greChecksumKeyIPv4, .ipv4), e)
    }

    @Test func outerVLANTagsStayTheFrameAsSeen() {
        // The VXLAN frame with an 802.1Q tag (VLAN 100) inserted after the MAC addresses.
        let frame = Array(TunnelFrames.vxlanTCP[0..<12]) + [0x81, 0x00, 0x00, 0x64] + TunnelFrames.vxlanTCP[12...]
        let packet = decode(frame, .ethernet)
        #expect(packet.vlanCount == 1 && packet.outerVLAN == 100)
        #expect(packet.etherType == 0x0800)
        #expect(packet.tunnel == .vxlan && packet.tunnelID == 42)
        #expect(packet.tunnelVLANCount == 0)
        #expect(packet.destination == address("192.0.2.20") && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 108 && packet.payloadLength == 4)
        #expect(packet.stop == nil && !packet.truncated)
    }

    @Test func innerFragmentsAreTheInnerPacketsFragments() {
        // Inner IPv4 flags at 70: MF on a first fragment, then a later fragment (offset 1480).
        let first = decode(TunnelFrames.vxlanTCP.setting(0x20, at: 70), .ethernet)
        #expect(first.tunnel == .vxlan)
        #expect(first.isFragment && first.moreFragments && !first.isLaterFragment)
        #expect(first.fragmentID == 0x1111)
        #expect(first.hasPorts && first.destinationPort == 2049)
        let later = decode(TunnelFrames.vxlanTCP.settingUInt16(0x00b9, at: 70), .ethernet)
        #expect(later.tunnel == .vxlan)
        #expect(later.isLaterFragment && later.fragmentOffset == 1480)
        #expect(!later.hasPorts && later.payloadOffset == 0)
        #expect(later.source == address("192.0.2.10"))
        #expect(later.stop == nil)
    }

    @Test func decodeIntoClearsTheTunnel() {
        var packet = DecodedPacket()
        let decoder = PacketDecoder()
        TunnelFrames.greKeySeqIPv6.withUnsafeBytes { decoder.decode($0, linkType: .ethernet, into: &packet) }
        #expect(packet.tunnel == .gre)
        GoldenFrames.ethernetTCPSyn.withUnsafeBytes { decoder.decode($0, linkType: .ethernet, into: &packet) }
        #expect(packet.tunnel == .none)
        #expect(packet.tunnelID == 0 && packet.outerIPVersion == 0 && packet.outerIPProtocol == 0)
        #expect(packet.source == address("198.51.100.10"))
    }

    // MARK: Nested tunnels

    @Test func vxlanInsideVXLANIsLeftAlone() {
        var e = Self.tunnelled(
            .vxlan, id: 42, outer: ("198.51.100.10", "198.51.100.20"), inner: ("192.0.2.10", "192.0.2.20"), ipProtocol: 17)
        e.fragmentID = 0x8888
        e.setTransport(ports: (1234, 4789), payload: 92, length: 62)
        e.stop = DecodeError(code: .tooManyHeaders, layer: .vxlan, offset: 92, field: "tunnel levels")
        let packet = decode(TunnelFrames.vxlanInVXLAN, .ethernet)
        expectFields(packet, e)
        #expect(packet.stop?.description == "vxlan at offset 92: too many tunnel levels")
    }

    @Test func greInsideGREIsLeftAlone() {
        var e = Self.tunnelled(
            .gre, outer: ("203.0.113.1", "203.0.113.2"), inner: ("198.51.100.10", "198.51.100.20"), ipProtocol: 47,
            etherType: 0)
        e.fragmentID = 0x6666
        e.stop = DecodeError(code: .tooManyHeaders, layer: .gre, offset: 44, field: "tunnel levels")
        expectFields(decode(TunnelFrames.greInGRE, .raw), e)
    }

    // MARK: Every prefix

    @Test(arguments: TunnelFrames.all)
    func everyPrefixDecodesSafely(_ sample: TunnelFrames.Sample) {
        let full = decode(sample.bytes, sample.linkType)
        #expect(full.stop == nil && !full.truncated)
        #expect(full.tunnel != .none)
        for count in 0..<sample.bytes.count {
            let packet = decodePrefix(sample.bytes, count, sample.linkType)
            let at = "prefix \(count) of \(sample.name)"
            expectSane(packet, count: count)
            #expect(packet.truncated || packet.stop != nil, "\(at)")
            if let stop = packet.stop {
                #expect(stop.code == .tooShort && stop.lengthSource == .capture, "\(at): \(stop)")
                #expect(packet.truncated, "\(at)")
            }
            // Tunnelled exactly when the inner IP header is whole, and then the outer fields are right.
            #expect((packet.tunnel != .none) == (count >= sample.innerIPEnd), "\(at)")
            if packet.tunnel != .none {
                #expect(packet.tunnel == full.tunnel && packet.tunnelID == full.tunnelID, "\(at)")
                #expect(packet.outerSource == full.outerSource && packet.outerDestination == full.outerDestination)
                #expect(packet.outerIPProtocol == full.outerIPProtocol, "\(at)")
                #expect(packet.source == full.source && packet.destination == full.destination, "\(at)")
                #expect(packet.hasPorts == (count >= sample.innerTransportOffset + 4), "\(at)")
                if packet.hasPorts {
                    #expect(packet.sourcePort == full.sourcePort && packet.destinationPort == full.destinationPort)
                }
            } else if let outerUDP = sample.outerTransportOffset {
                // Until then, the outer UDP datagram to port 4789 (VXLAN) or 6081 (Geneve).
                #expect(packet.hasPorts == (count >= outerUDP + 4), "\(at)")
                if packet.hasPorts { #expect([4789, 6081].contains(packet.destinationPort), "\(at)") }
            } else {
                #expect(!packet.hasPorts, "\(at)")
                #expect(packet.ipVersion == 0 || packet.ipProtocol == 47, "\(at)")
            }
            if packet.payloadOffset != 0 && packet.tunnel != .none {
                #expect(packet.payloadOffset == full.payloadOffset, "\(at)")
                #expect(packet.payloadLength == count - packet.payloadOffset, "\(at)")
            }
        }
    }

    @Test func greOptionalFieldsCutShort() {
        // The GRE header at 20 has checksum and key: 12 bytes, 8 captured.
        let packet = decodePrefix(TunnelFrames.greChecksumKeyIPv4, 28, .raw)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .gre, offset: 20, required: 12, available: 8, field: "optional fields"))
        #expect(packet.truncated)
        #expect(packet.tunnel == .none && packet.ipProtocol == 47)
    }

    // MARK: Lengths that lie

    /// The VXLAN frame with its UDP length (frame offset 38) replaced.
    static func vxlanWithUDPLength(_ length: UInt16) -> [UInt8] {
        TunnelFrames.vxlanTCP.settingUInt16(length, at: 38)
    }

    @Test func udpLengthCutsTheInnerEthernetHeader() {
        // 8 + 8 + 10: the inner Ethernet header at 50 gets 10 of its 14 bytes.
        let packet = decode(Self.vxlanWithUDPLength(26), .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .link, offset: 50, required: 14, available: 10, field: "ethernet header",
                    lengthSource: .udpLength))
        #expect(packet.stop?.description == "link at offset 50: ethernet header needs 14 bytes, UDP length leaves 10")
        #expect(!packet.truncated)
        // The outer datagram stands.
        #expect(packet.tunnel == .none && packet.outerIPVersion == 0)
        #expect(packet.source == address("198.51.100.10") && packet.ipProtocol == 17)
        #expect(packet.hasPorts && packet.sourcePort == 49152 && packet.destinationPort == 4789)
        #expect(packet.payloadOffset == 42 && packet.payloadLength == 18)
    }

    @Test func udpLengthCutsTheInnerTCPHeader() {
        // UDP ends at 94: the inner IPv4 (total length 44) is clipped to it, its TCP header at
        // 84 gets 10 bytes: the ports, not the rest.
        let packet = decode(Self.vxlanWithUDPLength(60), .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .tcp, offset: 84, required: 20, available: 10, field: "header",
                    lengthSource: .udpLength))
        #expect(!packet.truncated)
        #expect(packet.tunnel == .vxlan && packet.source == address("192.0.2.10"))
        #expect(packet.hasPorts && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 0)
    }

    @Test(arguments: [UInt16(0), 2, 7, 2000])
    func insaneUDPLengthIsIgnored(_ length: UInt16) {
        let packet = decode(Self.vxlanWithUDPLength(length), .ethernet)
        #expect(packet.stop == nil && !packet.truncated)
        #expect(packet.tunnel == .vxlan && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 104 && packet.payloadLength == 4)
    }

    @Test func innerIPLengthLongerThanItsCarrierIsClipped() {
        // Inner IPv4 total length (frame offset 66) 1500: clipped to the UDP payload, not a truncation.
        let packet = decode(TunnelFrames.vxlanTCP.settingUInt16(1500, at: 66), .ethernet)
        #expect(packet.stop == nil && !packet.truncated)
        #expect(packet.tunnel == .vxlan && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 104 && packet.payloadLength == 4)
    }

    @Test func outerIPv4TotalLengthCutsTheInnerPacket() {
        // Total length 52 ends the packet at 66; the inner IPv4 header at 56 gets 10 bytes.
        let packet = decode(TunnelFrames.greTEBTCP.settingUInt16(52, at: 16), .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .ipv4, offset: 56, required: 20, available: 10, field: "header",
                    lengthSource: .ipv4TotalLength))
        #expect(!packet.truncated)
        #expect(packet.tunnel == .none && packet.tunnelVLANCount == 0)
        #expect(packet.ipProtocol == 47 && packet.destination == address("198.51.100.20"))
    }

    @Test func outerIPv6PayloadLengthCutsTheInnerPacket() {
        // Payload length 20 ends the packet at 74; the inner IPv6 header at 66 gets 8 bytes.
        let packet = decode(TunnelFrames.greKeySeqIPv6.settingUInt16(20, at: 18), .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .ipv6, offset: 66, required: 40, available: 8, field: "header",
                    lengthSource: .ipv6PayloadLength))
        #expect(!packet.truncated)
        #expect(packet.tunnel == .none && packet.ipVersion == 6 && packet.ipProtocol == 47)
    }

    // MARK: Not followed

    @Test func outerFirstFragmentIsNotEntered() {
        // MF on the outer IPv4 (flags at 20): the tunnel header is there, but only a
        // reassembler could see the whole inner frame.
        let vxlan = decode(TunnelFrames.vxlanTCP.setting(0x20, at: 20), .ethernet)
        #expect(vxlan.tunnel == .none && vxlan.stop == nil)
        #expect(vxlan.isFragment && vxlan.moreFragments)
        #expect(vxlan.hasPorts && vxlan.destinationPort == 4789)
        #expect(vxlan.payloadOffset == 42 && vxlan.payloadLength == 66)
        let gre = decode(TunnelFrames.greTEBTCP.setting(0x20, at: 20), .ethernet)
        #expect(gre.tunnel == .none && gre.stop == nil)
        #expect(gre.isFragment && gre.ipProtocol == 47)
        #expect(gre.source == address("198.51.100.10"))
    }

    @Test func vxlanWithoutItsIFlagIsInvalid() {
        let packet = decode(TunnelFrames.vxlanTCP.setting(0x00, at: 42), .ethernet)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .vxlan, offset: 42, field: "flags (I bit clear)"))
        #expect(packet.tunnel == .none && packet.destinationPort == 4789)
    }

    @Test func onlyTheDestinationPortMeansVXLAN() {
        // 4789 as the source port (49152 as the destination): an ordinary datagram.
        let packet = decode(
            TunnelFrames.vxlanTCP.settingUInt16(4789, at: 34).settingUInt16(49152, at: 36), .ethernet)
        #expect(packet.tunnel == .none && packet.stop == nil)
        #expect(packet.sourcePort == 4789 && packet.payloadLength == 66)
    }

    @Test func vxlanCarryingARPLeavesTheOuterDatagram() {
        // Inner EtherType (frame offset 62) ARP: nothing IP inside, nothing wrong.
        let packet = decode(TunnelFrames.vxlanTCP.settingUInt16(0x0806, at: 62), .ethernet)
        #expect(packet.tunnel == .none && packet.tunnelID == 0)
        #expect(packet.stop == nil && !packet.truncated)
        #expect(packet.source == address("198.51.100.10") && packet.destinationPort == 4789)
    }

    @Test func innerIPVersionMismatch() {
        let packet = decode(TunnelFrames.vxlanTCP.setting(0x65, at: 64), .ethernet)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .ipv4, offset: 64, field: "version"))
        #expect(packet.tunnel == .none && packet.destinationPort == 4789)
    }

    @Test func greOtherVersionsAndProtocolsAreNotFollowed() {
        // Version 1 (PPTP's enhanced GRE), at 35.
        let pptp = decode(TunnelFrames.greTEBTCP.setting(0x01, at: 35), .ethernet)
        #expect(pptp.tunnel == .none && pptp.stop == nil && pptp.ipProtocol == 47)
        // MPLS unicast (0x8847) as the protocol type, at 36.
        let mpls = decode(TunnelFrames.greTEBTCP.settingUInt16(0x8847, at: 36), .ethernet)
        #expect(mpls.tunnel == .none && mpls.stop == nil && mpls.ipProtocol == 47)
    }

    @Test func greRoutingPresentIsInvalid() {
        let packet = decode(TunnelFrames.greTEBTCP.setting(0x40, at: 34), .ethernet)
        #expect(
            packet.stop == DecodeError(code: .invalidField, layer: .gre, offset: 34, field: "flags (routing present)"))
        #expect(packet.tunnel == .none)
    }
}

extension DecodedPacket {
    /// Sets the transport fields an expectation needs: ports, payload range, TCP flags.
    mutating func setTransport(ports: (UInt16, UInt16), payload: Int, length: Int, tcpFlags: UInt8 = 0) {
        hasPorts = true
        sourcePort = ports.0
        destinationPort = ports.1
        payloadOffset = payload
        payloadLength = length
        self.tcpFlags = tcpFlags
    }
}
