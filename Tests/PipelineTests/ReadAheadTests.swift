import Check
import Expectations
import Foundation
import Pipeline
import Policy
import Report
import Testing

/// Replay's read-ahead (reading and decoding on a second thread) gives exactly the result of
/// the sequential read, including what one file teaches about another.
@Suite struct ReadAheadTests {
    /// Replays `configuration` both ways; returns the two JSON reports.
    func bothWays(_ configuration: ReplayConfiguration) throws -> (sequential: String, readAhead: String) {
        var sequential = configuration
        sequential.readAhead = false
        var ahead = configuration
        ahead.readAhead = true
        let one = try Replay.run(sequential).result
        let two = try Replay.run(ahead).result
        return (JSONReport.document(one).serialized(), JSONReport.document(two).serialized())
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
        let dir = TemporaryDirectory()
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

    @Test func aMissingFileAfterAGoodOneFailsTheSameWay() throws {
        let dir = TemporaryDirectory()
        try Fixtures.writePcap(
            dir.file("a.pcap"),
            conversation(client: "198.51.100.10", 900, server: "198.51.100.20", 22, interface: "mgmt0")
                .map { ($0.seconds, $0.bytes) })
        var configuration = ReplayConfiguration(
            policy: try Fixtures.policy(), inputs: [ReplayInput(path: dir.file("a.pcap")), ReplayInput(path: dir.file("gone.pcap"))])
        for readAhead in [false, true] {
            configuration.readAhead = readAhead
            let error = #expect(throws: ReplayError.self) { try Replay.run(configuration) }
            #expect(error?.code == .notFound)
            #expect(error?.message.contains("gone.pcap") == true)
        }
    }
}
