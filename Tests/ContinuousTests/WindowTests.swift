import Capture
import Check
import Flows
import Foundation
import Frames
@testable import Pipeline
import Policy
import TestSupport
import Testing

/// Windows at the engine boundary: the lab captures read through the watch's own readers
/// (one per interface, as the live workers do), cut into windows at seeded random packets,
/// must add up exactly to one window over the same packets, and to a replay of the files.
struct WindowTests {
    static let labs = [
        "clean", "ipv6", "iscsi-port", "iscsi-port-leak", "leak-address", "leak-route", "mount-only", "nfs-port",
        "nfs-udp-frag", "vlan", "vxlan-leak",
    ]

    /// The sums a window's report shows.
    struct Sums: CustomStringConvertible {
        var totals: [Int] = Array(repeating: 0, count: 5)
        /// Storage packets and bytes: a flow recognised as storage by what it carries counts
        /// as storage from the window in which it was recognised, so fewer than in one window.
        var storage = [0, 0]
        var networks: [String: [Int]] = [:]
        var flows: [String: [Int]] = [:]
        /// Per flow, window by window: what it was in the window's report.
        var services: [String: [String]] = [:]
        /// Per flow, window by window: its packets.
        var packets: [String: [Int]] = [:]
        var orphans = 0
        var frames = 0

        mutating func add(_ window: WindowLedger.Window, result: CheckResult) {
            let t = result.totals
            let counts = [t.packets, t.bytes, t.decoded, t.truncated, t.undecodable]
            totals = zip(totals, counts).map { $0 + $1 }
            storage[0] += t.storagePackets
            storage[1] += t.storageBytes
            for network in result.networks {
                let counts = [network.packets, network.bytes]
                networks[network.name] = zip(networks[network.name] ?? [0, 0], counts).map { $0 + $1 }
            }
            for flow in window.observation.flows {
                let segment = window.observation.segments[Int(flow.segment)]
                let interface = window.observation.interfaces[segment.interface].label
                let key = "\(interface) \(segment.vlan.map(String.init) ?? "-") \(flow.key.ipProtocol) \(flow.key.lower) \(flow.key.upper)"
                let counts = [flow.packets, flow.bytes, flow.laterFragments]
                flows[key] = zip(flows[key] ?? [0, 0, 0], counts).map { $0 + $1 }
                services[key, default: []].append(flow.service.map(String.init) ?? "other")
                packets[key, default: []].append(flow.packets)
            }
            orphans += window.observation.orphanFragments.values.reduce(0) { $0 + $1.packets }
            frames += window.frames.reduce(0, +)
        }

        var description: String {
            "\(totals) networks \(networks) orphans \(orphans) frames \(frames) flows \(flows.count)"
        }
    }

    /// Reads `path` into `reader`, closing a window after each packet number in `cuts`
    /// (sorted; 0 is before the first packet; a number twice makes an empty window).
    static func read(_ path: String, into reader: inout LiveReader, cuts: [Int]) throws -> [ReaderSnapshot] {
        var source: any FrameSource = try CaptureFile.open(path: path)
        var snapshots: [ReaderSnapshot] = []
        var count = 0
        var next = 0
        func cutDue(_ reader: inout LiveReader) {
            while next < cuts.count && cuts[next] <= count {
                next += 1
                snapshots.append(reader.cut(WindowControl.Request(generation: next), statistics: LiveCaptureStatistics()))
            }
        }
        cutDue(&reader)
        _ = source.read { frame in
            reader.ingest(frame)
            count += 1
            cutDue(&reader)
        }
        return snapshots
    }

    /// Packets of flows counted as other traffic in the windows before they were recognised
    /// as storage.
    static func earlyPackets(_ sums: Sums) -> Int {
        var early = 0
        for (key, sequence) in sums.services where sequence.last != "other" {
            for (service, packets) in zip(sequence, sums.packets[key] ?? []) where service == "other" { early += packets }
        }
        return early
    }

    static func frameCount(_ path: String) throws -> Int {
        var source: any FrameSource = try CaptureFile.open(path: path)
        return source.read { _ in }.frames
    }

    /// Reads a lab's mgmt0 and stor0 captures cut into `windows` windows (at `cuts`, per
    /// interface; nil: one window) and returns the sums of every window's report.
    static func sums(lab: String, cutsPerInterface: [[Int]]?) throws -> (Sums, [CheckResult]) {
        let directory = packageRoot.path + "/captures/\(lab)"
        let policy = try Policy.load(path: directory + "/policy.yaml")
        let names = ["mgmt0", "stor0"]
        var snapshotsPerReader: [[ReaderSnapshot]] = []
        for (index, name) in names.enumerated() {
            var reader = LiveReader(name: name, sourceIndex: index, policy: policy, evidence: nil)
            var snapshots = try read(directory + "/\(name).pcap", into: &reader, cuts: cutsPerInterface?[index] ?? [])
            snapshots.append(reader.snapshot(statistics: LiveCaptureStatistics()))
            snapshotsPerReader.append(snapshots)
        }
        #expect(Set(snapshotsPerReader.map(\.count)).count == 1, "every reader answers every cut")
        var ledger = WindowLedger(readers: names.count)
        var sums = Sums()
        var results: [CheckResult] = []
        let windows = snapshotsPerReader[0].count
        for window in 0..<windows {
            let final = window == windows - 1
            var part = ledger.close(
                snapshotsPerReader.map { $0[window] }, names: names,
                interfaces: names.map { CaptureInterface(name: $0, linkType: .ethernet, snapLength: 262_144) },
                policy: policy, final: final)
            let result = WatchSession.judge(&part.observation, names: names, reports: [], checker: Checker(policy: policy), bufferBytes: 1 << 20)
            sums.add(part, result: result)
            results.append(result)
        }
        return (sums, results)
    }

    @Test(arguments: labs)
    func windowsAddUpToOneWindowAndToTheReplay(lab: String) throws {
        let directory = packageRoot.path + "/captures/\(lab)"
        let (whole, single) = try Self.sums(lab: lab, cutsPerInterface: nil)
        #expect(single.count == 1)
        // One window is exactly a replay of the same files, one per interface.
        let replay = try Replay.run(
            ReplayConfiguration(
                policy: try Policy.load(path: directory + "/policy.yaml"),
                inputs: ["mgmt0", "stor0"].map { (name: String) in ReplayInput(path: directory + "/\(name).pcap", interfaceName: name) }))
        #expect(replay.result.totals == single[0].totals, "\(lab): one window against the replay")
        #expect(replay.result.verdict == single[0].verdict)
        #expect(replay.result.violations.count == single[0].violations.count)

        let frames = try ["mgmt0", "stor0"].map { try Self.frameCount(directory + "/\($0).pcap") }
        #expect(whole.frames == frames.reduce(0, +))
        var generator = SplitMix64(seed: 0x5EED_0000 &+ UInt64(lab.utf8.reduce(0) { $0 &* 31 &+ Int($1) } & 0xFFFF))
        for round in 0..<8 {
            // The same number of cuts on each interface, at random packets (from before the
            // first to after the last, some twice: empty windows).
            let cuts = Int.random(in: 1...12, using: &generator)
            let perInterface = frames.map { count in
                (0..<cuts).map { _ in Int.random(in: 0...count, using: &generator) }.sorted()
            }
            let (windowed, results) = try Self.sums(lab: lab, cutsPerInterface: perInterface)
            #expect(results.count == cuts + 1)
            let context = "\(lab) round \(round), cuts \(perInterface)"
            #expect(windowed.totals == whole.totals, "\(context): packets, bytes, decoded, truncated, undecodable")
            #expect(windowed.networks == whole.networks, "\(context)")
            #expect(windowed.flows == whole.flows, "\(context): every flow's packets, bytes and fragments")
            #expect(windowed.orphans == whole.orphans && windowed.frames == whole.frames, "\(context)")
            // Learned state carries across windows: a flow is what the whole read says from
            // the window it was recognised in on, never storage and then not again.
            for (key, sequence) in windowed.services {
                let final = try #require(whole.services[key]?.first)
                let recognised = sequence.drop { $0 == "other" && $0 != final }
                #expect(recognised.allSatisfy { $0 == final }, "\(context): \(key) was \(sequence), \(final) in one window")
                #expect(sequence.last == final, "\(context): \(key) was \(sequence), \(final) in one window")
            }
            #expect(windowed.storage[0] <= whole.storage[0] && windowed.storage[1] <= whole.storage[1])
            #expect(
                windowed.storage[0] + Self.earlyPackets(windowed) == whole.storage[0],
                "\(context): storage packets are those of one window but for flows' packets before their recognition")
        }
    }

    /// A reload at a cut: with the same protocol table the engine and what it learned stay
    /// (a flow already storage is judged again under the new policy's allow entries); with
    /// another table the engine starts again and the next window counts from zero; either way
    /// every packet is in exactly one window.
    @Test func reloadAtACutKeepsOrRestartsTheEngine() throws {
        let directory = packageRoot.path + "/captures/nfs-port"
        let policy = try Policy.load(path: directory + "/policy.yaml")
        let base = try String(contentsOfFile: directory + "/policy.yaml", encoding: .utf8)
        let allowing = try Policy.parse(base + "allow:\n  - {protocol: nfs}\n", path: "allowing.yaml")
        let otherPorts = try Policy.parse(base + "ports: {iscsi: [13260]}\n", path: "ports.yaml")
        #expect(ContinuousWatch.sameProtocolTable(policy.protocolTable, allowing.protocolTable))
        #expect(!ContinuousWatch.sameProtocolTable(policy.protocolTable, otherPorts.protocolTable))

        let total = try Self.frameCount(directory + "/mgmt0.pcap")
        for (next, restarts) in [(allowing, false), (otherPorts, true)] {
            var reader = LiveReader(name: "mgmt0", sourceIndex: 0, policy: policy, evidence: nil)
            var snapshots: [ReaderSnapshot] = []
            var count = 0
            var source: any FrameSource = try CaptureFile.open(path: directory + "/mgmt0.pcap")
            _ = source.read { frame in
                reader.ingest(frame)
                count += 1
                if count == total / 2 {
                    snapshots.append(
                        reader.cut(WindowControl.Request(generation: 1, policy: next), statistics: LiveCaptureStatistics()))
                }
            }
            snapshots.append(reader.cut(WindowControl.Request(generation: 2), statistics: LiveCaptureStatistics()))
            #expect(snapshots[1].epoch == snapshots[0].epoch + (restarts ? 1 : 0))
            var ledger = WindowLedger(readers: 1)
            let interface = [CaptureInterface(name: "mgmt0", linkType: .ethernet, snapLength: 262_144)]
            let first = ledger.close([snapshots[0]], names: ["mgmt0"], interfaces: interface, policy: policy, final: false)
            let second = ledger.close([snapshots[1]], names: ["mgmt0"], interfaces: interface, policy: next, final: true)
            #expect(first.frames[0] + second.frames[0] == total)
            let packets = [first, second].map { $0.observation.counters.reduce(0) { $0 + $1.packets } }
            #expect(packets == [total / 2, total - total / 2])
            let judged = [(policy, first), (next, second)].map { policy, window in
                var observation = window.observation
                return WatchSession.judge(&observation, names: ["mgmt0"], reports: [], checker: Checker(policy: policy), bufferBytes: 1 << 20)
            }
            let after = ledger.close(
                [reader.snapshot(statistics: LiveCaptureStatistics())], names: ["mgmt0"], interfaces: interface, policy: next,
                final: true)
            #expect(after.frames == [0] && after.observation.flows.isEmpty, "after the last cut nothing is left to count")
            #expect(judged[0].verdict == .fail, "NFS on management under the first policy")
            if restarts {
                // A new engine: the flows are new to it, but port 2049 still says NFS.
                #expect(judged[1].violations.count > 0)
            } else {
                #expect(judged[1].violations.isEmpty && !judged[1].allowed.isEmpty, "the reloaded allow entry applies")
            }
        }
    }
}

/// A reader bounded to `maxFlows` live flows finishes flows not seen for a while instead of
/// starting afresh: its engine never holds more than the bound, nothing it learned is lost
/// (no new epoch), and the windows still add up packet for packet, storage packet for
/// storage packet, flow by flow.
struct FlowBoundTests {
    @Test func aBoundedReaderFinishesFlowsAndTheWindowsStillAddUp() throws {
        let policy = try Policy.load(path: packageRoot.path + "/captures/clean/policy.yaml")
        let bound = 16
        var reader = LiveReader(name: "mgmt0", sourceIndex: 0, policy: policy, evidence: nil, maxFlows: bound)
        // 60 flows, each of 1 to 7 packets, interleaved (seeded): every fifth one NFS from a
        // management address (a violation), the rest other TCP.
        var random = SplitMix64(seed: 21)
        var pending: [(flow: Int, left: Int)] = (0..<60).map { ($0, 1 + Int(random.next() % 7)) }
        var order: [Int] = []
        while !pending.isEmpty {
            let pick = Int(random.next() % UInt64(pending.count))
            order.append(pending[pick].flow)
            pending[pick].left -= 1
            if pending[pick].left == 0 { pending.remove(at: pick) }
        }
        let nfsPackets = order.filter { $0 % 5 == 0 }.count
        var snapshots: [ReaderSnapshot] = []
        for (number, flow) in order.enumerated() {
            let bytes = FrameBuilder.frame(
                .ethernet(vlans: []), 6, "198.51.100.\(10 + flow)", UInt16(40_000 + flow), "198.51.100.200",
                flow % 5 == 0 ? 2049 : 8080, payload: 10)
            bytes.withUnsafeBytes { raw in
                reader.ingest(
                    Frame(
                        interface: nil, timestamp: Timestamp(nanoseconds: Int64(number) * 1_000_000), linkType: .ethernet,
                        wireLength: raw.count, bytes: raw, fileOffset: 0))
            }
            if number % 37 == 36 {
                snapshots.append(
                    reader.cut(WindowControl.Request(generation: snapshots.count + 1), statistics: LiveCaptureStatistics()))
            }
        }
        snapshots.append(reader.snapshot(statistics: LiveCaptureStatistics()))
        #expect(snapshots.allSatisfy { $0.epoch == 0 }, "nothing started afresh")
        #expect(snapshots.allSatisfy { $0.engine.tracker.liveFlows <= bound }, "never more live flows than the bound")
        #expect(snapshots.contains { !$0.engine.tracker.summarised.isEmpty }, "flows were finished to stay within the bound")
        var ledger = WindowLedger(readers: 1)
        var packets = 0
        var flowPackets = 0
        var storagePackets = 0
        var violationPackets = 0
        for (index, snapshot) in snapshots.enumerated() {
            let window = ledger.close(
                [snapshot], names: ["mgmt0"], interfaces: [CaptureInterface(name: "mgmt0", linkType: .ethernet, snapLength: 262_144)],
                policy: policy, final: index == snapshots.count - 1)
            packets += window.observation.counters.reduce(0) { $0 + $1.packets }
            flowPackets += window.observation.flows.reduce(0) { $0 + $1.packets }
                + window.observation.summarised.values.reduce(0) { $0 + $1.packets }
            #expect(window.observation.flows.allSatisfy { $0.packets > 0 })
            let result = Checker(policy: policy).check(window.observation)
            storagePackets += result.totals.storagePackets
            violationPackets += result.violations.reduce(0) { $0 + $1.packets } + result.summarisedViolations.packets
        }
        #expect(packets == order.count)
        #expect(flowPackets == order.count, "every packet in exactly one window's flows or summaries")
        #expect(storagePackets == nfsPackets)
        #expect(violationPackets == nfsPackets, "every NFS packet on management counted as a violation")
    }
}
