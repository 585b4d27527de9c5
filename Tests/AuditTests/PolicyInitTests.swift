import Audit
import Check
import Decode
import Foundation
import Policy
import TestSupport
import Testing

/// `policy init`: never an example interface that already has a role, the agent's missing
/// bridges named, CloudStack's Storage traffic type described as it is, NFS mounts reached
/// over management marked with how to allow secondary storage.
@Suite struct PolicyInitTests {
    static func agent(_ text: String) -> (path: String, properties: [String: String]) {
        ("/etc/cloudstack/agent/agent.properties", JavaProperties.parse(text))
    }

    static func write(_ host: String, agent: (path: String, properties: [String: String])?, mountinfo: String = "/dev/null")
        throws -> (text: String, input: PolicyWriter.Input)
    {
        let survey = try HostSurvey.take(HostPaths(fixture: fixture(host), sysfsRoot: "/nonexistent", mountinfo: mountinfo))
        var input = PolicyWriter.Input(host: survey.host, targets: survey.targets, agent: agent, origin: "in a test")
        input.problems = survey.problems.map(\.description)
        return (PolicyWriter.write(input), input)
    }

    /// The text between the NO STORAGE NETWORK banner and the networks.
    static func banner(_ text: String) -> String {
        guard let start = text.range(of: "# !!! NO STORAGE NETWORK"), let end = text.range(of: "version: 1\n") else { return "" }
        return String(text[start.lowerBound..<end.lowerBound])
    }

    @Test func theExampleStorageNetworkNeverNamesAnInterfaceWithARole() throws {
        // public.network.device=cloudbr1: the old example, `interfaces: [cloudbr1]`, clashed with it.
        let (text, _) = try Self.write("vlan-bond", agent: Self.agent(
            "private.network.device=cloudbr0\npublic.network.device=cloudbr1\n"))
        let banner = Self.banner(text)
        #expect(!banner.isEmpty)
        #expect(!banner.contains("cloudbr1") && !banner.contains("cloudbr0"))
        #expect(banner.contains("# !!!     interfaces: [STORAGE-INTERFACE]\n"))
        #expect(banner.contains("every interface of this host already has a role"))
        _ = try Policy.parse(text, path: "written.yaml")

        // A free interface is offered, with its subnets.
        let (free, _) = try Self.write("bridge-host", agent: nil)
        #expect(Self.banner(free).contains("# !!!   storage:\n# !!!     interfaces: [stor0]\n"
            + "# !!!     subnets: [203.0.113.0/24, \"2001:db8:0:203::/64\"]\n"))
        // ... unless the agent gives it a role.
        let (taken, _) = try Self.write("bridge-host", agent: Self.agent(
            "private.network.device=cloudbr0\npublic.network.device=stor0\n"))
        #expect(!Self.banner(taken).contains("[stor0]"))
        #expect(try Policy.parse(taken, path: "written.yaml").network(named: "public")?.interfaces == ["stor0"])
    }

    @Test func theStorageTrafficTypeCarriesSecondaryStorageOnly() throws {
        let (text, _) = try Self.write("vlan-bond", agent: nil)
        let banner = Self.banner(text)
        #expect(banner.contains("its \"Storage\"\n# !!! traffic type (and that type's KVM label) carries secondary storage traffic only, "
            + "the\n# !!! SSVM's, never primary storage."))
        #expect(banner.contains("primary storage goes where the host's routing table sends it"))
        #expect(!text.contains("BridgeVifDriver"))
        // No NFS mount over management: how to allow secondary storage, commented out.
        #expect(text.contains("management, where it belongs; none is mounted over management now. To excuse a server there:\n"
            + "# allow:\n#   - {protocol: nfs, peer: 198.51.100.60/32}  # secondary storage\n"))
    }

    @Test func agentBridgesMissingOnThisHostAreNamed() throws {
        let agent = Self.agent("private.network.device=cloudbr0\npublic.network.device=cloudbr9\n"
            + "guest.network.device=cloudbr1\nstorage.network.device=stor9\n")
        let (text, input) = try Self.write("vlan-bond", agent: agent)
        #expect(PolicyWriter.missingAgentBridges(input) == ["public.network.device=cloudbr9", "storage.network.device=stor9"])
        let warning = "/etc/cloudstack/agent/agent.properties names interfaces this host does not have: "
            + "public.network.device=cloudbr9, storage.network.device=stor9 (the agent would fail to plug VMs there; "
            + "is this the host's own agent.properties?)"
        #expect(PolicyWriter.warnings(input) == [warning])
        #expect(text.contains("# WARNING: \(warning)\n"))
        #expect(try Policy.parse(text, path: "written.yaml").management.interfaces == ["cloudbr0"])
        let (clean, cleanInput) = try Self.write("vlan-bond", agent: Self.agent("private.network.device=cloudbr0\n"))
        #expect(PolicyWriter.warnings(cleanInput).isEmpty && !clean.contains("# WARNING"))
    }

    // MARK: - Secondary storage

    static let mounts = """
        98 25 0:52 / /mnt/SecStorage/2b9e5c1a rw,relatime - nfs 198.51.100.60:/export/secondary rw,vers=3,addr=198.51.100.60
        99 25 0:53 / /mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2 rw,relatime - nfs 198.51.100.61:/export/images rw,vers=4.1,addr=198.51.100.61
        100 25 0:54 / /mnt/ff2b7d1e-4a3c-3d0a-9e1f-8c7a5b6d4e3f rw,relatime - nfs 203.0.113.20:/export/primary rw,vers=3,addr=203.0.113.20

        """

    @Test func nfsMountsOverManagementAreMarkedAndSecondaryStorageAllowed() throws {
        let mountinfo = try temporaryFile("mountinfo", Self.mounts)
        defer { try? FileManager.default.removeItem(atPath: mountinfo) }
        let (text, input) = try Self.write("bridge-host", agent: nil, mountinfo: mountinfo)
        #expect(text.contains("  - 198.51.100.60  # nfs-mount 198.51.100.60:/export/secondary on /mnt/SecStorage/2b9e5c1a; "
            + "routed via cloudbr0 (management); secondary storage (mount point)\n"))
        #expect(text.contains("  - 198.51.100.61  # nfs-mount 198.51.100.61:/export/images on "
            + "/mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2; routed via cloudbr0 (management); primary or secondary storage? "
            + "CloudStack mounts both at /mnt/<UUID>; lanekeeper cannot tell\n"))
        // Routed out of the storage interface: nothing to decide.
        #expect(text.contains("  - 203.0.113.20  # nfs-mount 203.0.113.20:/export/primary on "
            + "/mnt/ff2b7d1e-4a3c-3d0a-9e1f-8c7a5b6d4e3f; routed directly via stor0\n"))
        #expect(text.contains("""
            # Secondary storage (templates, ISOs, snapshots) is NFS the host mounts itself, normally over
            # the management network, and it belongs there; primary storage does not. An allow entry
            # excuses one server on management (audit lists it as allowed instead of failing).
            allow:
              - {protocol: nfs, peer: 198.51.100.60/32}  # secondary storage on /mnt/SecStorage/2b9e5c1a, over management (cloudbr0)
            # These NFS mounts are reached over management and may be primary or secondary storage;
            # allow only those that are secondary storage (CloudStack: Infrastructure > Secondary Storage):
            #   - {protocol: nfs, peer: 198.51.100.61/32}  # 198.51.100.61:/export/images on /mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2 via cloudbr0

            """))
        let policy = try Policy.parse(text, path: "written.yaml")
        #expect(policy.allow == [AllowRule(protocolName: "nfs", peer: IPPrefix("198.51.100.60/32"))])
        // The written policy: the secondary mount allowed, the undecided one still failing ...
        let result = Audit.run(policy: policy, host: input.host, targets: input.targets)
        #expect(result.verdict == .fail)
        #expect(result.allowed.map(\.address.description) == ["198.51.100.60"])
        #expect(Set(result.violations.compactMap { $0.target?.description }) == ["198.51.100.61"])
        // ... until its line is taken in.
        let decided = text.replacingOccurrences(of: "#   - {protocol: nfs, peer: 198.51.100.61/32}", with: "  - {protocol: nfs, peer: 198.51.100.61/32}")
        let passed = Audit.run(policy: try Policy.parse(decided, path: "decided.yaml"), host: input.host, targets: input.targets)
        #expect(passed.verdict == .pass, "\(passed.reasons)")
        #expect(passed.allowed.map(\.address.description) == ["198.51.100.60", "198.51.100.61"])
    }

    @Test func mountRoles() {
        func role(_ point: String) -> PolicyWriter.MountRole? {
            var target = StorageTarget(address: IPAddress("198.51.100.60")!, source: .nfsMount)
            target.mountPoint = point
            return PolicyWriter.mountRole(target)
        }
        #expect(role("/mnt/SecStorage/abc") == .secondary)
        #expect(role("/var/cloudstack/mnt/secondary") == .secondary)
        #expect(role("/mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2") == .either)
        #expect(role("/srv/nfs") == .unknown)
        #expect(PolicyWriter.mountRole(StorageTarget(address: IPAddress("198.51.100.60")!, source: .policy)) == nil)
    }
}

/// `policy init` lists the host's own addresses as `host_addresses`, so that a guest's
/// storage bridged through the host is transit.
@Suite struct PolicyInitHostAddressesTests {
    @Test func everyRoutableAddressOfTheHostIsListed() throws {
        let (text, input) = try PolicyInitTests.write("bridge-host", agent: nil)
        let policy = try Policy.parse(text, path: "written.yaml")
        let written = try #require(policy.hostAddresses)
        let expected = Set(input.host.addresses.filter(\.isRoutable).map(\.address))
        #expect(written == expected)
        #expect(!written.isEmpty)
        #expect(!written.contains { $0.description == "127.0.0.1" || $0.description.hasPrefix("fe80") })
        #expect(text.contains("# The host's own addresses"))
    }
}
