import Check
import Frames

/// What the HTML report shows besides the check's result.
public struct HTMLReportContext: Sendable {
    /// The page's title, e.g. `lanekeeper replay`.
    public var title: String
    public var policyPath: String?
    /// The policy file's text, shown as it was written.
    public var policyText: String?
    /// Bytes over time per network (series in policy order, then traffic in no network).
    public var timeline: Timeline?
    /// Packets dropped before lanekeeper read them, per interface name (a watch); nil for a replay.
    public var dropped: [String: Int]?
    /// How each live capture went (a watch), shown instead of the capture files.
    public var liveCaptures: [String]?
    /// More lines about how the report came about (a watch's command).
    public var notes: [String]

    public init(
        title: String, policyPath: String? = nil, policyText: String? = nil, timeline: Timeline? = nil,
        dropped: [String: Int]? = nil, liveCaptures: [String]? = nil, notes: [String] = []
    ) {
        self.title = title
        self.policyPath = policyPath
        self.policyText = policyText
        self.timeline = timeline
        self.dropped = dropped
        self.liveCaptures = liveCaptures
        self.notes = notes
    }
}

/// The report for people who would rather look than read: one self-contained HTML page (see
/// `HTML`) with the verdict as a banner, a timeline per network, the violating flows, the
/// networks and interfaces, the warnings and the policy. It stays quick to open however
/// large the capture: the timeline is binned and tables list the largest flows with totals
/// for the rest.
public enum HTMLReport {
    /// Violating (and allowed) flows listed by name, the largest first.
    public static let maxFlowRows = 200

    public static func render(_ result: CheckResult, _ context: HTMLReportContext) -> String {
        var body = HTML.banner(
            HTML.Tone(rawValue: result.verdict.rawValue) ?? .inconclusive, headline: TextReport.headline(result.verdict),
            reasons: result.reasons)
        let t = result.totals
        var summary = "\(t.packets) packets (\(Checker.formatBytes(t.bytes))), \(t.flows) flows, \(t.storageFlows) "
            + "storage flows carrying \(t.storagePackets) packets (\(Checker.formatBytes(t.storageBytes)))"
        if let policyPath = context.policyPath { summary += "; policy \(policyPath)" }
        body += HTML.paragraph(summary, class: "meta")
        for note in context.notes { body += HTML.paragraph(note, class: "meta") }

        body += HTML.section("Timeline", id: "timeline", timeline(result, context.timeline))
        if !result.violations.isEmpty {
            body += HTML.section(
                "Violations", id: "violations",
                HTML.paragraph("Storage flows in the management network that no allow entry covers, largest first.")
                    + flowTable(result.violations, class: "violations"))
        }
        if !result.allowed.isEmpty {
            body += HTML.section(
                "Allowed by the policy", id: "allowed",
                HTML.details("\(result.allowed.count) storage flows in the management network that an allow entry covers",
                             flowTable(result.allowed, class: "allowed")))
        }
        if !result.unconfirmed.isEmpty {
            body += HTML.section(
                "Possibly storage", id: "unconfirmed",
                HTML.paragraph(
                    "Flows in the management network known as storage only by a port range, which no protocol message "
                        + "confirmed: the verdict is inconclusive because of them, not failed.")
                    + flowTable(result.unconfirmed, class: "unconfirmed"))
        }
        if !result.transit.isEmpty {
            body += HTML.section(
                "Transit", id: "transit",
                HTML.details(
                    "\(result.transit.count) storage flows in the management network between addresses that are not "
                        + "the host's (host_addresses): another machine's traffic bridged through it, not violations",
                    flowTable(result.transit, class: "transit")))
        }
        body += HTML.section("Networks", id: "networks", networks(result))
        body += HTML.section("Interfaces", id: "interfaces", interfaces(result, dropped: context.dropped))
        if !result.warnings.isEmpty {
            body += HTML.section("Warnings", id: "warnings", HTML.list(result.warnings))
        }
        body += HTML.section(
            "Captures", id: "captures", context.liveCaptures.map { HTML.list($0) } ?? captures(result.sources))
        if context.policyText != nil || context.policyPath != nil {
            var policy = context.policyPath.map { HTML.paragraph($0, class: "meta") } ?? ""
            if let text = context.policyText { policy += HTML.preformatted(text) }
            body += HTML.section("Policy", id: "policy", policy)
        }
        body += "<footer>\(HTML.escape(context.title)) · lanekeeper HTML report</footer>\n"
        return HTML.page(title: "\(context.title): \(result.verdict.rawValue)", body: body)
    }

    // MARK: - Sections

    static func timeline(_ result: CheckResult, _ timeline: Timeline?) -> String {
        guard let timeline, !timeline.isEmpty else {
            return HTML.paragraph("No timeline: no packets were seen, or the captures could not be read a second time.")
        }
        let binSeconds = Double(timeline.binWidth) / 1e9
        var out = "<div class=\"legend\"><span><span class=\"key other\"></span>other traffic</span>"
            + "<span><span class=\"key storage\"></span>storage traffic</span>"
            + "<span><span class=\"key mark\"></span>violating flows, first to last packet</span></div>\n"
        out += HTML.paragraph(
            "Bytes per second in bins of \(TimelineChart.duration(binSeconds)) from "
                + "\(Timestamp(nanoseconds: timeline.start).rfc3339); a packet counts as storage when its flow was "
                + "judged storage.", class: "meta")
        var names = result.networks.map { "\($0.name) (\($0.role))" }
        names.append("in no network")
        for (index, name) in names.enumerated() where index < timeline.series.count {
            let total = (0..<timeline.count).reduce(0) {
                $0 + timeline.bytes(series: index, bin: $1, storage: true)
                    + timeline.bytes(series: index, bin: $1, storage: false)
            }
            let isNetwork = index < result.networks.count
            if !isNetwork && total == 0 { continue }
            out += "<figure>\n<figcaption>\(HTML.escape(name))"
            if total == 0 {
                out += " <span class=\"meta\">no traffic</span></figcaption>\n</figure>\n"
                continue
            }
            let networkName = isNetwork ? result.networks[index].name : nil
            let inNetwork = networkName.map { network in result.violations.filter { $0.network == network } } ?? []
            let violating = inNetwork.count
            let spans = top(inNetwork).shown.map {
                TimelineChart.Span(
                    first: $0.firstSeen.nanoseconds, last: $0.lastSeen.nanoseconds,
                    label: "\($0.protocolName) \($0.client) → \($0.server) on \($0.interface): \($0.packets) packets, "
                        + "\(Checker.formatBytes($0.bytes))")
            }
            let storage = isNetwork ? result.networks[index].storageBytes : 0
            out += " <span class=\"meta\">\(HTML.escape(Checker.formatBytes(total)))"
                + (isNetwork ? ", \(HTML.escape(Checker.formatBytes(storage))) storage" : "")
                + (spans.isEmpty ? "" : ", " + marked(spans.count, of: violating))
                + "</span></figcaption>\n"
            out += TimelineChart.svg(timeline, series: index, spans: spans, label: "Bytes per second in \(name)")
            out += "</figure>\n"
        }
        return out
    }

    static func marked(_ shown: Int, of all: Int) -> String {
        shown == all
            ? "\(all) violating flow\(all == 1 ? "" : "s") marked"
            : "the \(shown) largest of \(all) violating flows marked"
    }

    /// The largest `maxFlowRows` flows, and what the rest add up to.
    static func top(_ records: [Violation]) -> (shown: [Violation], rest: (flows: Int, packets: Int, bytes: Int)) {
        guard records.count > maxFlowRows else { return (records.sorted { $0.bytes > $1.bytes }, (0, 0, 0)) }
        let sorted = records.sorted { $0.bytes > $1.bytes }
        let rest = sorted[maxFlowRows...]
        return (
            Array(sorted[..<maxFlowRows]),
            (rest.count, rest.reduce(0) { $0 + $1.packets }, rest.reduce(0) { $0 + $1.bytes })
        )
    }

    static func flowTable(_ records: [Violation], class name: String) -> String {
        let (shown, rest) = top(records)
        var rows = shown.map { record in
            // The last packet's date only when it differs from the first's.
            let first = shortTime(record.firstSeen)
            var last = shortTime(record.lastSeen)
            if last.prefix(11) == first.prefix(11) { last = String(last.dropFirst(11)) }
            let seen = first == shortTime(record.lastSeen) ? first : "\(first) – \(last)"
            var what = "\(record.protocolName)"
            if record.service != record.protocolName { what += " (\(record.service))" }
            what += " over \(record.transport)"
            if let tunnel = record.tunnelPhrase { what += " \(tunnel)" }
            return HTML.Row([
                record.interface, record.vlan.map(String.init) ?? "–", what, "\(record.recognition) (\(record.evidence))",
                record.client.description, record.server.description, String(record.packets),
                Checker.formatBytes(record.bytes), seen,
            ])
        }
        if rest.flows > 0 {
            rows.append(
                HTML.Row(
                    ["… and \(rest.flows) more flows, \(rest.packets) packets, \(Checker.formatBytes(rest.bytes))"],
                    class: "rest"))
        }
        return HTML.table(
            header: [
                "Interface", "VLAN", "Protocol", "Recognised by", "Client", "Server", "Packets", "Bytes",
                "First – last packet (UTC)",
            ],
            rows: rows, numeric: [1, 6, 7], class: "flows " + name)
    }

    static func networks(_ result: CheckResult) -> String {
        HTML.table(
            header: [
                "Network", "Role", "Interfaces", "Packets", "Bytes", "Storage packets", "Storage bytes", "By protocol",
            ],
            rows: result.networks.map { network in
                HTML.Row([
                    network.name, network.role, network.interfaces.joined(separator: ", "), String(network.packets),
                    Checker.formatBytes(network.bytes), String(network.storagePackets),
                    Checker.formatBytes(network.storageBytes), TextReport.protocols(network),
                ])
            },
            numeric: [3, 4, 5, 6])
    }

    static func interfaces(_ result: CheckResult, dropped: [String: Int]?) -> String {
        var header = [
            "Interface", "Network", "Packets", "Bytes", "Storage packets", "Storage bytes", "Truncated", "Undecodable",
        ]
        if dropped != nil { header.append("Dropped") }
        header.append("By protocol")
        let rows = result.interfaces.map { interface in
            var cells = [
                interface.label, interface.network ?? "–", String(interface.packets), Checker.formatBytes(interface.bytes),
                String(interface.storagePackets), Checker.formatBytes(interface.storageBytes), String(interface.truncated),
                String(interface.undecodable),
            ]
            if let dropped { cells.append(interface.name.flatMap { dropped[$0] }.map(String.init) ?? "–") }
            cells.append(TextReport.protocols(interface.byProtocol))
            return HTML.Row(cells)
        }
        return HTML.table(header: header, rows: rows, numeric: Set(2..<(dropped == nil ? 8 : 9)))
    }

    static func captures(_ sources: [SourceSummary]) -> String {
        HTML.table(
            header: ["Capture", "Frames", "End", "Warnings"],
            rows: sources.map { source in
                let end: String
                switch source.end {
                case .endOfFile: end = "complete"
                case .cutShort(let offset, let detail): end = "cut short at byte \(offset): \(detail)"
                case .corrupt(let offset, let detail): end = "damaged at byte \(offset): \(detail)"
                }
                return HTML.Row([source.path, String(source.frames), end, source.warnings.joined(separator: "; ")])
            },
            numeric: [1])
    }

    /// `2026-11-25 13:09:14.123` (UTC, milliseconds).
    static func shortTime(_ time: Timestamp) -> String {
        String(time.rfc3339.prefix(23).map { $0 == "T" ? " " : $0 })
    }
}
