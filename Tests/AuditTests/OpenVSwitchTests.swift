import Audit
import Decode
import Foundation
import Policy
import TestSupport
import Testing

/// Open vSwitch's configuration: parsing what the real `ovs-vsctl` prints, where a bridge's
/// frames leave, and how it places interfaces. Fixtures/ovs/many-ports.json was written by
/// ovs-vsctl 3.1.0 (`OpenVSwitch.vsctlArguments`) against a userspace-datapath switch built in
/// a namespace (Fixtures/ovs/README.md); many-ports.show.txt is `ovs-vsctl show` of the same.
@Suite struct OpenVSwitchTests {
    static func manyPorts() throws -> OpenVSwitch {
        try OpenVSwitch.parse(try String(contentsOfFile: fixture("ovs/many-ports.json"), encoding: .utf8))
    }

    @Test func parsesTheRealOutput() throws {
        let switches = try Self.manyPorts()
        #expect(switches.bridges.map(\.name) == ["cloudbr0", "cloudbr1"])
        #expect(switches.bridges.map(\.datapathType) == ["netdev", "netdev"])
        let cloudbr0 = switches.bridges[0]
        #expect(cloudbr0.ports.map(\.name) == ["bond0", "cloudbr0", "mgmt0", "vnet0"])
        let bond = cloudbr0.ports[0]
        #expect(bond.isBond && bond.interfaces.map(\.name) == ["veth-a", "veth-b"] && bond.bondMode == "balance-slb")
        #expect(bond.tag == nil && bond.trunks.isEmpty && bond.vlanMode == nil && !bond.isFakeBridge)
        let mgmt = cloudbr0.ports[2]
        #expect(mgmt.isFakeBridge && mgmt.isInternal && mgmt.tag == 100 && mgmt.accessVLAN == 100)
        let vnet = cloudbr0.ports[3]
        #expect(vnet.tag == 300 && vnet.interfaces.first?.isVirtualMachinePort == true && vnet.interfaces.first?.type == "")
        #expect(cloudbr0.uplinks.map(\.name) == ["bond0"])
        let cloudbr1 = switches.bridges[1]
        let ports = Dictionary(uniqueKeysWithValues: cloudbr1.ports.map { ($0.name, $0) })
        #expect(ports["veth-d"]?.trunks == [200, 300])
        #expect(ports["veth-e"]?.vlanMode == "native-untagged" && ports["veth-e"]?.tag == 5 && ports["veth-e"]?.trunks == [5, 6])
        #expect(ports["stor42"]?.isInternal == true && ports["stor42"]?.isFakeBridge == false && ports["stor42"]?.tag == 42)
        #expect(cloudbr1.uplinks.map(\.name) == ["veth-c", "veth-d", "veth-e"])
    }

    @Test func exitsFollowTagsAndTrunks() throws {
        let switches = try Self.manyPorts()
        let mgmt = try #require(switches.exit(of: "mgmt0"))
        #expect(mgmt.bridge == "cloudbr0" && mgmt.vlan == 100)
        #expect(mgmt.ports == [.init(name: "bond0", interfaces: ["veth-a", "veth-b"], tag: 100)])
        #expect(mgmt.description == "Open vSwitch bridge cloudbr0 sends it out of bond0 (veth-a, veth-b) tagged 100")
        // The bridge's own port: untagged, out of the trunk that carries VLAN 0 only.
        let storage = try #require(switches.exit(of: "cloudbr1"))
        #expect(storage.vlan == nil && storage.ports.map(\.name) == ["veth-c"])
        #expect(storage.description == "Open vSwitch bridge cloudbr1 sends it out of veth-c")
        // A tagged internal port that is no fake bridge: out of the trunk that carries all VLANs.
        let tagged = try #require(switches.exit(of: "stor42"))
        #expect(tagged.ports == [.init(name: "veth-c", interfaces: ["veth-c"], tag: 42)])
        #expect(switches.exit(of: "veth-a") == nil)
        #expect(switches.exit(of: "vnet0") == nil)
    }

    @Test func portVLANModes() {
        let access = OpenVSwitch.Port(name: "p", interfaces: [], tag: 42)
        #expect(access.wireTag(forVLAN: 42) == .some(nil))
        #expect(access.wireTag(forVLAN: nil) == nil && access.wireTag(forVLAN: 43) == nil)
        let trunk = OpenVSwitch.Port(name: "p", interfaces: [], trunks: [42, 43])
        #expect(trunk.wireTag(forVLAN: 42) == .some(42) && trunk.wireTag(forVLAN: 44) == nil && trunk.wireTag(forVLAN: nil) == nil)
        let all = OpenVSwitch.Port(name: "p", interfaces: [])
        #expect(all.wireTag(forVLAN: nil) == .some(nil) && all.wireTag(forVLAN: 7) == .some(7))
        let native = OpenVSwitch.Port(name: "p", interfaces: [], tag: 5, vlanMode: "native-tagged")
        #expect(native.wireTag(forVLAN: 5) == .some(5) && native.wireTag(forVLAN: 6) == .some(6))
        let explicitTrunk = OpenVSwitch.Port(name: "p", interfaces: [], tag: 9, vlanMode: "trunk")
        #expect(explicitTrunk.accessVLAN == nil && explicitTrunk.wireTag(forVLAN: 9) == .some(9))
    }

    @Test func malformedOutputIsRefused() throws {
        let text = try String(contentsOfFile: fixture("ovs/many-ports.json"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let cases: [(String, String)] = [
            ("", "expected 3 JSON tables (Bridge, Port, Interface), found 0 lines"),
            (lines[0] + "\n" + lines[1], "expected 3 JSON tables (Bridge, Port, Interface), found 2 lines"),
            ([lines[1], lines[0], lines[2]].joined(separator: "\n"), "the Bridge table has columns _uuid,name,interfaces,tag,"
                + "trunks,vlan_mode,fake_bridge,bond_mode, expected name,ports,datapath_type"),
            ([lines[0], lines[1], "{\"data\":[],\"headings\":[\"_uuid\",\"name\",\"type\",\"external_ids\"]}"].joined(separator: "\n"),
             "names interface"),
            ([lines[0], lines[1].replacingOccurrences(of: ",100,", with: ",4096,"), lines[2]].joined(separator: "\n"),
             "Port mgmt0 tag: 4096 is not a VLAN id"),
            ([lines[0], lines[1].replacingOccurrences(of: "true", with: "\"yes\""), lines[2]].joined(separator: "\n"),
             "Port mgmt0 fake_bridge: not a boolean"),
            ("{}\n{}\n{}", "the Bridge table is not a JSON table with headings and data"),
        ]
        for (input, message) in cases {
            do {
                _ = try OpenVSwitch.parse(input)
                Issue.record("parsed: \(message)")
            } catch {
                #expect(error.code == .malformed)
                #expect(error.message.hasPrefix("Open vSwitch database: "), "\(error.message)")
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    // MARK: - Reading through ovs-vsctl

    /// A stand-in `ovs-vsctl`: a shell script that records its arguments and runs `body`.
    static func fakeVsctl(_ directory: TemporaryDirectory, _ body: String) throws -> String {
        let path = directory.path + "/ovs-vsctl"
        try "#!/bin/sh\necho \"$@\" > \(directory.path)/arguments\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    @Test func readsThroughOvsVsctl() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.fakeVsctl(directory, "cat '\(fixture("ovs/many-ports.json"))'")
        guard case let .read(configuration, text) = SwitchSource.vsctl(path: program, database: "unix:/run/x.sock", timeout: 5).read()
        else {
            Issue.record("not read")
            return
        }
        #expect(configuration == (try Self.manyPorts()))
        #expect(text == (try String(contentsOfFile: fixture("ovs/many-ports.json"), encoding: .utf8)))
        let arguments = try String(contentsOfFile: directory.path + "/arguments", encoding: .utf8)
        #expect(arguments == "--db=unix:/run/x.sock --timeout=5 " + OpenVSwitch.vsctlArguments.joined(separator: " ") + "\n")
    }

    @Test func noDatabaseIsNoSwitchUnlessOneWasNamed() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.fakeVsctl(directory, """
            echo 'ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed (No such file or directory)' >&2
            exit 1
            """)
        guard case .absent = SwitchSource.vsctl(path: program, database: nil, timeout: 5).read() else {
            Issue.record("the default database's absence is no Open vSwitch")
            return
        }
        guard case let .failed(reason) = SwitchSource.vsctl(path: program, database: "unix:/x.sock", timeout: 5).read() else {
            Issue.record("a named database that cannot be read is a problem")
            return
        }
        #expect(reason == "\(program) exited 1: ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed "
            + "(No such file or directory)")
        guard case .absent = SwitchSource.vsctl(path: nil, database: nil, timeout: 5).read() else {
            // This machine has ovs-vsctl but runs no ovsdb-server at the default place (tests
            // start their own, elsewhere).
            Issue.record("no default database here")
            return
        }
        guard case .absent = SwitchSource.recorded(directory.path + "/none.json").read() else {
            Issue.record("no recorded file is no Open vSwitch")
            return
        }
    }

    @Test func aHangingOvsVsctlIsKilled() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.fakeVsctl(directory, "exec sleep 30")
        let start = Date()
        guard case let .failed(reason) = SwitchSource.vsctl(path: program, database: nil, timeout: 0.5).read() else {
            Issue.record("a hang is a problem")
            return
        }
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(reason == "\(program) did not answer within 0.5 s: killed")
        let garbage = try Self.fakeVsctl(directory, "echo '{not json'")
        guard case let .failed(why) = SwitchSource.vsctl(path: garbage, database: nil, timeout: 5).read() else {
            Issue.record("garbage is a problem")
            return
        }
        #expect(why.hasPrefix("Open vSwitch database: expected 3 JSON tables"))
    }

    // MARK: - Placing interfaces

    /// A kernel-datapath host, synthesized (this kernel has no openvswitch module): every
    /// port's master is ovs-system, as the kernel reports it; the switch is what ovs-vsctl
    /// would describe for cloudbr0 over bond0 (eth0, eth1) with fake bridge mgmt0 on VLAN 100,
    /// and cloudbr1 over eth2.
    static func kernelDatapathHost() throws -> HostInventory {
        let links: [FixtureBuilder.Link] = [
            .init(index: 1, name: "lo", loopback: true),
            .init(index: 2, name: "ovs-system", kind: "openvswitch"),
            .init(index: 3, name: "eth0", master: 2),
            .init(index: 4, name: "eth1", master: 2),
            .init(index: 5, name: "eth2", master: 2),
            .init(index: 6, name: "cloudbr0", kind: "openvswitch"),
            .init(index: 7, name: "cloudbr1", kind: "openvswitch"),
            .init(index: 8, name: "mgmt0", kind: "openvswitch"),
        ]
        let source = MemoryNetlink(files: [
            "link.nl": FixtureBuilder.links(links),
            "addr.nl": FixtureBuilder.addresses([.init(index: 8, cidr: "198.51.100.10/24"), .init(index: 7, cidr: "203.0.113.10/24")]),
            "route.nl": FixtureBuilder.routes([
                .init(destination: nil, length: 0, index: 8, gateway: "198.51.100.1"),
                .init(destination: "198.51.100.0", length: 24, index: 8, source: "198.51.100.10"),
                .init(destination: "203.0.113.0", length: 24, index: 7, source: "203.0.113.10"),
                .init(destination: "192.0.2.20", length: 32, index: 6),
            ]),
        ])
        var host = try HostInventory.read(from: source, sysfsRoot: "/nonexistent")
        #expect(host.interface(named: "eth0")?.master == "ovs-system")
        #expect(host.interface(named: "ovs-system")?.lowers == ["eth0", "eth1", "eth2"])
        host.apply(OpenVSwitch(bridges: [
            .init(name: "cloudbr0", datapathType: "system", ports: [
                .init(name: "bond0", interfaces: [.init(name: "eth0"), .init(name: "eth1")], bondMode: "active-backup"),
                .init(name: "cloudbr0", interfaces: [.init(name: "cloudbr0", type: "internal")]),
                .init(name: "mgmt0", interfaces: [.init(name: "mgmt0", type: "internal")], tag: 100, isFakeBridge: true),
            ]),
            .init(name: "cloudbr1", datapathType: "system", ports: [
                .init(name: "cloudbr1", interfaces: [.init(name: "cloudbr1", type: "internal")]),
                .init(name: "eth2", interfaces: [.init(name: "eth2")]),
            ]),
        ]))
        return host
    }

    @Test func theSwitchReplacesOvsSystem() throws {
        let host = try Self.kernelDatapathHost()
        #expect(host.interface(named: "ovs-system")?.kind == "ovs-datapath")
        #expect(host.interface(named: "ovs-system")?.lowers == [])
        #expect(host.interface(named: "eth0")?.master == "bond0")
        #expect(host.interface(named: "eth2")?.master == "cloudbr1")
        let bond = try #require(host.interface(named: "bond0"))
        #expect(bond.kind == "ovs-bond" && bond.master == "cloudbr0" && bond.lowers == ["eth0", "eth1"])
        #expect(host.interface(named: "cloudbr0")?.lowers == ["bond0"])
        #expect(host.interface(named: "cloudbr0")?.kind == "ovs-bridge")
        let mgmt = try #require(host.interface(named: "mgmt0"))
        #expect(mgmt.kind == "ovs-fake-bridge" && mgmt.vlanID == 100 && mgmt.lowers == ["cloudbr0"] && mgmt.master == nil)
    }

    /// The same host placed by policies that name bridges, NICs, the bond or the VLAN.
    @Test(arguments: [
        "  management: {interfaces: [cloudbr0]}\n  storage: {interfaces: [cloudbr1]}\n",
        "  management: {interfaces: [eth0, eth1]}\n  storage: {interfaces: [eth2]}\n",
        "  management: {interfaces: [bond0]}\n  storage: {interfaces: [eth2]}\n",
        "  management: {vlans: [100]}\n  storage: {interfaces: [cloudbr1]}\n",
    ])
    func everyWayOfNamingPlacesTheSame(networks: String) throws {
        let host = try Self.kernelDatapathHost()
        let policy = try Policy.parse("version: 1\nnetworks:\n" + networks, path: "policy.yaml")
        let resolver = MembershipResolver(networks: policy.networks, host: host)
        let names = ["mgmt0", "cloudbr1", "eth2"].map { resolver.membership(of: $0).map { policy.networks[$0.network].name } }
        #expect(names == ["management", "storage", "storage"], "\(networks)")
        let result = Audit.run(policy: policy, host: host, targets: [])
        #expect(!result.warnings.contains { $0.contains("not on this host") }, "\(result.warnings)")
    }

    @Test func routesThroughTheManagementBridgeNameItsNICs() throws {
        var host = try Self.kernelDatapathHost()
        let targets = ["203.0.113.20", "192.0.2.20", "198.51.100.30"].map { StorageTarget(address: IPAddress($0)!, source: .policy) }
        host.lookUp(fallbackFor: targets)
        let policy = try Policy.parse("version: 1\nnetworks:\n  management: {interfaces: [eth0, eth1]}\n"
            + "  storage: {interfaces: [eth2]}\n", path: "policy.yaml")
        let result = Audit.run(policy: policy, host: host, targets: targets)
        #expect(result.verdict == .fail)
        #expect(result.targets.map { $0.interface } == ["cloudbr1", "cloudbr0", "mgmt0"])
        #expect(result.reasons.contains("storage target 192.0.2.20 is routed via cloudbr0, which is management (through bond0 → "
            + "eth0, named in the policy (every port) (every port)); Open vSwitch bridge cloudbr0 sends it out of bond0 (eth0, eth1)"))
        #expect(result.reasons.contains { $0.hasPrefix("storage target 198.51.100.30 is routed via mgmt0, which is management")
            && $0.hasSuffix("; Open vSwitch bridge cloudbr0 sends it out of bond0 (eth0, eth1) tagged 100") })
        #expect(result.targets[0].switchExit?.interfaces == ["eth2"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(AuditReport.json(result).utf8)) as? [String: Any])
        let exits = try #require(json["targets"] as? [[String: Any]]).map { $0["switch_exit"] as? [String: Any] }
        #expect(exits[0]?["bridge"] as? String == "cloudbr1" && exits[0]?["vlan"] is NSNull)
        #expect(exits[2]?["bridge"] as? String == "cloudbr0" && exits[2]?["vlan"] as? Int == 100)
        let ports = try #require(exits[2]?["ports"] as? [[String: Any]])
        #expect(ports.count == 1 && ports[0]["name"] as? String == "bond0" && ports[0]["tag"] as? Int == 100)
        #expect(ports[0]["interfaces"] as? [String] == ["eth0", "eth1"])
    }

    @Test func policyInitNamesTheNICsAndTheVLAN() throws {
        var host = try Self.kernelDatapathHost()
        let targets = [StorageTarget(address: IPAddress("203.0.113.20")!, source: .nfsMount, detail: "203.0.113.20:/export on /mnt/primary")]
        host.lookUp(fallbackFor: targets)
        let text = PolicyWriter.write(.init(host: host, targets: targets, agent: nil, origin: "in a test"))
        let policy = try Policy.parse(text, path: "written.yaml")
        #expect(policy.management.interfaces == ["mgmt0"] && policy.management.vlans == [100])
        #expect(policy.storage?.interfaces == ["cloudbr1", "eth2"] && policy.storage?.vlans == [])
        #expect(text.contains("    # VLAN 100: mgmt0 is tagged 100 on Open vSwitch bridge cloudbr0; Open vSwitch bridge cloudbr0 "
            + "sends it out of bond0 (eth0, eth1) tagged 100\n"))
        #expect(text.contains("    # eth2: cloudbr1 is on Open vSwitch bridge cloudbr1, which sends its frames out of them untagged\n"))
        #expect(text.contains("# in no network (add them where they belong): cloudbr0\n"))
        #expect(Audit.run(policy: policy, host: host, targets: targets).verdict == .pass)
    }
}

extension HostInventory {
    /// Answers each target from the dumped routes, as a recorded host without route answers is.
    mutating func lookUp(fallbackFor targets: [StorageTarget]) {
        for target in targets { routeAnswers[target.address] = fallbackLookup(target.address) }
    }
}

/// The recorded Open vSwitch host (Fixtures/ovs-host: netlink and ovs-vsctl output of the
/// namespace host OpenVSwitchNamespaceTests builds), audited without root.
@Suite struct RecordedSwitchHostTests {
    @Test(arguments: [
        "  management: {interfaces: [cloudbr0]}\n  storage: {interfaces: [cloudbr1]}\n",
        "  management: {interfaces: [veth-a, veth-b]}\n  storage: {interfaces: [veth-c]}\n",
        "  management: {interfaces: [bond0]}\n  storage: {interfaces: [veth-c]}\n",
        "  management: {vlans: [100]}\n  storage: {interfaces: [veth-c]}\n",
    ])
    func everyWayOfNamingPasses(networks: String) throws {
        let result = try AuditFixtureTests.audit("ovs-host", "version: 1\nnetworks:\n" + networks + "storage_targets: [203.0.113.20]\n")
        #expect(result.verdict == .pass, "\(result.reasons)")
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        #expect(result.targets.first?.interface == "cloudbr1")
        #expect(result.targets.first?.switchExit?.interfaces == ["veth-c"])
        let networkOf = Dictionary(uniqueKeysWithValues: result.interfaces.map { ($0.name, $0.network ?? "-") })
        #expect(networkOf["mgmt0"] == "management" && networkOf["veth-c"] == "storage" && networkOf["cloudbr1"] == "storage")
        #expect(networkOf["ovs-netdev"] == "-")
    }

    @Test func policyInitFromTheRecording() throws {
        let survey = try HostSurvey.take(HostPaths(fixture: fixture("ovs-host")),
                                         extraTargets: [StorageTarget(address: IPAddress("203.0.113.20")!, source: .policy)])
        #expect(survey.host.interface(named: "ovs-netdev")?.kind == "ovs-datapath")
        let text = PolicyWriter.write(.init(host: survey.host, targets: survey.targets, agent: nil, origin: "in a test"))
        let policy = try Policy.parse(text, path: "written.yaml")
        #expect(policy.management.interfaces == ["mgmt0"] && policy.management.vlans == [100])
        #expect(policy.storage?.interfaces == ["cloudbr1", "veth-c"])
        #expect(text.contains("# in no network (add them where they belong): cloudbr0\n"), "\(text)")
        #expect(Audit.run(policy: policy, host: survey.host, targets: survey.targets).verdict == .pass)
    }
}
