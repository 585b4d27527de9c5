import ArgumentParser
import Capture
import Check
import Foundation
import Pipeline
import Report
import SystemCalls

@main
struct Lanekeeper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanekeeper",
        abstract: "Prove from the packets that a hypervisor keeps its storage traffic off its management network.",
        discussion: """
            Exit status: 0 pass, 1 fail (storage crossed the management network), 2 inconclusive,
            64 usage error, 65 unusable input (a capture or policy that cannot be read), 66 a file that does not exist.
            """,
        version: BuildInfo.description,
        subcommands: [ReplayCommand.self, CheckCommand.self, WatchCommand.self, AuditCommand.self, PolicyCommand.self]
    )

    /// Parses and runs as ArgumentParser does, except that an unknown option is named even
    /// when a required one is also missing (`--polcy x` says "Unknown option '--polcy'", not
    /// "Missing expected argument '--policy'").
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(withError: unknownOption(in: arguments, missing: error) ?? error)
        }
    }

    /// When `error` says a required option is missing, the parse again with a stand-in value
    /// for each missing one: the unknown-option error it then finds, if any.
    static func unknownOption(in arguments: [String], missing error: Error) -> Error? {
        var trial = arguments
        var error = error
        for _ in 0..<4 {
            let message = fullMessage(for: error)
            if message.contains("Unknown option") { return error }
            guard message.contains("Missing expected argument"), let start = message.range(of: "'--") else { return nil }
            let name = message[message.index(after: start.lowerBound)...].prefix { $0 != " " && $0 != "'" }
            trial.insert(contentsOf: [String(name), "lanekeeper-stand-in"], at: trial.firstIndex(of: "--") ?? trial.endIndex)
            do {
                _ = try parseAsRoot(trial)
                return nil
            } catch let next {
                error = next
            }
        }
        return nil
    }

    /// Without a subcommand there is nothing to do: show the usage and exit 64.
    func run() throws {
        FileHandle.standardError.write(Data((Self.helpMessage() + "\n").utf8))
        throw ExitCode(ExitStatus.usage)
    }
}

/// Exit statuses shared by every subcommand (sysexits.h where one fits).
enum ExitStatus {
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    /// An output file exists and --force was not given (EX_CANTCREAT).
    static let cannotCreate: Int32 = 73
    static let ioError: Int32 = 74
    static let noPermission: Int32 = 77
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data(("lanekeeper: " + message + "\n").utf8))
}

/// Where a report (or a policy) goes: standard output, or a file that is created at once
/// (so that an existing file, or a directory that cannot be written, is refused before any
/// work) and written atomically at the end (see `OutputFile`).
final class ReportDestination {
    let path: String?
    private let file: (any OutputSink)?

    /// Opens the staging file for `path` (nil: standard output), through `files` (a watch's
    /// capture process: its supervisor).
    ///
    /// - Throws: `ExitCode` 73 when `path` exists and `force` is false, 74 when it cannot be
    ///   created; the reason is on standard error.
    init(path: String?, force: Bool, files: any OutputFiles = LocalFiles()) throws {
        self.path = path
        guard let path else {
            file = nil
            return
        }
        do {
            file = try files.create(path: path, replace: force, staging: .hidden)
        } catch {
            throw Self.exit(for: error)
        }
    }

    /// Prints why `error` happened and returns the exit status for it: 73 for a file that
    /// exists, 74 otherwise.
    static func exit(for error: OutputWriteError) -> ExitCode {
        if error.errno == EEXIST {
            printError("\(error.path): \(error.detail)")
            return ExitCode(ExitStatus.cannotCreate)
        }
        printError(error.description)
        return ExitCode(ExitStatus.ioError)
    }

    /// Gives up the report: its staging file goes (a command that fails before writing it).
    func abandon() {
        file?.abandon()
    }

    /// Writes the report `body` makes as it is made, through a bounded buffer: into the
    /// staging file, then fsyncs and renames it into place (nothing is left behind when a
    /// write fails); or onto standard output.
    func write(_ body: (inout ReportWriter) -> Void) throws(OutputWriteError) {
        guard let file else {
            try Self.stream(body, into: DescriptorReportSink.standardOutput)
            return
        }
        do {
            try Self.stream(body, into: OutputReportSink(file: file))
        } catch {
            file.abandon()
            throw error
        }
        try file.commit()
    }

    /// Writes `text`, fsyncs and renames it into place.
    func write(_ text: String) throws(OutputWriteError) {
        try write { $0.append(text) }
    }

    /// What `body` writes, into `sink` through a `ReportWriter`; the sink's error, if it failed.
    static func stream(_ body: (inout ReportWriter) -> Void, into sink: any ReportSink) throws(OutputWriteError) {
        var writer = ReportWriter(into: sink)
        body(&writer)
        do {
            try writer.finish()
        } catch let error as OutputWriteError {
            throw error
        } catch {
            throw OutputWriteError(path: "report", operation: "write", detail: "\(error)")
        }
    }
}

/// A report's bytes into an output file (its staging file until `commit()`).
final class OutputReportSink: ReportSink {
    let file: any OutputSink

    init(file: any OutputSink) {
        self.file = file
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes)
    }
}

/// A report's bytes into a descriptor this process has open (standard output), by write(2);
/// a failure names it and the reason (a pipe closed, a full disk).
final class DescriptorReportSink: ReportSink, Sendable {
    let descriptor: Int32
    let name: String

    static let standardOutput = DescriptorReportSink(descriptor: STDOUT_FILENO, name: "standard output")

    init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure = writeAll(descriptor, bytes).failure {
            throw OutputWriteError(path: name, operation: "write", detail: failure.description, errno: failure.rawValue)
        }
    }
}

/// Writes `text` to `path` atomically, or to standard output when `path` is nil; exits 73
/// when `path` exists and `force` is false, 74 when it cannot be written (naming the file
/// and the reason). `what` says what the text is ("report", "policy").
func emit(_ text: String, to path: String?, force: Bool, what: String = "report") throws {
    let destination = try ReportDestination(path: path, force: force)
    do {
        try destination.write(text)
    } catch {
        if error.errno == EEXIST { throw ReportDestination.exit(for: error) }
        printError("cannot write the \(what) to \(path ?? "standard output"): \(error.path): \(error.detail)")
        throw ExitCode(ExitStatus.ioError)
    }
}
