import Decode
import Frames

/// One end of a flow.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `198.51.100.10:700`, or `[2001:db8::10]:700` for IPv6.
    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}

/// The identity of a bidirectional flow: the segment it was seen on (an interface and VLAN,
/// numbered by the caller), the IP protocol, and both endpoints in a canonical order so
/// that both directions share one key.
public struct FlowKey: Hashable, Sendable {
    public var segment: UInt32
    public var ipProtocol: UInt8
    public var lower: Endpoint
    public var upper: Endpoint

    public init(segment: UInt32, ipProtocol: UInt8, _ a: Endpoint, _ b: Endpoint) {
        self.segment = segment
        self.ipProtocol = ipProtocol
        if (a.address, a.port) <= (b.address, b.port) {
            lower = a
            upper = b
        } else {
            lower = b
            upper = a
        }
    }
}

/// The overlay a flow was carried in (VXLAN or GRE), with the outer addresses of each of
/// its ends.
public struct TunnelInfo: Sendable, Hashable {
    /// `vxlan` or `gre`.
    public var kind: String
    /// The VXLAN VNI or GRE key (0 when GRE has none).
    public var id: UInt32
    /// The outer (underlay) address that carried the key's lower endpoint.
    public var outerOfLower: IPAddress
    /// The outer address that carried the key's upper endpoint.
    public var outerOfUpper: IPAddress
}

/// What is known about one flow.
public struct Flow: Sendable {
    public var key: FlowKey
    /// The side that initiated (the NFS or iSCSI client, for a storage flow).
    public var client: Endpoint
    /// The side that serves (the NFS server or iSCSI target).
    public var server: Endpoint
    /// Index of the storage service in the `ProtocolTable`, or nil when the flow is not storage.
    public var service: Int?
    /// How the flow was recognised as storage (nil when it is not storage).
    public var recognition: Recognition?
    /// The overlay that carried it, when it was seen inside a tunnel (flows are keyed by
    /// their inner 5-tuple).
    public var tunnel: TunnelInfo?
    /// Payload-bearing packets inspected so far (inspection stops after a few).
    var inspected: UInt8 = 0
    /// Packets, including IP fragments attributed to the flow.
    public var packets: Int = 0
    /// Bytes on the wire (original lengths, not captured lengths).
    public var bytes: Int = 0
    /// How many of `packets` were non-first IP fragments.
    public var laterFragments: Int = 0
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp

    public var segment: UInt32 { key.segment }

    /// The outer (underlay) addresses of the client and the server, for a tunnelled flow.
    public var outerAddresses: (client: IPAddress, server: IPAddress)? {
        guard let tunnel else { return nil }
        let clientIsLower = client == key.lower
        return clientIsLower ? (tunnel.outerOfLower, tunnel.outerOfUpper) : (tunnel.outerOfUpper, tunnel.outerOfLower)
    }
    public var ipProtocol: UInt8 { key.ipProtocol }
    public var isStorage: Bool { service != nil }

    /// Adds the counts of `other`, the same flow seen elsewhere (another file of the same
    /// interface), and widens the time span.
    public mutating func absorb(_ other: Flow) {
        packets += other.packets
        bytes += other.bytes
        laterFragments += other.laterFragments
        firstSeen = min(firstSeen, other.firstSeen)
        lastSeen = max(lastSeen, other.lastSeen)
    }

    mutating func count(wireLength: Int, at time: Timestamp) {
        packets += 1
        bytes += wireLength
        if time < firstSeen { firstSeen = time }
        if time > lastSeen { lastSeen = time }
    }
}
