import Capture
import Foundation
import Frames
import TestSupport
import Testing

@Suite struct CaptureFileTests {
    @Test func aMissingFileIsNotFound() throws {
        let temp = try TemporaryDirectory()
        let error = openError(temp.path("does-not-exist.pcap"))
        #expect(error?.code == .notFound)
        #expect(error?.path == temp.path("does-not-exist.pcap"))
        #expect(openError(temp.path("no-dir/x.pcapng"))?.code == .notFound)
    }

    @Test func aDirectoryIsUnreadable() throws {
        let temp = try TemporaryDirectory()
        let error = openError(temp.url.path)
        #expect(error?.code == .unreadable)
        #expect(error?.detail.contains("directory") == true)
        #expect(throws: CaptureError.self) { try PcapngReader(path: temp.url.path) }
        #expect(throws: CaptureError.self) { try PcapFileReader(path: temp.url.path) }
    }

    @Test(.enabled(if: getuid() != 0, "root reads any file")) func anUnreadableFileIsUnreadable() throws {
        let temp = try TemporaryDirectory()
        let path = try temp.file("locked.pcap", PcapBytes.file(bigEndian: false, nanoseconds: false, records: []))
        chmod(path, 0)
        #expect(openError(path)?.code == .unreadable)
    }

    @Test func emptyShortAndGarbageFilesAreMalformed() throws {
        let temp = try TemporaryDirectory()
        let empty = openError(try temp.file("empty.pcap", []))
        #expect(empty == CaptureError(code: .malformed, path: temp.path("empty.pcap"), offset: 0, detail: "empty file"))

        #expect(openError(try temp.file("short", [0xA1, 0xB2]))?.detail.contains("too short") == true)

        let garbage = openError(try temp.file("garbage.txt", Array("hello world\n".utf8)))
        #expect(garbage?.code == .malformed)
        #expect(garbage?.detail == "not a pcap or pcapng file (magic 0x68656c6c)")

        let gzip = openError(try temp.file("x.pcap.gz", [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0]))
        #expect(gzip?.detail.contains("gzip") == true)
    }

    @Test func theMagicChoosesTheReader() throws {
        let temp = try TemporaryDirectory()
        let pcap = try CaptureFile.open(
            path: try temp.file("a.pcap", PcapBytes.file(bigEndian: true, nanoseconds: true, records: [])))
        #expect(pcap is PcapFileReader)
        let ng = try CaptureFile.open(path: try temp.file("a.pcapng", PcapngBytes.shb()))
        #expect(ng is PcapngReader)
        #expect(CaptureFile.format(magic: 0xA1B2_C3D4) == .pcap)
        #expect(CaptureFile.format(magic: 0x4D3C_B2A1) == .pcap)
        #expect(CaptureFile.format(magic: 0x0A0D_0D0A) == .pcapng)
        #expect(CaptureFile.format(magic: 0) == nil)
    }

    @Test func aPcapngFileStartingWithAnotherBlockIsMalformed() throws {
        let temp = try TemporaryDirectory()
        let bytes = PcapngBytes.idb(linkType: 1) + PcapngBytes.shb()
        let error = #expect(throws: CaptureError.self) {
            try PcapngReader(path: try temp.file("idbfirst.pcapng", bytes))
        }
        #expect(error?.code == .malformed)
        #expect(error?.detail.contains("Section Header Block") == true)
    }

    /// Files written by the real tools: editcap converts a classic fixture to pcapng, and
    /// both readers must agree frame for frame.
    @Test(.enabled(if: toolAvailable("editcap"), "editcap is missing (bash scripts/install-deps --test)"))
    func filesFromWiresharkTools() throws {
        let temp = try TemporaryDirectory()
        let records = (0..<5).map { index in
            PcapBytes.Record(
                seconds: 1_700_000_000 + UInt32(index), fraction: UInt32(index) * 111_111_111,
                data: payload(20 + index * 17, seed: UInt8(index)))
        }
        let classic = try temp.file("in.pcap", PcapBytes.file(bigEndian: true, nanoseconds: true, records: records))
        let converted = temp.path("out.pcapng")
        let run = try #require(try runTool("editcap", ["-F", "pcapng", classic, converted]))
        try #require(run.status == 0)

        let fromPcap = try readCapture(classic)
        let fromPcapng = try readCapture(converted)
        #expect(fromPcapng.outcome.end == .endOfFile)
        #expect(fromPcapng.interfaces.map(\.linkType) == [.ethernet])
        #expect(fromPcapng.frames.map(\.bytes) == fromPcap.frames.map(\.bytes))
        #expect(fromPcapng.frames.map(\.nanoseconds) == fromPcap.frames.map(\.nanoseconds))
        #expect(fromPcapng.frames.map(\.interface) == fromPcap.frames.map(\.interface))
    }

    /// A capture taken by tcpdump on loopback (skipped without root or tcpdump).
    @Test(.enabled(if: getuid() == 0 && toolAvailable("tcpdump"), "needs root and tcpdump"))
    func aLoopbackCaptureFromTcpdump() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("lo.pcap")
        let port = 40000 + Int(getpid() % 20000)
        let tcpdump = Process()
        tcpdump.executableURL = URL(fileURLWithPath: "/usr/bin/tcpdump")
        tcpdump.arguments = ["-i", "lo", "-c", "3", "-w", path, "-U", "--time-stamp-precision=nano", "udp port \(port)"]
        tcpdump.standardOutput = FileHandle.nullDevice
        tcpdump.standardError = FileHandle.nullDevice
        try tcpdump.run()
        defer { if tcpdump.isRunning { tcpdump.terminate() } }
        Thread.sleep(forTimeInterval: 1.0)
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(sender >= 0)
        defer { close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        for index in 0..<10 where tcpdump.isRunning {
            var message = Array("lanekeeper \(index)".utf8)
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender, &message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let deadline = Date().addingTimeInterval(5)
        while tcpdump.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        try #require(!tcpdump.isRunning, "tcpdump saw fewer than 3 packets in 5 s")

        let result = try readCapture(path)
        #expect(result.outcome.end == .endOfFile)
        #expect(result.frames.count == 3)
        #expect(result.interfaces.first?.linkType == .ethernet)
        #expect(result.frames.allSatisfy { String(decoding: $0.bytes.suffix(12), as: UTF8.self).hasPrefix("lanekeeper") })
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        #expect(result.frames.allSatisfy { abs($0.nanoseconds - now) < 60_000_000_000 })
    }
}
