import CShims
import Check
import Expectations
import Foundation
import Pipeline
import Policy
import Report
import TestSupport
import Testing

/// Replay's read-ahead (reading and decoding on a second thread, or in batches in turn on
/// one) gives exactly the result of the sequential read, frame by frame, including what one
/// file teaches about another.
@Suite struct ReadAheadTests {
    /// Replays `configuration` every way; returns the JSON reports: frame by frame, read
    /// ahead on a second thread, read ahead in batches on one thread.
    func bothWays(_ configuration: ReplayConfiguration) throws -> (
        sequential: String, readAhead: String, oneThread: String
    ) {
        func report(readAhead: Bool, threads: Bool) throws -> String {
            var way = configuration
            way.readAhead = readAhead
            way.readAheadThreads = threads
            return JSONReport.document(try Replay.run(way).result).serialized()
        }
        return (
            try report(readAhead: false, threads: false), try report(readAhead: true, threads: true),
            try report(readAhead: true, threads: false)
        )
    }

    @Test func everyLabScenarioGivesTheSameReport() throws {
        let files = try CheckRun.expectationFiles(under: labCaptures)
        #expect(files.count >= 30)
        var multiFile = 0
        for file in files {
            let expectation = try Expectation.load(path: file)
            if expectation.captures.count > 1 { multiFile += 1 }
            let policy = try Policy.load(path: expectation.policyPath)
            let reports = try bothWays(
                ReplayConfiguration(
                    policy: policy, inputs: expectation.captures, ifindexNames: expectation.ifindexNames))
            #expect(reports.sequential == reports.readAhead, "\(file)")
            #expect(reports.sequential == reports.oneThread, "\(file)")
            #expect(reports.sequential.contains("\"verdict\""))
        }
        #expect(multiFile >= 10)
    }

    /// A UDP datagram with `payload` as its data.
    static func udp(_ source: String, _ sourcePort: UInt16, _ destination: String, _ destinationPort: UInt16, _ payload: [UInt8])
        -> [UInt8]
    {
        let datagram = F.be16(sourcePort) + F.be16(destinationPort) + F.be16(UInt16(8 + payload.count)) + [0, 0] + payload
        return F.link(.ethernet(vlans: []), etherType: 0x0800, F.ipv4(source, destination, ipProtocol: 17, payload: datagram))
    }

    /// Portmapper v2 GETPORT for MOUNT v3 over TCP, and its reply: port 20048.
    static let getPortCall: [UInt8] =
        F.be32(0x1234) + F.be32(0) + F.be32(2) + F.be32(100_000) + F.be32(2) + F.be32(3)
        + F.be32(0) + F.be32(0) + F.be32(0) + F.be32(0)  // AUTH_NONE credentials and verifier
        + F.be32(100_005) + F.be32(3) + F.be32(6) + F.be32(0)
    static let getPortReply: [UInt8] =
        F.be32(0x1234) + F.be32(1) + F.be32(0) + F.be32(0) + F.be32(0) + F.be32(0) + F.be32(20048)

    @Test func aPortmapperReplyInOneFileNamesAFlowInTheNext() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcap(
            dir.file("a.pcap"),
            [
                (1, Self.udp("198.51.100.10", 800, "198.51.100.20", 111, Self.getPortCall)),
                (2, Self.udp("198.51.100.20", 111, "198.51.100.10", 800, Self.getPortReply)),
            ])
        // MOUNT traffic whose payload says nothing: only the mapping names it.
        try Fixtures.writePcap(
            dir.file("b.pcap"),
            conversation(client: "198.51.100.10", 900, server: "198.51.100.20", 20048, data: 3, interface: "mgmt0")
                .map { ($0.seconds + 10, $0.bytes) })
        let policy = try Fixtures.policy()
        let both = ReplayConfiguration(
            policy: policy, inputs: [ReplayInput(argument: "mgmt0=" + dir.file("a.pcap")), ReplayInput(argument: "mgmt0=" + dir.file("b.pcap"))])
        let reports = try bothWays(both)
        #expect(reports.sequential == reports.readAhead)
        #expect(reports.sequential == reports.oneThread)

        // The mapping learned in a.pcap is what makes b.pcap's flow MOUNT.
        let result = try Replay.run(both).result
        let mount = result.violations.filter { $0.service == "mount" }
        #expect(mount.count == 1)
        #expect(mount.first?.server.port == 20048)
        #expect(mount.first?.recognition == "portmapper mapping to port 20048")
        let alone = try Replay.run(
            ReplayConfiguration(policy: policy, inputs: [ReplayInput(argument: "mgmt0=" + dir.file("b.pcap"))])
        ).result
        #expect(!alone.violations.contains { $0.service == "mount" })
    }

    /// A TCP segment to NFS with `size` bytes of data: an IPv4 total length of 0 (what a
    /// capture of an offloaded send shows) lets it be bigger than 64 KiB.
    static func oversized(_ size: Int, port: UInt16) -> [UInt8] {
        let tcp = F.be16(port) + F.be16(2049) + F.be32(1) + F.be32(0) + [0x50, 0x18] + F.be16(65535) + [0, 0, 0, 0]
        let ip: [UInt8] =
            [0x45, 0, 0, 0] + F.be16(7) + [0, 0, 64, 6, 0, 0] + F.addressBytes("203.0.113.10")
            + F.addressBytes("203.0.113.20")
        return F.link(.ethernet(vlans: []), etherType: 0x0800, ip + tcp + [UInt8](repeating: 0xAB, count: size))
    }

    /// A little-endian pcapng file of Ethernet `frames` on one interface with no snap length
    /// (so that nothing clips them), one per second.
    static func pcapng(_ frames: [[UInt8]]) -> [UInt8] {
        var file = PcapngBytes.shb() + PcapngBytes.idb(linkType: 1)
        for (second, frame) in frames.enumerated() {
            file += PcapngBytes.epb(interface: 0, timestamp: UInt64(second) * 1_000_000, data: frame)
        }
        return file
    }

    /// A pcapng block may hold a frame of up to 256 MiB, more than a read-ahead batch holds
    /// (such a frame once overran the batch's memory): it gets a batch of its own, wherever
    /// it falls, and the report is the sequential one.
    @Test func framesBiggerThanABatchGiveTheSameReport() throws {
        let dir = try TemporaryDirectory()
        var packets: [FixturePacket] = []
        var bytes = 0
        func add(_ frame: [UInt8]) {
            packets.append(FixturePacket(interface: "stor0", seconds: Int64(packets.count + 1), bytes: frame))
            bytes += frame.count
        }
        for round in 0..<4 {
            // 0, 7, 14, 21 small frames before: the big ones land in empty and part-full batches.
            for _ in 0..<(round * 7) { add(F.frame(.ethernet(vlans: []), 6, "203.0.113.10", 900, "203.0.113.20", 2049, payload: 40)) }
            // Bigger than a batch on one thread (256 KiB), and than one handed between two (1 MiB).
            add(Self.oversized(700_000, port: 901))
            add(Self.oversized(262_145 + round, port: 902))
            add(Self.oversized(1_048_577 + round, port: 903))
            add(F.frame(.ethernet(vlans: []), 6, "203.0.113.20", 2049, "203.0.113.10", 900, payload: 8))
        }
        try Data(Self.pcapng(packets.map(\.bytes))).write(to: URL(fileURLWithPath: dir.file("big.pcapng")))
        let configuration = ReplayConfiguration(
            policy: try Fixtures.policy(), inputs: [ReplayInput(path: dir.file("big.pcapng"))])
        let reports = try bothWays(configuration)
        #expect(reports.sequential == reports.readAhead)
        #expect(reports.sequential == reports.oneThread)
        var ahead = configuration
        ahead.readAhead = true
        let totals = try Replay.run(ahead).result.totals
        #expect(totals.packets == packets.count)
        #expect(totals.bytes == bytes)
        #expect(totals.decoded == packets.count)
    }

    @Test func aMissingFileAfterAGoodOneFailsTheSameWay() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writePcap(
            dir.file("a.pcap"),
            conversation(client: "198.51.100.10", 900, server: "198.51.100.20", 22, interface: "mgmt0")
                .map { ($0.seconds, $0.bytes) })
        var configuration = ReplayConfiguration(
            policy: try Fixtures.policy(), inputs: [ReplayInput(path: dir.file("a.pcap")), ReplayInput(path: dir.file("gone.pcap"))])
        for (readAhead, threads) in [(false, false), (true, true), (true, false)] {
            configuration.readAhead = readAhead
            configuration.readAheadThreads = threads
            let error = #expect(throws: ReplayError.self) { try Replay.run(configuration) }
            #expect(error?.code == .notFound)
            #expect(error?.message.contains("gone.pcap") == true)
        }
    }

    /// Whether replay reads ahead on a second thread follows the processors the process may
    /// use (its affinity, which `taskset` and cpusets set), as the kernel lists them.
    @Test func allowedProcessorsAreTheAffinityMasks() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        // "0-1,4" -> 3
        let listed = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
            .split(separator: ",").reduce(0) { count, range in
                let ends = range.split(separator: "-").compactMap { Int($0) }
                return count + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
            }
        #expect(lk_allowed_processors() == Int32(listed))
        #expect(listed >= 1)
    }
}
