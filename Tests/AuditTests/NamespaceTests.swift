import TestSupport
import Foundation
import Testing

func temporaryFile(_ name: String, _ text: String) throws -> String {
    let path = temporaryPath(name)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Hosts built in namespaces, right and wrong, audited by the built binary from inside.
@Suite(.enabled(if: NamespaceHost.available, "needs root and ip(8) to build network namespaces"))
struct NamespaceAuditTests {
    static let policy = """
        version: 1
        networks:
          management:
            interfaces: [mgmt0]
            subnets: [198.51.100.0/24]
          storage:
            interfaces: [stor0]
            subnets: [203.0.113.0/24]

        """

    /// mgmt0 198.51.100.10/24 with the default route via 198.51.100.1, stor0 203.0.113.10/24.
    static func rightHost() throws -> NamespaceHost {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.link("stor0", "203.0.113.10/24")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        return host
    }

    static func audit(_ host: NamespaceHost, targets: String = "[203.0.113.20]", policy: String = policy,
                      _ extra: String...) throws -> Run {
        let path = try temporaryFile("policy.yaml", policy + "storage_targets: \(targets)\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try host.lanekeeper(["audit", "--policy", path, "--mountinfo", "/dev/null"] + extra)
    }

    @Test func rightHostPasses() throws {
        let host = try Self.rightHost()
        let result = try Self.audit(host)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("lanekeeper audit PASS"))
        #expect(result.stdout.contains("203.0.113.20  policy  stor0      203.0.113.10"))
    }

    @Test func storageServerInsideTheManagementSubnetFails() throws {
        let host = try Self.rightHost()
        let result = try Self.audit(host, targets: "[198.51.100.20]")
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("lanekeeper audit FAIL"))
        #expect(result.stdout.contains("  - storage target 198.51.100.20 lies inside the management subnet 198.51.100.0/24 (of the policy)\n"))
        #expect(result.stdout.contains("  - storage target 198.51.100.20 is routed via mgmt0, which is management (named in the policy)\n"))
    }

    @Test func hostRouteViaManagementFails() throws {
        let host = try Self.rightHost()
        try host.host("route", "add", "203.0.113.20/32", "via", "198.51.100.1", "dev", "mgmt0")
        let result = try Self.audit(host)
        #expect(result.status == 1)
        #expect(result.stdout.contains("  - storage target 203.0.113.20 is routed via mgmt0 through gateway 198.51.100.1, "
            + "which is management (named in the policy)\n"))
    }

    /// Policy routing: a rule sends the target to another table; the kernel's answer says so.
    @Test func policyRoutingIsHonoured() throws {
        let host = try Self.rightHost()
        try host.host("route", "add", "203.0.113.20/32", "via", "198.51.100.1", "dev", "mgmt0", "table", "100")
        try host.host("rule", "add", "to", "203.0.113.20", "table", "100", "priority", "100")
        let result = try Self.audit(host, "--format", "json")
        #expect(result.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let target = try #require((json["targets"] as? [[String: Any]])?.first)
        #expect(target["interface"] as? String == "mgmt0")
        #expect(target["gateway"] as? String == "198.51.100.1")
        #expect(target["table"] as? Int == 100)
        #expect(target["network"] as? String == "management")
        #expect((json["violations"] as? [[String: Any]])?.first?["rule"] as? String == "routed-via-management")
    }

    @Test func storageInterfaceWithoutAddressFails() throws {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.link("stor0")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        let result = try Self.audit(host)
        #expect(result.status == 1)
        #expect(result.stdout.contains("  - storage interface stor0 has no address, so the kernel cannot send storage out of it"))
        #expect(result.stdout.contains("storage target 203.0.113.20 is routed via mgmt0 through gateway 198.51.100.1"))
    }

    @Test func overlappingSubnetsFail() throws {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.link("stor0", "198.51.100.11/24")
        let result = try Self.audit(host, targets: "[]", "--format", "json")
        #expect(result.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let reasons = try #require(json["reasons"] as? [String])
        #expect(reasons == [
            "management interface mgmt0 (198.51.100.10/24) and storage interface stor0 (198.51.100.11/24) are on "
                + "overlapping subnets 198.51.100.0/24 and 198.51.100.0/24",
            "storage interface stor0 (198.51.100.11/24) is on 198.51.100.0/24, which overlaps the management subnet "
                + "198.51.100.0/24 of the policy",
            "there are no storage targets to check: list them in the policy's storage_targets, or audit while storage "
                + "is mounted or logged in",
        ])
        let violations = try #require(json["violations"] as? [[String: Any]])
        #expect(violations.map { $0["rule"] as? String } == ["subnets-overlap", "subnets-overlap"])
    }

    @Test func defaultRouteOnlyFails() throws {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        let result = try Self.audit(host)
        #expect(result.status == 1)
        #expect(result.stdout.contains("  - storage target 203.0.113.20 is routed via mgmt0 through gateway 198.51.100.1, "
            + "which is management (named in the policy)\n"))
        #expect(result.stdout.contains("  - no interface of this host belongs to the storage network (interfaces stor0)\n"))
        #expect(result.stdout.contains("  - interface stor0 of network storage is not on this host\n"))
    }

    @Test func storageThroughAGatewayFails() throws {
        let host = try Self.rightHost()
        try host.host("route", "add", "192.0.2.0/24", "via", "203.0.113.1", "dev", "stor0")
        let result = try Self.audit(host, targets: "[192.0.2.30]")
        #expect(result.status == 1)
        #expect(result.stdout.contains("  - storage target 192.0.2.30 is reached through gateway 203.0.113.1 on stor0, "
            + "not directly connected on a storage interface\n"))
    }

    @Test func noRouteIsInconclusive() throws {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.link("stor0", "203.0.113.10/24")
        let result = try Self.audit(host, targets: "[192.0.2.30]")
        #expect(result.status == 2, "\(result.stdout)")
        #expect(result.stdout.hasPrefix("lanekeeper audit INCONCLUSIVE"))
        #expect(result.stdout.contains("  - the kernel has no route to storage target 192.0.2.30 (Network is unreachable)"))
    }

    /// The policy names the bridge; its port is management too.
    @Test func bridgePortsBelongToTheBridgesNetwork() throws {
        let host = try NamespaceHost()
        try host.host("link", "add", "cloudbr0", "type", "bridge")
        try host.link("eth0", master: "cloudbr0")
        try host.host("addr", "add", "198.51.100.10/24", "dev", "cloudbr0")
        try host.host("link", "set", "cloudbr0", "up")
        try host.link("stor0", "203.0.113.10/24")
        let policy = Self.policy.replacingOccurrences(of: "[mgmt0]", with: "[cloudbr0]")
        let result = try Self.audit(host, targets: "[203.0.113.20, 198.51.100.20]", policy: policy, "--format", "json")
        #expect(result.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let interfaces = try #require(json["interfaces"] as? [[String: Any]])
        let eth0 = try #require(interfaces.first { $0["name"] as? String == "eth0" })
        #expect(eth0["network"] as? String == "management")
        #expect(eth0["master"] as? String == "cloudbr0")
        #expect(eth0["membership"] as? String == "through cloudbr0, named in the policy")
        let bridge = try #require(interfaces.first { $0["name"] as? String == "cloudbr0" })
        #expect(bridge["kind"] as? String == "bridge")
        #expect(bridge["lower"] as? [String] == ["eth0"])
        #expect(bridge["addresses"] as? [String] == ["198.51.100.10/24"])
        let targets = try #require(json["targets"] as? [[String: Any]])
        #expect(targets.map { $0["interface"] as? String } == ["stor0", "cloudbr0"])
        #expect(targets.map { $0["source_address"] as? String } == ["203.0.113.10", "198.51.100.10"])
    }

    /// The ceph-host files (libvirt RBD pools, ceph.conf, a Gluster mount, an NVMe/TCP
    /// controller) on a live namespace: one host route sends a Ceph monitor via management.
    @Test func primaryStorageTargetsOnALiveHost() throws {
        let host = try Self.rightHost()
        // Without the two host names: the namespace has no DNS server to ask, only timeouts.
        let root = temporaryPath("ceph-host-" + UUID().uuidString.prefix(8))
        try FileManager.default.copyItem(atPath: fixture("ceph-host"), toPath: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.removeItem(atPath: "\(root)/etc/libvirt/storage/rbd-byname.xml")
        let conf = try String(contentsOfFile: "\(root)/etc/ceph/ceph.conf", encoding: .utf8)
        try conf.replacingOccurrences(of: ",ceph-mon2.example", with: "").write(
            toFile: "\(root)/etc/ceph/ceph.conf", atomically: true, encoding: .utf8)
        let files = ["--config-root", root, "--sysfs", "\(root)/sys", "--mountinfo", "\(root)/mountinfo", "--format", "json"]
        let path = try temporaryFile("policy.yaml", Self.policy)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clean = try host.lanekeeper(["audit", "--policy", path] + files)
        let cleanJSON = try #require(try JSONSerialization.jsonObject(with: Data(clean.stdout.utf8)) as? [String: Any])
        let targets = try #require(cleanJSON["targets"] as? [[String: Any]])
        let ipv4 = targets.filter { ($0["address"] as? String)?.contains(".") == true }
        #expect(Set(ipv4.compactMap { $0["source"] as? String })
            == ["nfs-mount", "glusterfs-mount", "nvme-tcp", "libvirt-rbd-pool", "ceph-conf"])
        #expect(ipv4.allSatisfy { $0["interface"] as? String == "stor0" })
        #expect((cleanJSON["violations"] as? [Any])?.isEmpty == true, "\(clean.stdout)")

        try host.host("route", "add", "203.0.113.31/32", "via", "198.51.100.1", "dev", "mgmt0")
        let leak = try host.lanekeeper(["audit", "--policy", path] + files)
        #expect(leak.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(leak.stdout.utf8)) as? [String: Any])
        let violations = try #require(json["violations"] as? [[String: Any]])
        #expect(violations.map { $0["target"] as? String } == ["203.0.113.31"])
        #expect(violations.first?["source"] as? String == "libvirt-rbd-pool")
        #expect(violations.first?["message"] as? String == "storage target 203.0.113.31 is routed via mgmt0 through gateway "
            + "198.51.100.1, which is management (named in the policy); from libvirt-rbd-pool: Ceph monitor 203.0.113.31:6789 "
            + "of RBD pool a7c3e1f2-5b6d-4e8f-9a0b-1c2d3e4f5a6b")
    }

    /// `policy init` on a right host writes a policy that audits and replays clean.
    @Test func policyInitRoundTrip() throws {
        let host = try Self.rightHost()
        let mountinfo = try temporaryFile("mountinfo", "98 25 0:52 / /mnt/primary rw,relatime shared:60 - nfs "
            + "203.0.113.20:/export rw,vers=3,proto=tcp,addr=203.0.113.20\n")
        let written = NSTemporaryDirectory() + "lk-audit-" + UUID().uuidString + "-written.yaml"
        defer {
            try? FileManager.default.removeItem(atPath: mountinfo)
            try? FileManager.default.removeItem(atPath: written)
        }
        let initRun = try host.lanekeeper("policy", "init", "--mountinfo", mountinfo, "--output", written)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        let text = try String(contentsOfFile: written, encoding: .utf8)
        #expect(text.contains("  management:\n    # mgmt0: holds the default route"))
        #expect(text.contains("    interfaces: [mgmt0]\n    subnets: [198.51.100.0/24]\n"))
        #expect(text.contains("  storage:\n    # stor0: the kernel routes 203.0.113.20 directly out of it\n"
            + "    interfaces: [stor0]\n    subnets: [203.0.113.0/24]\n"))
        #expect(text.contains("storage_targets:\n  - 203.0.113.20  # nfs-mount 203.0.113.20:/export on /mnt/primary; routed directly via stor0\n"))
        let audit = try host.lanekeeper("audit", "--policy", written, "--mountinfo", mountinfo)
        #expect(audit.status == 0, "\(audit.stdout)")
        #expect(audit.stdout.contains("203.0.113.20  nfs-mount  stor0"))
        // The lab's clean host has the same interfaces and addresses.
        let replay = try run(binary, ["replay", "--policy", written, "captures/clean/host.pcapng"])
        #expect(replay.status == 0, "\(replay.stdout)")
    }

    @Test func policyInitWithoutStorageSaysSoAndTheAuditFails() throws {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        let mountinfo = try temporaryFile("mountinfo", "98 25 0:52 / /mnt/primary rw - nfs 203.0.113.20:/export rw,addr=203.0.113.20\n")
        defer { try? FileManager.default.removeItem(atPath: mountinfo) }
        let initRun = try host.lanekeeper("policy", "init", "--mountinfo", mountinfo)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        #expect(initRun.stdout.contains("# !!! NO STORAGE NETWORK"))
        #expect(initRun.stdout.contains("203.0.113.20  # nfs-mount 203.0.113.20:/export on /mnt/primary; routed via mgmt0 through gateway 198.51.100.1 (management)"))
        let policy = try temporaryFile("policy.yaml", initRun.stdout)
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let audit = try host.lanekeeper("audit", "--policy", policy, "--mountinfo", mountinfo)
        #expect(audit.status == 1)
        #expect(audit.stdout.contains("  - storage target 203.0.113.20 is routed via mgmt0 through gateway 198.51.100.1, which is management"))
        #expect(audit.stdout.contains("  - the policy declares no storage network\n"))
    }
}

/// Exit statuses that need no namespace.
@Suite struct AuditCommandLineTests {
    @Test func usageAndMissingFiles() throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build lanekeeper first")
        let policy = fixture("bridge-host/policy.yaml")
        #expect(try run(binary, ["audit"]).status == 64)
        let evidence = try run(binary, ["audit", "--policy", policy, "--evidence", "x.pcapng"])
        #expect(evidence.status == 64)
        #expect(evidence.stderr.contains("--evidence is for replay and watch"))
        #expect(try run(binary, ["audit", "--policy", "/nonexistent/policy.yaml"]).status == 66)
        #expect(try run(binary, ["audit", "--policy", policy, "--host-fixture", "/nonexistent"]).status == 66)
        #expect(try run(binary, ["policy", "init", "--cloudstack-agent", "/nonexistent/agent.properties"]).status == 66)
        let bad = try temporaryFile("policy.yaml", "version: 1\nnetworks: {management: {interfaces: [eth0]}}\nstorage_targets: [x]\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let invalid = try run(binary, ["audit", "--policy", bad])
        #expect(invalid.status == 65)
        #expect(invalid.stderr.contains("\(bad):3:19: storage_targets[0]: \"x\" is not an IPv4 or IPv6 address"))
    }

    /// The recorded hosts through the command line (`--host-fixture`), JSON and exit status.
    @Test func auditOfARecordedHost() throws {
        let result = try run(binary, ["audit", "--policy", fixture("bridge-host/policy.yaml"), "--host-fixture",
                                           fixture("bridge-host"), "--mountinfo", "/dev/null", "--format", "json"])
        #expect(result.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["version"] as? Int == 1)
        #expect(json["verdict"] as? String == "fail")
        let targets = try #require(json["targets"] as? [[String: Any]])
        #expect(targets.map { $0["address"] as? String } == ["203.0.113.20", "2001:db8:0:203::20", "198.51.100.20"])
        #expect(targets.map { $0["source"] as? String } == ["policy", "policy", "policy"])
        #expect(targets.map { $0["network"] as? String } == ["storage", "storage", "management"])

        let vlan = try run(binary, ["policy", "init", "--host-fixture", fixture("vlan-bond"), "--cloudstack-agent",
                                         fixture("vlan-bond/agent.properties")])
        #expect(vlan.status == 0)
        #expect(vlan.stdout.contains("  storage:\n    # bond0.42: the kernel routes 203.0.113.20 directly out of it\n"
            + "    interfaces: [bond0.42]\n    vlans: [42]\n    subnets: [203.0.113.0/24]\n"))
    }
}
