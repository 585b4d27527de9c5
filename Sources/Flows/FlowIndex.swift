import CShims

/// The flow table's index (`FlowIndex`), and the RPC ledger's (`CallTable`): an
/// open-addressing hash table from a record's key (a `FlowKey`) to the record's slot (the
/// flow's in `FlowTracker.flows`), so that finding a packet's flow costs one hash and (almost
/// always) one probe, with no allocation, no `Hasher` and no ARC traffic.
///
/// Layout: a power-of-two array of 64-bit buckets, each 0 (empty) or the slot + 1 in the low
/// 32 bits and the top 32 bits of the key's hash above them, so that a probe compares the
/// stored hash bits before it touches the flow record. Linear probing, kept at most half
/// full; the index grows by doubling, and a finished flow's entry is removed by shifting the
/// entries after it back (no tombstones, see `remove`).
///
/// The hash, and why it resists flooding: captures come from hostile networks, and an
/// attacker who can predict the hash can send packets whose keys all land in one run of
/// buckets and turn every lookup into a scan. Each process draws a fresh 256-bit seed from
/// the system's random generator; the key's six 64-bit words are mixed in pairs with the
/// seed by a folded 64x64->128-bit multiply (high half xor low half, as in wyhash, foldhash
/// and aHash's fallback), and the three products folded once more. Without the seed the
/// bucket of a key cannot be computed, so collisions cannot be precomputed; unlike SipHash
/// it is not a keyed PRF with a security proof, so the probe length is also watched: a
/// lookup or insertion that walks more than `probeLimit` buckets (never seen with random
/// keys at half load) makes the index draw a new seed and rebuild, which breaks any run of
/// collisions an attacker managed to learn. Slot numbers and flow order never depend on
/// the seed, so results are identical from run to run.
struct RecordIndex<Record: IndexedRecord>: Sendable {
    private var buckets: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private var seed: SeededHash
    /// Seeds drawn so far (1 + the re-seeds forced by long probes).
    private(set) var seeds = 1

    static var probeLimit: Int { 64 }

    init(expected: Int = 64) {
        var size = 16
        while size < expected * 2 { size <<= 1 }
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
        seed = SeededHash()
    }

    /// The bucket a key with `hash` lives in or probes from: taken from the top 32 bits, the
    /// ones a bucket stores, so that an entry's home can be worked out from its bucket alone
    /// (removal shifts entries back without touching their flow records).
    @inline(__always)
    private func home(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash >> 32) & mask }

    @inline(__always)
    func hash(_ key: Record.Key) -> UInt64 {
        let words = Record.hashWords(key)
        return seed.hash(words.0, words.1, words.2, words.3, words.4, words.5)
    }

    /// The slot of the record (a live flow) with `key`, if there is one.
    @inline(__always)
    mutating func find(_ key: Record.Key, hash: UInt64, in flows: [Record]) -> Int? {
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var position = home(hash)
        var probes = 0
        while true {
            let bucket = buckets[position]
            if bucket == 0 { return nil }
            if bucket & 0xFFFF_FFFF_0000_0000 == tag {
                let slot = Int(bucket & 0xFFFF_FFFF) - 1
                if flows[slot].key == key { return slot }
            }
            position = (position + 1) & mask
            probes += 1
            if probes > Self.probeLimit {
                // Only a flood of keys chosen to collide gets here: re-seed and look again
                // (without a limit this time, so that no seed can make it loop).
                reseed(flows)
                return findWithoutLimit(key, hash: self.hash(key), in: flows)
            }
        }
    }

    /// Starts loading the bucket a lookup of `hash` probes first (see `FlowTracker.prefetchIndex`).
    @inline(__always)
    func prefetchBucket(_ hash: UInt64) {
        buckets.withUnsafeBufferPointer { buckets in
            // Never empty (at least 16 buckets), and the position is masked into it.
            lk_prefetch(buckets.baseAddress.unsafelyUnwrapped + home(hash))
        }
    }

    /// The slot of the first bucket, among the few a lookup of `hash` probes first, whose
    /// stored hash bits match: the likely slot of the flow, not yet compared with its key.
    @inline(__always)
    func likelySlot(_ hash: UInt64) -> Int? {
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var position = home(hash)
        for _ in 0..<Self.likelyProbes {
            let bucket = buckets[position]
            if bucket == 0 { return nil }
            if bucket & 0xFFFF_FFFF_0000_0000 == tag { return Int(bucket & 0xFFFF_FFFF) - 1 }
            position = (position &+ 1) & mask
        }
        return nil
    }

    /// Buckets `likelySlot` looks at: at most half full, a key is nearly always among the
    /// first few after its home bucket (which mostly share its cache line).
    static var likelyProbes: Int { 4 }

    private func findWithoutLimit(_ key: Record.Key, hash: UInt64, in flows: [Record]) -> Int? {
        var position = home(hash)
        while buckets[position] != 0 {
            let slot = Int(buckets[position] & 0xFFFF_FFFF) - 1
            if flows[slot].key == key { return slot }
            position = (position + 1) & mask
        }
        return nil
    }

    /// Adds `slot`, whose flow's key hashes to `hash` and is not in the index yet. Returns
    /// false when the index re-seeded (the caller's hash is stale; the slot was added).
    @discardableResult
    mutating func insert(slot: Int, hash: UInt64, flows: [Record]) -> Bool {
        if (count + 1) * 2 > buckets.count {
            grow(flows, size: buckets.count * 2)
        }
        if !place(slot: slot, hash: hash) {
            reseed(flows)
            place(slot: slot, hash: self.hash(flows[slot].key))
            count += 1
            return false
        }
        count += 1
        return true
    }

    /// Removes `slot`, whose flow's key hashes to `hash` (a flow being finished). Linear
    /// probing without tombstones: each entry after the hole, up to the next empty bucket,
    /// that may live in the hole (its home is not between the hole and itself) moves back
    /// into it, so lookups never walk over removed entries and the table never fills with
    /// them. Reads buckets only (an entry's home comes from its stored hash bits), so it costs
    /// about one cache miss however many flows there are.
    mutating func remove(slot: Int, hash: UInt64) {
        let wanted = UInt64(slot + 1)
        var hole = home(hash)
        var probes = 0
        while buckets[hole] & 0xFFFF_FFFF != wanted {
            // Not where its hash says (a stale hash after a re-seed): find it the long way.
            if buckets[hole] == 0 || probes > buckets.count { return removeAnywhere(wanted) }
            hole = (hole &+ 1) & mask
            probes += 1
        }
        shiftBack(from: hole)
    }

    private mutating func removeAnywhere(_ wanted: UInt64) {
        guard let position = buckets.firstIndex(where: { $0 & 0xFFFF_FFFF == wanted }) else { return }
        shiftBack(from: position)
    }

    private mutating func shiftBack(from position: Int) {
        var hole = position
        var next = (hole &+ 1) & mask
        while buckets[next] != 0 {
            let entry = buckets[next]
            let entryHome = home(entry)
            // Cyclic distances: the entry may move back to `hole` when `hole` is no further
            // from `next` than the entry's home is.
            if (next &- entryHome) & mask >= (next &- hole) & mask {
                buckets[hole] = entry
                hole = next
            }
            next = (next &+ 1) & mask
        }
        buckets[hole] = 0
        count -= 1
    }

    /// Bytes the index holds.
    var footprint: Int { buckets.count * MemoryLayout<UInt64>.stride }

    /// Empties the index, keeping its size.
    mutating func removeAll() {
        buckets.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        count = 0
    }

    @discardableResult
    private mutating func place(slot: Int, hash: UInt64) -> Bool {
        var position = home(hash)
        var probes = 0
        while buckets[position] != 0 {
            position = (position + 1) & mask
            probes += 1
            if probes > Self.probeLimit { return false }
        }
        buckets[position] = hash & 0xFFFF_FFFF_0000_0000 | UInt64(slot + 1)
        return true
    }

    private mutating func grow(_ flows: [Record], size: Int) {
        let slots = buckets.compactMap { $0 == 0 ? nil : Int($0 & 0xFFFF_FFFF) - 1 }
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
        count = 0
        for slot in slots {
            place(slot: slot, hash: hash(flows[slot].key))
            count += 1
        }
    }

    private mutating func reseed(_ flows: [Record]) {
        let slots = Set(buckets.compactMap { $0 == 0 ? nil : Int($0 & 0xFFFF_FFFF) - 1 })
        reseed(flows) { slots.contains($0) }
    }

    private mutating func reseed(_ flows: [Record], live: (Int) -> Bool) {
        seed = SeededHash()
        seeds += 1
        for i in buckets.indices { buckets[i] = 0 }
        count = 0
        for slot in flows.indices where live(slot) {
            // With a fresh seed a run this long is as unlikely as it was with the first one;
            // should it happen anyway, keep probing past the limit rather than lose the flow.
            var position = home(hash(flows[slot].key))
            while buckets[position] != 0 { position = (position + 1) & mask }
            buckets[position] = hash(flows[slot].key) & 0xFFFF_FFFF_0000_0000 | UInt64(slot + 1)
            count += 1
        }
    }
}

/// A record `RecordIndex` finds by its key.
protocol IndexedRecord {
    associatedtype Key: Equatable
    var key: Key { get }
    /// The six words of `key` the index hashes (`SeededHash`).
    static func hashWords(_ key: Key) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
}

/// The flow table's index (see `RecordIndex`).
typealias FlowIndex = RecordIndex<Flow>

extension Flow: IndexedRecord {
    /// Each address's halves, the ports, protocol and families in one word, and the segment.
    @inline(__always)
    static func hashWords(_ key: FlowKey) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
        let words = key.words
        return (words.lowerHigh, words.lowerLow, words.upperHigh, words.upperLow, words.tail, UInt64(key.segment))
    }
}

/// Flow records merged by key, in the order they are added: the resolve step's table, which
/// gathers the records of several trackers (or several records of one flow that was
/// finished and came back). Indexed like the tracker's own table, 8 bytes a bucket, where a
/// `Dictionary` keyed by `FlowKey` costs about ten times that per flow.
public struct FlowMerge: Sendable {
    public private(set) var flows: [Flow] = []
    private var index: FlowIndex

    /// - Parameter expected: about how many records will be added.
    public init(expected: Int) {
        flows.reserveCapacity(expected)
        index = FlowIndex(expected: expected)
    }

    /// Adds `flow`, or absorbs it into the flow added before with the same key.
    /// - Returns: the position of the flow that holds it.
    public mutating func add(_ flow: Flow) -> Int {
        let hash = index.hash(flow.key)
        if let existing = index.find(flow.key, hash: hash, in: flows) {
            flows[existing].absorb(flow)
            return existing
        }
        flows.append(flow)
        index.insert(slot: flows.count - 1, hash: hash, flows: flows)
        return flows.count - 1
    }

    /// Starts loading the index bucket `add` will look in for `key` (a flow some way ahead of
    /// the one being added). Only a hint. (Mutating so that the caller lends the table rather
    /// than copying it.)
    @inline(__always)
    public mutating func prefetch(_ key: FlowKey) {
        index.prefetchBucket(index.hash(key))
    }

    /// The merged flows, handed over (the table is left empty).
    public mutating func take() -> [Flow] {
        defer { self = FlowMerge(expected: 0) }
        return flows
    }
}

/// The keyed hash of `RecordIndex`: six 64-bit words mixed in pairs with a 256-bit seed drawn
/// from the system's random generator, each pair by a folded 64x64->128-bit multiply (high half
/// xor low half, as in wyhash, foldhash and aHash's fallback), the three products folded once
/// more (see `RecordIndex` on why this resists flooding, with its probe limit).
struct SeededHash: Sendable {
    private let seed: (UInt64, UInt64, UInt64, UInt64)

    /// A fresh seed.
    init() {
        var generator = SystemRandomNumberGenerator()
        seed = (generator.next() | 1, generator.next(), generator.next(), generator.next())
    }

    @inline(__always)
    private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inline(__always)
    func hash(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64, _ w4: UInt64, _ w5: UInt64) -> UInt64 {
        let a = Self.fold(w0 ^ seed.0, w1 ^ seed.1)
        let b = Self.fold(w2 ^ seed.2, w3 ^ seed.3)
        let c = Self.fold(w4 ^ seed.1, w5 ^ seed.2)
        return Self.fold(a ^ seed.3, b ^ c ^ seed.0)
    }
}
