import Frames

/// Decodes a frame's headers, from its link layer down to TCP/UDP, into a `DecodedPacket`.
///
/// Never traps and never reads outside `bytes`, whatever the bytes say; allocation-free.
///
/// Each header has a view type in its own file (`Ethernet.swift`, `LinuxSLL.swift`,
/// `Loopback.swift`, `IPv4.swift`, `IPv6.swift`, `TCP.swift`, `UDP.swift`) whose
/// initialiser checks the header's length once; this type walks the views in order and
/// records what they say. Decoding is lax (style anchors §6.2): a view that cannot be built
/// ends the walk with `stop` set, keeping every layer already decoded, and a header cut
/// by the end of the captured bytes also sets `truncated`.
///
/// Two lengths are deliberately not trusted as errors:
/// - an IPv4 total length of 0 (what a capture of a segmentation-offloaded send shows) and
///   an IPv6 payload length of 0 (a jumbogram, or the same offload) mean "as many bytes as
///   were captured";
/// - a UDP length below 8 or beyond the IP payload is ignored (a first fragment's UDP
///   length covers the whole datagram); only a sane one clips the payload.
public struct PacketDecoder: Sendable {
    public init() {}

    /// Decodes `bytes`, which start with a header of type `linkType`.
    /// - Parameters:
    ///   - bytes: the captured bytes (possibly fewer than were on the wire).
    ///   - linkType: the frame's link-layer header type.
    /// - Returns: every layer that could be decoded, with `truncated` and `stop` describing the rest.
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType) -> DecodedPacket {
        var packet = DecodedPacket()
        decode(bytes, linkType: linkType, into: &packet)
        return packet
    }

    /// As `decode(_:linkType:)`, into an existing value (reset first).
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket) {
        packet = DecodedPacket()
        do throws(DecodeError) {
            try Self.decodeLink(bytes, linkType: linkType, into: &packet)
        } catch {
            packet.stop = error
            // A header that ran into the end of the captured bytes was cut by the snaplen;
            // one that only overran an IP length field is a lie, not a truncation.
            if error.code == .tooShort && error.lengthSource == .capture {
                packet.truncated = true
            }
        }
    }

    // MARK: Link layer

    private static func decodeLink(
        _ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        switch linkType {
        case .ethernet:
            let ethernet = try EthernetHeader(bytes, at: 0)
            packet.etherType = ethernet.etherType
            try decodeEtherType(bytes, at: EthernetHeader.length, into: &packet)

        case .linuxSLL:
            let sll = try LinuxSLLHeader(bytes, at: 0)
            packet.sllPacketType = UInt8(truncatingIfNeeded: sll.packetType)
            packet.etherType = sll.protocolType
            guard sll.hardwareType != HardwareType.netlink else { return }
            try decodeEtherType(bytes, at: LinuxSLLHeader.length, into: &packet)

        case .linuxSLL2:
            let sll2 = try LinuxSLL2Header(bytes, at: 0)
            packet.sllInterfaceIndex = sll2.interfaceIndex
            packet.sllPacketType = sll2.packetType
            packet.etherType = sll2.protocolType
            guard sll2.hardwareType != HardwareType.netlink else { return }
            try decodeEtherType(bytes, at: LinuxSLL2Header.length, into: &packet)

        case .raw:
            try checkLength(start: 0, limit: Limit(capture: bytes), length: 1, layer: .link, field: "ip version")
            // count >= 1 was just checked.
            switch bytes.uncheckedUInt8(at: 0) >> 4 {
            case 4: try decodeIPv4(bytes, at: 0, into: &packet)
            case 6: try decodeIPv6(bytes, at: 0, into: &packet)
            default: throw DecodeError(code: .invalidField, layer: .link, offset: 0, field: "ip version")
            }

        case .ipv4:
            try decodeIPv4(bytes, at: 0, into: &packet)

        case .ipv6:
            try decodeIPv6(bytes, at: 0, into: &packet)

        case .null, .loop:
            let loopback = try LoopbackHeader(bytes, at: 0)
            let family = linkType == .null ? loopback.hostOrderFamily : loopback.networkOrderFamily
            switch LoopbackHeader.ipVersion(forFamily: family) {
            case 4: try decodeIPv4(bytes, at: LoopbackHeader.length, into: &packet)
            case 6: try decodeIPv6(bytes, at: LoopbackHeader.length, into: &packet)
            default: return  // not IP: nothing more to decode, nothing wrong
            }

        default:
            throw DecodeError(code: .unsupportedLinkType, layer: .link, offset: 0, field: "link type")
        }
    }

    /// Follows VLAN tags from `etherType` (already in `packet.etherType`) at `start`, then
    /// decodes IPv4 or IPv6. Other EtherTypes end decoding without an error.
    private static func decodeEtherType(
        _ bytes: UnsafeRawBufferPointer, at start: Int, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        var cursor = start
        var tags = 0
        while EtherType.isVLANTag(packet.etherType) {
            guard tags < VLANTag.maximumCount else {
                throw DecodeError(code: .tooManyHeaders, layer: .vlan, offset: cursor, field: "vlan tags")
            }
            let tag = try VLANTag(bytes, at: cursor)
            tags &+= 1  // at most maximumCount
            packet.vlanCount = UInt8(truncatingIfNeeded: tags)
            if tags == 1 {
                packet.outerVLAN = tag.vlanID
            } else if tags == 2 {
                packet.innerVLAN = tag.vlanID
            }
            packet.etherType = tag.etherType
            cursor &+= VLANTag.length  // the tag's 4 bytes were inside the buffer
        }
        switch packet.etherType {
        case EtherType.ipv4: try decodeIPv4(bytes, at: cursor, into: &packet)
        case EtherType.ipv6: try decodeIPv6(bytes, at: cursor, into: &packet)
        default: return
        }
    }

    // MARK: Network layer

    private static func decodeIPv4(
        _ bytes: UnsafeRawBufferPointer, at start: Int, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let ip = try IPv4Header(bytes, at: start)
        guard ip.version == 4 else {
            throw DecodeError(code: .invalidField, layer: .ipv4, offset: start, field: "version")
        }
        let headerLength = ip.headerLength
        guard headerLength >= IPv4Header.minimumLength else {
            throw DecodeError(code: .invalidField, layer: .ipv4, offset: start, field: "ihl")
        }
        packet.ipVersion = 4
        packet.source = ip.source
        packet.destination = ip.destination
        packet.ipProtocol = ip.protocolNumber
        packet.fragmentID = UInt32(ip.identification)
        packet.fragmentOffset = ip.fragmentOffset
        packet.moreFragments = ip.moreFragments
        packet.isFragment = packet.moreFragments || packet.fragmentOffset != 0

        // The IPv4 header lies inside the buffer, so start <= count.
        let captured = bytes.count &- start
        let totalLength = Int(ip.totalLength)
        let limit: Limit
        if totalLength == 0 {
            limit = Limit(capture: bytes)  // segmentation offload: the length was never filled in
        } else {
            guard totalLength >= headerLength else {
                throw DecodeError(code: .invalidField, layer: .ipv4, offset: start, field: "total length")
            }
            if totalLength > captured {
                packet.truncated = true
                limit = Limit(capture: bytes)
            } else {
                // <= count: just compared. Drops Ethernet padding after a short packet.
                limit = Limit(end: start &+ totalLength, source: .ipv4TotalLength)
            }
        }
        try ip.checkOptions(limit: limit)
        guard packet.fragmentOffset == 0 else { return }  // a later fragment: no transport header
        try decodeTransport(bytes, protocol: packet.ipProtocol, at: start &+ headerLength, limit: limit, into: &packet)
    }

    private static func decodeIPv6(
        _ bytes: UnsafeRawBufferPointer, at start: Int, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let ip = try IPv6Header(bytes, at: start)
        guard ip.version == 6 else {
            throw DecodeError(code: .invalidField, layer: .ipv6, offset: start, field: "version")
        }
        packet.ipVersion = 6
        packet.source = ip.source
        packet.destination = ip.destination
        packet.ipProtocol = ip.nextHeader

        // The 40-byte header lies inside the buffer, so headerEnd <= count.
        let headerEnd = start &+ IPv6Header.length
        let captured = bytes.count &- headerEnd
        let payloadLength = Int(ip.payloadLength)
        let limit: Limit
        if payloadLength == 0 {
            limit = Limit(capture: bytes)  // jumbogram (RFC 2675) or segmentation offload
        } else if payloadLength > captured {
            packet.truncated = true
            limit = Limit(capture: bytes)
        } else {
            limit = Limit(end: headerEnd &+ payloadLength, source: .ipv6PayloadLength)  // <= count: just compared
        }

        var cursor = headerEnd
        var next = ip.nextHeader
        var chainLength = 0
        while true {
            packet.ipProtocol = next
            switch next {
            case IPv6NextHeader.hopByHop, IPv6NextHeader.routing, IPv6NextHeader.destinationOptions,
                IPv6NextHeader.mobility, IPv6NextHeader.hostIdentity, IPv6NextHeader.shim6:
                try countExtension(&chainLength, at: cursor)
                let header = try IPv6OptionsHeader(bytes, at: cursor, limit: limit)
                next = header.nextHeader
                cursor &+= header.length  // the header lies before limit.end <= count

            case IPv6NextHeader.authentication:
                try countExtension(&chainLength, at: cursor)
                let header = try AuthenticationHeader(bytes, at: cursor, limit: limit)
                next = header.nextHeader
                cursor &+= header.length  // the header lies before limit.end <= count

            case IPv6NextHeader.fragment:
                try countExtension(&chainLength, at: cursor)
                let header = try IPv6FragmentHeader(bytes, at: cursor, limit: limit)
                packet.isFragment = true
                packet.fragmentID = header.identification
                packet.fragmentOffset = header.fragmentOffset
                packet.moreFragments = header.moreFragments
                next = header.nextHeader
                cursor &+= IPv6FragmentHeader.length  // the header lies before limit.end <= count
                if packet.fragmentOffset != 0 {
                    packet.ipProtocol = next  // a later fragment: no further headers in it
                    return
                }

            default:
                // An upper-layer protocol, No Next Header (59), or one not followed (ESP).
                try decodeTransport(bytes, protocol: next, at: cursor, limit: limit, into: &packet)
                return
            }
        }
    }

    /// Counts one more extension header, stopping a chain too long to be honest.
    @inline(__always)
    private static func countExtension(_ chainLength: inout Int, at offset: Int) throws(DecodeError) {
        guard chainLength < IPv6NextHeader.maximumChainLength else {
            throw DecodeError(code: .tooManyHeaders, layer: .ipv6Extension, offset: offset, field: "extension headers")
        }
        chainLength &+= 1  // at most maximumChainLength
    }

    // MARK: Transport layer

    /// Decodes TCP or UDP in `start..<limit.end`; other protocols end decoding without an error.
    private static func decodeTransport(
        _ bytes: UnsafeRawBufferPointer, protocol protocolNumber: UInt8, at start: Int, limit: Limit,
        into packet: inout DecodedPacket
    ) throws(DecodeError) {
        switch protocolNumber {
        case 6:
            let ports = try TransportPorts(bytes, at: start, limit: limit, layer: .tcp)
            packet.hasPorts = true
            packet.sourcePort = ports.sourcePort
            packet.destinationPort = ports.destinationPort
            let tcp = try TCPHeader(bytes, at: start, limit: limit)
            packet.tcpFlags = tcp.flags
            let headerLength = tcp.headerLength
            guard headerLength >= TCPHeader.minimumLength else {
                throw DecodeError(code: .invalidField, layer: .tcp, offset: start, field: "data offset")
            }
            try tcp.checkOptions(limit: limit)
            // start + headerLength <= limit.end was just checked, so the payload length is >= 0.
            packet.payloadOffset = start &+ headerLength
            packet.payloadLength = limit.end &- packet.payloadOffset

        case 17:
            let ports = try TransportPorts(bytes, at: start, limit: limit, layer: .udp)
            packet.hasPorts = true
            packet.sourcePort = ports.sourcePort
            packet.destinationPort = ports.destinationPort
            let udp = try UDPHeader(bytes, at: start, limit: limit)
            // start + 8 <= limit.end was checked by UDPHeader, so limit.end - start cannot overflow.
            let udpLength = Int(udp.length)
            let room = limit.end &- start
            let payloadEnd = udpLength >= UDPHeader.length && udpLength <= room ? start &+ udpLength : limit.end
            packet.payloadOffset = start &+ UDPHeader.length
            packet.payloadLength = payloadEnd &- packet.payloadOffset

        default:
            return
        }
    }
}
