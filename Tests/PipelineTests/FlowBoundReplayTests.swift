import Check
import Foundation
import Pipeline
import Policy
import TestSupport
import Testing

/// A replay with a tiny `--max-flows` (flows finished and started again, slots reused) counts
/// exactly what a replay with room for every flow counts, and its second pass (evidence,
/// timeline) follows the same flows.
@Suite struct FlowBoundReplayTests {
    static let scenarios = (try? FileManager.default.contentsOfDirectory(atPath: labCaptures))?
        .filter { FileManager.default.fileExists(atPath: labCaptures + "/" + $0 + "/host.pcapng") }.sorted() ?? []

    /// What must not change with the bound: per network and per protocol packets and bytes,
    /// the totals, the verdict, and each violation's ends and counts.
    struct Accounts: Equatable {
        var verdict: String
        var networks: [String]
        var totals: [Int]
        var violations: [String]
        var evidencePackets: Int
        var timelineBytes: [Int]

        init(_ outcome: ReplayOutcome) {
            let result = outcome.result
            verdict = "\(result.verdict)"
            networks = result.networks.map { network in
                "\(network.name) \(network.packets) \(network.bytes) \(network.storagePackets) \(network.storageBytes) "
                    + network.byProtocol.sorted { $0.protocolName < $1.protocolName }
                    .map { "\($0.protocolName):\($0.packets):\($0.bytes)" }.joined(separator: ",")
            }
            let t = result.totals
            totals = [t.packets, t.bytes, t.decoded, t.truncated, t.undecodable, t.storagePackets, t.storageBytes]
            // Violations with their details, and (in a tight replay) the rest summarised:
            // compared as totals.
            violations = [
                "\(result.violations.count + result.summarisedViolations.flows) flows",
                "\(result.violations.reduce(0) { $0 + $1.packets } + result.summarisedViolations.packets) packets",
                "\(result.violations.reduce(0) { $0 + $1.bytes } + result.summarisedViolations.bytes) bytes",
            ]
            evidencePackets = outcome.evidencePackets
            var bytes: [Int] = []
            if let timeline = outcome.timeline {
                for series in 0...result.networks.count {
                    for storage in [true, false] {
                        bytes.append((0..<timeline.count).reduce(0) { $0 + timeline.bytes(series: series, bin: $1, storage: storage) })
                    }
                }
            }
            timelineBytes = bytes
        }
    }

    static func describe(_ v: Violation) -> String {
        "\(v.interface) \(v.protocolName) \(v.client) \(v.server) \(v.packets) \(v.bytes) \(v.firstSeen.nanoseconds) \(v.lastSeen.nanoseconds)"
    }

    static func replay(_ scenario: String, maxFlows: Int, evidence: String) throws -> ReplayOutcome {
        let directory = labCaptures + "/" + scenario
        var configuration = ReplayConfiguration(
            policy: try Policy.load(path: directory + "/policy.yaml"), inputs: [ReplayInput(path: directory + "/host.pcapng")],
            evidencePath: evidence, timeline: true)
        configuration.maxFlows = maxFlows
        return try Replay.run(configuration)
    }

    @Test(arguments: scenarios) func aTinyBoundCountsWhatRoomForEveryFlowCounts(_ scenario: String) throws {
        let dir = try TemporaryDirectory()
        let roomy = try Self.replay(scenario, maxFlows: 1_000_000, evidence: dir.file("roomy.pcapng"))
        let tight = try Self.replay(scenario, maxFlows: 16, evidence: dir.file("tight.pcapng"))
        #expect(Accounts(tight) == Accounts(roomy))
        // Every violation kept with its details is the roomy replay's, whole.
        let described = Set(roomy.result.violations.map(Self.describe))
        #expect(tight.result.violations.allSatisfy { described.contains(Self.describe($0)) })
        // The flows counted: a flow finished and seen again may count twice, never less.
        #expect(tight.result.totals.flows >= roomy.result.totals.flows)
    }

    @Test func someLabCapturesHaveMoreFlowsThanTheTinyBound() throws {
        // Otherwise the comparison above would not exercise finishing flows at all.
        let dir = try TemporaryDirectory()
        let busiest = try Self.scenarios.map { try Self.replay($0, maxFlows: 1_000_000, evidence: dir.file("\($0).pcapng")) }
            .map(\.result.totals.flows).max() ?? 0
        #expect(busiest > 16)
    }

    @Test func storageFlowsBeyondTheBoundAreSummarisedAsViolations() throws {
        let dir = try TemporaryDirectory()
        // 40 NFS conversations in the management network, one after another: with room for
        // 16 flows, 16 finished ones keep their details, the rest are summarised.
        var packets: [FixturePacket] = []
        for index in 0..<40 {
            packets += conversation(
                client: "198.51.100.\(10 + index)", UInt16(700 + index), server: "198.51.100.200", 2049, data: 2,
                interface: "mgmt0", start: Int64(1 + index * 10))
        }
        try Fixtures.writePcapng(dir.file("many.pcapng"), packets)
        var configuration = ReplayConfiguration(policy: try Fixtures.policy(), inputs: [ReplayInput(path: dir.file("many.pcapng"))])
        let roomy = try Replay.run(configuration).result
        configuration.maxFlows = 16
        let tight = try Replay.run(configuration).result
        #expect(roomy.violations.count == 40)
        #expect(tight.verdict == .fail)
        #expect(tight.totals.storagePackets == roomy.totals.storagePackets)
        #expect(tight.totals.storageFlows == 40)
        #expect(tight.violations.count < 40)
        let summarised = 40 - tight.violations.count
        #expect(tight.reasons.contains { $0.hasPrefix("\(summarised) more storage flows (\(summarised * 5) packets") })
        #expect(network(tight, "management")?.storagePackets == network(roomy, "management")?.storagePackets)
    }
}
