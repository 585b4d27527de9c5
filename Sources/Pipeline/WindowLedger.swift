import Capture
import Check
import Flows
import Foundation
import Frames
import Policy
import Synchronization

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
