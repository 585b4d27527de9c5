import Capture
import Frames
import Policy
import TestSupport
import Testing

@testable import Pipeline

/// A live watch writes evidence as packets come; a flow recognised by content only after
/// its handshake must still have the handshake in the evidence, as replay's evidence does.
@Suite struct LiveEvidenceTests {
    /// An NFSv3 GETATTR call over TCP with record marking (AUTH_SYS, AUTH_NONE verifier).
    static let nfsCall: [UInt8] = {
        func words(_ values: [UInt32]) -> [UInt8] {
            values.flatMap { [UInt8($0 >> 24), UInt8(($0 >> 16) & 0xff), UInt8(($0 >> 8) & 0xff), UInt8($0 & 0xff)] }
        }
        let body = words([7, 0, 2, 100_003, 3, 1]) + words([1, 20, 0x1234, 0, 0, 0, 0]) + words([0, 0]) + words([4, 0xabcd])
        return words([0x8000_0000 | UInt32(body.count)]) + body
    }()

    func frames(port: UInt16) -> [[UInt8]] {
        [
            FrameBuilder.frame(.ethernet(vlans: []), 6, "198.51.100.10", 800, "198.51.100.20", port, flags: 0x02),
            FrameBuilder.frame(.ethernet(vlans: []), 6, "198.51.100.20", port, "198.51.100.10", 800, flags: 0x12),
            FrameBuilder.frame(.ethernet(vlans: []), 6, "198.51.100.10", 800, "198.51.100.20", port, flags: 0x10),
        ]
    }

    func run(_ frames: [[UInt8]], evidence path: String) throws -> Int {
        let sink = try EvidenceSink(path: path)
        var reader = LiveReader(name: "mgmt0", sourceIndex: 0, policy: try Fixtures.policy(), evidence: sink)
        for (index, bytes) in frames.enumerated() {
            bytes.withUnsafeBytes { raw in
                reader.ingest(Frame(interface: 0, timestamp: Timestamp(nanoseconds: Int64(index) * 1000),
                                    linkType: .ethernet, wireLength: raw.count, bytes: raw, fileOffset: 0))
            }
        }
        try sink.close()
        #expect(reader.evidenceError == nil)
        var source = try CaptureFile.open(path: path)
        var count = 0
        _ = source.read { _ in count += 1 }
        return count
    }

    @Test func theHandshakeBeforeTheFirstRecognisedCallIsEvidence() throws {
        let dir = try TemporaryDirectory()
        let call = FrameBuilder.link(
            .ethernet(vlans: []), etherType: 0x0800,
            FrameBuilder.ipv4("198.51.100.10", "198.51.100.20", ipProtocol: 6,
                              payload: FrameBuilder.transport(6, sourcePort: 800, destinationPort: 12049, flags: 0x18, payload: 0)
                                  + Self.nfsCall))
        let written = try run(frames(port: 12049) + [call], evidence: dir.file("e.pcapng"))
        #expect(written == 4)
    }

    @Test func flowsThatNeverBecomeStorageLeaveNothing() throws {
        let dir = try TemporaryDirectory()
        #expect(try run(frames(port: 8080), evidence: dir.file("e.pcapng")) == 0)
    }
}
