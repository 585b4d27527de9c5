import Capture
import Check
import Decode
import Flows
import Frames

/// A second pass over a replay's captures, for what needs each packet's flow as the whole
/// replay came to judge it (the evidence file, the report's timeline).
///
/// The reading pass is deterministic, so replaying the same files through a fresh
/// `FlowTracker` with the same places numbers every flow exactly as the first pass did: the
/// raw flow index a packet joins here is the one the first pass resolved, and so is its final
/// classification. (A flow recognised mid-stream is storage from its first packet.)
enum SecondPass {
    /// Reads every input again and hands each frame the first pass placed to `body`, with its
    /// decode, its raw place and the raw flow it joined (its serial; nil: not TCP/UDP, or a
    /// non-first fragment that came before its datagram's first fragment). `body` returns
    /// false to stop.
    /// - Parameter maxFlows: the first pass's bound on live flows, so that flows are finished
    ///   and started again at the same packets and number the same.
    /// - Throws: the error opening a capture that can no longer be read.
    static func walk(
        inputs: [ReplayInput], places: [RawPlace: UInt32], table: ProtocolTable,
        maxFlows: Int = FlowTracker.defaultMaxFlows,
        _ body: (Frame, DecodedPacket, _ place: UInt32, _ flow: Int?) -> Bool
    ) throws(CaptureError) {
        // The same reading step as the first pass, so places and flows number the same.
        var engine = Engine(table: table, maxFlows: maxFlows)
        // Per place of this pass: whether the first pass knew it under the same number
        // (false only when a file changed between the passes; its packets are skipped).
        var known: [Bool] = []
        for (sourceIndex, input) in inputs.enumerated() {
            var source = try CaptureFile.open(path: input.path)
            var going = true
            _ = source.read { frame in
                guard going else { return }
                let (place, flow) = engine.ingest(frame, source: sourceIndex)
                while known.count < engine.placeList.count {
                    known.append(places[engine.placeList[known.count]] == UInt32(known.count))
                }
                guard known[Int(place)] else { return }
                going = body(frame, engine.packet, place, flow.map { engine.tracker.flows[$0].serial })
            }
            if !going { return }
        }
    }
}

/// The report's timeline for a replay: every packet's bytes in its network's series, as
/// storage when its flow was finally judged storage. Non-first IP fragments that arrived
/// before their datagram's first fragment are drawn as other traffic.
enum TimelinePass {
    /// - Parameters:
    ///   - networkOfPlace: per raw place, the policy network it belongs to (nil: none, drawn
    ///     as series `networks`).
    ///   - isStorage: whether the replay judged a raw flow storage.
    ///   - maxFlows: the replay's bound on live flows.
    /// - Returns: nil when a capture can no longer be read.
    static func build(
        inputs: [ReplayInput], places: [RawPlace: UInt32], table: ProtocolTable, networkOfPlace: [Int?],
        isStorage: (Int) -> Bool, networks: Int, maxFlows: Int = FlowTracker.defaultMaxFlows
    ) -> Timeline? {
        var timeline = Timeline(series: networks + 1)
        do {
            try SecondPass.walk(inputs: inputs, places: places, table: table, maxFlows: maxFlows) { frame, _, place, flow in
                timeline.add(
                    bytes: frame.wireLength, at: frame.timestamp.nanoseconds,
                    series: networkOfPlace[Int(place)] ?? networks, storage: flow.map(isStorage) ?? false)
                return true
            }
        } catch {
            return nil
        }
        return timeline
    }
}
