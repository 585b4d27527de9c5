import Capture
import Frames
import TestSupport
import Testing

@Suite struct PcapFileReaderTests {
    static let records: [PcapBytes.Record] = [
        .init(seconds: 1_700_000_000, fraction: 123_456, data: payload(60, seed: 1)),
        .init(seconds: 1_700_000_001, fraction: 999_999, data: payload(42, seed: 2), originalLength: 1514),
        .init(seconds: 4_000_000_000, fraction: 0, data: payload(1, seed: 3)),
    ]

    @Test(arguments: [false, true], [false, true])
    func readsEveryByteOrderAndPrecision(bigEndian: Bool, nanoseconds: Bool) throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapBytes.file(bigEndian: bigEndian, nanoseconds: nanoseconds, records: Self.records)
        let path = try temp.file("classic.pcap", bytes)

        let result = try readCapture(path)

        #expect(result.outcome == ReadOutcome(frames: 3, bytesRead: Int64(bytes.count), end: .endOfFile))
        #expect(result.interfaces == [CaptureInterface(name: nil, linkType: .ethernet, snapLength: 65535)])
        let scale: Int64 = nanoseconds ? 1 : 1000
        let expected: [(Int64, Int, Int64)] = [
            (1_700_000_000 * 1_000_000_000 + 123_456 * scale, 60, 24),
            (1_700_000_001 * 1_000_000_000 + 999_999 * scale, 1514, 24 + 16 + 60),
            (4_000_000_000 * 1_000_000_000, 1, 24 + 16 + 60 + 16 + 42),
        ]
        try #require(result.frames.count == 3)
        for (frame, (time, wire, offset)) in zip(result.frames, expected) {
            #expect(frame.interface == 0)
            #expect(frame.linkType == .ethernet)
            #expect(frame.nanoseconds == time)
            #expect(frame.wireLength == wire)
            #expect(frame.fileOffset == offset)
        }
        #expect(result.frames.map(\.bytes) == Self.records.map(\.data))
    }

    @Test func readingAgainAfterTheEndReturnsTheSameEnd() throws {
        let temp = try TemporaryDirectory()
        let path = try temp.file("a.pcap", PcapBytes.file(bigEndian: false, nanoseconds: false, records: Self.records))
        let reader = try PcapFileReader(path: path)
        #expect(reader.read { _ in }.frames == 3)
        let again = reader.read { _ in }
        #expect(again.frames == 0)
        #expect(again.end == .endOfFile)
    }

    @Test func linkTypeComesFromTheHeader() throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: true, linkType: 276, snapLength: 262_144, records: [])
        let result = try readCapture(try temp.file("sll2.pcap", bytes))
        #expect(result.interfaces.first?.linkType == .linuxSLL2)
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.isEmpty)
    }

    @Test func aTruncatedLastRecordIsCutShort() throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, records: Self.records)
        let lastRecord = 24 + 16 + 60 + 16 + 42
        // Cut inside the record header, then inside the captured bytes.
        for cut in [lastRecord + 7, bytes.count - 1] {
            let result = try readCapture(try temp.file("cut\(cut).pcap", Array(bytes[0..<cut])))
            #expect(result.frames.count == 2)
            guard case .cutShort(let offset, let detail) = result.outcome.end else {
                Issue.record("expected cutShort, got \(result.outcome.end)")
                continue
            }
            #expect(offset == Int64(lastRecord))
            #expect(detail.contains("truncated dump file"))
            #expect(result.outcome.bytesRead == Int64(lastRecord))
        }
    }

    @Test func anImpossibleCaptureLengthIsCorrupt() throws {
        let temp = try TemporaryDirectory()
        var records = Self.records
        records[1].capturedLength = 0xFFFF_FFF0
        let bytes = PcapBytes.file(bigEndian: true, nanoseconds: false, records: records)
        let result = try readCapture(try temp.file("bad.pcap", bytes))
        #expect(result.frames.count == 1)
        guard case .corrupt(let offset, let detail) = result.outcome.end else {
            Issue.record("expected corrupt, got \(result.outcome.end)")
            return
        }
        #expect(offset == 24 + 16 + 60)
        #expect(detail.contains("invalid packet capture length"))
    }

    @Test func aRecordLongerThanTheSnapLengthKeepsOffsetsRight() throws {
        // libpcap trims a record whose caplen exceeds the header's snaplen (but not the
        // link type's maximum) and skips the rest; the next record's offset must still be right.
        let temp = try TemporaryDirectory()
        let records: [PcapBytes.Record] = [
            .init(seconds: 1, fraction: 0, data: payload(200, seed: 4)),
            .init(seconds: 2, fraction: 0, data: payload(10, seed: 5)),
        ]
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, snapLength: 100, records: records)
        let result = try readCapture(try temp.file("snap.pcap", bytes))
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.map(\.fileOffset) == [24, 24 + 16 + 200])
        #expect(result.frames.last?.bytes == records[1].data)
    }

    @Test func everyHeaderPrefixIsMalformed() throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, records: Self.records)
        for cut in 0..<24 {
            let error = openError(try temp.file("h\(cut).pcap", Array(bytes[0..<cut])))
            #expect(error?.code == .malformed, "prefix \(cut)")
            if cut == 0 { #expect(error?.detail == "empty file") }
        }
    }
}
