import ArgumentParser
import Audit
import Capture
import Check
import Dispatch
import Foundation
import Pipeline
import Policy
import Report
import Supervision
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

    @OptionGroup var flowBound: FlowBoundOptions

    @OptionGroup(title: "Continuous watch") var continuousOptions: ContinuousOptions

    @OptionGroup(title: "Open vSwitch (an OVS bond the policy names is captured on its NICs)") var openVSwitch: SwitchOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The user the capture process becomes once its captures are open (started as root; default "
                + "\(Privileges.defaultUser)). COMMAND and the output files keep the identity lanekeeper was started with.",
            valueName: "NAME"))
    var user: String?

    @Option(
        name: .customLong("ready-file"),
        help: ArgumentHelp(
            "Create FILE once every capture is open (removed first if it exists, and when the watch ends).",
            valueName: "FILE"))
    var readyFile: String?

    @Flag(name: .customLong("capture-process"), help: .hidden)
    var captureProcess = false

    /// The Open vSwitch bonds the supervisor read, for the capture process (JSON).
    @Option(name: .customLong("switch-ports"), help: .hidden)
    var switchPortsJSON: String?

    /// Why the supervisor could not read Open vSwitch, for the capture process.
    @Option(name: .customLong("switch-problem"), help: .hidden)
    var switchProblem: String?

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
        if captureProcess {
            try runCaptureProcess()
        } else {
            try WatchSupervisor(watch: self).run()
        }
    }

    /// The capture process (`--capture-process`, started by the supervisor, never by hand):
    /// reads the policy, opens the captures and, through the supervisor, the output files;
    /// drops every privilege; then reads, judges and reports, until the supervisor says stop.
    func runCaptureProcess() throws {
        guard SupervisorLink.isPresent() else {
            printError("--capture-process is how lanekeeper watch starts its own capture process; run lanekeeper watch without it")
            throw ExitCode(ExitStatus.usage)
        }
        // The supervisor decides when to stop and passes signals on as orders: a SIGINT from
        // the terminal, which reaches the whole process group, changes nothing here.
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { signal(number, SIG_IGN) }
        let link = SupervisorLink()
        let opened = try openCaptures(link: link)
        let orders = SupervisorOrders(link: link)
        if continuousOptions.continuous {
            try runContinuous(opened.session, configuration: opened.configuration, user: opened.user, link: link, orders: orders)
        }
        opened.session.start()
        do {
            try link.ready(interfaces: opened.configuration.captureDescriptions, user: opened.user)
        } catch {
            opened.session.abandon()
            opened.destination?.abandon()
            printError("the supervising lanekeeper process is gone (\(error)); nothing was judged")
            throw ExitCode(Verdict.inconclusive.exitStatus)
        }
        orders.listen()
        capture(opened.session, until: orders.stop, link: link)
        let outcome = opened.session.finish()
        let verdict = outcome.result.verdict
        let exit = try report.conclude(
            report: writer(outcome, command: orders.command, policyText: opened.policyText), verdict: verdict,
            evidenceError: outcome.evidenceError, destination: opened.destination)
        try? link.result(verdict: verdict.code)
        throw ExitCode(exit)
    }

    /// A watch's captures, open, with its output files, before anything is read.
    struct OpenedWatch {
        var session: WatchSession
        var configuration: WatchConfiguration
        /// The report's file (nil: standard output, or a continuous watch's window files).
        var destination: ReportDestination?
        var policyText: String?
        /// Whom the capture process runs as now.
        var user: String
    }

    /// Reads the policy, has the supervisor create the output files, opens every capture and
    /// drops every privilege; exits with the documented status when any of it fails (leaving
    /// no output file behind).
    func openCaptures(link: SupervisorLink) throws -> OpenedWatch {
        let target: Privileges.Target
        do {
            target = try Privileges.target(user: user)
        } catch {
            printError(error.description)
            throw ExitCode(ExitStatus.noPermission)
        }
        // Read as the caller; parsed (like every packet) only once the caller's identity is gone.
        let policyText = try report.base.readPolicy()
        do {
            try Privileges.narrow(to: target)
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatus.noPermission)
        }
        let destination = continuousOptions.continuous ? nil : try report.openReport(files: link)
        let policy: Policy
        do {
            policy = try report.base.parsePolicy(policyText)
        } catch {
            destination?.abandon()
            throw error
        }
        var configuration = WatchConfiguration(
            policy: policy, options: LiveCaptureOptions(snapLength: snaplen, bufferBytes: bufferMiB << 20),
            evidencePath: report.evidence, timeline: report.format == .html, prefilter: prefilter)
        configuration.replaceExisting = report.force
        configuration.maxFlows = flowBound.maxFlows
        configuration.files = link
        configuration.switchPorts = switchPorts(for: configuration.interfaces)
        let session: WatchSession
        do {
            session = try WatchSession.open(configuration)
        } catch {
            destination?.abandon()
            throw ExitCode(Self.status(reporting: error, policy: report.policy))
        }
        do {
            try Privileges.drop(to: target)
        } catch {
            // No evidence of a watch that did not run: the FILE.partial and report staging go.
            session.abandon()
            destination?.abandon()
            printError("\(error)")
            throw ExitCode(ExitStatus.noPermission)
        }
        for warning in session.warnings { printError("warning: \(warning)") }
        for failure in session.unopened {
            printError("warning: \(failure.interface) could not be opened (\(failure.detail)); the verdict will be at best inconclusive")
        }
        return OpenedWatch(
            session: session, configuration: configuration, destination: destination,
            policyText: report.format == .html ? policyText : nil, user: target.name)
    }

    /// The interfaces among `names` that are no device here but an Open vSwitch bond the
    /// supervisor found (`--switch-ports`), each with its NICs. A name that is neither stays
    /// unmapped (opening it says it does not exist); a warning says when the switch could not be read.
    func switchPorts(for names: [String]) -> [String: WatchConfiguration.SwitchPortDevices] {
        let bonds = switchPortsJSON.flatMap { try? JSONDecoder().decode([String: WatchConfiguration.SwitchPortDevices].self, from: Data($0.utf8)) } ?? [:]
        var ports: [String: WatchConfiguration.SwitchPortDevices] = [:]
        for name in names where if_nametoindex(name) == 0 {
            if let port = bonds[name] {
                ports[name] = port
            } else if let switchProblem {
                printError("warning: \(name) is no device here, and Open vSwitch could not be read to find it as a bond: \(switchProblem)")
            }
        }
        return ports
    }

    /// The supervisor's part, as the caller (the database is root's, and the capture process
    /// gives up its identity before it reads the policy): every Open vSwitch bond, as hidden
    /// arguments of the capture process, which captures a bond the policy names on its NICs.
    /// Nothing when no switch runs, and nothing unless started as root: a supervisor started
    /// with capabilities gives them up thread by thread, and running ovs-vsctl (Foundation's
    /// Process) leaves a thread behind that would keep them.
    func switchPortArguments() -> [String] {
        guard geteuid() == 0 else {
            return ["--switch-problem", "only a watch started as root reads Open vSwitch's database"]
        }
        switch (openVSwitch.source ?? .standard).read() {
        case .absent:
            return []
        case .failed(let reason):
            return ["--switch-problem", reason]
        case .read(let configuration, _):
            var bonds: [String: WatchConfiguration.SwitchPortDevices] = [:]
            for bridge in configuration.bridges {
                for port in bridge.ports where port.isBond {
                    bonds[port.name] = .init(devices: port.interfaces.map(\.name), description: "Open vSwitch bond on \(bridge.name)")
                }
            }
            guard !bonds.isEmpty, let data = try? JSONEncoder().encode(bonds) else { return [] }
            return ["--switch-ports", String(decoding: data, as: UTF8.self)]
        }
    }

    /// Says why a watch could not open; its exit status.
    static func status(reporting error: WatchError, policy: String) -> Int32 {
        switch error.code {
        case .noInterfaces:
            printError("\(policy): \(error.message)")
            return ExitStatus.dataError
        case .noSuchInterface:
            printError(error.message)
            return ExitStatus.dataError
        case .permissionDenied:
            printError("\(error.message)\n" + Privileges.explanation())
            return ExitStatus.noPermission
        case .evidence:
            printError(error.message)
            return ExitStatus.ioError
        case .evidenceExists:
            printError(error.message)
            return ExitStatus.cannotCreate
        }
    }

    /// Captures until the supervisor's stop order (or its end), telling it once if every
    /// capture was lost, flushing evidence and showing the status line meanwhile.
    func capture(_ session: WatchSession, until stop: StopRequest, link: SupervisorLink) {
        let status = StatusLine(enabled: isatty(2) == 1)
        let started = Date()
        var lastFlush = Date()
        var toldCapturesEnded = false
        while !stop.wait(seconds: Self.tick) {
            if session.allCapturesEnded && !toldCapturesEnded {
                toldCapturesEnded = true
                try? link.capturesEnded()
            }
            status.show(session.status(), elapsed: Date().timeIntervalSince(started))
            if Date().timeIntervalSince(lastFlush) >= Self.tick {
                session.flushEvidence()
                lastFlush = Date()
            }
        }
        status.clear()
    }

    /// What writes the report in the format asked for, as it is made (the HTML page, bounded
    /// on its own, is made whole first).
    func writer(_ outcome: WatchOutcome, command: CommandOutcome?, policyText: String?) -> (inout ReportWriter) -> Void {
        let policy = report.policy
        switch report.format {
        case .text:
            return { WatchReport.writeText(outcome, command: command, into: &$0) }
        case .json:
            return { WatchReport.writeJSON(outcome, command: command, policyPath: policy, into: &$0) }
        case .html:
            let page = WatchReport.html(outcome, command: command, policyPath: policy, policyText: policyText)
            return { $0.append(page) }
        }
    }
}

extension Verdict {
    /// The verdict on the wire between the capture process and its supervisor.
    var code: UInt8 {
        switch self {
        case .pass: 0
        case .fail: 1
        case .inconclusive: 2
        }
    }

    /// The verdict of a code `code` gives (nil for none).
    init?(code: UInt8) {
        guard let verdict = [Verdict.pass, .fail, .inconclusive].first(where: { $0.code == code }) else { return nil }
        self = verdict
    }
}

/// What the supervisor orders, heard on a thread of its own: a stop (with COMMAND's outcome)
/// or, in a continuous watch, a reload. The supervisor gone (its pipe closed) is a stop too.
final class SupervisorOrders: @unchecked Sendable {
    let link: SupervisorLink
    let stop = StopRequest()
    private let state = Mutex<CommandOutcome?>(nil)
    private let reloads = Atomic<Int>(0)

    init(link: SupervisorLink) {
        self.link = link
    }

    /// COMMAND's outcome, once the stop order brought it.
    var command: CommandOutcome? { state.withLock { $0 } }

    /// Reload orders received so far.
    var reloadCount: Int { reloads.load(ordering: .relaxed) }

    /// Starts hearing orders.
    func listen() {
        let thread = Thread { [self] in
            while true {
                switch link.nextControl() {
                case .stop(_, _, let command)?:
                    // Why it stops is the supervisor's business (and the report's note on COMMAND).
                    state.withLock { $0 = command }
                    stop.request()
                case .reload?:
                    reloads.add(1, ordering: .relaxed)
                case nil:
                    // The supervisor is gone (its pipe closed): stop too.
                    stop.request()
                    return
                }
            }
        }
        thread.name = "lanekeeper orders"
        thread.start()
    }
}

/// The capture process's stop: set once by the orders thread, waited for by the loop that reads.
final class StopRequest: Sendable {
    private let requested = Atomic<Bool>(false)
    private let wakeUp = DispatchSemaphore(value: 0)

    func request() {
        requested.store(true, ordering: .releasing)
        wakeUp.signal()
    }

    /// Waits up to `seconds` for the stop; whether it was asked for.
    func wait(seconds: Double) -> Bool {
        _ = wakeUp.wait(timeout: .now() + seconds)
        return requested.load(ordering: .acquiring)
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
