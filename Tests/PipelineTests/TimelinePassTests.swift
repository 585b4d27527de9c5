import Check
import Foundation
import Pipeline
import Policy
import Report
import Testing

/// The replay's timeline (a second pass) draws every packet once, in its network, as storage
/// exactly when the replay counted it as storage.
@Suite struct TimelinePassTests {
    static let scenarios = (try? FileManager.default.contentsOfDirectory(atPath: labCaptures))?
        .filter { FileManager.default.fileExists(atPath: labCaptures + "/" + $0 + "/host.pcapng") }.sorted() ?? []

    @Test(arguments: scenarios) func timelineTotalsAreTheReplaysTotals(_ scenario: String) throws {
        let directory = labCaptures + "/" + scenario
        let policy = try Policy.load(path: directory + "/policy.yaml")
        let outcome = try Replay.run(
            ReplayConfiguration(policy: policy, inputs: [ReplayInput(path: directory + "/host.pcapng")], timeline: true))
        let timeline = try #require(outcome.timeline)
        #expect(timeline.count > 0 && timeline.count <= timeline.capacity)
        func sum(_ series: Int, storage: Bool) -> Int {
            (0..<timeline.count).reduce(0) { $0 + timeline.bytes(series: series, bin: $1, storage: storage) }
        }
        var drawn = 0
        for (index, network) in outcome.result.networks.enumerated() {
            #expect(sum(index, storage: true) == network.storageBytes, "\(network.name) storage")
            #expect(sum(index, storage: true) + sum(index, storage: false) == network.bytes, "\(network.name)")
            drawn += network.bytes
        }
        let elsewhere = outcome.result.networks.count
        #expect(drawn + sum(elsewhere, storage: true) + sum(elsewhere, storage: false) == outcome.result.totals.bytes)
    }

    @Test func withoutHTMLThereIsNoSecondPass() throws {
        let directory = labCaptures + "/clean"
        let policy = try Policy.load(path: directory + "/policy.yaml")
        let outcome = try Replay.run(ReplayConfiguration(policy: policy, inputs: [ReplayInput(path: directory + "/host.pcapng")]))
        #expect(outcome.timeline == nil)
    }
}
