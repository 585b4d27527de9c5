import Foundation
import TestSupport
import Testing

/// The commands README.md and docs/*.md show, so that the documentation cannot drift from
/// the program: every option a documented `lanekeeper` command uses is one its `--help` lists,
/// and every documented command runs (`DocumentedRun` says how; replays and checks here, on the
/// samples; watch, audit and policy init in `DocumentedLiveCommandTests`, as root) and ends with
/// a verdict, never a usage or input error; a command no test runs must be listed with the reason.
@Suite struct DocumentedCommandTests {
    /// One documented command line: where it is, and its words after `lanekeeper`.
    struct Command: CustomStringConvertible, Sendable {
        var place: String
        /// Its words after `lanekeeper`, up to `--` (what follows is COMMAND's, not lanekeeper's).
        var words: [String] { Array(allWords.prefix { $0 != "--" && $0 != "[--" }) }
        /// Every word, COMMAND's too.
        var allWords: [String]
        /// Whether it runs a COMMAND (after `--`).
        var hasCommand: Bool { allWords.contains { $0 == "--" || $0 == "[--" } }
        var description: String { "\(place): lanekeeper \(allWords.joined(separator: " "))" }

        init(place: String, words: [String]) {
            self.place = place
            allWords = words
        }
    }

    /// The `lanekeeper ...` lines of every code block: in ```sh blocks wherever the command
    /// starts in a line (after `&&`, `swift run -c release`, ...), in plain ``` blocks (usage
    /// synopses) at the start of a line, with the indented lines that continue it, in ```yaml
    /// blocks (CI jobs) as a `- lanekeeper ...` step with its continuation lines; continuation
    /// lines joined, comments, pipes and redirections cut off.
    static let commands: [Command] = {
        var files = ["README.md"]
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot.path + "/docs")) ?? []
        files += docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        var found: [Command] = []
        for file in files {
            guard let text = try? String(contentsOfFile: packageRoot.path + "/" + file, encoding: .utf8) else { continue }
            var block: String?
            var pending = ""
            // A synopsis being read (a plain block's lanekeeper line), which indented lines continue.
            var synopsis: Int?
            // A YAML step being read: its command's index and the step's indentation.
            var step: (Int, Int)?
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(raw)
                if line.hasPrefix("```") {
                    block = block == nil ? String(line.dropFirst(3)) : nil
                    pending = ""
                    synopsis = nil
                    step = nil
                    continue
                }
                guard let kind = block else { continue }
                if kind == "yaml" {
                    // A CI job's `- lanekeeper ...` step, with the more indented lines that continue it.
                    let indent = line.prefix { $0 == " " }.count
                    let trimmed = line.drop { $0 == " " }
                    if let (index, depth) = step, indent > depth, !trimmed.hasPrefix("- ") {
                        found[index].allWords += trimmed.split(separator: " ").map(String.init)
                        continue
                    }
                    step = nil
                    if trimmed.hasPrefix("- lanekeeper ") {
                        step = (found.count, indent)
                        found.append(Command(place: "\(file):\(number + 1)", words: trimmed.split(separator: " ").dropFirst(2).map(String.init)))
                    }
                    continue
                }
                guard ["sh", "bash", ""].contains(kind) else { continue }
                if kind.isEmpty, let index = synopsis, line.hasPrefix(" ") {
                    found[index].allWords += line.split(separator: " ").map(String.init)
                    continue
                }
                synopsis = nil
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
                    guard !words.isEmpty else { continue }
                    if kind.isEmpty { synopsis = found.count }
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

    /// Every documented command is run by a test (`DocumentedRun` says how), or listed in
    /// `DocumentedRun.notRun` with the reason; the list names only documented commands.
    @Test func everyDocumentedCommandIsRunOrListed() {
        for command in Self.commands where DocumentedRun.kind(of: command) == nil {
            #expect(DocumentedRun.notRun[command.place] != nil,
                    "\(command): no test runs it; run it (DocumentedRun.kind) or list it in DocumentedRun.notRun with the reason")
        }
        for place in DocumentedRun.notRun.keys {
            #expect(Self.commands.contains { $0.place == place }, "DocumentedRun.notRun lists \(place), which shows no command")
        }
    }

    /// Every documented replay and check runs as shown, on the repository's samples (the
    /// documentation's file names mapped by `DocumentedRun.sampleFiles`, written files in a
    /// temporary directory), and ends with a verdict (0, 1 or 2), never a usage or input error.
    @Test func everyDocumentedReplayAndCheckRuns() throws {
        let sandbox = try TemporaryDirectory("lk-documented")
        // host.pcapng.zst: the sample, compressed as the documentation shows it.
        let zstd = try run(URL(fileURLWithPath: "/usr/bin/env"), ["zstd", "-q", "-f", "-o", sandbox.file("host.pcapng.zst"),
                                                                  packageRoot.path + "/captures/leak-address/host.pcapng"])
        #expect(zstd.status == 0, "zstd (bash scripts/install-deps --test): \(zstd.stderr)")
        var ran = 0
        for command in Self.commands where DocumentedRun.kind(of: command) == .samples {
            var words = try DocumentedRun.words(command, sandbox: sandbox, host: nil)
            words = words.map { $0 == "host.pcapng.zst" ? sandbox.file("host.pcapng.zst") : $0 }
            let missing = words.dropFirst().filter { !$0.hasPrefix("-") && ($0.contains("/") || $0.contains(".")) }
                .map { $0.split(separator: "=").last.map(String.init) ?? $0 }
                .filter { !FileManager.default.fileExists(atPath: $0.hasPrefix("/") ? $0 : packageRoot.path + "/" + $0) }
            // An output path is in the sandbox and does not exist yet.
            let inputs = missing.filter { !$0.hasPrefix(sandbox.path) }
            #expect(inputs.isEmpty, "\(command): \(inputs) is no file here; map it in DocumentedRun.sampleFiles")
            let run = try run(binary, words)
            #expect([0, 1, 2].contains(run.status), "\(command): exit \(run.status): \(run.stderr)")
            ran += 1
        }
        #expect(ran >= 11, "only \(ran) documented replays and checks")
    }
}
