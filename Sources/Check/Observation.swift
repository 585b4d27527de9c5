import Decode
import Flows
import Frames

/// Everything the earlier stages saw, in the form the checker judges: the interfaces and
/// segments (interface + VLAN) traffic was seen on, per-segment packet counts, the flows,
/// and how each capture source ended.
public struct Observation: Sendable {
    public var interfaces: [ObservedInterface] = []
    public var segments: [Segment] = []
    /// Parallel to `segments`.
    public var counters: [SegmentCounters] = []
    public var flows: [Flow] = []
    /// Flows finished to bound memory and counted without their details, by segment index
    /// and service (storage ones only when more than the bound were finished).
    public var summarised: [FlowSummaryKey: FlowTally] = [:]
    /// Non-first fragments that never met their datagram, per segment index.
    public var orphanFragments: [UInt32: FragmentTally] = [:]
    public var sources: [SourceSummary] = []
    /// The table flows were classified with (service names for reports).
    public var protocolTable: ProtocolTable

    public init(protocolTable: ProtocolTable) {
        self.protocolTable = protocolTable
    }
}

/// An interface as the captures know it. `name` is nil when no capture said which
/// interface a packet was seen on; `label` then says why (e.g. "unattributed (a.pcap)").
public struct ObservedInterface: Hashable, Sendable {
    public var name: String?
    public var label: String
    /// For an unnamed interface: how the user can name it (e.g. `--ifindex 3=NAME`).
    public var hint: String?

    public init(name: String?, label: String, hint: String? = nil) {
        self.name = name
        self.label = label
        self.hint = hint
    }
}

/// Where a packet was seen: an interface and its VLAN tags, and the policy network that
/// place belongs to (nil when none).
public struct Segment: Hashable, Sendable {
    /// Index into `Observation.interfaces`.
    public var interface: Int
    /// Outermost and second VLAN id, when tagged.
    public var outerVLAN: UInt16?
    public var innerVLAN: UInt16?
    /// Index into `Policy.networks`.
    public var network: Int?

    public init(interface: Int, outerVLAN: UInt16?, innerVLAN: UInt16?, network: Int?) {
        self.interface = interface
        self.outerVLAN = outerVLAN
        self.innerVLAN = innerVLAN
        self.network = network
    }

    /// The VLAN a report shows: the innermost tag.
    public var vlan: UInt16? { innerVLAN ?? outerVLAN }
}

/// What happened to every packet seen on one segment. Each packet lands in exactly one of
/// `decoded`, `truncated` and `undecodable`.
public struct SegmentCounters: Sendable, Equatable {
    public var packets: Int = 0
    public var bytes: Int = 0
    /// Decoded as far as lanekeeper looks (transport header, or a non-IP / non-TCP/UDP frame).
    public var decoded: Int = 0
    /// Cut short by the capture's snaplen but decoded as far as the bytes went.
    public var truncated: Int = 0
    /// Could not be decoded (malformed header or a link type lanekeeper does not read).
    public var undecodable: Int = 0
    /// Of `undecodable`: frames of a link type lanekeeper does not read at all.
    public var unsupportedLinkType: Int = 0

    public init() {}

    /// What became of a packet's decoding: each packet is counted in exactly one.
    public enum Outcome: Sendable {
        case decoded, truncated, undecodable
        /// Undecodable because lanekeeper does not read its link type.
        case unsupportedLinkType
    }

    /// Counts one packet (one access to the counters on the per-packet path).
    @inlinable
    public mutating func count(wireLength: Int, _ outcome: Outcome) {
        packets += 1
        bytes += wireLength
        switch outcome {
        case .decoded: decoded += 1
        case .truncated: truncated += 1
        case .undecodable: undecodable += 1
        case .unsupportedLinkType:
            undecodable += 1
            unsupportedLinkType += 1
        }
    }

    /// Adds another segment's counts (the same place seen in another file).
    public mutating func add(_ other: SegmentCounters) {
        packets += other.packets
        bytes += other.bytes
        decoded += other.decoded
        truncated += other.truncated
        undecodable += other.undecodable
        unsupportedLinkType += other.unsupportedLinkType
    }
}

/// How one capture source was read.
public struct SourceSummary: Sendable {
    public typealias End = SourceEnd

    public var path: String
    public var frames: Int
    public var end: End
    public var warnings: [String]
    /// Link types this source carried that lanekeeper cannot decode.
    public var unsupportedLinkTypes: [LinkType]

    public init(path: String, frames: Int, end: End, warnings: [String], unsupportedLinkTypes: [LinkType] = []) {
        self.path = path
        self.frames = frames
        self.end = end
        self.warnings = warnings
        self.unsupportedLinkTypes = unsupportedLinkTypes
    }
}
