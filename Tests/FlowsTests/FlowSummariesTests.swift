@testable import Flows
import Frames
import TestSupport
import Testing

/// The tallies of finished flows by segment and service: kept aside for the last few keys
/// used, the rest in a dictionary; what they add up to must not depend on which were aside.
@Suite struct FlowSummariesTests {
    /// A finished flow: its key's parts and its counts.
    struct Finished {
        var segment: UInt32
        var service: Int?
        var rangeOnly: Bool
        var packets: Int
        var bytes: Int
        var first: Int64
        var last: Int64
    }

    /// The plain way: one dictionary entry per key.
    private func expected(_ flows: [Finished]) -> [FlowSummaryKey: FlowTally] {
        var tallies: [FlowSummaryKey: FlowTally] = [:]
        for flow in flows {
            tallies[FlowSummaryKey(segment: flow.segment, service: flow.service, rangeOnly: flow.rangeOnly), default: FlowTally()]
                .add(
                    packets: flow.packets, bytes: flow.bytes, firstSeen: Timestamp(nanoseconds: flow.first),
                    lastSeen: Timestamp(nanoseconds: flow.last))
        }
        return tallies
    }

    private func summarised(_ flows: [Finished]) -> FlowSummaries {
        var summaries = FlowSummaries()
        for flow in flows {
            summaries.add(
                segment: flow.segment, service: flow.service, rangeOnly: flow.rangeOnly, packets: flow.packets,
                bytes: flow.bytes, firstSeen: Timestamp(nanoseconds: flow.first), lastSeen: Timestamp(nanoseconds: flow.last))
        }
        return summaries
    }

    @Test func anEmptySummaryHasNothing() {
        #expect(FlowSummaries().isEmpty)
        #expect(FlowSummaries().all.isEmpty)
    }

    @Test func aFewKeysStayAsideAndAddUpAsADictionaryWould() {
        // Three keys in turn, as a flood's services alternate.
        let flows = (0..<300).map { n in
            Finished(
                segment: 1, service: [nil, 0, 3][n % 3], rangeOnly: false, packets: n % 5 + 1, bytes: n * 10,
                first: Int64(1_000 - n), last: Int64(2_000 + n))
        }
        let summaries = summarised(flows)
        #expect(!summaries.isEmpty)
        #expect(summaries.all == expected(flows))
        #expect(summaries.all[FlowSummaryKey(segment: 1, service: 3)]?.flows == 100)
        #expect(summaries.all[FlowSummaryKey(segment: 1, service: nil)]?.firstSeen == Timestamp(nanoseconds: 703))
    }

    @Test func moreKeysThanAreKeptAsideAreFoldedAndLoseNothing() {
        // 3 segments x 6 services (none among them) x range or not: 36 keys, more than
        // `recentCapacity`, in an order that comes back to keys folded long before.
        var generator = SplitMix64(seed: 21)
        var flows: [Finished] = []
        for _ in 0..<5_000 {
            let service = Int.random(in: -1..<5, using: &generator)
            flows.append(
                Finished(
                    segment: UInt32.random(in: 0..<3, using: &generator), service: service < 0 ? nil : service,
                    rangeOnly: Bool.random(using: &generator), packets: Int.random(in: 1...7, using: &generator),
                    bytes: Int.random(in: 0..<1_500, using: &generator), first: Int64.random(in: 0..<10_000, using: &generator),
                    last: Int64.random(in: 10_000..<20_000, using: &generator)))
        }
        #expect(Set(flows.map { FlowSummaryKey(segment: $0.segment, service: $0.service, rangeOnly: $0.rangeOnly) }).count == 36)
        let summaries = summarised(flows)
        #expect(summaries.all == expected(flows))
        #expect(summaries.all.values.reduce(0) { $0 + $1.flows } == 5_000)
    }

    @Test func keysPackIntoAWordAndBack() {
        let keys = [
            FlowSummaryKey(segment: 0, service: nil), FlowSummaryKey(segment: 0, service: 0, rangeOnly: true),
            FlowSummaryKey(segment: .max, service: 32_766, rangeOnly: true), FlowSummaryKey(segment: 7, service: 12),
        ]
        for key in keys {
            let code = FlowSummaries.pack(segment: key.segment, service: key.service, rangeOnly: key.rangeOnly)
            #expect(code.map(FlowSummaries.unpack) == key)
        }
        #expect(Set(keys.compactMap { FlowSummaries.pack(segment: $0.segment, service: $0.service, rangeOnly: $0.rangeOnly) }).count == 4)
    }

    @Test func aServiceNumberThatDoesNotPackIsStillCounted() {
        #expect(FlowSummaries.pack(segment: 1, service: 32_767, rangeOnly: false) == nil)
        #expect(FlowSummaries.pack(segment: 1, service: -2, rangeOnly: false) == nil)
        let flows = [
            Finished(segment: 1, service: 40_000, rangeOnly: false, packets: 2, bytes: 100, first: 5, last: 6),
            Finished(segment: 1, service: 2, rangeOnly: false, packets: 1, bytes: 60, first: 1, last: 9),
            Finished(segment: 1, service: 40_000, rangeOnly: false, packets: 3, bytes: 10, first: 2, last: 3),
        ]
        let summaries = summarised(flows)
        #expect(summaries.all == expected(flows))
        #expect(summaries.all[FlowSummaryKey(segment: 1, service: 40_000)]?.packets == 5)
    }
}
