import Capture
import Foundation
import TestSupport
import Testing

/// The compressors whose output lanekeeper reads, run as operators run them.
enum Compressor: String, CaseIterable, Sendable {
    case gzip, zstd

    var suffix: String { self == .gzip ? ".gz" : ".zst" }

    /// `bytes` compressed by gzip(1) or zstd(1).
    func compress(_ bytes: [UInt8], in temp: TemporaryDirectory, name: String) throws -> [UInt8] {
        let plain = try temp.file(name, bytes)
        let arguments = self == .gzip ? ["-kf9", plain] : ["-qkf", "-19", plain, "-o", plain + suffix]
        let run = try #require(try runTool(rawValue, arguments))
        try #require(run.status == 0)
        return Array(try Data(contentsOf: URL(fileURLWithPath: plain + suffix)))
    }
}

/// gzip- and zstd-compressed captures are read as they are (decompressed as read, never
/// whole in memory): the same frames as the uncompressed file, a cut or damaged file read
/// up to the damage.
@Suite(.enabled(if: toolAvailable("gzip") && toolAvailable("zstd"), "gzip or zstd is missing"))
struct CompressedCaptureTests {

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

    @Test(arguments: Compressor.allCases, ["pcap", "pcapng"])
    func aCompressedCaptureReadsAsTheUncompressedOne(compressor: Compressor, format: String) throws {
        let temp = try TemporaryDirectory()
        let bytes = format == "pcap" ? samplePcap() : samplePcapng()
        let compressed = try compressor.compress(bytes, in: temp, name: "c.\(format)")
        let plain = try readCapture(try temp.file("plain.\(format)", bytes))
        let inflated = try readCapture(try temp.file("c.\(format)\(compressor.suffix)", compressed))
        #expect(inflated.outcome.end == .endOfFile)
        #expect(inflated.frames.count == 300)
        #expect(inflated.frames.map(\.bytes) == plain.frames.map(\.bytes))
        #expect(inflated.frames.map(\.nanoseconds) == plain.frames.map(\.nanoseconds))
        #expect(inflated.interfaces == plain.interfaces)
        #expect(inflated.outcome.bytesRead == Int64(bytes.count))  // offsets are the inflated data's
    }

    /// `cat a.gz b.gz` is one gzip file of two members (`cat a.zst b.zst`, one zstd stream of
    /// two frames): read one after the other.
    @Test(arguments: Compressor.allCases)
    func concatenatedMembersAreOneStream(compressor: Compressor) throws {
        let temp = try TemporaryDirectory()
        let bytes = samplePcapng()
        let half = bytes.count / 2
        let first = try compressor.compress(Array(bytes[..<half]), in: temp, name: "a")
        let second = try compressor.compress(Array(bytes[half...]), in: temp, name: "b")
        let result = try readCapture(try temp.file("ab.pcapng\(compressor.suffix)", first + second))
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.count == 300)
    }

    /// A .gz cut short or damaged in the middle: every frame before is read, then the read
    /// ends saying why; never a crash, never a clean end.
    @Test(arguments: Compressor.allCases)
    func aCutOrDamagedCompressedFileIsReadUpToTheDamage(compressor: Compressor) throws {
        let temp = try TemporaryDirectory()
        let compressed = try compressor.compress(samplePcap(), in: temp, name: "d.pcap")
        let cut = try readCapture(try temp.file("cut.pcap\(compressor.suffix)", Array(compressed[..<(compressed.count * 2 / 3)])))
        #expect(cut.frames.count > 0 && cut.frames.count < 300)
        #expect(cut.outcome.end != .endOfFile, "\(cut.outcome.end)")
        #expect("\(cut.outcome.end)".contains("\(compressor.rawValue) data is cut short"), "\(cut.outcome.end)")

        var damaged = compressed
        for index in stride(from: damaged.count / 2, to: damaged.count / 2 + 64, by: 1) { damaged[index] ^= 0x5A }
        let brokenPath = try temp.file("broken.pcap\(compressor.suffix)", damaged)
        if let error = openError(brokenPath) {
            // zstd -19 put the whole capture in one block: damaged, nothing of it is usable.
            #expect(error.detail.contains("corrupt \(compressor.rawValue) data"), "\(error)")
        } else {
            let broken = try readCapture(brokenPath)
            #expect(broken.frames.count < 300)
            #expect(broken.outcome.end != .endOfFile, "\(broken.outcome.end)")
        }
    }

    @Test(arguments: Compressor.allCases)
    func somethingElseCompressedIsNotACapture(compressor: Compressor) throws {
        let temp = try TemporaryDirectory()
        let compressed = try compressor.compress(Array("just some text, not a capture\n".utf8), in: temp, name: "t.txt")
        let error = openError(try temp.file("t.txt\(compressor.suffix)", compressed))
        #expect(error?.code == .malformed)
        #expect(
            error?.detail.contains("\(compressor.rawValue)-compressed, but not a pcap or pcapng file") == true,
            "\(String(describing: error))")
        let empty = try compressor.compress([], in: temp, name: "e")
        #expect(openError(try temp.file("e\(compressor.suffix)", empty))?.detail.contains("empty") == true)
    }

    /// A zstd frame that asks for a window beyond 128 MiB is refused, not allocated. Written
    /// from RFC 8878 §3.1.1: magic, a frame header descriptor of 0 (no single segment, no
    /// content size), a window descriptor of exponent 20 (2^30 bytes), then one last raw
    /// block of 4 bytes (the pcapng magic).
    @Test func aZstdFrameAskingForAHugeWindowIsRefused() throws {
        let temp = try TemporaryDirectory()
        let frame: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x21, 0x00, 0x00, 0x0a, 0x0d, 0x0d, 0x0a]
        let error = openError(try temp.file("huge-window.pcapng.zst", frame))
        #expect(error?.code == .malformed)
        #expect(error?.detail.contains("zstd-compressed: corrupt zstd data") == true, "\(String(describing: error))")
        // The same frame with a 2^27 window decodes (and what it holds is too short).
        var small = frame
        small[5] = 17 << 3
        #expect(openError(try temp.file("small-window.pcapng.zst", small))?.detail.contains("corrupt") == false)
    }
}
