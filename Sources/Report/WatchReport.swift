import Check
import Frames
import Pipeline

/// The reports of a watch: the replay's reports, plus how each live capture went and, when
/// the watch ran a command, how the command ended.
public enum WatchReport {
    public typealias Command = CommandOutcome

    public static func text(_ outcome: WatchOutcome, command: Command?) -> String {
        ReportWriter.text { writeText(outcome, command: command, into: &$0) }
    }

    /// Writes the text report into `out` as it is made: the replay's, then the live captures
    /// and the command.
    public static func writeText(_ outcome: WatchOutcome, command: Command?, into out: inout ReportWriter) {
        TextReport.write(outcome.result, into: &out)
        out.append("\nLive captures\n")
        for line in captureLines(outcome) { out.append("  \(line)\n") }
        if let command { out.append("\nCommand: \(command.summary)\n") }
    }

    /// A line per watched interface: what was read and dropped, and when.
    static func captureLines(_ outcome: WatchOutcome) -> [String] {
        outcome.interfaces.map { capture in
            guard capture.opened else { return "\(capture.label): not captured" }
            let span = "\(capture.start?.rfc3339 ?? "-") to \(capture.end?.rfc3339 ?? "-")"
            return "\(capture.label): \(capture.frames) packets read, \(capture.statistics.dropped) dropped, \(span)"
        }
    }

    /// The HTML page (see `HTMLReport`), with the packets dropped per interface, each live
    /// capture's span and the command.
    public static func html(
        _ outcome: WatchOutcome, command: Command?, policyPath: String? = nil, policyText: String? = nil
    ) -> String {
        var dropped: [String: Int] = [:]
        for capture in outcome.interfaces { dropped[capture.name, default: 0] += capture.statistics.dropped }
        return HTMLReport.render(
            outcome.result,
            HTMLReportContext(
                title: "lanekeeper watch", policyPath: policyPath, policyText: policyText, timeline: outcome.timeline,
                dropped: dropped, liveCaptures: captureLines(outcome),
                notes: command.map { ["Command: \($0.summary)"] } ?? []))
    }

    public static func json(_ outcome: WatchOutcome, command: Command?, policyPath: String? = nil) -> String {
        ReportWriter.text { writeJSON(outcome, command: command, policyPath: policyPath, into: &$0) }
    }

    /// Writes the JSON report into `out` as it is made, ending with a newline.
    public static func writeJSON(_ outcome: WatchOutcome, command: Command?, policyPath: String? = nil, into out: inout ReportWriter) {
        document(outcome, command: command, policyPath: policyPath).write(into: &out)
        out.append("\n")
    }

    /// The replay's JSON document with, per interface, `dropped`, `capture_start` and
    /// `capture_end` (over its devices, for a switch port captured on its members); `captures`
    /// describing the live captures; `command`; and for a window of a continuous watch, `window`.
    public static func document(
        _ outcome: WatchOutcome, command: Command?, policyPath: String? = nil, window: JSONValue? = nil
    ) -> JSONValue {
        var spans: [String: (dropped: Int, start: Timestamp?, end: Timestamp?)] = [:]
        for capture in outcome.interfaces {
            guard let seen = spans[capture.name] else {
                spans[capture.name] = (capture.statistics.dropped, capture.start, capture.end)
                continue
            }
            let starts = [seen.start, capture.start].compactMap { $0 }
            let ends = [seen.end, capture.end].compactMap { $0 }
            spans[capture.name] = (seen.dropped + capture.statistics.dropped, starts.min { $0.nanoseconds < $1.nanoseconds },
                                   ends.max { $0.nanoseconds < $1.nanoseconds })
        }
        var interfaceMembers: [String: [(String, JSONValue)]] = [:]
        for (name, span) in spans {
            interfaceMembers[name] = [
                ("dropped", .int(span.dropped)),
                ("capture_start", timestamp(span.start)),
                ("capture_end", timestamp(span.end)),
            ]
        }
        return JSONReport.document(
            outcome.result, policyPath: policyPath,
            watch: JSONReport.WatchMembers(
                window: window, interfaceMembers: interfaceMembers, captures: outcome.interfaces.map(capture),
                command: command.map(Self.command)))
    }

    /// A continuous watch's window: the watch report with a `window` member (index, start,
    /// end, seconds, evidence file).
    public static func document(_ window: ContinuousWindow, policyPath: String?) -> JSONValue {
        let seconds = Double(window.end.nanoseconds - window.start.nanoseconds) / 1e9
        return document(
            window.outcome, command: nil, policyPath: policyPath,
            window: .object([
                ("index", .int(window.index)),
                ("start", .string(window.start.rfc3339)),
                ("end", .string(window.end.rfc3339)),
                ("seconds", .number((seconds * 1000).rounded() / 1000)),
                ("evidence", window.evidencePath.map(JSONValue.string) ?? .null),
            ]))
    }

    /// COMMAND as the report's `command` member.
    public static func command(_ command: Command) -> JSONValue {
        .object([
            ("argv", .array(command.argv.map(JSONValue.string))),
            ("exit_status", command.exitStatus.map { .int(Int($0)) } ?? .null),
            ("signal", command.signal.map { .int(Int($0)) } ?? .null),
            ("note", command.note.map(JSONValue.string) ?? .null),
        ])
    }

    /// One line of JSON for a violation as soon as it is seen (standard error, which journald
    /// keeps): `event` is `violation`, then `time`, then the members of a report's
    /// `violations` row that are known when a flow is first judged (not its counts so far,
    /// last packet or tunnel).
    public static func logLine(_ violation: LiveViolation) -> String {
        guard case .object(let members) = JSONReport.violation(violation.row) else { return "" }
        let later: Set<String> = ["tunnel", "packets", "bytes", "last_seen"]
        return JSONValue.object(
            [("event", .string("violation")), ("time", .string(violation.time.rfc3339))] + members.filter { !later.contains($0.0) }
        ).serialized(pretty: false)
    }

    static func capture(_ capture: LiveInterfaceReport) -> JSONValue {
        let end = !capture.opened ? "not_opened" : (capture.problems.isEmpty ? "stopped" : "incomplete")
        return .object([
            ("path", .string("live:\(capture.device)")),
            ("interface", .string(capture.name)),
            ("device", .string(capture.device)),
            ("frames", .int(capture.frames)),
            ("end", .string(end)),
            ("dropped", .int(capture.statistics.dropped)),
            ("kernel_dropped", .int(capture.statistics.kernelDropped)),
            ("interface_dropped", .int(capture.statistics.interfaceDropped)),
            ("capture_start", timestamp(capture.start)),
            ("capture_end", timestamp(capture.end)),
            ("filter", capture.filter.map(JSONValue.string) ?? .null),
            ("problems", .array(capture.problems.map(JSONValue.string))),
            ("warnings", .array(capture.warning.map { [JSONValue.string($0)] } ?? [])),
        ])
    }

    private static func timestamp(_ value: Timestamp?) -> JSONValue {
        value.map { .string($0.rfc3339) } ?? .null
    }
}

extension CommandOutcome {
    /// "ARGV exited with status N (note)", for the text and HTML reports.
    var summary: String {
        let how =
            if let exitStatus { "exited with status \(exitStatus)" } else if let signal { "was killed by signal \(signal)" } else {
                "did not end"
            }
        return "\(argv.joined(separator: " ")) \(how)" + (note.map { " (\($0))" } ?? "")
    }
}
