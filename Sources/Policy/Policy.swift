import Decode
import Flows
import Foundation
import SystemCalls

/// What a network is for. Only the networks named exactly `management` and `storage` have
/// rules; any other network (`guest`, `public`, ...) is `other` and merely documented.
public enum NetworkRole: Sendable, Hashable {
    case management
    case storage
    case other

    /// The role a network of this name plays in the policy.
    public init(networkName: String) {
        switch networkName {
        case "management": self = .management
        case "storage": self = .storage
        default: self = .other
        }
    }
}

/// One entry of the policy's `networks` mapping: how to recognise that network's traffic.
public struct NetworkSpec: Sendable, Hashable {
    /// The key in `networks` (`management`, `storage`, `guest`, ...).
    public var name: String
    /// Derived from `name`.
    public var role: NetworkRole
    /// Interface names as the host or the capture knows them (`cloudbr0`, `eth2`).
    public var interfaces: [String]
    /// 802.1Q VLAN ids (1–4094); frames tagged so belong to this network on any interface.
    public var vlans: [UInt16]
    /// Address ranges of this network.
    public var subnets: [IPPrefix]
    /// Storage network only: seeing no storage traffic on it makes the verdict inconclusive.
    public var expectStorageTraffic: Bool

    public init(name: String, interfaces: [String] = [], vlans: [UInt16] = [], subnets: [IPPrefix] = [],
                expectStorageTraffic: Bool = false) {
        self.name = name
        self.role = NetworkRole(networkName: name)
        self.interfaces = interfaces
        self.vlans = vlans
        self.subnets = subnets
        self.expectStorageTraffic = expectStorageTraffic
    }
}

/// An exception from the rule "no storage traffic on management", e.g. NFS to a secondary
/// storage server that deliberately sits on the management network.
public struct AllowRule: Sendable, Hashable {
    /// The storage protocol (`nfs`, `iscsi`) the rule is limited to; nil means any.
    public var protocolName: String?
    /// The far end the rule is limited to; nil means any address.
    public var peer: IPPrefix?

    /// At least one of the two should be given; a rule with neither covers everything
    /// (the policy file refuses such a rule).
    public init(protocolName: String? = nil, peer: IPPrefix? = nil) {
        self.protocolName = protocolName
        self.peer = peer
    }

    /// Whether a flow of `protocolName` between the two addresses is excused: the protocol
    /// matches (if the rule names one) and either endpoint lies in `peer` (if given).
    public func covers(protocolName: String, client: IPAddress, server: IPAddress) -> Bool {
        if let wanted = self.protocolName, wanted != protocolName { return false }
        if let peer, !peer.contains(client), !peer.contains(server) { return false }
        return true
    }
}

/// A validated lanekeeper policy: which networks are management and storage, which
/// protocols count as storage, and the exceptions.
///
/// Build one with `Policy.load(path:)` or `Policy.parse(_:path:)`; every invariant below
/// holds for a policy obtained that way:
/// - there is exactly one `management` network and at most one `storage` network;
/// - no interface and no VLAN id belongs to two networks;
/// - no management subnet overlaps a storage subnet.
public struct Policy: Sendable {
    /// The policy format version (always 1 today).
    public let version: Int
    /// The networks, in file order.
    public let networks: [NetworkSpec]
    /// The protocols that count as storage traffic, resolved: when the file does not say,
    /// every protocol of `ProtocolTable.builtin` that packet capture can see.
    public let storageProtocols: [String]
    /// Extra ports per protocol, as the file's `ports` gives them.
    public let extraPorts: [String: [UInt16]]
    /// The exceptions, in file order.
    public let allow: [AllowRule]
    /// `ProtocolTable.builtin` restricted to `storageProtocols`, with `extraPorts` added.
    public let protocolTable: ProtocolTable
    /// The storage servers `lanekeeper audit` checks the routes to (`storage_targets`), in file
    /// order; replay does not use them.
    public let storageTargets: [IPAddress]
    /// The host's own addresses (`host_addresses`), or nil when the policy does not list
    /// them. Given, a storage flow neither of whose ends is one of them is transit: another
    /// machine's traffic bridged through the host (a VM's NFS across the management bridge),
    /// reported but never a violation.
    public let hostAddresses: Set<IPAddress>?

    private let indexByVLAN: [UInt16: Int]
    private let indexByInterface: [String: Int]

    init(version: Int, networks: [NetworkSpec], storageProtocols: [String], extraPorts: [String: [UInt16]],
         allow: [AllowRule], storageTargets: [IPAddress] = [], hostAddresses: Set<IPAddress>? = nil) {
        self.version = version
        self.storageTargets = storageTargets
        self.hostAddresses = hostAddresses
        self.networks = networks
        self.storageProtocols = storageProtocols
        self.extraPorts = extraPorts
        self.allow = allow
        var table = ProtocolTable.builtin.restricted(to: storageProtocols)
        for name in storageProtocols {
            if let ports = extraPorts[name] { table.addPorts(ports, toProtocol: name) }
        }
        self.protocolTable = table
        var byVLAN: [UInt16: Int] = [:]
        var byInterface: [String: Int] = [:]
        for (index, network) in networks.enumerated() {
            for vlan in network.vlans where byVLAN[vlan] == nil { byVLAN[vlan] = index }
            for name in network.interfaces where byInterface[name] == nil { byInterface[name] = index }
        }
        self.indexByVLAN = byVLAN
        self.indexByInterface = byInterface
    }

    /// The network called `name`, if the policy has one.
    public func network(named name: String) -> NetworkSpec? {
        networks.first { $0.name == name }
    }

    /// The management network (a loaded policy always has one).
    public var management: NetworkSpec {
        // Validation guarantees it; the fallback only serves hand-made values.
        networks.first { $0.role == .management } ?? NetworkSpec(name: "management")
    }

    /// The storage network, if the policy declares one.
    public var storage: NetworkSpec? {
        networks.first { $0.role == .storage }
    }

    /// Whether network `network` (an index in `networks`) is a management network: storage
    /// seen in it is a violation unless an `allow` entry covers it.
    public func isManagement(_ network: Int?) -> Bool {
        network.map { networks[$0].role == .management } ?? false
    }

    /// The rule, in one place: a storage flow of `protocolName` between `client` and `server`
    /// seen in network `network` is a violation when that is a management network and no
    /// `allow` entry covers the flow. Replay, watch and continuous watch all judge with this.
    public func isViolation(in network: Int?, protocolName: String, client: IPAddress, server: IPAddress) -> Bool {
        isManagement(network) && !isTransit(client: client, server: server)
            && !allow.contains { $0.covers(protocolName: protocolName, client: client, server: server) }
    }

    /// Whether a flow between `client` and `server` is none of the host's business: the
    /// policy lists the host's addresses and neither end is one of them.
    public func isTransit(client: IPAddress, server: IPAddress) -> Bool {
        guard let hostAddresses else { return false }
        return !hostAddresses.contains(client) && !hostAddresses.contains(server)
    }

    /// Index in `networks` of the network that VLAN `vlan` belongs to.
    public func network(forVLAN vlan: UInt16) -> Int? {
        indexByVLAN[vlan]
    }

    /// Index in `networks` of the network that interface `name` belongs to.
    public func network(forInterface name: String) -> Int? {
        indexByInterface[name]
    }

    /// Index in `networks` of the network whose subnets contain `address` most specifically
    /// (longest prefix; on a tie, the earlier network).
    public func network(forAddress address: IPAddress) -> Int? {
        var best: (index: Int, length: Int)?
        for (index, network) in networks.enumerated() {
            for subnet in network.subnets where subnet.contains(address) {
                if best == nil || subnet.length > best!.length { best = (index, subnet.length) }
            }
        }
        return best?.index
    }

    /// Reads and validates the policy file at `path`.
    ///
    /// - Throws: `PolicyError` with code `.notFound` when there is no such file,
    ///   `.unreadable` when it cannot be read, otherwise as `parse(_:path:)`.
    public static func load(path: String) throws(PolicyError) -> Policy {
        try parse(read(path: path), path: path)
    }

    /// The text of the policy file at `path`, not yet parsed (a watch's capture process reads
    /// it before it gives up the caller's identity and parses it after).
    ///
    /// - Throws: `PolicyError` with code `.notFound` when there is no such file,
    ///   `.unreadable` when it cannot be read, `.syntax` when it is not UTF-8.
    public static func read(path: String) throws(PolicyError) -> String {
        var isDirectory: ObjCBool = false
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PolicyError(code: .notFound, path: path, message: "no such file")
        }
        if isDirectory.boolValue {
            throw PolicyError(code: .unreadable, path: path, message: "is a directory, not a policy file")
        }
        let data = try readBounded(path: path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyError(code: .syntax, path: path, message: "is not UTF-8 text")
        }
        return text
    }

    /// The largest policy file read: a policy is a few kilobytes of YAML, and a path such as
    /// /dev/zero or a FIFO must not be read without end.
    public static let maximumFileBytes = 16 << 20

    /// Reads at most `maximumFileBytes` of `path`, with the system's own reason on failure.
    private static func readBounded(path: String) throws(PolicyError) -> Data {
        let descriptor: Int32
        do {
            descriptor = try retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw PolicyError(code: .unreadable, path: path, message: "cannot be read (\(error.text))")
        }
        defer { close(descriptor) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let (count, failure) = chunk.withUnsafeMutableBytes { SystemCalls.readFully(descriptor, $0) }
            if let failure { throw PolicyError(code: .unreadable, path: path, message: "cannot be read (\(failure.text))") }
            if count == 0 { return data }
            data.append(contentsOf: chunk[..<count])
            if data.count > maximumFileBytes {
                throw PolicyError(
                    code: .unreadable, path: path,
                    message: "is larger than \(maximumFileBytes >> 20) MiB; a policy is a small YAML file")
            }
        }
    }

    /// Validates the policy in `yaml`; `path` only names the source in errors.
    ///
    /// - Throws: `PolicyError` with code `.syntax` for malformed YAML and `.invalid` for
    ///   well-formed YAML that breaks the policy rules, always with line, column and key
    ///   when the problem has a place in the text.
    public static func parse(_ yaml: String, path: String) throws(PolicyError) -> Policy {
        let root = try PolicyDocument.compose(yaml, path: path)
        return try PolicyReader(path: path).read(root)
    }
}
