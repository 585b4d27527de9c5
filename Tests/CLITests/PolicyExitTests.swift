import Foundation
import TestSupport
import Testing

/// A policy that cannot be used stops `replay` and `audit` with exit 65 and one line naming
/// the file, the line, the column and the key (PolicyTests checks every message; this checks
/// what reaches the command line).
@Suite struct PolicyExitTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        /// What stderr must say after "lanekeeper: PATH".
        var diagnostic: String
        var testDescription: String { name }
    }

    static let header = "version: 1\nnetworks:\n  management: {interfaces: [mgmt0]}\n"

    static let cases: [Case] = [
        Case(name: "malformed YAML", yaml: header + "  storage: {interfaces: [stor0}\n",
             diagnostic: ":4:31: YAML syntax error: did not find expected ',' or ']'"),
        Case(name: "unknown key", yaml: header + "storage_protocol: [nfs]\n",
             diagnostic: ":4:1: storage_protocol: unknown key \"storage_protocol\"; did you mean \"storage_protocols\"?"),
        Case(name: "wrong type", yaml: header + "  storage: {vlans: [\"42\"]}\n",
             diagnostic: ":4:21: networks.storage.vlans[0]: expected an integer, found the string \"42\""),
        Case(name: "IPv4 prefix length 33", yaml: header + "  storage: {subnets: [203.0.113.0/33]}\n",
             diagnostic: ":4:23: networks.storage.subnets[0]: \"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)"),
        Case(name: "octet 300", yaml: header + "  storage: {subnets: [300.1.2.3/32]}\n",
             diagnostic: ":4:23: networks.storage.subnets[0]: \"300.1.2.3/32\" is not a CIDR prefix"),
        Case(name: "IPv6 prefix length 129", yaml: header + "  storage: {subnets: [\"::/129\"]}\n",
             diagnostic: ":4:23: networks.storage.subnets[0]: \"::/129\" is not a CIDR prefix (prefix length 129 > 128)"),
        Case(name: "host bits set", yaml: header + "  storage: {subnets: [203.0.113.7/24]}\n",
             diagnostic: ":4:23: networks.storage.subnets[0]: \"203.0.113.7/24\" has host bits set; did you mean 203.0.113.0/24?"),
        Case(name: "overlapping networks",
             yaml: "version: 1\nnetworks:\n  management: {subnets: [198.51.100.0/24]}\n"
                + "  storage: {subnets: [198.51.100.64/26]}\n",
             diagnostic: ":4:23: networks.storage.subnets[0]: storage subnet 198.51.100.64/26 overlaps management subnet "
                + "198.51.100.0/24 (line 3)"),
        Case(name: "nesting too deep", yaml: "version: 1\nnetworks: " + String(repeating: "{a: ", count: 5000) + "1"
                + String(repeating: "}", count: 5000) + "\n",
             diagnostic: ":2:4003: YAML syntax error: Maximum nesting level reached"),
        Case(name: "empty file", yaml: "", diagnostic: ": the policy is empty"),
    ]

    @Test(arguments: cases)
    func replayExits65NamingWhere(_ policyCase: Case) throws {
        let path = temporaryPath("policy.yaml")
        try policyCase.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for command in [["replay", "--policy", path, "captures/clean/mgmt0.pcap"], ["audit", "--policy", path]] {
            let result = try run(binary, command)
            #expect(result.status == 65, "\(command[0]): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(command[0])")
            #expect(result.stderr.hasPrefix("lanekeeper: \(path)\(policyCase.diagnostic)"), "\(command[0]): \(result.stderr)")
        }
    }

    @Test func bytesThatAreNotTextExit65() throws {
        let path = temporaryPath("binary.yaml")
        try Data([0xFF, 0xFE, 0x00, 0x01, 0x80, 0x81]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try run(binary, ["replay", "--policy", path, "captures/clean/mgmt0.pcap"])
        #expect(result.status == 65)
        #expect(result.stderr.contains("\(path): is not UTF-8 text"), "\(result.stderr)")
    }
}
