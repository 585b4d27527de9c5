import Check

/// The report for a person: the verdict first, then a table per network and per interface,
/// then each violation, then warnings.
public enum TextReport {
    public static func render(_ result: CheckResult) -> String {
        var out = "lanekeeper \(headline(result.verdict))\n"
        for reason in result.reasons { out += "  - \(reason)\n" }

        out += "\nNetworks\n"
        var networkRows = [["NETWORK", "ROLE", "PACKETS", "STORAGE PKTS", "STORAGE BYTES", "BY PROTOCOL"]]
        for network in result.networks {
            networkRows.append([
                network.name, network.role, String(network.packets), String(network.storagePackets),
                Checker.formatBytes(network.storageBytes), protocols(network),
            ])
        }
        out += table(networkRows, rightAligned: [2, 3, 4])

        out += "\nInterfaces\n"
        var interfaceRows = [["INTERFACE", "NETWORK", "PACKETS", "STORAGE PKTS", "STORAGE BYTES", "BY PROTOCOL"]]
        for interface in result.interfaces {
            interfaceRows.append([
                interface.label, interface.network ?? "-", String(interface.packets), String(interface.storagePackets),
                Checker.formatBytes(interface.storageBytes), protocols(interface.byProtocol),
            ])
        }
        out += table(interfaceRows, rightAligned: [2, 3, 4])

        if !result.violations.isEmpty {
            out += "\nViolations\n"
            out += violations(result.violations)
        }
        if !result.allowed.isEmpty {
            out += "\nAllowed by the policy\n"
            out += violations(result.allowed)
        }
        if !result.unconfirmed.isEmpty {
            out += "\nPossibly storage, known only by a port range (inconclusive, not violations)\n"
            out += violations(result.unconfirmed)
        }
        if !result.transit.isEmpty {
            out += "\nTransit: another machine's storage bridged through the host (not violations)\n"
            out += violations(result.transit)
        }
        if !result.warnings.isEmpty {
            out += "\nWarnings\n"
            for warning in result.warnings { out += "  - \(warning)\n" }
        }
        let t = result.totals
        out += "\nTotals: \(t.packets) packets (\(t.decoded) decoded, \(t.truncated) truncated, "
            + "\(t.undecodable) undecodable), \(t.flows) flows, \(t.storageFlows) storage flows, "
            + "\(t.storagePackets) storage packets (\(Checker.formatBytes(t.storageBytes)))\n"
        return out
    }

    /// The verdict in one line, for people (`FAIL: storage traffic crossed ...`).
    public static func headline(_ verdict: Verdict) -> String {
        switch verdict {
        case .pass: "PASS: storage traffic stayed off the management network"
        case .fail: "FAIL: storage traffic crossed the management network"
        case .inconclusive: "INCONCLUSIVE: lanekeeper could not see enough to decide"
        }
    }

    static func violations(_ records: [Violation]) -> String {
        var out = ""
        for (number, record) in records.enumerated() {
            let vlan = record.vlan.map { ", VLAN \($0)" } ?? ""
            let service = record.service == record.protocolName ? "" : " (\(record.service))"
            out += "  \(number + 1). \(record.protocolName)\(service) over \(record.transport) on \(record.interface)"
                + " [\(record.network)\(vlan)]: \(record.client) -> \(record.server)\n"
            if let tunnel = record.tunnelPhrase { out += "     \(tunnel)\n" }
            out += "     \(record.packets) packets, \(Checker.formatBytes(record.bytes)), "
                + "\(record.firstSeen.rfc3339) to \(record.lastSeen.rfc3339); recognised by \(record.recognition) (\(record.evidence))\n"
        }
        return out
    }

    /// A network's storage by protocol, and the part of it that was transit.
    static func protocols(_ network: NetworkSummary) -> String {
        let transit = network.transitFlows == 0 ? ""
            : "; transit \(network.transitFlows) flow\(network.transitFlows == 1 ? "" : "s") / \(network.transitPackets) pkts"
        return protocols(network.byProtocol) + transit
    }

    static func protocols(_ tallies: [ProtocolTally]) -> String {
        if tallies.isEmpty { return "-" }
        return tallies.map { "\($0.protocolName) \($0.packets) pkts / \(Checker.formatBytes($0.bytes))" }
            .joined(separator: ", ")
    }

    /// Left-aligned columns, except the ones listed, with two spaces between.
    public static func table(_ rows: [[String]], rightAligned: Set<Int>) -> String {
        guard let columns = rows.first?.count else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() where index < columns { widths[index] = max(widths[index], cell.count) }
        }
        var out = ""
        for row in rows {
            var line = "  "
            for (index, cell) in row.enumerated() where index < columns {
                let gap = String(repeating: " ", count: widths[index] - cell.count)
                let isLast = index == columns - 1
                line += rightAligned.contains(index) ? gap + cell : cell + (isLast ? "" : gap)
                if !isLast { line += "  " }
            }
            out += line + "\n"
        }
        return out
    }
}
