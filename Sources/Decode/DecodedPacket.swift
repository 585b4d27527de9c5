import Frames

/// What the decoder learned from one frame. A plain value with no references, so that a
/// decoder can fill one per packet without allocating.
///
/// Decoding is lax: every layer that could be read is filled in even when a later one
/// could not (`stop` says why and where), and a frame cut short by the snaplen is decoded
/// as far as its bytes go with `truncated` set.
///
/// Tunnels (VXLAN, Geneve, GRE, ERSPAN): the link-layer fields always describe the frame as it was seen
/// (its VLAN tags say where it was seen), while the network and transport fields describe
/// the innermost IP packet decoded. When a tunnel's inner IP header was decoded, `tunnel`
/// says which tunnel, the `outer…` fields hold the outer IP header, and the network and
/// transport fields hold the inner packet, so that flows form on the inner 5-tuple. When
/// it was not (the tunnel carries ARP or another non-IP frame, or the inner frame is cut
/// or malformed before its IP header), `tunnel` is `.none` and the fields describe the
/// outer UDP or GRE packet; `stop` then says what went wrong inside, if anything did.
public struct DecodedPacket: Sendable {
    /// The tunnel whose inner packet the network and transport fields describe.
    public enum Tunnel: UInt8, Sendable {
        /// Not tunnelled (or the tunnel's inner packet is not IP).
        case none = 0
        /// VXLAN (RFC 7348), UDP destination port 4789: an inner Ethernet frame.
        case vxlan = 1
        /// GRE version 0 (RFC 2784, RFC 2890): an inner Ethernet frame (transparent Ethernet
        /// bridging, protocol 0x6558) or an inner IPv4/IPv6 packet.
        case gre = 2
        /// Geneve (RFC 8926), UDP destination port 6081: an inner Ethernet frame or IPv4/IPv6
        /// packet, by the header's protocol type.
        case geneve = 3
        /// ERSPAN types I, II and III (GRE 0x88BE and 0x22EB): a copy of a frame a switch
        /// mirrored. The outer addresses are the mirror's (switch to collector), not the flow's.
        case erspan = 4
    }

    // MARK: Network and transport layers (the inner packet's when tunnelled)
    // (The fields are declared in the order that packs them: each address is followed by small
    // fields that fill its padding, 184 bytes in all where the order by layer took 240.)
    public var source: IPAddress = .zeroIPv4
    /// The upper-layer protocol after the IPv6 extension-header chain (6 TCP, 17 UDP, ...).
    public var ipProtocol: UInt8 = 0
    public var sourcePort: UInt16 = 0
    /// Fragment identification (IPv4: 16 bits, IPv6: 32 bits).
    public var fragmentID: UInt32 = 0
    public var destination: IPAddress = .zeroIPv4
    /// 4 or 6 when an IP header was decoded, 0 otherwise.
    public var ipVersion: UInt8 = 0
    public var destinationPort: UInt16 = 0
    /// Fragment offset in bytes.
    public var fragmentOffset: UInt32 = 0
    /// Offset of the transport payload within the frame bytes, when a transport header was decoded.
    public var payloadOffset: Int = 0
    /// Captured payload bytes available at `payloadOffset` (clipped to the IP length and the capture).
    public var payloadLength: Int = 0

    // MARK: Outcome, link layer, transport flags
    /// Why decoding stopped before the transport layer, if it did.
    public var stop: DecodeError? = nil
    /// The EtherType (or SLL protocol) after all tags; 0 when the link layer has none. For a
    /// tunnelled packet, the outer frame's.
    public var etherType: UInt16 = 0
    /// Number of 802.1Q / 802.1ad tags seen (can exceed 2; only two are kept).
    public var vlanCount: UInt8 = 0
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...); 0 for UDP.
    public var tcpFlags: UInt8 = 0
    /// VLAN id (12 bits) of the outermost tag, valid when `vlanCount >= 1`.
    public var outerVLAN: UInt16 = 0
    /// VLAN id of the second tag (the C-tag under an 802.1ad S-tag), valid when `vlanCount >= 2`.
    public var innerVLAN: UInt16 = 0
    /// True when TCP or UDP ports were read (never for a non-first fragment).
    public var hasPorts: Bool = false
    /// Set when this packet is an IP fragment (IPv4 MF or offset, or an IPv6 Fragment header).
    public var isFragment: Bool = false
    /// More-fragments flag.
    public var moreFragments: Bool = false
    /// The capture holds fewer bytes than the headers say the packet has.
    public var truncated: Bool = false
    /// The tunnel the packet was carried in; `.none` unless an inner IP header was decoded.
    public var tunnel: Tunnel = .none
    /// Number of VLAN tags on the frame inside the tunnel (an Ethernet frame inside VXLAN or
    /// GRE); they say nothing about where the frame was seen, so they are kept apart from
    /// `vlanCount`.
    public var tunnelVLANCount: UInt8 = 0

    // MARK: Tunnel (one level; a tunnel inside a tunnel is not followed), the rest of the link layer
    public var outerSource: IPAddress = .zeroIPv4
    /// The outer IP header's version (4 or 6) when `tunnel != .none`, else 0.
    public var outerIPVersion: UInt8 = 0
    /// VLAN id of the outermost tag inside the tunnel, valid when `tunnelVLANCount >= 1`.
    public var tunnelVLAN: UInt16 = 0
    /// The outermost MPLS label (20 bits), valid when `mplsLabelCount >= 1`.
    public var mplsLabel: UInt32 = 0
    public var outerDestination: IPAddress = .zeroIPv4
    /// The outer protocol: 17 (UDP) for VXLAN and Geneve, 47 for GRE and ERSPAN; 0 when not tunnelled.
    public var outerIPProtocol: UInt8 = 0
    /// For ERSPAN types II and III: the VLAN the header says the frame was mirrored from
    /// (12 bits; 0 when it says none, and for every other tunnel).
    public var erspanVLAN: UInt16 = 0
    /// The VXLAN or Geneve Network Identifier (24 bits), the GRE key, or the ERSPAN session ID
    /// (10 bits); 0 when there is none (GRE without a key, ERSPAN type I).
    public var tunnelID: UInt32 = 0
    /// The interface index an SLL2 header carries (1-based, as the kernel numbers them).
    public var sllInterfaceIndex: Int32? = nil
    /// The SLL/SLL2 packet type (0 to us, 1 broadcast, 2 multicast, 3 to others, 4 outgoing).
    public var sllPacketType: UInt8? = nil
    /// Number of MPLS label stack entries between the frame's tags and its IP packet (at most
    /// 8); labels of a frame inside a tunnel are followed but not counted here.
    public var mplsLabelCount: UInt8 = 0

    public init() {}

    /// A packet with `other`'s link-layer fields and `truncated` only: what the fields of a
    /// tunnel's inner packet start from. Every other field (network, transport, and any
    /// added later) starts from its default.
    init(linkLayerOf other: DecodedPacket) {
        vlanCount = other.vlanCount
        outerVLAN = other.outerVLAN
        innerVLAN = other.innerVLAN
        sllInterfaceIndex = other.sllInterfaceIndex
        sllPacketType = other.sllPacketType
        etherType = other.etherType
        mplsLabelCount = other.mplsLabelCount
        mplsLabel = other.mplsLabel
        truncated = other.truncated
    }

    /// True when this packet is a non-first fragment (carries no transport header).
    public var isLaterFragment: Bool { isFragment && fragmentOffset != 0 }
}
