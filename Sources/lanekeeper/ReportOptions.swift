import ArgumentParser
import Check
import Foundation
import Policy

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// The options `replay` and `watch` share: the policy, and where the report and the
/// evidence go.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The policy (YAML).", valueName: "POLICY.yaml"))
    var policy: String

    @Option(name: .long, help: "Report format.")
    var format: ReportFormat = .text

    @Option(name: .long, help: ArgumentHelp("Write the report to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Write every packet of every violating flow to a pcapng file.", valueName: "FILE.pcapng"))
    var evidence: String?

    /// Loads the policy; exits 66 when it does not exist, 65 when it cannot be used.
    func loadPolicy() throws -> Policy {
        do {
            return try Policy.load(path: policy)
        } catch {
            printError(error.description)
            throw ExitCode(error.code == .notFound ? ExitStatus.noInput : ExitStatus.dataError)
        }
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
