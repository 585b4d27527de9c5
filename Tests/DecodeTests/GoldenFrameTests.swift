import Decode
import Frames
import Testing

/// Deconstruct tests in the smoltcp manner: every field of the decoded packet, for every
/// golden frame.
@Suite struct GoldenFrameTests {
    @Test func ethernetIPv4TCPSyn() {
        var e = DecodedPacket()
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("198.51.100.10")
        e.destination = address("203.0.113.5")
        e.ipProtocol = 6
        e.fragmentID = 0x1c46
        e.hasPorts = true
        e.sourcePort = 51234
        e.destinationPort = 2049
        e.tcpFlags = 0x02
        e.payloadOffset = 74
        e.payloadLength = 0
        expectFields(decode(GoldenFrames.ethernetTCPSyn, .ethernet), e)
    }

    @Test func qinqIPv4UDP() {
        var e = DecodedPacket()
        e.vlanCount = 2
        e.outerVLAN = 100
        e.innerVLAN = 42
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("192.0.2.1")
        e.destination = address("192.0.2.2")
        e.ipProtocol = 17
        e.fragmentID = 0x0101
        e.hasPorts = true
        e.sourcePort = 700
        e.destinationPort = 2049
        e.payloadOffset = 50
        e.payloadLength = 8
        expectFields(decode(GoldenFrames.qinqUDP, .ethernet), e)
    }

    @Test func sll2IPv4TCP() {
        var e = DecodedPacket()
        e.sllInterfaceIndex = 3
        e.sllPacketType = 4
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("10.0.0.1")
        e.destination = address("10.0.0.2")
        e.ipProtocol = 6
        e.fragmentID = 0x2222
        e.hasPorts = true
        e.sourcePort = 2049
        e.destinationPort = 1023
        e.tcpFlags = 0x18
        e.payloadOffset = 60
        e.payloadLength = 4
        expectFields(decode(GoldenFrames.sll2TCP, .linuxSLL2), e)
    }

    @Test func sllIPv6UDP() {
        var e = DecodedPacket()
        e.sllPacketType = 0
        e.etherType = 0x86DD
        e.ipVersion = 6
        e.source = address("2001:db8::1")
        e.destination = address("2001:db8::2")
        e.ipProtocol = 17
        e.hasPorts = true
        e.sourcePort = 5353
        e.destinationPort = 111
        e.payloadOffset = 64
        e.payloadLength = 4
        expectFields(decode(GoldenFrames.sllIPv6UDP, .linuxSLL), e)
    }

    @Test func sllVLANIPv4TCP() {
        var e = DecodedPacket()
        e.sllPacketType = 3
        e.vlanCount = 1
        e.outerVLAN = 7
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("10.1.1.1")
        e.destination = address("10.1.1.2")
        e.ipProtocol = 6
        e.fragmentID = 0x0c0c
        e.hasPorts = true
        e.sourcePort = 1000
        e.destinationPort = 3260
        e.tcpFlags = 0x02
        e.payloadOffset = 60
        e.payloadLength = 0
        expectFields(decode(GoldenFrames.sllVLANTCP, .linuxSLL), e)
    }

    @Test func rawIPv6WithExtensionHeadersTCP() {
        var e = DecodedPacket()
        e.ipVersion = 6
        e.source = address("2001:db8::10")
        e.destination = address("2001:db8::20")
        e.ipProtocol = 6
        e.hasPorts = true
        e.sourcePort = 40000
        e.destinationPort = 3260
        e.tcpFlags = 0x18
        e.payloadOffset = 76
        e.payloadLength = 48
        expectFields(decode(GoldenFrames.rawIPv6ExtensionsTCP, .raw), e)
        // The same packet through the IPv6-only link type decodes the same way.
        expectFields(decode(GoldenFrames.rawIPv6ExtensionsTCP, .ipv6), e)
    }

    @Test func ipv6FirstFragment() {
        var e = DecodedPacket()
        e.ipVersion = 6
        e.source = address("2001:db8::1")
        e.destination = address("2001:db8::2")
        e.ipProtocol = 17
        e.isFragment = true
        e.fragmentID = 0xdead_beef
        e.fragmentOffset = 0
        e.moreFragments = true
        e.hasPorts = true
        e.sourcePort = 800
        e.destinationPort = 2049
        e.payloadOffset = 56
        e.payloadLength = 16  // the UDP length (1500) covers the whole datagram, not this fragment
        let packet = decode(GoldenFrames.ipv6FirstFragment, .ipv6)
        expectFields(packet, e)
        #expect(!packet.isLaterFragment)
    }

    @Test func ipv6LaterFragment() {
        var e = DecodedPacket()
        e.ipVersion = 6
        e.source = address("2001:db8::1")
        e.destination = address("2001:db8::2")
        e.ipProtocol = 17
        e.isFragment = true
        e.fragmentID = 0xdead_beef
        e.fragmentOffset = 1448
        e.moreFragments = false
        let packet = decode(GoldenFrames.ipv6LaterFragment, .raw)
        expectFields(packet, e)
        #expect(packet.isLaterFragment)
    }

    @Test func ipv4FirstFragment() {
        var e = DecodedPacket()
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("198.51.100.10")
        e.destination = address("203.0.113.5")
        e.ipProtocol = 17
        e.isFragment = true
        e.fragmentID = 0x4242
        e.moreFragments = true
        e.hasPorts = true
        e.sourcePort = 1011
        e.destinationPort = 2049
        e.payloadOffset = 42
        e.payloadLength = 24
        let packet = decode(GoldenFrames.ipv4FirstFragment, .ethernet)
        expectFields(packet, e)
        #expect(!packet.isLaterFragment)
    }

    @Test func ipv4LaterFragment() {
        var e = DecodedPacket()
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("198.51.100.10")
        e.destination = address("203.0.113.5")
        e.ipProtocol = 17
        e.isFragment = true
        e.fragmentID = 0x4242
        e.fragmentOffset = 1480
        let packet = decode(GoldenFrames.ipv4LaterFragment, .ethernet)
        expectFields(packet, e)
        #expect(packet.isLaterFragment)
    }

    @Test func ipv4WithOptions() {
        var e = DecodedPacket()
        e.ipVersion = 4
        e.source = address("192.0.2.7")
        e.destination = address("192.0.2.8")
        e.ipProtocol = 17
        e.fragmentID = 0x0600
        e.hasPorts = true
        e.sourcePort = 1000
        e.destinationPort = 2049
        e.payloadOffset = 32
        e.payloadLength = 6
        expectFields(decode(GoldenFrames.ipv4OptionsUDP, .ipv4), e)
        expectFields(decode(GoldenFrames.ipv4OptionsUDP, .raw), e)
    }

    @Test func ethernetPaddingIsClippedByTotalLength() {
        var e = DecodedPacket()
        e.etherType = 0x0800
        e.ipVersion = 4
        e.source = address("203.0.113.5")
        e.destination = address("198.51.100.10")
        e.ipProtocol = 6
        e.fragmentID = 0x0a0a
        e.hasPorts = true
        e.sourcePort = 2049
        e.destinationPort = 51234
        e.tcpFlags = 0x10
        e.payloadOffset = 54
        e.payloadLength = 0  // not the 6 padding bytes
        expectFields(decode(GoldenFrames.ethernetPadded, .ethernet), e)
    }

    @Test func nullLoopbackIPv4UDP() {
        var e = DecodedPacket()
        e.ipVersion = 4
        e.source = address("127.0.0.1")
        e.destination = address("127.0.0.1")
        e.ipProtocol = 17
        e.fragmentID = 0x0b0b
        e.hasPorts = true
        e.sourcePort = 6000
        e.destinationPort = 2049
        e.payloadOffset = 32
        e.payloadLength = 2
        expectFields(decode(GoldenFrames.nullIPv4UDP, .null), e)
        // Written by a big-endian host: the same family, the other byte order.
        let bigEndian = GoldenFrames.nullIPv4UDP.setting(0, at: 0).setting(2, at: 3)
        expectFields(decode(bigEndian, .null), e)
    }

    @Test func loopIPv6TCP() {
        var e = DecodedPacket()
        e.ipVersion = 6
        e.source = address("::1")
        e.destination = address("::1")
        e.ipProtocol = 6
        e.hasPorts = true
        e.sourcePort = 3260
        e.destinationPort = 50000
        e.tcpFlags = 0x11
        e.payloadOffset = 64
        e.payloadLength = 0
        expectFields(decode(GoldenFrames.loopIPv6TCP, .loop), e)
    }

    @Test(arguments: [UInt32(24), 28, 30])
    func loopbackIPv6Families(_ family: UInt32) {
        var frame = GoldenFrames.loopIPv6TCP
        frame[3] = UInt8(family)
        let packet = decode(frame, .loop)
        #expect(packet.ipVersion == 6)
        #expect(packet.destinationPort == 50000)
        #expect(packet.stop == nil)
    }

    @Test func loopbackUnknownFamilyIsNotIP() {
        let packet = decode(GoldenFrames.loopIPv6TCP.setting(7, at: 3), .loop)
        #expect(packet.ipVersion == 0)
        #expect(packet.stop == nil)
        #expect(!packet.truncated)
    }

    @Test func decodeIntoResetsThePreviousPacket() {
        var packet = DecodedPacket()
        let decoder = PacketDecoder()
        GoldenFrames.qinqUDP.withUnsafeBytes { decoder.decode($0, linkType: .ethernet, into: &packet) }
        #expect(packet.vlanCount == 2)
        GoldenFrames.ipv6LaterFragment.withUnsafeBytes { decoder.decode($0, linkType: .raw, into: &packet) }
        #expect(packet.vlanCount == 0)
        #expect(!packet.hasPorts)
        #expect(packet.etherType == 0)
    }

    @Test func nonIPEtherTypeStopsQuietly() {
        // An ARP request: the link layer decodes, nothing else is there to decode.
        var frame = Array(GoldenFrames.ethernetPadded)
        frame[12] = 0x08
        frame[13] = 0x06
        let packet = decode(frame, .ethernet)
        #expect(packet.etherType == 0x0806)
        #expect(packet.ipVersion == 0)
        #expect(packet.stop == nil)
        #expect(!packet.truncated)
    }

    @Test func unsupportedLinkType() {
        let packet = decode(GoldenFrames.ethernetTCPSyn, LinkType(rawValue: 127))
        #expect(packet.stop?.code == .unsupportedLinkType)
        #expect(packet.stop?.layer == .link)
        #expect(packet.ipVersion == 0)
        #expect(!packet.truncated)
    }

    @Test func rawLinkTypeWithAnotherVersionNibble() {
        let packet = decode(GoldenFrames.ipv4OptionsUDP.setting(0x56, at: 0), .raw)
        #expect(packet.stop?.code == .invalidField)
        #expect(packet.stop?.layer == .link)
        #expect(packet.ipVersion == 0)
    }

    @Test func ipVersionMismatchingTheEtherType() {
        // EtherType IPv4 over an IPv6-looking header.
        let packet = decode(GoldenFrames.ethernetTCPSyn.setting(0x65, at: 14), .ethernet)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .ipv4, offset: 14, field: "version"))
        #expect(packet.ipVersion == 0)
        // And the IPv6-only link type over an IPv4 packet.
        let other = decode(GoldenFrames.ipv6LaterFragment.setting(0x45, at: 0), .ipv6)
        #expect(other.stop?.code == .invalidField)
        #expect(other.stop?.layer == .ipv6)
    }

    @Test func netlinkOverSLLIsNotDecodedAsIP() {
        // ARPHRD_NETLINK (824 = 0x0338): the protocol field is a netlink family.
        let packet = decode(GoldenFrames.sllIPv6UDP.setting(0x03, at: 2).setting(0x38, at: 3), .linuxSLL)
        #expect(packet.ipVersion == 0)
        #expect(packet.stop == nil)
    }
}

/// A replay on two threads hands every frame's decode from one core to the other, thousands
/// to a batch: the record's fields are declared in the order that packs them (184 bytes; in
/// the order of the layers, 240). A field added or moved that breaks the packing shows here.
@Suite struct DecodedPacketLayoutTests {
    @Test func theDecodeStaysPacked() {
        #expect(MemoryLayout<DecodedPacket>.stride <= 184)
    }
}
