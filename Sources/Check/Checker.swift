import Decode
import Flows
import Frames
import Policy

/// Holds what was observed against the policy.
///
/// The rules (see docs/policy.md, "How the verdict is reached"):
/// - storage traffic in the management network is a violation unless an `allow` entry covers it;
/// - storage traffic that belongs to no network, or that could not be attributed to an
///   interface, makes the verdict inconclusive;
/// - a storage network with `expect_storage_traffic` that saw none is inconclusive, and so is a
///   replay with no storage traffic at all;
/// - a damaged capture, or frames of a link type lanekeeper cannot read, are inconclusive;
/// - any violation makes the verdict `fail`, whatever else is true.
public struct Checker: Sendable {
    public let policy: Policy

    public init(policy: Policy) {
        self.policy = policy
    }

    /// The policy network a place belongs to: the network whose `vlans` holds the frame's
    /// VLAN id (innermost tag first), otherwise the network whose `interfaces` holds the
    /// interface, otherwise none.
    public func network(interface name: String?, outerVLAN: UInt16?, innerVLAN: UInt16?) -> Int? {
        if let inner = innerVLAN, let network = policy.network(forVLAN: inner) { return network }
        if let outer = outerVLAN, let network = policy.network(forVLAN: outer) { return network }
        if let name { return policy.network(forInterface: name) }
        return nil
    }

    public func check(_ observation: Observation) -> CheckResult {
        let table = observation.protocolTable
        var reasons: [String] = []
        var warnings: [String] = []
        var totals = CheckResult.Totals()

        var networks = policy.networks.map { spec in
            NetworkSummary(name: spec.name, role: Self.roleName(spec.role))
        }
        var interfaces = observation.interfaces.map { interface in
            InterfaceSummary(
                name: interface.name, label: interface.label,
                network: interface.name.flatMap { policy.network(forInterface: $0) }.map { policy.networks[$0].name })
        }

        // Every packet, by segment.
        for (segmentIndex, segment) in observation.segments.enumerated() {
            let counters = observation.counters[segmentIndex]
            totals.packets += counters.packets
            totals.bytes += counters.bytes
            totals.decoded += counters.decoded
            totals.truncated += counters.truncated
            totals.undecodable += counters.undecodable
            interfaces[segment.interface].packets += counters.packets
            interfaces[segment.interface].bytes += counters.bytes
            interfaces[segment.interface].decoded += counters.decoded
            interfaces[segment.interface].truncated += counters.truncated
            interfaces[segment.interface].undecodable += counters.undecodable
            if let network = segment.network {
                networks[network].packets += counters.packets
                networks[network].bytes += counters.bytes
                let label = observation.interfaces[segment.interface].label
                if !networks[network].interfaces.contains(label) { networks[network].interfaces.append(label) }
            }
            if counters.unsupportedLinkType > 0 {
                reasons.append(
                    "\(counters.unsupportedLinkType) frames on \(observation.interfaces[segment.interface].label) "
                        + "are of a link type lanekeeper cannot decode, so storage among them cannot be ruled out")
            }
        }

        // Storage flows.
        var violations: [Violation] = []
        var allowed: [Violation] = []
        var unassigned: [String: (packets: Int, flows: Int)] = [:]
        var unattributed: [String: (packets: Int, flows: Int, hint: String?)] = [:]
        totals.flows = observation.flows.count + observation.summarised.values.reduce(0) { $0 + $1.flows }
        /// Counts `flows` storage flows of `service` on `segment`; returns its network, if any.
        func account(_ service: StorageService, segment segmentIndex: UInt32, flows: Int, packets: Int, bytes: Int) -> Int? {
            let segment = observation.segments[Int(segmentIndex)]
            let interface = observation.interfaces[segment.interface]
            totals.storageFlows += flows
            totals.storagePackets += packets
            totals.storageBytes += bytes
            Self.tally(&interfaces[segment.interface].byProtocol, service.protocolName, flows, packets, bytes)
            interfaces[segment.interface].storagePackets += packets
            interfaces[segment.interface].storageBytes += bytes

            guard let network = segment.network else {
                if interface.name == nil {
                    unattributed[interface.label, default: (0, 0, interface.hint)].packets += packets
                    unattributed[interface.label, default: (0, 0, interface.hint)].flows += flows
                } else {
                    unassigned[interface.label, default: (0, 0)].packets += packets
                    unassigned[interface.label, default: (0, 0)].flows += flows
                }
                return nil
            }
            networks[network].storagePackets += packets
            networks[network].storageBytes += bytes
            Self.tally(&networks[network].byProtocol, service.protocolName, flows, packets, bytes)
            return network
        }
        // Storage flows finished without their details (more than the flow bound): counted,
        // and in a management network judged violations, since no `allow` can be checked.
        // Those known only by a port range are, like any such flow, possible storage.
        var summarisedViolations = FlowTally()
        var summarisedPlaces: Set<String> = []
        var summarisedUnconfirmed = FlowTally()
        var summarisedUnconfirmedPlaces: Set<String> = []
        for (key, tally) in observation.summarised.sorted(by: { ($0.key.segment, $0.key.service ?? -1) < ($1.key.segment, $1.key.service ?? -1) }) {
            guard let serviceIndex = key.service, serviceIndex < table.services.count else { continue }
            let service = table.services[serviceIndex]
            let network = account(service, segment: key.segment, flows: tally.flows, packets: tally.packets, bytes: tally.bytes)
            if policy.isManagement(network) {
                let interface = observation.interfaces[observation.segments[Int(key.segment)].interface]
                if key.rangeOnly {
                    summarisedUnconfirmed.merge(tally)
                    summarisedUnconfirmedPlaces.insert("\(service.title) on \(interface.label)")
                } else {
                    summarisedViolations.merge(tally)
                    summarisedPlaces.insert("\(service.protocolName) on \(interface.label)")
                }
            }
        }
        var unconfirmed: [Violation] = []
        var transit: [Violation] = []
        for (flowIndex, flow) in observation.flows.enumerated() {
            guard let serviceIndex = flow.service, serviceIndex < table.services.count else { continue }
            let service = table.services[serviceIndex]
            let segment = observation.segments[Int(flow.segment)]
            let interface = observation.interfaces[segment.interface]
            guard
                let network = account(
                    service, segment: flow.segment, flows: 1, packets: flow.packets, bytes: flow.bytes)
            else { continue }
            let isTransit = policy.isTransit(client: flow.client.address, server: flow.server.address)
            if isTransit {
                // Neither end is the host: another machine's storage bridged through it.
                networks[network].transitFlows += 1
                networks[network].transitPackets += flow.packets
                networks[network].transitBytes += flow.bytes
            }
            guard policy.isManagement(network) else { continue }
            let record = Violation(
                flow: flow, index: flowIndex, interface: interface.label, network: policy.networks[network].name,
                service: service, vlan: segment.vlan)
            if isTransit {
                transit.append(record)
            } else if !policy.isViolation(in: network, protocolName: service.protocolName, client: flow.client.address, server: flow.server.address) {
                allowed.append(record)
            } else if record.evidence == .portRange {
                unconfirmed.append(record)
            } else {
                violations.append(record)
            }
        }

        if summarisedViolations.flows > 0 {
            reasons.insert(
                "\(summarisedViolations.flows) more storage flow\(summarisedViolations.flows == 1 ? "" : "s") "
                    + "(\(summarisedViolations.packets) packets, \(Self.formatBytes(summarisedViolations.bytes))) crossed "
                    + "the management network (\(summarisedPlaces.sorted().joined(separator: ", "))); they were "
                    + "summarised without their ends to keep memory bounded (raise --max-flows to keep them), so "
                    + "they count as violations whatever the allow list says", at: 0)
        }
        if !violations.isEmpty {
            let packets = violations.reduce(0) { $0 + $1.packets }
            let bytes = violations.reduce(0) { $0 + $1.bytes }
            let places = Set(violations.map { "\($0.protocolName) on \($0.interface)" }).sorted().joined(separator: ", ")
            reasons.insert(
                "\(violations.count) storage flow\(violations.count == 1 ? "" : "s") (\(packets) packets, "
                    + "\(Self.formatBytes(bytes))) crossed the management network: \(places)", at: 0)
        }
        if !unconfirmed.isEmpty {
            reasons.append(Self.unconfirmedReason(unconfirmed, table: table))
        }
        if summarisedUnconfirmed.flows > 0 {
            reasons.append(
                "\(summarisedUnconfirmed.flows) more flow\(summarisedUnconfirmed.flows == 1 ? "" : "s") "
                    + "(\(summarisedUnconfirmed.packets) packets) in the management network were possibly storage, known "
                    + "only by a port range (\(summarisedUnconfirmedPlaces.sorted().joined(separator: ", "))), and were "
                    + "summarised without their ends to keep memory bounded")
        }
        if !transit.isEmpty {
            let addresses = Set(transit.flatMap { [$0.client.address, $0.server.address] }).sorted().map(\.description)
            let shown = addresses.prefix(8).joined(separator: ", ") + (addresses.count > 8 ? ", ..." : "")
            warnings.append(
                "\(transit.count) storage flow\(transit.count == 1 ? "" : "s") in the management network "
                    + "\(transit.count == 1 ? "is" : "are") transit, between addresses not in host_addresses (\(shown)), so "
                    + "not violations; if one of these addresses is this host's own, add it to host_addresses")
        }
        for (label, tally) in unattributed.sorted(by: { $0.key < $1.key }) {
            let hint = tally.hint.map { "; name it with \($0)" } ?? ""
            reasons.append(
                "\(tally.packets) storage packets in \(tally.flows) flows could not be attributed to an interface "
                    + "(\(label))\(hint)")
        }
        for (label, tally) in unassigned.sorted(by: { $0.key < $1.key }) {
            reasons.append(
                "\(tally.packets) storage packets in \(tally.flows) flows on \(label), "
                    + "which belongs to no network in the policy")
        }
        for (index, spec) in policy.networks.enumerated() where spec.expectStorageTraffic {
            if networks[index].storagePackets == 0 {
                let seen = networks[index].packets > 0
                reasons.append(
                    "network '\(spec.name)' expects storage traffic but "
                        + (seen ? "saw none among its \(networks[index].packets) packets" : "was not in the replay at all"))
            }
        }
        let unobservable = table.unobservableProtocolNames
        for name in unobservable {
            let because = table.services.first { $0.protocolName == name }?.unobservableBecause
                ?? "which does not travel over IP where packet capture can see it"
            reasons.append("the policy lists \(name), \(because); lanekeeper cannot vouch for where it goes")
        }
        if totals.storagePackets == 0 {
            reasons.append("no storage traffic was seen at all, so there is nothing to judge")
        }
        for source in observation.sources {
            switch source.end {
            case .endOfFile:
                break
            case .cutShort(let offset, let detail):
                warnings.append("\(source.path): cut short at byte \(offset) (\(detail)); read up to the cut")
            case .corrupt(let offset, let detail):
                reasons.append(
                    "\(source.path) is damaged at byte \(offset) (\(detail)); the \(source.frames) frames before it were "
                        + "checked, anything after it was not")
            }
            warnings += source.warnings.map { "\(source.path): \($0)" }
        }
        for (segmentIndex, tally) in observation.orphanFragments.sorted(by: { $0.key < $1.key }) where tally.packets > 0 {
            let segment = observation.segments[Int(segmentIndex)]
            warnings.append(
                "\(tally.packets) IP fragments on \(observation.interfaces[segment.interface].label) never met the first "
                    + "fragment of their datagram (it was not captured), so their ports are unknown")
        }
        if totals.undecodable > 0 {
            warnings.append("\(totals.undecodable) frames could not be decoded (malformed or unsupported headers)")
        }

        let verdict: Verdict = !violations.isEmpty || summarisedViolations.flows > 0 ? .fail : (reasons.isEmpty ? .pass : .inconclusive)
        var result = CheckResult(
            verdict: verdict, reasons: reasons, warnings: warnings, networks: networks, interfaces: interfaces,
            violations: violations, allowed: allowed, unobservableProtocols: unobservable, totals: totals,
            sources: observation.sources)
        result.summarisedViolations = summarisedViolations
        result.unconfirmed = unconfirmed
        result.transit = transit
        result.summarisedUnconfirmed = summarisedUnconfirmed
        return result
    }

    /// How many flows of the management network might be storage, known only by a port
    /// range, naming the first few: "possibly Ceph OSD by port 6900 only (...)".
    static func unconfirmedReason(_ flows: [Violation], table: ProtocolTable) -> String {
        let shown = 5
        let rows = flows.prefix(shown).map { flow in
            let title = table.services.first { $0.name == flow.service }?.title ?? flow.service
            return "possibly \(title) by port \(flow.server.port) only: \(flow.client) -> \(flow.server) "
                + "on \(flow.interface), \(flow.packets) packet\(flow.packets == 1 ? "" : "s")"
        }
        let more = flows.count > shown ? "; and \(flows.count - shown) more (listed as unconfirmed in the report)" : ""
        return "\(flows.count) flow\(flows.count == 1 ? "" : "s") in the management network might be storage but "
            + "\(flows.count == 1 ? "is" : "are") known only by a port range, with no protocol message to confirm it "
            + "(\(rows.joined(separator: "; "))\(more)); capture the start of such a connection, or give the "
            + "service's port in the policy's `ports` if it really is storage"
    }

    private static func tally(_ list: inout [ProtocolTally], _ name: String, _ flows: Int, _ packets: Int, _ bytes: Int) {
        if let index = list.firstIndex(where: { $0.protocolName == name }) {
            list[index].flows += flows
            list[index].packets += packets
            list[index].bytes += bytes
        } else {
            list.append(ProtocolTally(protocolName: name, flows: flows, packets: packets, bytes: bytes))
        }
    }

    static func roleName(_ role: NetworkRole) -> String {
        switch role {
        case .management: "management"
        case .storage: "storage"
        case .other: "other"
        }
    }

    /// `1.2 MB` style, decimal units, for people.
    public static func formatBytes(_ bytes: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths) \(units[unit])"
    }
}
