import Capture
import Check
import Flows
import Foundation
import Frames
import Policy
import Synchronization

/// The arithmetic of windows: what each reader had counted at the previous cut, and the
/// window between that cut and the next as an `Observation` of its own packets. A reader's
/// flow tracker starts counting afresh at each cut (`FlowTracker.startCountingAfresh`), so
/// its flows' counts, finished flows and summaries are the window's own; the place counters
/// and orphan fragments go on counting, and the window's are the difference from the cut.
struct WindowLedger {
    /// Counts at the previous cut, per reader.
    private var baselines: [Baseline]

    private struct Baseline {
        var epoch = 0
        var counters: [SegmentCounters] = []
        var orphans: [UInt32: FragmentTally] = [:]
        var packets = 0
        var statistics = LiveCaptureStatistics()
        var at: Timestamp?
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
        var orphanDeltas: [[UInt32: FragmentTally]] = []
        var frames: [Int] = []
        var statistics: [LiveCaptureStatistics] = []
        let previousCuts = cuts
        for (index, snapshot) in snapshots.enumerated() {
            var base = baselines[index]
            if base.epoch != snapshot.epoch {
                // A reload replaced the engine: its counts start from zero.
                base.counters = []
                base.orphans = [:]
            }
            var engine = snapshot.engine
            if final { engine.tracker.finish() }
            let counters = engine.counters
            engine.counters = counters.enumerated().map { place, counts in
                place < base.counters.count ? Self.difference(counts, base.counters[place]) : counts
            }
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
                epoch: snapshot.epoch, counters: counters, orphans: engine.tracker.orphanFragments,
                packets: snapshot.packets, statistics: snapshot.statistics, at: snapshot.at)
        }
        let resolved = Engine.resolve(&engines, names: .live(names), checker: Checker(policy: policy))
        let observation = Self.window(
            resolved, engines: engines, orphanDeltas: orphanDeltas, snapshots: snapshots,
            previousCuts: previousCuts)
        return Window(observation: observation, frames: frames, statistics: statistics)
    }

    /// The resolved flows (counted since the cut already), with each flow's first packet in
    /// the window as its start, and the window's orphan fragments.
    private static func window(
        _ resolved: Engine.Resolved, engines: [Engine], orphanDeltas: [[UInt32: FragmentTally]],
        snapshots: [ReaderSnapshot], previousCuts: [Timestamp?]
    ) -> Observation {
        var observation = resolved.observation
        var first = [Timestamp?](repeating: nil, count: observation.flows.count)
        var serialBase = 0
        var placeBase = 0
        observation.orphanFragments = [:]
        for (index, engine) in engines.enumerated() {
            let firsts = snapshots[index].windowFirstSeen
            let cut = previousCuts[index]
            /// A flow's start in this window: its first packet here when the reader noted one
            /// (a slot's note is about the flow now in it), else no earlier than the cut (its
            /// packets here were fragments claimed late, or it was finished before the cut).
            func note(_ record: Flow, slot: Int?) {
                let owner = resolved.rawFlowOwner[serialBase + record.serial]
                guard owner >= 0, record.packets > 0 else { return }
                let start = (slot.flatMap { $0 < firsts.count ? firsts[$0] : nil }) ?? max(record.firstSeen, cut ?? record.firstSeen)
                first[owner] = min(first[owner] ?? start, start)
            }
            for (slot, record) in engine.tracker.flows.enumerated() where record.serial >= 0 { note(record, slot: slot) }
            for record in engine.tracker.finished { note(record, slot: nil) }
            for (place, tally) in orphanDeltas[index] {
                let segment = UInt32(resolved.segmentOfPlace[placeBase + Int(place)])
                observation.orphanFragments[segment, default: FragmentTally()].merge(tally)
            }
            placeBase += engine.placeList.count
            serialBase += engine.tracker.flowsStarted
        }
        for index in observation.flows.indices {
            if let start = first[index] { observation.flows[index].firstSeen = start }
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
