@testable import Capture
import Frames
import Testing
import TestSupport

/// The own classic pcap reader and the in-memory entry point: golden bytes, libpcap as a
/// reference, records across chunk ends, lying lengths.
@Suite struct ChunkedReadingTests {
    // MARK: Golden bytes

    /// A little-endian microsecond file, written out byte by byte.
    static let littleEndianMicroseconds: [UInt8] = [
        0xD4, 0xC3, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00,  // magic, version 2.4
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // thiszone, sigfigs
        0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,  // snaplen 262144, link type 1
        0x10, 0x00, 0x00, 0x00, 0x3F, 0x42, 0x0F, 0x00,  // 16 s, 999_999 µs
        0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,  // caplen 3, len 5
        0xAA, 0xBB, 0xCC,
    ]

    @Test func goldenLittleEndianMicroseconds() throws {
        var source = try CaptureFile.open(bytes: Self.littleEndianMicroseconds, name: "golden-le")
        var seen: [SeenFrame] = []
        let outcome = source.read { seen.append(SeenFrame($0)) }
        #expect(outcome == ReadOutcome(frames: 1, bytesRead: 43, end: .endOfFile))
        #expect(source.interfaces == [CaptureInterface(name: nil, linkType: .ethernet, snapLength: 262_144)])
        #expect(
            seen == [
                SeenFrame(
                    interface: 0, nanoseconds: 16_999_999_000, linkType: .ethernet, wireLength: 5,
                    bytes: [0xAA, 0xBB, 0xCC], fileOffset: 24)
            ])
    }

    /// A big-endian nanosecond file with an SLL2 link type and two records.
    static let bigEndianNanoseconds: [UInt8] = [
        0xA1, 0xB2, 0x3C, 0x4D, 0x00, 0x02, 0x00, 0x04,  // magic, version 2.4
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x01, 0x14,  // snaplen 64, link type 276
        0x65, 0x53, 0xF1, 0x00, 0x3B, 0x9A, 0xC9, 0xFF,  // 1700000000 s, 999_999_999 ns
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x05, 0xEA,  // caplen 2, len 1514
        0x01, 0x02,
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,  // 4294967295 s (unsigned), 1 ns
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // caplen 0, len 0
    ]

    @Test func goldenBigEndianNanoseconds() throws {
        var source = try CaptureFile.open(bytes: Self.bigEndianNanoseconds, name: "golden-be")
        var seen: [SeenFrame] = []
        let outcome = source.read { seen.append(SeenFrame($0)) }
        #expect(outcome == ReadOutcome(frames: 2, bytesRead: 58, end: .endOfFile))
        #expect(source.interfaces == [CaptureInterface(name: nil, linkType: .linuxSLL2, snapLength: 64)])
        #expect(
            seen == [
                SeenFrame(
                    interface: 0, nanoseconds: 1_700_000_000_999_999_999, linkType: .linuxSLL2, wireLength: 1514,
                    bytes: [1, 2], fileOffset: 24),
                SeenFrame(
                    interface: 0, nanoseconds: 4_294_967_295_000_000_001, linkType: .linuxSLL2, wireLength: 0,
                    bytes: [], fileOffset: 42),
            ])
    }

    @Test func fcsBitsTrimTheChecksumFromWholeFrames() throws {
        // Link-type word: FCS present (bit 26), 2 words = 4 bytes (bits 28-31), Ethernet.
        let linkWord: UInt32 = 0x2400_0001
        let records: [PcapBytes.Record] = [
            .init(seconds: 1, fraction: 0, data: payload(64, seed: 1)),
            .init(seconds: 2, fraction: 0, data: payload(30, seed: 2), originalLength: 1518),
        ]
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, linkType: linkWord, records: records)
        let result = try readBytes(bytes)
        #expect(result.interfaces.first?.linkType == .ethernet)
        #expect(result.frames.map(\.bytes) == [Array(records[0].data[0..<60]), records[1].data])
        #expect(result.frames.map(\.wireLength) == [64, 1518])
    }

    @Test func oldVersionsSwapTheTwoLengths() throws {
        // Version 2.2 writers stored len before caplen.
        var bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, records: [])
        bytes[6] = 2
        var writer = ByteWriter(bigEndian: false)
        writer.u32(5)
        writer.u32(0)
        writer.u32(1514)  // len
        writer.u32(4)  // caplen
        writer.raw([9, 8, 7, 6])
        let result = try readBytes(bytes + writer.bytes)
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.map(\.wireLength) == [1514])
        #expect(result.frames.map(\.bytes) == [[9, 8, 7, 6]])
    }

    @Test func unsupportedVersionAndBadMagicAreMalformed() throws {
        var bytes = PcapBytes.file(bigEndian: true, nanoseconds: false, records: [])
        bytes[5] = 3  // version 3.4
        let error = #expect(throws: CaptureError.self) { try CaptureFile.open(bytes: bytes, name: "v3") }
        #expect(error == CaptureError(
            code: .malformed, path: "v3", offset: 4,
            detail: "bad pcap header: unsupported pcap version 3.4 (lanekeeper reads 2.0-2.4)"))

        let garbage = Array("GARBAGE, not even close to a pcap file".utf8)
        let notPcap = #expect(throws: CaptureError.self) {
            try PcapFileReader(bytes: garbage.withUnsafeBytes { UnsafeRawBufferPointer($0) }, name: "g")
        }
        #expect(notPcap?.detail == "not a pcap file (magic 0x47415242)")
    }

    // MARK: libpcap as the reference

    /// A seeded file of many records of random sizes (0 to 1600 bytes).
    static func randomRecords(count: Int, seed: UInt64) -> [PcapBytes.Record] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let size = Int(random.next() % 1601)
            let data = (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let cut = random.next() % 4 == 0
            return PcapBytes.Record(
                seconds: UInt32(truncatingIfNeeded: random.next()), fraction: UInt32(random.next() % 1_000_000),
                data: data, originalLength: cut ? UInt32(size + 100) : nil)
        }
    }

    @Test(arguments: [false, true], [false, true])
    func matchesLibpcapFrameForFrame(bigEndian: Bool, nanoseconds: Bool) throws {
        let temp = try TemporaryDirectory()
        let records = Self.randomRecords(count: 300, seed: 7)
        let path = try temp.file(
            "random.pcap",
            PcapBytes.file(bigEndian: bigEndian, nanoseconds: nanoseconds, snapLength: 1200, records: records))
        let ours = try readCapture(path)
        let handle = try PcapHandle.openOffline(path: path)
        var reference: [SeenFrame] = []
        var offset: Int64 = 24
        while case .packet(let header, let bytes) = handle.next() {
            reference.append(
                SeenFrame(
                    interface: 0,
                    nanoseconds: Int64(UInt32(truncatingIfNeeded: header.seconds)) * 1_000_000_000
                        + Int64(header.fraction),
                    linkType: LinkType(dlt: handle.dataLink), wireLength: Int(header.wireLength),
                    bytes: Array(bytes), fileOffset: offset))
            offset = handle.fileOffset ?? 0
        }
        #expect(ours.outcome.end == .endOfFile)
        #expect(ours.frames.count == 300)
        #expect(ours.frames == reference)
        #expect(ours.interfaces.first?.snapLength == UInt32(handle.snapshot))
    }

    // MARK: Chunk ends

    @Test(arguments: [PcapFileReader.recordHeaderLength + 1, 64, 100, 1000, 4096])
    func pcapRecordsAcrossChunkEnds(chunkSize: Int) throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapBytes.file(
            bigEndian: true, nanoseconds: true, records: Self.randomRecords(count: 120, seed: UInt64(chunkSize)))
        let path = try temp.file("chunks.pcap", bytes)
        let whole = try readCapture(path)
        #expect(whole.frames.count == 120)
        let fromFile = try drain(PcapFileReader(path: path, chunkSize: chunkSize))
        let fromMemory = try bytes.withUnsafeBytes { raw in
            try drain(PcapFileReader(bytes: raw, name: "m", chunkSize: chunkSize))
        }
        // A batch bigger than the buffer holds, and one smaller.
        let inPlace = try drainInPlace(PcapFileReader(path: path, chunkSize: chunkSize), batch: 64)
        let fewAtATime = try drainInPlace(PcapFileReader(path: path, chunkSize: chunkSize), batch: 3)
        expectSameReads(whole, fromFile, fromMemory, inPlace.result, fewAtATime.result)
        #expect(inPlace.calls > 120 / 64)
    }

    @Test(arguments: [13, 64, 100, 1000])
    func pcapngBlocksAcrossChunkEnds(chunkSize: Int) throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1, options: [.name("eth0")])
        for (index, record) in Self.randomRecords(count: 80, seed: 99).enumerated() {
            bytes += PcapngBytes.epb(interface: 0, timestamp: UInt64(index) * 1000, data: record.data)
        }
        let path = try temp.file("chunks.pcapng", bytes)
        let whole = try readCapture(path)
        #expect(whole.frames.count == 80)
        let fromFile = try drain(PcapngReader(path: path, chunkSize: chunkSize))
        let fromMemory = try bytes.withUnsafeBytes { raw in
            try drain(PcapngReader(bytes: raw, name: "m", chunkSize: chunkSize))
        }
        let inPlace = try drainInPlace(PcapngReader(path: path, chunkSize: chunkSize), batch: 64)
        let fewAtATime = try drainInPlace(PcapngReader(path: path, chunkSize: chunkSize), batch: 3)
        expectSameReads(whole, fromFile, fromMemory, inPlace.result, fewAtATime.result)
        #expect(inPlace.calls > 80 / 64)
    }

    // MARK: Malformed input

    @Test func aLyingCaptureLengthIsCorruptAtItsOffset() throws {
        var records = Self.randomRecords(count: 5, seed: 3)
        records[3].capturedLength = 262_145
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: true, records: records)
        let result = try readBytes(bytes, name: "liar.pcap")
        let offset = Int64(24 + records[0..<3].reduce(0) { $0 + 16 + $1.data.count })
        #expect(result.frames.count == 3)
        #expect(result.outcome.bytesRead == offset)
        #expect(
            result.outcome.end
                == .corrupt(offset: offset, detail: "invalid packet capture length 262145, bigger than maximum of 262144"))
    }

    @Test func aCaptureLengthRunningPastTheEndIsCutShort() throws {
        var records = Self.randomRecords(count: 3, seed: 4)
        records[2].capturedLength = UInt32(records[2].data.count + 10)
        let bytes = PcapBytes.file(bigEndian: true, nanoseconds: false, records: records)
        let result = try readBytes(bytes)
        let offset = Int64(24 + records[0..<2].reduce(0) { $0 + 16 + $1.data.count })
        #expect(result.frames.count == 2)
        #expect(
            result.outcome.end
                == .cutShort(
                    offset: offset,
                    detail: "truncated dump file; tried to read \(records[2].data.count + 10) captured bytes, "
                        + "only got \(records[2].data.count)"))
    }

    @Test func everyPrefixReadsTheWholeRecordsBeforeTheCut() throws {
        let records = Self.randomRecords(count: 4, seed: 5).map { record in
            var short = record
            short.data = Array(record.data.prefix(40))
            short.originalLength = nil
            return short
        }
        let bytes = PcapBytes.file(bigEndian: false, nanoseconds: false, records: records)
        var ends: [Int] = [24]
        for record in records { ends.append(ends[ends.count - 1] + 16 + record.data.count) }
        for cut in 24...bytes.count {
            let result = try readBytes(Array(bytes[0..<cut]), chunkSize: 32)
            let whole = ends.lastIndex { $0 <= cut } ?? 0
            #expect(result.frames.count == whole, "cut \(cut)")
            #expect(result.outcome.bytesRead == Int64(ends[whole]), "cut \(cut)")
            if ends.contains(cut) {
                #expect(result.outcome.end == .endOfFile, "cut \(cut)")
            } else {
                guard case .cutShort(let offset, _) = result.outcome.end else {
                    Issue.record("cut \(cut): \(result.outcome.end)")
                    continue
                }
                #expect(offset == Int64(ends[whole]), "cut \(cut)")
            }
        }
    }

    @Test func inMemoryErrorsMatchTheFileErrors() throws {
        let temp = try TemporaryDirectory()
        let cases: [[UInt8]] = [
            [], [0xA1, 0xB2], Array("hello world".utf8), [0x1F, 0x8B, 0x08, 0x00, 0, 0],
            Array(PcapBytes.header(bigEndian: false, nanoseconds: false)[0..<20]),
            Array(PcapngBytes.shb()[0..<16]),
        ]
        for (index, bytes) in cases.enumerated() {
            let path = try temp.file("case\(index)", bytes)
            let fromFile = openError(path)
            let fromMemory = #expect(throws: CaptureError.self) { try CaptureFile.open(bytes: bytes, name: path) }
            #expect(fromFile != nil)
            #expect(fromMemory == fromFile, "case \(index)")
        }
    }

    @Test func inMemoryPcapngMatchesTheFile() throws {
        let temp = try TemporaryDirectory()
        let bytes =
            PcapngBytes.shb(bigEndian: true) + PcapngBytes.idb(bigEndian: true, linkType: 1, options: [.name("e")])
            + PcapngBytes.epb(bigEndian: true, interface: 0, timestamp: 5, data: payload(70, seed: 2))
            + PcapngBytes.epb(bigEndian: true, interface: 0, timestamp: 6, data: payload(9, seed: 3)).dropLast(3)
        let fromFile = try readCapture(try temp.file("a.pcapng", Array(bytes)))
        let fromMemory = try readBytes(Array(bytes))
        #expect(fromMemory.frames == fromFile.frames)
        #expect(fromMemory.outcome == fromFile.outcome)
        #expect(fromMemory.interfaces == fromFile.interfaces)
        #expect(fromMemory.frames.count == 1)
    }
}

/// Reads every frame of an in-memory capture.
private func readBytes(_ bytes: [UInt8], name: String = "memory", chunkSize: Int? = nil) throws -> ReadResult {
    if let chunkSize {
        return try bytes.withUnsafeBytes { raw in try drain(PcapFileReader(bytes: raw, name: name, chunkSize: chunkSize)) }
    }
    var source = try CaptureFile.open(bytes: bytes, name: name)
    var frames: [SeenFrame] = []
    let outcome = source.read { frames.append(SeenFrame($0)) }
    return ReadResult(frames: frames, outcome: outcome, interfaces: source.interfaces)
}

/// Every read in `others` saw what `reference` saw.
private func expectSameReads(_ reference: ReadResult, _ others: ReadResult...) {
    for other in others {
        #expect(other.frames == reference.frames)
        #expect(other.outcome == reference.outcome)
        #expect(other.interfaces == reference.interfaces)
    }
}

private func drain(_ source: some FrameSource) -> ReadResult {
    var source = source
    var frames: [SeenFrame] = []
    let outcome = source.read { frames.append(SeenFrame($0)) }
    return ReadResult(frames: frames, outcome: outcome, interfaces: source.interfaces)
}

extension SeenFrame {
    init(interface: Int?, nanoseconds: Int64, linkType: LinkType, wireLength: Int, bytes: [UInt8], fileOffset: Int64) {
        self.interface = interface
        self.nanoseconds = nanoseconds
        self.linkType = linkType
        self.wireLength = wireLength
        self.bytes = bytes
        self.fileOffset = fileOffset
    }
}
