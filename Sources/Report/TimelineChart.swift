import Check

/// Draws one series of a `Timeline` as an inline SVG: other traffic below, storage stacked on
/// it (bytes per second, stepped per bin), and the spans of violating flows marked in a strip
/// above the plot (each with its flow as a tooltip) and shaded across it.
enum TimelineChart {
    /// A violating flow's span.
    struct Span {
        var first: Int64
        var last: Int64
        var label: String
    }

    static let width = 1000.0
    static let height = 236.0
    static let left = 84.0
    static let right = 988.0
    static let top = 28.0
    static let bottom = 196.0

    static func svg(_ timeline: Timeline, series: Int, spans: [Span], label: String) -> String {
        let count = timeline.count
        guard count > 0 else { return "" }
        let binSeconds = Double(timeline.binWidth) / 1e9
        var other = [Double](repeating: 0, count: count)
        var total = [Double](repeating: 0, count: count)
        for bin in 0..<count {
            other[bin] = Double(timeline.bytes(series: series, bin: bin, storage: false)) / binSeconds
            total[bin] = other[bin] + Double(timeline.bytes(series: series, bin: bin, storage: true)) / binSeconds
        }
        let peak = total.max() ?? 0
        let rateStep = niceStep(max(peak, 1) / 4)
        let rateMax = (max(peak, 1) / rateStep).rounded(.up) * rateStep
        let plotWidth = right - left
        let binWidth = plotWidth / Double(count)
        let duration = Double(count) * binSeconds
        func y(_ rate: Double) -> Double { bottom - (rate / rateMax) * (bottom - top) }
        func x(_ nanoseconds: Int64) -> Double {
            let offset = Double(nanoseconds - timeline.start) / 1e9
            return min(right, max(left, left + offset / duration * plotWidth))
        }

        var out = "<svg class=\"timeline\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" "
            + "aria-label=\"\(HTML.escape(label))\">\n"
        // Grid and rate axis.
        var tick = 0.0
        while tick <= rateMax * 1.0001 {
            let position = number(y(tick))
            out += "<line class=\"grid\" x1=\"\(Int(left))\" x2=\"\(Int(right))\" y1=\"\(position)\" y2=\"\(position)\"/>"
            out += "<text x=\"\(Int(left) - 6)\" y=\"\(number(y(tick) + 4))\" text-anchor=\"end\">"
                + "\(HTML.escape(rate(tick)))</text>\n"
            tick += rateStep
        }
        // Time axis, relative to the first bin.
        let (unit, unitName) = duration >= 7200 ? (3600.0, "h") : (duration >= 600 ? (60.0, "min") : (1.0, "s"))
        let timeStep = niceStep(duration / unit / 6) * unit
        var time = 0.0
        while time <= duration * 1.0001 {
            let position = number(left + time / duration * plotWidth)
            out += "<line class=\"grid\" x1=\"\(position)\" x2=\"\(position)\" y1=\"\(Int(bottom))\" y2=\"\(Int(bottom) + 5)\"/>"
            out += "<text x=\"\(position)\" y=\"\(Int(bottom) + 20)\" text-anchor=\"middle\">"
                + "+\(HTML.escape(decimal(time / unit))) \(unitName)</text>\n"
            time += timeStep
        }
        // Shaded spans of violating flows (merged where they overlap on screen), then the areas.
        var merged: [(Double, Double)] = []
        for span in spans.map({ (x($0.first), max(x($0.last), x($0.first) + 2)) }).sorted(by: { $0.0 < $1.0 }) {
            if let last = merged.last, span.0 <= last.1 + 1 {
                merged[merged.count - 1].1 = max(last.1, span.1)
            } else {
                merged.append(span)
            }
        }
        for (from, to) in merged {
            out += "<rect class=\"span\" x=\"\(number(from))\" y=\"\(Int(top))\" width=\"\(number(to - from))\" "
                + "height=\"\(Int(bottom - top))\"/>\n"
        }
        out += "<path class=\"other\" d=\"\(area(lower: nil, upper: other, binWidth: binWidth, y: y))\"/>\n"
        out += "<path class=\"storage\" d=\"\(area(lower: other, upper: total, binWidth: binWidth, y: y))\"/>\n"
        out += "<line class=\"grid\" x1=\"\(Int(left))\" x2=\"\(Int(right))\" y1=\"\(Int(bottom))\" y2=\"\(Int(bottom))\"/>\n"
        for span in spans {
            let from = x(span.first)
            let to = max(x(span.last), from + 2)
            out += "<rect class=\"mark\" x=\"\(number(from))\" y=\"8\" width=\"\(number(to - from))\" height=\"12\">"
                + "<title>\(HTML.escape(span.label))</title></rect>\n"
        }
        return out + "</svg>\n"
    }

    /// A stepped area between `lower` (the axis when nil) and `upper`, one step per bin.
    private static func area(lower: [Double]?, upper: [Double], binWidth: Double, y: (Double) -> Double) -> String {
        var path = "M\(number(left)),\(number(bottom))"
        var level = bottom
        if let lower {
            level = y(lower[0])
            path = "M\(number(left)),\(number(level))"
        }
        func step(_ values: [Double], forward: Bool) {
            // Vertical moves only where the level changes; horizontal moves joined across bins.
            var pending: Double?
            for index in forward ? Array(values.indices) : values.indices.reversed() {
                let height = y(values[index])
                if abs(height - level) > 0.05 {
                    if let pending { path += "H\(number(pending))" }
                    path += "V\(number(height))"
                    level = height
                }
                pending = left + Double(forward ? index + 1 : index) * binWidth
            }
            if let pending { path += "H\(number(pending))" }
        }
        step(upper, forward: true)
        if let lower {
            step(lower, forward: false)
        } else {
            path += "V\(number(bottom))"
        }
        return path + "Z"
    }

    /// 1, 2 or 5 times a power of ten, at least `value`.
    static func niceStep(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        var magnitude = 1.0
        while magnitude * 10 <= value { magnitude *= 10 }
        while magnitude > value { magnitude /= 10 }
        for factor in [1.0, 2.0, 5.0, 10.0] where magnitude * factor >= value * 0.999_999 {
            return magnitude * factor
        }
        return magnitude * 10
    }

    static func rate(_ bytesPerSecond: Double) -> String {
        Checker.formatBytes(Int(bytesPerSecond.rounded())) + "/s"
    }

    /// `8 µs`, `4.096 ms`, `2.1 s`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 1e-3 { return decimal(seconds * 1e6) + " µs" }
        if seconds < 1 { return decimal(seconds * 1e3) + " ms" }
        return decimal(seconds) + " s"
    }

    /// Up to three decimals, trailing zeros dropped.
    static func decimal(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let whole = thousandths / 1000
        var fraction = String(abs(thousandths % 1000))
        if fraction == "0" { return String(whole) }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    private static func number(_ value: Double) -> String {
        decimal((value * 10).rounded() / 10)
    }
}
