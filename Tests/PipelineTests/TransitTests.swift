import Capture
import Check
import Foundation
import Pipeline
import Policy
import Report
import TestSupport
import Testing

/// `host_addresses`: storage between two machines that are not the host (a VM's NFS across
/// the management bridge the host merely bridges) is transit, reported, never a violation.
@Suite struct TransitTests {
    static let policyYAML = """
        version: 1
        networks:
          management:
            interfaces: [mgmt0]
            subnets: [198.51.100.0/24]
          storage:
            interfaces: [stor0]
            subnets: [203.0.113.0/24]
        """
    static let hostAddresses = "\nhost_addresses: [198.51.100.10, 203.0.113.11]\n"

    /// The lab's clean capture with its storage interface's frames (real libnfs NFS to a
    /// real ganesha, 203.0.113.10 -> .20) seen on mgmt0 instead: what a VM at 203.0.113.10
    /// on the management bridge looks like to the host. `hostSession` adds the host's own
    /// NFS (198.51.100.10 -> 198.51.100.30:2049) on mgmt0 as well.
    static func capture(hostSession: Bool, in dir: TemporaryDirectory) throws -> String {
        var packets = try Fixtures.readPackets(labCaptures + "/clean/host.pcapng").map { packet in
            var moved = packet
            moved.interface = "mgmt0"
            return moved
        }
        if hostSession {
            packets += conversation(client: "198.51.100.10", 702, server: "198.51.100.30", 2049, data: 2,
                                    interface: "mgmt0", start: packets.last!.seconds + 1)
        }
        let path = dir.file(hostSession ? "vm-and-host.pcapng" : "vm.pcapng")
        try Fixtures.writePcapng(path, packets)
        return path
    }

    /// The storage flows and packets of the lab's clean capture, as lanekeeper counts them there.
    static func labStorage() throws -> (flows: Int, packets: Int) {
        let policy = try Policy.load(path: labCaptures + "/clean/policy.yaml")
        let result = try replay(policy, [labCaptures + "/clean/host.pcapng"]).result
        return (result.totals.storageFlows, result.totals.storagePackets)
    }

    @Test func aGuestsNFSAcrossTheManagementBridgeIsTransit() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.capture(hostSession: false, in: dir)
        let outcome = try replay(Policy.parse(Self.policyYAML + Self.hostAddresses, path: "p.yaml"), [path],
                                 evidence: dir.file("evidence.pcapng"))
        let result = outcome.result
        #expect(result.verdict == .pass, "\(result.reasons)")
        #expect(result.violations.isEmpty)
        // Every storage flow of the lab's session (portmapper, MOUNT, NFSv3 and v4) is transit.
        let lab = try Self.labStorage()
        #expect(result.transit.count == lab.flows)
        #expect(result.transit.allSatisfy { $0.client.address.description == "203.0.113.10" })
        #expect(result.transit.contains { $0.server.description == "203.0.113.20:2049" })
        let management = try #require(network(result, "management"))
        #expect(management.transitFlows == lab.flows)
        #expect(management.transitPackets == lab.packets)
        #expect(management.storagePackets == lab.packets)
        #expect(result.warnings.contains { $0.contains("transit") && $0.contains("203.0.113.10") })
        #expect(outcome.evidencePackets == 0)
        let json = JSONReport.render(result)
        #expect(json.contains("\"transit\": [") && json.contains("\"transit_flows\": \(lab.flows)"))
        #expect(TextReport.render(result).contains("Transit: another machine's storage"))
    }

    @Test func withoutHostAddressesTheSameCaptureFails() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.capture(hostSession: false, in: dir)
        let result = try replay(Policy.parse(Self.policyYAML, path: "p.yaml"), [path]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.count == (try Self.labStorage()).flows)
        #expect(result.transit.isEmpty)
    }

    @Test func theHostsOwnNFSStillFails() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.capture(hostSession: true, in: dir)
        let result = try replay(Policy.parse(Self.policyYAML + Self.hostAddresses, path: "p.yaml"), [path]).result
        #expect(result.verdict == .fail)
        #expect(result.violations.map(\.server.description) == ["198.51.100.30:2049"])
        #expect(result.transit.count == (try Self.labStorage()).flows)
    }

    @Test func anEmptyOrBadListIsRefused() throws {
        #expect(throws: PolicyError.self) { try Policy.parse(Self.policyYAML + "\nhost_addresses: []\n", path: "p.yaml") }
        do {
            _ = try Policy.parse(Self.policyYAML + "\nhost_addresses: [198.51.100.10, 198.51.100.0/24]\n", path: "p.yaml")
            Issue.record("a prefix was accepted")
        } catch {
            #expect(error.description.contains("host_addresses[1]"), "\(error)")
        }
        let policy = try Policy.parse(Self.policyYAML + Self.hostAddresses, path: "p.yaml")
        #expect(policy.hostAddresses?.count == 2)
        #expect(try Policy.parse(Self.policyYAML, path: "p.yaml").hostAddresses == nil)
    }
}
