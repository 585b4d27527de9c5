import Frames

/// Decodes a frame's headers, from its link layer down to TCP/UDP, into a `DecodedPacket`,
/// through one level of tunnel (VXLAN, Geneve, GRE, ERSPAN).
///
/// Never traps and never reads outside `bytes`, whatever the bytes say; allocation-free.
///
/// Each header has a view type in its own file (`Ethernet.swift`, `MPLS.swift`, `LinuxSLL.swift`,
/// `Loopback.swift`, `IPv4.swift`, `IPv6.swift`, `TCP.swift`, `UDP.swift`, `Tunnel.swift`) whose
/// initialiser checks the header's length once; this type walks the views in order and
/// records what they say. Decoding is lax (as smoltcp's and etherparse's are): a view that cannot be built
/// ends the walk with `stop` set, keeping every layer already decoded, and a header cut
/// by the end of the captured bytes also sets `truncated`.
///
/// Two lengths are deliberately not trusted as errors:
/// - an IPv4 total length of 0 (what a capture of a segmentation-offloaded send shows) and
///   an IPv6 payload length of 0 (a jumbogram, or the same offload) mean "as many bytes as
///   were captured";
/// - a UDP length below 8 or beyond the IP payload is ignored (a first fragment's UDP
///   length covers the whole datagram); only a sane one clips the payload.
///
/// MPLS: after the frame's VLAN tags (Ethernet, SLL, SLL2, and an Ethernet frame inside a
/// tunnel), EtherType 0x8847 or 0x8848 starts a label stack, followed to its bottom entry
/// (at most `MPLSLabel.maximumCount`, else `.tooManyHeaders`); the payload is IPv4 or IPv6
/// by its first nibble. A pseudowire (first nibble 0: the RFC 4385 control word, then
/// usually an Ethernet frame) and anything else are not followed, without an error. MPLS
/// is not a tunnel: the labels say nothing the flow needs.
///
/// Tunnels:
/// - a UDP datagram to port 4789 is VXLAN (its I flag must be set) carrying an Ethernet frame;
/// - a UDP datagram to port 6081 is Geneve (version 0), its options skipped, carrying an
///   Ethernet frame (protocol type 0x6558) or an IPv4/IPv6 packet;
/// - IP protocol 47 is GRE version 0 carrying an Ethernet frame (protocol type 0x6558) or
///   an IPv4/IPv6 packet; a WCCP-redirected packet (0x883E, with or without WCCPv2's
///   redirect header: see `WCCPRedirectHeader`), recorded as GRE; or an ERSPAN mirrored
///   Ethernet frame: 0x88BE with GRE's sequence number is type II (8-byte header, version
///   1), without it type I (no header, as Linux and Wireshark read it), 0x22EB type III
///   (12-byte header, version 2, and the 8-byte platform subheader when its O bit is set).
///   Other protocol types (MPLS in GRE among them), and GRE versions other than 0, are not
///   followed, without an error.
///
/// The inner frame is decoded with the same views,
/// confined to the tunnel's payload (the UDP length, else the outer IP length, else the
/// capture): a header that runs past it is `.tooShort` with that length source, and
/// `truncated` only when the capture ended it. An inner IP length longer than the tunnel
/// payload is clipped to it. Not followed, so that no frame can make decoding recurse:
/// - an outer IP fragment (even the first, which holds the tunnel header): it stays a UDP
///   or GRE fragment, whose datagram a reassembler would have to rebuild;
/// - a tunnel inside the tunnel: decoding stops at the inner UDP or GRE packet with
///   `.tooManyHeaders` (field "tunnel levels").
/// See `DecodedPacket` for which fields describe the outer and which the inner packet.
public struct PacketDecoder: Sendable {
    public init() {}

    /// Decodes `bytes`, which start with a header of type `linkType`.
    /// - Parameters:
    ///   - bytes: the captured bytes (possibly fewer than were on the wire).
    ///   - linkType: the frame's link-layer header type.
    /// - Returns: every layer that could be decoded, with `truncated` and `stop` describing the rest.
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType) -> DecodedPacket {
        // Built where the caller wants it (the result's memory), not copied there.
        var packet = DecodedPacket()
        Self.decodeFields(bytes, linkType: linkType, into: &packet)
        return packet
    }

    /// As `decode(_:linkType:)`, into memory that holds no decode yet (a batch of decodes
    /// filled in place), which it initialises: no copy of the decode is made.
    public func decode(
        _ bytes: UnsafeRawBufferPointer, linkType: LinkType, initializing packet: UnsafeMutablePointer<DecodedPacket>
    ) {
        packet.initialize(to: DecodedPacket())
        Self.decodeFields(bytes, linkType: linkType, into: &packet.pointee)
    }

    /// As `decode(_:linkType:)`, into an existing value (reset first).
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket) {
        packet = DecodedPacket()
        Self.decodeFields(bytes, linkType: linkType, into: &packet)
    }

    /// Decodes into `packet`, which holds the defaults of a new `DecodedPacket`.
    @inline(__always)
    private static func decodeFields(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket) {
        do throws(DecodeError) {
            try decodeLink(bytes, linkType: linkType, into: &packet)
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
        let capture = Limit(capture: bytes)
        switch linkType {
        case .ethernet:
            let ethernet = try EthernetHeader(bytes, at: 0, limit: capture)
            packet.etherType = ethernet.etherType
            try decodeEtherType(bytes, ethernet.etherType, at: EthernetHeader.length, limit: capture, into: &packet)

        case .linuxSLL:
            let sll = try LinuxSLLHeader(bytes, at: 0)
            packet.sllPacketType = UInt8(truncatingIfNeeded: sll.packetType)
            packet.etherType = sll.protocolType
            guard sll.hardwareType != HardwareType.netlink else { return }
            try decodeEtherType(bytes, sll.protocolType, at: LinuxSLLHeader.length, limit: capture, into: &packet)

        case .linuxSLL2:
            let sll2 = try LinuxSLL2Header(bytes, at: 0)
            packet.sllInterfaceIndex = sll2.interfaceIndex
            packet.sllPacketType = sll2.packetType
            packet.etherType = sll2.protocolType
            guard sll2.hardwareType != HardwareType.netlink else { return }
            try decodeEtherType(bytes, sll2.protocolType, at: LinuxSLL2Header.length, limit: capture, into: &packet)

        case .raw:
            try decodeIP(bytes, at: 0, limit: capture, layer: .link, into: &packet)

        case .ipv4:
            try decodeIPv4(bytes, at: 0, limit: capture, into: &packet)

        case .ipv6:
            try decodeIPv6(bytes, at: 0, limit: capture, into: &packet)

        case .null, .loop:
            let loopback = try LoopbackHeader(bytes, at: 0)
            let family = linkType == .null ? loopback.hostOrderFamily : loopback.networkOrderFamily
            switch LoopbackHeader.ipVersion(forFamily: family) {
            case 4: try decodeIPv4(bytes, at: LoopbackHeader.length, limit: capture, into: &packet)
            case 6: try decodeIPv6(bytes, at: LoopbackHeader.length, limit: capture, into: &packet)
            default: return  // not IP: nothing more to decode, nothing wrong
            }

        default:
            throw DecodeError(code: .unsupportedLinkType, layer: .link, offset: 0, field: "link type")
        }
    }

    /// Follows VLAN tags from `etherType` at `start`, then an MPLS label stack if one follows,
    /// then decodes IPv4 or IPv6. The tags go to `vlanCount`/`outerVLAN`/`innerVLAN` and
    /// `etherType` of the frame as seen, or to `tunnelVLANCount`/`tunnelVLAN` for the frame
    /// inside a tunnel. Other EtherTypes end decoding without an error.
    private static func decodeEtherType(
        _ bytes: UnsafeRawBufferPointer, _ etherType: UInt16, at start: Int, limit: Limit,
        into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let tunnelled = packet.tunnel != .none
        var etherType = etherType
        var cursor = start
        var tags = 0
        while EtherType.isVLANTag(etherType) {
            guard tags < VLANTag.maximumCount else {
                throw DecodeError(code: .tooManyHeaders, layer: .vlan, offset: cursor, field: "vlan tags")
            }
            let tag = try VLANTag(bytes, at: cursor, limit: limit)
            tags &+= 1  // at most maximumCount
            etherType = tag.etherType
            if tunnelled {
                packet.tunnelVLANCount = UInt8(truncatingIfNeeded: tags)
                if tags == 1 { packet.tunnelVLAN = tag.vlanID }
            } else {
                packet.vlanCount = UInt8(truncatingIfNeeded: tags)
                if tags == 1 {
                    packet.outerVLAN = tag.vlanID
                } else if tags == 2 {
                    packet.innerVLAN = tag.vlanID
                }
                packet.etherType = etherType
            }
            cursor &+= VLANTag.length  // the tag's 4 bytes were inside the buffer
        }
        if MPLSLabel.isMPLS(etherType) {
            try decodeMPLS(bytes, at: cursor, limit: limit, into: &packet)
        } else {
            try decodeNetwork(bytes, etherType: etherType, at: cursor, limit: limit, into: &packet)
        }
    }

    /// Follows the MPLS label stack at `start` to its bottom entry, then decodes the IPv4 or
    /// IPv6 packet after it; a pseudowire or any other payload ends decoding without an
    /// error. The labels go to `mplsLabelCount`/`mplsLabel` unless the frame is inside a tunnel.
    private static func decodeMPLS(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let tunnelled = packet.tunnel != .none
        var cursor = start
        var labels = 0
        while true {
            guard labels < MPLSLabel.maximumCount else {
                throw DecodeError(code: .tooManyHeaders, layer: .mpls, offset: cursor, field: "mpls labels")
            }
            let label = try MPLSLabel(bytes, at: cursor, limit: limit)
            labels &+= 1  // at most maximumCount
            if !tunnelled {
                packet.mplsLabelCount = UInt8(truncatingIfNeeded: labels)
                if labels == 1 { packet.mplsLabel = label.label }
            }
            cursor &+= MPLSLabel.length  // the entry's 4 bytes were inside the buffer
            if label.isBottomOfStack { break }
        }
        try checkLength(start: cursor, limit: limit, length: 1, layer: .mpls, field: "payload")
        // cursor + 1 <= limit.end was just checked.
        switch bytes.uncheckedUInt8(at: cursor) >> 4 {
        case 4: try decodeIPv4(bytes, at: cursor, limit: limit, into: &packet)
        case 6: try decodeIPv6(bytes, at: cursor, limit: limit, into: &packet)
        default: return  // a pseudowire (control word 0) or a payload nothing identifies
        }
    }

    /// Decodes the IPv4 or IPv6 packet an EtherType announces; others end decoding without an error.
    @inline(__always)
    private static func decodeNetwork(
        _ bytes: UnsafeRawBufferPointer, etherType: UInt16, at start: Int, limit: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        switch etherType {
        case EtherType.ipv4: try decodeIPv4(bytes, at: start, limit: limit, into: &packet)
        case EtherType.ipv6: try decodeIPv6(bytes, at: start, limit: limit, into: &packet)
        default: return
        }
    }

    // MARK: Network layer

    /// Decodes the IPv4 or IPv6 packet at `start` by its version nibble, where nothing
    /// before it says which (raw IP link types, WCCP).
    /// - Throws: `.tooShort` when not even one byte is there, `.invalidField` ("ip version",
    ///   at `layer`) when the nibble is neither 4 nor 6, and what the packet throws.
    private static func decodeIP(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, layer: DecodeError.Layer,
        into packet: inout DecodedPacket
    ) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: 1, layer: layer, field: "ip version")
        // start + 1 <= limit.end was just checked.
        switch bytes.uncheckedUInt8(at: start) >> 4 {
        case 4: try decodeIPv4(bytes, at: start, limit: limit, into: &packet)
        case 6: try decodeIPv6(bytes, at: start, limit: limit, into: &packet)
        default: throw DecodeError(code: .invalidField, layer: layer, offset: start, field: "ip version")
        }
    }

    /// Decodes the IPv4 packet at `start`, which may occupy the bytes up to `room.end` (the
    /// capture's end, or a tunnel payload's).
    private static func decodeIPv4(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit room: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let ip = try IPv4Header(bytes, at: start, limit: room)
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

        // The IPv4 header lies before room.end, so start <= room.end.
        let available = room.end &- start
        let totalLength = Int(ip.totalLength)
        let limit: Limit
        if totalLength == 0 {
            limit = room  // segmentation offload: the length was never filled in
        } else {
            guard totalLength >= headerLength else {
                throw DecodeError(code: .invalidField, layer: .ipv4, offset: start, field: "total length")
            }
            if totalLength > available {
                // Cut by the snaplen, or (inside a tunnel) longer than its carrier: clipped.
                if room.source == .capture { packet.truncated = true }
                limit = room
            } else {
                // <= room.end: just compared. Drops Ethernet padding after a short packet.
                limit = Limit(end: start &+ totalLength, source: .ipv4TotalLength)
            }
        }
        if headerLength > IPv4Header.minimumLength { try ip.checkOptions(limit: limit) }  // 20 bytes were checked
        guard packet.fragmentOffset == 0 else { return }  // a later fragment: no transport header
        try decodeTransport(bytes, protocol: packet.ipProtocol, at: start &+ headerLength, limit: limit, into: &packet)
    }

    /// Decodes the IPv6 packet at `start`, which may occupy the bytes up to `room.end` (the
    /// capture's end, or a tunnel payload's).
    private static func decodeIPv6(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit room: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let ip = try IPv6Header(bytes, at: start, limit: room)
        guard ip.version == 6 else {
            throw DecodeError(code: .invalidField, layer: .ipv6, offset: start, field: "version")
        }
        packet.ipVersion = 6
        packet.source = ip.source
        packet.destination = ip.destination
        packet.ipProtocol = ip.nextHeader

        // The 40-byte header lies before room.end, so headerEnd <= room.end.
        let headerEnd = start &+ IPv6Header.length
        let available = room.end &- headerEnd
        let payloadLength = Int(ip.payloadLength)
        let limit: Limit
        if payloadLength == 0 {
            limit = room  // jumbogram (RFC 2675) or segmentation offload
        } else if payloadLength > available {
            // Cut by the snaplen, or (inside a tunnel) longer than its carrier: clipped.
            if room.source == .capture { packet.truncated = true }
            limit = room
        } else {
            limit = Limit(end: headerEnd &+ payloadLength, source: .ipv6PayloadLength)  // <= room.end: just compared
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

    /// Decodes TCP or UDP in `start..<limit.end`, and the tunnel a UDP datagram to port 4789
    /// or 6081 or a GRE packet carries; other protocols end decoding without an error.
    @inline(__always)
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
            if headerLength > TCPHeader.minimumLength { try tcp.checkOptions(limit: limit) }  // 20 bytes were checked
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
            let saneLength = udpLength >= UDPHeader.length && udpLength <= room
            let payloadEnd = saneLength ? start &+ udpLength : limit.end
            packet.payloadOffset = start &+ UDPHeader.length
            packet.payloadLength = payloadEnd &- packet.payloadOffset
            let port = ports.destinationPort
            guard port == VXLANHeader.port || port == GeneveHeader.port, !packet.isFragment else { return }
            let payload =
                payloadEnd == limit.end ? limit : Limit(end: payloadEnd, source: .udpLength)  // <= limit.end
            if port == VXLANHeader.port {
                try checkNotTunnelled(packet, layer: .vxlan, offset: packet.payloadOffset)
                try decodeVXLAN(bytes, at: packet.payloadOffset, limit: payload, into: &packet)
            } else {
                try checkNotTunnelled(packet, layer: .geneve, offset: packet.payloadOffset)
                try decodeGeneve(bytes, at: packet.payloadOffset, limit: payload, into: &packet)
            }

        case GREHeader.ipProtocol:
            guard !packet.isFragment else { return }
            try checkNotTunnelled(packet, layer: .gre, offset: start)
            try decodeGRE(bytes, at: start, limit: limit, into: &packet)

        default:
            return
        }
    }

    // MARK: Tunnels

    /// Stops at a tunnel inside a tunnel: one level is followed, never more.
    @inline(__always)
    private static func checkNotTunnelled(
        _ packet: DecodedPacket, layer: DecodeError.Layer, offset: Int
    ) throws(DecodeError) {
        guard packet.tunnel == .none else {
            throw DecodeError(code: .tooManyHeaders, layer: layer, offset: offset, field: "tunnel levels")
        }
    }

    /// Decodes the VXLAN header at `start` (a UDP payload ending at `limit.end`) and the
    /// Ethernet frame it carries.
    private static func decodeVXLAN(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let vxlan = try VXLANHeader(bytes, at: start, limit: limit)
        guard vxlan.flags & VXLANHeader.validIdentifierFlag != 0 else {
            throw DecodeError(code: .invalidField, layer: .vxlan, offset: start, field: "flags (I bit clear)")
        }
        try decodeTunnelPayload(
            bytes, .vxlan, id: vxlan.networkIdentifier, carrying: .ethernet, at: start &+ VXLANHeader.length,
            limit: limit, into: &packet)
    }

    /// Decodes the Geneve header at `start` (a UDP payload ending at `limit.end`), skips its
    /// options, and decodes what it carries.
    private static func decodeGeneve(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let geneve = try GeneveHeader(bytes, at: start, limit: limit)
        guard geneve.version == 0 else {
            throw DecodeError(code: .invalidField, layer: .geneve, offset: start, field: "version")
        }
        try geneve.checkOptions(limit: limit)
        try decodeTunnelPayload(
            bytes, .geneve, id: geneve.networkIdentifier, carrying: TunnelPayload(protocolType: geneve.protocolType),
            at: start &+ geneve.length, limit: limit, into: &packet)  // the options lie before limit.end
    }

    /// Decodes the GRE header at `start` (an IP payload ending at `limit.end`) and what it carries.
    private static func decodeGRE(
        _ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let gre = try GREHeader(bytes, at: start, limit: limit)
        guard gre.version == 0 else { return }  // PPTP's enhanced GRE and the like: not followed
        guard gre.flags & GREHeader.routingPresent == 0 else {
            throw DecodeError(code: .invalidField, layer: .gre, offset: start, field: "flags (routing present)")
        }
        try gre.checkOptionalFields(limit: limit)
        let payload = start &+ gre.length  // the header lies before limit.end
        let id = gre.hasKey ? gre.key : 0
        switch gre.protocolType {
        case WCCPRedirectHeader.greProtocolType:
            let ip = try WCCPRedirectHeader.packetOffset(bytes, at: payload, limit: limit)
            try decodeTunnelPayload(bytes, .gre, id: id, carrying: .ipByVersion, at: ip, limit: limit, into: &packet)
        case ERSPAN.typeIIProtocolType, ERSPAN.typeIIIProtocolType:
            try decodeERSPAN(bytes, gre, at: payload, limit: limit, into: &packet)
        default:
            try decodeTunnelPayload(
                bytes, .gre, id: id, carrying: TunnelPayload(protocolType: gre.protocolType), at: payload,
                limit: limit, into: &packet)
        }
    }

    /// Decodes the ERSPAN header at `start`, after `gre` (of protocol type 0x88BE or 0x22EB),
    /// and the mirrored Ethernet frame: type I has no header (GRE without a sequence number,
    /// session 0), type II an 8-byte one, type III 12 or 20 bytes.
    private static func decodeERSPAN(
        _ bytes: UnsafeRawBufferPointer, _ gre: GREHeader, at start: Int, limit: Limit,
        into packet: inout DecodedPacket
    ) throws(DecodeError) {
        var frame = start  // type I: the frame right after GRE, session 0
        var session: UInt16 = 0
        var vlan: UInt16 = 0
        if gre.protocolType == ERSPAN.typeIIIProtocolType {
            let header = try ERSPANTypeIIIHeader(bytes, at: start, limit: limit)
            try header.checkVersion(ERSPANTypeIIIHeader.version)
            try header.checkSubheader(limit: limit)
            guard header.isEthernet else { return }  // a mirrored IP packet: not followed
            (session, vlan, frame) = (header.sessionID, header.vlan, start &+ header.length)  // checked
        } else if gre.flags & GREHeader.sequencePresent != 0 {
            let header = try ERSPANTypeIIHeader(bytes, at: start, limit: limit)
            try header.checkVersion(ERSPANTypeIIHeader.version)
            (session, vlan, frame) = (header.sessionID, header.vlan, start &+ ERSPANTypeIIHeader.length)  // checked
        }
        try decodeTunnelPayload(
            bytes, .erspan, id: UInt32(session), carrying: .ethernet, at: frame, limit: limit, erspanVLAN: vlan,
            into: &packet)
    }

    /// What a tunnel carries.
    enum TunnelPayload {
        /// An Ethernet frame (VXLAN, ERSPAN, and protocol type 0x6558).
        case ethernet
        /// The packet of this EtherType (IPv4 or IPv6 are followed, others are not).
        case network(UInt16)
        /// An IPv4 or IPv6 packet, by its version nibble (WCCP).
        case ipByVersion

        /// What a protocol type (GRE's, Geneve's) announces.
        @inline(__always)
        init(protocolType: UInt16) {
            self = protocolType == GREHeader.transparentEthernetBridging ? .ethernet : .network(protocolType)
        }
    }

    /// Decodes a tunnel's payload at `start`, of the kind `payload` says. When an inner IP
    /// header is decoded, the network and transport fields describe the inner packet and the
    /// outer IP header moves to the `outer…` fields (with `erspanVLAN`, for ERSPAN);
    /// otherwise the outer packet stands as it was decoded.
    private static func decodeTunnelPayload(
        _ bytes: UnsafeRawBufferPointer, _ tunnel: DecodedPacket.Tunnel, id: UInt32, carrying payload: TunnelPayload,
        at start: Int, limit: Limit, erspanVLAN: UInt16 = 0, into packet: inout DecodedPacket
    ) throws(DecodeError) {
        let outer = packet  // a plain value: no allocation
        packet = DecodedPacket(linkLayerOf: outer)
        packet.tunnel = tunnel
        packet.tunnelID = id
        packet.outerIPVersion = outer.ipVersion
        packet.outerSource = outer.source
        packet.outerDestination = outer.destination
        packet.outerIPProtocol = outer.ipProtocol
        packet.erspanVLAN = erspanVLAN
        do throws(DecodeError) {
            switch payload {
            case .ethernet:
                let ethernet = try EthernetHeader(bytes, at: start, limit: limit)
                try decodeEtherType(
                    bytes, ethernet.etherType, at: start &+ EthernetHeader.length, limit: limit, into: &packet)
            case .network(let etherType):
                try decodeNetwork(bytes, etherType: etherType, at: start, limit: limit, into: &packet)
            case .ipByVersion:
                try decodeIP(bytes, at: start, limit: limit, layer: .gre, into: &packet)
            }
        } catch {
            if packet.ipVersion == 0 { packet = outer }
            throw error
        }
        if packet.ipVersion == 0 { packet = outer }  // not IP inside (ARP, ...): the outer packet stands
    }
}
