import Capture
import Check
import Flows
import Foundation
import Frames
import Policy
import Synchronization

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
