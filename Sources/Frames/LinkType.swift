/// A capture's link-layer header type, as numbered by the tcpdump.org LINKTYPE registry
/// (the numbers pcap and pcapng files store).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// BSD loopback: a 4-byte address family in host byte order.
    @inlinable public static var null: LinkType { LinkType(rawValue: 0) }
    /// Ethernet II, possibly with 802.1Q / 802.1ad tags.
    @inlinable public static var ethernet: LinkType { LinkType(rawValue: 1) }
    /// Raw IP (LINKTYPE_RAW); the version nibble says IPv4 or IPv6.
    @inlinable public static var raw: LinkType { LinkType(rawValue: 101) }
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    @inlinable public static var loop: LinkType { LinkType(rawValue: 108) }
    /// Linux cooked capture v1 (SLL), 16-byte header, no interface.
    @inlinable public static var linuxSLL: LinkType { LinkType(rawValue: 113) }
    /// Raw IPv4 only.
    @inlinable public static var ipv4: LinkType { LinkType(rawValue: 228) }
    /// Raw IPv6 only.
    @inlinable public static var ipv6: LinkType { LinkType(rawValue: 229) }
    /// Linux cooked capture v2 (SLL2), 20-byte header carrying the interface index.
    @inlinable public static var linuxSLL2: LinkType { LinkType(rawValue: 276) }

    /// Normalises the few DLT values that differ from their LINKTYPE numbers on some
    /// platforms (DLT_RAW is 12 or 14 depending on the OS; both mean LINKTYPE_RAW).
    public init(dlt: Int32) {
        switch dlt {
        case 12, 14: self = .raw
        default: self.init(rawValue: UInt32(truncatingIfNeeded: dlt))
        }
    }

    public var description: String {
        switch self {
        case .null: "NULL"
        case .ethernet: "EN10MB"
        case .raw: "RAW"
        case .loop: "LOOP"
        case .linuxSLL: "LINUX_SLL"
        case .ipv4: "IPV4"
        case .ipv6: "IPV6"
        case .linuxSLL2: "LINUX_SLL2"
        default: "LINKTYPE_\(rawValue)"
        }
    }
}
