import Check
import Foundation
import Pipeline
import Policy
import Testing

/// The repository's `captures/` directory (this file is Tests/PipelineTests/LabCaptureTests.swift).
let labCaptures: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("captures").path
}()

/// Replays a lab scenario's multi-interface pcapng against its policy.
func replayLab(_ scenario: String) throws -> CheckResult {
    let directory = labCaptures + "/" + scenario
    let policy = try Policy.load(path: directory + "/policy.yaml")
    return try Replay.run(ReplayConfiguration(policy: policy, inputs: [ReplayInput(path: directory + "/host.pcapng")])).result
}

/// Storage found by what it says, on captures of real servers and clients (issue 5).
@Suite struct DeepClassificationOnLabCaptures {
    @Test func nfsOnANonStandardPortIsFoundByItsRPCCalls() throws {
        let result = try replayLab("nfs-port")
        #expect(result.verdict == .fail)
        let nfs = result.violations.filter { $0.server.port == 12049 }
        #expect(!nfs.isEmpty)
        #expect(nfs.allSatisfy { $0.service == "nfs" && $0.recognition.hasPrefix("rpc program 100003") })
        #expect(nfs.allSatisfy { $0.interface == "mgmt0" && $0.server.address.description == "198.51.100.20" })
    }

    @Test func iscsiOnAPortThePolicyDoesNotNameIsFoundByItsLogin() throws {
        let result = try replayLab("iscsi-port-leak")
        #expect(result.verdict == .fail)
        let iscsi = result.violations.filter { $0.protocolName == "iscsi" }
        #expect(!iscsi.isEmpty)
        #expect(iscsi.allSatisfy { $0.server.port == 13260 && $0.recognition == "iscsi login" })
    }

    @Test func mountWithoutAPortmapperExchangeIsFoundByItsCalls() throws {
        let result = try replayLab("mount-only")
        #expect(result.verdict == .fail)
        let mount = result.violations.filter { $0.service == "mount" }
        #expect(Set(mount.map(\.transport)) == ["tcp", "udp"])
        #expect(mount.allSatisfy { $0.server.port == 20048 && $0.recognition.hasPrefix("rpc program 100005") })
        #expect(!result.violations.contains { $0.service == "portmapper" })
    }

    @Test func storageInsideVXLANOnTheManagementNetworkIsReportedWithBothAddresses() throws {
        let result = try replayLab("vxlan-leak")
        #expect(result.verdict == .fail)
        #expect(!result.violations.isEmpty)
        for violation in result.violations {
            let tunnel = try #require(violation.tunnel)
            #expect(tunnel.kind == "vxlan" && tunnel.id == 42)
            #expect(tunnel.outerClient.description == "198.51.100.10")
            #expect(tunnel.outerServer.description == "198.51.100.20")
            #expect(violation.client.address.description == "192.0.2.10")
            #expect(violation.server.address.description == "192.0.2.20")
        }
        #expect(Set(result.violations.map(\.protocolName)) == ["nfs", "iscsi"])
    }

    @Test func portmapperMappingsNameTheHelperPortsInTheCleanCapture() throws {
        // In the clean capture MOUNT's port comes from a GETPORT reply before its first call.
        let result = try replayLab("clean")
        #expect(result.verdict == .pass)
        let storage = try #require(result.networks.first { $0.name == "storage" })
        #expect(storage.byProtocol.map(\.protocolName).sorted() == ["iscsi", "nfs"])
    }
}
