import Check

/// The report for a person: the verdict first, then a table per network and per interface,
/// then each violation, then warnings.
public enum TextReport {
    /// The report as a String (`write` into memory).
    public static func render(_ result: CheckResult) -> String {
        ReportWriter.text { write(result, into: &$0) }
    }

    /// Writes the report into `out` as it is made.
    public static func write(_ result: CheckResult, into out: inout ReportWriter) {
        out.append("lanekeeper \(headline(result.verdict))\n")
        for reason in result.reasons { out.append("  - \(reason)\n") }

        out.append("\nNetworks\n")
        var networkRows = [["NETWORK", "ROLE", "PACKETS", "STORAGE PKTS", "STORAGE BYTES", "BY PROTOCOL"]]
        for network in result.networks {
            networkRows.append([
                network.name, network.role, String(network.packets), String(network.storagePackets),
                Checker.formatBytes(network.storageBytes), protocols(network),
            ])
        }
        out.append(table(networkRows, rightAligned: [2, 3, 4]))

        out.append("\nInterfaces\n")
        var interfaceRows = [["INTERFACE", "NETWORK", "PACKETS", "STORAGE PKTS", "STORAGE BYTES", "BY PROTOCOL"]]
        for interface in result.interfaces {
            interfaceRows.append([
                interface.label, interface.network ?? "-", String(interface.packets), String(interface.storagePackets),
                Checker.formatBytes(interface.storageBytes), protocols(interface.byProtocol),
            ])
        }
        out.append(table(interfaceRows, rightAligned: [2, 3, 4]))

        let sections: [(title: StaticString, records: [Violation])] = [
            ("\nViolations\n", result.violations),
            ("\nAllowed by the policy\n", result.allowed),
            ("\nPossibly storage, known only by a port range (inconclusive, not violations)\n", result.unconfirmed),
            ("\nTransit: another machine's storage bridged through the host (not violations)\n", result.transit),
        ]
        for section in sections where !section.records.isEmpty {
            out.append(section.title)
            violations(section.records, into: &out)
        }
        if !result.warnings.isEmpty {
            out.append("\nWarnings\n")
            for warning in result.warnings { out.append("  - \(warning)\n") }
        }
        let t = result.totals
        out.append(
            "\nTotals: \(t.packets) packets (\(t.decoded) decoded, \(t.truncated) truncated, "
                + "\(t.undecodable) undecodable), \(t.flows) flows, \(t.storageFlows) storage flows, "
                + "\(t.storagePackets) storage packets (\(Checker.formatBytes(t.storageBytes)))\n")
    }

    /// The verdict in one line, for people (`FAIL: storage traffic crossed ...`).
    public static func headline(_ verdict: Verdict) -> String {
        switch verdict {
        case .pass: "PASS: storage traffic stayed off the management network"
        case .fail: "FAIL: storage traffic crossed the management network"
        case .inconclusive: "INCONCLUSIVE: lanekeeper could not see enough to decide"
        }
    }

    /// A numbered entry per record, written piece by piece (a million of them on a flooded
    /// management network: no line is built as a String of its own).
    static func violations(_ records: [Violation], into out: inout ReportWriter) {
        for (number, record) in records.enumerated() {
            // The sink failed (a full disk): the rest would go nowhere.
            if out.failed { return }
            out.append("  ")
            out.append(number + 1)
            out.append(". ")
            out.append(record.protocolName)
            if record.service != record.protocolName {
                out.append(" (")
                out.append(record.service)
                out.append(")")
            }
            out.append(" over ")
            out.append(record.transport)
            out.append(" on ")
            out.append(record.interface)
            out.append(" [")
            out.append(record.network)
            if let vlan = record.vlan {
                out.append(", VLAN ")
                out.append(Int(vlan))
            }
            out.append("]: ")
            out.append(record.client.description)
            out.append(" -> ")
            out.append(record.server.description)
            out.append("\n")
            if let tunnel = record.tunnelPhrase {
                out.append("     ")
                out.append(tunnel)
                out.append("\n")
            }
            out.append("     ")
            out.append(record.packets)
            out.append(" packets, ")
            out.append(Checker.formatBytes(record.bytes))
            out.append(", ")
            out.append(record.firstSeen.rfc3339)
            out.append(" to ")
            out.append(record.lastSeen.rfc3339)
            out.append("; recognised by ")
            out.append(record.recognition)
            out.append(" (")
            out.append(record.evidence.description)
            out.append(")\n")
        }
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
