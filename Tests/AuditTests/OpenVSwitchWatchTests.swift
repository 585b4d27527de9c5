import Foundation
import TestSupport
import Testing

/// `watch` on a policy that names an Open vSwitch bond (issue 20): `bond0` is no device, so the
/// watch captures on its NICs and judges their frames as bond0's network. A real Open vSwitch
/// (userspace datapath) in a namespace host: cloudbr0 over bond0 of veth-a and veth-b
/// (management, 198.51.100.10 on the bridge's own port), cloudbr1 over veth-c (storage,
/// 203.0.113.10). The far ends wait in the peer namespace; the servers' MAC addresses are
/// fixed neighbours, so the host sends without waiting for answers.
@Suite(.serialized, .enabled(if: SwitchHost.available, """
    needs root, ip(8) and Open vSwitch (ovsdb-tool, ovsdb-server, ovs-vswitchd, ovs-vsctl and vswitch.ovsschema: \
    apt-get install openvswitch-switch)
    """))
struct OpenVSwitchWatchTests {
    static let policy = """
        version: 1
        networks:
          management: {interfaces: [bond0], subnets: [198.51.100.0/24]}
          storage: {interfaces: [veth-c], subnets: [203.0.113.0/24]}

        """

    static func host() throws -> SwitchHost {
        let ovs = try SwitchHost.bridges()
        try ovs.host.host("addr", "add", "198.51.100.10/24", "dev", "cloudbr0", "nodad")
        try ovs.host.host("addr", "add", "203.0.113.10/24", "dev", "cloudbr1", "nodad")
        try ovs.host.host("neigh", "add", "198.51.100.20", "lladdr", "02:00:00:00:00:20", "dev", "cloudbr0", "nud", "permanent")
        try ovs.host.host("neigh", "add", "203.0.113.20", "lladdr", "02:00:00:00:00:21", "dev", "cloudbr1", "nud", "permanent")
        return ovs
    }

    /// `lanekeeper watch --policy P --format json --output R --ovs-db DB -- python3 -c CALLS SERVER`.
    static func watch(_ ovs: SwitchHost, sendingTo server: String, policy: String = policy) throws -> (Run, [String: Any]?) {
        let directory = try TemporaryDirectory("lk-ovs-watch")
        let path = try directory.file("policy.yaml", text: policy)
        let report = directory.file("report.json")
        let result = try ovs.host.lanekeeper([
            "watch", "--policy", path, "--duration", "20", "--format", "json", "--output", report, "--ovs-db", ovs.database,
            "--", "python3", "-c", NamespaceHost.nfsCalls, server,
        ])
        let json = (try? Data(contentsOf: URL(fileURLWithPath: report)))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        return (result, json)
    }

    @Test func storageAcrossTheBondFailsAsManagement() throws {
        let ovs = try Self.host()
        let (result, report) = try Self.watch(ovs, sendingTo: "198.51.100.20")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("capturing on bond0 on [veth-a, veth-b] (Open vSwitch bond on cloudbr0), veth-c"),
                "\(result.stderr)")
        let json = try #require(report, "\(result.stderr)")
        #expect(json["verdict"] as? String == "fail")
        let violations = try #require(json["violations"] as? [[String: Any]])
        #expect(violations.count == 1, "\(violations)")
        #expect(violations.first?["interface"] as? String == "bond0")
        #expect(violations.first?["network"] as? String == "management")
        #expect(violations.first?["protocol"] as? String == "nfs")
        #expect(violations.first?["server"] as? String == "198.51.100.20:2049")
        #expect(violations.first?["packets"] as? Int == 5)
        // Both NICs are captured, each as bond0's; the report's interface is bond0 alone.
        let captures = try #require(json["captures"] as? [[String: Any]])
        let devices = captures.filter { $0["interface"] as? String == "bond0" }.compactMap { $0["device"] as? String }
        #expect(devices == ["veth-a", "veth-b"], "\(captures)")
        #expect(captures.allSatisfy { $0["end"] as? String == "stopped" }, "\(captures)")
        let interfaces = (json["interfaces"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(interfaces.contains("bond0") && !interfaces.contains("veth-a"), "\(interfaces)")
    }

    @Test func storageOnTheStorageNICPasses() throws {
        let ovs = try Self.host()
        let (result, report) = try Self.watch(ovs, sendingTo: "203.0.113.20")
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(report, "\(result.stderr)")
        #expect(json["verdict"] as? String == "pass", "\(json["reasons"] ?? "")")
        #expect((json["violations"] as? [Any])?.isEmpty == true)
        let storage = (json["interfaces"] as? [[String: Any]])?.first { $0["name"] as? String == "veth-c" }
        #expect(storage?["storage_packets"] as? Int == 5, "\(json["interfaces"] ?? "")")
    }

    /// The storage VLAN on the management bond: the fake bridge stor100 (VLAN 100 of cloudbr0)
    /// holds the storage address, so its frames leave veth-a or veth-b tagged 100. A tagged frame
    /// on the bond goes by `vlans:`, as on any NIC: storage with `vlans: [100]`, else bond0's
    /// network.
    @Test(arguments: [("  storage: {vlans: [100], subnets: [203.0.113.0/24]}\n", "pass"), ("", "fail")])
    func aTaggedFrameOnTheBondGoesByVLANs(storage: String, verdict: String) throws {
        let ovs = try SwitchHost.bridges()
        try ovs.vsctl("add-br", "stor100", "cloudbr0", "100")
        try ovs.host.host("link", "set", "stor100", "up")
        try ovs.host.host("addr", "add", "203.0.113.10/24", "dev", "stor100", "nodad")
        try ovs.host.host("neigh", "add", "203.0.113.20", "lladdr", "02:00:00:00:00:21", "dev", "stor100", "nud", "permanent")
        let policy = "version: 1\nnetworks:\n  management: {interfaces: [bond0], subnets: [198.51.100.0/24]}\n" + storage
        let (result, report) = try Self.watch(ovs, sendingTo: "203.0.113.20", policy: policy)
        let json = try #require(report, "\(result.stderr)")
        #expect(json["verdict"] as? String == verdict, "\(json["reasons"] ?? "")")
        #expect(result.status == (verdict == "pass" ? 0 : 1), "\(result.stderr)")
        let violations = json["violations"] as? [[String: Any]] ?? []
        if verdict == "fail" {
            #expect(violations.first?["interface"] as? String == "bond0")
            #expect(violations.first?["vlan"] as? Int == 100)
            #expect(violations.first?["network"] as? String == "management")
        } else {
            #expect(violations.isEmpty)
            let bond = (json["interfaces"] as? [[String: Any]])?.first { $0["name"] as? String == "bond0" }
            #expect(bond?["storage_packets"] as? Int == 5, "\(json["interfaces"] ?? "")")
        }
    }

    /// A name that is neither a device nor a port of the switch is the error it always was.
    @Test func aNameThatIsNeitherDeviceNorBondIsAnError() throws {
        let ovs = try Self.host()
        let (result, report) = try Self.watch(ovs, sendingTo: "198.51.100.20", policy: Self.policy.replacingOccurrences(of: "bond0", with: "bond9"))
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("interface bond9, which the policy names, does not exist on this host"), "\(result.stderr)")
        #expect(report == nil)
    }
}
