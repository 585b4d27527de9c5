import Frames

/// The counts of finished flows not kept whole, by segment and service
/// (`FlowTracker.summarised`).
///
/// A flow is added as it finishes, one at a time, and under a flood of new flows nearly every
/// packet finishes one. Through a `Dictionary` alone each costs a `Hasher` and a lookup (about
/// 240 instructions a finished flow, callgrind, bench-replay's many-flows file); keeping only
/// the last key's tally aside did not help, as the services of a flood's flows alternate. So
/// the tallies of the last few keys used are kept aside, each key packed in one word, found by
/// comparing words; a key not among them takes the place of the one used longest ago, whose
/// tally is folded into the dictionary. Sums, minima and maxima do not depend on the order
/// they are folded in: `all` is the same whichever tallies were aside.
struct FlowSummaries: Sendable {
    /// Keys whose tallies are kept aside at most (the inline arrays' size).
    static let recentCapacity = 8

    /// The keys aside, packed (`pack`), in `recentKeys[0..<recentCount]`, with their tallies
    /// and when each was last used (a count of additions, for choosing which to fold). Inline
    /// arrays: no allocation, and no uniqueness check on each change (~30 instructions a
    /// finished flow against `Array`s).
    private var recentKeys = InlineArray<8, UInt64>(repeating: 0)
    private var recentTallies = InlineArray<8, FlowTally>(repeating: FlowTally())
    private var recentUse = InlineArray<8, Int>(repeating: 0)
    private var recentCount = 0
    private var additions = 0
    /// Every other key's tally.
    private var folded: [FlowSummaryKey: FlowTally] = [:]

    var isEmpty: Bool { recentCount == 0 && folded.isEmpty }

    /// Every tally, those aside included.
    var all: [FlowSummaryKey: FlowTally] {
        var all = folded
        for position in 0..<recentCount {
            all[Self.unpack(recentKeys[position]), default: FlowTally()].merge(recentTallies[position])
        }
        return all
    }

    /// Counts one finished flow under its segment and service.
    @inline(__always)
    mutating func add(
        segment: UInt32, service: Int?, rangeOnly: Bool, packets: Int, bytes: Int, firstSeen: Timestamp,
        lastSeen: Timestamp
    ) {
        additions &+= 1
        guard let code = Self.pack(segment: segment, service: service, rangeOnly: rangeOnly) else {
            // A service number no table has (a table holds a few dozen): the long way.
            folded[FlowSummaryKey(segment: segment, service: service, rangeOnly: rangeOnly), default: FlowTally()]
                .add(packets: packets, bytes: bytes, firstSeen: firstSeen, lastSeen: lastSeen)
            return
        }
        let position = place(of: code)
        recentUse[position] = additions
        recentTallies[position].add(packets: packets, bytes: bytes, firstSeen: firstSeen, lastSeen: lastSeen)
    }

    /// The position aside of `code`'s tally, made room for if it is not there.
    @inline(__always)
    private mutating func place(of code: UInt64) -> Int {
        for position in 0..<recentCount where recentKeys[position] == code { return position }
        if recentCount < Self.recentCapacity {
            recentCount += 1
            recentKeys[recentCount - 1] = code
            recentTallies[recentCount - 1] = FlowTally()
            return recentCount - 1
        }
        var oldest = 0
        for position in 1..<Self.recentCapacity where recentUse[position] < recentUse[oldest] { oldest = position }
        folded[Self.unpack(recentKeys[oldest]), default: FlowTally()].merge(recentTallies[oldest])
        recentKeys[oldest] = code
        recentTallies[oldest] = FlowTally()
        return oldest
    }

    /// A key in one word: the segment, the service + 1 (0: none) and the range bit; nil for a
    /// service outside 0..<32767.
    @inline(__always)
    static func pack(segment: UInt32, service: Int?, rangeOnly: Bool) -> UInt64? {
        let number = (service ?? -1) &+ 1
        guard number >= 0 && number < 0x8000 else { return nil }
        return UInt64(segment) << 32 | UInt64(number) << 1 | (rangeOnly ? 1 : 0)
    }

    static func unpack(_ code: UInt64) -> FlowSummaryKey {
        let number = Int(code >> 1 & 0xFFFF)
        return FlowSummaryKey(
            segment: UInt32(truncatingIfNeeded: code >> 32), service: number == 0 ? nil : number - 1,
            rangeOnly: code & 1 != 0)
    }
}
