import CShims
import Decode
import Frames

/// Classifies decoded packets into bidirectional flows and storage services.
///
/// Feed it every decoded packet with the segment (interface + VLAN) it was seen on. TCP and
/// UDP packets join the flow of their 5-tuple on that segment; IP fragments that carry no
/// ports join the flow of their datagram (learned from the first fragment, whichever order
/// the fragments arrive in), so fragmented NFS over UDP is counted whole. Memory is bounded:
/// fragment state older than `fragmentTimeout` (capture time) is dropped once the tables
/// reach `maxFragmentEntries`, and fragments that never found their datagram are counted
/// per segment in `orphanFragments`.
///
/// So are the flows: at most `maxFlows` are live at once. When a new flow would exceed it,
/// one flow not seen for a while is finished (`finishLeastRecentFlow`: a clock hand, so
/// finishing costs the same whether a host has a thousand flows or a million): a
/// finished storage flow is kept whole in `finished` (at most `maxFlows` of them; beyond
/// that, and for every other flow, its counts are folded into `summarised` per segment and
/// service), so no packet, byte or storage flow is ever lost; only the details of flows
/// that are not storage are. A finished flow that comes back starts a new record, which the
/// caller may merge by key (`Flow.absorb`).
public struct FlowTracker: Sendable {
    /// The live flows by slot, the index `observe` returns. Slots are handed out in order of
    /// first appearance and reused only after a flow is finished (its `serial` is then -1
    /// until the slot is reused); until `maxFlows` is reached a flow's slot is its serial.
    public private(set) var flows: [Flow] = []
    /// Storage flows finished to make room, with every detail, in the order they finished.
    public private(set) var finished: [Flow] = []
    /// Counts of the finished flows not kept in `finished`, by segment and service.
    public var summarised: [FlowSummaryKey: FlowTally] { summaries.all }
    private var summaries = FlowSummaries()
    /// The serials of the storage flows counted in `summarised` (one bit per flow started),
    /// so that a second pass still knows their packets are storage. Only when
    /// `remembersSummarisedSerials` (a replay's, whose flows started are bounded by its
    /// capture; a live watch's are not, and it makes no second pass).
    public private(set) var summarisedStorage = SerialSet()
    /// Flows started so far; the next flow's serial.
    public private(set) var flowsStarted = 0
    /// Flows live now.
    public private(set) var liveFlows = 0
    /// The bound on live flows (and on flows kept in `finished`).
    public let maxFlows: Int
    /// Whether `summarisedStorage` is kept.
    public let remembersSummarisedSerials: Bool
    /// Non-first fragments whose first fragment was never seen (or was seen too late), per segment.
    public var orphanFragments: [UInt32: FragmentTally] { fragments.orphans }

    public let table: ProtocolTable
    public var maxFragmentEntries: Int { fragments.maxEntries }
    public var fragmentTimeout: Int64 { fragments.timeout }

    private var index: FlowIndex
    /// Slots of finished flows, reused before `flows` grows.
    private var freeSlots: [Int] = []
    /// The clock hand: the slot `finishLeastRecentFlow` looks at first.
    private var hand = 0
    /// The flow the hand will probably finish next, its key's hash and the index's seed count
    /// then (`prefetchNextVictim`); slot -1 when none.
    private var nextVictim: (slot: Int, hash: UInt64, seeds: Int) = (-1, 0, 0)
    /// The flow the previous packet joined (-1 before the first), checked before the index.
    private var lastFlow = -1
    /// IP fragments: datagrams whose first fragment was seen, later fragments waiting for theirs.
    private var fragments: FragmentTable
    /// What RPC traffic said: portmapper mappings, calls waiting for their replies.
    private var ledger = RPCLedger()

    /// The portmapper's row, whose flows are read for the mappings they announce.
    private let portmapperService: Int?
    /// The NFSv4.0 callback row, and NFS's: NFSv4 flows are read to the end of their
    /// inspection budget for the SETCLIENTID that names the callback address.
    private let callbackService: Int?
    private let nfsService: Int?

    /// Payload-bearing packets inspected per flow before giving up on recognising it.
    public static let inspectionBudget: UInt8 = 16
    /// The default bound on live flows: ~100 bytes of index and ~300 of flow record each,
    /// so ~40 MiB for the flows at the very worst, which keeps a replay under 64 MiB.
    public static let defaultMaxFlows = 100_000

    /// - Parameters:
    ///   - table: which ports are storage.
    ///   - maxFragmentEntries: bound on remembered datagrams (owners and pending each).
    ///   - fragmentTimeout: nanoseconds of capture time after which fragment state may be dropped
    ///     (Linux keeps fragments 30 s).
    ///   - maxFlows: bound on live flows (at least 16).
    ///   - remembersSummarisedSerials: whether to keep `summarisedStorage`.
    public init(
        table: ProtocolTable, maxFragmentEntries: Int = 65_536, fragmentTimeout: Int64 = 30_000_000_000,
        maxFlows: Int = FlowTracker.defaultMaxFlows, remembersSummarisedSerials: Bool = true
    ) {
        self.table = table
        self.maxFlows = max(16, maxFlows)
        self.remembersSummarisedSerials = remembersSummarisedSerials
        self.index = FlowIndex(expected: min(self.maxFlows, 1024))
        self.portmapperService = table.serviceIndex(rpcProgram: RPC.portmapper)
        self.callbackService = table.services.firstIndex { $0.name == "nfs-callback" && $0.observable }
        self.nfsService = table.serviceIndex(rpcProgram: RPC.nfs)
        self.fragments = FragmentTable(maxEntries: max(16, maxFragmentEntries), timeout: fragmentTimeout)
    }

    /// Accounts one packet.
    /// - Parameters:
    ///   - packet: the decoded headers.
    ///   - payload: the transport payload's captured bytes (what deep classification reads);
    ///     borrowed for the duration of the call.
    ///   - segment: where it was seen (an interface and VLAN, numbered by the caller).
    ///   - wireLength: its length on the wire.
    ///   - time: when it was seen.
    /// - Returns: the index of the flow it joined, or nil (not TCP/UDP, no ports decoded, or a
    ///   fragment whose datagram is not known yet — it is held and added when it is).
    @discardableResult
    public mutating func observe(
        _ packet: DecodedPacket, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        segment: UInt32, wireLength: Int, at time: Timestamp
    ) -> Int? {
        withUnsafePointer(to: packet) { observe($0, payload: payload, segment: segment, wireLength: wireLength, at: time) }
    }

    /// `observe` of the decode `packet` points to, which is read field by field where it
    /// lies: a decode is a few hundred bytes, and passing one by value through a pointer's
    /// `pointee` copies it whole (the per-packet path of a replay lends it so).
    @discardableResult
    public mutating func observe(
        _ packet: UnsafePointer<DecodedPacket>, payload: UnsafeRawBufferPointer, segment: UInt32, wireLength: Int,
        at time: Timestamp
    ) -> Int? {
        guard packet.pointee.ipVersion != 0, packet.pointee.ipProtocol == 6 || packet.pointee.ipProtocol == 17 else { return nil }
        if packet.pointee.isLaterFragment {
            return observeLaterFragment(packet, segment: segment, wireLength: wireLength, at: time)
        }
        guard packet.pointee.hasPorts else { return nil }
        let started = flowsStarted
        let flowIndex = flow(for: packet, segment: segment, at: time)
        count(packet, joining: flowIndex, payload: payload, wireLength: wireLength, at: time)
        // A flow's first packet does not mark it: the clock hand finishes a flow that has sent
        // one packet at its first visit (a scan, a flood of new flows), one that sends again
        // only if it has been silent for a whole turn.
        if flowsStarted != started { flows[flowIndex].recent = false }
        if packet.pointee.isFragment {
            // The first fragment: remember its datagram and collect fragments that came early.
            let key = FragmentKey(packet, segment: segment)
            if let early = fragments.first(key, flow: flowIndex, serial: flows[flowIndex].serial, at: time) {
                flows[flowIndex].packets += early.packets
                flows[flowIndex].bytes += early.bytes
                flows[flowIndex].laterFragments += early.packets
                if early.firstSeen < flows[flowIndex].firstSeen { flows[flowIndex].firstSeen = early.firstSeen }
                if early.lastSeen > flows[flowIndex].lastSeen { flows[flowIndex].lastSeen = early.lastSeen }
            }
        }
        return flowIndex
    }

    /// The slot of the live flow with `key`, if there is one.
    public mutating func flowIndex(for key: FlowKey) -> Int? { index.find(key, hash: index.hash(key), in: flows) }

    /// Every flow recorded, live and finished and kept, in order of first appearance
    /// (serial); the counts in `summarised` complete them.
    public var recordedFlows: [Flow] {
        var all: [Flow] = []
        all.reserveCapacity(finished.count + liveFlows)
        forEachRecordedFlow { all.append($0) }
        return all
    }

    /// Calls `body` with every flow recorded, in order of first appearance, without copying
    /// them into a new array (at the end of a long replay that copy would be the largest
    /// allocation of all): only their order is sorted, 16 bytes per flow.
    ///
    /// In that order the records lie scattered (live flows by slot, finished ones by when
    /// they finished): each would be a cache miss. So the record `2 * lookahead` flows ahead
    /// is prefetched, and `ahead`, if given, is called with the flow `lookahead` ahead of the
    /// one `body` gets (every flow once, in the same order), for a caller that can start
    /// loading what it will need for that flow (`FlowMerge.prefetch`). Hints only: `body`
    /// sees the same flows either way.
    public func forEachRecordedFlow(ahead: (Flow) -> Void = { _ in }, _ body: (Flow) -> Void) {
        if finished.isEmpty && flowsStarted == flows.count {
            // Nothing was ever finished: slot order is serial order (the records in memory order).
            for (slot, flow) in flows.enumerated() {
                if slot + Self.lookahead < flows.count { ahead(flows[slot + Self.lookahead]) }
                body(flow)
            }
            return
        }
        var order: [(serial: Int, position: Int)] = []
        order.reserveCapacity(finished.count + liveFlows)
        for (position, flow) in finished.enumerated() { order.append((flow.serial, -1 - position)) }
        for (slot, flow) in flows.enumerated() where flow.serial >= 0 { order.append((flow.serial, slot)) }
        order.sort { $0.serial < $1.serial }
        finished.withUnsafeBufferPointer { finished in
            flows.withUnsafeBufferPointer { flows in
                func record(_ position: Int) -> UnsafePointer<Flow> {
                    // Positions come from the two arrays' own indices.
                    position < 0 ? finished.baseAddress.unsafelyUnwrapped + (-1 - position) : flows.baseAddress.unsafelyUnwrapped + position
                }
                for index in order.indices {
                    if index + 2 * Self.lookahead < order.count {
                        Self.prefetch(record(order[index + 2 * Self.lookahead].position), bytes: MemoryLayout<Flow>.size)
                    }
                    if index + Self.lookahead < order.count { ahead(record(order[index + Self.lookahead].position).pointee) }
                    body(record(order[index].position).pointee)
                }
            }
        }
    }

    /// Flows between `forEachRecordedFlow`'s `ahead` and its `body` (and as many again before
    /// that, its prefetch of the record).
    static let lookahead = 8

    /// `observe` of a packet known to continue `flow`, the flow the packet before it joined
    /// (a whole TCP or UDP packet, not a fragment, with the same 5-tuple on the same
    /// segment): counts it and inspects its payload while the flow is still being
    /// recognised, without building or looking up its key. Returns `flow`.
    @discardableResult
    public mutating func observe(
        _ packet: UnsafePointer<DecodedPacket>, continuing flow: Int, payload: UnsafeRawBufferPointer, wireLength: Int,
        at time: Timestamp
    ) -> Int {
        assert(flow == lastFlow && !packet.pointee.isFragment && packet.pointee.hasPorts, "not the previous packet's flow")
        count(packet, joining: flow, payload: payload, wireLength: wireLength, at: time)
        return flow
    }

    /// Counts a packet with ports on the flow it joined, and inspects its payload while the
    /// flow is still being recognised.
    @inline(__always)
    private mutating func count(
        _ packet: UnsafePointer<DecodedPacket>, joining flow: Int, payload: UnsafeRawBufferPointer, wireLength: Int,
        at time: Timestamp
    ) {
        if flows[flow].count(wireLength: wireLength, at: time), !payload.isEmpty {
            inspect(flow, packet, payload)
        }
    }

    /// True when no flow was ever finished: the live flows are every flow started, in
    /// serial order, with distinct keys.
    public var neverFinished: Bool {
        finished.isEmpty && summaries.isEmpty && flowsStarted == flows.count
    }

    /// Hands the flow records over to a caller done with this tracker (without a copy when
    /// they are referenced nowhere else). Only when `neverFinished`: the records are then
    /// every flow started, slot order is serial order. The tracker keeps its counts
    /// (`flowsStarted`, `summarised`, fragments) but no flows, and must not observe again.
    public mutating func takeFlows() -> [Flow] {
        precondition(neverFinished, "takeFlows() with finished flows")
        let taken = flows
        dropRecords()
        return taken
    }

    /// Lets go of every flow record, live and finished, for a caller done with this tracker
    /// that has copied what it needs (`forEachRecordedFlow`). The tracker keeps its counts
    /// (`flowsStarted`, `summarised`, fragments) and must not observe again.
    public mutating func dropRecords() {
        flows = []
        finished = []
        freeSlots = []
        liveFlows = 0
        lastFlow = -1
        nextVictim.slot = -1
        index = FlowIndex(expected: 16)
    }

    /// Starts counting afresh, keeping what was learned: every live flow stays, with its
    /// recognition, ends and times, but its packets and bytes go back to zero; finished and
    /// summarised flows are let go (the caller has taken what it needs of them). A continuous
    /// watch calls it when it closes a window, so that what the tracker holds next is that
    /// window's and its memory stays bounded however long it runs. Fragment state and the
    /// RPC ledger are kept.
    public mutating func startCountingAfresh() {
        for slot in flows.indices where flows[slot].serial >= 0 {
            flows[slot].packets = 0
            flows[slot].bytes = 0
            flows[slot].laterFragments = 0
        }
        finished = []
        summaries = FlowSummaries()
        summarisedStorage = SerialSet()
    }

    /// Bytes held for flows (records and index), for tests and diagnostics.
    public var flowFootprint: Int {
        (flows.capacity + finished.capacity) * MemoryLayout<Flow>.stride + index.footprint
            + freeSlots.capacity * MemoryLayout<Int>.stride
    }

    /// Moves every fragment still waiting for its datagram into `orphanFragments`, and lets
    /// go of the RPC calls waiting for replies (none can come now: up to 5 MiB, freed before
    /// the records are gathered for the report). Call at the end.
    public mutating func finish() {
        fragments.finish()
        ledger.forgetCalls()
    }

    // MARK: - Internals

    private mutating func observeLaterFragment(
        _ packet: UnsafePointer<DecodedPacket>, segment: UInt32, wireLength: Int, at time: Timestamp
    ) -> Int? {
        guard let owner = fragments.later(FragmentKey(packet, segment: segment), wireLength: wireLength, at: time, flows: flows)
        else { return nil }
        flows[owner].count(wireLength: wireLength, at: time)
        flows[owner].laterFragments += 1
        return owner
    }

    private mutating func flow(for packet: UnsafePointer<DecodedPacket>, segment: UInt32, at time: Timestamp) -> Int {
        let key = Self.key(of: packet, segment: segment)
        // Packets come in bursts of one flow: compare with the last flow before hashing.
        if lastFlow >= 0, flows[lastFlow].key == key { return lastFlow }
        let hash = index.hash(key)
        if let existing = index.find(key, hash: hash, in: flows) {
            lastFlow = existing
            return existing
        }
        return startFlow(key, hash: hash, packet: packet, at: time)
    }

    @inline(__always)
    private static func key(of packet: UnsafePointer<DecodedPacket>, segment: UInt32) -> FlowKey {
        FlowKey(
            segment: segment, ipProtocol: packet.pointee.ipProtocol,
            Endpoint(address: packet.pointee.source, port: packet.pointee.sourcePort),
            Endpoint(address: packet.pointee.destination, port: packet.pointee.destinationPort))
    }

    // MARK: Prefetching

    /// Starts loading the index bucket where `observe` will look for the flow of `packet`
    /// (a packet some way ahead of the one being observed), were it seen on `segment`.
    /// Finding a flow among tens of thousands costs two cache misses that depend on each
    /// other, the bucket and then the flow record, each longer than the rest of a small
    /// packet's work; a caller that sees packets coming starts the first miss now, the
    /// second (`prefetchFlow`) a few packets later, and `observe` finds both in cache.
    /// Only a hint: nothing changes, and a wrong segment or a new flow costs nothing but
    /// the prefetch. (Mutating only so that the caller lends the tracker instead of copying it.)
    /// - Returns: the hash to pass to `prefetchFlow` (0 for a packet without ports).
    @inline(__always)
    public mutating func prefetchIndex(_ packet: UnsafePointer<DecodedPacket>, segment: UInt32) -> UInt64 {
        guard packet.pointee.hasPorts else { return 0 }
        let hash = index.hash(Self.key(of: packet, segment: segment))
        index.prefetchBucket(hash)
        return hash
    }

    /// Starts loading the record of the flow the bucket `prefetchIndex` loaded for `hash`
    /// probably names (a collision or a new flow only wastes it). `hash` is not 0.
    /// (Mutating for the same reason as `prefetchIndex`.)
    @inline(__always)
    public mutating func prefetchFlow(hash: UInt64) {
        guard let slot = index.likelySlot(hash), slot >= 0, slot < flows.count else { return }
        flows.withUnsafeBufferPointer { flows in
            // The lines `observe` reads and writes: the key, the counts and the state of
            // recognition (the tunnel, after them, is read when the flow starts or is reported).
            Self.prefetch(flows.baseAddress.unsafelyUnwrapped + slot, bytes: Flow.hotLength)  // slot < count
        }
    }

    /// Starts loading the cache lines of the first `bytes` bytes of `record` (a hint).
    @inline(__always)
    static func prefetch(_ record: UnsafePointer<Flow>, bytes: Int) {
        let start = UnsafeRawPointer(record)
        var line = 0
        while line < bytes {
            lk_prefetch(start + line)
            line &+= 64
        }
        lk_prefetch(start + (bytes - 1))  // the last line, when the record does not start one
    }

    /// A new flow for `key`, which is not live: its client, server and service as far as
    /// the first packet tells.
    private mutating func startFlow(_ key: FlowKey, hash: UInt64, packet: UnsafePointer<DecodedPacket>, at time: Timestamp) -> Int {
        let source = Endpoint(address: packet.pointee.source, port: packet.pointee.sourcePort)
        let destination = Endpoint(address: packet.pointee.destination, port: packet.pointee.destinationPort)
        var hash = hash
        if liveFlows >= maxFlows {
            let seeds = index.seeds
            finishLeastRecentFlow()
            if index.seeds != seeds { hash = index.hash(key) }  // (never seen: removing does not re-seed)
        }

        var client = source
        var server = destination
        // A port known only from a range counts only on the side that is probably the
        // server (a SYN's destination, else the lower port): a client's ephemeral port that
        // happens to lie in Ceph's 6800-7300 says nothing.
        let isSYN = packet.pointee.ipProtocol == 6 && packet.pointee.tcpFlags & 0x12 == 0x02
        let serverIsDestination = isSYN || packet.pointee.destinationPort <= packet.pointee.sourcePort
        var byDestination = table.portService(ipProtocol: packet.pointee.ipProtocol, port: packet.pointee.destinationPort)
        if byDestination?.inRange == true && !serverIsDestination { byDestination = nil }
        var bySource = byDestination == nil ? table.portService(ipProtocol: packet.pointee.ipProtocol, port: packet.pointee.sourcePort) : nil
        if bySource?.inRange == true && serverIsDestination { bySource = nil }
        var service = byDestination?.service
        var recognition = byDestination.map { Self.portRecognition(packet.pointee.destinationPort, inRange: $0.inRange) }
        if service == nil, let reverse = bySource {
            // A reply seen first (the capture started mid-flow): the source is the server.
            service = reverse.service
            recognition = Self.portRecognition(packet.pointee.sourcePort, inRange: reverse.inRange)
            client = destination
            server = source
        } else if service == nil, ledger.hasMappings,
            let taught = ledger.taughtService(destination: destination, source: source, packet.pointee.ipProtocol)
        {
            // A port the portmapper handed out (MOUNT, NLM, NSM, ...), or the address an
            // NFSv4.0 client named for the server to connect back to (the client listens
            // there, so it is the callback flow's server).
            service = taught.service
            if taught.serverIsSource {
                client = destination
                server = source
            }
            recognition = taught.callback ? .callbackAddress(port: server.port) : .portmapperMapping(port: server.port)
        } else if service == nil {
            // Not storage: guess the server as the SYN's destination, else the lower port.
            if !serverIsDestination {
                client = destination
                server = source
            }
        }
        var tunnel: TunnelInfo?
        if packet.pointee.tunnel != .none {
            // A mirrored copy's outer addresses are the mirror's (switch to collector) whichever
            // way the flow's packet went: kept as seen.
            let sourceIsLower = key.lower == source || packet.pointee.tunnel == .erspan
            tunnel = TunnelInfo(
                tunnel: packet.pointee.tunnel, id: packet.pointee.tunnelID,
                outerOfLower: sourceIsLower ? packet.pointee.outerSource : packet.pointee.outerDestination,
                outerOfUpper: sourceIsLower ? packet.pointee.outerDestination : packet.pointee.outerSource)
        }
        let flow = Flow(
            key: key, serial: flowsStarted, firstSeen: time, lastSeen: time, service: service,
            recognition: recognition, clientIsLower: client == key.lower, tunnel: tunnel)
        flowsStarted += 1
        liveFlows += 1
        let slot: Int
        // Moved into its slot, not copied (a copy of a record is an outlined copy).
        if !freeSlots.isEmpty {
            slot = freeSlots.removeLast()
            flows[slot] = consume flow
        } else {
            slot = flows.count
            Self.reserveUpTo(maxFlows, in: &flows)
            flows.append(consume flow)
        }
        index.insert(slot: slot, hash: hash, flows: flows)
        lastFlow = slot
        return slot
    }

    @inline(__always)
    private static func portRecognition(_ port: UInt16, inRange: Bool) -> Recognition {
        inRange ? .portRange(port) : .port(port)
    }

    /// Finishes one flow to make room: the first the clock hand finds unmarked, the hand
    /// clearing the marks of the flows it passes (a flow that sent since the hand last passed
    /// it is spared once; a flow's first packet does not mark it). So the flow finished has
    /// sent nothing for a whole turn of the hand, or only its first packet: "second chance",
    /// the usual cheap stand-in for least recently seen, with no list to keep in order per
    /// packet and no sort; under a flood of one-packet flows (a scan) those go first and a
    /// flow that keeps sending stays. Each call moves the hand on by about
    /// two slots on average, in slot order (memory order), and depends on nothing but the
    /// packets, so two passes over the same packets finish the same flows.
    private mutating func finishLeastRecentFlow() {
        // The sweep works on the records where they lie: one uniqueness check for the array,
        // not one per record whose mark it clears. It ends: a flow is live (the table is
        // full), and after one turn every mark is clear.
        var hand = self.hand
        let victim = flows.withUnsafeMutableBufferPointer { records in
            while true {
                if hand >= records.count { hand = 0 }
                if records[hand].serial >= 0 {
                    if !records[hand].recent { return hand }
                    records[hand].recent = false
                }
                hand += 1
            }
        }
        finishFlow(victim)
        self.hand = victim + 1
        prefetchNextVictim()
    }

    /// Starts loading the index bucket of the flow the hand will probably finish next (the
    /// next one unmarked now): under a flood of new flows that is the next packet's work, and
    /// the bucket, where the finished flow's entry is removed, is otherwise a cache miss of
    /// its own. Only a hint: it changes nothing.
    /// The hash is kept for `finishFlow`, which uses it if that flow is the one it finishes
    /// and the index has not drawn a new seed since.
    @inline(__always)
    private mutating func prefetchNextVictim() {
        var slot = hand
        for _ in 0..<4 {
            if slot >= flows.count { slot = 0 }
            if flows[slot].serial >= 0 && !flows[slot].recent {
                let hash = index.hash(flows[slot].key)
                index.prefetchBucket(hash)
                nextVictim = (slot, hash, index.seeds)
                return
            }
            slot += 1
        }
    }

    /// The hash of the key of the live flow in `slot`, the one `prefetchNextVictim` found if
    /// it is still good, else worked out.
    @inline(__always)
    private func hashOfLiveFlow(_ slot: Int) -> UInt64 {
        nextVictim.slot == slot && nextVictim.seeds == index.seeds ? nextVictim.hash : index.hash(flows[slot].key)
    }

    /// Reads the record where it lies (a copy of a record is an outlined copy that retains and
    /// releases its tunnel reference, once per finished flow).
    private mutating func finishFlow(_ slot: Int) {
        if flows[slot].packets == 0 {
            // Nothing counted since `startCountingAfresh`: nothing to keep or summarise.
        } else if flows[slot].service != nil && finished.count < maxFlows {
            Self.reserveUpTo(maxFlows, in: &finished)
            finished.append(flows[slot])
        } else {
            summarise(slot)
        }
        index.remove(slot: slot, hash: hashOfLiveFlow(slot))
        nextVictim.slot = -1
        flows[slot].serial = -1
        freeSlots.append(slot)
        liveFlows -= 1
        if lastFlow == slot { lastFlow = -1 }
    }

    /// Folds a finished flow's counts into `summarised`.
    private mutating func summarise(_ slot: Int) {
        let service = flows[slot].service
        if service != nil && remembersSummarisedSerials { summarisedStorage.insert(flows[slot].serial) }
        summaries.add(
            segment: flows[slot].key.segment, service: service, rangeOnly: flows[slot].evidence == .portRange,
            packets: flows[slot].packets, bytes: flows[slot].bytes, firstSeen: flows[slot].firstSeen,
            lastSeen: flows[slot].lastSeen)
    }

    /// Makes room for one more record the way `append` would (doubling), except that it
    /// never reserves more than `bound` records, which `records` never exceeds: doubling past
    /// the bound would hold up to twice the memory the bound promises.
    private static func reserveUpTo(_ bound: Int, in records: inout [Flow]) {
        guard records.count == records.capacity, records.count < bound else { return }
        records.reserveCapacity(min(bound, max(16, records.count * 2)))
    }

    // MARK: - Recognising storage by what it says

    /// Looks at a flow's payload until the flow is recognised with certainty or the
    /// inspection budget runs out; portmapper flows are read to the end of their budget so
    /// that every mapping they announce is learned.
    private mutating func inspect(_ i: Int, _ packet: UnsafePointer<DecodedPacket>, _ payload: UnsafeRawBufferPointer) {
        let isPortmapper = portmapperService != nil && flows[i].service == portmapperService
        let budget = isPortmapper ? UInt8.max : Self.inspectionBudget
        guard flows[i].inspected < budget else {
            // Never inspected again: a flow's service (and so whether it is the
            // portmapper's) no longer changes once its budget is spent.
            flows[i].inspecting = false
            return
        }
        if !isPortmapper, let recognition = flows[i].recognition, recognition.evidence == .content,
            !(callbackService != nil && recognition == .rpcCall(program: RPC.nfs, version: 4))
        {
            flows[i].inspecting = false
            return
        }
        flows[i].inspected += 1

        let isTCP = packet.pointee.ipProtocol == 6
        let message = RPC.parse(payload, recordMarked: isTCP) { program, version, procedure in
            ledger.isCallback(program: program, version: version, procedure: procedure)
        }
        if let message {
            switch message {
            case .call(let call):
                guard let service = table.serviceIndex(rpcProgram: call.program) ?? ledger.callbackService(program: call.program)
                else { return }
                // A call goes from client to server.
                recognise(
                    i, service: service, as: .rpcCall(program: call.program, version: call.version),
                    client: Endpoint(address: packet.pointee.source, port: packet.pointee.sourcePort))
                if call.program == RPC.portmapper, let arguments = call.argumentsOffset {
                    ledger.rememberPortmapCall(flowSerial: flows[i].serial, call: call, payload: payload, at: arguments)
                }
                if call.program == RPC.nfs, call.version == 4, call.procedure == 1, let callbackService,
                    let arguments = call.argumentsOffset
                {
                    ledger.learnCallback(payload: payload, at: arguments, client: packet.pointee.source, service: callbackService)
                }
                ledger.rememberCall(CallKey(packet, xid: call.xid, reply: false), service: service, program: call.program, version: call.version)
            case .reply(let reply):
                if let call = ledger.call(answeredBy: CallKey(packet, xid: reply.xid, reply: true)) {
                    // The reply to a call seen (possibly on another interface): the source serves.
                    recognise(
                        i, service: call.service, as: .rpcReply(program: call.program, version: call.version),
                        client: Endpoint(address: packet.pointee.destination, port: packet.pointee.destinationPort))
                }
                guard let query = ledger.takePortmapQuery(flowSerial: flows[i].serial, xid: reply.xid), let result = reply.resultOffset
                else { return }
                ledger.learn(from: query, payload: payload, at: result, server: packet.pointee.source, table: table)
            }
            return
        }
        for (signature, service) in table.signatures where Signatures.matches(signature, payload) {
            if signature == .iscsiLogin {
                // The request goes to the target; the response comes from it.
                let toTarget = payload[0] & 0x3f == 0x03
                let source = Endpoint(address: packet.pointee.source, port: packet.pointee.sourcePort)
                let destination = Endpoint(address: packet.pointee.destination, port: packet.pointee.destinationPort)
                recognise(
                    i, service: service, as: .signature(signature), client: toTarget ? source : destination)
            } else {
                recognise(i, service: service, as: .signature(signature), client: nil)
            }
            return
        }
    }

    /// Records a recognition when it is more certain than what the flow had, and with it
    /// the service and (when the evidence says which end is the client) its ends.
    private mutating func recognise(
        _ i: Int, service: Int, as recognition: Recognition, client: Endpoint?
    ) {
        guard recognition.strength > (flows[i].recognition?.strength ?? 0) else { return }
        // Content confirming a flow known by a port range keeps the range's service when
        // both are the same protocol (a Ceph OSD greeting with the messenger banner stays
        // `ceph-osd`).
        if case .portRange = flows[i].recognition, let current = flows[i].service,
            table.services[current].protocolName == table.services[service].protocolName
        {
            flows[i].recognition = recognition
            if let client { flows[i].client = client }
            return
        }
        flows[i].service = service
        flows[i].recognition = recognition
        if let client { flows[i].client = client }
    }
}

