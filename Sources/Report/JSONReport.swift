import Check
import Flows

/// The machine-readable report, version 1. Fields may be added; the ones docs/reports.md
/// documents are never renamed.
public enum JSONReport {
    public static let version = 1

    /// Writes the report into `out` as it is made, ending with a newline.
    public static func write(_ result: CheckResult, policyPath: String? = nil, into out: inout ReportWriter) {
        document(result, policyPath: policyPath).write(into: &out)
        out.append("\n")
    }

    /// The report as a String (`write` into memory).
    public static func render(_ result: CheckResult, policyPath: String? = nil) -> String {
        ReportWriter.text { write(result, policyPath: policyPath, into: &$0) }
    }

    /// What a live watch's report has beside a replay's, each member built where it goes:
    /// `mode` (and a continuous watch's `window`) after `tool`, per interface its capture's
    /// members, `captures` describing the live captures, `command` last.
    public struct WatchMembers {
        public var window: JSONValue?
        /// Members added to the interface of that name (`dropped`, `capture_start`, `capture_end`).
        public var interfaceMembers: [String: [(String, JSONValue)]]
        public var captures: [JSONValue]
        public var command: JSONValue?

        public init(
            window: JSONValue? = nil, interfaceMembers: [String: [(String, JSONValue)]], captures: [JSONValue], command: JSONValue?
        ) {
            self.window = window
            self.interfaceMembers = interfaceMembers
            self.captures = captures
            self.command = command
        }
    }

    public static func document(_ result: CheckResult, policyPath: String? = nil, watch: WatchMembers? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("version", .int(version)),
            ("tool", .string("lanekeeper")),
        ]
        if let watch {
            members.append(("mode", .string("watch")))
            if let window = watch.window { members.append(("window", window)) }
        }
        members += [
            ("verdict", .string(result.verdict.rawValue)),
            ("reasons", .array(result.reasons.map(JSONValue.string))),
            ("warnings", .array(result.warnings.map(JSONValue.string))),
        ]
        if let policyPath { members.append(("policy", .string(policyPath))) }
        members += [
            ("networks", .array(result.networks.map(network))),
            (
                "interfaces",
                .array(
                    result.interfaces.map { summary in
                        interface(summary, adding: summary.name.flatMap { watch?.interfaceMembers[$0] } ?? [])
                    })
            ),
            ("violations", .lazyArray(result.violations, violation)),
            ("allowed", .lazyArray(result.allowed, violation)),
            ("unconfirmed", .lazyArray(result.unconfirmed, violation)),
            ("transit", .lazyArray(result.transit, violation)),
            ("unobservable_protocols", .array(result.unobservableProtocols.map(JSONValue.string))),
            ("totals", totals(result.totals)),
            ("captures", .array(watch?.captures ?? result.sources.map(source))),
        ]
        if let command = watch?.command { members.append(("command", command)) }
        return .object(members)
    }

    static func network(_ summary: NetworkSummary) -> JSONValue {
        .object([
            ("name", .string(summary.name)),
            ("role", .string(summary.role)),
            ("packets", .int(summary.packets)),
            ("bytes", .int(summary.bytes)),
            ("storage_packets", .int(summary.storagePackets)),
            ("storage_bytes", .int(summary.storageBytes)),
            ("protocols", protocols(summary.byProtocol)),
            ("interfaces", .array(summary.interfaces.map(JSONValue.string))),
            ("transit_flows", .int(summary.transitFlows)),
            ("transit_packets", .int(summary.transitPackets)),
            ("transit_bytes", .int(summary.transitBytes)),
        ])
    }

    static func interface(_ summary: InterfaceSummary, adding extra: [(String, JSONValue)] = []) -> JSONValue {
        .object([
            ("name", summary.name.map(JSONValue.string) ?? .null),
            ("label", .string(summary.label)),
            ("network", summary.network.map(JSONValue.string) ?? .null),
            ("packets", .int(summary.packets)),
            ("bytes", .int(summary.bytes)),
            ("storage_packets", .int(summary.storagePackets)),
            ("storage_bytes", .int(summary.storageBytes)),
            ("decoded", .int(summary.decoded)),
            ("truncated", .int(summary.truncated)),
            ("undecodable", .int(summary.undecodable)),
            ("protocols", protocols(summary.byProtocol)),
        ] + extra)
    }

    static func violation(_ record: Violation) -> JSONValue {
        .object([
            ("interface", .string(record.interface)),
            ("network", .string(record.network)),
            ("protocol", .string(record.protocolName)),
            ("service", .string(record.service)),
            ("recognized_by", .string(record.recognition)),
            ("evidence", .string(record.evidence.description)),
            ("transport", .string(record.transport)),
            ("vlan", record.vlan.map { .int(Int($0)) } ?? .null),
            ("client", .string(record.client.description)),
            ("server", .string(record.server.description)),
            (
                "tunnel",
                record.tunnel.map {
                    // ERSPAN's outer addresses are the mirror's, not the client's and the server's.
                    let mirrored = $0.kind == "erspan"
                    return .object([
                        ("kind", .string($0.kind)), ("id", .int(Int($0.id))),
                        (mirrored ? "mirror_source" : "outer_client", .string($0.outerClient.description)),
                        (mirrored ? "mirror_destination" : "outer_server", .string($0.outerServer.description)),
                    ])
                } ?? .null
            ),
            ("packets", .int(record.packets)),
            ("bytes", .int(record.bytes)),
            ("first_seen", .string(record.firstSeen.rfc3339)),
            ("last_seen", .string(record.lastSeen.rfc3339)),
        ])
    }

    static func protocols(_ tallies: [ProtocolTally]) -> JSONValue {
        .object(
            tallies.map {
                ($0.protocolName, .object([("flows", .int($0.flows)), ("packets", .int($0.packets)), ("bytes", .int($0.bytes))]))
            })
    }

    static func totals(_ totals: CheckResult.Totals) -> JSONValue {
        .object([
            ("packets", .int(totals.packets)),
            ("bytes", .int(totals.bytes)),
            ("decoded", .int(totals.decoded)),
            ("truncated", .int(totals.truncated)),
            ("undecodable", .int(totals.undecodable)),
            ("flows", .int(totals.flows)),
            ("storage_flows", .int(totals.storageFlows)),
            ("storage_packets", .int(totals.storagePackets)),
            ("storage_bytes", .int(totals.storageBytes)),
        ])
    }

    static func source(_ summary: SourceSummary) -> JSONValue {
        var members: [(String, JSONValue)] = [("path", .string(summary.path)), ("frames", .int(summary.frames))]
        switch summary.end {
        case .endOfFile:
            members.append(("end", .string("complete")))
        case .cutShort(let offset, let detail):
            members += [("end", .string("cut_short")), ("offset", .int(Int(offset))), ("detail", .string(detail))]
        case .corrupt(let offset, let detail):
            members += [("end", .string("corrupt")), ("offset", .int(Int(offset))), ("detail", .string(detail))]
        }
        members.append(("warnings", .array(summary.warnings.map(JSONValue.string))))
        return .object(members)
    }
}
