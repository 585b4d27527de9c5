import ArgumentParser
import Foundation
import Pipeline

@main
struct Lanekeeper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanekeeper",
        abstract: "Prove from the packets that a hypervisor keeps its storage traffic off its management network.",
        discussion: """
            Exit status: 0 pass, 1 fail (storage crossed the management network), 2 inconclusive,
            64 usage error, 65 unusable input (a capture or policy that cannot be read), 66 a file that does not exist.
            """,
        version: "0.1.0",
        subcommands: [ReplayCommand.self, CheckCommand.self, WatchCommand.self, AuditCommand.self, PolicyCommand.self]
    )

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
    static let ioError: Int32 = 74
    static let noPermission: Int32 = 77
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data(("lanekeeper: " + message + "\n").utf8))
}

/// Writes `text` to `path` atomically (a temporary file renamed over it), or to standard
/// output when `path` is nil.
func emit(_ text: String, to path: String?) throws {
    guard let path else {
        FileHandle.standardOutput.write(Data(text.utf8))
        return
    }
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
}
