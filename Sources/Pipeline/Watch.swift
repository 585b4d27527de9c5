import Capture
import Check
import Dispatch
import Flows
import Foundation
import Frames
import Policy

/// Everything a live watch needs.
public struct WatchConfiguration: Sendable {
    public var policy: Policy
    public var options: LiveCaptureOptions
    /// Where to write every packet of every violating flow, if anywhere.
    public var evidencePath: String?
    /// Whether to build the report's timeline (bytes over time per network, binned as packets come).
    public var timeline: Bool
    /// What the kernel filter keeps.
    public var prefilter: Prefilter
    /// Whether an existing evidence file (or `FILE.partial`) may be replaced (`--force`).
    public var replaceExisting = false
    /// Who creates the evidence files: this process, or the supervisor of a capture process.
    public var files: any OutputFiles = LocalFiles()
    /// The bound on each interface's live flows (`FlowTracker.maxFlows`).
    public var maxFlows = FlowTracker.defaultMaxFlows
    /// Interfaces the policy names that are no device of the host but a switch port over
    /// several devices (an Open vSwitch bond): each is captured on its member devices, whose
    /// frames are judged as the named interface's.
    public var switchPorts: [String: SwitchPortDevices] = [:]

    /// A switch port's member devices, and what the port is, in words (`Open vSwitch bond on cloudbr0`).
    public struct SwitchPortDevices: Sendable, Hashable, Codable {
        public var devices: [String]
        public var description: String

        public init(devices: [String], description: String) {
            self.devices = devices
            self.description = description
        }
    }

    /// What the kernel prefilter keeps.
    public enum Prefilter: String, Sendable, CaseIterable {
        /// Every IP packet: storage is recognised by what it says, on any port and inside
        /// VXLAN or GRE, as `replay` does (the default).
        case deep
        /// Only the protocol table's ports (tagged or not) and IP fragments: less work, but
        /// storage on other ports or in tunnels is not seen.
        case ports
    }

    public init(
        policy: Policy, options: LiveCaptureOptions = LiveCaptureOptions(), evidencePath: String? = nil,
        timeline: Bool = false, prefilter: Prefilter = .deep
    ) {
        self.policy = policy
        self.options = options
        self.evidencePath = evidencePath
        self.timeline = timeline
        self.prefilter = prefilter
    }

    /// Every interface the policy's networks name, in policy order, each once.
    public var interfaces: [String] {
        var seen = Set<String>()
        return policy.networks.flatMap(\.interfaces).filter { seen.insert($0).inserted }
    }

    /// What is opened: each interface the policy names on its own device, a switch port on
    /// each of its member devices (a member the policy also names itself is captured once,
    /// under its own name).
    public var captures: [(interface: String, device: String)] {
        let named = interfaces
        return named.flatMap { name -> [(interface: String, device: String)] in
            guard let port = switchPorts[name] else { return [(name, name)] }
            return port.devices.filter { !named.contains($0) }.map { (name, $0) }
        }
    }

    /// The interfaces as `capturing on ...` says them: `bond0 on [eth0, eth1] (Open vSwitch bond on cloudbr0)`.
    public var captureDescriptions: [String] {
        interfaces.map { name in
            guard let port = switchPorts[name] else { return name }
            return "\(name) on [\(port.devices.joined(separator: ", "))] (\(port.description))"
        }
    }

    /// The kernel prefilter: every IP packet for deep inspection, or the storage ports of the
    /// policy's protocol table (so a policy's `ports` and `storage_protocols` shape it) plus
    /// IP fragments, tagged or not.
    public var filter: CaptureFilter {
        prefilter == .deep ? .everyIPPacket : Self.filter(for: policy.protocolTable)
    }

    public static func filter(for table: ProtocolTable) -> CaptureFilter {
        var tcp: [UInt16] = []
        var udp: [UInt16] = []
        for service in table.services {
            if service.transports.contains(.tcp) { tcp += service.ports }
            if service.transports.contains(.udp) { udp += service.ports }
        }
        return CaptureFilter(tcpPorts: tcp, udpPorts: udp)
    }
}

/// A watch that could not start.
public struct WatchError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable {
        /// The policy names no interface to capture on.
        case noInterfaces
        /// An interface the policy names does not exist.
        case noSuchInterface
        /// This process may not capture.
        case permissionDenied
        /// The evidence file cannot be created.
        case evidence
        /// The evidence file (or `FILE.partial`) exists and may not be replaced.
        case evidenceExists
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}

/// What the status line shows.
public struct WatchStatus: Sendable, Equatable {
    public var packets = 0
    public var storagePackets = 0
    public var dropped = 0
}

/// How one watched interface's capture went.
public struct LiveInterfaceReport: Sendable {
    /// The interface the policy names, whose network its frames are judged in.
    public var name: String
    /// The device captured: `name`, or a member of the switch port `name` (an Open vSwitch bond).
    public var device: String
    /// False when it could not be opened (`problems` says why).
    public var opened: Bool
    /// The kernel filter installed.
    public var filter: String?
    public var frames: Int
    public var statistics: LiveCaptureStatistics
    public var start: Timestamp?
    public var end: Timestamp?
    /// Why this interface's capture was not complete, in words.
    public var problems: [String]
    /// libpcap's activation warning, if any.
    public var warning: String?

    /// `bond0 (on eth0)` for a switch port's member, else the name.
    public var label: String { device == name ? name : "\(name) (on \(device))" }
}

/// The command a watch ran (`lanekeeper watch ... -- COMMAND`) and how it ended.
public struct CommandOutcome: Sendable, Equatable {
    public var argv: [String]
    /// Its exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal that ended it, when one did.
    public var signal: Int32?
    /// Anything worth saying (e.g. lanekeeper ended it when the watch stopped first).
    public var note: String?

    public init(argv: [String], exitStatus: Int32? = nil, signal: Int32? = nil, note: String? = nil) {
        self.argv = argv
        self.exitStatus = exitStatus
        self.signal = signal
        self.note = note
    }
}

/// A finished watch: the verdict and what each capture saw.
public struct WatchOutcome: Sendable {
    public var result: CheckResult
    public var interfaces: [LiveInterfaceReport]
    /// Packets written to the evidence file.
    public var evidencePackets = 0
    /// Why the evidence file could not be written in full, if it could not (the verdict stands).
    public var evidenceError: String?
    /// Bytes over time per network, when the configuration asked for it.
    public var timeline: Timeline?
}

/// A live watch: one capture per interface the policy names, each read on its own thread
/// into its own engine, judged together at the end exactly as a replay of the same packets.
///
/// ```swift
/// let session = try WatchSession.open(configuration)   // every capture is active from here
/// session.start()
/// ... session.status() ...
/// session.stop()
/// let outcome = session.finish()
/// ```
public final class WatchSession: @unchecked Sendable {
    public let configuration: WatchConfiguration
    let workers: [InterfaceWorker]
    private let evidence: EvidenceSink?
    private let group = DispatchGroup()
    private var started = false

    private init(configuration: WatchConfiguration, workers: [InterfaceWorker], evidence: EvidenceSink?) {
        self.configuration = configuration
        self.workers = workers
        self.evidence = evidence
    }

    /// Creates the evidence file and opens (activates, filters) every interface.
    ///
    /// - Throws: `WatchError` when the policy names no interface, an interface does not
    ///   exist, this process may not capture, or the evidence file cannot be created. An
    ///   interface that exists but cannot be opened otherwise (it is down, ...) does not
    ///   throw: the watch goes on without it and the verdict is at best inconclusive.
    public static func open(_ configuration: WatchConfiguration) throws(WatchError) -> WatchSession {
        let names = configuration.interfaces
        if names.isEmpty {
            throw WatchError(
                code: .noInterfaces,
                message: "the policy names no interface (networks.NAME.interfaces); a watch captures on the interfaces "
                    + "the policy names, so name at least one")
        }
        var sink: EvidenceSink?
        if let path = configuration.evidencePath {
            do {
                sink = try EvidenceSink(path: path, replace: configuration.replaceExisting, files: configuration.files)
            } catch {
                let failure = Evidence.Failure(error)
                throw WatchError(code: failure.isRefusal ? .evidenceExists : .evidence, message: failure.description)
            }
        }
        var workers: [InterfaceWorker] = []
        for (index, (name, device)) in configuration.captures.enumerated() {
            var capture: LiveCapture?
            var failure: LiveCaptureError?
            do {
                capture = try LiveCapture.open(interface: device, options: configuration.options, filter: configuration.filter)
            } catch {
                switch error.code {
                case .noSuchDevice:
                    sink?.discard()
                    let port = configuration.switchPorts[name].map { ", a member of \(name) (\($0.description)),"
                    } ?? ", which the policy names,"
                    throw WatchError(
                        code: .noSuchInterface,
                        message: "interface \(device)\(port) does not exist on this host "
                            + "(in this network namespace)")
                case .permissionDenied:
                    sink?.discard()
                    throw WatchError(code: .permissionDenied, message: "cannot capture on \(device): \(error.detail)")
                case .notUp, .failed:
                    failure = error
                }
            }
            workers.append(
                InterfaceWorker(
                    name: name, device: device, sourceIndex: index, capture: capture, openError: failure,
                    policy: configuration.policy, evidence: sink, timeline: configuration.timeline, maxFlows: configuration.maxFlows))
        }
        return WatchSession(configuration: configuration, workers: workers, evidence: sink)
    }

    /// libpcap's warnings from opening the interfaces, for the user.
    public var warnings: [String] {
        workers.compactMap { worker in worker.capture?.warning.map { "\(worker.device): \($0)" } }
    }

    /// Interfaces that could not be opened, and why.
    public var unopened: [LiveCaptureError] {
        workers.compactMap(\.openError)
    }

    /// Starts one reading thread per opened interface.
    public func start() {
        guard !started else { return }
        started = true
        for worker in workers where worker.capture != nil {
            group.enter()
            let thread = Thread { [group] in
                worker.run()
                group.leave()
            }
            thread.name = "lanekeeper \(worker.device)"
            thread.qualityOfService = .userInteractive
            thread.start()
        }
    }

    /// Packets, storage packets and drops so far, summed over the interfaces.
    public func status() -> WatchStatus {
        var status = WatchStatus()
        for worker in workers {
            status.packets += worker.published.packets.load(ordering: .relaxed)
            status.storagePackets += worker.published.storagePackets.load(ordering: .relaxed)
            status.dropped += worker.published.dropped.load(ordering: .relaxed)
        }
        return status
    }

    /// True when no capture is reading any more (every interface was lost, or none opened).
    public var allCapturesEnded: Bool {
        workers.allSatisfy { $0.capture == nil || $0.published.finished.load(ordering: .acquiring) }
    }

    /// Puts the evidence written so far into the file (whole blocks only).
    public func flushEvidence() {
        try? evidence?.flush()
    }

    /// Stops every capture after reading what the kernel still holds (a few hundred
    /// milliseconds), and waits for the reading threads. Call from one thread.
    public func stop() {
        let captures = workers.compactMap(\.capture)
        for capture in captures { capture.stop() }
        if started, let drain = captures.map(\.drainSeconds).max(), let limit = captures.map(\.stopSeconds).max() {
            // The readers end by themselves once the kernel's buffers are read; a loaded
            // machine may give them the CPU only after the drain.
            Thread.sleep(forTimeInterval: drain)
            _ = group.wait(timeout: .now() + (limit - drain))
        }
        for capture in captures { capture.breakLoop() }
        group.wait()
    }

    /// Ends a watch that fails before its normal end (it cannot drop its privileges, its
    /// COMMAND cannot start): stops the captures and removes the evidence file, as
    /// `FILE.partial`, when this run created it. Nothing is judged; `finish()` is not called.
    public func abandon() {
        if started { stop() }
        evidence?.discard()
    }

    /// Stops, closes the evidence file and judges everything that was read.
    public func finish() -> WatchOutcome {
        stop()
        // The rings are read out: their memory goes before the flows are merged.
        for capture in workers.compactMap(\.capture) { capture.close() }
        var engines = workers.map(\.engine)
        let checker = Checker(policy: configuration.policy)
        var observation = Engine.resolve(&engines, names: .live(workers.map(\.name)), checker: checker).observation
        let reports = workers.map { $0.report(frames: $0.outcome.frames, statistics: $0.statistics, start: $0.start, end: $0.end) }
        let result = Self.judge(
            &observation, names: workers.map(\.name), reports: reports, checker: checker,
            bufferBytes: configuration.options.bufferBytes)
        var outcome = WatchOutcome(result: result, interfaces: reports)
        outcome.evidencePackets = workers.reduce(0) { $0 + $1.evidenceWritten }
        outcome.evidenceError = workers.lazy.compactMap(\.evidenceError).first
        if configuration.timeline {
            var timeline = Timeline(series: configuration.policy.networks.count + 1)
            for worker in workers {
                if let part = worker.timeline { timeline.merge(part) }
            }
            outcome.timeline = timeline
        }
        if let evidence {
            if outcome.evidenceError != nil {
                // Incomplete: FILE.partial stays, with every whole packet that reached it.
                evidence.abandon()
            } else {
                do {
                    try evidence.close()
                } catch {
                    outcome.evidenceError = Evidence.Failure(error).description
                }
            }
        }
        return outcome
    }

    /// Adds reasons that make a verdict at best inconclusive: a fail stays a fail.
    static func add(_ reasons: [String], to result: inout CheckResult) {
        guard !reasons.isEmpty else { return }
        result.reasons += reasons
        if result.verdict == .pass { result.verdict = .inconclusive }
    }

    static func mebibytes(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}

extension WatchSession {
    /// Judges what a watch read (all of it, or one window of a continuous watch): every
    /// watched interface is reported, even one that saw nothing; an interface's problems and
    /// drops make the verdict at best inconclusive; libpcap's warnings are kept.
    static func judge(
        _ observation: inout Observation, names: [String], reports: [LiveInterfaceReport], checker: Checker,
        bufferBytes: Int
    ) -> CheckResult {
        for name in names where !observation.interfaces.contains(where: { $0.name == name }) {
            observation.interfaces.append(ObservedInterface(name: name, label: name))
        }
        var result = checker.check(observation)
        var reasons: [String] = []
        for report in reports {
            reasons += report.problems
            if report.statistics.dropped > 0 {
                reasons.append(
                    "\(report.statistics.dropped) packets were dropped on \(report.label) before lanekeeper could read "
                        + "them (kernel buffer \(mebibytes(bufferBytes)); raise --buffer-mib)")
            }
            if let warning = report.warning { result.warnings.append("\(report.label): libpcap: \(warning)") }
        }
        add(reasons, to: &result)
        return result
    }
}
