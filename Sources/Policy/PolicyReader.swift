import Decode
import Flows
import Yams

/// Walks the composed YAML tree and builds a `Policy`, checking every rule and reporting
/// the first violation (in file order) with its line, column and key path.
struct PolicyReader: YAMLFieldReading {
    let path: String

    static let topLevelKeys = ["version", "networks", "storage_protocols", "ports", "allow", "storage_targets", "host_addresses"]
    static let networkKeys = ["interfaces", "vlans", "subnets", "expect_storage_traffic"]
    static let allowKeys = ["protocol", "peer"]

    // MARK: - The policy

    func read(_ root: Node?) throws(PolicyError) -> Policy {
        guard let root else {
            throw PolicyError(code: .invalid, path: path,
                              message: "the policy is empty; it needs at least `version: 1` and `networks`")
        }
        let top = try mapping(root, key: "", allowed: Self.topLevelKeys,
                              expected: "a mapping with keys version, networks, ...")

        guard let versionEntry = top["version"] else {
            throw fail(root, "version", "the required key \"version\" is missing (write `version: 1`)")
        }
        let version = try integer(versionEntry.value, key: "version")
        guard version == 1 else {
            throw fail(versionEntry.value, "version", "unsupported policy version \(version); this lanekeeper reads version 1")
        }

        // Everything in file order would be nicer, but `ports` and `allow` are checked
        // against `storage_protocols`, so that comes first.
        let known = ProtocolTable.builtin.protocolNames
        // By default every protocol packet capture can see; RDMA and Fibre Channel storage
        // only when the policy names them (and then the report says it cannot be vouched for).
        var protocols = ProtocolTable.builtin.observableProtocolNames
        if let entry = top["storage_protocols"] {
            protocols = try storageProtocols(entry.value, known: known)
        }
        let networks = try readNetworks(top["networks"], root: root)
        let ports = try top["ports"].map { entry throws(PolicyError) in try extraPorts(entry.value, protocols: protocols) } ?? [:]
        let allow = try top["allow"].map { entry throws(PolicyError) in try allowRules(entry.value, protocols: protocols) } ?? []
        let targets = try top["storage_targets"].map { entry throws(PolicyError) in
            try addresses(entry.value, key: "storage_targets")
        } ?? []
        let hostAddresses = try top["host_addresses"].map { entry throws(PolicyError) in
            let list = try addresses(entry.value, key: "host_addresses")
            guard !list.isEmpty else {
                // Empty, every storage flow would be transit: a silent pass.
                throw fail(entry.value, "host_addresses", "the list is empty; list the host's own addresses "
                    + "(`lanekeeper policy init` writes them) or leave host_addresses out")
            }
            return Set(list)
        }
        return Policy(version: version, networks: networks, storageProtocols: protocols, extraPorts: ports, allow: allow,
                      storageTargets: targets, hostAddresses: hostAddresses)
    }

    /// A list of IP addresses (`storage_targets`, `host_addresses`), each once.
    private func addresses(_ node: Node, key listKey: String) throws(PolicyError) -> [IPAddress] {
        var targets: [IPAddress] = []
        var nodes: [IPAddress: Node] = [:]
        for (index, element) in try list(node, key: listKey, of: "IP addresses").enumerated() {
            let key = "\(listKey)[\(index)]"
            let text = try string(element, key: key, what: "an IP address")
            guard let address = IPAddress(text) else {
                let hint = text.contains("/") ? " (a single address, not a prefix)" : ""
                throw fail(element, key, "\"\(text)\" is not an IPv4 or IPv6 address\(hint)")
            }
            if let earlier = nodes[address] {
                throw fail(element, key, "\(address) is already listed (line \(earlier.mark?.line ?? 0))")
            }
            nodes[address] = element
            targets.append(address)
        }
        return targets
    }

    // MARK: - Networks

    /// A value read from the file together with the node it came from, for later cross-checks.
    private struct Located<Value> {
        var value: Value
        var node: Node
        var network: String
    }

    private func readNetworks(_ entry: MappingEntry?, root: Node) throws(PolicyError) -> [NetworkSpec] {
        guard let entry else {
            throw fail(root, "networks", "the required key \"networks\" is missing")
        }
        let map = try mapping(entry.value, key: "networks", allowed: nil,
                              expected: "a mapping of network name to network")
        var networks: [NetworkSpec] = []
        var interfaces: [String: Located<String>] = [:]
        var vlans: [UInt16: Located<UInt16>] = [:]
        var subnets: [(role: NetworkRole, prefix: Located<IPPrefix>)] = []

        for item in map.entries {
            let name = item.name
            let key = joinKey("networks", name)
            if name.isEmpty { throw fail(item.keyNode, key, "a network name cannot be empty") }
            if NetworkRole(networkName: name) == .other {
                for role in ["management", "storage"] where Self.looksLike(name, role) {
                    throw fail(item.keyNode, key, "network \"\(name)\" is not \"\(role)\": only the networks named exactly "
                        + "\"management\" and \"storage\" have rules; fix the spelling or choose a clearly different name")
                }
            }
            var spec = NetworkSpec(name: name)
            let fields = try mapping(item.value, key: key, allowed: Self.networkKeys,
                                     expected: "a mapping with interfaces, vlans and/or subnets")

            if let field = fields["interfaces"] {
                for (index, element) in try list(field.value, key: field.path, of: "interface names").enumerated() {
                    let elementKey = "\(field.path)[\(index)]"
                    let text = try string(element, key: elementKey, what: "an interface name")
                    if let earlier = interfaces[text] {
                        throw fail(element, elementKey, "interface \"\(text)\" is already in "
                            + Self.place(earlier.network, earlier.node, current: name))
                    }
                    interfaces[text] = Located(value: text, node: element, network: name)
                    spec.interfaces.append(text)
                }
            }
            if let field = fields["vlans"] {
                for (index, element) in try list(field.value, key: field.path, of: "VLAN ids").enumerated() {
                    let elementKey = "\(field.path)[\(index)]"
                    let number = try integer(element, key: elementKey)
                    guard (1...4094).contains(number) else {
                        throw fail(element, elementKey, "VLAN id \(number) is out of range (1–4094)")
                    }
                    let vlan = UInt16(number)
                    if let earlier = vlans[vlan] {
                        throw fail(element, elementKey, "VLAN \(vlan) is already in "
                            + Self.place(earlier.network, earlier.node, current: name))
                    }
                    vlans[vlan] = Located(value: vlan, node: element, network: name)
                    spec.vlans.append(vlan)
                }
            }
            if let field = fields["subnets"] {
                for (index, element) in try list(field.value, key: field.path, of: "CIDR prefixes").enumerated() {
                    let elementKey = "\(field.path)[\(index)]"
                    let prefix = try prefix(element, key: elementKey)
                    subnets.append((spec.role, Located(value: prefix, node: element, network: name)))
                    spec.subnets.append(prefix)
                }
            }
            if let field = fields["expect_storage_traffic"] {
                guard spec.role == .storage else {
                    throw fail(field.keyNode, field.path, "expect_storage_traffic applies only to the network named \"storage\"")
                }
                spec.expectStorageTraffic = try boolean(field.value, key: field.path)
            }
            if spec.interfaces.isEmpty && spec.vlans.isEmpty && spec.subnets.isEmpty {
                throw fail(item.keyNode, key, "network \"\(name)\" lists no interfaces, vlans or subnets, "
                    + "so no traffic can belong to it")
            }
            networks.append(spec)
        }

        guard networks.contains(where: { $0.role == .management }) else {
            throw fail(entry.value, "networks", "a network named \"management\" is required: "
                + "it is the network that storage traffic must stay off")
        }

        // Management and storage must not share addresses; report at the later of the two.
        if let (later, earlier) = Self.firstOverlap(subnets) {
            let laterKey = key(ofSubnet: later, in: networks)
            throw fail(later.node, laterKey, "\(later.network) subnet \(later.value) overlaps \(earlier.network) subnet "
                + "\(earlier.value) (line \(earlier.node.mark?.line ?? 0)); "
                + "storage and management networks must not share addresses")
        }
        return networks
    }

    /// The overlapping management/storage pair whose later subnet (in document order) comes
    /// first, with the first subnet of the other role it overlaps; nil when none overlap.
    ///
    /// Two prefixes overlap when one contains the other. Sorted by address and then length,
    /// the subnets containing a given one are exactly those on a stack of nested prefixes
    /// when it is reached, and the best pair it can take part in depends only on the first
    /// of them (in document order) of the other role; so one sort and one pass find the pair,
    /// in O(n log n) rather than comparing every pair (a policy listing tens of thousands of
    /// subnets must not stall the reader).
    private static func firstOverlap(
        _ subnets: [(role: NetworkRole, prefix: Located<IPPrefix>)]
    ) -> (later: Located<IPPrefix>, earlier: Located<IPPrefix>)? {
        let ruled = subnets.filter { $0.role == .management || $0.role == .storage }
            .map { (isManagement: $0.role == .management, prefix: $0.prefix, position: position(of: $0.prefix.node)) }
        let order = ruled.indices.sorted { a, b in
            let (x, y) = (ruled[a].prefix.value, ruled[b].prefix.value)
            if x.address != y.address { return x.address < y.address }
            if x.length != y.length { return x.length < y.length }
            return ruled[a].position < ruled[b].position
        }
        // Each stack entry: its index, and the first management and first storage subnet
        // (by position) among it and the entries below it.
        var stack: [(index: Int, firstManagement: Int?, firstStorage: Int?)] = []
        var best: (later: Int, earlier: Int)?
        func earlier(_ a: Int?, _ b: Int) -> Int { a.map { ruled[$0].position < ruled[b].position ? $0 : b } ?? b }
        for index in order {
            let prefix = ruled[index].prefix.value
            while let top = stack.last, !ruled[top.index].prefix.value.overlaps(prefix) { stack.removeLast() }
            let below = stack.last
            if let other = ruled[index].isManagement ? below?.firstStorage : below?.firstManagement {
                let pair = ruled[other].position < ruled[index].position ? (index, other) : (other, index)
                if let current = best,
                    (ruled[current.later].position, ruled[current.earlier].position)
                        <= (ruled[pair.0].position, ruled[pair.1].position)
                {
                    // keep the current one
                } else {
                    best = pair
                }
            }
            stack.append(
                (
                    index,
                    ruled[index].isManagement ? earlier(below?.firstManagement, index) : below?.firstManagement,
                    ruled[index].isManagement ? below?.firstStorage : earlier(below?.firstStorage, index)
                ))
        }
        return best.map { (ruled[$0.later].prefix, ruled[$0.earlier].prefix) }
    }

    private func key(ofSubnet subnet: Located<IPPrefix>, in networks: [NetworkSpec]) -> String {
        let index = networks.first { $0.name == subnet.network }?.subnets.firstIndex(of: subnet.value) ?? 0
        return "networks.\(subnet.network).subnets[\(index)]"
    }

    private static func place(_ network: String, _ node: Node, current: String) -> String {
        let line = node.mark.map { " (line \($0.line))" } ?? ""
        return network == current ? "this network's list\(line)" : "network \"\(network)\"\(line)"
    }

    private static func position(of node: Node) -> Int {
        guard let mark = node.mark else { return Int.max }
        return mark.line * 1_000_000 + mark.column
    }

    /// A near miss of a role name: another case, or at most two edits away.
    private static func looksLike(_ name: String, _ role: String) -> Bool {
        name.lowercased() == role || editDistance(name.lowercased(), role) <= 2
    }

    // MARK: - Protocols, ports, exceptions

    private func storageProtocols(_ node: Node, known: [String]) throws(PolicyError) -> [String] {
        let key = "storage_protocols"
        let elements = try list(node, key: key, of: "protocol names")
        guard !elements.isEmpty else {
            throw fail(node, key, "the list is empty; leave storage_protocols out to check every protocol "
                + "packet capture can see (" + ProtocolTable.builtin.observableProtocolNames.joined(separator: ", ") + ")")
        }
        var names: [String] = []
        for (index, element) in elements.enumerated() {
            let elementKey = "\(key)[\(index)]"
            let name = try string(element, key: elementKey, what: "a protocol name")
            guard known.contains(name) else {
                throw fail(element, elementKey, "unknown storage protocol \"\(name)\"\(Self.hint(name, known)) "
                    + "(known: \(known.joined(separator: ", ")))")
            }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    private func extraPorts(_ node: Node, protocols: [String]) throws(PolicyError) -> [String: [UInt16]] {
        let known = ProtocolTable.builtin.protocolNames
        let map = try mapping(node, key: "ports", allowed: known, expected: "a mapping of protocol name to port list")
        var table = ProtocolTable.builtin.restricted(to: protocols)
        var result: [String: [UInt16]] = [:]
        for item in map.entries {
            guard protocols.contains(item.name) else {
                throw fail(item.keyNode, item.path, Self.notChecked(item.name, protocols))
            }
            guard !ProtocolTable.builtin.unobservableProtocolNames.contains(item.name) else {
                throw fail(item.keyNode, item.path, "\(item.name) does not run over IP ports that packet capture can see")
            }
            var ports: [UInt16] = []
            for (index, element) in try list(item.value, key: item.path, of: "port numbers").enumerated() {
                let elementKey = "\(item.path)[\(index)]"
                let number = try integer(element, key: elementKey)
                guard (1...65_535).contains(number) else {
                    throw fail(element, elementKey, "port \(number) is out of range (1–65535)")
                }
                let port = UInt16(number)
                for transport in [Transport.tcp, .udp] {
                    // A port only in another protocol's range (Ceph's OSDs, Linstor's DRBD) may
                    // be given: a policy's port is well-known, and that outranks a range.
                    if let (owner, inRange) = table.portService(ipProtocol: transport.rawValue, port: port), !inRange,
                        table.services[owner].protocolName != item.name,
                        table.services.contains(where: { $0.protocolName == item.name && $0.transports.contains(transport) })
                    {
                        let service = table.services[owner]
                        let owner = service.name == service.protocolName ? service.name
                            : "\(service.name) (\(service.protocolName))"
                        throw fail(element, elementKey, "port \(port)/\(transport) already belongs to \(owner)")
                    }
                }
                table.addPorts([port], toProtocol: item.name)
                ports.append(port)
            }
            result[item.name] = ports
        }
        return result
    }

    private func allowRules(_ node: Node, protocols: [String]) throws(PolicyError) -> [AllowRule] {
        var rules: [AllowRule] = []
        for (index, element) in try list(node, key: "allow", of: "exceptions").enumerated() {
            let key = "allow[\(index)]"
            let fields = try mapping(element, key: key, allowed: Self.allowKeys,
                                     expected: "a mapping with protocol and/or peer")
            var rule = AllowRule()
            if let field = fields["protocol"] {
                let name = try string(field.value, key: field.path, what: "a protocol name")
                guard protocols.contains(name) else {
                    let known = ProtocolTable.builtin.protocolNames
                    let message = known.contains(name) ? Self.notChecked(name, protocols)
                        : "unknown storage protocol \"\(name)\"\(Self.hint(name, known)) (known: \(known.joined(separator: ", ")))"
                    throw fail(field.value, field.path, message)
                }
                rule.protocolName = name
            }
            if let field = fields["peer"] {
                rule.peer = try prefix(field.value, key: field.path)
            }
            if rule.protocolName == nil && rule.peer == nil {
                throw fail(element, key, "an exception needs a protocol, a peer or both; "
                    + "one with neither would excuse every flow")
            }
            rules.append(rule)
        }
        return rules
    }

    private static func notChecked(_ name: String, _ protocols: [String]) -> String {
        "protocol \"\(name)\" is not checked by this policy (storage_protocols: \(protocols.joined(separator: ", ")))"
    }

    // MARK: - Typed access to nodes

}
