import Check
import Report
import Testing

@Suite struct TimelineTests {
    /// Sums every bin of a series.
    func total(_ timeline: Timeline, series: Int, storage: Bool) -> Int {
        (0..<timeline.count).reduce(0) { $0 + timeline.bytes(series: series, bin: $1, storage: storage) }
    }

    @Test func binsStayBoundedAndKeepEveryByte() {
        var timeline = Timeline(series: 2, capacity: 600)
        var storage = 0
        var other = 0
        // An hour of packets, one every 7 ms, alternating series and kind.
        var time: Int64 = 1_700_000_000_000_000_000
        for index in 0..<514_000 {
            let bytes = 60 + index % 1400
            let isStorage = index % 3 == 0
            timeline.add(bytes: bytes, at: time, series: index % 2, storage: isStorage)
            if isStorage { storage += bytes } else { other += bytes }
            time += 7_000_000
        }
        #expect(timeline.count <= 600)
        #expect(timeline.count >= 300)
        #expect(total(timeline, series: 0, storage: true) + total(timeline, series: 1, storage: true) == storage)
        #expect(total(timeline, series: 0, storage: false) + total(timeline, series: 1, storage: false) == other)
        // Widths are the base width times a power of two.
        let ratio = timeline.binWidth / Timeline.baseWidth
        #expect(ratio > 0 && ratio & (ratio - 1) == 0)
    }

    @Test func shortCapturesGetSubSecondBins() {
        var timeline = Timeline(series: 1)
        for step in 0..<1000 { timeline.add(bytes: 100, at: Int64(step) * 2_000_000, series: 0, storage: false) }
        // Two seconds: bins of a few milliseconds.
        #expect(timeline.binWidth < 10_000_000)
        #expect(timeline.count >= 300 && timeline.count <= 600)
        #expect(timeline.start == 0)
    }

    @Test func earlierPacketsFromAnotherFileFitAndCountOnce() {
        var timeline = Timeline(series: 1, capacity: 64)
        for step in 0..<100 { timeline.add(bytes: 1, at: 5_000_000_000 + Int64(step) * 1_000_000, series: 0, storage: true) }
        for step in 0..<100 { timeline.add(bytes: 2, at: 4_000_000_000 + Int64(step) * 1_000_000, series: 0, storage: false) }
        #expect(total(timeline, series: 0, storage: true) == 100)
        #expect(total(timeline, series: 0, storage: false) == 200)
        #expect(timeline.count <= 64)
        #expect(timeline.start <= 4_000_000_000)
        // The earliest packet is in the first bin, the latest in the last.
        #expect(timeline.bytes(series: 0, bin: 0, storage: false) > 0)
        #expect(timeline.bytes(series: 0, bin: timeline.count - 1, storage: true) > 0)
    }

    @Test func mergingEqualsBuildingTogether() {
        var together = Timeline(series: 2, capacity: 100)
        var first = Timeline(series: 2, capacity: 100)
        var second = Timeline(series: 2, capacity: 100)
        for step in 0..<5000 {
            let time = 1_000_000_000 + Int64(step) * 3_000_000
            together.add(bytes: step % 97, at: time, series: 0, storage: step % 2 == 0)
            first.add(bytes: step % 97, at: time, series: 0, storage: step % 2 == 0)
        }
        for step in 0..<300 {
            let time = 1_000_000_000 + Int64(step) * 100_000
            together.add(bytes: 1000, at: time, series: 1, storage: true)
            second.add(bytes: 1000, at: time, series: 1, storage: true)
        }
        var merged = second
        merged.merge(first)
        #expect(merged.binWidth == together.binWidth)
        #expect(merged.count == together.count)
        #expect(merged.start == together.start)
        for series in 0..<2 {
            for bin in 0..<together.count {
                for storage in [true, false] {
                    #expect(
                        merged.bytes(series: series, bin: bin, storage: storage)
                            == together.bytes(series: series, bin: bin, storage: storage))
                }
            }
        }
    }
}

@Suite struct EscapingTests {
    @Test func everyMarkupCharacterIsEscaped() {
        #expect(HTML.escape("<script>alert('x') & \"y\"</script>") == "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;")
        #expect(HTML.escape("a\u{0}b\u{1b}c\nd") == "a\u{FFFD}b\u{FFFD}c\nd")
        #expect(HTML.escape("stor0 → 🗄️ ünï") == "stor0 → 🗄️ ünï")
        #expect(HTML.escape("a\nb\tc", whitespaceAsReferences: true) == "a&#10;b&#9;c")
    }

    @Test func tablesAndListsEscapeTheirText() {
        let table = HTML.table(header: ["<h>"], rows: [HTML.Row(["<img src=x>"])])
        #expect(!table.contains("<img"))
        #expect(table.contains("&lt;img src=x&gt;"))
        #expect(!HTML.list(["<b>"]).contains("<b>"))
        #expect(!HTML.banner(.fail, headline: "<i>", reasons: ["<u>"]).contains("<i>"))
    }
}
