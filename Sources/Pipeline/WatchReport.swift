import Check
import Frames
import Report

/// The reports of a watch: the replay's reports, plus how each live capture went and, when
/// the watch ran a command, how the command ended.
public enum WatchReport {
    /// The command a watch ran (`lanekeeper watch ... -- COMMAND`) and how it ended.
    public struct Command: Sendable, Equatable {
        public var argv: [String]
        /// Its exit status, when it exited.
        public var exitStatus: Int32?
        /// The signal that ended it, when one did.
        public var signal: Int32?
        /// Anything worth saying (e.g. lanekeeper ended it when the watch stopped first).
        public var note: String?

        public init(argv: [String], exitStatus: Int32? = nil, signal: Int32? = nil, note: String? = nil) {
            self.argv = argv
            self.exitStatus = exitStatus
            self.signal = signal
            self.note = note
        }

        var summary: String {
            let how =
                if let exitStatus { "exited with status \(exitStatus)" } else if let signal { "was killed by signal \(signal)" } else {
                    "did not end"
                }
            return "\(argv.joined(separator: " ")) \(how)" + (note.map { " (\($0))" } ?? "")
        }
    }

    public static func text(_ outcome: WatchOutcome, command: Command?) -> String {
        var out = TextReport.render(outcome.result)
        out += "\nLive captures\n"
        for line in captureLines(outcome) { out += "  \(line)\n" }
        if let command { out += "\nCommand: \(command.summary)\n" }
        return out
    }

    /// A line per watched interface: what was read and dropped, and when.
    static func captureLines(_ outcome: WatchOutcome) -> [String] {
        outcome.interfaces.map { capture in
            guard capture.opened else { return "\(capture.name): not captured" }
            let span = "\(capture.start?.rfc3339 ?? "-") to \(capture.end?.rfc3339 ?? "-")"
            return "\(capture.name): \(capture.frames) packets read, \(capture.statistics.dropped) dropped, \(span)"
        }
    }

    /// The HTML page (see `HTMLReport`), with the packets dropped per interface, each live
    /// capture's span and the command.
    public static func html(
        _ outcome: WatchOutcome, command: Command?, policyPath: String? = nil, policyText: String? = nil
    ) -> String {
        var dropped: [String: Int] = [:]
        for capture in outcome.interfaces { dropped[capture.name] = capture.statistics.dropped }
        return HTMLReport.render(
            outcome.result,
            HTMLReportContext(
                title: "lanekeeper watch", policyPath: policyPath, policyText: policyText, timeline: outcome.timeline,
                dropped: dropped, liveCaptures: captureLines(outcome),
                notes: command.map { ["Command: \($0.summary)"] } ?? []))
    }

    public static func json(_ outcome: WatchOutcome, command: Command?, policyPath: String? = nil) -> String {
        document(outcome, command: command, policyPath: policyPath).serialized() + "\n"
    }

    /// The replay's JSON document with, per interface, `dropped`, `capture_start` and
    /// `capture_end`; `captures` describing the live captures; and `command`.
    public static func document(_ outcome: WatchOutcome, command: Command?, policyPath: String? = nil) -> JSONValue {
        guard case .object(var members) = JSONReport.document(outcome.result, policyPath: policyPath) else {
            return JSONReport.document(outcome.result, policyPath: policyPath)
        }
        var byName: [String: LiveInterfaceReport] = [:]
        for capture in outcome.interfaces { byName[capture.name] = capture }
        for (index, member) in members.enumerated() {
            switch member.0 {
            case "interfaces":
                guard case .array(let entries) = member.1 else { continue }
                members[index].1 = .array(
                    entries.map { entry in
                        guard case .object(let fields) = entry,
                            let nameField = fields.first(where: { $0.0 == "name" }), case .string(let name) = nameField.1,
                            let capture = byName[name]
                        else { return entry }
                        return .object(
                            fields + [
                                ("dropped", .int(capture.statistics.dropped)),
                                ("capture_start", timestamp(capture.start)),
                                ("capture_end", timestamp(capture.end)),
                            ])
                    })
            case "captures":
                members[index].1 = .array(outcome.interfaces.map(capture))
            default:
                break
            }
        }
        members.insert(("mode", .string("watch")), at: 2)
        if let command {
            members.append(
                (
                    "command",
                    .object([
                        ("argv", .array(command.argv.map(JSONValue.string))),
                        ("exit_status", command.exitStatus.map { .int(Int($0)) } ?? .null),
                        ("signal", command.signal.map { .int(Int($0)) } ?? .null),
                        ("note", command.note.map(JSONValue.string) ?? .null),
                    ])
                ))
        }
        return .object(members)
    }

    static func capture(_ capture: LiveInterfaceReport) -> JSONValue {
        let end = !capture.opened ? "not_opened" : (capture.problems.isEmpty ? "stopped" : "incomplete")
        return .object([
            ("path", .string("live:\(capture.name)")),
            ("interface", .string(capture.name)),
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
