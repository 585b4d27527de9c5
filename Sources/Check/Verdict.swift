import Decode
import Flows
import Frames

/// The outcome of a check.
public enum Verdict: String, Sendable, Codable {
    /// Storage stayed off the management network, and lanekeeper saw enough to say so.
    case pass
    /// Storage crossed the management network (at least one violation).
    case fail
    /// lanekeeper could not see enough to say (no storage traffic, unattributable storage
    /// packets, a damaged capture, ...). Never a silent pass.
    case inconclusive

    /// The process exit status for this verdict.
    public var exitStatus: Int32 {
        switch self {
        case .pass: 0
        case .fail: 1
        case .inconclusive: 2
        }
    }
}

/// A storage flow where the policy forbids it.
public struct Violation: Sendable {
    public var interface: String
    public var network: String
    /// The storage protocol (`nfs`, `iscsi`).
    public var protocolName: String
    /// The service within it (`nfs`, `portmapper`, `iscsi`).
    public var service: String
    /// How the flow was recognised as storage (`port 2049`, `rpc program 100005 v3`, ...).
    public var recognition: String
    /// How strong that recognition is (content, well-known port, port range).
    public var evidence: Evidence
    public var transport: String
    public var vlan: UInt16?
    public var client: Endpoint
    public var server: Endpoint
    /// For storage carried in an overlay: the tunnel and the outer addresses of each end; for
    /// a copy ERSPAN mirrored (kind `erspan`, id the session), the mirror's source and
    /// destination instead.
    public var tunnel: (kind: String, id: UInt32, outerClient: IPAddress, outerServer: IPAddress)?

    /// What carried the flow, as reports say it: "inside vxlan 42 from A to B" (the outer
    /// addresses of client and server), or "mirrored by ERSPAN session 5 from A to B" (the
    /// switch that mirrored it and the collector), nil when nothing did.
    public var tunnelPhrase: String? {
        guard let tunnel else { return nil }
        let ends = "from \(tunnel.outerClient) to \(tunnel.outerServer)"
        if tunnel.kind == "erspan" { return "mirrored by ERSPAN session \(tunnel.id) \(ends)" }
        return "inside \(tunnel.kind) \(tunnel.id) \(ends)"
    }
    public var packets: Int
    public var bytes: Int
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// Index of the flow in `Observation.flows`.
    public var flow: Int

    /// The row of storage flow `flow` (index `index`) of `service`, seen on the interface
    /// labelled `interface` in the policy network named `network` (with its innermost VLAN):
    /// one way to describe a violation, for a report, an allowed flow and a live watch alike.
    public init(flow: Flow, index: Int, interface: String, network: String, service: StorageService, vlan: UInt16?) {
        self.interface = interface
        self.network = network
        protocolName = service.protocolName
        self.service = service.name
        recognition = flow.recognition?.description ?? "port"
        evidence = flow.evidence ?? .wellKnownPort
        transport = flow.ipProtocol == 6 ? "tcp" : "udp"
        self.vlan = vlan
        client = flow.client
        server = flow.server
        tunnel = flow.tunnel.flatMap { tunnel in flow.outerAddresses.map { (tunnel.kind, tunnel.id, $0.client, $0.server) } }
        packets = flow.packets
        bytes = flow.bytes
        firstSeen = flow.firstSeen
        lastSeen = flow.lastSeen
        self.flow = index
    }
}

/// Packets and bytes of one storage protocol.
public struct ProtocolTally: Sendable, Equatable {
    public var protocolName: String
    public var flows: Int = 0
    public var packets: Int = 0
    public var bytes: Int = 0
}

/// Per-network totals.
public struct NetworkSummary: Sendable {
    public var name: String
    public var role: String
    public var packets: Int = 0
    public var bytes: Int = 0
    public var storagePackets: Int = 0
    public var storageBytes: Int = 0
    public var byProtocol: [ProtocolTally] = []
    /// Interface labels that carried this network's traffic.
    public var interfaces: [String] = []
    /// Transit storage flows (counted in the storage figures too): neither end a host address.
    public var transitFlows = 0
    public var transitPackets = 0
    public var transitBytes = 0
}

/// Per-interface totals.
public struct InterfaceSummary: Sendable {
    /// The interface's name, or nil for packets no capture attributed to an interface.
    public var name: String?
    public var label: String
    /// The network the interface itself belongs to (VLAN-tagged frames on it may belong to another).
    public var network: String?
    public var packets: Int = 0
    public var bytes: Int = 0
    public var storagePackets: Int = 0
    public var storageBytes: Int = 0
    public var byProtocol: [ProtocolTally] = []
    /// `packets` = `decoded` + `truncated` + `undecodable`, as for the totals.
    public var decoded: Int = 0
    public var truncated: Int = 0
    public var undecodable: Int = 0
}

/// The checker's judgement with all the evidence a report shows.
public struct CheckResult: Sendable {
    public var verdict: Verdict
    /// Why the verdict is not `pass` (empty for a pass).
    public var reasons: [String]
    /// Things worth knowing that do not change the verdict.
    public var warnings: [String]
    public var networks: [NetworkSummary]
    public var interfaces: [InterfaceSummary]
    public var violations: [Violation]
    /// Storage flows in a management network counted without their details (finished
    /// beyond the flow bound): violations too, whatever the allow list says.
    public var summarisedViolations = FlowTally()
    /// Storage flows on the management network that an `allow` entry covers.
    public var allowed: [Violation]
    /// Flows on the management network known as storage only by a port range, which no
    /// content confirmed: they make the verdict inconclusive, never a fail.
    public var unconfirmed: [Violation] = []
    /// Such flows counted without their details (finished beyond the flow bound).
    public var summarisedUnconfirmed = FlowTally()
    /// Storage flows in a management network between two addresses neither of which is the
    /// host's (`host_addresses`): another machine's traffic bridged through the host.
    public var transit: [Violation] = []
    /// Storage protocols the policy lists that packet capture cannot see (RDMA, Fibre Channel).
    public var unobservableProtocols: [String]
    public var totals: Totals
    public var sources: [SourceSummary]

    public struct Totals: Sendable, Equatable {
        public var packets = 0
        public var bytes = 0
        public var decoded = 0
        public var truncated = 0
        public var undecodable = 0
        public var storagePackets = 0
        public var storageBytes = 0
        public var flows = 0
        public var storageFlows = 0
    }
}
