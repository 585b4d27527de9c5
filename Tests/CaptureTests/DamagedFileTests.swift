import Capture
import Frames
import TestSupport
import Testing

/// Cut and corrupted files: never a crash, every frame before the damage delivered, and
/// the damage reported at the right offset.
@Suite struct DamagedFileTests {
    /// A small pcapng file and the offsets where its blocks end (packet blocks marked).
    static func sampleNG(bigEndian: Bool) -> (bytes: [UInt8], blockEnds: [(end: Int, isPacket: Bool)]) {
        var bytes: [UInt8] = []
        var ends: [(Int, Bool)] = []
        func add(_ block: [UInt8], packet: Bool) {
            bytes += block
            ends.append((bytes.count, packet))
        }
        add(PcapngBytes.shb(bigEndian: bigEndian, options: [Option(code: 4, value: Array("x".utf8))]), packet: false)
        add(PcapngBytes.idb(bigEndian: bigEndian, linkType: 1, options: [.name("eth0"), .tsresol(9)]), packet: false)
        add(PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: 1, data: payload(13, seed: 1)), packet: true)
        add(PcapngBytes.block(type: 5, bigEndian: bigEndian, body: Array(repeating: 0, count: 12)), packet: false)
        add(PcapngBytes.idb(bigEndian: bigEndian, linkType: 101, options: [.name("tun0")]), packet: false)
        add(PcapngBytes.epb(bigEndian: bigEndian, interface: 1, timestamp: 2, data: payload(8, seed: 2)), packet: true)
        add(PcapngBytes.spb(bigEndian: bigEndian, originalLength: 5, data: payload(5, seed: 3)), packet: true)
        return (bytes, ends)
    }

    @Test(arguments: [false, true])
    func everyPrefixOfAPcapngFile(bigEndian: Bool) throws {
        let temp = try TemporaryDirectory()
        let (bytes, ends) = Self.sampleNG(bigEndian: bigEndian)
        let headerLength = ends[0].end
        for cut in 0...bytes.count {
            let path = try temp.file("p\(cut).pcapng", Array(bytes[0..<cut]))
            if cut < headerLength {
                #expect(openError(path)?.code == .malformed, "prefix \(cut)")
                continue
            }
            let result = try readCapture(path)
            let complete = ends.filter { $0.end <= cut }
            #expect(result.frames.count == complete.filter(\.isPacket).count, "prefix \(cut)")
            let lastEnd = complete.last?.end ?? 0
            if ends.contains(where: { $0.end == cut }) {
                #expect(result.outcome.end == .endOfFile, "prefix \(cut)")
                #expect(result.outcome.bytesRead == Int64(cut))
            } else if case .cutShort(let offset, _) = result.outcome.end {
                #expect(offset == Int64(lastEnd), "prefix \(cut)")
                #expect(result.outcome.bytesRead == Int64(lastEnd))
            } else {
                Issue.record("prefix \(cut): expected cutShort, got \(result.outcome.end)")
            }
        }
    }

    @Test(arguments: [false, true])
    func everyPrefixOfAClassicPcapFile(bigEndian: Bool) throws {
        let temp = try TemporaryDirectory()
        let sizes = [13, 0, 8, 60]
        let records = sizes.enumerated().map { index, size in
            PcapBytes.Record(seconds: UInt32(index), fraction: 5, data: payload(size, seed: UInt8(index)))
        }
        let bytes = PcapBytes.file(bigEndian: bigEndian, nanoseconds: true, records: records)
        var ends = [24]
        for size in sizes { ends.append(ends[ends.count - 1] + 16 + size) }
        for cut in 0...bytes.count {
            let path = try temp.file("p\(cut).pcap", Array(bytes[0..<cut]))
            if cut < 24 {
                #expect(openError(path)?.code == .malformed, "prefix \(cut)")
                continue
            }
            let result = try readCapture(path)
            let complete = ends.filter { $0 <= cut }
            #expect(result.frames.count == complete.count - 1, "prefix \(cut)")
            if ends.contains(cut) {
                #expect(result.outcome.end == .endOfFile, "prefix \(cut)")
            } else if case .cutShort(let offset, _) = result.outcome.end {
                #expect(offset == Int64(complete.last ?? 0), "prefix \(cut)")
            } else {
                Issue.record("prefix \(cut): expected cutShort, got \(result.outcome.end)")
            }
        }
    }

    /// A file with one good packet, then a block whose length field is `length`, then a
    /// good packet that must not be reached.
    static func fileWithBadLength(_ length: UInt32, bigEndian: Bool = false) -> (bytes: [UInt8], badOffset: Int) {
        var bytes = PcapngBytes.shb(bigEndian: bigEndian) + PcapngBytes.idb(bigEndian: bigEndian, linkType: 1)
        bytes += PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: 1, data: [1, 2, 3, 4])
        let badOffset = bytes.count
        var bad = PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: 2, data: payload(40, seed: 1))
        var writer = ByteWriter(bigEndian: bigEndian)
        writer.u32(length)
        bad.replaceSubrange(4..<8, with: writer.bytes)
        bytes += bad
        bytes += PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: 3, data: [9])
        return (bytes, badOffset)
    }

    @Test(arguments: [
        (UInt32(0), "less than the minimum 12"),
        (UInt32(8), "less than the minimum 12"),
        (UInt32(11), "less than the minimum 12"),
        (UInt32(30), "not a multiple of 4"),
        (UInt32(0xFFFF_FFFC), "impossible total length"),
        (UInt32(0xFFFF_FFFF), "not a multiple of 4"),
        (UInt32(0x2000_0000), "impossible total length"),
        (UInt32(44), "trailing copy"),  // a plausible but wrong length: the trailer disagrees
    ])
    func aBadBlockLengthInTheMiddleIsCorrupt(length: UInt32, expected: String) throws {
        for bigEndian in [false, true] {
            let temp = try TemporaryDirectory()
            let (bytes, badOffset) = Self.fileWithBadLength(length, bigEndian: bigEndian)
            let result = try readCapture(try temp.file("bad.pcapng", bytes))
            #expect(result.frames.map(\.bytes) == [[1, 2, 3, 4]])
            guard case .corrupt(let offset, let detail) = result.outcome.end else {
                Issue.record("length \(length): expected corrupt, got \(result.outcome.end)")
                continue
            }
            #expect(offset == Int64(badOffset))
            #expect(detail.contains(expected), "\(detail)")
            #expect(result.outcome.bytesRead == Int64(badOffset))
        }
    }

    @Test func aLengthRunningPastTheEndOfTheFileIsCutShort() throws {
        let temp = try TemporaryDirectory()
        // 64 MiB: allowed by the cap, far past the end of this small file. Must not be buffered.
        let (bytes, badOffset) = Self.fileWithBadLength(64 * 1024 * 1024)
        let result = try readCapture(try temp.file("long.pcapng", bytes))
        #expect(result.frames.count == 1)
        guard case .cutShort(let offset, _) = result.outcome.end else {
            Issue.record("expected cutShort, got \(result.outcome.end)")
            return
        }
        #expect(offset == Int64(badOffset))
    }

    @Test func aCapturedLengthLargerThanTheBlockIsCorrupt() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1)
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let badOffset = bytes.count
        for captured in [UInt32(9), UInt32.max] {
            let file = bytes + PcapngBytes.epb(interface: 0, timestamp: 2, data: payload(8, seed: 0), capturedLength: captured)
            let result = try readCapture(try temp.file("caplen\(captured).pcapng", file))
            #expect(result.frames.count == 1)
            guard case .corrupt(let offset, let detail) = result.outcome.end else {
                Issue.record("expected corrupt, got \(result.outcome.end)")
                continue
            }
            #expect(offset == Int64(badOffset))
            #expect(detail.contains("captured length \(captured)"))
        }
    }

    @Test func packetBlocksTooSmallForTheirHeaderAreCorrupt() throws {
        let temp = try TemporaryDirectory()
        let prefix = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1)
        for (type, body) in [(UInt32(6), [UInt8](repeating: 0, count: 16)), (UInt32(3), []), (UInt32(1), [0, 0, 0, 0])] {
            let bytes = prefix + PcapngBytes.block(type: type, bigEndian: false, body: body)
            let result = try readCapture(try temp.file("small\(type).pcapng", bytes))
            guard case .corrupt(let offset, _) = result.outcome.end else {
                Issue.record("type \(type): expected corrupt, got \(result.outcome.end)")
                continue
            }
            #expect(offset == Int64(prefix.count))
        }
    }

    @Test func anInterfaceIDThatWasNeverDescribedIsCorrupt() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1)
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let badOffset = bytes.count
        bytes += PcapngBytes.epb(interface: 0xFFFF_FFFF, timestamp: 1, data: [2])
        let result = try readCapture(try temp.file("iface.pcapng", bytes))
        #expect(result.frames.count == 1)
        #expect(result.outcome.end == .corrupt(
            offset: Int64(badOffset),
            detail: "Enhanced Packet Block names interface 4294967295, but its section describes 1 interface(s)"))
    }

    @Test func garbageAfterTheHeaderNeverTraps() throws {
        // A cheap fuzz: random bytes after a valid SHB + IDB, many seeds.
        let temp = try TemporaryDirectory()
        var generator = SplitMix64(seed: 0x1A2B_3C4D)
        let header = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1)
        for round in 0..<200 {
            let count = Int(generator.next() % 300)
            var tail = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Bias toward plausible block types and small lengths so parsing goes deeper.
            if tail.count >= 8 {
                tail[0] = [1, 3, 5, 6, 2][Int(generator.next() % 5)]
                tail[1] = 0; tail[2] = 0; tail[3] = 0
                tail[4] = UInt8(truncatingIfNeeded: generator.next() % 64) & 0xFC
                tail[5] = 0; tail[6] = 0; tail[7] = 0
            }
            let result = try readCapture(try temp.file("fuzz\(round).pcapng", header + tail))
            #expect(result.outcome.bytesRead <= Int64(header.count + tail.count))
        }
    }
}
