import CloudStack
import Decode
import Flows
import Foundation
import Policy

/// What a CloudStack primary storage pool type says about the traffic to its servers.
public enum PoolTraffic: Sendable, Hashable {
    /// A protocol the policy names (`nfs`, `iscsi`, `ceph`, `glusterfs`, `smb`).
    case protocolName(String)
    /// A protocol of a vendor's storage (`drbd`, `powerflex`, `storpool`): used as a protocol
    /// only when this lanekeeper's protocol table has it.
    case vendor(String)
    /// A mount point or a device the host set up itself: the API does not say what is under it.
    case hostDecides
    /// Block storage not carried over IP (Fibre Channel, a SAN's LUNs): packets cannot show it.
    case unobservable
}

/// The management server's view of a host, made ready for the policy writer and the audit:
/// the pools' servers as storage targets, the image stores' servers, the protocols, and what
/// could not be decided from the API.
public struct ManagementServerInput: Sendable {
    public var view: ManagementServerView
    /// One target per pool server address (an RBD pool's monitors each), source `cloudstack-pool`.
    public var poolTargets: [StorageTarget]
    /// The servers of the zone's NFS image stores (secondary storage).
    public var imageStoreServers: [(address: IPAddress, store: CloudStackImageStore)]
    /// The protocols the pools and image stores use, each with why (`nfs: NetworkFilesystem pool primary1`).
    public var protocols: [(name: String, reasons: [String])]
    /// `storage_targets` lines written commented out (a vendor protocol this lanekeeper cannot name).
    public var commentedTargets: [String]
    /// What the API left undecided (pool types whose traffic it does not describe, names that do not resolve).
    public var undecided: [String]

    /// The one table from CloudStack's pool types (`Storage.StoragePoolType`) to their traffic.
    public static let poolTypes: [String: PoolTraffic] = [
        "networkfilesystem": .protocolName("nfs"), "managednfs": .protocolName("nfs"),
        "iscsi": .protocolName("iscsi"), "iscsilun": .protocolName("iscsi"),
        "rbd": .protocolName("ceph"), "gluster": .protocolName("glusterfs"), "smb": .protocolName("smb"),
        "sharedmountpoint": .hostDecides, "presetup": .hostDecides, "ocfs2": .hostDecides,
        "clvm": .unobservable, "fiberchannel": .unobservable, "vmfs": .unobservable,
        "linstor": .vendor("drbd"), "powerflex": .vendor("powerflex"), "storpool": .vendor("storpool"),
    ]

    /// The traffic of a pool type, a vendor's protocol resolved against this lanekeeper's
    /// protocol table (the policy reader accepts exactly its names).
    public static func traffic(ofPoolType type: String?) -> PoolTraffic? {
        guard let type, let traffic = poolTypes[type.lowercased()] else { return nil }
        if case let .vendor(name) = traffic, ProtocolTable.builtin.protocolNames.contains(name) { return .protocolName(name) }
        return traffic
    }

    public init(view: ManagementServerView, resolver: HostNameResolver) {
        self.view = view
        var targets: [StorageTarget] = []
        var protocols: [(name: String, reasons: [String])] = []
        var commented: [String] = []
        var undecided: [String] = []
        func addProtocol(_ name: String, _ reason: String) {
            if let index = protocols.firstIndex(where: { $0.name == name }) {
                protocols[index].reasons.append(reason)
            } else {
                protocols.append((name, [reason]))
            }
        }
        for pool in view.pools {
            let type = pool.type ?? "(no type)"
            let label = "\(type) pool \(pool.name) (\(pool.scope ?? "?")\(pool.state.map { $0 == "Up" ? "" : ", \($0)" } ?? ""))"
            let servers = Self.servers(pool.ipAddress)
            switch Self.traffic(ofPoolType: pool.type) {
            case let .protocolName(name)?:
                addProtocol(name, label)
                if servers.isEmpty {
                    undecided.append("\(label): listStoragePools gives no ipaddress, so its servers are unknown")
                }
                let role = name == "ceph" ? "Ceph monitor" : name == "glusterfs" ? "Gluster server" : "server"
                for server in servers {
                    switch resolver.addresses(of: server, file: "listStoragePools", context: label) {
                    case let .success(addresses):
                        for address in addresses {
                            targets.append(StorageTarget(
                                address: address, source: .cloudStackPool,
                                detail: "\(role) \(server == address.description ? "" : "\(server) = ")\(address) of \(label)"
                                    + (pool.path.map { " \($0)" } ?? "")))
                        }
                    case let .failure(problem): undecided.append(problem.description)
                    }
                }
            case let .vendor(name)?:
                undecided.append("\(label): its protocol \(name) is not one this lanekeeper's policy reader knows; its servers "
                    + "are written commented out")
                for server in servers {
                    commented.append("#  - \(server)  # \(label), protocol \(name) (not known to this lanekeeper)")
                }
            case .hostDecides?:
                undecided.append("\(label): the API does not say what protocol or server is under it (the host's own mounts "
                    + "and sessions decide: they are in storage_targets when found)")
            case .unobservable?:
                undecided.append("\(label): block storage not carried over IP (Fibre Channel or a SAN's LUNs), not observable "
                    + "in packets")
            case nil:
                undecided.append("\(label): a pool type lanekeeper does not know")
            }
        }
        var stores: [(address: IPAddress, store: CloudStackImageStore)] = []
        let poolAddresses = Set(targets.map(\.address))
        for store in view.imageStores {
            let label = "image store \(store.name ?? store.id) (\(store.url ?? "no url"))"
            guard (store.protocol ?? store.providerName)?.lowercased() == "nfs" else {
                undecided.append("\(label): \(store.protocol ?? store.providerName ?? "no protocol") secondary storage is not "
                    + "a storage protocol lanekeeper tracks")
                continue
            }
            guard let server = store.server else {
                undecided.append("\(label): its url names no server")
                continue
            }
            switch resolver.addresses(of: server, file: "listImageStores", context: label) {
            case let .success(addresses):
                for address in addresses {
                    if poolAddresses.contains(address) {
                        undecided.append("\(address) serves both primary storage and \(label): not allowed on management "
                            + "(an allow entry would excuse the primary storage too)")
                        continue
                    }
                    stores.append((address, store))
                }
                addProtocol("nfs", "NFS \(label)")
            case let .failure(problem): undecided.append(problem.description)
            }
        }
        self.poolTargets = StorageTarget.unique(targets)
        self.imageStoreServers = stores
        self.protocols = protocols
        self.commentedTargets = commented
        self.undecided = undecided
    }

    /// The servers of a pool's `ipaddress`: several separated by commas (an RBD pool's
    /// monitors), a port (`mon1:6789`, `[2001:db8::1]:6789`) dropped.
    public static func servers(_ field: String?) -> [String] {
        guard let field else { return [] }
        return field.split(separator: ",").compactMap { part in
            var server = part.trimmingCharacters(in: .whitespaces)
            if server.hasPrefix("["), let close = server.firstIndex(of: "]") {
                server = String(server[server.index(after: server.startIndex)..<close])
            } else if server.filter({ $0 == ":" }).count == 1, let colon = server.firstIndex(of: ":") {
                server = String(server[..<colon])
            }
            return server.isEmpty ? nil : server
        }
    }

    /// The pool (by name) whose server `address` is.
    func pool(serving address: IPAddress) -> String? {
        poolTargets.first { $0.address == address }?.detail
    }

    /// The image store `address` serves.
    func imageStore(at address: IPAddress) -> CloudStackImageStore? {
        imageStoreServers.first { $0.address == address }?.store
    }
}

extension PolicyWriter {
    /// What `policy init --cloudstack-url` could not decide: the management server's view's own
    /// list and the traffic labels that are not interfaces of this host.
    public static func undecided(_ input: Input) -> [String] {
        guard let server = input.managementServer else { return [] }
        var out = server.undecided
        for type in ["Management", "Guest", "Public"] {
            for label in server.view.labels(of: type) where input.host.interface(named: label) == nil {
                out.append("the \(type) traffic type's KVM label \(label) is not an interface of this host")
            }
        }
        if let label = server.view.labels(of: "Management").first, input.host.interface(named: label) != nil,
            let device = input.agent?.properties["private.network.device"]?.trimmingCharacters(in: .whitespaces),
            !device.isEmpty, device != label
        {
            out.append("\(input.agent?.path ?? "agent.properties") says private.network.device=\(device), the Management traffic "
                + "type's KVM label is \(label): the label is taken")
        }
        if server.view.labels(of: "Management").isEmpty {
            out.append("the Management traffic type has no KVM label (the agent then uses its private.network.device)")
        }
        return out
    }

    /// The header lines of a policy written from the management server.
    static func managementServerHeader(_ input: Input) -> String {
        guard let server = input.managementServer else { return "" }
        let view = server.view
        let host = view.host
        var out = "# From the CloudStack management server \(view.url): host \(host.name) (id \(host.id); \(view.hostFoundBy)),\n"
        out += "# cluster \(host.clusterName ?? host.clusterID ?? "?"), zone \(host.zoneName ?? host.zoneID ?? "?"): "
        out += "listHosts, listStoragePools, listImageStores, listPhysicalNetworks, listTrafficTypes.\n"
        let storageLabels = view.labels(of: "Storage")
        if !storageLabels.isEmpty {
            out += "# The Storage traffic type's KVM label (\(storageLabels.joined(separator: ", "))) places the SSVM's storage NIC: "
                + "it carries\n# secondary storage, not primary storage, so it does not decide the storage network here.\n"
        }
        let undecided = undecided(input)
        if !undecided.isEmpty {
            out += "# Could not decide (check by hand):\n"
            out += undecided.map { "#   - \($0.replacingOccurrences(of: "\n", with: " "))\n" }.joined()
        }
        return out
    }

    /// The management interface from the Management traffic type's KVM label, when it is an
    /// interface of this host, and its comment.
    static func managementFromServer(_ input: Input) -> (device: String, note: String)? {
        guard let server = input.managementServer,
            let label = server.view.labels(of: "Management").first(where: { input.host.interface(named: $0) != nil })
        else { return nil }
        return (label, "\(label): kvmnetworklabel of the Management traffic type (listTrafficTypes)")
    }

    /// The Guest and Public traffic types' labels that are interfaces of this host: networks
    /// `guest` and `public` (never storage).
    static func otherNetworksFromServer(_ input: Input) -> [(network: String, device: String, note: String)] {
        guard let server = input.managementServer else { return [] }
        var out: [(network: String, device: String, note: String)] = []
        for (type, network) in [("Public", "public"), ("Guest", "guest")] {
            for label in server.view.labels(of: type) where input.host.interface(named: label) != nil {
                out.append((network, label, "\(label): kvmnetworklabel of the \(type) traffic type (listTrafficTypes; not storage)"))
            }
        }
        return out
    }

    /// `storage_protocols` of a policy written from the management server: the pools' and image
    /// stores' protocols and those of the targets found on the host, each with why.
    static func storageProtocols(_ input: Input) -> String {
        guard let server = input.managementServer else { return "" }
        var reasons: [String: [String]] = [:]
        for (name, why) in server.protocols { reasons[name, default: []] += why }
        for target in input.targets where target.source != .cloudStackPool {
            guard let name = target.source.protocolName else { continue }
            reasons[name, default: []].append("\(target.source.rawValue) on this host")
        }
        let names = ProtocolTable.builtin.protocolNames.filter { reasons[$0] != nil }
        guard !names.isEmpty else { return "" }
        var out = "# The protocols this host's storage speaks (listStoragePools types, listImageStores, the host's own):\n"
        for name in names {
            out += "#   \(name): \(reasons[name]!.joined(separator: "; "))\n"
        }
        return out + "storage_protocols: [\(names.joined(separator: ", "))]\n"
    }

    /// What the management server says of a target address, for its `storage_targets` comment.
    static func managementServerMark(_ address: IPAddress, _ input: Input) -> String? {
        guard let server = input.managementServer else { return nil }
        if let store = server.imageStore(at: address) {
            return "secondary storage: image store \(store.name ?? store.id) (listImageStores)"
        }
        if let pool = server.poolTargets.first(where: { $0.address == address }), let detail = pool.detail {
            return "primary storage: \(detail) (listStoragePools)"
        }
        return nil
    }
}
