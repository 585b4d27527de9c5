import Decode
@testable import Flows
import Frames
import TestSupport
import Testing

/// A TCP packet from 198.51.x.y (x.y from `client`) port 40000+ to `server`:`port`, built
/// without parsing text (a million of them are made).
private func tcp(client: Int, server: UInt32 = 0xCB00_7114, port: UInt16) -> DecodedPacket {
    var p = DecodedPacket()
    p.ipVersion = 4
    p.source = IPAddress(ipv4: 0xC633_0000 | UInt32(client >> 10))
    p.destination = IPAddress(ipv4: server)
    p.ipProtocol = 6
    p.hasPorts = true
    p.sourcePort = UInt16(40_000 + client & 0x3FF)
    p.destinationPort = port
    p.tcpFlags = 0x10
    return p
}

/// The flow table's bound on live flows: memory stays within it whatever the capture, and
/// every packet, byte and storage flow is still counted.
@Suite struct FlowBoundTests {
    let table = ProtocolTable.builtin

    /// Every flow the tracker knows of, live or finished, as (flows, packets, bytes), all and storage only.
    private func totals(_ tracker: FlowTracker) -> (all: FlowTally, storage: FlowTally) {
        var all = FlowTally()
        var storage = FlowTally()
        for flow in tracker.recordedFlows {
            all.add(flow)
            if flow.isStorage { storage.add(flow) }
        }
        for (key, tally) in tracker.summarised {
            all.merge(tally)
            if key.service != nil { storage.merge(tally) }
        }
        return (all, storage)
    }

    @Test func aMillionConcurrentFlowsStayWithinTheBound() {
        let bound = 4_096
        var tracker = FlowTracker(table: table, maxFlows: bound)
        var storageFlows = 0
        var mostLive = 0
        for client in 0..<1_000_000 {
            // One flow in 100 is NFS; each flow sends one packet and is never seen again.
            let storage = client % 100 == 0
            if storage { storageFlows += 1 }
            tracker.observe(tcp(client: client, port: storage ? 2049 : 443), segment: 0, wireLength: 60, at: at(Int64(client)))
            mostLive = max(mostLive, tracker.liveFlows)
        }
        #expect(tracker.flowsStarted == 1_000_000)
        #expect(mostLive <= bound)
        #expect(tracker.flows.count <= bound)
        #expect(tracker.finished.count <= bound)
        // Records and index: a few bound's worth, nothing that grows with the capture.
        let stride = MemoryLayout<Flow>.stride
        #expect(tracker.flowFootprint <= 4 * bound * stride + 8 * bound * 8)
        // The summaries are per segment and service: here one segment, two services.
        #expect(tracker.summarised.count <= 2)
        let counted = totals(tracker)
        #expect(counted.all.flows == 1_000_000)
        #expect(counted.all.packets == 1_000_000)
        #expect(counted.all.bytes == 60_000_000)
        #expect(counted.storage.flows == storageFlows)
        #expect(counted.storage.packets == storageFlows)
    }

    @Test func finishedStorageFlowsKeepTheirDetailsUpToTheBoundThenAreSummarised() {
        var tracker = FlowTracker(table: table, maxFlows: 16)
        // 100 NFS flows, each seen once: 84 are finished; 16 are kept whole, 68 summarised.
        for client in 0..<100 {
            tracker.observe(tcp(client: client, port: 2049), segment: 3, wireLength: 100, at: at(Int64(client)))
        }
        #expect(tracker.liveFlows == 16)
        #expect(tracker.finished.count == 16)
        #expect(tracker.finished.allSatisfy { $0.isStorage && $0.packets == 1 && $0.bytes == 100 })
        let nfs = table.serviceIndex(ipProtocol: 6, port: 2049)
        #expect(tracker.summarised[FlowSummaryKey(segment: 3, service: nfs)]?.flows == 68)
        #expect(tracker.summarised[FlowSummaryKey(segment: 3, service: nfs)]?.bytes == 6_800)
        // The least recently seen went first: the live ones are the last 16.
        #expect(Set(tracker.flows.map(\.serial)) == Set(84..<100))
    }

    @Test func aFlowThatComesBackStartsANewRecordThatMergesByKey() {
        var tracker = FlowTracker(table: table, maxFlows: 16)
        // 40 NFS flows take turns, 5 packets each: every flow is finished and started again.
        var time: Int64 = 0
        for _ in 0..<5 {
            for client in 0..<40 {
                time += 1
                tracker.observe(tcp(client: client, port: 2049), segment: 0, wireLength: 1_000, at: at(time))
            }
        }
        #expect(tracker.liveFlows <= 16)
        var merged: [FlowKey: Flow] = [:]
        for flow in tracker.recordedFlows {
            if merged[flow.key] == nil { merged[flow.key] = flow } else { merged[flow.key]!.absorb(flow) }
        }
        let summarised = tracker.summarised.values.reduce(FlowTally()) { var t = $0; t.merge($1); return t }
        // Nothing lost: whatever is not in a record is in the summary.
        #expect(merged.values.reduce(0) { $0 + $1.packets } + summarised.packets == 200)
        #expect(merged.count == 40 || summarised.flows > 0)
        #expect(merged.values.allSatisfy { $0.isStorage && $0.firstSeen <= $0.lastSeen })
    }

    @Test func lookingAheadOverTheRecordsSeesEveryFlowOnceInTheSameOrder() {
        // Never finished (slot order), and with flows finished, kept and live (sorted order).
        for (flows, bound) in [(30, 100), (200, 16), (5, 100)] {
            var tracker = FlowTracker(table: table, maxFlows: bound)
            var time: Int64 = 0
            for round in 0..<2 {
                for client in 0..<flows {
                    time += 1
                    tracker.observe(tcp(client: client, port: round == 0 ? 2049 : 80), segment: 0, wireLength: 100, at: at(time))
                }
            }
            var bodies: [Int] = []
            var aheads: [Int] = []
            tracker.forEachRecordedFlow(ahead: { aheads.append($0.serial) }) { bodies.append($0.serial) }
            var plain: [Int] = []
            tracker.forEachRecordedFlow { plain.append($0.serial) }
            #expect(bodies == plain, "\(flows) flows, bound \(bound)")
            #expect(bodies == bodies.sorted() && Set(bodies).count == bodies.count)
            // `ahead` gets each flow `lookahead` flows before `body` does, and the first few never.
            #expect(aheads == Array(bodies.dropFirst(FlowTracker.lookahead)), "\(flows) flows, bound \(bound)")
            #expect(bodies.count == (bound == 16 ? tracker.finished.count + tracker.liveFlows : flows * 2))
        }
    }

    @Test func theSameInputNumbersTheSameFlowsWhateverTheHashSeed() {
        // Two trackers draw different seeds; serials and slots must not depend on them.
        var a = FlowTracker(table: table, maxFlows: 64)
        var b = FlowTracker(table: table, maxFlows: 64)
        var random = SplitMix64(seed: 99)
        for step in 0..<20_000 {
            let client = Int(random.next() % 300)
            let packet = tcp(client: client, port: client % 3 == 0 ? 2049 : 22)
            let slotA = a.observe(packet, segment: 0, wireLength: 80, at: at(Int64(step)))
            let slotB = b.observe(packet, segment: 0, wireLength: 80, at: at(Int64(step)))
            #expect(slotA == slotB)
            #expect(slotA.map { a.flows[$0].serial } == slotB.map { b.flows[$0].serial })
            if slotA != slotB { break }
        }
        #expect(a.flowsStarted == b.flowsStarted)
        #expect(a.recordedFlows.map(\.serial) == b.recordedFlows.map(\.serial))
    }

    @Test func everyLiveFlowIsFoundByItsKeyAfterChurn() {
        var tracker = FlowTracker(table: table, maxFlows: 1_000)
        for client in 0..<50_000 {
            tracker.observe(tcp(client: client * 7, port: 22), segment: UInt32(client % 3), wireLength: 60, at: at(Int64(client)))
        }
        var found = 0
        for slot in tracker.flows.indices where tracker.flows[slot].serial >= 0 {
            #expect(tracker.flowIndex(for: tracker.flows[slot].key) == slot)
            found += 1
        }
        #expect(found == tracker.liveFlows)
        // A finished flow is not found.
        #expect(tracker.flowIndex(for: tcp(client: 0, port: 22).flowKey(segment: 0)) == nil)
    }

    @Test func aFragmentOfAFinishedFlowDoesNotJoinTheFlowInItsSlot() {
        var tracker = FlowTracker(table: table, maxFlows: 16)
        let first = packet(17, "203.0.113.10", 800, "203.0.113.20", 2049, fragment: (7, 0, true))
        let slot = tracker.observe(first, segment: 0, wireLength: 1514, at: at(1))
        // 17 other flows seen later: the datagram's flow is the least recently seen, goes
        // first, and its slot is handed to another flow.
        for client in 0..<17 {
            tracker.observe(tcp(client: client, port: 22), segment: 0, wireLength: 60, at: at(2 + Int64(client)))
        }
        #expect(tracker.finished.count == 1)
        #expect(tracker.flows[slot!].serial >= 0)
        #expect(tracker.flows[slot!].key.upper.port == 22 || tracker.flows[slot!].key.lower.port == 22)
        let later = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (7, 1480, false))
        #expect(tracker.observe(later, segment: 0, wireLength: 700, at: at(20)) == nil)
        #expect(tracker.flows[slot!].packets == 1)
        tracker.finish()
        #expect(tracker.orphanFragments[0]?.packets == 1)
    }

    /// The clock hand spares a flow seen since it last passed: a flow that keeps sending
    /// stays live (one record, its packets all counted on it) through any number of new
    /// flows, while one-packet flows are finished; and every live flow is still found by its
    /// key after the removals shifted the index.
    @Test func aFlowThatKeepsSendingIsNeverFinishedByAFloodOfNewOnes() {
        let bound = 16
        var tracker = FlowTracker(table: table, maxFlows: bound)
        let busy = tcp(client: 7, port: 2049)
        var busySlot: Int?
        for client in 1_000..<21_000 {
            if client % 4 == 0 {
                let slot = tracker.observe(busy, segment: 0, wireLength: 100, at: at(Int64(client)))
                #expect(busySlot == nil || slot == busySlot, "the busy flow keeps its slot")
                busySlot = slot
            }
            tracker.observe(tcp(client: client, port: 443), segment: 0, wireLength: 60, at: at(Int64(client)))
            #expect(tracker.liveFlows <= bound)
        }
        let record = tracker.flows[busySlot!]
        #expect(record.serial == 0 && record.packets == 5_000, "one record for all the busy flow's packets")
        #expect(tracker.finished.isEmpty, "no storage flow was finished")
        for slot in tracker.flows.indices where tracker.flows[slot].serial >= 0 {
            #expect(tracker.flowIndex(for: tracker.flows[slot].key) == slot)
        }
        #expect(totals(tracker).all.packets == 5_000 + 20_000)
    }

}

private extension DecodedPacket {
    func flowKey(segment: UInt32) -> FlowKey {
        FlowKey(
            segment: segment, ipProtocol: ipProtocol, Endpoint(address: source, port: sourcePort),
            Endpoint(address: destination, port: destinationPort))
    }
}

/// The flow table's prefetch hooks (replay's read-ahead calls them for frames ahead of the
/// one it observes) are hints: whatever they are called with, the flows come out the same.
@Suite struct FlowPrefetchTests {
    let table = ProtocolTable.builtin

    /// What a tracker recorded, flow by flow.
    private func summary(_ tracker: FlowTracker) -> [String] {
        tracker.recordedFlows.map { "\($0.serial) \($0.key.lower) \($0.key.upper) \($0.packets) \($0.bytes) \($0.service ?? -1)" }
    }

    @Test func prefetchingChangesNothingWhateverTheHash() {
        // Few enough live flows that finishing idle ones reuses slots and rebuilds the index.
        var plain = FlowTracker(table: table, maxFlows: 64)
        var hinted = FlowTracker(table: table, maxFlows: 64)
        var generator = SplitMix64(seed: 7)
        var hashes: [UInt64] = []
        for step in 0..<20_000 {
            let client = Int(generator.next() % 300)
            var p = tcp(client: client, port: generator.next() % 2 == 0 ? 2049 : 22)
            if generator.next() % 3 == 0 { swap(&p.source, &p.destination); swap(&p.sourcePort, &p.destinationPort) }
            let segment = UInt32(generator.next() % 2)
            let time = Timestamp(nanoseconds: Int64(step) * 1_000_000)
            // Hints for the right place, a wrong place, and hashes that name nothing.
            let right = withUnsafePointer(to: p) { hinted.prefetchIndex($0, segment: segment) }
            let wrong = withUnsafePointer(to: p) { hinted.prefetchIndex($0, segment: segment ^ 1) }
            hashes += [right, wrong, generator.next() | 1, .max]
            for hash in hashes.suffix(8) where hash != 0 { hinted.prefetchFlow(hash: hash) }
            plain.observe(p, segment: segment, wireLength: 100, at: time)
            hinted.observe(p, segment: segment, wireLength: 100, at: time)
        }
        #expect(plain.flowsStarted > 64 * 4)  // flows were finished and slots reused
        #expect(summary(hinted) == summary(plain))
    }

    @Test func theHashIsTheFlowsWhicheverWayThePacketGoes() {
        var tracker = FlowTracker(table: table)
        var there = tcp(client: 5, port: 2049)
        var back = there
        swap(&back.source, &back.destination)
        swap(&back.sourcePort, &back.destinationPort)
        let a = withUnsafePointer(to: there) { tracker.prefetchIndex($0, segment: 3) }
        let b = withUnsafePointer(to: back) { tracker.prefetchIndex($0, segment: 3) }
        let elsewhere = withUnsafePointer(to: there) { tracker.prefetchIndex($0, segment: 4) }
        #expect(a != 0 && a == b && a != elsewhere)
        // No ports (a later fragment, ICMP): nothing to look up, 0.
        there.hasPorts = false
        #expect(withUnsafePointer(to: there) { tracker.prefetchIndex($0, segment: 3) } == 0)
    }

    /// `prefetchFlow` loads a record up to `Flow.hotLength`, worked out from sizes on the
    /// assumption that the tunnel (a reference to its details) is the record's last field.
    @Test func theHotPartOfARecordEndsWhereTheTunnelStarts() {
        #expect(Flow.hotLength == MemoryLayout<Flow>.offset(of: \Flow.tunnelBox))
        #expect(Flow.hotLength > MemoryLayout<FlowKey>.size)
    }
}

/// The ledger of RPC calls waiting for replies holds `RPCLedger.maxLearned` calls, then starts
/// afresh (keeping its storage): every call up to the bound is found by its reply, the next
/// call forgets the ones before it, and the ledger goes on remembering after that.
@Suite struct RPCCallLedgerBoundTests {
    /// The key of call `n` (its client differs from every other call's), seen as the call or as its reply.
    private func key(_ n: Int, reply: Bool) -> CallKey {
        var call = tcp(client: n, port: 2049)
        if reply {
            swap(&call.source, &call.destination)
            swap(&call.sourcePort, &call.destinationPort)
        }
        return withUnsafePointer(to: call) { CallKey($0, xid: UInt32(n), reply: reply) }
    }

    @Test func callsUpToTheBoundAreFoundThenTheLedgerStartsAfresh() {
        var ledger = RPCLedger()
        let bound = RPCLedger.maxLearned
        for n in 0..<bound { ledger.rememberCall(key(n, reply: false), service: 1, program: 100_003, version: 3) }
        for n in [0, 1, bound / 2, bound - 1] {
            let call = ledger.call(answeredBy: key(n, reply: true))
            #expect(call?.service == 1 && call?.program == 100_003 && call?.version == 3, "call \(n)")
        }
        // A reply with another xid, or the call's own packet taken as a reply, answers nothing.
        #expect(ledger.call(answeredBy: key(bound, reply: true)) == nil)
        let callPacket = tcp(client: 0, port: 2049)
        #expect(ledger.call(answeredBy: withUnsafePointer(to: callPacket) { CallKey($0, xid: 0, reply: true) }) == nil)

        ledger.rememberCall(key(bound, reply: false), service: 2, program: 100_005, version: 3)
        #expect(ledger.call(answeredBy: key(0, reply: true)) == nil)
        #expect(ledger.call(answeredBy: key(bound - 1, reply: true)) == nil)
        #expect(ledger.call(answeredBy: key(bound, reply: true))?.program == 100_005)
        ledger.rememberCall(key(bound + 1, reply: false), service: 1, program: 100_003, version: 4)
        #expect(ledger.call(answeredBy: key(bound + 1, reply: true))?.version == 4)
        #expect(ledger.call(answeredBy: key(bound, reply: true))?.service == 2)
    }
}

/// The index flows and RPC calls are found through (`RecordIndex`) under keys chosen to
/// collide: a probe longer than its limit draws a new seed and rebuilds, and every record is
/// still found at its slot.
@Suite struct RecordIndexCollisionTests {
    private func call(_ n: Int) -> CallRecord {
        CallRecord(
            key: CallKey(
                client: Endpoint(address: IPAddress(ipv4: 0xC633_6400 | UInt32(n & 0xFF)), port: UInt16(truncatingIfNeeded: n >> 8)),
                server: Endpoint(address: IPAddress(ipv4: 0xCB00_7114), port: 2049), ipProtocol: 6, xid: UInt32(n)),
            service: n, program: 100_003, version: 3)
    }

    @Test func aRunOfCollidingKeysMakesTheIndexReseedAndLoseNothing() {
        var index = RecordIndex<CallRecord>(expected: 16)
        // Keys whose buckets coincide in the low 12 bits of the home, for every size the
        // index takes while they go in (at most 2 * 100 buckets): one long run.
        let wanted = index.hash(call(0).key) >> 32 & 0xFFF
        var colliding: [CallRecord] = []
        var n = 0
        while colliding.count < RecordIndex<CallRecord>.probeLimit + 20 {
            if index.hash(call(n).key) >> 32 & 0xFFF == wanted { colliding.append(call(n)) }
            n += 1
        }
        var records: [CallRecord] = []
        for record in colliding {
            #expect(index.find(record.key, hash: index.hash(record.key), in: records) == nil)
            records.append(record)
            index.insert(slot: records.count - 1, hash: index.hash(record.key), flows: records)
        }
        #expect(index.seeds > 1)
        #expect(index.count == records.count)
        for (slot, record) in records.enumerated() {
            #expect(index.find(record.key, hash: index.hash(record.key), in: records) == slot)
        }
    }

    @Test func theCallTableReplacesAKeysCallAndForgetsNothingElse() {
        var table = CallTable(limit: 1000)
        for n in 0..<300 { table.remember(call(n).key, (n, 100_003, 3)) }
        table.remember(call(7).key, (99, 100_005, 1))
        #expect(table.count == 300)
        #expect(table.find(call(7).key)?.service == 99 && table.find(call(7).key)?.program == 100_005)
        for n in [0, 6, 8, 299] { #expect(table.find(call(n).key)?.service == n) }
        #expect(table.find(call(300).key) == nil)
    }
}
