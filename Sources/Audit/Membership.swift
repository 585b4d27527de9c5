import Policy

/// Which policy network a host interface belongs to, and how that was decided.
public struct Membership: Sendable, Hashable {
    /// Index in the networks the resolver was given.
    public var network: Int
    /// The devices from the interface to the one that decided, the interface first:
    /// `[eth0, bond0, cloudbr0]` for a NIC in a bond under a named bridge.
    public var chain: [String]
    /// `named`, `VLAN 42`, ...: how the last device of `chain` was placed.
    public var rule: String

    /// Whether the interface got its network only from the device below it (a VLAN device
    /// whose VLAN id no network lists), not on its own account.
    public var isInheritedFromLower = false

    /// `named in the policy`, or `through bond0 → cloudbr0, named in the policy`.
    public var explanation: String {
        chain.count <= 1 ? rule : "through \(chain.dropFirst().joined(separator: " → ")), \(rule)"
    }
}

/// Places host interfaces in policy networks, the way replay places frames and beyond:
///
/// 1. a VLAN device whose VLAN id a network's `vlans` holds belongs to that network (the
///    VLAN first, as replay takes a frame's tag before its interface);
/// 2. an interface a network's `interfaces` names belongs to it;
/// 3. a port of a bridge or bond belongs to its master's network (`eth0` → `bond0` →
///    `cloudbr0`), however deep;
/// 4. a bridge or bond no rule above places belongs to the network all of its ports belong
///    to on their own account (1, 2 or 4), when they agree;
/// 5. a VLAN device no rule above places belongs to its parent's network, as replay counts
///    a frame whose tag no network lists by its interface;
/// otherwise to no network.
///
/// Open vSwitch is read into the same relations (`HostInventory.applying(_:)`): a NIC's master
/// is its OVS bridge, or its bond port (`ovs-bond`, master the bridge); a bridge's lower
/// devices are its uplinks; a fake bridge or tagged internal port is a VLAN device (its tag)
/// on its bridge, an untagged internal port a port of it.
public struct MembershipResolver: Sendable {
    public let networks: [NetworkSpec]
    public let host: HostInventory

    public init(networks: [NetworkSpec], host: HostInventory) {
        self.networks = networks
        self.host = host
    }

    public func membership(of name: String) -> Membership? {
        resolve(name, depth: 0)
    }

    private func own(_ interface: HostInterface) -> Membership? {
        if let vlan = interface.vlanID, let network = networks.firstIndex(where: { $0.vlans.contains(vlan) }) {
            return Membership(network: network, chain: [interface.name], rule: "VLAN \(vlan) in the policy")
        }
        if let network = networks.firstIndex(where: { $0.interfaces.contains(interface.name) }) {
            return Membership(network: network, chain: [interface.name], rule: "named in the policy")
        }
        return nil
    }

    private func resolve(_ name: String, depth: Int) -> Membership? {
        guard depth < 16 else { return nil }
        guard let interface = host.interface(named: name) else {
            // Not on the host: only its name can place it.
            return networks.firstIndex { $0.interfaces.contains(name) }.map { Membership(network: $0, chain: [name], rule: "named in the policy") }
        }
        if let own = own(interface) { return own }
        if let master = interface.master, var membership = resolve(master, depth: depth + 1) {
            membership.chain.insert(name, at: 0)
            membership.isInheritedFromLower = false
            return membership
        }
        if interface.kind != "vlan", interface.vlanID == nil, let fromPorts = fromPorts(interface, depth: depth) { return fromPorts }
        if let parent = vlanParent(interface), var membership = resolve(parent, depth: depth + 1) {
            membership.chain.insert(name, at: 0)
            membership.isInheritedFromLower = true
            return membership
        }
        return nil
    }

    /// Rule 4: the network every port of a bridge or bond is in on its own account.
    private func fromPorts(_ interface: HostInterface, depth: Int) -> Membership? {
        guard !interface.lowers.isEmpty, depth < 16 else { return nil }
        var found: Membership?
        for lower in interface.lowers {
            guard let port = host.interface(named: lower),
                let membership = own(port) ?? (port.kind == "vlan" || port.vlanID != nil ? nil : fromPorts(port, depth: depth + 1))
            else { return nil }
            if let found, found.network != membership.network { return nil }
            if found == nil { found = membership }
        }
        guard var found else { return nil }
        found.chain.insert(interface.name, at: 0)
        found.rule += " (every port)"
        return found
    }

    private func vlanParent(_ interface: HostInterface) -> String? {
        if let link = interface.record.lowerFromLink, let parent = host.interface(index: link) { return parent.name }
        if interface.kind == "vlan" || interface.vlanID != nil, interface.lowers.count == 1 { return interface.lowers[0] }
        return nil
    }
}
