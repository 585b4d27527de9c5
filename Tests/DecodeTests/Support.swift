import Decode
import Frames
import Testing

/// Decodes `bytes` with a fresh decoder.
func decode(_ bytes: [UInt8], _ linkType: LinkType) -> DecodedPacket {
    bytes.withUnsafeBytes { PacketDecoder().decode($0, linkType: linkType) }
}

/// Decodes the first `count` bytes of `bytes`, from a buffer holding only those bytes, so that
/// a read past the end would land outside the allocation.
func decodePrefix(_ bytes: [UInt8], _ count: Int, _ linkType: LinkType) -> DecodedPacket {
    decode(Array(bytes[..<count]), linkType)
}

func address(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else {
        Issue.record("bad test address \(text)")
        return .zeroIPv4
    }
    return address
}

/// Expects every field of `actual` to equal the one in `expected`.
func expectFields(
    _ actual: DecodedPacket, _ expected: DecodedPacket, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.vlanCount == expected.vlanCount, "vlanCount", sourceLocation: sourceLocation)
    #expect(actual.outerVLAN == expected.outerVLAN, "outerVLAN", sourceLocation: sourceLocation)
    #expect(actual.innerVLAN == expected.innerVLAN, "innerVLAN", sourceLocation: sourceLocation)
    #expect(actual.sllInterfaceIndex == expected.sllInterfaceIndex, "sllInterfaceIndex", sourceLocation: sourceLocation)
    #expect(actual.sllPacketType == expected.sllPacketType, "sllPacketType", sourceLocation: sourceLocation)
    #expect(actual.etherType == expected.etherType, "etherType", sourceLocation: sourceLocation)
    #expect(actual.mplsLabelCount == expected.mplsLabelCount, "mplsLabelCount", sourceLocation: sourceLocation)
    #expect(actual.mplsLabel == expected.mplsLabel, "mplsLabel", sourceLocation: sourceLocation)
    #expect(actual.tunnel == expected.tunnel, "tunnel", sourceLocation: sourceLocation)
    #expect(actual.tunnelID == expected.tunnelID, "tunnelID", sourceLocation: sourceLocation)
    #expect(actual.outerIPVersion == expected.outerIPVersion, "outerIPVersion", sourceLocation: sourceLocation)
    #expect(actual.outerSource == expected.outerSource, "outerSource", sourceLocation: sourceLocation)
    #expect(actual.outerDestination == expected.outerDestination, "outerDestination", sourceLocation: sourceLocation)
    #expect(actual.outerIPProtocol == expected.outerIPProtocol, "outerIPProtocol", sourceLocation: sourceLocation)
    #expect(actual.tunnelVLANCount == expected.tunnelVLANCount, "tunnelVLANCount", sourceLocation: sourceLocation)
    #expect(actual.tunnelVLAN == expected.tunnelVLAN, "tunnelVLAN", sourceLocation: sourceLocation)
    #expect(actual.erspanVLAN == expected.erspanVLAN, "erspanVLAN", sourceLocation: sourceLocation)
    #expect(actual.ipVersion == expected.ipVersion, "ipVersion", sourceLocation: sourceLocation)
    #expect(actual.source == expected.source, "source", sourceLocation: sourceLocation)
    #expect(actual.destination == expected.destination, "destination", sourceLocation: sourceLocation)
    #expect(actual.ipProtocol == expected.ipProtocol, "ipProtocol", sourceLocation: sourceLocation)
    #expect(actual.isFragment == expected.isFragment, "isFragment", sourceLocation: sourceLocation)
    #expect(actual.fragmentID == expected.fragmentID, "fragmentID", sourceLocation: sourceLocation)
    #expect(actual.fragmentOffset == expected.fragmentOffset, "fragmentOffset", sourceLocation: sourceLocation)
    #expect(actual.moreFragments == expected.moreFragments, "moreFragments", sourceLocation: sourceLocation)
    #expect(actual.hasPorts == expected.hasPorts, "hasPorts", sourceLocation: sourceLocation)
    #expect(actual.sourcePort == expected.sourcePort, "sourcePort", sourceLocation: sourceLocation)
    #expect(actual.destinationPort == expected.destinationPort, "destinationPort", sourceLocation: sourceLocation)
    #expect(actual.tcpFlags == expected.tcpFlags, "tcpFlags", sourceLocation: sourceLocation)
    #expect(actual.payloadOffset == expected.payloadOffset, "payloadOffset", sourceLocation: sourceLocation)
    #expect(actual.payloadLength == expected.payloadLength, "payloadLength", sourceLocation: sourceLocation)
    #expect(actual.truncated == expected.truncated, "truncated", sourceLocation: sourceLocation)
    #expect(actual.stop == expected.stop, "stop: \(String(describing: actual.stop))", sourceLocation: sourceLocation)
}

/// What must hold for any decode of any `count` bytes.
func expectSane(_ packet: DecodedPacket, count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(packet.payloadOffset >= 0, sourceLocation: sourceLocation)
    #expect(packet.payloadLength >= 0, sourceLocation: sourceLocation)
    #expect(packet.payloadOffset <= count, sourceLocation: sourceLocation)
    #expect(packet.payloadLength <= count - packet.payloadOffset, sourceLocation: sourceLocation)
    #expect(packet.vlanCount <= 8, sourceLocation: sourceLocation)
    #expect(packet.mplsLabelCount <= 8, sourceLocation: sourceLocation)
    if packet.hasPorts {
        #expect(packet.ipVersion == 4 || packet.ipVersion == 6, sourceLocation: sourceLocation)
        #expect(packet.ipProtocol == 6 || packet.ipProtocol == 17, sourceLocation: sourceLocation)
        #expect(!packet.isLaterFragment, sourceLocation: sourceLocation)
    }
    if packet.payloadOffset != 0 {
        #expect(packet.hasPorts, sourceLocation: sourceLocation)
    }
    if packet.tunnel == .none {
        #expect(packet.outerIPVersion == 0 && packet.tunnelID == 0, sourceLocation: sourceLocation)
    } else {
        #expect(packet.ipVersion == 4 || packet.ipVersion == 6, sourceLocation: sourceLocation)
        #expect(packet.outerIPVersion == 4 || packet.outerIPVersion == 6, sourceLocation: sourceLocation)
        #expect(packet.outerIPProtocol == 17 || packet.outerIPProtocol == 47, sourceLocation: sourceLocation)
    }
    if let stop = packet.stop, stop.code == .tooShort {
        #expect(stop.required > stop.available, sourceLocation: sourceLocation)
        #expect(stop.offset >= 0 && stop.offset <= count, sourceLocation: sourceLocation)
    }
}

extension Array where Element == UInt8 {
    /// A copy with the big-endian `UInt16` at `offset` replaced.
    func settingUInt16(_ value: UInt16, at offset: Int) -> [UInt8] {
        var copy = self
        copy[offset] = UInt8(value >> 8)
        copy[offset + 1] = UInt8(value & 0xFF)
        return copy
    }

    /// A copy with the byte at `offset` replaced.
    func setting(_ value: UInt8, at offset: Int) -> [UInt8] {
        var copy = self
        copy[offset] = value
        return copy
    }
}
