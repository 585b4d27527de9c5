import Foundation
import TestSupport
import Testing

/// The commands README.md and docs/*.md show, so that the documentation cannot drift from
/// the program: every option a documented `lanekeeper` command uses is one its `--help` lists,
/// and every documented `replay` or `check` whose files are in the repository runs and ends
/// with a verdict (0, 1 or 2), never a usage or input error.
@Suite struct DocumentedCommandTests {
    /// One documented command line: where it is, and its words after `lanekeeper`.
    struct Command: CustomStringConvertible, Sendable {
        var place: String
        var words: [String]
        var description: String { "\(place): lanekeeper \(words.joined(separator: " "))" }
    }

    /// The `lanekeeper ...` lines of every code block: in ```sh blocks wherever the command
    /// starts in a line (after `&&`, `swift run -c release`, ...), in plain ``` blocks (usage
    /// synopses) at the start of a line; continuation lines joined, comments, pipes and
    /// redirections cut off.
    static let commands: [Command] = {
        var files = ["README.md"]
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot.path + "/docs")) ?? []
        files += docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        var found: [Command] = []
        for file in files {
            guard let text = try? String(contentsOfFile: packageRoot.path + "/" + file, encoding: .utf8) else { continue }
            var block: String?
            var pending = ""
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(raw)
                if line.hasPrefix("```") {
                    block = block == nil ? String(line.dropFirst(3)) : nil
                    pending = ""
                    continue
                }
                guard let kind = block, ["sh", "bash", ""].contains(kind) else { continue }
                pending += line.hasSuffix("\\") ? String(line.dropLast()) + " " : line
                if line.hasSuffix("\\") { continue }
                defer { pending = "" }
                var segments = [pending]
                if let hash = pending.range(of: " #") { segments = [String(pending[..<hash.lowerBound])] }
                for separator in [" && ", " || ", "; "] { segments = segments.flatMap { $0.components(separatedBy: separator) } }
                for segment in segments {
                    var command = segment
                    for cut in [" | ", " > ", " 2>", " < "] {
                        if let range = command.range(of: cut) { command = String(command[..<range.lowerBound]) }
                    }
                    var words = command.split(separator: " ").map(String.init)
                    if kind.isEmpty {
                        guard words.first == "lanekeeper" else { continue }
                    } else {
                        while let first = words.first, first != "lanekeeper", ["swift", "run", "-c", "release", "sudo", "exec"].contains(first) {
                            words.removeFirst()
                        }
                        guard words.first == "lanekeeper" else { continue }
                    }
                    words.removeFirst()
                    // What follows `--` is COMMAND's, not lanekeeper's.
                    if let separator = words.firstIndex(of: "--") { words = Array(words[..<separator]) }
                    guard !words.isEmpty else { continue }
                    found.append(Command(place: "\(file):\(number + 1)", words: words))
                }
            }
        }
        return found
    }()

    /// The subcommand of a command line (`policy init` is two words) and its options.
    static func split(_ words: [String]) -> (subcommand: [String], options: [String]) {
        var subcommand: [String] = []
        for word in words {
            guard !word.hasPrefix("-"), subcommand.count < 2 else { break }
            if subcommand.first == "policy" || subcommand.isEmpty { subcommand.append(word) } else { break }
        }
        // `--format`, `[--format`, `--ifindex=3`: the option's name alone.
        let options = words.compactMap { word -> String? in
            let trimmed = word.drop { $0 == "[" }
            guard trimmed.hasPrefix("--"), trimmed.count > 2 else { return nil }
            return String(trimmed.prefix { $0.isLetter || $0.isNumber || $0 == "-" })
        }
        return (subcommand, options)
    }

    @Test func theDocumentationShowsCommands() {
        #expect(Self.commands.count >= 20, "\(Self.commands.count) found")
        #expect(Set(Self.commands.compactMap { Self.split($0.words).subcommand.first })
            .isSuperset(of: ["replay", "watch", "check", "audit", "policy"]))
    }

    @Test func everyDocumentedOptionExists() throws {
        var help: [[String]: String] = [:]
        for command in Self.commands {
            let (subcommand, options) = Self.split(command.words)
            guard !subcommand.isEmpty, !options.isEmpty else { continue }
            if help[subcommand] == nil {
                let run = try run(binary, subcommand + ["--help"])
                #expect(run.status == 0, "\(command): `lanekeeper \(subcommand.joined(separator: " ")) --help` failed")
                help[subcommand] = run.stdout
            }
            for option in options where !["--help", "--version"].contains(option) {
                #expect(help[subcommand]!.contains(option), "\(command): \(option) is not an option of that command")
            }
        }
    }

    /// Documented replays and checks whose every file argument is in the repository, run as shown.
    @Test func documentedReplaysOfTheSamplesRun() throws {
        var ran = 0
        for command in Self.commands {
            let (subcommand, _) = Self.split(command.words)
            guard subcommand == ["replay"] || subcommand == ["check"] else { continue }
            // Output options would write into the repository: leave them out.
            var words: [String] = []
            var skip = false
            for word in command.words {
                if skip { skip = false; continue }
                if ["--output", "--evidence", "--junit"].contains(word) { skip = true; continue }
                words.append(word)
            }
            let paths = words.dropFirst().filter { !$0.hasPrefix("-") && ($0.contains("/") || $0.contains(".")) }
                .map { $0.split(separator: "=").last.map(String.init) ?? $0 }
            guard !paths.isEmpty, paths.allSatisfy({ FileManager.default.fileExists(atPath: packageRoot.path + "/" + $0) })
            else { continue }
            let run = try run(binary, words)
            #expect([0, 1, 2].contains(run.status), "\(command): exit \(run.status): \(run.stderr)")
            ran += 1
        }
        #expect(ran >= 2, "only \(ran) documented replays of the samples")
    }
}
