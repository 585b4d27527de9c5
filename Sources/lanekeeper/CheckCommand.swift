import ArgumentParser
import Expectations
import Foundation
import Policy

enum CheckFormat: String, ExpressibleByArgument, CaseIterable {
    case text, junit, html
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Replay every capture under DIR against its expectation (*.expect.yaml), as a test suite.",
        discussion: """
            Each NAME.expect.yaml names a policy, its captures, the expected verdict and the storage \
            packets expected per network (see docs/check.md). Exit status 0 only when every case matches, \
            1 when any does not, 65 when an expectation cannot be read, 66 when DIR does not exist, \
            73 when the --output file exists (give --force to replace it), 74 when it cannot be written.
            """
    )

    @Argument(help: ArgumentHelp("A directory of captures and expectations, or one expectation file.", valueName: "DIR"))
    var directory: String

    @Option(name: .long, help: "Report format: text, JUnit XML for CI, or a self-contained HTML page.")
    var format: CheckFormat = .text

    @Option(name: .long, help: ArgumentHelp("Write the report to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "Replace the report file if it exists (otherwise refused: exit 73).")
    var force = false

    func run() throws {
        let destination = try ReportDestination(path: output, force: force)
        let files: [String]
        do {
            files = try CheckRun.expectationFiles(under: directory)
        } catch {
            printError(error.description)
            throw ExitCode(error.code == .notFound ? ExitStatus.noInput : ExitStatus.dataError)
        }
        if files.isEmpty {
            printError("\(directory): no *\(Expectation.suffix) files; nothing to check")
            throw ExitCode(ExitStatus.dataError)
        }
        let cases = files.map { CheckRun.run(file: $0, root: directory) }
        let text: String
        switch format {
        case .text: text = CheckReports.text(cases)
        case .junit: text = CheckReports.junit(cases)
        case .html: text = CheckReports.html(cases)
        }
        do {
            try destination.write(text)
        } catch {
            printError("cannot write the report to \(output ?? "standard output"): \(error.path): \(error.detail)")
            throw ExitCode(ExitStatus.ioError)
        }
        throw ExitCode(cases.allSatisfy(\.passed) ? 0 : 1)
    }
}
