import Capture
import Frames
import TestSupport
import Testing

@Suite struct PcapngReaderTests {
    /// 2023-11-14T22:13:20Z, in microseconds.
    static let baseMicros: UInt64 = 1_700_000_000_000_000

    @Test(arguments: [false, true])
    func twoInterfacesWithDifferentLinkTypes(bigEndian: Bool) throws {
        let temp = try TemporaryDirectory()
        let a = payload(60, seed: 1)
        let b = payload(45, seed: 2)
        let c = payload(3, seed: 3)
        var bytes = PcapngBytes.shb(bigEndian: bigEndian)
        bytes += PcapngBytes.idb(
            bigEndian: bigEndian, linkType: 1, snapLength: 262_144,
            options: [.name("cloudbr1"), .description("management bridge")])
        bytes += PcapngBytes.idb(bigEndian: bigEndian, linkType: 276, options: [.name("any")])
        let firstPacket = bytes.count
        bytes += PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: Self.baseMicros + 1, data: a)
        let secondPacket = bytes.count
        bytes += PcapngBytes.epb(
            bigEndian: bigEndian, interface: 1, timestamp: Self.baseMicros + 2, data: b, originalLength: 1500)
        bytes += PcapngBytes.epb(bigEndian: bigEndian, interface: 0, timestamp: Self.baseMicros + 3, data: c)

        let result = try readCapture(try temp.file("two.pcapng", bytes))

        #expect(result.outcome == ReadOutcome(frames: 3, bytesRead: Int64(bytes.count), end: .endOfFile))
        #expect(
            result.interfaces == [
                CaptureInterface(
                    name: "cloudbr1", description: "management bridge", linkType: .ethernet, snapLength: 262_144),
                CaptureInterface(name: "any", linkType: .linuxSLL2, snapLength: 0),
            ])
        #expect(result.frames.map(\.interface) == [0, 1, 0])
        #expect(result.frames.map(\.linkType) == [.ethernet, .linuxSLL2, .ethernet])
        #expect(result.frames.map(\.bytes) == [a, b, c])
        #expect(result.frames.map(\.wireLength) == [60, 1500, 3])
        #expect(result.frames.map(\.nanoseconds) == [1, 2, 3].map { Int64(Self.baseMicros + $0) * 1000 })
        #expect(result.frames.prefix(2).map(\.fileOffset) == [Int64(firstPacket), Int64(secondPacket)])
    }

    @Test func interfaceIDsRestartInEachSection() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("eth0")])
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("eth1")])
        bytes += PcapngBytes.epb(interface: 1, timestamp: 10, data: [1])
        // Second section, big-endian, its own interfaces 0 and 1.
        bytes += PcapngBytes.shb(bigEndian: true)
        bytes += PcapngBytes.idb(bigEndian: true, linkType: 113, options: [.name("bond0")])
        bytes += PcapngBytes.idb(bigEndian: true, linkType: 101, options: [.name("tun0")])
        bytes += PcapngBytes.epb(bigEndian: true, interface: 0, timestamp: 20, data: [2])
        bytes += PcapngBytes.epb(bigEndian: true, interface: 1, timestamp: 30, data: [3])
        bytes += PcapngBytes.spb(bigEndian: true, originalLength: 1, data: [4])

        let result = try readCapture(try temp.file("sections.pcapng", bytes))

        #expect(result.outcome.end == .endOfFile)
        #expect(result.interfaces.map(\.name) == ["eth0", "eth1", "bond0", "tun0"])
        #expect(result.frames.map(\.interface) == [1, 2, 3, 2])
        #expect(result.frames.map { $0.interface.map { result.interfaces[$0].name } } == ["eth1", "bond0", "tun0", "bond0"])
        #expect(result.frames.map(\.linkType) == [.ethernet, .linuxSLL, .raw, .linuxSLL])
        #expect(result.frames.map(\.bytes) == [[1], [2], [3], [4]])
    }

    @Test func aPacketBeforeItsSectionHasInterfacesIsCorrupt() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("eth0")])
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let secondSection = bytes.count
        bytes += PcapngBytes.shb()
        let badPacket = bytes.count
        bytes += PcapngBytes.epb(interface: 0, timestamp: 2, data: [2])  // no IDB yet in this section
        _ = secondSection

        let result = try readCapture(try temp.file("noidb.pcapng", bytes))
        #expect(result.frames.count == 1)
        guard case .corrupt(let offset, let detail) = result.outcome.end else {
            Issue.record("expected corrupt, got \(result.outcome.end)")
            return
        }
        #expect(offset == Int64(badPacket))
        #expect(detail.contains("interface 0"))
    }

    @Test func timestampResolutions() throws {
        let temp = try TemporaryDirectory()
        let seconds: UInt64 = 1_700_000_000
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("default")])  // 10^-6
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("nano"), .tsresol(9)])
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("binary"), .tsresol(0x80 | 20)])  // 2^-20
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("milli+offset"), .tsresol(3), .tsoffset(100, bigEndian: false)])
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("pico"), .tsresol(12)])
        bytes += PcapngBytes.epb(interface: 0, timestamp: seconds * 1_000_000 + 654_321, data: [0])
        bytes += PcapngBytes.epb(interface: 1, timestamp: seconds * 1_000_000_000 + 987_654_321, data: [1])
        bytes += PcapngBytes.epb(interface: 2, timestamp: seconds << 20 | 1 << 19 | 1, data: [2])  // 0.5 s + 2^-20 s
        bytes += PcapngBytes.epb(interface: 3, timestamp: seconds * 1000 + 5, data: [3])
        bytes += PcapngBytes.epb(interface: 4, timestamp: 1_000_000_000_000 * 3 + 1999, data: [4])

        let result = try readCapture(try temp.file("tsresol.pcapng", bytes))

        let base = Int64(seconds) * 1_000_000_000
        #expect(result.outcome.end == .endOfFile)
        #expect(
            result.frames.map(\.nanoseconds) == [
                base + 654_321_000,
                base + 987_654_321,
                base + 500_000_000 + 953,  // 10^9 / 2^20 = 953.67…, rounded down
                base + 100_000_000_000 + 5_000_000,
                3_000_000_001,  // 1999 ps rounds down to 1 ns
            ])
    }

    @Test func simplePacketBlocksUseInterfaceZeroAndItsSnapLength() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1, snapLength: 8, options: [.name("eth0")])
        bytes += PcapngBytes.spb(originalLength: 20, data: payload(20, seed: 9))  // snaplen cuts to 8
        bytes += PcapngBytes.spb(originalLength: 3, data: [7, 8, 9])  // padding is not data
        bytes += PcapngBytes.spb(originalLength: 1000, data: payload(5, seed: 1))  // block room 8 (5 + pad)

        let result = try readCapture(try temp.file("spb.pcapng", bytes))

        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.map(\.bytes) == [Array(payload(20, seed: 9)[0..<8]), [7, 8, 9], payload(5, seed: 1) + [0, 0, 0]])
        #expect(result.frames.map(\.wireLength) == [20, 3, 1000])
        #expect(result.frames.allSatisfy { $0.interface == 0 && $0.nanoseconds == 0 })
        #expect(result.outcome.warnings.contains { $0.contains("Simple Packet Blocks") })
    }

    @Test func otherBlocksAreSkipped() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb(options: [Option(code: 4, value: Array("test".utf8))])
        bytes += PcapngBytes.block(type: 4, bigEndian: false, body: [0, 0, 0, 0])  // NRB
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("eth0")])
        bytes += PcapngBytes.block(type: 5, bigEndian: false, body: Array(repeating: 0, count: 12))  // ISB
        bytes += PcapngBytes.block(type: 0x0BAD, bigEndian: false, body: [1, 2, 3, 4, 5, 6, 7, 8])  // custom
        bytes += PcapngBytes.block(type: 0x1234_5678, bigEndian: false, body: [1, 2, 3])  // unknown
        bytes += PcapngBytes.block(type: 0x1234_5678, bigEndian: false, body: [])  // unknown
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [42])

        let result = try readCapture(try temp.file("skip.pcapng", bytes))

        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.map(\.bytes) == [[42]])
        #expect(result.outcome.warnings == ["skipped 2 block(s) of unknown type 0x12345678"])
    }

    @Test func anInterfaceWithoutANameIsReported() throws {
        let temp = try TemporaryDirectory()
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1)
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let result = try readCapture(try temp.file("noname.pcapng", bytes))
        #expect(result.interfaces == [CaptureInterface(name: nil, linkType: .ethernet, snapLength: 0)])
        #expect(result.outcome.warnings.contains { $0.contains("no name") })
    }

    @Test func optionsRunningPastTheBlockAreAWarning() throws {
        let temp = try TemporaryDirectory()
        var body = ByteWriter()
        body.u16(1)
        body.u16(0)
        body.u32(0)
        body.u16(2)  // if_name
        body.u16(200)  // longer than the block
        body.raw(Array("eth0".utf8))
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.block(type: 1, bigEndian: false, body: body.bytes)
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let result = try readCapture(try temp.file("badopt.pcapng", bytes))
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.count == 1)
        #expect(result.outcome.warnings.contains { $0.contains("option runs past") })
    }

    @Test func aBlockBiggerThanTheBufferIsRead() throws {
        let temp = try TemporaryDirectory()
        let big = payload(5 * 1024 * 1024 + 3, seed: 11)
        var bytes = PcapngBytes.shb()
        bytes += PcapngBytes.idb(linkType: 1, options: [.name("eth0")])
        bytes += PcapngBytes.epb(interface: 0, timestamp: 1, data: [1, 2, 3])
        bytes += PcapngBytes.epb(interface: 0, timestamp: 2, data: big)
        bytes += PcapngBytes.epb(interface: 0, timestamp: 3, data: [4])
        let result = try readCapture(try temp.file("big.pcapng", bytes))
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.count == 3)
        #expect(result.frames.map(\.bytes.count) == [3, big.count, 1])
        #expect(result.frames[1].bytes == big)
    }

    /// Only pcapng 1.0 is defined: 2.0 and 1.1 (which tshark, capinfos and tcpdump refuse)
    /// are malformed at the start of a file; a later section of such a version ends the read
    /// there as corrupt, every frame before it kept.
    @Test(arguments: [(UInt16(2), UInt16(0)), (1, 1), (1, 2)])
    func unsupportedVersionIsMalformed(major: UInt16, minor: UInt16) throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapngBytes.shb(major: major, minor: minor) + PcapngBytes.idb(linkType: 1)
        let error = openError(try temp.file("v.pcapng", bytes))
        #expect(error?.code == .malformed)
        #expect(error?.detail.contains("version \(major).\(minor)") == true, "\(String(describing: error))")

        var later = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1) + PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let offset = later.count
        later += PcapngBytes.shb(major: major, minor: minor) + PcapngBytes.idb(linkType: 1)
            + PcapngBytes.epb(interface: 0, timestamp: 2, data: [2])
        let result = try readCapture(try temp.file("later.pcapng", later))
        #expect(result.frames.count == 1)
        guard case .corrupt(let at, let detail) = result.outcome.end else {
            Issue.record("a later section of version \(major).\(minor) was read: \(result.outcome.end)")
            return
        }
        #expect(at == Int64(offset))
        #expect(detail.contains("version \(major).\(minor)"))
    }

    @Test func aBadByteOrderMagicIsMalformedFirstAndCorruptLater() throws {
        let temp = try TemporaryDirectory()
        var bad = PcapngBytes.shb()
        bad[8] = 0x99
        #expect(openError(try temp.file("bom.pcapng", bad))?.code == .malformed)

        var bytes = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1) + PcapngBytes.epb(interface: 0, timestamp: 1, data: [1])
        let offset = bytes.count
        bytes += bad
        let result = try readCapture(try temp.file("bom2.pcapng", bytes))
        #expect(result.frames.count == 1)
        guard case .corrupt(let at, let detail) = result.outcome.end else {
            Issue.record("expected corrupt, got \(result.outcome.end)")
            return
        }
        #expect(at == Int64(offset))
        #expect(detail.contains("byte-order magic"))
    }
}
