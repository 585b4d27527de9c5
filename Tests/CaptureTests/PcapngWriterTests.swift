import Capture
import Foundation
import Frames
import TestSupport
import Testing

@Suite struct PcapngWriterTests {
    struct Sample {
        var name: String?
        var linkType: LinkType
        var bytes: [UInt8]
        var wireLength: Int
        var nanoseconds: Int64
    }

    static let samples: [Sample] = [
        Sample(name: "cloudbr1", linkType: .ethernet, bytes: payload(60, seed: 1), wireLength: 60, nanoseconds: 1_700_000_000_123_456_789),
        Sample(name: "any", linkType: .linuxSLL2, bytes: payload(33, seed: 2), wireLength: 1514, nanoseconds: 1_700_000_001_000_000_001),
        Sample(name: "cloudbr1", linkType: .ethernet, bytes: payload(1, seed: 3), wireLength: 1, nanoseconds: 1_700_000_002_999_999_999),
        Sample(name: nil, linkType: .raw, bytes: [], wireLength: 0, nanoseconds: 0),
        Sample(name: "cloudbr1", linkType: .linuxSLL, bytes: payload(262_144, seed: 4), wireLength: 1_500_000, nanoseconds: 5),
    ]

    func writeSamples(to path: String) throws {
        let writer = try PcapngWriter(path: path)
        for sample in Self.samples {
            let id = try writer.interfaceID(name: sample.name, linkType: sample.linkType)
            try sample.bytes.withUnsafeBytes { bytes in
                try writer.write(
                    frameBytes: bytes, wireLength: sample.wireLength,
                    timestamp: Timestamp(nanoseconds: sample.nanoseconds), interface: id)
            }
        }
        try writer.close()
    }

    @Test func roundTrip() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("evidence.pcapng")
        try writeSamples(to: path)

        let result = try readCapture(path)

        #expect(result.outcome.end == .endOfFile)
        #expect(
            result.interfaces == [
                CaptureInterface(name: "cloudbr1", linkType: .ethernet, snapLength: 0),
                CaptureInterface(name: "any", linkType: .linuxSLL2, snapLength: 0),
                CaptureInterface(name: nil, linkType: .raw, snapLength: 0),
                CaptureInterface(name: "cloudbr1", linkType: .linuxSLL, snapLength: 0),
            ])
        #expect(result.frames.map(\.interface) == [0, 1, 0, 2, 3])
        #expect(result.frames.map(\.bytes) == Self.samples.map(\.bytes))
        #expect(result.frames.map(\.wireLength) == Self.samples.map(\.wireLength))
        #expect(result.frames.map(\.nanoseconds) == Self.samples.map(\.nanoseconds))
        #expect(result.frames.map(\.linkType) == Self.samples.map(\.linkType))
    }

    @Test func copiesFramesFromAReader() throws {
        let temp = try TemporaryDirectory()
        let source = temp.path("source.pcapng")
        try writeSamples(to: source)
        let copy = temp.path("copy.pcapng")
        let writer = try PcapngWriter(path: copy)
        // A concrete (class) reader, so the callback may look at its interface table.
        let reader = try PcapngReader(path: source)
        _ = try reader.read { frame in
            try writer.write(frame, interfaceName: frame.interface.flatMap { reader.interfaces[$0].name })
        }
        try writer.close()
        let original = try readCapture(source)
        let copied = try readCapture(copy)
        #expect(copied.frames.map(\.bytes) == original.frames.map(\.bytes))
        #expect(copied.frames.map(\.nanoseconds) == original.frames.map(\.nanoseconds))
        #expect(copied.interfaces == original.interfaces)
    }

    @Test(.enabled(if: toolAvailable("tshark"), "tshark is missing (bash scripts/install-deps --test)"))
    func tsharkSeesTheInterfaceNames() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("evidence.pcapng")
        try writeSamples(to: path)
        let run = try #require(try runTool("tshark", ["-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.len"]))
        #expect(run.status == 0)
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        // tshark prints "unknown" (or nothing) for an interface without a name.
        #expect(lines.count == 5)
        #expect(Array(lines[0..<3]) == ["cloudbr1\t60", "any\t1514", "cloudbr1\t1"])
        #expect(lines.count == 5 && ["\t0", "unknown\t0"].contains(lines[3]))
        #expect(lines.last == "cloudbr1\t1500000")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "no /dev/full"))
    func aFullDiskIsReportedWithTheFileName() throws {
        let writer = try PcapngWriter(path: "/dev/full")
        let id = try writer.interfaceID(name: "eth0", linkType: .ethernet)
        let frame = payload(1000, seed: 1)
        let error = #expect(throws: OutputWriteError.self) {
            for _ in 0..<2000 {
                try frame.withUnsafeBytes {
                    try writer.write(frameBytes: $0, wireLength: 1000, timestamp: Timestamp(nanoseconds: 1), interface: id)
                }
            }
            try writer.close()
        }
        #expect(error?.errno == ENOSPC)
        #expect(error?.description.hasPrefix("/dev/full: cannot write: ") == true)
        // The writer stays failed.
        #expect(throws: OutputWriteError.self) { try writer.flush() }
    }

    @Test func creatingInAMissingDirectoryFails() throws {
        let temp = try TemporaryDirectory()
        let error = #expect(throws: OutputWriteError.self) {
            try PcapngWriter(path: temp.path("missing/evidence.pcapng"))
        }
        #expect(error?.operation == "create")
    }

    @Test func anOversizedFrameIsCutToWhatWiresharkAccepts() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("big.pcapng")
        let writer = try PcapngWriter(path: path)
        let id = try writer.interfaceID(name: "eth0", linkType: .ethernet)
        let big = payload(PcapngWriter.maximumFrameLength + 5, seed: 0)
        try big.withUnsafeBytes {
            try writer.write(frameBytes: $0, wireLength: 0, timestamp: Timestamp(nanoseconds: 0), interface: id)
        }
        try writer.close()
        let result = try readCapture(path)
        #expect(result.frames.map(\.bytes) == [Array(big[0..<PcapngWriter.maximumFrameLength])])
        #expect(result.frames.map(\.wireLength) == [big.count])
    }

    @Test func anUnknownInterfaceIDIsRejected() throws {
        let temp = try TemporaryDirectory()
        let writer = try PcapngWriter(path: temp.path("x.pcapng"))
        #expect(throws: OutputWriteError.self) {
            try [UInt8(1)].withUnsafeBytes {
                try writer.write(frameBytes: $0, wireLength: 1, timestamp: Timestamp(nanoseconds: 0), interface: 0)
            }
        }
        try writer.close()
        let result = try readCapture(temp.path("x.pcapng"))
        #expect(result.frames.isEmpty)
        #expect(result.outcome.end == .endOfFile)
    }
}
