import Decode
import Flows
import Yams

/// Walks the composed YAML tree and builds a `Policy`, checking every rule and reporting
/// the first violation (in file order) with its line, column and key path.
struct PolicyReader {
    let path: String

    static let topLevelKeys = ["version", "networks", "storage_protocols", "ports", "allow"]
    static let networkKeys = ["interfaces", "vlans", "subnets", "expect_storage_traffic"]
    static let allowKeys = ["protocol", "peer"]

    /// `parent.child`, or `child` at the top.
    static func join(_ parent: String, _ child: String) -> String {
        parent.isEmpty ? child : "\(parent).\(child)"
    }

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
        var protocols = known
        if let entry = top["storage_protocols"] {
            protocols = try storageProtocols(entry.value, known: known)
        }
        let networks = try readNetworks(top["networks"], root: root)
        let ports = try top["ports"].map { entry throws(PolicyError) in try extraPorts(entry.value, protocols: protocols) } ?? [:]
        let allow = try top["allow"].map { entry throws(PolicyError) in try allowRules(entry.value, protocols: protocols) } ?? []
        return Policy(version: version, networks: networks, storageProtocols: protocols, extraPorts: ports, allow: allow)
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
            let key = Self.join("networks", name)
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
        var worst: (later: Located<IPPrefix>, earlier: Located<IPPrefix>)?
        for management in subnets where management.role == .management {
            for storage in subnets where storage.role == .storage && management.prefix.value.overlaps(storage.prefix.value) {
                let pair = Self.position(of: storage.prefix.node) > Self.position(of: management.prefix.node)
                    ? (storage.prefix, management.prefix) : (management.prefix, storage.prefix)
                if worst == nil || Self.position(of: pair.0.node) < Self.position(of: worst!.later.node) {
                    worst = pair
                }
            }
        }
        if let (later, earlier) = worst {
            let laterKey = key(ofSubnet: later, in: networks)
            throw fail(later.node, laterKey, "\(later.network) subnet \(later.value) overlaps \(earlier.network) subnet "
                + "\(earlier.value) (line \(earlier.node.mark?.line ?? 0)); "
                + "storage and management networks must not share addresses")
        }
        return networks
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
            throw fail(node, key, "the list is empty; leave storage_protocols out to check every known protocol ("
                + known.joined(separator: ", ") + ")")
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
            var ports: [UInt16] = []
            for (index, element) in try list(item.value, key: item.path, of: "port numbers").enumerated() {
                let elementKey = "\(item.path)[\(index)]"
                let number = try integer(element, key: elementKey)
                guard (1...65_535).contains(number) else {
                    throw fail(element, elementKey, "port \(number) is out of range (1–65535)")
                }
                let port = UInt16(number)
                for transport in [Transport.tcp, .udp] {
                    if let owner = table.serviceIndex(ipProtocol: transport.rawValue, port: port),
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

    struct MappingEntry {
        var name: String
        var keyNode: Node
        var value: Node
        /// The dotted key path of this entry.
        var path: String
    }

    struct MappingView {
        var entries: [MappingEntry] = []
        subscript(name: String) -> MappingEntry? { entries.first { $0.name == name } }
    }

    /// The node as a mapping with scalar keys; when `allowed` is given, any other key is an error.
    private func mapping(_ node: Node, key: String, allowed: [String]?, expected: String) throws(PolicyError) -> MappingView {
        guard case let .mapping(mapping) = node else {
            throw fail(node, key, "expected \(expected), found \(Self.describe(node))")
        }
        var view = MappingView()
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else {
                throw fail(keyNode, key, "keys must be plain names, found \(Self.describe(keyNode))")
            }
            let name = scalar.string
            let path = Self.join(key, name)
            if let allowed, !allowed.contains(name) {
                throw fail(keyNode, path, "unknown key \"\(name)\"\(Self.hint(name, allowed)) "
                    + "(expected \(allowed.joined(separator: ", ")))")
            }
            if let earlier = view[name] {
                // Yams lets `1:` and `"1":` through as different keys; to us they are the same.
                throw PolicyError(code: .syntax, path: self.path, line: keyNode.mark?.line, column: keyNode.mark?.column,
                                  key: path, message: "duplicate key \"\(name)\" (first given at line \(earlier.keyNode.mark?.line ?? 0))")
            }
            view.entries.append(MappingEntry(name: name, keyNode: keyNode, value: value, path: path))
        }
        return view
    }

    private func list(_ node: Node, key: String, of what: String) throws(PolicyError) -> [Node] {
        guard case let .sequence(sequence) = node else {
            let hint = Self.isNull(node) ? " (write [] for none)" : node.scalar != nil ? " (write [\(node.scalar!.string)])" : ""
            throw fail(node, key, "expected a list of \(what), found \(Self.describe(node))\(hint)")
        }
        return Array(sequence)
    }

    private func string(_ node: Node, key: String, what: String) throws(PolicyError) -> String {
        guard case let .scalar(scalar) = node, !Self.isNull(node) else {
            throw fail(node, key, "expected \(what), found \(Self.describe(node))")
        }
        guard !scalar.string.isEmpty else { throw fail(node, key, "expected \(what), found an empty string") }
        return scalar.string
    }

    /// A decimal integer written as a plain YAML number (`42`, not `"42"`, `0x2a` or `042`).
    private func integer(_ node: Node, key: String) throws(PolicyError) -> Int {
        guard case let .scalar(scalar) = node, Self.tagName(node) == .int else {
            throw fail(node, key, "expected an integer, found \(Self.describe(node))")
        }
        let text = scalar.string
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), text == "0" || !text.hasPrefix("0") else {
            throw fail(node, key, "expected a decimal integer, found \(text)")
        }
        guard let value = Int(text) else { throw fail(node, key, "the number \(text) is too large") }
        return value
    }

    private func boolean(_ node: Node, key: String) throws(PolicyError) -> Bool {
        guard case let .scalar(scalar) = node, Self.tagName(node) == .bool, let value = Bool.construct(from: scalar) else {
            throw fail(node, key, "expected true or false, found \(Self.describe(node))")
        }
        return value
    }

    private func prefix(_ node: Node, key: String) throws(PolicyError) -> IPPrefix {
        let text = try string(node, key: key, what: "a CIDR prefix")
        do {
            return try IPPrefix(parsing: text)
        } catch {
            throw fail(node, key, error.description)
        }
    }

    private func fail(_ node: Node, _ key: String, _ message: String) -> PolicyError {
        PolicyError(code: .invalid, path: path, line: node.mark?.line, column: node.mark?.column,
                    key: key.isEmpty ? nil : key, message: message)
    }

    /// The node's resolved tag (`tag:yaml.org,2002:int`, ...).
    private static func tagName(_ node: Node) -> Tag.Name {
        Tag.Name(rawValue: node.tag.rawValue)
    }

    private static func isNull(_ node: Node) -> Bool {
        node.scalar != nil && Self.tagName(node) == .null
    }

    /// How a node reads in "found ..." messages.
    private static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            switch Self.tagName(node) {
            case .null: return "nothing (null)"
            case .bool: return "the boolean \(scalar.string)"
            case .int, .float: return "the number \(scalar.string)"
            default: return "the string \"\(scalar.string)\""
            }
        }
    }

    // MARK: - Suggestions

    /// `; did you mean "x"?` for the closest candidate within reach, else nothing.
    static func hint(_ word: String, _ candidates: [String]) -> String {
        let lower = word.lowercased().replacingOccurrences(of: "-", with: "_")
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            var distance = editDistance(lower, candidate)
            if candidate.hasPrefix(lower) && lower.count >= 4 || lower.hasPrefix(candidate) && candidate.count >= 4 {
                distance = min(distance, 1)
            }
            let reach = max(1, min(3, candidate.count / 3))
            if distance <= reach && (best == nil || distance < best!.distance) { best = (candidate, distance) }
        }
        return best.map { "; did you mean \"\($0.candidate)\"?" } ?? ""
    }

    /// Edit distance over Unicode scalars, counting an adjacent transposition (`nsf` for
    /// `nfs`) as one edit (optimal string alignment).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
