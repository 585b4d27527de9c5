import ArgumentParser
import Capture
import Check
import Foundation
import Pipeline
import Policy
import Report
import Supervision
import Synchronization
import Telemetry

/// `watch --continuous` and what goes with it: windows, their reports and evidence files,
/// SIGHUP reload, violation log lines, Prometheus metrics.
struct ContinuousOptions: ParsableArguments {
    @Flag(
        name: .long,
        help: "Run until stopped (SIGINT, SIGTERM, --duration), closing a window every --interval: each window has its own JSON report and evidence file. SIGHUP reloads the policy.")
    var continuous = false

    @Option(name: .long, help: ArgumentHelp("With --continuous: the length of a window.", valueName: "SECONDS"))
    var interval: Double = 60

    @Option(
        name: .customLong("report-dir"),
        help: ArgumentHelp(
            "With --continuous: write each window's JSON report to a file in DIR (default: one line of JSON per window on standard output).",
            valueName: "DIR"))
    var reportDirectory: String?

    @Option(
        name: .customLong("evidence-dir"),
        help: ArgumentHelp(
            "With --continuous: write each window's violating packets to a pcapng file in DIR (only windows with violations keep one).",
            valueName: "DIR"))
    var evidenceDirectory: String?

    @Option(
        name: .long,
        help: ArgumentHelp("With --continuous: keep the newest N evidence files and N reports (default 100), deleting older ones.", valueName: "N"))
    var keep: Int = 100

    @Option(
        name: .customLong("metrics-listen"),
        help: ArgumentHelp("With --continuous: serve Prometheus metrics at http://ADDRESS:PORT/metrics.", valueName: "ADDRESS:PORT"))
    var metricsListen: String?

    @Option(
        name: .customLong("metrics-file"),
        help: ArgumentHelp(
            "With --continuous: write the metrics to FILE (atomically, after each window) for node_exporter's textfile collector.",
            valueName: "FILE.prom"))
    var metricsFile: String?

    /// Checks these options against the rest of `watch`'s.
    func validate(for watch: WatchCommand) throws {
        guard continuous else {
            let given = [
                ("--report-dir", reportDirectory), ("--evidence-dir", evidenceDirectory), ("--metrics-listen", metricsListen),
                ("--metrics-file", metricsFile),
            ].filter { $0.1 != nil }.map(\.0)
            if let first = given.first { throw ValidationError("\(first) needs --continuous") }
            return
        }
        if !(interval >= 0.5 && interval <= 86_400) {
            throw ValidationError("--interval \(interval): give 0.5 to 86400 seconds")
        }
        if keep < 1 { throw ValidationError("--keep \(keep): give at least 1") }
        if let metricsListen, MetricsServer.parse(metricsListen) == nil {
            throw ValidationError("--metrics-listen \(metricsListen): give ADDRESS:PORT, e.g. 127.0.0.1:9273, [::1]:9273 or :9273 (every address)")
        }
        if !watch.command.isEmpty { throw ValidationError("--continuous runs until stopped: it takes no COMMAND") }
        if watch.report.output != nil { throw ValidationError("--continuous writes a report per window: use --report-dir, not --output") }
        if watch.report.evidence != nil {
            throw ValidationError("--continuous writes an evidence file per window: use --evidence-dir, not --evidence")
        }
        if let format = watch.report.chosenFormat, format != .json {
            throw ValidationError(
                "--continuous writes one JSON report per window (and JSON lines on standard error), so --format \(format.rawValue) "
                    + "cannot be used with it; leave --format out")
        }
        for directory in [reportDirectory, evidenceDirectory].compactMap({ $0 }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(directory) is not a directory (create it first)")
            }
        }
    }

    /// Paths written after the watch gives up root (for `Privileges.requireWritable`).
    var writtenPaths: [String?] {
        [reportDirectory.map { $0 + "/report" }, evidenceDirectory.map { $0 + "/evidence" }, metricsFile]
    }

    static let reportPrefix = "lanekeeper-report-"
    static let reportSuffix = ".json"
}

/// SIGHUP asks for a reload: the handler only counts (an atomic add), the watch's loop looks.
enum ReloadSignal {
    static func install() {
        _ = hangups.load(ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in hangups.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGHUP, &action, nil)
    }

    static var count: Int { hangups.load(ordering: .relaxed) }
}

private let hangups = Atomic<Int>(0)

extension WatchCommand {
    /// Runs `session` (open, not started) as a continuous watch until SIGINT/SIGTERM,
    /// `--duration` or the loss of every capture; exits 0 when stopped by a signal, with the
    /// worst window's verdict status after `--duration`, 2 when every capture was lost, 74
    /// when a report, an evidence file or the metrics file could not be written.
    func runContinuous(
        _ session: WatchSession, configuration: WatchConfiguration, user: String, link: SupervisorLink, orders: SupervisorOrders
    ) throws -> Never {
        let log = EventLog()
        let (watch, metrics, server) = try startWindows(session, configuration: configuration, log: log)
        session.start()
        do {
            try link.ready(interfaces: configuration.captureDescriptions, user: user)
        } catch {
            log.event("error", [("message", .string("the supervising lanekeeper process is gone (\(error))"))])
            _ = watch.finish()
            throw ExitCode(Verdict.inconclusive.exitStatus)
        }
        orders.listen()
        var writer = WindowWriter(options: continuousOptions, policyPath: report.policy, log: log, metrics: metrics, files: link)
        let end = closeWindows(watch, configuration: configuration, orders: orders, writer: &writer)
        writer.write(watch.finish())
        server?.stop()
        log.event("stop", [("reason", .string(end.rawValue)), ("windows", .int(writer.windows))])
        // The supervisor passes this process's exit status on once it has heard the verdict.
        try? link.result(verdict: (end == .capturesLost ? Verdict.inconclusive : writer.worst).code)
        if writer.failed { throw ExitCode(ExitStatus.ioError) }
        switch end {
        case .capturesLost: throw ExitCode(Verdict.inconclusive.exitStatus)
        case .signal: throw ExitCode(0)
        case .duration: throw ExitCode(writer.worst.exitStatus)
        }
    }

    /// Why a continuous watch ended, as its `stop` line says it.
    enum ContinuousEnd: String {
        case signal
        case duration
        case capturesLost = "every capture ended"
    }

    /// Prepares the windows of `session` (opened, not started): the metrics, the continuous
    /// watch telling each violation as it comes, the metrics endpoint, the `start` line.
    /// Exits 74 when the evidence directory or the metrics address cannot be used.
    private func startWindows(
        _ session: WatchSession, configuration: WatchConfiguration, log: EventLog
    ) throws -> (ContinuousWatch, WatchMetrics?, MetricsServer?) {
        let options = continuousOptions
        let metrics = options.metricsListen != nil || options.metricsFile != nil
            ? WatchMetrics(interfaces: configuration.interfaces) : nil
        let hash = Self.policyHash(report.policy)
        metrics?.policy(path: report.policy, sha256: hash)
        let watch: ContinuousWatch
        do {
            watch = try ContinuousWatch(
                session: session, evidenceDirectory: options.evidenceDirectory, keep: options.keep,
                onViolation: { violation in
                    log.line(WatchReport.logLine(violation))
                    metrics?.seen(violation)
                })
        } catch {
            printError(error.message)
            throw ExitCode(ExitStatus.ioError)
        }
        var server: MetricsServer?
        if let address = options.metricsListen, let metrics {
            do {
                server = try MetricsServer(address: address) { metrics.text() }
            } catch {
                printError(error.description)
                _ = watch.finish()
                throw ExitCode(ExitStatus.ioError)
            }
        }
        log.event("start", [
            ("interfaces", .array(configuration.interfaces.map(JSONValue.string))),
            ("captures", .array(configuration.captures.map { .string($0.interface == $0.device ? $0.device : "\($0.interface) on \($0.device)") })),
            ("interval", .number(options.interval)),
            ("policy", .string(report.policy)), ("sha256", .string(hash)), ("metrics", server.map { .string($0.url) } ?? .null),
        ])
        return (watch, metrics, server)
    }

    /// Closes a window every interval (and on a reload order, with the new policy) until a
    /// stop order, --duration or the loss of every capture; returns which.
    private func closeWindows(
        _ watch: ContinuousWatch, configuration: WatchConfiguration, orders: SupervisorOrders, writer: inout WindowWriter
    ) -> ContinuousEnd {
        let interval = continuousOptions.interval
        let started = Date()
        // Windows close on a fixed schedule (start + k x interval), so they do not drift by the
        // time each close takes; a reload starts the schedule again.
        var nextClose = started.addingTimeInterval(interval)
        var seenReloads = orders.reloadCount
        var current = configuration
        while true {
            // A stop order comes when the supervisor was signalled (SIGINT, SIGTERM) or is gone.
            if orders.stop.wait(seconds: Self.tick) { return .signal }
            if let duration, Date().timeIntervalSince(started) >= duration { return .duration }
            if watch.session.allCapturesEnded { return .capturesLost }
            watch.flushEvidence()
            if orders.reloadCount != seenReloads {
                seenReloads = orders.reloadCount
                if let policy = reload(current: current, log: writer.log, metrics: writer.metrics) {
                    writer.write(watch.closeWindow(reload: policy))
                    current.policy = policy
                    writer.metrics?.policy(path: report.policy, sha256: Self.policyHash(report.policy))
                    nextClose = Date().addingTimeInterval(interval)
                    continue
                }
            }
            if Date() >= nextClose {
                writer.write(watch.closeWindow())
                nextClose = nextClose.addingTimeInterval(interval)
                // Closing took longer than a window: the next closes one interval from now.
                if nextClose <= Date() { nextClose = Date().addingTimeInterval(interval) }
            }
        }
    }

    /// The policy file read again, or nil (said on the log) when it cannot replace the one in force.
    private func reload(current: WatchConfiguration, log: EventLog, metrics: WatchMetrics?) -> Policy? {
        let policy: Policy
        do {
            policy = try Policy.load(path: report.policy)
        } catch {
            log.event("reload", [("result", .string("rejected")), ("reason", .string(error.description)), ("kept", .string("the policy in force"))])
            metrics?.reload(loaded: false)
            return nil
        }
        if let problem = ContinuousWatch.reloadProblem(current: current, new: policy) {
            log.event("reload", [
                ("result", .string("rejected")), ("reason", .string("\(report.policy): \(problem)")), ("kept", .string("the policy in force")),
            ])
            metrics?.reload(loaded: false)
            return nil
        }
        log.event("reload", [("result", .string("loaded")), ("sha256", .string(Self.policyHash(report.policy)))])
        metrics?.reload(loaded: true)
        return policy
    }

    /// The policy file's SHA-256, as `sha256sum` prints it ("" when it cannot be read).
    static func policyHash(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { SHA256.hex([UInt8]($0)) } ?? ""
    }
}

/// Writes what each closed window produces: its report (a file in --report-dir, or a line on
/// standard output), a `window` line on the log, the metrics.
struct WindowWriter {
    let options: ContinuousOptions
    let policyPath: String
    let log: EventLog
    let metrics: WatchMetrics?
    /// Who creates the files: the supervisor.
    let files: any OutputFiles
    private(set) var windows = 0
    private(set) var failed = false
    /// The worst verdict so far (fail, then inconclusive, then pass).
    private(set) var worst = Verdict.pass

    init(options: ContinuousOptions, policyPath: String, log: EventLog, metrics: WatchMetrics?, files: any OutputFiles) {
        self.files = files
        self.options = options
        self.policyPath = policyPath
        self.log = log
        self.metrics = metrics
    }

    mutating func write(_ window: ContinuousWindow) {
        windows += 1
        let verdict = window.outcome.result.verdict
        if verdict == .fail || (verdict == .inconclusive && worst == .pass) { worst = verdict }
        let document = WatchReport.document(window, policyPath: policyPath)
        var reportPath: String?
        if let directory = options.reportDirectory {
            let path = directory + "/"
                + ContinuousWatch.windowFileName(
                    prefix: ContinuousOptions.reportPrefix, index: window.index, start: window.start, suffix: ContinuousOptions.reportSuffix)
            do throws(OutputWriteError) {
                let file = try files.create(path: path, replace: false, staging: .hidden)
                do {
                    try ReportDestination.stream(writing(document, pretty: true), into: OutputReportSink(file: file))
                } catch {
                    file.abandon()
                    throw error
                }
                try file.commit()
                reportPath = path
            } catch {
                failure("cannot write the report \(path): \(error.detail)")
            }
            _ = files.prune(directory: directory, prefix: ContinuousOptions.reportPrefix, suffix: ContinuousOptions.reportSuffix, keep: options.keep)
        } else {
            do {
                try ReportDestination.stream(writing(document, pretty: false), into: DescriptorReportSink.standardOutput)
            } catch {
                failure("cannot write the report to standard output: \(error.detail)")
            }
        }
        if let error = window.outcome.evidenceError { failure(error) }
        let totals = window.outcome.result.totals
        log.event("window", [
            ("index", .int(window.index)), ("start", .string(window.start.rfc3339)), ("end", .string(window.end.rfc3339)),
            ("verdict", .string(verdict.rawValue)), ("packets", .int(totals.packets)), ("storage_packets", .int(totals.storagePackets)),
            ("violations", .int(window.outcome.result.violations.count)),
            ("dropped", .int(window.outcome.interfaces.reduce(0) { $0 + $1.statistics.dropped })),
            ("report", reportPath.map(JSONValue.string) ?? .null), ("evidence", window.evidencePath.map(JSONValue.string) ?? .null),
            ("deleted_evidence", .array(window.deletedEvidence.map(JSONValue.string))),
        ])
        if let metrics {
            metrics.record(window)
            if let path = options.metricsFile {
                do {
                    try metrics.write(to: path, files: files)
                } catch {
                    failure("cannot write the metrics file \(path): \(error.detail)")
                }
            }
        }
    }

    /// Writes `document` and a newline, as it goes.
    private func writing(_ document: JSONValue, pretty: Bool) -> (inout ReportWriter) -> Void {
        { out in
            document.write(into: &out, pretty: pretty)
            out.append("\n")
        }
    }

    private mutating func failure(_ message: String) {
        failed = true
        log.event("error", [("message", .string(message))])
    }
}

/// One JSON object per line on standard error (journald keeps each as one entry).
final class EventLog: Sendable {
    private let lock = Mutex(())

    func line(_ text: String) {
        lock.withLock { _ in FileHandle.standardError.write(Data((text + "\n").utf8)) }
    }

    func event(_ name: String, _ members: [(String, JSONValue)]) {
        line(
            JSONValue.object([("event", .string(name)), ("time", .string(LiveCapture.wallClock().rfc3339))] + members)
                .serialized(pretty: false))
    }
}
