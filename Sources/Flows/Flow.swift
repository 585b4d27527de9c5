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
