import Check
import Expectations
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Policy
import TestSupport
import Testing

/// The repository's `captures/` directory (this file is Tests/ExpectationsTests/ExpectationTests.swift).
let capturesDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("captures").path
}()

@Suite struct ExpectationParsingTests {
    @Test func aFullExpectationParses() throws {
        let text = """
            description: clean host, pcapng
            policy: policy.yaml
            captures: [host.pcapng, stor0=stor0.pcap, /abs/any.pcap]
            ifindex: {2: mgmt0, 3: stor0}
            erspan: {5: eth1}
            verdict: fail
            storage_packets: {management: 12, storage: 0}
            violations: 2
            """
        let e = try Expectation.parse(text, path: "/x/clean/pcapng.expect.yaml")
        #expect(e.description == "clean host, pcapng")
        #expect(e.policyPath == "/x/clean/policy.yaml")
        #expect(e.captures.map(\.path) == ["/x/clean/host.pcapng", "/x/clean/stor0.pcap", "/abs/any.pcap"])
        #expect(e.captures.map(\.interfaceName) == [nil, "stor0", nil])
        #expect(e.ifindexNames == [2: "mgmt0", 3: "stor0"])
        #expect(e.erspanNames == [5: "eth1"])
        #expect(e.verdict == .fail)
        #expect(e.storagePackets.map(\.network) == ["management", "storage"])
        #expect(e.storagePackets.map(\.packets) == [12, 0])
        #expect(e.violations == 2)
    }

    @Test(arguments: [
        ("policy: p.yaml\ncaptures: [a.pcap]\n", 1, "verdict", "the required key \"verdict\" is missing"),
        ("policy: p.yaml\ncaptures: [a.pcap]\nverdict: passed\n", 3, "verdict", "\"passed\" is not a verdict"),
        ("policy: p.yaml\ncaptures: a.pcap\nverdict: pass\n", 2, "captures", "expected a list"),
        ("policy: p.yaml\ncaptures: [a.pcap]\nverdict: pass\nstorage_packet: {}\n", 4, "storage_packet", "did you mean \"storage_packets\""),
        ("policy: p.yaml\ncaptures: [a.pcap]\nverdict: pass\nifindex: {x: eth0}\n", 4, "ifindex.x", "not an interface index"),
        ("policy: p.yaml\ncaptures: [a.pcap]\nverdict: pass\nerspan: {1024: eth1}\n", 4, "erspan.1024", "not an ERSPAN session ID"),
        ("policy: p.yaml\ncaptures: [a.pcap]\nverdict: pass\nstorage_packets: {storage: many}\n", 4, "storage_packets.storage", "expected an integer"),
    ])
    func badExpectationsNameTheLineAndKey(text: String, line: Int, key: String, message: String) {
        do {
            _ = try Expectation.parse(text, path: "e.expect.yaml")
            Issue.record("expected an error for \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.key == key)
            #expect(error.description.contains(message), "\(error.description)")
            #expect(error.description.hasPrefix("e.expect.yaml:\(line):"))
        }
    }
}

@Suite struct SampleCaptureTests {
    /// Every sample capture, made by the lab from real NFS and iSCSI peers, replays to the
    /// verdict and the storage packet counts tshark counted when it was made.
    @Test func everySampleCaptureMatchesItsExpectation() throws {
        let files = try CheckRun.expectationFiles(under: capturesDirectory)
        #expect(files.count >= 6, "the lab's sample captures are missing from \(capturesDirectory)")
        for file in files {
            let result = CheckRun.run(file: file, root: capturesDirectory)
            #expect(result.error == nil, "\(result.name): \(result.error ?? "")")
            #expect(result.failures.isEmpty, "\(result.name): \(result.failures.joined(separator: "; "))")
        }
    }

    @Test func samplesCoverPassAndFailAndEveryInputForm() throws {
        let expectations = try CheckRun.expectationFiles(under: capturesDirectory).map { try Expectation.load(path: $0) }
        #expect(expectations.contains { $0.verdict == .pass })
        #expect(expectations.contains { $0.verdict == .fail })
        #expect(expectations.contains { $0.captures.contains { $0.path.hasSuffix(".pcapng") } })
        #expect(expectations.contains { $0.captures.contains { $0.interfaceName != nil } })
        #expect(expectations.contains { !$0.ifindexNames.isEmpty })
    }

    @Test func aMismatchIsReportedAsAFailureNotAnError() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let expectation = """
            policy: \(capturesDirectory)/clean/policy.yaml
            captures: [\(capturesDirectory)/clean/host.pcapng]
            verdict: fail
            storage_packets: {management: 1}
            """
        try expectation.write(toFile: dir + "/wrong.expect.yaml", atomically: true, encoding: .utf8)
        try "verdict: [".write(toFile: dir + "/broken.expect.yaml", atomically: true, encoding: .utf8)
        let results = try CheckRun.expectationFiles(under: dir).map { CheckRun.run(file: $0, root: dir) }
        #expect(results.map(\.name) == ["broken", "wrong"])
        #expect(results[0].error?.contains("broken.expect.yaml:") == true)
        #expect(results[1].error == nil)
        #expect(results[1].failures.contains { $0.hasPrefix("verdict: expected fail, got pass") })
        #expect(results[1].failures.contains("storage_packets.management: expected 1, got 0"))

        // JUnit XML that an XML parser accepts, with one failure and one error.
        let xml = CheckReports.junit(results)
        let parser = XMLParser(data: Data(xml.utf8))
        #expect(parser.parse(), "JUnit output is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        #expect(xml.contains("tests=\"2\" failures=\"1\" errors=\"1\""))
        #expect(xml.contains("<testcase classname=\"captures\" name=\"wrong\""))
    }
}
