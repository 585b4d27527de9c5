import Frames

/// The kernel prefilter of a live capture: it keeps what can matter to a storage check and
/// nothing else, so the reading thread sees storage packets only.
///
/// It keeps
/// - TCP and UDP packets with a storage port at either end (`tcpPorts`, `udpPorts`);
/// - IPv4 fragments (more-fragments set or a non-zero offset) and IPv6 packets whose first
///   extension header is a fragment header: non-first fragments carry no ports, so the
///   filter cannot tell whose they are, and the flow tracker attributes them;
/// - on Ethernet, the same behind one or two VLAN tags (802.1Q, 802.1ad).
///
/// The expression is written for libpcap's `vlan` quirk: `vlan` shifts every later offset
/// of the whole expression, so the untagged part comes first and the tagged parts nest
/// (`... or (vlan and (X or (vlan and X)))`). On a live Linux capture libpcap reads
/// offloaded tags from packet metadata instead; the same expression serves both.
///
/// Not kept: TCP or UDP behind IPv6 extension headers other than a first fragment header
/// (hop-by-hop, routing, destination options), which libpcap's `tcp port` does not follow.
public struct CaptureFilter: Sendable, Equatable {
    public var tcpPorts: [UInt16]
    public var udpPorts: [UInt16]
    /// Keep every IPv4 and IPv6 packet (tagged or not) instead: what deep inspection needs to
    /// find storage on ports the table does not name and inside VXLAN or GRE.
    public var allIP: Bool

    public init(tcpPorts: [UInt16], udpPorts: [UInt16]) {
        self.tcpPorts = Self.unique(tcpPorts)
        self.udpPorts = Self.unique(udpPorts)
        self.allIP = false
    }

    /// The filter that keeps every IP packet, tagged or not (ARP and other non-IP frames are
    /// left out: they carry no storage).
    public static let everyIPPacket: CaptureFilter = {
        var filter = CaptureFilter(tcpPorts: [], udpPorts: [])
        filter.allIP = true
        return filter
    }()

    /// The libpcap filter expression for a capture of link type `linkType`. VLAN tags are
    /// matched on Ethernet only (libpcap's `vlan` exists for no other link type lanekeeper
    /// captures).
    public func expression(for linkType: LinkType) -> String {
        var terms = tcpPorts.map { "tcp port \($0)" } + udpPorts.map { "udp port \($0)" }
        terms.append("(ip[6:2] & 0x3fff != 0)")
        terms.append("(ip6[6] == 44)")
        let body = allIP ? "ip or ip6" : terms.joined(separator: " or ")
        guard linkType == .ethernet else { return body }
        return "(\(body)) or (vlan and ((\(body)) or (vlan and (\(body)))))"
    }

    private static func unique(_ ports: [UInt16]) -> [UInt16] {
        var seen = Set<UInt16>()
        return ports.filter { seen.insert($0).inserted }
    }
}
