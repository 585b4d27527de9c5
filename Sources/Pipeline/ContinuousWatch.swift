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
        session: WatchSession, evidenceDirectory: String? = nil, keep: Int? = nil,
        onViolation: (@Sendable (LiveViolation) -> Void)? = nil
    ) throws(WatchError) {
        self.session = session
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
                generation: generation, policy: reload, replacesEvidence: evidenceDirectory != nil, evidence: nextSink),
            from: session.workers)
        var window = judge(snapshots, final: false)
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
