import Foundation
import TestSupport
import Testing

/// Nothing lost: every packet a replay reads is counted exactly once, as decoded, truncated
/// or undecodable, and the report's totals add up, in JSON and in text, on every sample
/// capture, on damaged copies of them and on random bytes. Frame counts are checked against
/// an independent count of the file's records (`RecordCount`), not against lanekeeper's.
@Suite struct AccountingTests {
    /// Every sample capture, with its scenario's policy and (for SLL2) its interface names.
    static let samples: [Sample] = {
        let root = packageRoot.appendingPathComponent("captures")
        let scenarios = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var samples: [Sample] = []
        for scenario in scenarios.sorted() {
            let directory = root.appendingPathComponent(scenario)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for file in files.sorted() where file.hasSuffix(".pcap") || file.hasSuffix(".pcapng") {
                samples.append(Sample(scenario: scenario, file: file))
            }
        }
        return samples
    }()

    @Test func thereAreSamples() {
        #expect(Self.samples.count >= 40, "captures/ should hold the lab's scenarios")
    }

    @Test(arguments: samples)
    func everySampleCaptureIsCountedOnce(_ sample: Sample) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sample.path)))
        let records = try #require(RecordCount.frames(in: bytes), "\(sample) is not a capture")
        #expect(records.damage == nil)
        let report = try replayReport(sample, capture: sample.path)
        #expect([0, 1, 2].contains(report.status))
        try expectTotalsAddUp(report, frames: records.frames, sample: sample)
    }

    /// Damaged copies: packet bytes changed, a record header damaged in the middle, the file
    /// cut inside a record. The frames before the damage are all counted, once.
    @Test(arguments: samples.filter { $0.scenario == "clean" || $0.scenario == "vxlan-leak" })
    func damagedCopiesAreCountedOnce(_ sample: Sample) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sample.path)))
        let boundaries = try #require(RecordCount.boundaries(in: original))
        var generator = SplitMix64(seed: UInt64(truncatingIfNeeded: sample.file.utf8.count * 7919 + original.count))
        let scratch = try TemporaryDirectory("lk-accounting")
        let temporary = scratch.path

        var copies: [(name: String, bytes: [UInt8])] = []
        // One byte in a hundred of packet data replaced (headers kept, like editcap -E).
        var flipped = original
        let pcapng = RecordCount.isPcapng(original)
        for (start, end) in zip(boundaries.dropLast(), boundaries.dropFirst()) where end - start > 36 {
            // Packet data only: past a record's (or an Enhanced Packet Block's) header, before a block's trailer.
            if pcapng && Array(original[start..<(start + 4)]) != [6, 0, 0, 0] { continue }
            for _ in 0..<((end - start) / 100 + 1) {
                let at = Int.random(in: (start + 28)..<(end - 4), using: &generator)
                flipped[at] = UInt8.random(in: 0...255, using: &generator)
            }
        }
        copies.append(("flipped", flipped))
        // Cut one byte into the record in the middle, and at a random offset.
        let middle = boundaries[(boundaries.count - 1) / 2]  // a record starts here (never the file's end)
        copies.append(("cut-\(middle + 1)", Array(original[..<(middle + 1)])))
        let random = Int.random(in: 0...original.count, using: &generator)
        copies.append(("cut-\(random)", Array(original[..<random])))
        // The middle record's length field overwritten with 0xFFFFFFF0.
        var lying = original
        let lengthAt = middle + (RecordCount.isPcapng(original) ? 4 : 8)
        for index in lengthAt..<min(lengthAt + 4, lying.count) { lying[index] = index == lengthAt ? 0xF0 : 0xFF }
        copies.append(("lying-length", lying))

        for copy in copies {
            let path = temporary + "/" + copy.name + "-" + sample.file
            try Data(copy.bytes).write(to: URL(fileURLWithPath: path))
            let report = try replayReport(sample, capture: path)
            guard let records = RecordCount.frames(in: copy.bytes) else {
                // Too little left for a file header: an unusable capture, named with its offset.
                #expect(report.status == 65, "\(copy.name): \(report.stderr)")
                #expect(report.stderr.contains(path) && report.stderr.contains("at byte"), "\(report.stderr)")
                continue
            }
            #expect([0, 1, 2].contains(report.status), "\(copy.name): status \(report.status) \(report.stderr)")
            try expectTotalsAddUp(report, frames: records.frames, sample: sample, context: copy.name)
            if let damage = records.damage {
                let capture = try #require((report.json["captures"] as? [[String: Any]])?.first)
                #expect(capture["end"] as? String != "complete", "\(copy.name): damage at \(damage) not reported")
                #expect(capture["offset"] as? Int == damage, "\(copy.name): \(capture)")
            }
        }
    }

    /// A valid file header followed by random bytes, for every link type: a verdict whose
    /// totals add up, or exit 65 naming the file and the offset.
    @Test(arguments: [1, 113, 276, 101, 228, 229, 0, 108, 147] as [UInt32])
    func randomBytesAfterAHeaderAreCountedOnce(linkType: UInt32) throws {
        var generator = SplitMix64(seed: 0xACC0_0000 + UInt64(linkType))
        let scratch = try TemporaryDirectory("lk-accounting")
        let temporary = scratch.path
        let sample = Sample(scenario: "clean", file: "random")
        for round in 0..<4 {
            var body = (0..<Int.random(in: 0...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var header: [UInt8]
            if round % 2 == 0 {
                header = RecordCount.pcapHeader(linkType: linkType)
                // Plausible record headers now and then, so frames get through to the decoder.
                var at = 0
                while at + 16 <= body.count {
                    let length = UInt32.random(in: 0...200, using: &generator)
                    body.replaceSubrange((at + 8)..<(at + 16), with: RecordCount.le32(length) + RecordCount.le32(length))
                    at += 16 + Int(length)
                }
            } else {
                header = RecordCount.pcapngHeader(linkType: linkType)
            }
            let bytes = header + body
            let path = temporary + "/random-\(round).cap"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let report = try replayReport(sample, capture: path)
            if report.status == 65 {
                #expect(report.stderr.contains(path) && report.stderr.contains("at byte"), "\(report.stderr)")
                continue
            }
            #expect([0, 1, 2].contains(report.status), "status \(report.status): \(report.stderr)")
            let records = try #require(RecordCount.frames(in: bytes))
            try expectTotalsAddUp(report, frames: records.frames, sample: sample, context: "random \(round)")
        }
    }

    // MARK: - Helpers

    struct Report {
        var status: Int32
        var json: [String: Any]
        var text: String
        var stderr: String
    }

    /// Replays `capture` with the sample's policy, once as JSON and once as text.
    func replayReport(_ sample: Sample, capture: String) throws -> Report {
        let arguments = ["replay", "--policy", sample.policy] + sample.ifindexArguments
        let json = try run(binary, arguments + ["--format", "json", capture])
        guard json.status != 65 else { return Report(status: 65, json: [:], text: "", stderr: json.stderr) }
        let text = try run(binary, arguments + [capture])
        #expect(text.status == json.status)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8))
        let object = try #require(parsed as? [String: Any], "\(json.stderr)")
        return Report(status: json.status, json: object, text: text.stdout, stderr: json.stderr)
    }

    func expectTotalsAddUp(
        _ report: Report, frames: Int, sample: Sample, context: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let where_ = "\(sample) \(context)"
        let totals = try #require(report.json["totals"] as? [String: Int], sourceLocation: sourceLocation)
        let packets = totals["packets"] ?? -1
        #expect(packets == frames, "\(where_): \(packets) packets counted, the file holds \(frames)", sourceLocation: sourceLocation)
        #expect(packets == (totals["decoded"] ?? 0) + (totals["truncated"] ?? 0) + (totals["undecodable"] ?? 0),
                "\(where_): \(totals)", sourceLocation: sourceLocation)
        let captures = report.json["captures"] as? [[String: Any]] ?? []
        #expect(captures.reduce(0) { $0 + ($1["frames"] as? Int ?? 0) } == packets, "\(where_)", sourceLocation: sourceLocation)

        let interfaces = report.json["interfaces"] as? [[String: Any]] ?? []
        func sum(_ list: [[String: Any]], _ key: String) -> Int { list.reduce(0) { $0 + ($1[key] as? Int ?? 0) } }
        for key in ["packets", "bytes", "decoded", "truncated", "undecodable", "storage_packets", "storage_bytes"] {
            #expect(sum(interfaces, key) == totals[key], "\(where_): interfaces' \(key)", sourceLocation: sourceLocation)
        }
        for interface in interfaces {
            #expect(
                interface["packets"] as? Int
                    == sum([interface], "decoded") + sum([interface], "truncated") + sum([interface], "undecodable"),
                "\(where_): \(interface)", sourceLocation: sourceLocation)
        }
        let networks = report.json["networks"] as? [[String: Any]] ?? []
        #expect(sum(networks, "packets") <= packets, "\(where_)", sourceLocation: sourceLocation)
        #expect(sum(networks, "storage_packets") <= totals["storage_packets"] ?? 0, "\(where_)", sourceLocation: sourceLocation)
        #expect((totals["storage_packets"] ?? 0) <= packets && (totals["storage_flows"] ?? 0) <= (totals["flows"] ?? 0),
                "\(where_): \(totals)", sourceLocation: sourceLocation)

        // The text report's totals line says the same.
        let line = "Totals: \(packets) packets (\(totals["decoded"] ?? -1) decoded, \(totals["truncated"] ?? -1) truncated, "
            + "\(totals["undecodable"] ?? -1) undecodable), \(totals["flows"] ?? -1) flows, "
            + "\(totals["storage_flows"] ?? -1) storage flows, \(totals["storage_packets"] ?? -1) storage packets"
        #expect(report.text.contains(line), "\(where_): text report lacks \(line)", sourceLocation: sourceLocation)
    }
}

struct Sample: Sendable, CustomTestStringConvertible {
    var scenario: String
    var file: String

    var testDescription: String { "\(scenario)/\(file)" }
    var directory: String { "captures/\(scenario)" }
    var path: String { packageRoot.appendingPathComponent("\(directory)/\(file)").path }
    var policy: String { "\(directory)/policy.yaml" }

    /// `--ifindex N=NAME` for each line of the scenario's ifindex.txt, for SLL2 captures.
    var ifindexArguments: [String] {
        guard file.contains("sll2"),
            let text = try? String(contentsOfFile: packageRoot.appendingPathComponent("\(directory)/ifindex.txt").path, encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").flatMap { line -> [String] in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? ["--ifindex", "\(parts[0])=\(parts[1])"] : []
        }
    }
}

/// An independent count of a capture's packet records (not lanekeeper's readers): classic
/// pcap records, pcapng Enhanced, Simple and obsolete Packet Blocks.
enum RecordCount {
    static func isPcapng(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0x0A, 0x0D, 0x0D, 0x0A]) }

    static func u32(_ bytes: [UInt8], _ at: Int, little: Bool) -> Int {
        let word = bytes[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | Int($1) }
        let big = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
        return little ? word : big
    }

    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// Offsets of the file header's end and of every whole record's end, or nil when the
    /// file header is incomplete or unknown.
    static func boundaries(in bytes: [UInt8]) -> [Int]? {
        scan(bytes)?.boundaries
    }

    /// The number of whole packet records, and the offset of the first record that is not
    /// whole or not sane (nil when the file ends cleanly).
    static func frames(in bytes: [UInt8]) -> (frames: Int, damage: Int?)? {
        scan(bytes).map { ($0.frames, $0.damage) }
    }

    private static func scan(_ bytes: [UInt8]) -> (boundaries: [Int], frames: Int, damage: Int?)? {
        guard bytes.count >= 4 else { return nil }
        if isPcapng(bytes) {
            guard bytes.count >= 12 else { return nil }
            var little = bytes[8] == 0x4D
            var at = 0
            var marks: [Int] = []
            var frames = 0
            while at < bytes.count {
                guard bytes.count - at >= 12 else { return (marks, frames, at) }
                if Array(bytes[at..<(at + 4)]) == [0x0A, 0x0D, 0x0D, 0x0A] { little = bytes[at + 8] == 0x4D }
                let type = u32(bytes, at, little: little)
                let length = u32(bytes, at + 4, little: little)
                guard length >= 12, length % 4 == 0, length <= bytes.count - at,
                    u32(bytes, at + length - 4, little: little) == length
                else {
                    if at == 0 { return nil }
                    return (marks, frames, at)
                }
                if type == 6 || type == 3 || type == 2 { frames += 1 }
                at += length
                marks.append(at)
            }
            return (marks, frames, nil)
        }
        let magic = u32(bytes, 0, little: false)
        let little: Bool
        switch magic {
        case 0xA1B2_C3D4, 0xA1B2_3C4D: little = false
        case 0xD4C3_B2A1, 0x4D3C_B2A1: little = true
        default: return nil
        }
        guard bytes.count >= 24 else { return nil }
        var at = 24
        var marks = [24]
        var frames = 0
        while at < bytes.count {
            guard bytes.count - at >= 16 else { return (marks, frames, at) }
            let captured = u32(bytes, at + 8, little: little)
            guard captured <= 262_144, captured <= bytes.count - at - 16 else { return (marks, frames, at) }
            frames += 1
            at += 16 + captured
            marks.append(at)
        }
        return (marks, frames, nil)
    }

    /// A little-endian microsecond pcap file header.
    static func pcapHeader(linkType: UInt32) -> [UInt8] {
        PcapBytes.header(bigEndian: false, nanoseconds: false, linkType: linkType, snapLength: 262_144)
    }

    /// A little-endian Section Header Block and one Interface Description Block.
    static func pcapngHeader(linkType: UInt32) -> [UInt8] {
        PcapngBytes.shb() + PcapngBytes.idb(linkType: UInt16(truncatingIfNeeded: linkType))
    }
}
