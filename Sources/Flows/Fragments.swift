import Decode
import Frames

/// The IP fragments a flow table tracks: for each datagram whose first fragment was seen,
/// the flow it joined (so later fragments, which carry no ports, count on it); later
/// fragments that came before their first fragment, held as counts until it comes; and
/// those whose first fragment never came (or came too late), as orphans per segment.
/// Bounded: at most `maxEntries` datagrams of each kind, none older than `timeout`.
struct FragmentTable: Sendable {
    let maxEntries: Int
    /// Nanoseconds of capture time after which a datagram's state may be dropped.
    let timeout: Int64
    private var owners: [FragmentKey: Owner] = [:]
    private var pending: [FragmentKey: FragmentTally] = [:]
    /// Non-first fragments whose first fragment was never seen (or was seen too late), per segment.
    private(set) var orphans: [UInt32: FragmentTally] = [:]

    init(maxEntries: Int, timeout: Int64) {
        self.maxEntries = maxEntries
        self.timeout = timeout
    }

    /// A later fragment of datagram `key`: the slot of the flow its first fragment joined,
    /// when that was seen within the timeout and the slot still holds that flow; otherwise
    /// nil, and the fragment is held (counted) until its first fragment comes.
    mutating func later(_ key: FragmentKey, wireLength: Int, at time: Timestamp, flows: [Flow]) -> Int? {
        // One hash of the key: found by position, updated in place.
        if let position = owners.index(forKey: key), case let owner = owners.values[position],
            flows[owner.flow].serial == owner.serial, time.nanoseconds - owner.lastSeen.nanoseconds <= timeout
        {
            owners.values[position].lastSeen = time
            return owner.flow
        }
        pending[key, default: FragmentTally()].add(wireLength: wireLength, at: time)
        if pending.count > maxEntries { sweep(now: time) }
        return nil
    }

    /// The first fragment of datagram `key` joined the flow in `slot` (serial `serial`):
    /// remembers that for its later fragments, and returns those that came before it.
    mutating func first(_ key: FragmentKey, flow slot: Int, serial: Int, at time: Timestamp) -> FragmentTally? {
        let early = pending.removeValue(forKey: key)
        owners[key] = Owner(flow: slot, serial: serial, lastSeen: time)
        if owners.count > maxEntries { sweep(now: time) }
        return early
    }

    /// Moves every fragment still waiting for its datagram into `orphans`. Call at the end.
    mutating func finish() {
        for (key, tally) in pending {
            orphans[key.segment, default: FragmentTally()].merge(tally)
        }
        pending.removeAll()
        owners.removeAll()
    }

    /// Drops fragment state older than the timeout; if that is not enough, drops the older
    /// half. Pending fragments that are dropped become orphans (counted, never lost).
    mutating func sweep(now: Timestamp) {
        let horizon = now.nanoseconds - timeout
        owners = owners.filter { $0.value.lastSeen.nanoseconds >= horizon }
        var expired: [FragmentKey] = []
        for (key, tally) in pending where tally.lastSeen.nanoseconds < horizon {
            expired.append(key)
        }
        if pending.count - expired.count > maxEntries / 2 {
            // Still too many live datagrams waiting: drop the oldest half.
            let sorted = pending.sorted { $0.value.lastSeen < $1.value.lastSeen }
            expired = sorted.prefix(pending.count / 2).map(\.key)
        }
        for key in expired {
            if let tally = pending.removeValue(forKey: key) {
                orphans[key.segment, default: FragmentTally()].merge(tally)
            }
        }
        if owners.count > maxEntries / 2 {
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

    init(_ packet: UnsafePointer<DecodedPacket>, segment: UInt32) {
        self.segment = segment
        self.ipProtocol = packet.pointee.ipProtocol
        self.identification = packet.pointee.fragmentID
        self.source = packet.pointee.source
        self.destination = packet.pointee.destination
    }

    /// Four words instead of the eleven fields: every fragment of a UDP datagram is looked
    /// up, so the hash is on the per-packet path. Equal keys hash equal (the IPv4 flag is
    /// left out; keys that differ only by it compare unequal).
    func hash(into hasher: inout Hasher) {
        hasher.combine(UInt64(segment) << 40 | UInt64(ipProtocol) << 32 | UInt64(identification))
        hasher.combine(source.low)
        hasher.combine(destination.low)
        hasher.combine(source.high ^ destination.high.rotated(by: 29))
    }
}

extension UInt64 {
    fileprivate func rotated(by count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}

struct Owner: Sendable {
    /// The slot of the datagram's flow, and its serial (the slot may be reused later).
    var flow: Int
    var serial: Int
    var lastSeen: Timestamp
}
