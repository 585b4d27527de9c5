import Decode
import Policy

/// Writes a starting policy from a host (`lanekeeper policy init`): its interfaces and
/// subnets, its storage targets, and the roles CloudStack's KVM agent gives its bridges.
///
/// - management: the Management traffic type's KVM label when a management server was asked
///   (`managementServer`, see ManagementServerPolicy.swift) and the host has it; else
///   `private.network.device` of the agent configuration; without one, the interface holding
///   the default route.
/// - `public` and `guest`: `public.network.device` and `guest.network.device`, when they are
///   other bridges (never storage).
/// - storage: the interfaces the kernel routes the storage targets out of directly (no
///   gateway) that are in no network above (a VLAN device on a management bond included).
///   When there is none, the policy is management-only and says, prominently, that storage
///   then goes over the management bridge.
public enum PolicyWriter {
    public struct Input: Sendable {
        public var host: HostInventory
        public var targets: [StorageTarget]
        /// The agent configuration's properties, and its path for comments.
        public var agent: (path: String, properties: [String: String])?
        /// Said in the header (`on HOST at TIME`).
        public var origin: String
        /// What the target sources could not use (`FILE: what is wrong`), said in the header.
        public var problems: [String] = []
        /// What the CloudStack management server says about this host (`--cloudstack-url`): the
        /// Management traffic label names management, Guest and Public labels other networks,
        /// the pools' servers are among `targets`, the image stores' servers are allowed on
        /// management, the pool types give `storage_protocols`.
        public var managementServer: ManagementServerInput?

        public init(host: HostInventory, targets: [StorageTarget], agent: (path: String, properties: [String: String])?,
                    origin: String) {
            self.host = host
            self.targets = targets
            self.agent = agent
            self.origin = origin
        }
    }

    public static func write(_ input: Input) -> String {
        let host = input.host
        var networks: [NetworkSpec] = []
        var notes: [String: [String]] = [:]
        func property(_ key: String) -> String? {
            input.agent?.properties[key].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let topLevel = host.interfaces.filter { !$0.record.isLoopback && $0.master == nil }

        // Management.
        var management = NetworkSpec(name: "management")
        if let (device, note) = managementFromServer(input) {
            management.interfaces = [device]
            notes["management", default: []].append(note)
        } else if let device = property("private.network.device"), let path = input.agent?.path {
            management.interfaces = [device]
            notes["management", default: []].append("\(device): private.network.device in \(path)")
        } else if let device = defaultRouteInterface(host) {
            management.interfaces = [device]
            notes["management", default: []].append("\(device): holds the default route"
                + (input.agent == nil ? " (give --cloudstack-agent to take CloudStack's own setting)" : ""))
        } else if let device = topLevel.first(where: { !host.addresses(on: $0.name).isEmpty }) ?? topLevel.first {
            management.interfaces = [device.name]
            notes["management", default: []].append("\(device.name): a guess (no default route, no agent configuration): check it")
        } else {
            management.interfaces = ["CHANGE-ME"]
            notes["management", default: []].append("this host has no interface lanekeeper could name: write the management bridge")
        }
        networks.append(management)
        var taken = Set(management.interfaces)
        for (name, device, note) in otherNetworksFromServer(input) where !taken.contains(device) {
            if let index = networks.firstIndex(where: { $0.name == name }) {
                networks[index].interfaces.append(device)
            } else {
                networks.append(NetworkSpec(name: name, interfaces: [device]))
            }
            notes[name, default: []].append(note)
            taken.insert(device)
        }
        for (name, key) in [("public", "public.network.device"), ("guest", "guest.network.device")] {
            guard let device = property(key), !taken.contains(device), let path = input.agent?.path,
                !networks.contains(where: { $0.name == name })
            else { continue }
            networks.append(NetworkSpec(name: name, interfaces: [device]))
            notes[name, default: []].append("\(device): \(key) in \(path) (not storage)")
            taken.insert(device)
        }

        // Storage: where the kernel sends the targets directly, outside the networks above.
        let tentative = MembershipResolver(networks: networks, host: host)
        var storage = NetworkSpec(name: "storage")
        var targetNotes: [IPAddress: String] = [:]
        for target in input.targets {
            guard case let .route(route)? = host.routeAnswers[target.address], let index = route.outputInterface,
                let name = host.interface(index: index)?.name
            else {
                targetNotes[target.address] = "no route from this host"
                continue
            }
            let membership = tentative.membership(of: name)
            if let gateway = route.gateway {
                targetNotes[target.address] = "routed via \(name) through gateway \(gateway)"
                    + (membership.map { " (\(networks[$0.network].name))" } ?? "")
                continue
            }
            if let membership, !membership.isInheritedFromLower {
                targetNotes[target.address] = "routed via \(name) (\(networks[membership.network].name))"
                continue
            }
            targetNotes[target.address] = "routed directly via \(name)"
            guard !storage.interfaces.contains(name) else { continue }
            storage.interfaces.append(name)
            notes["storage", default: []].append("\(name): the kernel routes \(target.address) directly out of it")
            if let vlan = host.interface(named: name)?.vlanID, !storage.vlans.contains(vlan),
                !networks.contains(where: { $0.vlans.contains(vlan) })
            {
                storage.vlans.append(vlan)
            }
        }
        if !storage.interfaces.isEmpty { networks.insert(storage, at: 1) }
        addSwitchDevices(&networks, notes: &notes, host: host)

        // Subnets: what each network's interfaces are connected to.
        let resolver = MembershipResolver(networks: networks, host: host)
        var unassigned: [String] = []
        for interface in host.interfaces where !interface.record.isLoopback {
            let addresses = host.addresses(on: interface.name)
            // A VLAN device only its parent places is left for the reader to place: it is
            // usually a VLAN nobody listed yet, not more of the parent's network.
            guard let membership = resolver.membership(of: interface.name), !membership.isInheritedFromLower else {
                if interface.master == nil, interface.switchKind != "ovs-datapath" {
                    unassigned.append(interface.name + (addresses.isEmpty ? "" : " (" + addresses.map(\.cidr).joined(separator: ", ") + ")"))
                }
                continue
            }
            for subnet in addresses.compactMap(\.subnet) where !networks[membership.network].subnets.contains(subnet) {
                networks[membership.network].subnets.append(subnet)
            }
            if membership.chain.count > 1 {
                notes[networks[membership.network].name, default: []].append("\(interface.name) belongs here "
                    + membership.explanation)
            }
        }
        if let storageIndex = networks.firstIndex(where: { $0.role == .storage }) {
            let managementSubnets = networks[0].subnets
            networks[storageIndex].subnets.removeAll { subnet in
                guard let clash = managementSubnets.first(where: { $0.overlaps(subnet) }) else { return false }
                notes["storage", default: []].append("\(subnet) left out: it overlaps the management subnet \(clash) "
                    + "(lanekeeper audit reports that)")
                return true
            }
        }

        // The text.
        var out = "# lanekeeper policy written by `lanekeeper policy init` \(input.origin), from the kernel's\n"
        out += "# interfaces, addresses and routes (rtnetlink), \(targetSourcesPhrase)"
        out += input.agent.map { " and\n# \($0.path).\n" } ?? ".\n"
        out += "# Check every line, then: lanekeeper audit --policy THIS-FILE\n"
        out += warningComments(input)
        out += managementServerHeader(input)
        if storage.interfaces.isEmpty {
            out += noStorageWarning(networks: networks, host: host)
        }
        out += "version: 1\n"
        out += storageProtocols(input)
        out += "networks:\n"
        for network in networks {
            out += "  \(network.name):\n"
            for note in notes[network.name] ?? [] { out += "    # \(note)\n" }
            out += "    interfaces: [\(network.interfaces.map(yamlScalar).joined(separator: ", "))]\n"
            if !network.vlans.isEmpty {
                out += "    vlans: [\(network.vlans.map(String.init).joined(separator: ", "))]\n"
            }
            if !network.subnets.isEmpty {
                out += "    subnets: [\(network.subnets.map { yamlScalar($0.description) }.joined(separator: ", "))]\n"
            }
        }
        if !unassigned.isEmpty {
            out += "# in no network (add them where they belong): \(unassigned.joined(separator: "; "))\n"
        }
        if input.targets.isEmpty {
            out += "# storage_targets: none found (no storage mounts, sessions, controllers or Ceph monitors); list the storage servers:\n"
            out += "# storage_targets: [203.0.113.20]\n"
        } else {
            out += "storage_targets:\n"
            for target in input.targets {
                var comment = target.source.rawValue
                if let detail = target.detail { comment += " \(detail)" }
                if let note = targetNotes[target.address] { comment += "; \(note)" }
                if target.source != .cloudStackPool, let mark = managementServerMark(target.address, input) {
                    comment += "; \(mark)"
                } else if let mark = mountMark(target, host: host, networks: networks) {
                    comment += "; \(mark)"
                }
                out += "  - \(yamlScalar(target.address.description))  # \(comment.replacingOccurrences(of: "\n", with: " "))\n"
            }
        }
        out += (input.managementServer?.commentedTargets ?? []).map { $0 + "\n" }.joined()
        out += secondaryStorageAllow(input, networks: networks)
        out += hostAddresses(host)
        return out
    }

    /// `host_addresses`: every address of this host that leaves it (loopback, host-scoped and
    /// IPv6 link-local ones left out), so that a guest's storage bridged through the host is
    /// transit, not a violation.
    static func hostAddresses(_ host: HostInventory) -> String {
        var seen = Set<IPAddress>()
        let addresses = host.addresses.filter { $0.isRoutable && seen.insert($0.address).inserted }.map(\.address)
        guard !addresses.isEmpty else { return "" }
        return "# The host's own addresses: storage in the management network between two other machines (a VM's\n"
            + "# NFS or iSCSI across a bridge) is reported as transit, not as a violation. Keep the list complete.\n"
            + "host_addresses: [\(addresses.map { yamlScalar($0.description) }.joined(separator: ", "))]\n"
    }

    /// The interface of the main table's default route (IPv4 first).
    static func defaultRouteInterface(_ host: HostInventory) -> String? {
        for isIPv4 in [true, false] {
            let route = host.routes.filter {
                $0.isIPv4 == isIPv4 && $0.destinationLength == 0 && $0.table == RTNetlink.tableMain
                    && $0.type == RTNetlink.routeUnicast && $0.outputInterface != nil
            }.min { ($0.priority ?? 0) < ($1.priority ?? 0) }
            if let index = route?.outputInterface, let name = host.interface(index: index)?.name { return name }
        }
        return nil
    }

    /// Plain when YAML reads it back as the same string, double-quoted otherwise (IPv6 text,
    /// names with unusual characters).
    static func yamlScalar(_ text: String) -> String {
        let plain = text.first.map { $0.isLetter } == true && text.allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_")
        } && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(text.lowercased())
        let address = text.allSatisfy { $0.isNumber || $0 == "." || $0 == "/" } && text.contains(".")
        if plain || address { return text }
        var out = "\""
        for character in text {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.append(character)
            }
        }
        return out + "\""
    }
}
