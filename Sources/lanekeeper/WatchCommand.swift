import ArgumentParser
import Capture
import Dispatch
import Foundation
import Pipeline
import Policy
import Report
import Synchronization

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Capture live on the interfaces a policy names and check the traffic against it.",
        discussion: """
            Captures on every interface the policy's networks name, each on its own thread, until \
            --duration elapses, SIGINT or SIGTERM arrives, or COMMAND (after --) exits; then judges \
            everything seen as `replay` would and writes the report. The kernel filter keeps every IP packet \
            (--prefilter deep), or only the policy's storage ports, their VLAN-tagged forms and IP fragments \
            (--prefilter ports). Any dropped packet, an \
            interface that goes down, disappears or cannot be opened makes the verdict at best inconclusive.

            Exit status: 0 pass, 1 fail, 2 inconclusive (COMMAND's own status is in the report), \
            64 usage error, 65 a policy that cannot be used (unreadable, naming no interface, naming an \
            interface that does not exist), 66 no policy file, 74 the report or evidence file could not \
            be written (a fail or inconclusive verdict keeps its status), 73 the report or evidence file \
            (or FILE.partial) exists and --force was not given, 77 no permission to capture (CAP_NET_RAW) or \
            to become --user, 126 COMMAND could not be run, \
            127 COMMAND was not found.
            """
    )

    @OptionGroup var report: PacketReportOptions

    @Option(name: .long, help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var duration: Double?

    @Option(
        name: .customLong("buffer-mib"),
        help: ArgumentHelp("Kernel capture buffer per interface, in MiB.", valueName: "N"))
    var bufferMiB: Int = LiveCaptureOptions.defaultBufferBytes >> 20

    @Option(name: .long, help: ArgumentHelp("Bytes kept of each packet.", valueName: "N"))
    var snaplen: Int = LiveCaptureOptions.defaultSnapLength

    @Option(
        name: .long,
        help: ArgumentHelp(
            "What the kernel filter keeps: deep (every IP packet, so storage is found on any port and in "
                + "VXLAN/GRE) or ports (the policy's storage ports and IP fragments only; less work).",
            valueName: "deep|ports"))
    var prefilter: WatchConfiguration.Prefilter = .deep

    @OptionGroup(title: "Continuous watch") var continuousOptions: ContinuousOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The user to run as once the captures and output files are open (started as root; default "
                + "\(Privileges.defaultUser)). COMMAND runs as this user too.",
            valueName: "NAME"))
    var user: String?

    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp("A command to run while capturing (after --); the watch ends when it exits.", valueName: "COMMAND"))
    var command: [String] = []

    /// How long the capture goes on after COMMAND exits, to read its last packets.
    static let drainAfterCommand = 0.2
    /// How long a command gets to end after being signalled, before SIGKILL.
    static let commandGrace = 5.0
    /// How often the watch looks for a stop and writes the evidence held so far to its file
    /// (whole blocks), so that a killed watch leaves all but the last moment's evidence.
    static let tick = 0.1

    func validate() throws {
        if let duration, !(duration > 0 && duration < 1e9) {
            throw ValidationError("--duration \(duration): give a positive number of seconds")
        }
        if !(1...2047).contains(bufferMiB) {
            throw ValidationError("--buffer-mib \(bufferMiB): give 1 to 2047")
        }
        if !(64...262_144).contains(snaplen) {
            throw ValidationError("--snaplen \(snaplen): give 64 to 262144")
        }
        try continuousOptions.validate(for: self)
    }

    func run() throws {
        SignalCatcher.install()
        let target: Privileges.Target
        do {
            target = try Privileges.target(user: user)
            try Privileges.requireWritable([report.output, report.evidence] + continuousOptions.writtenPaths, by: target)
        } catch {
            printError(error.description)
            throw ExitCode(ExitStatus.noPermission)
        }
        let destination = try report.openReport()
        let policyText = report.format == .html ? report.base.policyText() : nil
        var configuration = WatchConfiguration(
            policy: try report.loadPolicy(), options: LiveCaptureOptions(snapLength: snaplen, bufferBytes: bufferMiB << 20),
            evidencePath: report.evidence, timeline: report.format == .html, prefilter: prefilter)
        configuration.replaceExisting = report.force
        let session: WatchSession
        do {
            session = try WatchSession.open(configuration)
        } catch {
            switch error.code {
            case .noInterfaces:
                printError("\(report.policy): \(error.message)")
                throw ExitCode(ExitStatus.dataError)
            case .noSuchInterface:
                printError(error.message)
                throw ExitCode(ExitStatus.dataError)
            case .permissionDenied:
                printError("\(error.message)\n" + Privileges.explanation())
                throw ExitCode(ExitStatus.noPermission)
            case .evidence:
                printError(error.message)
                throw ExitCode(ExitStatus.ioError)
            case .evidenceExists:
                printError(error.message)
                throw ExitCode(ExitStatus.cannotCreate)
            }
        }
        // From here until the report is written, a failure leaves no output behind: not the
        // report's staging file, nor the FILE.partial this run created (no evidence of a watch
        // that did not run).
        func abandon() {
            session.abandon()
            destination.abandon()
        }
        do {
            if target.changesUser {
                try destination.changeOwner(user: target.uid, group: target.gid)
                try session.handOverEvidence(user: target.uid, group: target.gid)
            }
            try Privileges.drop(to: target)
        } catch {
            abandon()
            printError("\(error)")
            throw ExitCode(ExitStatus.noPermission)
        }
        for warning in session.warnings { printError("warning: \(warning)") }
        for failure in session.unopened {
            printError("warning: \(failure.interface) could not be opened (\(failure.detail)); the verdict will be at best inconclusive")
        }
        if continuousOptions.continuous { try runContinuous(session, configuration: configuration) }

        let stop = StopRequest()

        session.start()
        let started = Date()
        var running: RunningCommand?
        if !command.isEmpty {
            do {
                running = try RunningCommand.start(command) { stop.request(.commandExited) }
            } catch {
                abandon()
                printError(error.message)
                throw ExitCode(error.status)
            }
        }

        let status = StatusLine(enabled: isatty(2) == 1)
        var lastFlush = Date()
        var reason: StopRequest.Reason?
        while reason == nil {
            if let number = SignalCatcher.caught { stop.request(.signal(number)) }
            reason = stop.wait(seconds: Self.tick)
            if let duration, Date().timeIntervalSince(started) >= duration { reason = reason ?? .duration }
            if session.allCapturesEnded { reason = reason ?? .capturesEnded }
            status.show(session.status(), elapsed: Date().timeIntervalSince(started))
            if Date().timeIntervalSince(lastFlush) >= Self.tick {
                session.flushEvidence()
                lastFlush = Date()
            }
        }
        var commandReport: WatchReport.Command?
        if let running {
            switch reason {
            case .commandExited?:
                Thread.sleep(forTimeInterval: Self.drainAfterCommand)
            case .signal(let number)?:
                running.end(signal: number, grace: Self.commandGrace, note: "lanekeeper received signal \(number) and passed it on")
            default:
                running.end(
                    signal: SIGTERM, grace: Self.commandGrace,
                    note: reason == .duration ? "ended by lanekeeper when --duration elapsed" : "ended by lanekeeper: no capture was left")
            }
            commandReport = running.report()
        }
        let outcome = session.finish()
        status.clear()

        let text: String
        switch report.format {
        case .text: text = WatchReport.text(outcome, command: commandReport)
        case .json: text = WatchReport.json(outcome, command: commandReport, policyPath: report.policy)
        case .html:
            text = WatchReport.html(
                outcome, command: commandReport, policyPath: report.policy, policyText: policyText)
        }
        try report.finish(
            report: text, verdict: outcome.result.verdict, evidenceError: outcome.evidenceError, destination: destination)
    }
}

/// Why the watch stops; the first reason wins.
final class StopRequest: Sendable {
    enum Reason: Equatable, Sendable {
        case signal(Int32)
        case commandExited
        case duration
        case capturesEnded
    }

    private let reason = Mutex<Reason?>(nil)
    private let wakeUp = DispatchSemaphore(value: 0)

    func request(_ new: Reason) {
        reason.withLock { current in
            if current == nil { current = new }
        }
        wakeUp.signal()
    }

    /// Waits up to `seconds` for a request; returns it, if there is one.
    func wait(seconds: Double) -> Reason? {
        _ = wakeUp.wait(timeout: .now() + seconds)
        return reason.withLock { $0 }
    }
}

/// COMMAND, run directly (never through a shell) with lanekeeper's standard input, output
/// and error.
final class RunningCommand {
    struct StartError: Error {
        var status: Int32
        var message: String
    }

    let argv: [String]
    private let process: Process
    private var note: String?

    private init(argv: [String], process: Process) {
        self.argv = argv
        self.process = process
    }

    /// Starts `argv[0]` (a path, or a name looked up in PATH) with the rest as arguments.
    ///
    /// - Throws: `StartError` with status 127 when it is not found, 126 when it cannot be run.
    static func start(_ argv: [String], onExit: @escaping @Sendable () -> Void) throws(StartError) -> RunningCommand {
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
        process.terminationHandler = { _ in onExit() }
        do {
            try process.run()
        } catch {
            throw StartError(status: 126, message: "\(name): cannot run it: \(error.localizedDescription)")
        }
        return RunningCommand(argv: argv, process: process)
    }

    /// Sends `signal` unless it has exited, waits up to `grace` seconds, then kills it.
    func end(signal number: Int32, grace: Double, note: String) {
        guard process.isRunning else { return }
        self.note = note
        kill(process.processIdentifier, number)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            self.note = note + "; it did not end within \(Int(grace)) s and was killed"
        }
        process.waitUntilExit()
    }

    func report() -> WatchReport.Command {
        var report = WatchReport.Command(argv: argv, note: note)
        guard !process.isRunning else { return report }
        switch process.terminationReason {
        case .exit: report.exitStatus = process.terminationStatus
        case .uncaughtSignal: report.signal = process.terminationStatus
        @unknown default: break
        }
        return report
    }
}

/// The status line on standard error, only when it is a terminal.
struct StatusLine {
    let enabled: Bool

    func show(_ status: WatchStatus, elapsed: Double) {
        guard enabled else { return }
        let seconds = (elapsed * 10).rounded() / 10
        let line = "lanekeeper: \(status.packets) packets, \(status.storagePackets) storage, \(status.dropped) dropped, \(seconds) s"
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

extension WatchConfiguration.Prefilter: ExpressibleByArgument {}
