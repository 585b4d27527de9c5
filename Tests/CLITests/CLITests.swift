import TestSupport
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

func lanekeeper(_ arguments: String...) throws -> Run {
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build lanekeeper first (swift build)")
    return try run(binary, arguments)
}


@Suite struct ExitStatusTests {
    @Test func verdictsAreExitStatuses() throws {
        let clean = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "captures/clean/host.pcapng")
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.hasPrefix("lanekeeper PASS"))
        let leak = try lanekeeper("replay", "--policy", "captures/leak-address/policy.yaml", "captures/leak-address/host.pcapng")
        #expect(leak.status == 1)
        #expect(leak.stdout.hasPrefix("lanekeeper FAIL"))
        #expect(leak.stdout.contains("Violations"))
        // The SLL2 capture without its interface names cannot be attributed: inconclusive.
        let blind = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "captures/clean/any-sll2.pcap")
        #expect(blind.status == 2)
        #expect(blind.stdout.contains("--ifindex"))
    }

    @Test func usageErrorsExit64() throws {
        #expect(try lanekeeper().status == 64)
        #expect(try lanekeeper("replay", "--policy", "captures/clean/policy.yaml").status == 64)
        let badIfindex = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "--ifindex", "x=eth0", "a.pcap")
        #expect(badIfindex.status == 64)
        #expect(badIfindex.stderr.contains("N=NAME"))
        let badErspan = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "--erspan", "1024=eth1", "a.pcap")
        #expect(badErspan.status == 64)
        #expect(badErspan.stderr.contains("--erspan 1024=eth1: expected SESSION=NAME"))
        let twice = try lanekeeper(
            "replay", "--policy", "captures/clean/policy.yaml", "--erspan", "5=eth1", "--erspan", "5=eth2", "a.pcap")
        #expect(twice.status == 64 && twice.stderr.contains("--erspan 5 is given twice (eth1 and eth2)"))
        #expect(try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "--format", "xml", "a.pcap").status == 64)
    }

    /// A misspelt option is named, even when the option it was meant to be is required.
    @Test func anUnknownOptionIsNamedEvenWhenARequiredOneIsMissing() throws {
        for arguments in [["watch", "--polcy", "p.yaml"], ["replay", "--polcy", "p.yaml", "a.pcap"], ["watch", "--polcy", "p.yaml", "--", "true"]] {
            let result = try run(binary, arguments)
            #expect(result.status == 64)
            #expect(result.stderr.contains("Unknown option '--polcy'"), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Missing expected argument"), "\(result.stderr)")
        }
        // Only missing: said so.
        let missing = try lanekeeper("watch", "--duration", "1")
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("Missing expected argument '--policy"), "\(missing.stderr)")
    }

    @Test func missingFilesExit66() throws {
        let noPolicy = try lanekeeper("replay", "--policy", "/nonexistent/p.yaml", "captures/clean/host.pcapng")
        #expect(noPolicy.status == 66)
        #expect(noPolicy.stderr.contains("/nonexistent/p.yaml"))
        let noCapture = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", "/nonexistent/c.pcap")
        #expect(noCapture.status == 66)
        #expect(noCapture.stderr.contains("/nonexistent/c.pcap"))
        #expect(try lanekeeper("check", "/nonexistent/dir").status == 66)
    }

    @Test func unusableInputExits65NamingTheFileAndWhere() throws {
        let junk = temporaryPath("junk.pcap")
        try Data("this is not a capture at all".utf8).write(to: URL(fileURLWithPath: junk))
        defer { try? FileManager.default.removeItem(atPath: junk) }
        let garbage = try lanekeeper("replay", "--policy", "captures/clean/policy.yaml", junk)
        #expect(garbage.status == 65)
        #expect(garbage.stderr.contains(junk))

        let policy = temporaryPath("overlap.yaml")
        try """
            version: 1
            networks:
              management:
                interfaces: [mgmt0]
                subnets: [198.51.100.0/24]
              storage:
                interfaces: [stor0]
                subnets: [198.51.100.128/25]
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let overlap = try lanekeeper("replay", "--policy", policy, "captures/clean/host.pcapng")
        #expect(overlap.status == 65)
        #expect(overlap.stderr.contains("\(policy):8:"), "\(overlap.stderr)")
        #expect(overlap.stderr.contains("198.51.100.0/24"))
    }
}

@Suite struct OutputTests {
    @Test func jsonGoesToTheOutputFileAndEvidenceOpensInTshark() throws {
        let report = temporaryPath("report.json")
        let evidence = temporaryPath("evidence.pcapng")
        defer {
            try? FileManager.default.removeItem(atPath: report)
            try? FileManager.default.removeItem(atPath: evidence)
        }
        let result = try lanekeeper(
            "replay", "--policy", "captures/leak-address/policy.yaml", "--format", "json", "--output", report,
            "--evidence", evidence, "mgmt0=captures/leak-address/mgmt0.pcap", "stor0=captures/leak-address/stor0.pcap")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(json["verdict"] as? String == "fail")
        let violations = try #require(json["violations"] as? [[String: Any]])
        let violating = violations.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) }
        #expect(violating > 0)

        // Wireshark's own reader sees every evidence packet, on the interface it was seen on.
        let tshark = URL(fileURLWithPath: "/usr/bin/tshark")
        try #require(FileManager.default.isExecutableFile(atPath: tshark.path), "tshark is needed (scripts/install-deps --test)")
        let fields = try run(tshark, ["-r", evidence, "-T", "fields", "-e", "frame.interface_name"])
        #expect(fields.status == 0, "\(fields.stderr)")
        let names = fields.stdout.split(separator: "\n")
        #expect(names.count == violating)
        #expect(Set(names) == ["mgmt0"])
    }

    @Test func checkWritesValidJUnit() throws {
        let output = temporaryPath("junit.xml")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try lanekeeper("check", "captures", "--format", "junit", "--output", output)
        #expect(result.status == 0, "\(result.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        let parser = XMLParser(data: data)
        #expect(parser.parse())
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("failures=\"0\" errors=\"0\""))
        #expect(text.contains("<testcase classname=\"clean\" name=\"pcapng\""))
    }
}
