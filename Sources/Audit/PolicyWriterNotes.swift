import Decode
import Foundation
import Policy

/// What `policy init` says beside the networks: NFS mounts it cannot tell apart (primary or
/// secondary storage) and how to allow secondary storage, the agent's bridges this host does
/// not have, the example storage network when none was found, the sources' problems.
/// Kept apart from `PolicyWriter.write`, which calls these.
extension PolicyWriter {
    /// The agent keys that name bridges (`storage.network.device` is not a KVM key, but a
    /// copied configuration may hold it).
    static let agentBridgeKeys = ["private.network.device", "public.network.device", "guest.network.device",
                                  "storage.network.device"]

    /// The agent's bridge keys whose interface is not on this host: `public.network.device=cloudbr1`.
    public static func missingAgentBridges(_ input: Input) -> [String] {
        guard let agent = input.agent else { return [] }
        return agentBridgeKeys.compactMap { key in
            guard let value = agent.properties[key]?.trimmingCharacters(in: .whitespaces), !value.isEmpty,
                input.host.interface(named: value) == nil
            else { return nil }
            return "\(key)=\(value)"
        }
    }

    /// Warnings for the person running `policy init` (also written into the policy).
    public static func warnings(_ input: Input) -> [String] {
        var warnings: [String] = []
        let missing = missingAgentBridges(input)
        if let path = input.agent?.path, !missing.isEmpty {
            warnings.append("\(path) names interfaces this host does not have: \(missing.joined(separator: ", ")) "
                + "(the agent would fail to plug VMs there; is this the host's own agent.properties?)")
        }
        warnings += input.problems
        return warnings
    }

    /// `# WARNING: ...` lines for the header.
    static func warningComments(_ input: Input) -> String {
        warnings(input).map { "# WARNING: \($0.replacingOccurrences(of: "\n", with: " "))\n" }.joined()
    }

    /// What the header says the targets came from.
    static let targetSourcesPhrase = "NFS and GlusterFS mounts, iSCSI sessions, NVMe/TCP controllers, libvirt's RBD pools and ceph.conf"

    // MARK: - No storage network

    /// The warning of a management-only policy, with an example storage network that names an
    /// interface no network holds yet (never one already given a role).
    static func noStorageWarning(networks: [NetworkSpec], host: HostInventory) -> String {
        let resolver = MembershipResolver(networks: networks, host: host)
        let free = host.interfaces.filter {
            !$0.record.isLoopback && $0.master == nil && resolver.membership(of: $0.name) == nil
        }
        let candidate = free.first { !host.addresses(on: $0.name).isEmpty } ?? free.first
        var example = ""
        if let candidate {
            let subnets = host.addresses(on: candidate.name).compactMap(\.subnet).map { yamlScalar($0.description) }
            example += "# !!!   storage:\n# !!!     interfaces: [\(yamlScalar(candidate.name))]\n"
            if !subnets.isEmpty { example += "# !!!     subnets: [\(subnets.joined(separator: ", "))]\n" }
            example += "# !!! (\(candidate.name) is an interface of this host in no network yet: check that it is the storage one)\n"
        } else {
            example += "# !!!   storage:\n# !!!     interfaces: [STORAGE-INTERFACE]\n"
            example += "# !!! (every interface of this host already has a role: give the host a storage interface first)\n"
        }
        return """
            #
            # !!! NO STORAGE NETWORK: lanekeeper could not identify a storage interface on this host.
            # !!! No storage target is reached directly through an interface outside the management
            # !!! network, so primary storage goes where the host's routing table sends it: over the
            # !!! management network -- exactly the leak lanekeeper exists to find. CloudStack does not
            # !!! route primary storage: its KVM agent has no primary storage key, and its "Storage"
            # !!! traffic type (and that type's KVM label) carries secondary storage traffic only, the
            # !!! SSVM's, never primary storage. To separate it, give the host an interface on the
            # !!! storage network with a connected route to the storage servers, then add, e.g.

            """ + example + "#\n"
    }

    // MARK: - NFS mounts: primary or secondary

    /// What lanekeeper can say about an NFS mount's role: CloudStack mounts both primary and
    /// secondary storage at `/mnt/<UUID>` (the UUID is `UUID.nameUUIDFromBytes(host + path)`
    /// for a primary NFS pool and for the secondary storage the agent mounts itself,
    /// `KVMStoragePoolManager.getStoragePoolByURI`), so only a secondary storage mount point by
    /// name (`SecStorage`) tells them apart.
    public enum MountRole: Sendable, Hashable {
        /// A mount point naming secondary storage (`/mnt/SecStorage/...`).
        case secondary
        /// `/mnt/<UUID>`: primary or secondary, lanekeeper cannot tell.
        case either
        /// Anywhere else: not mounted by CloudStack's naming; its role is unknown.
        case unknown
    }

    public static func mountRole(_ target: StorageTarget) -> MountRole? {
        guard target.source == .nfsMount, let point = target.mountPoint else { return nil }
        let components = point.split(separator: "/")
        if components.contains(where: { $0.lowercased().contains("secstorage") || $0.lowercased() == "secondary" }) {
            return .secondary
        }
        if let last = components.last, UUID(uuidString: String(last)) != nil { return .either }
        return .unknown
    }

    /// The management interface the kernel routes `target` out of, if it does.
    static func managementInterface(of target: StorageTarget, host: HostInventory, networks: [NetworkSpec]) -> String? {
        guard case let .route(route)? = host.routeAnswers[target.address], let index = route.outputInterface,
            let name = host.interface(index: index)?.name,
            let membership = MembershipResolver(networks: networks, host: host).membership(of: name),
            networks[membership.network].role == .management
        else { return nil }
        return name
    }

    /// The mark on the `storage_targets` comment of a mount reached over management.
    static func mountMark(_ target: StorageTarget, host: HostInventory, networks: [NetworkSpec]) -> String? {
        guard managementInterface(of: target, host: host, networks: networks) != nil else { return nil }
        switch mountRole(target) {
        case .secondary?: return "secondary storage (mount point)"
        case .either?: return "primary or secondary storage? CloudStack mounts both at /mnt/<UUID>; lanekeeper cannot tell"
        case .unknown?: return "primary or secondary storage? not a CloudStack mount point; lanekeeper cannot tell"
        case nil: return nil
        }
    }

    /// The `allow:` section: an entry for each NFS mount reached over management that is
    /// secondary storage by its mount point, and, commented out, one for each mount reached
    /// over management that could be either (allow it only if it is secondary storage); with
    /// no such mount, a commented example.
    static func secondaryStorageAllow(_ input: Input, networks: [NetworkSpec]) -> String {
        var sure: [String] = []
        var unsure: [String] = []
        var listed = Set<IPAddress>()
        // The management server names secondary storage itself: its NFS image stores.
        for (address, store) in input.managementServer?.imageStoreServers ?? [] where listed.insert(address).inserted {
            let peer = address.isIPv4 ? "\(address)/32" : "\(address)/128"
            sure.append("  - {protocol: nfs, peer: \(yamlScalar(peer))}  # secondary storage: image store \(store.name ?? store.id) "
                + "(\(store.url ?? "-")) of listImageStores; the host mounts it over management, where it belongs\n")
        }
        for target in input.targets where !listed.contains(target.address) {
            // A primary storage pool's server is never excused.
            if input.managementServer?.pool(serving: target.address) != nil { continue }
            guard let role = mountRole(target),
                let name = managementInterface(of: target, host: input.host, networks: networks)
            else { continue }
            let peer = target.address.isIPv4 ? "\(target.address)/32" : "\(target.address)/128"
            let entry = "{protocol: nfs, peer: \(yamlScalar(peer))}"
            let place = target.mountPoint.map { " on \($0)" } ?? ""
            listed.insert(target.address)
            if role == .secondary {
                sure.append("  - \(entry)  # secondary storage\(place), over management (\(name))\n")
            } else {
                unsure.append("#   - \(entry)  # \(target.mountSource ?? "\(target.address)")\(place) via \(name)\n")
            }
        }
        guard !sure.isEmpty || !unsure.isEmpty else {
            return """
                # Secondary storage (templates, ISOs, snapshots) is NFS the host mounts itself, normally over
                # management, where it belongs; none is mounted over management now. To excuse a server there:
                # allow:
                #   - {protocol: nfs, peer: 198.51.100.60/32}  # secondary storage

                """
        }
        var out = """
            # Secondary storage (templates, ISOs, snapshots) is NFS the host mounts itself, normally over
            # the management network, and it belongs there; primary storage does not. An allow entry
            # excuses one server on management (audit lists it as allowed instead of failing).

            """
        if !sure.isEmpty {
            out += "allow:\n" + sure.joined()
        }
        if !unsure.isEmpty {
            out += "# These NFS mounts are reached over management and may be primary or secondary storage;\n"
            out += "# allow only those that are secondary storage (CloudStack: Infrastructure > Secondary Storage):\n"
            out += sure.isEmpty ? "# allow:\n" : ""
            out += unsure.joined()
        }
        return out
    }
}
