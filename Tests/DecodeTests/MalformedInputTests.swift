import Decode
import Frames
import Testing

/// Frames cut short and length fields that lie: no trap, no read outside the buffer, and a
/// result that says what happened.
@Suite struct MalformedInputTests {
    // MARK: Every prefix of every golden frame

    @Test(arguments: GoldenFrames.all)
    func everyPrefixDecodesSafely(_ sample: GoldenFrames.Sample) {
        let full = decode(sample.bytes, sample.linkType)
        #expect(full.stop == nil)
        #expect(!full.truncated)
        for count in 0..<sample.bytes.count {
            let packet = decodePrefix(sample.bytes, count, sample.linkType)
            expectSane(packet, count: count)
            if count < sample.packetLength {
                #expect(packet.truncated || packet.stop != nil, "prefix \(count) of \(sample.name)")
            } else {
                // Only link-layer padding is missing: the packet is complete.
                #expect(!packet.truncated && packet.stop == nil, "prefix \(count) of \(sample.name)")
            }
            if let stop = packet.stop {
                // A prefix is cut by the capture, never by a lying length.
                #expect(stop.code == .tooShort, "prefix \(count) of \(sample.name): \(stop)")
                #expect(packet.truncated, "prefix \(count) of \(sample.name)")
            }
            // Ports only when their 4 bytes are there, and then the right ones.
            if let transport = sample.transportOffset {
                #expect(packet.hasPorts == (count >= transport + 4), "prefix \(count) of \(sample.name)")
            } else {
                #expect(!packet.hasPorts)
            }
            if packet.hasPorts {
                #expect(packet.sourcePort == full.sourcePort)
                #expect(packet.destinationPort == full.destinationPort)
            }
            // Whatever was decoded agrees with the whole frame.
            if packet.ipVersion != 0 {
                #expect(packet.ipVersion == full.ipVersion)
                #expect(packet.source == full.source)
                #expect(packet.destination == full.destination)
            }
            if packet.isFragment {
                #expect(packet.fragmentID == full.fragmentID)
                #expect(packet.fragmentOffset == full.fragmentOffset)
                #expect(packet.moreFragments == full.moreFragments)
            }
            #expect(packet.vlanCount <= full.vlanCount)
            if packet.payloadOffset != 0 {
                #expect(packet.payloadOffset == full.payloadOffset)
                #expect(packet.payloadLength == min(count, sample.packetLength) - packet.payloadOffset)
            }
        }
    }

    @Test func tcpCutInsideItsOptionsKeepsThePorts() throws {
        // The SYN's TCP header is 40 bytes from offset 34; cut it after 30.
        let packet = decodePrefix(GoldenFrames.ethernetTCPSyn, 64, .ethernet)
        #expect(packet.hasPorts)
        #expect(packet.destinationPort == 2049)
        #expect(packet.tcpFlags == 0x02)
        #expect(packet.truncated)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooShort)
        #expect(stop.layer == .tcp)
        #expect(stop.offset == 34)
        #expect(stop.required == 40)
        #expect(stop.available == 30)
        #expect(packet.payloadOffset == 0 && packet.payloadLength == 0)
    }

    @Test func ethernetCutShort() {
        let packet = decodePrefix(GoldenFrames.ethernetTCPSyn, 13, .ethernet)
        #expect(
            packet.stop
                == DecodeError(
                    code: .tooShort, layer: .link, offset: 0, required: 14, available: 13, field: "ethernet header"))
        #expect(packet.truncated)
    }

    // MARK: IPv4 lengths that lie

    /// Ethernet / IPv4 / TCP SYN with the total length (frame offset 16) replaced.
    static func synWithTotalLength(_ length: UInt16) -> [UInt8] {
        GoldenFrames.ethernetTCPSyn.settingUInt16(length, at: 16)
    }

    @Test func ipv4TotalLengthZeroMeansSegmentationOffload() {
        // A capture of a TSO send: total length 0, use what was captured.
        let packet = decode(Self.synWithTotalLength(0), .ethernet)
        #expect(packet.stop == nil)
        #expect(!packet.truncated)
        #expect(packet.hasPorts && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 74 && packet.payloadLength == 0)
    }

    @Test(arguments: [UInt16(1), 19, 20, 39])
    func ipv4TotalLengthTooSmall(_ length: UInt16) {
        // Below the IHL: invalid. From 20 up but short of the TCP header: the TCP header
        // overruns the total length, which is not a truncation.
        let packet = decode(Self.synWithTotalLength(length), .ethernet)
        expectSane(packet, count: 74)
        #expect(packet.ipVersion == 4)
        #expect(packet.source == address("198.51.100.10"))
        #expect(!packet.truncated)
        #expect(packet.payloadOffset == 0)
        if length < 20 {
            #expect(packet.stop == DecodeError(code: .invalidField, layer: .ipv4, offset: 14, field: "total length"))
            #expect(!packet.hasPorts)
        } else {
            #expect(packet.stop?.code == .tooShort)
            #expect(packet.stop?.layer == .tcp)
            #expect(packet.stop?.lengthSource == .ipv4TotalLength)
            #expect(packet.hasPorts == (length >= 24))
        }
    }

    @Test func ipv4TotalLength65535OnAShortFrame() {
        let packet = decode(Self.synWithTotalLength(65535), .ethernet)
        #expect(packet.truncated)
        #expect(packet.stop == nil)
        #expect(packet.hasPorts && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 74 && packet.payloadLength == 0)
        // And on the padded frame: the padding counts as (truncated) payload.
        let padded = decode(GoldenFrames.ethernetPadded.settingUInt16(65535, at: 16), .ethernet)
        #expect(padded.truncated)
        #expect(padded.payloadOffset == 54 && padded.payloadLength == 6)
    }

    @Test func ipv4IHLBelowFive() {
        for ihl: UInt8 in 0..<5 {
            let packet = decode(GoldenFrames.ethernetTCPSyn.setting(0x40 | ihl, at: 14), .ethernet)
            #expect(packet.stop == DecodeError(code: .invalidField, layer: .ipv4, offset: 14, field: "ihl"))
            #expect(packet.ipVersion == 0)
            #expect(!packet.hasPorts)
        }
    }

    @Test func ipv4IHL15OnA20BytePacket() {
        // Raw IPv4, 20 bytes, total length 20, IHL 15: the header is longer than the packet.
        let header = Array(GoldenFrames.ipv4OptionsUDP[0..<20]).setting(0x4F, at: 0).settingUInt16(20, at: 2)
        let packet = decode(header, .ipv4)
        #expect(packet.stop == DecodeError(code: .invalidField, layer: .ipv4, offset: 0, field: "total length"))
        #expect(!packet.hasPorts)
        // With a total length of 0 (offload) or one beyond the capture, the options are cut
        // by the capture: truncated.
        for total: UInt16 in [0, 60, 65535] {
            let cut = decode(header.settingUInt16(total, at: 2), .ipv4)
            #expect(cut.truncated)
            #expect(cut.stop?.code == .tooShort)
            #expect(cut.stop?.field.description == "ihl")
            #expect(cut.stop?.required == 60)
            #expect(cut.stop?.available == 20)
            #expect(!cut.hasPorts)
        }
    }

    // MARK: TCP and UDP lengths that lie

    @Test func tcpDataOffset15OnAShortSegment() throws {
        // The padded frame's TCP header is 20 bytes at 34; claim 60. The IP total length ends
        // the packet at 54, so this is a lie, not a truncation, despite the padding.
        let frame = GoldenFrames.ethernetPadded.setting(0xF0, at: 46)
        let packet = decode(frame, .ethernet)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooShort && stop.layer == .tcp && stop.required == 60 && stop.available == 20)
        #expect(stop.lengthSource == .ipv4TotalLength)
        #expect(!packet.truncated)
        #expect(packet.hasPorts && packet.sourcePort == 2049)
        #expect(packet.payloadOffset == 0)
        // When the IP header gave no end (offload), the capture ran out: truncated.
        let offload = decode(frame.settingUInt16(0, at: 16), .ethernet)
        #expect(offload.truncated && offload.stop?.lengthSource == .capture)
    }

    @Test func tcpDataOffsetBelowFive() {
        for offset: UInt8 in 0..<5 {
            let packet = decode(GoldenFrames.ethernetPadded.setting(offset << 4, at: 46), .ethernet)
            #expect(packet.stop == DecodeError(code: .invalidField, layer: .tcp, offset: 34, field: "data offset"))
            #expect(packet.hasPorts)
            #expect(packet.payloadOffset == 0 && packet.payloadLength == 0)
        }
    }

    /// (UDP length, expected payload length) on the Q-in-Q frame, whose IP payload is 16 bytes.
    @Test(arguments: [(UInt16(0), 8), (7, 8), (8, 0), (9, 1), (16, 8), (17, 8), (65535, 8)])
    func udpLength(_ length: UInt16, _ expectedPayload: Int) {
        let packet = decode(GoldenFrames.qinqUDP.settingUInt16(length, at: 46), .ethernet)
        #expect(packet.stop == nil)
        #expect(!packet.truncated)
        #expect(packet.hasPorts && packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 50)
        #expect(packet.payloadLength == expectedPayload)
    }

    @Test func udpHeaderOverrunningTheIPLength() {
        // Total length 24: only 4 UDP bytes belong to the packet.
        let packet = decode(GoldenFrames.qinqUDP.settingUInt16(24, at: 24), .ethernet)
        #expect(packet.hasPorts)
        #expect(packet.stop?.layer == .udp)
        #expect(packet.stop?.lengthSource == .ipv4TotalLength)
        #expect(!packet.truncated)
    }

    // MARK: IPv6 lengths that lie

    @Test func ipv6PayloadLength65535() {
        let packet = decode(GoldenFrames.rawIPv6ExtensionsTCP.settingUInt16(65535, at: 4), .raw)
        #expect(packet.truncated)
        #expect(packet.stop == nil)
        #expect(packet.destinationPort == 3260)
        #expect(packet.payloadOffset == 76 && packet.payloadLength == 48)
    }

    @Test func ipv6PayloadLengthZeroUsesTheCapture() {
        let packet = decode(GoldenFrames.rawIPv6ExtensionsTCP.settingUInt16(0, at: 4), .raw)
        #expect(!packet.truncated)
        #expect(packet.stop == nil)
        #expect(packet.payloadOffset == 76 && packet.payloadLength == 48)
    }

    @Test func ipv6PayloadLengthEndingInsideTheExtensionHeaders() throws {
        // 12 bytes: the hop-by-hop header fits, the destination options do not.
        let packet = decode(GoldenFrames.rawIPv6ExtensionsTCP.settingUInt16(12, at: 4), .raw)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooShort && stop.layer == .ipv6Extension && stop.offset == 48)
        #expect(stop.lengthSource == .ipv6PayloadLength)
        #expect(!packet.truncated)
        #expect(packet.ipProtocol == 60)
        #expect(!packet.hasPorts)
    }

    @Test func extensionHeaderLengthRunningPastTheEnd() throws {
        // Hop-by-hop Hdr Ext Len 255: 2048 bytes claimed.
        let frame = GoldenFrames.rawIPv6ExtensionsTCP.setting(255, at: 41)
        let packet = decode(frame, .raw)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooShort && stop.layer == .ipv6Extension)
        #expect(stop.offset == 40 && stop.required == 2048 && stop.available == 84)
        #expect(stop.lengthSource == .ipv6PayloadLength)
        #expect(!packet.truncated)
        // With the payload length covering it, the capture is what runs out.
        let longer = decode(frame.settingUInt16(4000, at: 4), .raw)
        #expect(longer.truncated && longer.stop?.lengthSource == .capture)
    }

    @Test func authenticationHeaderIsSkipped() {
        // Raw IPv6 / AH (payload len 4: 24 bytes) / UDP 1 -> 2049.
        var frame = Array(GoldenFrames.ipv6FirstFragment[0..<40])
        frame[6] = 51
        frame += [17, 4, 0, 0] + [UInt8](repeating: 0xAB, count: 20)
        frame += [0, 1, 0x08, 0x01, 0, 12, 0, 0, 0xCA, 0xFE, 0xBA, 0xBE]
        frame = frame.settingUInt16(UInt16(frame.count - 40), at: 4)
        let packet = decode(frame, .raw)
        #expect(packet.stop == nil)
        #expect(packet.ipProtocol == 17)
        #expect(packet.destinationPort == 2049)
        #expect(packet.payloadOffset == 72 && packet.payloadLength == 4)
    }

    @Test func noNextHeaderEndsTheChain() {
        let frame = GoldenFrames.rawIPv6ExtensionsTCP.setting(59, at: 48)  // dest-opts next header
        let packet = decode(frame, .raw)
        #expect(packet.stop == nil)
        #expect(packet.ipProtocol == 59)
        #expect(!packet.hasPorts)
    }

    /// Raw IPv6 with `count` 8-byte hop-by-hop / destination-options headers, then UDP.
    static func ipv6Chain(_ count: Int) -> [UInt8] {
        var frame = Array(GoldenFrames.ipv6FirstFragment[0..<40])
        frame[6] = 0
        for index in 0..<count {
            let next: UInt8 = index == count - 1 ? 17 : (index % 2 == 0 ? 60 : 0)
            frame += [next, 0, 1, 4, 0, 0, 0, 0]
        }
        frame += [0, 1, 0x08, 0x01, 0, 8, 0, 0]
        return frame.settingUInt16(UInt16(frame.count - 40), at: 4)
    }

    @Test func extensionChainUpToTheLimitIsFollowed() {
        let packet = decode(Self.ipv6Chain(16), .raw)
        #expect(packet.stop == nil)
        #expect(packet.destinationPort == 2049)
    }

    @Test func extensionChainOf100HeadersStops() throws {
        let packet = decode(Self.ipv6Chain(100), .raw)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooManyHeaders)
        #expect(stop.layer == .ipv6Extension)
        #expect(stop.offset == 40 + 16 * 8)
        #expect(!packet.hasPorts)
        #expect(!packet.truncated)
    }

    @Test func fragmentHeaderCutShort() {
        let packet = decodePrefix(GoldenFrames.ipv6FirstFragment, 44, .ipv6)
        #expect(packet.truncated)
        #expect(packet.stop?.layer == .ipv6Extension)
        #expect(!packet.isFragment)
    }

    // MARK: Link layers that lie

    @Test func sllAddressLength255IsIgnored() {
        let frame = GoldenFrames.sllIPv6UDP.settingUInt16(255, at: 4)
        let packet = decode(frame, .linuxSLL)
        #expect(packet.stop == nil)
        #expect(packet.destinationPort == 111)
        let sll2 = decode(GoldenFrames.sll2TCP.setting(255, at: 11), .linuxSLL2)
        #expect(sll2.stop == nil)
        #expect(sll2.sllInterfaceIndex == 3)
        #expect(sll2.sourcePort == 2049)
    }

    /// Ethernet with `count` tags (alternating TPIDs, VLAN ids 1, 2, ...), then the SYN's IPv4.
    static func tagged(_ count: Int) -> [UInt8] {
        let syn = GoldenFrames.ethernetTCPSyn
        var frame = Array(syn[0..<12])
        let tpids: [UInt16] = [0x88A8, 0x8100, 0x9100]
        for index in 0..<count {
            let tpid = tpids[index % 3]
            frame += [UInt8(tpid >> 8), UInt8(tpid & 0xFF), 0, UInt8(index + 1)]
        }
        frame += syn[12...]
        return frame
    }

    @Test func eightTagsAreFollowed() {
        let packet = decode(Self.tagged(8), .ethernet)
        #expect(packet.stop == nil)
        #expect(packet.vlanCount == 8)
        #expect(packet.outerVLAN == 1 && packet.innerVLAN == 2)
        #expect(packet.etherType == 0x0800)
        #expect(packet.destinationPort == 2049)
    }

    @Test func twentyTagsStop() throws {
        let packet = decode(Self.tagged(20), .ethernet)
        let stop = try #require(packet.stop)
        #expect(stop.code == .tooManyHeaders)
        #expect(stop.layer == .vlan)
        #expect(stop.offset == 14 + 8 * 4)
        #expect(packet.vlanCount == 8)
        #expect(packet.outerVLAN == 1 && packet.innerVLAN == 2)
        #expect(packet.ipVersion == 0)
        #expect(!packet.truncated)
    }

    @Test func tagCutShort() {
        let packet = decodePrefix(GoldenFrames.qinqUDP, 20, .ethernet)
        #expect(packet.truncated)
        #expect(packet.vlanCount == 1)
        #expect(packet.outerVLAN == 100)
        #expect(packet.stop == DecodeError(code: .tooShort, layer: .vlan, offset: 18, required: 4, available: 2, field: "vlan tag"))
    }

    @Test func emptyBufferOnEveryLinkType() {
        let empty: [UInt8] = []
        for linkType: LinkType in [.ethernet, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6, .null, .loop] {
            let packet = decode(empty, linkType)
            #expect(packet.truncated, "\(linkType)")
            #expect(packet.stop?.code == .tooShort, "\(linkType)")
            #expect(packet.stop?.offset == 0)
            #expect(packet.stop?.available == 0)
        }
    }
}
