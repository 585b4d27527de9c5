import Capture
import Check
import Flows
import Foundation
import Frames
import Policy
import Synchronization

/// A storage flow judged a violation while a watch reads, told as soon as its first packet
/// in the management network is seen as storage (not only when a window closes).
public struct LiveViolation: Sendable {
    /// When it was seen (the packet that made it a violation).
    public var time: Timestamp
    /// The flow as a report's violation row, as it stood then.
    public var row: Violation

    public init(time: Timestamp, row: Violation) {
        self.time = time
        self.row = row
    }
}

/// What a window's report needs from one reader when the window closes: its engine so far
/// (cumulative counts and learned state) and each flow's first packet in the window.
struct ReaderSnapshot {
    var engine: Engine
    /// Changes when a reload replaced the engine (its counts start from zero again).
    var epoch: Int
    var window: Int
    /// Packets read since the reader was made.
    var packets: Int
    var statistics: LiveCaptureStatistics
    /// Per flow of `engine`: its first packet in the window, when it had one.
    var windowFirstSeen: [Timestamp?]
    var evidenceWritten: Int
    var evidenceError: String?
    var at: Timestamp
}

/// The handshake that closes a window: the continuous watch's thread asks, each reading
/// thread answers between two packets (on its next tick, at most a few hundred
/// milliseconds later) with its `ReaderSnapshot`, and the watch waits for every answer.
final class WindowControl: @unchecked Sendable {
    struct Request {
        var generation: Int
        /// The policy of the next window, after a reload.
        var policy: Policy?
        /// Whether the next window's evidence goes elsewhere: to `evidence`, or nowhere when
        /// that is nil (its file could not be created).
        var replacesEvidence = false
        var evidence: EvidenceSink?
        /// A reader holding more flows than this starts a new engine for the next window.
        var maxFlows = Int.max
    }

    private let requested = Atomic<Int>(0)
    /// Guards `request` and `delivered`.
    private let condition = NSCondition()
    private var request = Request(generation: 0)
    private var delivered: [Int: ReaderSnapshot] = [:]

    /// On a reading thread: the request it has not answered yet (served: the last it answered).
    func pending(after served: Int) -> Request? {
        guard requested.load(ordering: .acquiring) > served else { return nil }
        condition.lock()
        defer { condition.unlock() }
        return request
    }

    /// On a reading thread: its answer to `generation`.
    func deliver(_ snapshot: ReaderSnapshot, for source: Int) {
        condition.lock()
        delivered[source] = snapshot
        condition.broadcast()
        condition.unlock()
    }

    /// Asks every reader to close its window; returns, per worker, its answer, or its final
    /// state when it is not reading (never opened, or its interface was lost).
    func collect(_ new: Request, from workers: [InterfaceWorker]) -> [ReaderSnapshot] {
        condition.lock()
        request = new
        delivered = [:]
        condition.unlock()
        requested.store(new.generation, ordering: .releasing)
        // A reader asleep in a read with nothing to read answers on its next tick: wake it.
        for worker in workers where worker.isReading { worker.capture?.breakLoop() }
        condition.lock()
        defer { condition.unlock() }
        while !workers.allSatisfy({ delivered[$0.sourceIndex] != nil || !$0.isReading }) {
            _ = condition.wait(until: Date().addingTimeInterval(0.05))
        }
        return workers.map { worker in
            // A reader that ended has nothing after its final state, which includes any answer.
            worker.isReading ? delivered[worker.sourceIndex]! : worker.finalReader.snapshot(statistics: worker.statistics)
        }
    }
}

extension InterfaceWorker {
    /// True while the reading thread runs (false before start for an unopened interface, and
    /// once its capture ended).
    var isReading: Bool {
        capture != nil && !published.finished.load(ordering: .acquiring)
    }
}

extension LiveReader {
    /// What the current window needs (see `ReaderSnapshot`), without closing it.
    func snapshot(statistics: LiveCaptureStatistics) -> ReaderSnapshot {
        ReaderSnapshot(
            engine: engine, epoch: epoch, window: window, packets: packets, statistics: statistics,
            windowFirstSeen: flowWindowFirstSeen(), evidenceWritten: recorder?.written ?? 0,
            evidenceError: evidenceError, at: LiveCapture.wallClock())
    }
}

/// One closed window of a continuous watch.
public struct ContinuousWindow: Sendable {
    /// Counts from 0.
    public var index: Int
    public var start: Timestamp
    public var end: Timestamp
    /// The verdict and the captures of this window only.
    public var outcome: WatchOutcome
    /// The window's evidence file, kept when the window wrote packets to it.
    public var evidencePath: String?
    /// Older evidence files deleted to keep `--keep` of them.
    public var deletedEvidence: [String] = []
    /// Interfaces whose engine started afresh at the end of this window (see `maxFlows`).
    public var restartedEngines: [String] = []
}

/// `watch --continuous`: the session's captures run without stopping while the watch closes
/// a window every interval. A window is cut in each reading thread between two packets, so
/// every packet is in exactly one window; its report counts only its packets (the difference
/// of the engine's counts between two cuts) while flows, their recognition and what the
/// portmapper said carry over, so a flow recognised in one window is still storage in the
/// next. Each window has its own evidence file (kept only when it has packets, the oldest
/// deleted beyond `keep`).
///
/// ```swift
/// let watch = try ContinuousWatch(session: session, ...)   // before session.start()
/// session.start()
/// ... let window = watch.closeWindow() ...                 // every interval
/// ... watch.closeWindow(reload: newPolicy) ...             // on SIGHUP
/// let last = watch.finish()
/// ```
///
/// Concurrency: call from one thread.
public final class ContinuousWatch {
    public let session: WatchSession
    public private(set) var policy: Policy
    public let evidenceDirectory: String?
    public let keep: Int?
    /// The flows an interface's engine may hold before it starts afresh at the next window
    /// (a watch that runs for months would otherwise keep every flow it ever saw): learned
    /// state is lost then, so a flow recognised by content is storage again from its next
    /// recognisable message, and a violation still going on is told again.
    public let maxFlows: Int
    public static let defaultMaxFlows = 500_000
    private let control = WindowControl()
    private var generation = 0
    private var ledger: WindowLedger
    private var sink: EvidenceSink?
    private var windowIndex = 0
    private var windowStart: Timestamp

    /// The evidence files' names: `lanekeeper-evidence-<window start, UTC>-w<index>.pcapng`.
    public static let evidencePrefix = "lanekeeper-evidence-"
    public static let evidenceSuffix = ".pcapng"

    /// Prepares `session` (opened, not started) for windows: creates the first window's
    /// evidence file in `evidenceDirectory` and tells `onViolation` (on the reading threads)
    /// of each violation as it is first seen.
    ///
    /// - Throws: `WatchError` (`.evidence`) when the directory cannot be written.
    public init(
        session: WatchSession, evidenceDirectory: String? = nil, keep: Int? = nil, maxFlows: Int = defaultMaxFlows,
        onViolation: (@Sendable (LiveViolation) -> Void)? = nil
    ) throws(WatchError) {
        self.session = session
        self.maxFlows = maxFlows
        self.policy = session.configuration.policy
        self.evidenceDirectory = evidenceDirectory
        self.keep = keep
        ledger = WindowLedger(readers: session.workers.count)
        windowStart = LiveCapture.wallClock()
        sink = try makeSink(index: 0, start: windowStart)
        for worker in session.workers {
            worker.prepareWindows(control, evidence: sink, onViolation: onViolation)
        }
    }

    /// Closes the current window and starts the next (with `reload` as its policy, if given;
    /// check it with `reloadProblem` first).
    ///
    /// - Returns: the closed window, judged against the policy it was read with.
    public func closeWindow(reload: Policy? = nil) -> ContinuousWindow {
        generation += 1
        let next = LiveCapture.wallClock()
        var nextSink: EvidenceSink?
        var sinkError: String?
        do {
            nextSink = try makeSink(index: windowIndex + 1, start: next)
        } catch {
            sinkError = error.message
        }
        let snapshots = control.collect(
            WindowControl.Request(
                generation: generation, policy: reload, replacesEvidence: evidenceDirectory != nil, evidence: nextSink,
                maxFlows: maxFlows),
            from: session.workers)
        var window = judge(snapshots, final: false)
        window.restartedEngines = zip(session.workers, snapshots)
            .filter { $0.0.isReading && $0.1.engine.tracker.flows.count > maxFlows }.map(\.0.name)
        if let sinkError { window.outcome.evidenceError = window.outcome.evidenceError ?? sinkError }
        sink = nextSink
        if let reload { policy = reload }
        windowIndex += 1
        windowStart = window.end
        return window
    }

    /// Stops the captures (reading what the kernel still holds) and closes the last window.
    public func finish() -> ContinuousWindow {
        session.stop()
        let snapshots = session.workers.map { $0.finalReader.snapshot(statistics: $0.statistics) }
        return judge(snapshots, final: true)
    }

    /// Why `new` cannot replace `current` without restarting (nil when it can): a reload
    /// keeps the captures, so the interfaces must be the same, and with `--prefilter ports`
    /// the kernel filter was built from the storage ports, so the protocol table must be too.
    public static func reloadProblem(current: WatchConfiguration, new: Policy) -> String? {
        var next = current
        next.policy = new
        if next.interfaces != current.interfaces {
            return "it captures on \(next.interfaces.joined(separator: ", ")) instead of "
                + "\(current.interfaces.joined(separator: ", ")); restart lanekeeper to change the interfaces"
        }
        if current.prefilter == .ports && next.filter != current.filter {
            return "its storage ports differ and --prefilter ports built the kernel filter from the old ones; "
                + "restart lanekeeper to change them"
        }
        return nil
    }

    /// Whether two protocol tables recognise the same services the same way (then a reload
    /// keeps the engines and what they learned).
    static func sameProtocolTable(_ a: ProtocolTable, _ b: ProtocolTable) -> Bool {
        a.services == b.services
    }

    // MARK: - Judging a window

    private func judge(_ snapshots: [ReaderSnapshot], final: Bool) -> ContinuousWindow {
        let workers = session.workers
        let previous = ledger.cuts
        var part = ledger.close(
            snapshots, names: workers.map(\.name),
            interfaces: workers.map { worker in
                CaptureInterface(
                    name: worker.name, linkType: worker.capture?.linkType ?? .ethernet,
                    snapLength: UInt32(clamping: worker.capture?.options.snapLength ?? 0))
            }, policy: policy, final: final)
        var reports: [LiveInterfaceReport] = []
        for (index, worker) in workers.enumerated() {
            let ended = worker.capture != nil && !worker.isReading
            reports.append(
                worker.report(
                    frames: part.frames[index], statistics: part.statistics[index],
                    start: previous[index] ?? worker.start ?? windowStart, end: ended ? worker.end : snapshots[index].at,
                    ended: ended))
        }
        let result = WatchSession.judge(
            &part.observation, names: workers.map(\.name), reports: reports, checker: Checker(policy: policy),
            bufferBytes: session.configuration.options.bufferBytes)
        var outcome = WatchOutcome(result: result, interfaces: reports)
        outcome.evidencePackets = snapshots.reduce(0) { $0 + $1.evidenceWritten }
        outcome.evidenceError = snapshots.lazy.compactMap(\.evidenceError).first
        let end = snapshots.map(\.at).max() ?? LiveCapture.wallClock()
        var window = ContinuousWindow(index: windowIndex, start: windowStart, end: end, outcome: outcome)
        closeEvidence(of: &window)
        return window
    }

    // MARK: - Evidence files

    private func makeSink(index: Int, start: Timestamp) throws(WatchError) -> EvidenceSink? {
        guard let evidenceDirectory else { return nil }
        let path = evidenceDirectory + "/" + Self.windowFileName(prefix: Self.evidencePrefix, index: index, start: start, suffix: Self.evidenceSuffix)
        do {
            return try EvidenceSink(path: path, files: session.configuration.files)
        } catch {
            throw WatchError(code: .evidence, message: Evidence.Failure(error).description)
        }
    }

    /// `PREFIX20261125T153000.123456789Z-w000042SUFFIX`: a window's file, named by when the
    /// window started and its number, so that sorting by name puts the oldest first.
    public static func windowFileName(prefix: String, index: Int, start: Timestamp, suffix: String) -> String {
        let stamp = start.rfc3339.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        let number = String(index)
        return prefix + stamp + "-w" + String(repeating: "0", count: max(0, 6 - number.count)) + number + suffix
    }

    /// Puts the evidence written so far into the current window's file (whole blocks).
    public func flushEvidence() {
        try? sink?.flush()
    }

    /// Closes the window's evidence file: kept when it has packets, removed otherwise; then
    /// the oldest beyond `keep` are deleted.
    private func closeEvidence(of window: inout ContinuousWindow) {
        guard let sink else { return }
        do {
            try sink.close()
        } catch {
            window.outcome.evidenceError = window.outcome.evidenceError ?? Evidence.Failure(error).description
        }
        let files = session.configuration.files
        if window.outcome.evidencePackets > 0 {
            window.evidencePath = sink.path
        } else {
            try? files.remove(path: sink.path)
        }
        if let keep, let evidenceDirectory {
            window.deletedEvidence = files.prune(
                directory: evidenceDirectory, prefix: Self.evidencePrefix, suffix: Self.evidenceSuffix, keep: keep)
        }
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
                    "\(report.statistics.dropped) packets were dropped on \(report.name) before lanekeeper could read "
                        + "them (kernel buffer \(mebibytes(bufferBytes)); raise --buffer-mib)")
            }
            if let warning = report.warning { result.warnings.append("\(report.name): libpcap: \(warning)") }
        }
        add(reasons, to: &result)
        return result
    }
}

/// The arithmetic of windows: what each reader had counted at the previous cut, and the
/// window between that cut and the next as an `Observation` of its own packets.
struct WindowLedger {
    /// Counts at the previous cut, per reader.
    private var baselines: [Baseline]

    private struct Baseline {
        var epoch = 0
        var counters: [SegmentCounters] = []
        var flows: [FlowCounts] = []
        var orphans: [UInt32: FragmentTally] = [:]
        var packets = 0
        var statistics = LiveCaptureStatistics()
        var at: Timestamp?
    }

    struct FlowCounts: Equatable {
        var packets = 0
        var bytes = 0
        var laterFragments = 0

        init(packets: Int = 0, bytes: Int = 0, laterFragments: Int = 0) {
            self.packets = packets
            self.bytes = bytes
            self.laterFragments = laterFragments
        }

        init(_ flow: Flow) {
            self.init(packets: flow.packets, bytes: flow.bytes, laterFragments: flow.laterFragments)
        }

        static func - (a: FlowCounts, b: FlowCounts) -> FlowCounts {
            FlowCounts(packets: a.packets - b.packets, bytes: a.bytes - b.bytes, laterFragments: a.laterFragments - b.laterFragments)
        }
    }

    /// A closed window.
    struct Window {
        /// Its packets, flows and fragments only (flows without a packet in it left out).
        var observation: Observation
        /// Per reader: packets read in the window, and its drops.
        var frames: [Int]
        var statistics: [LiveCaptureStatistics]
    }

    init(readers: Int) {
        baselines = Array(repeating: Baseline(), count: readers)
    }

    /// Per reader: when the previous cut was made (nil before the first).
    var cuts: [Timestamp?] { baselines.map(\.at) }

    /// Closes the window that ends with `snapshots` (one per reader, in order; reader `i`
    /// is source `i`, named `names[i]`, capturing as `interfaces[i]`). With `final`, IP
    /// fragments still waiting for their first fragment count as orphans (at the end of a
    /// watch); otherwise they wait for the next window.
    mutating func close(
        _ snapshots: [ReaderSnapshot], names: [String], interfaces: [CaptureInterface], policy: Policy, final: Bool
    ) -> Window {
        var engines: [Engine] = []
        var flowDeltas: [[FlowCounts]] = []
        var orphanDeltas: [[UInt32: FragmentTally]] = []
        var frames: [Int] = []
        var statistics: [LiveCaptureStatistics] = []
        let previousCuts = cuts
        for (index, snapshot) in snapshots.enumerated() {
            var base = baselines[index]
            if base.epoch != snapshot.epoch {
                // A reload replaced the engine: its counts start from zero.
                base.counters = []
                base.flows = []
                base.orphans = [:]
            }
            var engine = snapshot.engine
            if final { engine.tracker.finish() }
            let counters = engine.counters
            engine.counters = counters.enumerated().map { place, counts in
                place < base.counters.count ? Self.difference(counts, base.counters[place]) : counts
            }
            let flows = engine.tracker.flows.map(FlowCounts.init)
            flowDeltas.append(flows.enumerated().map { flow, counts in flow < base.flows.count ? counts - base.flows[flow] : counts })
            var orphans: [UInt32: FragmentTally] = [:]
            for (place, tally) in engine.tracker.orphanFragments {
                let before = base.orphans[place] ?? FragmentTally()
                guard tally.packets > before.packets else { continue }
                var delta = tally
                delta.packets -= before.packets
                delta.bytes -= before.bytes
                orphans[place] = delta
            }
            orphanDeltas.append(orphans)
            frames.append(snapshot.packets - base.packets)
            var dropped = snapshot.statistics
            dropped.received -= base.statistics.received
            dropped.kernelDropped -= base.statistics.kernelDropped
            dropped.interfaceDropped -= base.statistics.interfaceDropped
            statistics.append(dropped)
            engine.sources = []
            engine.sourceInterfaces = []
            engine.finishSource(path: names[index], frames: frames[index], end: .endOfFile, warnings: [], interfaces: [interfaces[index]])
            engines.append(engine)
            baselines[index] = Baseline(
                epoch: snapshot.epoch, counters: counters, flows: flows, orphans: engine.tracker.orphanFragments,
                packets: snapshot.packets, statistics: snapshot.statistics, at: snapshot.at)
        }
        let resolved = Engine.resolve(&engines, names: .live(names), checker: Checker(policy: policy))
        let observation = Self.window(
            resolved, engines: engines, flowDeltas: flowDeltas, orphanDeltas: orphanDeltas, snapshots: snapshots,
            previousCuts: previousCuts)
        return Window(observation: observation, frames: frames, statistics: statistics)
    }

    /// The resolved flows, counters and fragments with the counts of this window only.
    private static func window(
        _ resolved: Engine.Resolved, engines: [Engine], flowDeltas: [[FlowCounts]], orphanDeltas: [[UInt32: FragmentTally]],
        snapshots: [ReaderSnapshot], previousCuts: [Timestamp?]
    ) -> Observation {
        var observation = resolved.observation
        var first = [Timestamp?](repeating: nil, count: observation.flows.count)
        var last = [Timestamp?](repeating: nil, count: observation.flows.count)
        for index in observation.flows.indices {
            observation.flows[index].packets = 0
            observation.flows[index].bytes = 0
            observation.flows[index].laterFragments = 0
        }
        var serialBase = 0
        var placeBase = 0
        observation.orphanFragments = [:]
        for (index, engine) in engines.enumerated() {
            let firsts = snapshots[index].windowFirstSeen
            // A watch's engines are unbounded (`Engine(table:)`): a flow's slot is its serial.
            for (flow, record) in engine.tracker.flows.enumerated() {
                let delta = flowDeltas[index][flow]
                guard delta.packets > 0 else { continue }
                let owner = resolved.rawFlowOwner[serialBase + record.serial]
                observation.flows[owner].packets += delta.packets
                observation.flows[owner].bytes += delta.bytes
                observation.flows[owner].laterFragments += delta.laterFragments
                // A flow whose packets in this window were only fragments claimed late has no
                // first packet of its own here: its first packet is then no earlier than the cut.
                let start = (flow < firsts.count ? firsts[flow] : nil)
                    ?? max(record.firstSeen, previousCuts[index] ?? record.firstSeen)
                first[owner] = min(first[owner] ?? start, start)
                last[owner] = max(last[owner] ?? record.lastSeen, record.lastSeen)
            }
            for (place, tally) in orphanDeltas[index] {
                let segment = UInt32(resolved.segmentOfPlace[placeBase + Int(place)])
                observation.orphanFragments[segment, default: FragmentTally()].merge(tally)
            }
            placeBase += engine.placeList.count
            serialBase += engine.tracker.flowsStarted
        }
        for index in observation.flows.indices {
            if let start = first[index] { observation.flows[index].firstSeen = start }
            if let end = last[index] { observation.flows[index].lastSeen = end }
        }
        observation.flows.removeAll { $0.packets == 0 }
        return observation
    }

    private static func difference(_ a: SegmentCounters, _ b: SegmentCounters) -> SegmentCounters {
        var delta = SegmentCounters()
        delta.packets = a.packets - b.packets
        delta.bytes = a.bytes - b.bytes
        delta.decoded = a.decoded - b.decoded
        delta.truncated = a.truncated - b.truncated
        delta.undecodable = a.undecodable - b.undecodable
        delta.unsupportedLinkType = a.unsupportedLinkType - b.unsupportedLinkType
        return delta
    }
}
