import ArgumentParser
import Capture
import Check
import Foundation
import Pipeline
import Policy
import Report

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

    @Flag(name: .long, help: "Replace the report or evidence file if it exists (otherwise refused: exit 73).")
    var force = false

    /// Loads the policy; exits 66 when it does not exist, 65 when it cannot be used.
    func loadPolicy() throws -> Policy {
        try parsePolicy(readPolicy())
    }

    /// The policy file's text, not parsed; exits 66 when it does not exist, 65 when it cannot be read.
    func readPolicy() throws -> String {
        do {
            return try Policy.read(path: policy)
        } catch {
            printError(error.description)
            throw ExitCode(error.code == .notFound ? ExitStatus.noInput : ExitStatus.dataError)
        }
    }

    /// `text`, read from the policy file, parsed; exits 65 when it cannot be used.
    func parsePolicy(_ text: String) throws -> Policy {
        do {
            return try Policy.parse(text, path: policy)
        } catch {
            printError(error.description)
            throw ExitCode(ExitStatus.dataError)
        }
    }

    /// The policy file's text, for a report that shows it (nil when it cannot be read again).
    func policyText() -> String? {
        try? String(contentsOfFile: policy, encoding: .utf8)
    }

    /// Creates the report's staging file now (exits 73 when it exists and --force was not
    /// given, 74 when it cannot be created).
    func openReport(files: any OutputFiles = LocalFiles()) throws -> ReportDestination {
        try ReportDestination(path: output, force: force, files: files)
    }

    /// Writes the report and ends with the verdict's exit status.
    ///
    /// When the report or the evidence could not be written (a full disk), the error names
    /// the file and the reason, a report meant for a file is printed on standard output
    /// instead, and the verdict stands: a fail still exits 1 and an inconclusive 2, so an
    /// I/O error never hides a violation; only a pass becomes 74, so that a caller who
    /// checks for 0 does not take a missing report or evidence file for a clean result.
    ///
    /// `report` writes the report into the writer it is given, as it is made (it runs again,
    /// onto standard output, when the file could not be written).
    func finish(
        report: (inout ReportWriter) -> Void, verdict: Verdict, evidenceError: String?, destination: ReportDestination? = nil
    ) throws -> Never {
        throw ExitCode(try conclude(report: report, verdict: verdict, evidenceError: evidenceError, destination: destination))
    }

    /// What `finish` does, returning the exit status instead of exiting.
    func conclude(
        report: (inout ReportWriter) -> Void, verdict: Verdict, evidenceError: String?, destination: ReportDestination? = nil
    ) throws -> Int32 {
        concludeReport(report, verdict: verdict, evidenceError: evidenceError, destination: try destination ?? openReport(),
                       output: output)
    }

    /// Exits 73 when `path` or `path.partial` exists and --force was not given (an evidence
    /// file a replay writes only at the end: refused before any work).
    func refuseExistingEvidence(_ path: String?) throws {
        guard let path, !force else { return }
        for candidate in [path, path + OutputFile.partialSuffix] {
            var status = stat()
            if lstat(candidate, &status) == 0 && (status.st_mode & S_IFMT == S_IFREG || status.st_mode & S_IFMT == S_IFLNK) {
                printError("\(candidate): it already exists; lanekeeper does not replace a file unless given --force")
                throw ExitCode(ExitStatus.cannotCreate)
            }
        }
    }
}

/// The options `replay` and `watch` share: the policy, the report's format and destination,
/// and the evidence file.
struct PacketReportOptions: ParsableArguments {
    @OptionGroup var base: PolicyReportOptions

    @Option(name: .customLong("format"), help: "Report format (default: text).")
    var chosenFormat: PacketReportFormat?

    /// The report's format: as given, else text (a continuous watch writes JSON whatever this says).
    var format: PacketReportFormat { chosenFormat ?? .text }

    @Option(
        name: .long,
        help: ArgumentHelp("Write every packet of every violating flow to a pcapng file.", valueName: "FILE.pcapng"))
    var evidence: String?

    var policy: String { base.policy }
    var output: String? { base.output }

    func loadPolicy() throws -> Policy { try base.loadPolicy() }

    var force: Bool { base.force }

    func openReport(files: any OutputFiles = LocalFiles()) throws -> ReportDestination { try base.openReport(files: files) }

    func finish(
        report: (inout ReportWriter) -> Void, verdict: Verdict, evidenceError: String?, destination: ReportDestination? = nil
    ) throws -> Never {
        try base.finish(report: report, verdict: verdict, evidenceError: evidenceError, destination: destination)
    }

    func conclude(
        report: (inout ReportWriter) -> Void, verdict: Verdict, evidenceError: String?, destination: ReportDestination? = nil
    ) throws -> Int32 {
        try base.conclude(report: report, verdict: verdict, evidenceError: evidenceError, destination: destination)
    }
}

/// Writes the report `report` makes to `destination` (`output` its file, nil for standard
/// output) as it is made, and returns the verdict's exit status; see `PolicyReportOptions.finish`.
func concludeReport(
    _ report: (inout ReportWriter) -> Void, verdict: Verdict, evidenceError: String?, destination: ReportDestination,
    output: String?
) -> Int32 {
    var failed = false
    do {
        try destination.write(report)
    } catch {
        failed = true
        printError("cannot write the report to \(output ?? "standard output"): \(error.path): \(error.detail)")
        if output != nil {
            printError("the report follows on standard output instead")
            do {
                try ReportDestination.stream(report, into: DescriptorReportSink.standardOutput)
            } catch {
                printError("cannot write the report to standard output either: \(error.detail)")
            }
        }
    }
    if let evidenceError {
        failed = true
        printError(evidenceError)
    }
    if failed {
        printError("verdict: \(verdict.rawValue) (it stands)")
        return verdict == .pass ? ExitStatus.ioError : verdict.exitStatus
    }
    return verdict.exitStatus
}

/// `--max-flows`, replay's and watch's bound on the flows held live.
struct FlowBoundOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Keep at most N flows live (watch: per interface), so that memory stays bounded under a flood of new "
                + "flows; beyond it a flow not seen for a while is finished, its counts kept. At least 16.",
            valueName: "N"))
    var maxFlows: Int = ReplayConfiguration.defaultMaxFlows

    func validate() throws {
        if maxFlows < 16 {
            throw ValidationError("--max-flows \(maxFlows): give at least 16")
        }
    }
}
