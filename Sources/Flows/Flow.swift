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
///
/// Stored as plain words (each address's two halves, the ports, one byte for both address
/// families) rather than two `Endpoint`s, whose addresses' family flags would each take a
/// padded word: 48 bytes a key instead of 56, in every flow record and on every lookup.
public struct FlowKey: Hashable, Sendable {
    private var lowerHigh: UInt64
    private var lowerLow: UInt64
    private var upperHigh: UInt64
    private var upperLow: UInt64
    public var segment: UInt32
    private var lowerPort: UInt16
    private var upperPort: UInt16
    public var ipProtocol: UInt8
    /// Bit 0: the lower address is IPv4; bit 1: the upper one is.
    private var families: UInt8

    public var lower: Endpoint {
        get { Endpoint(address: IPAddress(high: lowerHigh, low: lowerLow, isIPv4: families & 1 != 0), port: lowerPort) }
        set {
            lowerHigh = newValue.address.high
            lowerLow = newValue.address.low
            lowerPort = newValue.port
            families = families & ~1 | (newValue.address.isIPv4 ? 1 : 0)
        }
    }

    public var upper: Endpoint {
        get { Endpoint(address: IPAddress(high: upperHigh, low: upperLow, isIPv4: families & 2 != 0), port: upperPort) }
        set {
            upperHigh = newValue.address.high
            upperLow = newValue.address.low
            upperPort = newValue.port
            families = families & ~2 | (newValue.address.isIPv4 ? 2 : 0)
        }
    }

    @inline(__always)
    public init(segment: UInt32, ipProtocol: UInt8, _ a: Endpoint, _ b: Endpoint) {
        let (lower, upper) = Self.precedes(a, b) ? (a, b) : (b, a)
        self.segment = segment
        self.ipProtocol = ipProtocol
        lowerHigh = lower.address.high
        lowerLow = lower.address.low
        lowerPort = lower.port
        upperHigh = upper.address.high
        upperLow = upper.address.low
        upperPort = upper.port
        families = (lower.address.isIPv4 ? 1 : 0) | (upper.address.isIPv4 ? 2 : 0)
    }

    /// `(a.address, a.port) <= (b.address, b.port)`, on the fields themselves so that the
    /// per-packet path makes no call into another module (the order is `IPAddress`'s: IPv4
    /// first, then the 128 bits).
    @inline(__always)
    static func precedes(_ a: Endpoint, _ b: Endpoint) -> Bool {
        if a.address.isIPv4 != b.address.isIPv4 { return a.address.isIPv4 }
        if a.address.high != b.address.high { return a.address.high < b.address.high }
        if a.address.low != b.address.low { return a.address.low < b.address.low }
        return a.port <= b.port
    }

    /// Field by field, as the synthesised `==` would, without calls into `Decode`.
    @inline(__always)
    public static func == (x: FlowKey, y: FlowKey) -> Bool {
        x.lowerPort == y.lowerPort && x.upperPort == y.upperPort && x.lowerLow == y.lowerLow && x.upperLow == y.upperLow
            && x.lowerHigh == y.lowerHigh && x.upperHigh == y.upperHigh && x.segment == y.segment
            && x.ipProtocol == y.ipProtocol && x.families == y.families
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(lowerHigh)
        hasher.combine(lowerLow)
        hasher.combine(upperHigh)
        hasher.combine(upperLow)
        hasher.combine(segment)
        hasher.combine(lowerPort)
        hasher.combine(upperPort)
        hasher.combine(ipProtocol)
        hasher.combine(families)
    }

    /// The words `FlowIndex` hashes: each address's halves, and the ports, protocol and
    /// families in one word.
    @inline(__always)
    var words: (lowerHigh: UInt64, lowerLow: UInt64, upperHigh: UInt64, upperLow: UInt64, tail: UInt64) {
        (lowerHigh, lowerLow, upperHigh, upperLow,
         UInt64(lowerPort) | UInt64(upperPort) << 16 | UInt64(ipProtocol) << 32 | UInt64(families) << 40)
    }
}

/// The overlay a flow was carried in (VXLAN, Geneve, GRE, ERSPAN), with the outer addresses
/// of each of its ends; for ERSPAN, the mirror's instead (see `mirrorSource`).
public struct TunnelInfo: Sendable, Hashable {
    /// The tunnel (never `.none` here). Stored as the decoder's one-byte kind rather than
    /// text, so that a flow record holds no reference and copies as plain bytes.
    public var tunnel: DecodedPacket.Tunnel
    /// `vxlan`, `geneve`, `gre` or `erspan`.
    public var kind: String {
        switch tunnel {
        case .vxlan: "vxlan"
        case .geneve: "geneve"
        case .gre: "gre"
        case .erspan: "erspan"
        case .none: "none"
        }
    }
    /// The VXLAN or Geneve VNI, the GRE key (0 when GRE has none), or the ERSPAN session.
    public var id: UInt32
    /// The outer (underlay) address that carried the key's lower endpoint; for ERSPAN, the
    /// mirror's source (the switch).
    public var outerOfLower: IPAddress
    /// The outer address that carried the key's upper endpoint; for ERSPAN, the mirror's
    /// destination (the collector).
    public var outerOfUpper: IPAddress
}

/// A tunnel's details, held by the few flow records that have one.
final class TunnelBox: Sendable {
    let info: TunnelInfo
    init(_ info: TunnelInfo) { self.info = info }
}

/// What is known about one flow.
public struct Flow: Sendable {
    // Stored in the order the per-packet path touches them: key, counts, service and
    // recognition lie in the record's first two cache lines; the tunnel, read when a flow
    // starts or is reported, comes after.
    public var key: FlowKey
    /// The flow's number in order of first appearance in its `FlowTracker` (-1 in a slot
    /// whose flow was finished). Stable: a second pass over the same packets numbers the
    /// same flows the same.
    public internal(set) var serial: Int = 0
    /// Packets, including IP fragments attributed to the flow.
    public var packets: Int = 0
    /// Bytes on the wire (original lengths, not captured lengths).
    public var bytes: Int = 0
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// How many of `packets` were non-first IP fragments.
    public var laterFragments: Int = 0
    /// Index of the storage service in the `ProtocolTable`, or nil when the flow is not storage.
    public var service: Int? {
        get { storedService < 0 ? nil : Int(storedService) }
        set { storedService = newValue.map { Int16(truncatingIfNeeded: $0) } ?? -1 }
    }
    /// `service`, or -1: two bytes where an `Int?` takes sixteen (a protocol table holds a
    /// few dozen services).
    private var storedService: Int16 = -1
    /// How the flow was recognised as storage (nil when it is not storage).
    public var recognition: Recognition?
    /// Payload-bearing packets inspected so far (inspection stops after a few).
    var inspected: UInt8 = 0
    /// False once inspecting more of the flow's payload can change nothing (budget spent,
    /// or recognised with certainty): read on every packet before the call that inspects.
    var inspecting = true
    /// True when the client is the key's lower endpoint (else its upper one). The ends are
    /// always the key's two endpoints, so a flag stands for both (48 bytes a flow less).
    var clientIsLower: Bool
    /// Set by every packet after the first, cleared when the tracker's clock hand passes the
    /// flow (see `FlowTracker`): a flow the hand finds unmarked has not sent since it started
    /// or since the hand last passed.
    var recent = true
    /// The side that initiated (the NFS or iSCSI client, for a storage flow).
    public var client: Endpoint {
        get { clientIsLower ? key.lower : key.upper }
        set { clientIsLower = newValue == key.lower }
    }
    /// The side that serves (the NFS server or iSCSI target).
    public var server: Endpoint {
        get { clientIsLower ? key.upper : key.lower }
        set { clientIsLower = newValue != key.lower }
    }
    /// The overlay that carried it, when it was seen inside a tunnel (flows are keyed by
    /// their inner 5-tuple).
    public var tunnel: TunnelInfo? {
        get { tunnelBox?.info }
        set { tunnelBox = newValue.map(TunnelBox.init) }
    }
    /// Most flows are not tunnelled: their records hold a nil reference (8 bytes) where the
    /// tunnel's details would take 56.
    var tunnelBox: TunnelBox?

    init(
        key: FlowKey, serial: Int, firstSeen: Timestamp, lastSeen: Timestamp, service: Int?, recognition: Recognition?,
        clientIsLower: Bool, tunnel: TunnelInfo?
    ) {
        self.key = key
        self.serial = serial
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.recognition = recognition
        self.clientIsLower = clientIsLower
        self.service = service
        self.tunnel = tunnel
    }

    public var segment: UInt32 { key.segment }

    /// Bytes from a record's start that the per-packet path touches: all but the tunnel,
    /// the last field (a constant, where `MemoryLayout.offset(of:)` is worked out at run time).
    static var hotLength: Int { MemoryLayout<Flow>.size - MemoryLayout<TunnelBox?>.size }

    /// The outer (underlay) addresses of the client and the server, for a tunnelled flow; for
    /// a copy ERSPAN mirrored, the mirror's source and destination instead.
    public var outerAddresses: (client: IPAddress, server: IPAddress)? {
        guard let tunnel else { return nil }
        if tunnel.tunnel == .erspan { return (tunnel.outerOfLower, tunnel.outerOfUpper) }
        return clientIsLower ? (tunnel.outerOfLower, tunnel.outerOfUpper) : (tunnel.outerOfUpper, tunnel.outerOfLower)
    }
    public var ipProtocol: UInt8 { key.ipProtocol }
    public var isStorage: Bool { service != nil }
    /// How strong the evidence is that the flow is storage (nil when it is not storage).
    public var evidence: Evidence? { recognition?.evidence }

    /// Adds the counts of `other`, the same flow seen elsewhere (another file of the same
    /// interface, or a later record after this one was finished), and widens the time span.
    /// The more certain recognition wins, with its service and ends.
    public mutating func absorb(_ other: Flow) {
        if let theirs = other.recognition, theirs.strength > (recognition?.strength ?? 0) {
            recognition = theirs
            service = other.service
            client = other.client
        }
        if tunnel == nil { tunnel = other.tunnel }
        packets += other.packets
        bytes += other.bytes
        laterFragments += other.laterFragments
        firstSeen = min(firstSeen, other.firstSeen)
        lastSeen = max(lastSeen, other.lastSeen)
    }

    /// Counts one packet. Returns `inspecting`, so that the per-packet path touches the
    /// record once.
    @discardableResult
    mutating func count(wireLength: Int, at time: Timestamp) -> Bool {
        packets += 1
        bytes += wireLength
        recent = true
        if time < firstSeen { firstSeen = time }
        if time > lastSeen { lastSeen = time }
        return inspecting
    }
}

/// Where finished flows are summarised: their segment, their service (nil: not storage),
/// and whether the service is known only by a port range (`Evidence.portRange`).
public struct FlowSummaryKey: Hashable, Sendable {
    public var segment: UInt32
    public var service: Int?
    public var rangeOnly: Bool

    public init(segment: UInt32, service: Int?, rangeOnly: Bool = false) {
        self.segment = segment
        self.service = service
        self.rangeOnly = rangeOnly
    }
}

/// Flows counted together, without their details.
public struct FlowTally: Sendable, Equatable {
    public var flows = 0
    public var packets = 0
    public var bytes = 0
    public var firstSeen = Timestamp(nanoseconds: .max)
    public var lastSeen = Timestamp(nanoseconds: .min)

    public init() {}

    public mutating func add(_ flow: Flow) {
        add(packets: flow.packets, bytes: flow.bytes, firstSeen: flow.firstSeen, lastSeen: flow.lastSeen)
    }

    /// `add` of a flow's counts and times, read from wherever the flow lies.
    mutating func add(packets: Int, bytes: Int, firstSeen: Timestamp, lastSeen: Timestamp) {
        flows += 1
        self.packets += packets
        self.bytes += bytes
        self.firstSeen = min(self.firstSeen, firstSeen)
        self.lastSeen = max(self.lastSeen, lastSeen)
    }

    public mutating func merge(_ other: FlowTally) {
        flows += other.flows
        packets += other.packets
        bytes += other.bytes
        firstSeen = min(firstSeen, other.firstSeen)
        lastSeen = max(lastSeen, other.lastSeen)
    }
}

/// A set of flow serials as one bit each: compact where serials are dense.
public struct SerialSet: Sendable, Equatable {
    private var words: [UInt64] = []

    public init() {}

    public mutating func insert(_ serial: Int) {
        let word = serial >> 6
        if word >= words.count { words += [UInt64](repeating: 0, count: word + 1 - words.count) }
        words[word] |= 1 << UInt64(serial & 63)
    }

    public func contains(_ serial: Int) -> Bool {
        let word = serial >> 6
        return serial >= 0 && word < words.count && words[word] & (1 << UInt64(serial & 63)) != 0
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Adds every serial of `other`, shifted by `offset`.
    public mutating func formUnion(_ other: SerialSet, offset: Int) {
        for (index, word) in other.words.enumerated() where word != 0 {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { insert(offset + index * 64 + bit) }
        }
    }
}
