import ArgumentParser
import Check
import Foundation
import Policy

/// The formats of `audit`.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// The formats of a report on packets (`replay`, `watch`): also a self-contained HTML page.
enum PacketReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, html
}

/// The options every command that judges against a policy shares: the policy, and where the
/// report goes.
struct PolicyReportOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The policy (YAML).", valueName: "POLICY.yaml"))
    var policy: String

    @Option(name: .long, help: ArgumentHelp("Write the report to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    /// Loads the policy; exits 66 when it does not exist, 65 when it cannot be used.
    func loadPolicy() throws -> Policy {
        do {
            return try Policy.load(path: policy)
        } catch {
            printError(error.description)
            throw ExitCode(error.code == .notFound ? ExitStatus.noInput : ExitStatus.dataError)
        }
    }

    /// The policy file's text, for a report that shows it (nil when it cannot be read again).
    func policyText() -> String? {
        try? String(contentsOfFile: policy, encoding: .utf8)
    }

    /// Writes the report and ends with the verdict's exit status, or 74 when the report or
    /// the evidence could not be written (the verdict is still said on stderr).
    func finish(report text: String, verdict: Verdict, evidenceError: String?) throws -> Never {
        do {
            try emit(text, to: output)
        } catch {
            printError("cannot write the report to \(output ?? "standard output"): \(error.localizedDescription)")
            printError("verdict: \(verdict.rawValue)")
            throw ExitCode(ExitStatus.ioError)
        }
        if let evidenceError {
            printError("\(evidenceError) (the verdict, \(verdict.rawValue), stands)")
            throw ExitCode(ExitStatus.ioError)
        }
        throw ExitCode(verdict.exitStatus)
    }
}

/// The options `replay` and `watch` share: the policy, the report's format and destination,
/// and the evidence file.
struct PacketReportOptions: ParsableArguments {
    @OptionGroup var base: PolicyReportOptions

    @Option(name: .long, help: "Report format.")
    var format: PacketReportFormat = .text

    @Option(
        name: .long,
        help: ArgumentHelp("Write every packet of every violating flow to a pcapng file.", valueName: "FILE.pcapng"))
    var evidence: String?

    var policy: String { base.policy }
    var output: String? { base.output }

    func loadPolicy() throws -> Policy { try base.loadPolicy() }

    func finish(report text: String, verdict: Verdict, evidenceError: String?) throws -> Never {
        try base.finish(report: text, verdict: verdict, evidenceError: evidenceError)
    }
}
