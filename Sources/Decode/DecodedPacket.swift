import Frames

/// What the decoder learned from one frame. A plain value with no references, so that a
/// decoder can fill one per packet without allocating.
///
/// Decoding is lax: every layer that could be read is filled in even when a later one
/// could not (`stop` says why and where), and a frame cut short by the snaplen is decoded
/// as far as its bytes go with `truncated` set.
public struct DecodedPacket: Sendable {
    // MARK: Link layer
    /// Number of 802.1Q / 802.1ad tags seen (can exceed 2; only two are kept).
    public var vlanCount: UInt8 = 0
    /// VLAN id (12 bits) of the outermost tag, valid when `vlanCount >= 1`.
    public var outerVLAN: UInt16 = 0
    /// VLAN id of the second tag (the C-tag under an 802.1ad S-tag), valid when `vlanCount >= 2`.
    public var innerVLAN: UInt16 = 0
    /// The interface index an SLL2 header carries (1-based, as the kernel numbers them).
    public var sllInterfaceIndex: Int32? = nil
    /// The SLL/SLL2 packet type (0 to us, 1 broadcast, 2 multicast, 3 to others, 4 outgoing).
    public var sllPacketType: UInt8? = nil
    /// The EtherType (or SLL protocol) after all tags; 0 when the link layer has none.
    public var etherType: UInt16 = 0

    // MARK: Network layer
    /// 4 or 6 when an IP header was decoded, 0 otherwise.
    public var ipVersion: UInt8 = 0
    public var source: IPAddress = .zeroIPv4
    public var destination: IPAddress = .zeroIPv4
    /// The upper-layer protocol after the IPv6 extension-header chain (6 TCP, 17 UDP, ...).
    public var ipProtocol: UInt8 = 0
    /// Set when this packet is an IP fragment (IPv4 MF or offset, or an IPv6 Fragment header).
    public var isFragment: Bool = false
    /// Fragment identification (IPv4: 16 bits, IPv6: 32 bits).
    public var fragmentID: UInt32 = 0
    /// Fragment offset in bytes.
    public var fragmentOffset: UInt32 = 0
    /// More-fragments flag.
    public var moreFragments: Bool = false

    // MARK: Transport layer
    /// True when TCP or UDP ports were read (never for a non-first fragment).
    public var hasPorts: Bool = false
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...); 0 for UDP.
    public var tcpFlags: UInt8 = 0
    /// Offset of the transport payload within the frame bytes, when a transport header was decoded.
    public var payloadOffset: Int = 0
    /// Captured payload bytes available at `payloadOffset` (clipped to the IP length and the capture).
    public var payloadLength: Int = 0

    // MARK: Outcome
    /// The capture holds fewer bytes than the headers say the packet has.
    public var truncated: Bool = false
    /// Why decoding stopped before the transport layer, if it did.
    public var stop: DecodeError? = nil

    public init() {}

    /// True when this packet is a non-first fragment (carries no transport header).
    public var isLaterFragment: Bool { isFragment && fragmentOffset != 0 }
}
