import Audit
import Check
import Decode
import Policy
import Testing

/// The audit and `policy init` over recorded hosts: the bridge host this kernel recorded, and
/// the bonded host with a storage VLAN it cannot build.
@Suite struct AuditFixtureTests {
    static let header = "version: 1\nnetworks:\n"

    static func audit(_ host: String, _ policyText: String, mountinfo: String? = nil) throws -> AuditResult {
        let policy = try Policy.parse(policyText, path: "policy.yaml")
        let survey = try HostSurvey.take(HostPaths(fixture: fixture(host), mountinfo: mountinfo),
                                         extraTargets: policy.storageTargets.map { StorageTarget(address: $0, source: .policy) })
        return Audit.run(policy: policy, host: survey.host, targets: survey.targets)
    }

    static let bridgePolicy = header + """
          management: {interfaces: [cloudbr0], subnets: [198.51.100.0/24]}
          storage: {interfaces: [stor0], subnets: [203.0.113.0/24, "2001:db8:0:203::/64"]}

        """

    @Test func recordedBridgeHostPasses() throws {
        let result = try Self.audit("bridge-host", Self.bridgePolicy + "storage_targets: [203.0.113.20, \"2001:db8:0:203::20\"]\n")
        #expect(result.verdict == .pass, "\(result.reasons)")
        #expect(result.targets.map { $0.interface } == ["stor0", "stor0"])
        #expect(result.targets.map { $0.sourceAddress?.description } == ["203.0.113.10", "2001:db8:0:203::10"])
        let eth0 = try #require(result.interfaces.first { $0.name == "eth0" })
        #expect(eth0.network == "management")
        #expect(eth0.membership == "through cloudbr0, named in the policy")
        #expect(eth0.master == "cloudbr0")
        #expect(result.interfaces.first { $0.name == "cloudbr0" }?.lowers == ["eth0"])
    }

    @Test func recordedBridgeHostWithATargetInManagementFails() throws {
        let result = try Self.audit("bridge-host", Self.bridgePolicy + "storage_targets: [203.0.113.20, 198.51.100.20]\n")
        #expect(result.verdict == .fail)
        #expect(result.violations.map(\.rule) == ["target-in-management-subnet", "routed-via-management"])
        #expect(result.reasons == [
            "storage target 198.51.100.20 lies inside the management subnet 198.51.100.0/24 (of the policy)",
            "storage target 198.51.100.20 is routed via cloudbr0, which is management (named in the policy)",
        ])
    }

    // MARK: - A storage VLAN on the management bond

    static let vlanManagement = "  management: {interfaces: [cloudbr0], subnets: [198.51.100.0/24]}\n"

    @Test func storageVLANOnTheManagementBondIsStorage() throws {
        let result = try Self.audit("vlan-bond", Self.header + Self.vlanManagement
            + "  storage: {vlans: [42], subnets: [203.0.113.0/24]}\n")
        #expect(result.verdict == .pass, "\(result.reasons)")
        let networks = Dictionary(uniqueKeysWithValues: result.interfaces.map { ($0.name, $0.network ?? "-") })
        #expect(networks == ["eth0": "management", "eth1": "management", "bond0": "management", "cloudbr0": "management",
                             "bond0.42": "storage", "eth2": "-", "cloudbr1": "-"])
        #expect(result.interfaces.first { $0.name == "eth0" }?.membership == "through bond0 → cloudbr0, named in the policy")
        #expect(result.interfaces.first { $0.name == "bond0.42" }?.membership == "VLAN 42 in the policy")
        #expect(result.targets.map { "\($0.address) \($0.source.rawValue) \($0.interface ?? "-")" }
            == ["203.0.113.20 nfs-mount bond0.42", "203.0.113.21 iscsi-session bond0.42"])
    }

    @Test func storageVLANNamedByItsInterfaceIsStorage() throws {
        let result = try Self.audit("vlan-bond", Self.header + Self.vlanManagement + "  storage: {interfaces: [bond0.42]}\n")
        #expect(result.verdict == .pass, "\(result.reasons)")
    }

    @Test func anUnlistedVLANOnTheManagementBondIsManagement() throws {
        let result = try Self.audit("vlan-bond", Self.header + Self.vlanManagement
            + "  storage: {interfaces: [cloudbr9], subnets: [203.0.113.0/24]}\n")
        #expect(result.verdict == .fail)
        #expect(result.reasons.contains(
            "storage target 203.0.113.20 is routed via bond0.42, which is management (through bond0 → cloudbr0, named in the policy); "
                + "from nfs-mount: 203.0.113.20:/export/primary on /mnt/ff2b7d1e-4a3c-3d0a-9e1f-8c7a5b6d4e3f"))
        #expect(result.reasons.contains("no interface of this host belongs to the storage network (interfaces cloudbr9)"))
        #expect(result.violations.contains { $0.rule == "subnets-overlap" && $0.interface == nil })
        #expect(result.warnings == ["interface cloudbr9 of network storage is not on this host"])
    }

    @Test func bridgesAndBondsAreResolvedFromSysfsAlone() throws {
        // The link dump without IFLA_MASTER: only sysfs `master` and `lower_*` relate the devices.
        let source = MemoryNetlink(files: [
            "link.nl": FixtureBuilder.links(FixtureBuilder.vlanBondLinks, withMasters: false),
            "addr.nl": FixtureBuilder.addresses(FixtureBuilder.vlanBondAddresses),
            "route.nl": FixtureBuilder.routes(FixtureBuilder.vlanBondRoutes),
        ])
        let host = try HostInventory.read(from: source, sysfsRoot: fixture("vlan-bond/sys"))
        #expect(host.interface(named: "eth0")?.master == "bond0")
        #expect(host.interface(named: "bond0")?.master == "cloudbr0")
        #expect(host.interface(named: "bond0")?.lowers == ["eth0", "eth1"])
        #expect(host.interface(named: "bond0.42")?.lowers == ["bond0"])
        // A sysfs of another namespace (other ifindexes) is not believed.
        let elsewhere = try HostInventory.read(from: source, sysfsRoot: fixture("bridge-host/sys"))
        #expect(elsewhere.interface(named: "eth0")?.master == nil)
    }

    @Test func fallbackLookupUsesLocalThenMainTables() throws {
        let host = try HostInventory.read(from: try RecordedNetlink(directory: fixture("vlan-bond")), sysfsRoot: "/nonexistent")
        guard case let .route(storage) = host.fallbackLookup(IPAddress("203.0.113.99")!),
            case let .route(elsewhere) = host.fallbackLookup(IPAddress("192.0.2.200")!),
            case let .route(far) = host.fallbackLookup(IPAddress("8.8.8.8")!),
            case let .route(local) = host.fallbackLookup(IPAddress("203.0.113.10")!)
        else {
            Issue.record("a lookup found no route")
            return
        }
        #expect(storage.outputInterface == 6 && storage.gateway == nil && storage.preferredSource?.description == "203.0.113.10")
        #expect(elsewhere.outputInterface == 8)
        #expect(far.outputInterface == 5 && far.gateway?.description == "198.51.100.1")
        #expect(local.type == RTNetlink.routeLocal)
        #expect(host.fallbackLookup(IPAddress("2001:db8::1")!) == .noRoute("Network is unreachable"))
    }

    // MARK: - policy init

    @Test func policyInitFromTheAgentConfigurationAuditsClean() throws {
        let survey = try HostSurvey.take(HostPaths(fixture: fixture("vlan-bond")))
        let path = fixture("vlan-bond/agent.properties")
        let agent = JavaProperties.parse(try String(contentsOfFile: path, encoding: .utf8))
        let text = PolicyWriter.write(.init(host: survey.host, targets: survey.targets, agent: (path, agent), origin: "in a test"))
        let policy = try Policy.parse(text, path: "written.yaml")
        #expect(policy.networks.map(\.name) == ["management", "storage", "public"])
        #expect(policy.management.interfaces == ["cloudbr0"])
        #expect(policy.storage?.interfaces == ["bond0.42"])
        #expect(policy.storage?.vlans == [42])
        #expect(policy.network(named: "public")?.interfaces == ["cloudbr1"])
        #expect(policy.storageTargets.map(\.description) == ["203.0.113.20", "203.0.113.21"])
        #expect(text.contains("# cloudbr0: private.network.device in \(path)"))
        #expect(!text.contains("NO STORAGE NETWORK"))
        #expect(Audit.run(policy: policy, host: survey.host, targets: survey.targets).verdict == .pass)
    }

    @Test func policyInitWithoutAStorageInterfaceSaysSo() throws {
        // No mounts, no sessions: nothing shows where storage goes.
        let survey = try HostSurvey.take(HostPaths(fixture: fixture("vlan-bond"), sysfsRoot: "/nonexistent", mountinfo: "/dev/null"))
        #expect(survey.targets.isEmpty)
        let text = PolicyWriter.write(.init(host: survey.host, targets: [], agent: nil, origin: "in a test"))
        #expect(text.contains("# !!! NO STORAGE NETWORK"))
        #expect(text.contains("primary storage goes where the host's routing table sends it: over the\n# !!! management network"))
        let policy = try Policy.parse(text, path: "written.yaml")
        #expect(policy.storage == nil)
        #expect(policy.management.interfaces == ["cloudbr0"])
        #expect(policy.management.subnets.map(\.description) == ["198.51.100.0/24"])
    }
}
