import Foundation
import TestSupport
import Testing

/// A real Open vSwitch in a namespace host: ovsdb-server and ovs-vswitchd (userspace datapath:
/// this kernel has no openvswitch module) run inside the host namespace, with a run directory
/// of their own (OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR); both are killed by the PIDs in their
/// pidfiles when the value goes, before the namespaces are deleted.
final class SwitchHost {
    static func tool(_ name: String) -> String? {
        ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"].map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let schema = "/usr/share/openvswitch/vswitch.ovsschema"
    static let tools = ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"].map { ($0, tool($0)) }
    static let available = NamespaceHost.available && tools.allSatisfy { $0.1 != nil }
        && FileManager.default.fileExists(atPath: schema)

    let host: NamespaceHost
    let directory: TemporaryDirectory
    var database: String { "unix:\(directory.path)/db.sock" }
    private var pidfiles: [String] = []
    private var processes: [Process] = []

    init() throws {
        host = try NamespaceHost()
        directory = try TemporaryDirectory("lk-ovs")
        let dir = directory.path
        try Self.check(run(URL(fileURLWithPath: Self.tool("ovsdb-tool")!), ["create", "\(dir)/conf.db", Self.schema]), "ovsdb-tool")
        try daemon("ovsdb-server", ["\(dir)/conf.db", "--remote=punix:\(dir)/db.sock"]) {
            FileManager.default.fileExists(atPath: "\(dir)/db.sock") && FileManager.default.fileExists(atPath: "\(dir)/ovsdb-server.pid")
        }
        try vsctl("--no-wait", "init")
        try daemon("ovs-vswitchd", [database]) { FileManager.default.fileExists(atPath: "\(dir)/ovs-vswitchd.pid") }
    }

    deinit {
        for pidfile in pidfiles.reversed() {
            guard let text = try? String(contentsOfFile: pidfile, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
            else { continue }
            kill(pid, SIGTERM)
            for _ in 0..<100 where Self.isAlive(pid) { usleep(20_000) }
            if Self.isAlive(pid) { kill(pid, SIGKILL) }
        }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }

    /// Running and not a zombie (a detached daemon's parent may not reap it).
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    /// Starts `name` in the host namespace, in the foreground (not --detach: Foundation's
    /// Process waits for every holder of a descriptor it passes on, and a detached daemon
    /// keeps them), its output in a file; ready once its pidfile names it.
    private func daemon(_ name: String, _ arguments: [String], ready: () -> Bool) throws {
        let dir = directory.path
        let pidfile = "\(dir)/\(name).pid"
        pidfiles.append(pidfile)
        let output = "\(dir)/\(name).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = NamespaceHost.tool
        process.arguments = ["netns", "exec", host.name, "/usr/bin/env", "OVS_RUNDIR=\(dir)", "OVS_DBDIR=\(dir)",
                             "OVS_LOGDIR=\(dir)", Self.tool(name)!] + arguments + ["--pidfile=\(pidfile)", "--log-file=\(dir)/\(name).log"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle(forWritingAtPath: output)
        try process.run()
        processes.append(process)
        for _ in 0..<500 where process.isRunning && !ready() { usleep(10_000) }
        guard process.isRunning, ready() else {
            throw NamespaceHost.CommandError(command: name, stderr: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "not ready")
        }
    }

    /// `ovs-vsctl --db=THIS ...` inside the host namespace.
    @discardableResult
    func vsctl(_ arguments: String...) throws -> Run {
        try Self.check(run(NamespaceHost.tool, ["netns", "exec", host.name, Self.tool("ovs-vsctl")!, "--db=\(database)",
                                                "--timeout=20"] + arguments), "ovs-vsctl " + arguments.joined(separator: " "))
    }

    @discardableResult
    private static func check(_ result: Run, _ what: String) throws -> Run {
        if result.status != 0 { throw NamespaceHost.CommandError(command: what, stderr: result.stderr) }
        return result
    }

    /// Two bridges, up, without addresses: cloudbr0 over bond0 of veth-a and veth-b, cloudbr1
    /// over veth-c (userspace datapath).
    static func bridges() throws -> SwitchHost {
        let ovs = try SwitchHost()
        for nic in ["veth-a", "veth-b", "veth-c"] { try ovs.host.link(nic) }
        try ovs.vsctl("add-br", "cloudbr0", "--", "set", "bridge", "cloudbr0", "datapath_type=netdev")
        try ovs.vsctl("add-bond", "cloudbr0", "bond0", "veth-a", "veth-b")
        try ovs.vsctl("add-br", "cloudbr1", "--", "set", "bridge", "cloudbr1", "datapath_type=netdev")
        try ovs.vsctl("add-port", "cloudbr1", "veth-c")
        for bridge in ["cloudbr0", "cloudbr1"] { try ovs.host.host("link", "set", bridge, "up") }
        return ovs
    }

    /// The CloudStack host of issue 20: cloudbr0 (management's bridge) over bond0 of veth-a
    /// and veth-b, the fake bridge mgmt0 on VLAN 100 of cloudbr0 holding the management
    /// address and the default route, cloudbr1 (storage) over veth-c holding the storage
    /// address. Only documentation addresses.
    static func cloudStack() throws -> SwitchHost {
        let ovs = try bridges()
        try ovs.vsctl("add-br", "mgmt0", "cloudbr0", "100")
        try ovs.host.host("link", "set", "mgmt0", "up")
        try ovs.host.host("addr", "add", "198.51.100.10/24", "dev", "mgmt0", "nodad")
        try ovs.host.host("addr", "add", "203.0.113.10/24", "dev", "cloudbr1", "nodad")
        try ovs.host.host("route", "add", "default", "via", "198.51.100.1")
        return ovs
    }

    func lanekeeper(_ arguments: [String]) throws -> Run {
        try host.lanekeeper(arguments + ["--ovs-db", database])
    }
}

/// Audit and `policy init` on a real Open vSwitch host (issue 20, what it must show).
@Suite(.serialized, .enabled(if: SwitchHost.available, """
    needs root, ip(8) and Open vSwitch (ovsdb-tool, ovsdb-server, ovs-vswitchd, ovs-vsctl and vswitch.ovsschema: \
    apt-get install openvswitch-switch)
    """))
struct OpenVSwitchNamespaceTests {
    static let mountinfo = "98 25 0:52 / /mnt/primary rw,relatime shared:60 - nfs "
        + "203.0.113.20:/export rw,vers=3,proto=tcp,addr=203.0.113.20\n"

    /// Names the bridges, the NICs (and so the bond), or the bond.
    static let policies = [
        "  management: {interfaces: [cloudbr0], subnets: [198.51.100.0/24]}\n"
            + "  storage: {interfaces: [cloudbr1], subnets: [203.0.113.0/24]}\n",
        "  management: {interfaces: [veth-a, veth-b], subnets: [198.51.100.0/24]}\n"
            + "  storage: {interfaces: [veth-c], subnets: [203.0.113.0/24]}\n",
        "  management: {interfaces: [bond0], subnets: [198.51.100.0/24]}\n"
            + "  storage: {interfaces: [veth-c], subnets: [203.0.113.0/24]}\n",
    ]

    static func audit(_ ovs: SwitchHost, _ networks: String, _ extra: [String] = []) throws -> Run {
        let path = try temporaryFile("policy.yaml", "version: 1\nnetworks:\n" + networks + "storage_targets: [203.0.113.20]\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ovs.lanekeeper(["audit", "--policy", path, "--mountinfo", "/dev/null"] + extra)
    }

    @Test(arguments: policies)
    func passesThroughTheStorageBridgeAndFailsThroughCloudbr0(networks: String) throws {
        let ovs = try SwitchHost.cloudStack()
        let clean = try Self.audit(ovs, networks)
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("203.0.113.20  policy  cloudbr1   203.0.113.10"), "\(clean.stdout)")
        #expect(!clean.stdout.contains("Warnings"), "\(clean.stdout)")

        // A host route sends the target out of the management bridge.
        try ovs.host.host("route", "add", "203.0.113.20/32", "dev", "cloudbr0")
        let leak = try Self.audit(ovs, networks, ["--format", "json"])
        #expect(leak.status == 1, "\(leak.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(leak.stdout.utf8)) as? [String: Any])
        let reasons = try #require(json["reasons"] as? [String])
        #expect(reasons.count == 1)
        #expect(reasons.first?.hasPrefix("storage target 203.0.113.20 is routed via cloudbr0, which is management (") == true)
        #expect(reasons.first?.hasSuffix("); Open vSwitch bridge cloudbr0 sends it out of bond0 (veth-a, veth-b)") == true,
                "\(reasons)")
        let target = try #require((json["targets"] as? [[String: Any]])?.first)
        let exit = try #require(target["switch_exit"] as? [String: Any])
        #expect(exit["bridge"] as? String == "cloudbr0")
        #expect((exit["ports"] as? [[String: Any]])?.first?["interfaces"] as? [String] == ["veth-a", "veth-b"])
        let interfaces = try #require(json["interfaces"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: interfaces.map { ($0["name"] as! String, $0) })
        #expect(byName["veth-a"]?["master"] as? String == "bond0")
        #expect(byName["bond0"]?["kind"] as? String == "ovs-bond")
        #expect(byName["bond0"]?["master"] as? String == "cloudbr0")
        #expect(byName["mgmt0"]?["kind"] as? String == "ovs-fake-bridge")
        #expect(byName["mgmt0"]?["vlan"] as? Int == 100)
        #expect(byName["mgmt0"]?["network"] as? String == "management")
        #expect(byName["veth-c"]?["network"] as? String == "storage")
    }

    /// Without the database, the NICs are no ports of anything: a policy naming only NICs
    /// cannot place the bridges.
    @Test func withoutTheDatabaseNICsPlaceNothing() throws {
        let ovs = try SwitchHost.cloudStack()
        let path = try temporaryFile("policy.yaml", "version: 1\nnetworks:\n" + Self.policies[1] + "storage_targets: [203.0.113.20]\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let blind = try ovs.host.lanekeeper(["audit", "--policy", path, "--mountinfo", "/dev/null"])
        #expect(blind.status == 1)
        #expect(blind.stdout.contains("  - storage target 203.0.113.20 is routed via cloudbr1, which belongs to no network of the policy\n"))
    }

    /// `policy init` names the management VLAN and the storage NIC; what it writes audits clean.
    /// With LANEKEEPER_REGENERATE_FIXTURES=1 the host is also recorded as Fixtures/ovs-host.
    @Test func policyInitNamesTheNICsAndTheVLAN() throws {
        let ovs = try SwitchHost.cloudStack()
        let mountinfo = try temporaryFile("mountinfo", Self.mountinfo)
        let written = temporaryPath("written.yaml")
        defer {
            try? FileManager.default.removeItem(atPath: mountinfo)
            try? FileManager.default.removeItem(atPath: written)
        }
        var arguments = ["policy", "init", "--mountinfo", mountinfo, "--output", written]
        if ProcessInfo.processInfo.environment["LANEKEEPER_REGENERATE_FIXTURES"] == "1" {
            try? FileManager.default.removeItem(atPath: fixture("ovs-host"))
            arguments += ["--record-host", fixture("ovs-host")]
        }
        let initRun = try ovs.lanekeeper(arguments)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        let text = try String(contentsOfFile: written, encoding: .utf8)
        #expect(text.contains("""
              management:
                # mgmt0: holds the default route (give --cloudstack-agent to take CloudStack's own setting)
                # VLAN 100: mgmt0 is tagged 100 on Open vSwitch bridge cloudbr0; Open vSwitch bridge cloudbr0 sends it out of bond0 (veth-a, veth-b) tagged 100
                interfaces: [mgmt0]
                vlans: [100]
                subnets: [198.51.100.0/24]
              storage:
                # cloudbr1: the kernel routes 203.0.113.20 directly out of it
                # veth-c: cloudbr1 is on Open vSwitch bridge cloudbr1, which sends its frames out of them untagged
                interfaces: [cloudbr1, veth-c]
                subnets: [203.0.113.0/24]

            """), "\(text)")
        #expect(text.contains("# in no network (add them where they belong): cloudbr0\n"), "\(text)")
        let audit = try ovs.lanekeeper(["audit", "--policy", written, "--mountinfo", mountinfo])
        #expect(audit.status == 0, "\(audit.stdout)")
        #expect(audit.stdout.contains("203.0.113.20  nfs-mount  cloudbr1"))
    }
}
