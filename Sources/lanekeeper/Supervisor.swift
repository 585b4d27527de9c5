import ArgumentParser
import Capture
import Check
import Foundation
import Pipeline
import Report
import Supervision
import SystemCalls

/// The process the user started for `watch`: it keeps the user's identity and never reads a
/// packet or the policy. It starts the capture process (this binary again, with
/// `--capture-process`), which opens the captures, drops every privilege and does all the
/// parsing; it serves that process's file requests (the report, the evidence, the metrics
/// and window files, created and placed as the user, only under the names the user gave);
/// once capturing has begun it says so (a line on standard error, `--ready-file`,
/// sd_notify READY=1) and starts COMMAND exactly as the user; it passes signals on, ends the
/// watch when COMMAND exits, --duration elapses or no capture is left, and exits with a
/// status that combines the verdict and COMMAND's (see `ExitStatus.watch`).
struct WatchSupervisor {
    let watch: WatchCommand

    /// How often the loop looks at signals, COMMAND and the clock while no request comes.
    static let tickMilliseconds: Int32 = 100

    /// The files the capture process may ask for, and how each is staged.
    var fileService: FileService {
        let report = watch.report
        var files: [String: FileService.Rule] = [:]
        if let output = report.output { files[output] = FileService.Rule(staging: .hidden, replace: report.force) }
        if let evidence = report.evidence { files[evidence] = FileService.Rule(staging: .partial, replace: report.force) }
        let options = watch.continuousOptions
        if let metrics = options.metricsFile { files[metrics] = FileService.Rule(staging: .hidden, replace: true) }
        var windows: [FileService.WindowFiles] = []
        if let directory = options.reportDirectory {
            windows.append(
                FileService.WindowFiles(
                    directory: directory, prefix: ContinuousOptions.reportPrefix, suffix: ContinuousOptions.reportSuffix,
                    rule: FileService.Rule(staging: .hidden, replace: false)))
        }
        if let directory = options.evidenceDirectory {
            windows.append(
                FileService.WindowFiles(
                    directory: directory, prefix: ContinuousWatch.evidencePrefix, suffix: ContinuousWatch.evidenceSuffix,
                    rule: FileService.Rule(staging: .partial, replace: false)))
        }
        return FileService(files: files, windows: windows)
    }

    /// The capture process's command line: this one, with `--capture-process` (and `extra`) after `watch`.
    static func captureArguments(_ extra: [String] = []) -> [String] {
        var arguments = CommandLine.arguments
        let index = arguments.dropFirst().firstIndex(of: "watch").map { $0 + 1 } ?? min(1, arguments.count)
        arguments.insert(contentsOf: ["--capture-process"] + extra, at: index)
        return arguments
    }

    func run() throws -> Never {
        SignalCatcher.install()
        ReloadSignal.install()
        signal(SIGPIPE, SIG_IGN)
        if let readyFile = watch.readyFile { unlink(readyFile) }
        let child: CaptureProcess
        do {
            child = try CaptureProcess.start(executable: "/proc/self/exe", arguments: Self.captureArguments(watch.switchPortArguments()))
        } catch {
            printError(error.description)
            throw ExitCode(ExitStatus.software)
        }
        // Started without root but with capabilities (a file capability, systemd's
        // AmbientCapabilities): the capture process has them; this process needs none.
        if geteuid() != 0 { Privileges.dropCapabilities() }
        var loop = SupervisorLoop(watch: watch, child: child, files: fileService)
        let status = loop.run()
        if let readyFile = watch.readyFile { unlink(readyFile) }
        throw ExitCode(status)
    }
}

/// The supervisor's state while the capture process runs.
struct SupervisorLoop {
    let watch: WatchCommand
    let child: CaptureProcess
    let files: FileService
    private var ready = false
    private var interfaces: [String] = []
    private var verdict: UInt8?
    private var command: RunningCommand?
    private var commandFailure: RunningCommand.StartError?
    private var started: Date?
    private var stopReason: StopReason?
    private var stopSignal: Int32 = 0
    private var stopSent = false
    private var commandEndedAt: Date?
    private var reloadsSeen = ReloadSignal.count
    private var protocolError: String?

    init(watch: WatchCommand, child: CaptureProcess, files: FileService) {
        self.watch = watch
        self.child = child
        self.files = files
    }

    private var continuous: Bool { watch.continuousOptions.continuous }

    /// Serves the capture process until it closes its socket; returns the exit status.
    mutating func run() -> Int32 {
        while !child.requests.isAtEnd {
            if child.requests.waitReadable(milliseconds: WatchSupervisor.tickMilliseconds) {
                do {
                    try child.requests.fill()
                    while let message = try child.requests.nextBuffered() { try serve(message) }
                } catch {
                    // Unreadable: the capture process is not one to trust any more.
                    protocolError = "\(error)"
                    child.kill(SIGKILL)
                    break
                }
            }
            look()
        }
        return conclude()
    }

    /// Answers one request.
    private mutating func serve(_ message: (kind: UInt8, payload: ArraySlice<UInt8>)) throws {
        let request: Request
        do {
            request = try Request.decode(kind: message.kind, payload: message.payload)
        } catch {
            throw Channel.Failure.message(error)
        }
        let reply: Reply
        if let answer = files.answer(request) {
            reply = answer
        } else {
            switch request {
            case .ready(let names, let user):
                beginCapturing(interfaces: names, user: user)
            case .capturesEnded:
                requestStop(.capturesEnded, note: "ended by lanekeeper: no capture was left")
            case .result(let code):
                verdict = code
            default:
                break
            }
            reply = .ok
        }
        try child.requests.send(reply.encoded())
    }

    /// Capturing has begun: say so, and start COMMAND unless the watch is already stopping.
    private mutating func beginCapturing(interfaces names: [String], user: String) {
        guard !ready else { return }
        ready = true
        interfaces = names
        started = Date()
        let line = "capturing on \(names.joined(separator: ", ")) (capture process \(child.pid) as \(user))"
        if let readyFile = watch.readyFile {
            let fd = open(readyFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
            if fd >= 0 {
                _ = Array((line + "\n").utf8).withUnsafeBytes { writeAll(fd, $0) }
                close(fd)
            } else {
                printError("warning: cannot create --ready-file \(readyFile): \(Errno.current)")
            }
        }
        ServiceNotification.send("READY=1\nSTATUS=\(line)\nMAINPID=\(getpid())")
        guard !watch.command.isEmpty, stopReason == nil else {
            // A continuous watch's standard error is JSON lines: its `start` line says this.
            if !continuous { printError(line) }
            return
        }
        printError(line + "; starting " + watch.command.joined(separator: " "))
        do {
            command = try RunningCommand.start(watch.command)
        } catch {
            // Nothing to watch: the capture process goes, and with it every file it began.
            printError(error.message)
            commandFailure = error
            child.kill(SIGKILL)
        }
    }

    /// Looks at signals, COMMAND and the clock; sends the stop order when it is time.
    private mutating func look() {
        if let number = SignalCatcher.caught, stopReason == nil {
            stopSignal = number
            requestStop(.signal, note: "lanekeeper received signal \(number) and passed it on", signal: number)
        }
        if continuous && ReloadSignal.count != reloadsSeen {
            reloadsSeen = ReloadSignal.count
            try? child.control.send(Control.reload.encoded())
        }
        if let command, !command.isRunning, stopReason == nil {
            // Its last packets are still on their way: read on a moment.
            commandEndedAt = commandEndedAt ?? Date()
            if Date().timeIntervalSince(commandEndedAt!) >= WatchCommand.drainAfterCommand { requestStop(.commandExited, note: nil) }
        }
        if !continuous, let duration = watch.duration, let started, stopReason == nil,
            Date().timeIntervalSince(started) >= duration
        {
            requestStop(.duration, note: "ended by lanekeeper when --duration elapsed")
        }
        command?.enforceGrace()
        if let stopReason, !stopSent, command?.isRunning != true {
            stopSent = true
            try? child.control.send(Control.stop(reason: stopReason, signal: stopSignal, command: command?.outcome).encoded())
        }
    }

    /// Decides to stop (the first reason wins) and ends COMMAND if it still runs.
    private mutating func requestStop(_ reason: StopReason, note: String?, signal: Int32 = SIGTERM) {
        guard stopReason == nil else { return }
        stopReason = reason
        if let note, let command, command.isRunning {
            command.end(signal: signal, grace: WatchCommand.commandGrace, note: note)
        }
    }

    /// The capture process has closed its socket: wait for it and decide the exit status.
    private mutating func conclude() -> Int32 {
        let raw = child.wait()
        let exit = WaitStatus.exitStatus(raw)
        if let failure = commandFailure {
            // COMMAND could not be started (126, 127): no report, no evidence of a watch that did not run.
            files.abandonAll(keepPartial: false)
            return failure.status
        }
        if let exit, !ready, verdict == nil, exit != 0 {
            // It stopped before capturing (a policy, a file, a permission it said what about).
            files.abandonAll(keepPartial: false)
            return exit
        }
        if let exit, verdict != nil, protocolError == nil {
            if continuous { return exit }
            return combined(captureStatus: exit)
        }
        return captureProcessLost(raw)
    }

    /// The documented exit status of a one-shot watch whose capture process reported.
    private func combined(captureStatus: Int32) -> Int32 {
        let status = ExitStatus.watch(captureStatus: captureStatus, command: command?.outcome)
        sayResult(verdict.flatMap { Verdict(code: $0) }?.rawValue ?? "none", status: status)
        return status
    }

    /// The one line on standard error a test runner reads: the verdict, COMMAND's status and
    /// the exit status, e.g. `verdict pass; COMMAND exited 3; exit status 3`.
    private func sayResult(_ verdict: String, status: Int32) {
        var line = "verdict \(verdict)"
        if let outcome = command?.outcome { line += "; " + ExitStatus.describe(outcome) }
        printError(line + "; exit status \(status)")
    }

    /// The capture process died (or broke the protocol) before it reported: the watch is
    /// inconclusive. COMMAND is ended, the evidence so far is kept as FILE.partial, and a
    /// report saying so is written where the report was to go.
    private mutating func captureProcessLost(_ raw: Int32) -> Int32 {
        let how: String
        if let protocolError {
            how = "sent a message that could not be read (\(protocolError)) and was killed"
        } else if let number = WaitStatus.signal(raw) {
            how = "was killed by signal \(number)"
        } else {
            how = "exited with status \(WaitStatus.exitStatus(raw) ?? -1) without a verdict"
        }
        let reason = "the capture process (pid \(child.pid)) \(how); what it read was not judged"
        if let command, command.isRunning {
            command.end(signal: SIGTERM, grace: WatchCommand.commandGrace, note: "ended by lanekeeper: its capture process was lost")
            command.waitUntilEnded()
        }
        let kept = files.abandonAll(keepPartial: true)
        var reasons = [reason]
        if !kept.isEmpty { reasons.append("evidence written before that is kept in " + kept.joined(separator: ", ")) }
        if continuous {
            EventLog().event("error", [("message", .string(reasons.joined(separator: "; ")))])
            return 2
        }
        writeLostReport(reasons: reasons)
        sayResult("inconclusive (\(reason))", status: 2)
        return 2
    }

    /// A report of the capture process's loss, in the format asked for, where the report goes.
    private func writeLostReport(reasons: [String]) {
        let commandValue = command.map { WatchReport.command($0.outcome) } ?? .null
        let text: String
        switch watch.report.format {
        case .json:
            text = JSONValue.object([
                ("verdict", .string("inconclusive")), ("mode", .string("watch")), ("reasons", .array(reasons.map(JSONValue.string))),
                ("interfaces", .array(interfaces.map(JSONValue.string))), ("command", commandValue),
            ]).serialized() + "\n"
        case .text:
            text = "Verdict: INCONCLUSIVE\n\n" + reasons.map { "  - \($0)\n" }.joined()
                + (command.map { "\nCommand: " + ExitStatus.describe($0.outcome) + "\n" } ?? "")
        case .html:
            text = HTML.page(title: "lanekeeper watch", body: HTML.banner(.inconclusive, headline: "Inconclusive", reasons: reasons))
        }
        do {
            try emit(text, to: watch.report.output, force: true)
        } catch {
            // emit said why on standard error.
        }
    }
}

/// COMMAND, run directly (never through a shell) with lanekeeper's identity, environment,
/// working directory, standard input, output and error.
final class RunningCommand {
    struct StartError: Error {
        var status: Int32
        var message: String
    }

    let argv: [String]
    private let process: Process
    private var note: String?
    private var killAt: Date?
    private var graceSeconds = 0.0

    private init(argv: [String], process: Process) {
        self.argv = argv
        self.process = process
    }

    /// Starts `argv[0]` (a path, or a name looked up in PATH) with the rest as arguments.
    ///
    /// - Throws: `StartError` with status 127 when it is not found, 126 when it cannot be run.
    static func start(_ argv: [String]) throws(StartError) -> RunningCommand {
        let name = argv[0]
        let path: String
        if name.contains("/") {
            path = name
        } else {
            let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
                .split(separator: ":").map(String.init)
            guard let found = directories.map({ ($0.isEmpty ? "." : $0) + "/" + name })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
            else {
                throw StartError(status: 127, message: "\(name): command not found (searched PATH)")
            }
            path = found
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StartError(status: 127, message: "\(name): no such file")
        }
        guard !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: path) else {
            throw StartError(status: 126, message: "\(name): cannot run it: permission denied or not a regular file")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = Array(argv.dropFirst())
        do {
            try process.run()
        } catch {
            throw StartError(status: 126, message: "\(name): cannot run it: \(error.localizedDescription)")
        }
        return RunningCommand(argv: argv, process: process)
    }

    var isRunning: Bool { process.isRunning }

    /// Sends `signal` unless it has exited; `enforceGrace()` kills it `grace` seconds later.
    func end(signal number: Int32, grace: Double, note: String) {
        guard process.isRunning, killAt == nil else { return }
        self.note = note
        graceSeconds = grace
        kill(process.processIdentifier, number)
        killAt = Date().addingTimeInterval(grace)
    }

    /// Kills it when it was asked to end and its grace is over.
    func enforceGrace() {
        guard let killAt, process.isRunning, Date() >= killAt else { return }
        kill(process.processIdentifier, SIGKILL)
        note = (note ?? "") + "; it did not end within \(Int(graceSeconds)) s and was killed"
        self.killAt = .distantFuture
    }

    /// Waits until it has ended (enforcing the grace).
    func waitUntilEnded() {
        while process.isRunning {
            enforceGrace()
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
    }

    var outcome: CommandOutcome {
        var outcome = CommandOutcome(argv: argv, note: note)
        guard !process.isRunning else { return outcome }
        switch process.terminationReason {
        case .exit: outcome.exitStatus = process.terminationStatus
        case .uncaughtSignal: outcome.signal = process.terminationStatus
        @unknown default: break
        }
        return outcome
    }
}

extension ExitStatus {
    /// Internal error: the capture process could not be started (EX_SOFTWARE).
    static let software: Int32 = 70
    /// COMMAND failed (exit status 1 or 2) while the verdict was pass.
    static let commandFailed: Int32 = 3

    /// A one-shot watch's exit status, from the capture process's (0 pass, 1 fail,
    /// 2 inconclusive, 74 pass without its report) and COMMAND's outcome:
    ///
    /// | verdict | COMMAND | status |
    /// | fail | anything | 1 |
    /// | inconclusive | anything | 2 |
    /// | pass | exited 0, or none | 0 (74 when the report could not be written) |
    /// | pass | exited 1 or 2 | 3 |
    /// | pass | exited N > 2 | N |
    /// | pass | killed by signal S | 128 + S |
    ///
    /// (COMMAND that cannot be started ends the watch at once with 126 or 127, no report.)
    static func watch(captureStatus: Int32, command: CommandOutcome?) -> Int32 {
        guard captureStatus == 0 || captureStatus == ioError else { return captureStatus }
        if let command {
            if let status = command.exitStatus, status != 0 { return status <= 2 ? commandFailed : status }
            if let signal = command.signal { return 128 + signal }
        }
        return captureStatus
    }

    /// "COMMAND exited 3", "COMMAND was killed by signal 15 (note)".
    static func describe(_ command: CommandOutcome) -> String {
        let how =
            if let status = command.exitStatus { "exited \(status)" } else if let signal = command.signal {
                "was killed by signal \(signal)"
            } else { "did not end" }
        return "COMMAND \(how)" + (command.note.map { " (\($0))" } ?? "")
    }
}
