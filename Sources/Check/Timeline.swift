/// Bytes per time bin, per series (a policy network, and one for traffic in no network), with
/// storage and other traffic apart: what the HTML report draws.
///
/// Memory is bounded whatever the capture: at most `capacity` bins per series. Bins are
/// aligned to whole multiples of their width (1 µs times a power of two), so when a packet
/// falls outside the window the width doubles and neighbouring pairs merge, exactly, until
/// every packet seen so far fits; a timeline therefore holds between `capacity / 2` and
/// `capacity` bins once the span is wider than a few microseconds, whether or not the
/// duration was known ahead. Two timelines (one per live interface) merge exactly for the
/// same reason.
public struct Timeline: Sendable {
    /// The finest bin width, in nanoseconds.
    public static let baseWidth: Int64 = 1000

    public struct Series: Sendable, Equatable {
        /// Bytes per bin, parallel to the timeline's window.
        public fileprivate(set) var storage: [Int]
        public fileprivate(set) var other: [Int]

        init(capacity: Int) {
            storage = [Int](repeating: 0, count: capacity)
            other = [Int](repeating: 0, count: capacity)
        }
    }

    public let capacity: Int
    /// Nanoseconds per bin.
    public private(set) var binWidth: Int64 = Timeline.baseWidth
    /// The absolute index (time / `binWidth`) of slot 0.
    private var firstBin: Int64 = 0
    /// The absolute indices that hold data, once any does.
    private var used: ClosedRange<Int64>?
    public private(set) var series: [Series]

    /// - Parameters:
    ///   - series: how many series (e.g. the policy's networks plus one for no network).
    ///   - capacity: bins per series at most (the page draws between half and all of them).
    public init(series: Int, capacity: Int = 600) {
        self.capacity = max(4, capacity)
        self.series = (0..<max(0, series)).map { _ in Series(capacity: max(4, capacity)) }
    }

    public var isEmpty: Bool { used == nil }

    /// Bins from the first that holds data to the last.
    public var count: Int { used.map { Int($0.upperBound - $0.lowerBound) + 1 } ?? 0 }

    /// Nanoseconds since the Unix epoch at which the first bin with data starts.
    public var start: Int64 { (used?.lowerBound ?? 0) * binWidth }

    /// Series `index`'s bytes in bin `bin` (0 ..< `count`).
    public func bytes(series index: Int, bin: Int, storage: Bool) -> Int {
        guard let used, index < series.count else { return 0 }
        let slot = Int(used.lowerBound - firstBin) + bin
        return storage ? series[index].storage[slot] : series[index].other[slot]
    }

    /// Adds a packet of `bytes` seen at `nanoseconds` to series `index`.
    public mutating func add(bytes: Int, at nanoseconds: Int64, series index: Int, storage: Bool) {
        guard index >= 0 else { return }
        if index >= series.count { grow(to: index + 1) }
        var bin = Self.floorDivide(nanoseconds, binWidth)
        if used != nil {
            if bin < firstBin || bin >= firstBin + Int64(capacity) {
                fit(bin)
                bin = Self.floorDivide(nanoseconds, binWidth)
            }
            if let data = used, bin < data.lowerBound || bin > data.upperBound {
                used = min(data.lowerBound, bin)...max(data.upperBound, bin)
            }
        } else {
            firstBin = bin
            used = bin...bin
        }
        let slot = Int(bin - firstBin)
        if storage {
            series[index].storage[slot] += bytes
        } else {
            series[index].other[slot] += bytes
        }
    }

    /// Adds everything `other` holds (a timeline built alongside, e.g. another interface's).
    public mutating func merge(_ other: Timeline) {
        guard let theirs = other.used else { return }
        if other.series.count > series.count { grow(to: other.series.count) }
        if other.binWidth > binWidth, used != nil {
            rebin(shift: Self.log2(other.binWidth / binWidth), extending: nil)
        } else if used == nil {
            binWidth = max(binWidth, other.binWidth)
        }
        for bin in theirs {
            let slot = Int(bin - other.firstBin)
            let time = bin * other.binWidth
            for (index, item) in other.series.enumerated() {
                if item.storage[slot] != 0 { add(bytes: item.storage[slot], at: time, series: index, storage: true) }
                if item.other[slot] != 0 { add(bytes: item.other[slot], at: time, series: index, storage: false) }
            }
        }
    }

    // MARK: - Internals

    private mutating func grow(to count: Int) {
        while series.count < count { series.append(Series(capacity: capacity)) }
    }

    /// Makes room for absolute bin `bin`: doubles the width until the data and `bin` fit in
    /// the window, then moves the window over them.
    private mutating func fit(_ bin: Int64) {
        guard let used else { return }
        var low = min(used.lowerBound, bin)
        var high = max(used.upperBound, bin)
        var shift = 0
        while high - low + 1 > Int64(capacity) {
            low = Self.floorDivide(low, 2)
            high = Self.floorDivide(high, 2)
            shift += 1
        }
        rebin(shift: shift, extending: bin < used.lowerBound ? low : nil)
    }

    /// Widens bins by 2^`shift` and places the window: at the data's first bin, or, when
    /// growing towards earlier times (a packet earlier than any so far, from another file), with
    /// some room before `earliest` so that a few more such packets do not move it again.
    private mutating func rebin(shift: Int, extending earliest: Int64?) {
        guard let used else { return }
        let factor = Int64(1) << shift
        let low = Self.floorDivide(used.lowerBound, factor)
        let high = Self.floorDivide(used.upperBound, factor)
        var newLow = low
        var newHigh = high
        if let earliest {
            newLow = min(low, earliest)
            newHigh = max(high, newLow)
        }
        let spare = Int64(capacity) - (newHigh - newLow + 1)
        let newFirst = earliest == nil ? newLow : newLow - max(0, spare / 4)
        let oldFirst = firstBin
        series = series.map { item in
            var moved = Series(capacity: capacity)
            for bin in used {
                let from = Int(bin - oldFirst)
                let to = Int(Self.floorDivide(bin, factor) - newFirst)
                moved.storage[to] += item.storage[from]
                moved.other[to] += item.other[from]
            }
            return moved
        }
        binWidth *= factor
        firstBin = newFirst
        self.used = low...high
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    private static func log2(_ value: Int64) -> Int {
        Int64.bitWidth - 1 - value.leadingZeroBitCount
    }
}
