import CShims

/// The flow table's index: an open-addressing hash table from `FlowKey` to the slot of the
/// flow in `FlowTracker.flows`, so that finding a packet's flow costs one hash and (almost
/// always) one probe, with no allocation, no `Hasher` and no ARC traffic.
///
/// Layout: a power-of-two array of 64-bit buckets, each 0 (empty) or the slot + 1 in the low
/// 32 bits and the top 32 bits of the key's hash above them, so that a probe compares the
/// stored hash bits before it touches the flow record. Linear probing, kept at most half
/// full; the index grows by doubling and is rebuilt from the live flows after an eviction
/// (entries are never deleted one by one, so there are no tombstones).
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
struct FlowIndex: Sendable {
    private var buckets: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private var seed: (UInt64, UInt64, UInt64, UInt64)
    /// Seeds drawn so far (1 + the re-seeds forced by long probes).
    private(set) var seeds = 1

    static let probeLimit = 64

    init(expected: Int = 64) {
        var size = 16
        while size < expected * 2 { size <<= 1 }
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
        seed = Self.drawSeed()
    }

    private static func drawSeed() -> (UInt64, UInt64, UInt64, UInt64) {
        var generator = SystemRandomNumberGenerator()
        return (generator.next() | 1, generator.next(), generator.next(), generator.next())
    }

    @inline(__always)
    private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inline(__always)
    func hash(_ key: FlowKey) -> UInt64 {
        let tail =
            UInt64(key.lower.port) | UInt64(key.upper.port) << 16 | UInt64(key.ipProtocol) << 32
            | (key.lower.address.isIPv4 ? 1 << 40 : 0) | (key.upper.address.isIPv4 ? 1 << 41 : 0)
        let a = Self.fold(key.lower.address.high ^ seed.0, key.lower.address.low ^ seed.1)
        let b = Self.fold(key.upper.address.high ^ seed.2, key.upper.address.low ^ seed.3)
        let c = Self.fold(tail ^ seed.1, UInt64(key.segment) ^ seed.2)
        return Self.fold(a ^ seed.3, b ^ c ^ seed.0)
    }

    /// The slot of the live flow with `key`, if there is one.
    @inline(__always)
    mutating func find(_ key: FlowKey, hash: UInt64, in flows: [Flow]) -> Int? {
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var position = Int(truncatingIfNeeded: hash) & mask
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
            lk_prefetch(buckets.baseAddress.unsafelyUnwrapped + (Int(truncatingIfNeeded: hash) & mask))
        }
    }

    /// The slot of the first bucket, among the few a lookup of `hash` probes first, whose
    /// stored hash bits match: the likely slot of the flow, not yet compared with its key.
    @inline(__always)
    func likelySlot(_ hash: UInt64) -> Int? {
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var position = Int(truncatingIfNeeded: hash) & mask
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
    static let likelyProbes = 4

    private func findWithoutLimit(_ key: FlowKey, hash: UInt64, in flows: [Flow]) -> Int? {
        var position = Int(truncatingIfNeeded: hash) & mask
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
    mutating func insert(slot: Int, hash: UInt64, flows: [Flow]) -> Bool {
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

    /// Rebuilds the index from the live flows (after an eviction).
    mutating func rebuild(_ flows: [Flow], live: (Int) -> Bool) {
        for i in buckets.indices { buckets[i] = 0 }
        count = 0
        for slot in flows.indices where live(slot) {
            if !place(slot: slot, hash: hash(flows[slot].key)) {
                reseed(flows, live: live)
                return
            }
            count += 1
        }
    }

    /// Bytes the index holds.
    var footprint: Int { buckets.count * MemoryLayout<UInt64>.stride }

    @discardableResult
    private mutating func place(slot: Int, hash: UInt64) -> Bool {
        var position = Int(truncatingIfNeeded: hash) & mask
        var probes = 0
        while buckets[position] != 0 {
            position = (position + 1) & mask
            probes += 1
            if probes > Self.probeLimit { return false }
        }
        buckets[position] = hash & 0xFFFF_FFFF_0000_0000 | UInt64(slot + 1)
        return true
    }

    private mutating func grow(_ flows: [Flow], size: Int) {
        let slots = buckets.compactMap { $0 == 0 ? nil : Int($0 & 0xFFFF_FFFF) - 1 }
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
        count = 0
        for slot in slots {
            place(slot: slot, hash: hash(flows[slot].key))
            count += 1
        }
    }

    private mutating func reseed(_ flows: [Flow]) {
        let slots = Set(buckets.compactMap { $0 == 0 ? nil : Int($0 & 0xFFFF_FFFF) - 1 })
        reseed(flows) { slots.contains($0) }
    }

    private mutating func reseed(_ flows: [Flow], live: (Int) -> Bool) {
        seed = Self.drawSeed()
        seeds += 1
        for i in buckets.indices { buckets[i] = 0 }
        count = 0
        for slot in flows.indices where live(slot) {
            // With a fresh seed a run this long is as unlikely as it was with the first one;
            // should it happen anyway, keep probing past the limit rather than lose the flow.
            var position = Int(truncatingIfNeeded: hash(flows[slot].key)) & mask
            while buckets[position] != 0 { position = (position + 1) & mask }
            buckets[position] = hash(flows[slot].key) & 0xFFFF_FFFF_0000_0000 | UInt64(slot + 1)
            count += 1
        }
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

    /// The merged flows, handed over (the table is left empty).
    public mutating func take() -> [Flow] {
        defer { self = FlowMerge(expected: 0) }
        return flows
    }
}
