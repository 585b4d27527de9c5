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
public struct FlowTracker: Sendable {
    /// Flows in order of first appearance; a flow's index is stable.
    public private(set) var flows: [Flow] = []
    /// Non-first fragments whose first fragment was never seen (or was seen too late), per segment.
    public private(set) var orphanFragments: [UInt32: FragmentTally] = [:]

    public let table: ProtocolTable
    public let maxFragmentEntries: Int
    public let fragmentTimeout: Int64

    private var index: [FlowKey: Int] = [:]
    private var owners: [FragmentKey: Owner] = [:]
    private var pending: [FragmentKey: FragmentTally] = [:]

    /// - Parameters:
    ///   - table: which ports are storage.
    ///   - maxFragmentEntries: bound on remembered datagrams (owners and pending each).
    ///   - fragmentTimeout: nanoseconds of capture time after which fragment state may be dropped
    ///     (Linux keeps fragments 30 s).
    public init(table: ProtocolTable, maxFragmentEntries: Int = 65_536, fragmentTimeout: Int64 = 30_000_000_000) {
        self.table = table
        self.maxFragmentEntries = max(16, maxFragmentEntries)
        self.fragmentTimeout = fragmentTimeout
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
        guard packet.ipVersion != 0, packet.ipProtocol == 6 || packet.ipProtocol == 17 else { return nil }
        if packet.isLaterFragment {
            return observeLaterFragment(packet, segment: segment, wireLength: wireLength, at: time)
        }
        guard packet.hasPorts else { return nil }
        let flowIndex = flow(for: packet, segment: segment, at: time)
        flows[flowIndex].count(wireLength: wireLength, at: time)
        if packet.isFragment {
            // The first fragment: remember its datagram and collect fragments that came early.
            let key = FragmentKey(packet, segment: segment)
            if let early = pending.removeValue(forKey: key) {
                flows[flowIndex].packets += early.packets
                flows[flowIndex].bytes += early.bytes
                flows[flowIndex].laterFragments += early.packets
                if early.firstSeen < flows[flowIndex].firstSeen { flows[flowIndex].firstSeen = early.firstSeen }
                if early.lastSeen > flows[flowIndex].lastSeen { flows[flowIndex].lastSeen = early.lastSeen }
            }
            owners[key] = Owner(flow: flowIndex, lastSeen: time)
            if owners.count > maxFragmentEntries { sweep(now: time) }
        }
        return flowIndex
    }

    /// Flows whose index is in `indices`… convenience lookup of a flow by key.
    public func flowIndex(for key: FlowKey) -> Int? { index[key] }

    /// Moves every fragment still waiting for its datagram into `orphanFragments`. Call at the end.
    public mutating func finish() {
        for (key, tally) in pending {
            orphanFragments[key.segment, default: FragmentTally()].merge(tally)
        }
        pending.removeAll()
        owners.removeAll()
    }

    // MARK: - Internals

    private mutating func observeLaterFragment(
        _ packet: DecodedPacket, segment: UInt32, wireLength: Int, at time: Timestamp
    ) -> Int? {
        let key = FragmentKey(packet, segment: segment)
        if let owner = owners[key], time.nanoseconds - owner.lastSeen.nanoseconds <= fragmentTimeout {
            flows[owner.flow].count(wireLength: wireLength, at: time)
            flows[owner.flow].laterFragments += 1
            owners[key] = Owner(flow: owner.flow, lastSeen: time)
            return owner.flow
        }
        pending[key, default: FragmentTally()].add(wireLength: wireLength, at: time)
        if pending.count > maxFragmentEntries { sweep(now: time) }
        return nil
    }

    private mutating func flow(for packet: DecodedPacket, segment: UInt32, at time: Timestamp) -> Int {
        let source = Endpoint(address: packet.source, port: packet.sourcePort)
        let destination = Endpoint(address: packet.destination, port: packet.destinationPort)
        let key = FlowKey(segment: segment, ipProtocol: packet.ipProtocol, source, destination)
        if let existing = index[key] { return existing }

        var client = source
        var server = destination
        var service = table.serviceIndex(ipProtocol: packet.ipProtocol, port: packet.destinationPort)
        if service == nil, let reverse = table.serviceIndex(ipProtocol: packet.ipProtocol, port: packet.sourcePort) {
            // A reply seen first (the capture started mid-flow): the source is the server.
            service = reverse
            client = destination
            server = source
        } else if service == nil {
            // Not storage: guess the server as the SYN's destination, else the lower port.
            let isSYN = packet.ipProtocol == 6 && packet.tcpFlags & 0x12 == 0x02
            if !isSYN && packet.sourcePort < packet.destinationPort {
                client = destination
                server = source
            }
        }
        let flow = Flow(key: key, client: client, server: server, service: service, firstSeen: time, lastSeen: time)
        flows.append(flow)
        index[key] = flows.count - 1
        return flows.count - 1
    }

    /// Drops fragment state older than the timeout; if that is not enough, drops the older
    /// half. Pending fragments that are dropped become orphans (counted, never lost).
    private mutating func sweep(now: Timestamp) {
        let horizon = now.nanoseconds - fragmentTimeout
        owners = owners.filter { $0.value.lastSeen.nanoseconds >= horizon }
        var expired: [FragmentKey] = []
        for (key, tally) in pending where tally.lastSeen.nanoseconds < horizon {
            expired.append(key)
        }
        if pending.count - expired.count > maxFragmentEntries / 2 {
            // Still too many live datagrams waiting: drop the oldest half.
            let sorted = pending.sorted { $0.value.lastSeen < $1.value.lastSeen }
            expired = sorted.prefix(pending.count / 2).map(\.key)
        }
        for key in expired {
            if let tally = pending.removeValue(forKey: key) {
                orphanFragments[key.segment, default: FragmentTally()].merge(tally)
            }
        }
        if owners.count > maxFragmentEntries / 2 {
            let sorted = owners.sorted { $0.value.lastSeen < $1.value.lastSeen }
            for (key, _) in sorted.prefix(owners.count / 2) { owners.removeValue(forKey: key) }
        }
    }
}

/// Packets and bytes of fragments, with when they were seen.
public struct FragmentTally: Sendable, Equatable {
    public var packets: Int = 0
    public var bytes: Int = 0
    public var firstSeen = Timestamp(nanoseconds: .max)
    public var lastSeen = Timestamp(nanoseconds: .min)

    public init() {}

    mutating func add(wireLength: Int, at time: Timestamp) {
        packets += 1
        bytes += wireLength
        if time < firstSeen { firstSeen = time }
        if time > lastSeen { lastSeen = time }
    }

    /// Adds another tally's packets and bytes and widens the time span.
    public mutating func merge(_ other: FragmentTally) {
        packets += other.packets
        bytes += other.bytes
        if other.firstSeen < firstSeen { firstSeen = other.firstSeen }
        if other.lastSeen > lastSeen { lastSeen = other.lastSeen }
    }
}

/// A datagram's identity for reassembly (RFC 791 / RFC 8200): source, destination,
/// protocol and identification, on one segment.
struct FragmentKey: Hashable, Sendable {
    var segment: UInt32
    var ipProtocol: UInt8
    var identification: UInt32
    var source: IPAddress
    var destination: IPAddress

    init(_ packet: DecodedPacket, segment: UInt32) {
        self.segment = segment
        self.ipProtocol = packet.ipProtocol
        self.identification = packet.fragmentID
        self.source = packet.source
        self.destination = packet.destination
    }
}

struct Owner: Sendable {
    var flow: Int
    var lastSeen: Timestamp
}
