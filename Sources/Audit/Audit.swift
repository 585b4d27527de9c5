import Check
import Decode
import Policy

/// One interface as the audit saw it.
public struct AuditedInterface: Sendable {
    public var name: String
    public var kind: String?
    public var master: String?
    public var lowers: [String]
    public var vlanID: UInt16?
    public var operState: String
    /// `198.51.100.10/24`, ...
    public var addresses: [String]
    public var network: String?
    /// How the network was decided (`named`, `VLAN 42`, `through bond0 → cloudbr0 (named)`).
    public var membership: String?
}

/// One storage target and where the kernel would send its traffic.
public struct AuditedTarget: Sendable {
    public var address: IPAddress
    public var source: TargetSource
    public var detail: String?
    /// The interface the kernel's route leaves through.
    public var interface: String?
    public var sourceAddress: IPAddress?
    public var gateway: IPAddress?
    public var table: UInt32?
    /// The network that interface belongs to.
    public var network: String?
    /// Why there is no route, when there is none.
    public var noRoute: String?
    /// The `allow` entry that excuses this target on management (`allow[0] {protocol: nfs,
    /// peer: 198.51.100.60/32}`), when one does and the target is reached over management.
    public var allowedBy: String?
    /// Where Open vSwitch sends it, when the route's interface is an OVS internal port.
    public var switchExit: SwitchExit?
}

/// A broken separation condition.
public struct AuditViolation: Sendable {
    /// A stable name for the condition (docs/audit.md lists them).
    public var rule: String
    public var message: String
    public var target: IPAddress?
    public var interface: String?
    /// Where the target was found, for a violation about one.
    public var source: TargetSource?
}

/// The audit's judgement, with everything a report shows.
public struct AuditResult: Sendable {
    public var verdict: Verdict
    /// Why the verdict is not `pass`: each violation's message, then what could not be judged.
    public var reasons: [String]
    public var warnings: [String]
    public var interfaces: [AuditedInterface]
    public var targets: [AuditedTarget]
    public var violations: [AuditViolation]

    /// The targets an `allow` entry excuses on management (secondary storage, typically).
    public var allowed: [AuditedTarget] { targets.filter { $0.allowedBy != nil } }
}

/// The static audit: holds the host's configuration against the policy.
///
/// **fail** (a violation) when a separation condition is broken:
/// - `routed-via-management`: the kernel routes a storage target out of a management interface;
/// - `routed-outside-storage`: ... out of an interface of no network, or of another network;
/// - `not-directly-connected`: ... out of a storage interface, but through a gateway;
/// - `outside-storage-subnets`: a target the kernel routes directly out of a storage interface
///   lies in no subnet of that interface's addresses, or outside the policy's storage subnets;
/// - `target-in-management-subnet`: a target lies inside a management subnet (the policy's, or
///   one a management interface's address connects);
/// - `subnets-overlap`: an address of a management interface and one of a storage interface
///   connect overlapping subnets (or one overlaps the other role's policy subnets);
/// - `storage-interface-without-address`: a storage interface (not a port of a bridge or bond)
///   has no address, so the kernel can only send storage elsewhere.
///
/// **inconclusive** (unless something failed) when it cannot judge: no storage targets at all;
/// a target the kernel has no route to, or that is an address of this host; a policy storage
/// network of which no interface is on this host.
public enum Audit {
    ///
    /// A target an `allow` entry covers (its protocol and address; a `storage_targets` entry,
    /// which has no protocol, only by the entry's `peer`) is not failed for being reached over
    /// management or lying in a management subnet: it is listed as allowed. A target of a
    /// protocol the policy's `storage_protocols` leaves out is not audited (a warning says so).
    /// `warnings` (what the target sources could not read) are reported as given.
    public static func run(policy: Policy, host: HostInventory, targets: [StorageTarget], warnings given: [String] = [])
        -> AuditResult
    {
        let resolver = MembershipResolver(networks: policy.networks, host: host)
        var violations: [AuditViolation] = []
        var inconclusive: [String] = []
        var warnings: [String] = given

        func role(_ membership: Membership?) -> NetworkRole? {
            membership.map { policy.networks[$0.network].role }
        }

        // Interfaces, and the addresses of each role.
        var interfaces: [AuditedInterface] = []
        var connected: [NetworkRole: [(interface: String, address: AddressRecord, subnet: IPPrefix)]] = [:]
        var storageInterfaces: [String] = []
        for interface in host.interfaces where !interface.record.isLoopback {
            let membership = resolver.membership(of: interface.name)
            let addresses = host.addresses(on: interface.name)
            interfaces.append(AuditedInterface(
                name: interface.name, kind: interface.kind, master: interface.master, lowers: interface.lowers,
                vlanID: interface.vlanID, operState: interface.record.operState, addresses: addresses.map(\.cidr),
                network: membership.map { policy.networks[$0.network].name }, membership: membership?.explanation))
            guard let role = role(membership) else { continue }
            for address in addresses {
                if let subnet = address.subnet { connected[role, default: []].append((interface.name, address, subnet)) }
            }
            if role == .storage {
                storageInterfaces.append(interface.name)
                if interface.master == nil && addresses.isEmpty {
                    violations.append(AuditViolation(
                        rule: "storage-interface-without-address",
                        message: "storage interface \(interface.name) has no address, so the kernel cannot send storage "
                            + "out of it and routes it elsewhere (over the management network when that holds the default route)",
                        interface: interface.name))
                }
                if interface.record.operState == "down" || interface.record.operState == "lowerlayerdown" {
                    warnings.append("storage interface \(interface.name) is \(interface.record.operState)")
                }
            }
        }
        if let problem = host.openVSwitchProblem {
            warnings.append("Open vSwitch could not be read (\(problem)): its bridges, bonds and VLAN tags are unknown to this audit")
        } else if host.openVSwitch == nil, host.interfaces.contains(where: { $0.master == "ovs-system" }) {
            warnings.append("interfaces are ports of Open vSwitch (master ovs-system) but there is no Open vSwitch database to "
                + "read: give --ovs-db")
        }
        for network in policy.networks {
            for name in network.interfaces where host.interface(named: name) == nil {
                warnings.append("interface \(name) of network \(network.name) is not on this host")
            }
        }
        if let storage = policy.storage {
            if storageInterfaces.isEmpty {
                inconclusive.append("no interface of this host belongs to the storage network ("
                    + describe(storage) + ")")
            }
        } else {
            inconclusive.append("the policy declares no storage network")
        }

        // Overlapping subnets, on the host's own addresses.
        let management = connected[.management] ?? []
        let storage = connected[.storage] ?? []
        var overlaps: [String] = []
        for m in management {
            for s in storage where m.subnet.overlaps(s.subnet) {
                overlaps.append("management interface \(m.interface) (\(m.address.cidr)) and storage interface "
                    + "\(s.interface) (\(s.address.cidr)) are on overlapping subnets \(m.subnet) and \(s.subnet)")
            }
            for subnet in policy.storage?.subnets ?? [] where m.subnet.overlaps(subnet) {
                overlaps.append("management interface \(m.interface) (\(m.address.cidr)) is on \(m.subnet), "
                    + "which overlaps the storage subnet \(subnet) of the policy")
            }
        }
        for s in storage {
            for subnet in policy.management.subnets where s.subnet.overlaps(subnet) {
                overlaps.append("storage interface \(s.interface) (\(s.address.cidr)) is on \(s.subnet), "
                    + "which overlaps the management subnet \(subnet) of the policy")
            }
        }
        for message in overlaps where !violations.contains(where: { $0.message == message }) {
            violations.append(AuditViolation(rule: "subnets-overlap", message: message))
        }

        // Targets.
        if targets.isEmpty {
            inconclusive.append("there are no storage targets to check: list them in the policy's storage_targets, "
                + "or audit while storage is mounted or logged in")
        }
        var audited: [AuditedTarget] = []
        let managementSubnets = policy.management.subnets.map { ($0, "of the policy") }
            + management.map { ($0.subnet, "on \($0.interface)") }
        for target in targets {
            let address = target.address
            if let name = target.source.protocolName, !policy.storageProtocols.contains(name) {
                warnings.append("storage target \(address) (\(target.source.rawValue)) not audited: \(name) is not in the "
                    + "policy's storage_protocols")
                continue
            }
            var entry = AuditedTarget(address: address, source: target.source, detail: target.detail)
            let label = "storage target \(address)"
            let origin = target.source == .policy ? "" : "; from \(target.source.rawValue): \(target.detail ?? "-")"
            let allowance = allowRule(covering: target, in: policy)
            func fail(_ rule: String, _ message: String, interface: String? = nil) {
                violations.append(AuditViolation(rule: rule, message: message + origin, target: address, interface: interface,
                                                 source: target.source))
            }
            if let (subnet, place) = managementSubnets.first(where: { $0.0.contains(address) }) {
                if let allowance {
                    entry.allowedBy = allowance
                } else {
                    fail("target-in-management-subnet", "\(label) lies inside the management subnet \(subnet) (\(place))")
                }
            }
            switch host.routeAnswers[address] ?? .noRoute("not looked up") {
            case let .noRoute(reason):
                entry.noRoute = reason
                inconclusive.append("the kernel has no route to \(label) (\(reason)), so storage to it cannot flow at all")
            case let .route(route):
                let name = route.outputInterface.map { index in host.interface(index: index)?.name ?? "ifindex \(index)" }
                entry.interface = name
                entry.sourceAddress = route.preferredSource
                entry.gateway = route.gateway
                entry.table = route.table
                let membership = name.flatMap { resolver.membership(of: $0) }
                entry.network = membership.map { policy.networks[$0.network].name }
                if route.type == RTNetlink.routeLocal {
                    inconclusive.append("\(label) is an address of this host")
                    break
                }
                guard let name else {
                    inconclusive.append("the kernel's route to \(label) names no interface")
                    break
                }
                let via = route.gateway.map { " through gateway \($0)" } ?? ""
                entry.switchExit = host.openVSwitch?.exit(of: name)
                let exit = entry.switchExit.map { "; \($0.description)" } ?? ""
                switch role(membership) {
                case .management?:
                    if let allowance {
                        entry.allowedBy = allowance
                    } else {
                        fail("routed-via-management",
                             "\(label) is routed via \(name)\(via), which is management (\(membership!.explanation))\(exit)",
                             interface: name)
                    }
                case nil:
                    fail("routed-outside-storage",
                         "\(label) is routed via \(name)\(via), which belongs to no network of the policy\(exit)", interface: name)
                case .other?:
                    fail("routed-outside-storage",
                         "\(label) is routed via \(name)\(via), which is network \(entry.network!), not storage\(exit)",
                         interface: name)
                case .storage?:
                    if let gateway = route.gateway {
                        fail("not-directly-connected",
                             "\(label) is reached through gateway \(gateway) on \(name), not directly connected on a storage interface",
                             interface: name)
                    } else if !storage.contains(where: { $0.subnet.contains(address) }) {
                        let have = storage.map { "\($0.interface) \($0.address.cidr)" }
                        fail("outside-storage-subnets",
                             "\(label) is routed via \(name) but lies in no subnet of a storage interface's address ("
                                + (have.isEmpty ? "there are none" : have.joined(separator: ", ")) + ")", interface: name)
                    } else if let subnets = policy.storage?.subnets, !subnets.isEmpty, !subnets.contains(where: { $0.contains(address) }) {
                        fail("outside-storage-subnets",
                             "\(label) lies outside the storage subnets of the policy ("
                                + subnets.map(\.description).joined(separator: ", ") + ")", interface: name)
                    }
                }
            }
            audited.append(entry)
        }

        let verdict: Verdict = !violations.isEmpty ? .fail : inconclusive.isEmpty ? .pass : .inconclusive
        return AuditResult(verdict: verdict, reasons: violations.map(\.message) + inconclusive, warnings: warnings,
                           interfaces: interfaces, targets: audited, violations: violations)
    }

    /// The first `allow` entry covering `target`, described (`allow[0] {protocol: nfs, peer:
    /// 198.51.100.60/32}`): its protocol and address for a target found on the host; for a
    /// `storage_targets` entry, which has no protocol, only an entry whose `peer` holds it.
    static func allowRule(covering target: StorageTarget, in policy: Policy) -> String? {
        for (index, rule) in policy.allow.enumerated() {
            let covers: Bool
            if let name = target.source.protocolName {
                covers = rule.covers(protocolName: name, client: target.address, server: target.address)
            } else {
                covers = rule.peer?.contains(target.address) == true
            }
            guard covers else { continue }
            var fields: [String] = []
            if let name = rule.protocolName { fields.append("protocol: \(name)") }
            if let peer = rule.peer { fields.append("peer: \(peer)") }
            return "allow[\(index)] {\(fields.joined(separator: ", "))}"
        }
        return nil
    }

    /// `interfaces stor0, VLANs 42`.
    static func describe(_ network: NetworkSpec) -> String {
        var parts: [String] = []
        if !network.interfaces.isEmpty { parts.append("interfaces " + network.interfaces.joined(separator: ", ")) }
        if !network.vlans.isEmpty { parts.append("VLANs " + network.vlans.map(String.init).joined(separator: ", ")) }
        if parts.isEmpty { parts.append("subnets only") }
        return parts.joined(separator: "; ")
    }
}
