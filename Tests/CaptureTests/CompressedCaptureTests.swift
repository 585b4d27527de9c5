import Capture
import Foundation
import TestSupport
import Testing

/// gzip-compressed captures are read as they are (inflated as read, never whole in memory):
/// the same frames as the uncompressed file, a cut or damaged .gz read up to the damage.
@Suite(.enabled(if: toolAvailable("gzip"), "gzip is missing"))
struct CompressedCaptureTests {
    /// `bytes` gzip-compressed by gzip(1).
    func gzip(_ bytes: [UInt8], in temp: TemporaryDirectory, name: String) throws -> [UInt8] {
        let plain = try temp.file(name, bytes)
        let run = try #require(try runTool("gzip", ["-kf9", plain]))
        try #require(run.status == 0)
        return Array(try Data(contentsOf: URL(fileURLWithPath: plain + ".gz")))
    }

    func samplePcapng() -> [UInt8] {
        var bytes = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1, options: [.name("stor0")])
        for index in 0..<300 {
            bytes += PcapngBytes.epb(interface: 0, timestamp: UInt64(index) * 1000, data: payload(60 + index % 200, seed: UInt8(index & 0xff)))
        }
        return bytes
    }

    func samplePcap() -> [UInt8] {
        PcapBytes.file(
            bigEndian: false, nanoseconds: true,
            records: (0..<300).map { PcapBytes.Record(seconds: UInt32($0), fraction: 7, data: payload(70 + $0 % 300, seed: UInt8($0 & 0xff))) })
    }

    @Test(arguments: ["pcap", "pcapng"])
    func aCompressedCaptureReadsAsTheUncompressedOne(format: String) throws {
        let temp = try TemporaryDirectory()
        let bytes = format == "pcap" ? samplePcap() : samplePcapng()
        let compressed = try gzip(bytes, in: temp, name: "c.\(format)")
        let plain = try readCapture(try temp.file("plain.\(format)", bytes))
        let inflated = try readCapture(try temp.file("c.\(format).gz", compressed))
        #expect(inflated.outcome.end == .endOfFile)
        #expect(inflated.frames.count == 300)
        #expect(inflated.frames.map(\.bytes) == plain.frames.map(\.bytes))
        #expect(inflated.frames.map(\.nanoseconds) == plain.frames.map(\.nanoseconds))
        #expect(inflated.interfaces == plain.interfaces)
        #expect(inflated.outcome.bytesRead == Int64(bytes.count))  // offsets are the inflated data's
    }

    /// `cat a.gz b.gz` is one gzip file of two members: read one after the other.
    @Test func concatenatedMembersAreOneStream() throws {
        let temp = try TemporaryDirectory()
        let bytes = samplePcapng()
        let half = bytes.count / 2
        let first = try gzip(Array(bytes[..<half]), in: temp, name: "a")
        let second = try gzip(Array(bytes[half...]), in: temp, name: "b")
        let result = try readCapture(try temp.file("ab.pcapng.gz", first + second))
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.count == 300)
    }

    /// A .gz cut short or damaged in the middle: every frame before is read, then the read
    /// ends saying why; never a crash, never a clean end.
    @Test func aCutOrDamagedCompressedFileIsReadUpToTheDamage() throws {
        let temp = try TemporaryDirectory()
        let compressed = try gzip(samplePcap(), in: temp, name: "d.pcap")
        let cut = try readCapture(try temp.file("cut.pcap.gz", Array(compressed[..<(compressed.count * 2 / 3)])))
        #expect(cut.frames.count > 0 && cut.frames.count < 300)
        #expect(cut.outcome.end != .endOfFile, "\(cut.outcome.end)")

        var damaged = compressed
        for index in stride(from: damaged.count / 2, to: damaged.count / 2 + 64, by: 1) { damaged[index] ^= 0x5A }
        let broken = try readCapture(try temp.file("broken.pcap.gz", damaged))
        #expect(broken.frames.count < 300)
        #expect(broken.outcome.end != .endOfFile, "\(broken.outcome.end)")
    }

    @Test func somethingElseCompressedIsNotACapture() throws {
        let temp = try TemporaryDirectory()
        let compressed = try gzip(Array("just some text, not a capture\n".utf8), in: temp, name: "t.txt")
        let error = openError(try temp.file("t.txt.gz", compressed))
        #expect(error?.code == .malformed)
        #expect(error?.detail.contains("gzip-compressed, but not a pcap or pcapng file") == true, "\(String(describing: error))")
        let empty = try gzip([], in: temp, name: "e")
        #expect(openError(try temp.file("e.gz", empty))?.detail.contains("empty") == true)
    }
}
