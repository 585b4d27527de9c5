import Check
import Foundation
import Pipeline
import Policy
import Report
import TestSupport
import Testing

/// Reports are written as they are made, through a `ReportWriter`'s bounded buffer: the bytes
/// are those of the reports before streaming, the buffer never holds more than its capacity,
/// and a sink that fails part way stops the report with its error.
@Suite struct ReportStreamTests {
    /// A sink that keeps what it is given and the size of every write, and fails (ENOSPC, as
    /// a full disk does) once `limit` bytes have reached it.
    final class RecordingSink: ReportSink {
        struct Full: Error, Equatable {}
        var bytes: [UInt8] = []
        var writes: [Int] = []
        let limit: Int

        init(failingAfter limit: Int = .max) {
            self.limit = limit
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            writes.append(bytes.count)
            let room = max(0, limit - self.bytes.count)
            self.bytes.append(contentsOf: bytes.prefix(room))
            if bytes.count > room { throw Full() }
        }

        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// `conversations` NFS conversations on the management interface, each a violation,
    /// replayed; and the directory the capture is in.
    static func manyViolations(_ conversations: Int) throws -> (result: CheckResult, directory: TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        var packets: [FixturePacket] = []
        for index in 0..<conversations {
            let client = "198.51.100.\(10 + index % 200)"
            packets += conversation(
                client: client, UInt16(700 + index / 200), server: "198.51.100.20", 2049, data: 1, interface: "mgmt0",
                start: Int64(index))
        }
        try Fixtures.writePcapng(directory.file("many.pcapng"), packets)
        let result = try replay(Fixtures.policy(), [directory.file("many.pcapng")]).result
        try #require(result.violations.count == conversations)
        return (result, directory)
    }

    /// FNV-1a (64-bit) of `text`: a fingerprint of a report too large to keep in the tree.
    static func fingerprint(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// Both lab interfaces in the management network: every storage flow of a lab capture
    /// is a violation.
    static let everythingManagement = """
        version: 1
        networks:
          management:
            interfaces: [mgmt0, stor0]
            subnets: [198.51.100.0/24, 203.0.113.0/24]
        """

    /// The reports of a lab capture with every storage flow a violation, with the byte count
    /// and fingerprint lanekeeper's reports had before they were streamed (4154346:
    /// `lanekeeper replay --format json|text --policy as-management.yaml captures/clean/host.pcapng`,
    /// the policy `everythingManagement`).
    @Test func reportsAreTheBytesTheyWereBeforeStreaming() throws {
        let policyPath = "as-management.yaml"
        let policy = try Policy.parse(Self.everythingManagement, path: policyPath)
        let capture = "captures/clean/host.pcapng"
        let configuration = ReplayConfiguration(
            policy: policy, inputs: [ReplayInput(argument: packageRoot.appendingPathComponent(capture).path)])
        var result = try Replay.run(configuration).result
        try #require(result.violations.count >= 3)
        // The path as the command line was given it, from the package root.
        result.sources = result.sources.map {
            var source = $0
            source.path = capture
            return source
        }
        let json = JSONReport.render(result, policyPath: policyPath)
        let text = TextReport.render(result)
        #expect(json.utf8.count == Self.jsonBefore.count && Self.fingerprint(json) == Self.jsonBefore.fingerprint)
        #expect(text.utf8.count == Self.textBefore.count && Self.fingerprint(text) == Self.textBefore.fingerprint)
        // Through a buffer of 7 bytes: the same bytes.
        let small = RecordingSink()
        var writer = ReportWriter(into: small, capacity: 7)
        JSONReport.write(result, policyPath: policyPath, into: &writer)
        try writer.finish()
        #expect(small.text == json)
    }

    static let jsonBefore = (count: 16272, fingerprint: UInt64(0x2d2f_05c5_f81d_9d52))
    static let textBefore = (count: 7184, fingerprint: UInt64(0x4b89_cbfe_d723_6156))

    /// Two thousand violations, written through buffers of several sizes: the bytes are the
    /// String rendering's, the sink is never handed more than the capacity at once, and it is
    /// handed full buffers but the last.
    @Test(arguments: [1, 4096, ReportWriter.defaultCapacity])
    func aLargeReportGoesThroughTheBufferWhole(capacity: Int) throws {
        let (result, _) = try Self.manyViolations(2000)
        let rendered = JSONReport.render(result, policyPath: "p.yaml")
        let renderedText = TextReport.render(result)
        #expect(rendered.utf8.count > 4 * ReportWriter.defaultCapacity)
        for (format, expected) in [("json", rendered), ("text", renderedText)] {
            let sink = RecordingSink()
            var writer = ReportWriter(into: sink, capacity: capacity)
            if format == "json" {
                JSONReport.write(result, policyPath: "p.yaml", into: &writer)
            } else {
                TextReport.write(result, into: &writer)
            }
            try writer.finish()
            let flushed = writer.flushed
            #expect(sink.text == expected, "\(format)")
            #expect(flushed == expected.utf8.count)
            #expect(sink.writes.allSatisfy { $0 <= capacity }, "\(format)")
            #expect(sink.writes.dropLast().allSatisfy { $0 == capacity }, "\(format)")
            #expect(sink.writes.count == (expected.utf8.count + capacity - 1) / capacity)
        }
    }

    /// One append larger than the buffer is handed on in pieces of the capacity.
    @Test func anAppendLargerThanTheBufferIsSplit() throws {
        let sink = RecordingSink()
        var writer = ReportWriter(into: sink, capacity: 1000)
        writer.append("ab")
        writer.append(String(repeating: "x", count: 2500))
        #expect(sink.writes == [1000, 1000])
        try writer.finish()
        #expect(sink.writes == [1000, 1000, 502])
        #expect(sink.text == "ab" + String(repeating: "x", count: 2500))
    }

    /// A sink that fails part way (a full disk): the writer keeps its error, `finish` throws
    /// it, and nothing more reaches the sink.
    @Test func aSinkThatFailsPartWayStopsTheReportWithItsError() throws {
        let (result, _) = try Self.manyViolations(2000)
        for format in ["json", "text"] {
            let sink = RecordingSink(failingAfter: 10_000)
            var writer = ReportWriter(into: sink, capacity: 4096)
            if format == "json" {
                JSONReport.write(result, into: &writer)
            } else {
                TextReport.write(result, into: &writer)
            }
            let (failed, flushed) = (writer.failed, writer.flushed)
            #expect(failed)
            #expect(flushed == 8192, "\(format)")
            // The third buffer failed; nothing was offered after it.
            #expect(sink.writes == [4096, 4096, 4096], "\(format)")
            var thrown: (any Error)?
            do { try writer.finish() } catch { thrown = error }
            #expect(thrown is RecordingSink.Full)
            #expect(sink.writes.count == 3)
        }
    }

    /// Standard output that cannot be written (/dev/full): the error says so and the verdict
    /// stands (a fail exits 1, a pass 74), where the whole report used to be handed to
    /// FileHandle, which stopped the process on the error.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "no /dev/full"))
    func standardOutputThatCannotBeWrittenKeepsTheVerdict() throws {
        for (name, status, verdict) in [("leak-address", Int32(1), "fail"), ("clean", Int32(74), "pass")] {
            let command = [binary.path, "replay", "--format", "json", "--policy", "captures/\(name)/policy.yaml",
                           "captures/\(name)/host.pcapng"].map { "'" + $0 + "'" }.joined(separator: " ")
            let result = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", command + " > /dev/full"])
            #expect(result.status == status, "\(result.stderr)")
            #expect(result.stderr.contains("cannot write the report to standard output") && result.stderr.contains("ENOSPC"),
                    "\(result.stderr)")
            #expect(result.stderr.contains("verdict: \(verdict) (it stands)"))
        }
    }

    /// The command line, with the report's file on a full disk part way through (a tmpfs of
    /// 64 KiB in a mount namespace of its own, which needs root): the error names the file and
    /// ENOSPC, the whole report follows on standard output, the verdict stands (fail: 1), and
    /// nothing is left on the disk.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root for a mount namespace"))
    func aFullDiskPartWayThroughTheReportLeavesNoFile() throws {
        let (_, directory) = try Self.manyViolations(2000)
        let policy = try directory.file("policy.yaml", text: Fixtures.policyYAML)
        let disk = directory.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let command = [binary.path, "replay", "--format", "json", "--policy", policy, "--output", disk + "/r.json",
                       directory.file("many.pcapng")].map { "'" + $0 + "'" }.joined(separator: " ")
        let script = """
            mount -t tmpfs -o size=64k lk-stream '\(disk)' || exit 99
            \(command)
            status=$?
            ls -a '\(disk)' > '\(disk).listing'
            umount '\(disk)'
            exit $status
            """
        let result = try run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-m", "--propagation", "private", "/bin/sh", "-c", script])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("cannot write the report to \(disk)/r.json") && result.stderr.contains("ENOSPC"), "\(result.stderr)")
        #expect(result.stderr.contains("verdict: fail (it stands)"))
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect((json?["violations"] as? [Any])?.count == 2000)
        let listing = try String(contentsOfFile: disk + ".listing", encoding: .utf8)
        #expect(listing.split(separator: "\n").sorted() == [".", ".."])
    }
}
