import Audit
import Check
import Decode
import Foundation
import Policy
import Report
import TestSupport
import Testing

/// The targets of every primary storage type: Ceph monitors from libvirt's RBD pools and
/// ceph.conf, Gluster servers from fuse mounts, NVMe/TCP controllers from sysfs. What each
/// fixture is and which ones libvirt wrote itself: Fixtures/ceph-host/README.md.
@Suite struct StorageTargetSourcesTests {
    static let names = HostNameResolver.table(["ceph-mon2.example": [IPAddress("203.0.113.38")!],
                                               "gluster2.example": [IPAddress("203.0.113.44")!]])
    static let none = HostNameResolver.table([:])

    static func described(_ findings: TargetFindings) -> [String] {
        findings.targets.map { "\($0.address) \($0.source.rawValue) \($0.detail ?? "-")" }
    }

    /// A directory of its own, removed by the caller.
    static func directory() throws -> String {
        let path = temporaryPath("targets-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    // MARK: - libvirt pools

    @Test func rbdPoolsWrittenByLibvirt() {
        let root = fixture("ceph-host")
        let findings = LibvirtPools.targets(directories: ["\(root)/etc/libvirt/storage", "\(root)/run/libvirt/storage"],
                                            resolver: Self.none)
        let pool = "RBD pool a7c3e1f2-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
        #expect(Self.described(findings) == [
            "203.0.113.31 libvirt-rbd-pool Ceph monitor 203.0.113.31:6789 of \(pool)",
            "2001:db8:0:203::32 libvirt-rbd-pool Ceph monitor [2001:db8:0:203::32]:3300 of \(pool)",
            "203.0.113.33 libvirt-rbd-pool Ceph monitor 203.0.113.33:6789 of \(pool)",
            "203.0.113.34 libvirt-rbd-pool Ceph monitor 203.0.113.34:6789 of RBD pool 5e0b6a4c-2d1f-4c8e-b7a9-3f6e1d2c0b9a",
        ])
        // The pool defined by name (virsh kept the port in it): reported, not guessed.
        #expect(findings.problems.map(\.description) == [
            "\(root)/etc/libvirt/storage/rbd-byname.xml: RBD pool rbd-byname names ceph-mon1.invalid, which does not "
                + "resolve (not in the test's table): not audited",
        ])
        let resolved = LibvirtPools.targets(directories: ["\(root)/etc/libvirt/storage"], resolver: .table(
            ["ceph-mon1.invalid": [IPAddress("203.0.113.39")!]]))
        #expect(Self.described(resolved).last == "203.0.113.39 libvirt-rbd-pool Ceph monitor ceph-mon1.invalid = "
            + "203.0.113.39:6789 of RBD pool rbd-byname")
    }

    @Test func glusterPoolsAndOtherPoolTypes() {
        let text = """
            <pool type="gluster"><name>gv0</name><source><name>gv0</name><dir path="/"/>
            <host name="gluster2.example"/></source></pool>
            """
        #expect(Self.described(LibvirtPools.parse(text, path: "gv0.xml", resolver: Self.names))
            == ["203.0.113.44 libvirt-gluster-pool Gluster server gluster2.example = 203.0.113.44:24007 of Gluster pool gv0"])
        let netfs = "<pool type='netfs'><name>n</name><source><host name='203.0.113.20'/></source></pool>"
        let none = LibvirtPools.parse(netfs, path: "n.xml", resolver: Self.none)
        #expect(none.targets.isEmpty && none.problems.isEmpty)
    }

    @Test(arguments: [
        ("<pool type='rbd'><name>p</name><source><host name='203.0.113.31' port='6789'/>",
         "not well-formed XML: <source> is never closed (the file ends first)"),
        ("<pool type='rbd'>\n<name>p</name>\n<source><host name='203.0.113.31' port='6789'</source></pool>",
         "not well-formed XML: tag never closed (line 3)"),
        ("<pool type='rbd'><source><host name=203.0.113.31/></source></pool>",
         "not well-formed XML: attribute name of <host> is not quoted (line 1)"),
        ("<pool type='rbd'><source></host></source></pool>", "not well-formed XML: </host> closes <source> (line 1)"),
        ("<domain type='kvm'><name>vm</name></domain>", "no <pool> element: not a libvirt storage pool definition"),
        ("just text", "no <pool> element: not a libvirt storage pool definition"),
        ("<pool type='rbd'><name>p</name><source><name>rbd</name></source></pool>", "RBD pool p has no <source><host> element"),
        ("<pool type='rbd'><name>p</name><source><host port='6789'/></source></pool>", "RBD pool p: a <host> element without a name"),
        ("<pool type='rbd'><name>p</name><source><host name='203.0.113.31' port='67x9'/></source></pool>",
         "RBD pool p: host 203.0.113.31 has port \"67x9\", which is not a port number"),
        ("<!-- <pool type='rbd'>", "not well-formed XML: comment never closed (line 1)"),
    ])
    func malformedPoolFiles(text: String, problem: String) {
        let findings = LibvirtPools.parse(text, path: "/etc/libvirt/storage/p.xml", resolver: Self.none)
        #expect(findings.targets.isEmpty)
        #expect(findings.problems.map(\.description) == ["/etc/libvirt/storage/p.xml: \(problem)"])
    }

    @Test func unreadablePoolFiles() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data([0x3c, 0x70, 0xff, 0xfe, 0x00]).write(to: URL(fileURLWithPath: "\(directory)/binary.xml"))
        try "ignored".write(toFile: "\(directory)/notes.txt", atomically: true, encoding: .utf8)
        let findings = LibvirtPools.targets(directories: [directory, "/nonexistent"], resolver: Self.none)
        #expect(findings.problems.map(\.description) == ["\(directory)/binary.xml: is not UTF-8 text"])
    }

    // MARK: - ceph.conf

    @Test func cephConfMonHost() {
        let path = fixture("ceph-host/etc/ceph/ceph.conf")
        let findings = CephConf.targets(path: path, resolver: Self.names)
        #expect(findings.problems.isEmpty)
        #expect(Self.described(findings) == [
            "203.0.113.35 ceph-conf Ceph monitor v2 203.0.113.35:3300 from mon_host in [global]",
            "203.0.113.35 ceph-conf Ceph monitor v1 203.0.113.35:6789 from mon_host in [global]",
            "2001:db8:0:203::36 ceph-conf Ceph monitor v2 [2001:db8:0:203::36]:3300 from mon_host in [global]",
            "2001:db8:0:203::36 ceph-conf Ceph monitor v1 [2001:db8:0:203::36]:6789 from mon_host in [global]",
            "203.0.113.37 ceph-conf Ceph monitor 203.0.113.37:6789 from mon_host in [global]",
            "203.0.113.38 ceph-conf Ceph monitor ceph-mon2.example = 203.0.113.38:3300, 203.0.113.38:6789 from mon_host in [global]",
        ])
        #expect(CephConf.targets(path: "/nonexistent/ceph.conf", resolver: Self.none).problems.isEmpty)
    }

    @Test(arguments: [
        ("1.2.3.4", ["1.2.3.4 - 3300,6789"]),
        ("1.2.3.4:6789, 1.2.3.5:6789", ["1.2.3.4 6789 6789", "1.2.3.5 6789 6789"]),
        ("[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]", ["1.2.3.4 3300 3300", "1.2.3.4 6789 6789"]),
        ("[v2:1.2.3.4:3300,v1:1.2.3.4:6789],[v2:1.2.3.5:3300,v1:1.2.3.5:6789]",
         ["1.2.3.4 3300 3300", "1.2.3.4 6789 6789", "1.2.3.5 3300 3300", "1.2.3.5 6789 6789"]),
        ("v2:1.2.3.4/0 v1:1.2.3.4", ["1.2.3.4 - 3300", "1.2.3.4 - 6789"]),
        ("[2001:db8::1]:6789", ["2001:db8::1 6789 6789"]),
        ("2001:db8::1", ["2001:db8::1 - 3300,6789"]),
        ("[v2:[2001:db8::1]:3300/0,v1:[2001:db8::1]:6789/0]", ["2001:db8::1 3300 3300", "2001:db8::1 6789 6789"]),
        ("mon-a.example:6789;mon-b", ["mon-a.example 6789 6789", "mon-b - 3300,6789"]),
        ("any:1.2.3.4:6789/123", ["1.2.3.4 6789 6789"]),
    ])
    func monHostSyntaxes(value: String, expected: [String]) throws {
        let monitors = try CephConf.monitorAddresses(value).get()
        #expect(monitors.map { "\($0.host) \($0.port.map(String.init) ?? "-") "
            + ($0.port.map { [$0] } ?? $0.defaultPorts).map(String.init).joined(separator: ",") } == expected)
    }

    @Test(arguments: [
        ("[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0", "\"[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0\" opens [ without closing it"),
        ("1.2.3.4:6789]", "\"1.2.3.4:6789]\" closes ] without opening it"),
        ("1.2.3.4:99999", "\"1.2.3.4:99999\": \"99999\" is not a port number"),
        ("v2:1.2.3.4:3300/x", "\"v2:1.2.3.4:3300/x\" is not an address (what follows / is no nonce)"),
        ("[1.2.3.4]:6789", "\"[1.2.3.4]:6789\": 1.2.3.4 in brackets is not an IPv6 address"),
        ("mon!host", "\"mon!host\" is not an address or a host name"),
        ("2001:db8::zz:6789", "\"2001:db8::zz:6789\" is not an address (an IPv6 address with a port goes in brackets)"),
    ])
    func malformedMonHost(value: String, problem: String) {
        let text = "[global]\nmon_host = \(value)\n"
        let findings = CephConf.parse(text, path: "/etc/ceph/ceph.conf", resolver: Self.none)
        #expect(findings.targets.isEmpty)
        #expect(findings.problems.map(\.description) == ["/etc/ceph/ceph.conf: line 2: mon_host in [global]: \(problem)"])
    }

    @Test func cephConfKeysSectionsAndDamage() {
        let text = """
            ; comment
            [global]
            Mon Host = 203.0.113.35 # trailing comment
            [client.cloudstack]
            mon-host = "203.0.113.36:6789"
            [osd]
            mon_host = 192.0.2.1
            [mon.a]
            mon addr = 203.0.113.37:6789
            [broken
            what is this
            [global]
            mon_host = unknown-mon.example
            """
        let findings = CephConf.parse(text, path: "c.conf", resolver: Self.none)
        #expect(findings.targets.map(\.address.description) == ["203.0.113.35", "203.0.113.36", "203.0.113.37"])
        #expect(findings.problems.map(\.description) == [
            "c.conf: line 10: section header [broken has no closing ]",
            "c.conf: line 11: \"what is this\" is not KEY = VALUE",
            "c.conf: line 13: mon_host in [global] names unknown-mon.example, which does not resolve (not in the test's table): "
                + "not audited",
        ])
        let empty = CephConf.parse("[global]\nfsid = x\n", path: "c.conf", resolver: Self.none)
        #expect(empty.problems.map(\.description) == ["c.conf: names no monitor (no mon_host in [global] or [client])"])
        let blank = CephConf.parse("[global]\nmon_host =\n", path: "c.conf", resolver: Self.none)
        #expect(blank.problems.map(\.description) == ["c.conf: line 2: mon_host in [global] is empty"])
    }

    // MARK: - GlusterFS mounts

    @Test func glusterMounts() {
        let path = fixture("ceph-host/mountinfo")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(Self.described(GlusterMounts.targets(text, path: path, resolver: Self.none))
            == ["203.0.113.41 glusterfs-mount volfile server of 203.0.113.41:/gv0 on /mnt/4d1c9a3e-7b2f-4e8d-a6c5-0f1e2d3c4b5a"])
        // Synthesized: a mount whose options show backup volfile servers (fstab's option; the
        // kernel does not show it for fuse mounts, a mount table written by hand may).
        let backup = "104 25 0:60 / /mnt/gv1 rw - fuse.glusterfs gluster2.example:gv1 rw,backup-volfile-servers=203.0.113.45:gluster2.example\n"
            + "105 25 0:61 / /mnt/bad rw - fuse.glusterfs gv2 rw\n"
            + "106 25 0:62 / /mnt/gone rw - fuse.glusterfs nowhere.example:/gv3 rw\n"
        let findings = GlusterMounts.targets(backup, path: "/proc/self/mountinfo", resolver: Self.names)
        #expect(Self.described(findings) == [
            "203.0.113.44 glusterfs-mount volfile server of gluster2.example:gv1 on /mnt/gv1",
            "203.0.113.45 glusterfs-mount backup volfile server of gluster2.example:gv1 on /mnt/gv1",
        ])
        #expect(findings.problems.map(\.description) == [
            "/proc/self/mountinfo: line 2: glusterfs mount /mnt/bad has source \"gv2\", not SERVER:/VOLUME",
            "/proc/self/mountinfo: line 3: glusterfs mount /mnt/gone names nowhere.example, which does not resolve "
                + "(not in the test's table): not audited",
        ])
    }

    // MARK: - NVMe/TCP

    @Test func nvmeTCPControllers() {
        let findings = NVMeControllers.targets(sysfsRoot: fixture("ceph-host/sys"))
        #expect(findings.problems.isEmpty)
        #expect(Self.described(findings)
            == ["203.0.113.42 nvme-tcp nvme0 203.0.113.42:4420 nqn.2026-11.org.example:primary from 203.0.113.10"])
        #expect(NVMeControllers.targets(sysfsRoot: "/nonexistent").targets.isEmpty)
    }

    @Test func malformedNVMeControllers() throws {
        let root = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let entries = [("nvme0", "trsvcid=4420"), ("nvme1", "traddr=storage.example,trsvcid=4420"), ("nvme2", nil),
                       ("nvme3", "traddr=2001:db8:0:203::42,trsvcid=4421")]
        for (name, address) in entries {
            let directory = "\(root)/class/nvme/\(name)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try "tcp\n".write(toFile: "\(directory)/transport", atomically: true, encoding: .utf8)
            if let address { try (address + "\n").write(toFile: "\(directory)/address", atomically: true, encoding: .utf8) }
        }
        let findings = NVMeControllers.targets(sysfsRoot: root)
        #expect(Self.described(findings) == ["2001:db8:0:203::42 nvme-tcp nvme3 [2001:db8:0:203::42]:4421"])
        #expect(findings.problems.map(\.description) == [
            "\(root)/class/nvme/nvme0/address: \"trsvcid=4420\" has no traddr=",
            "\(root)/class/nvme/nvme1/address: traddr=storage.example is not an IP address",
            "\(root)/class/nvme/nvme2/address: missing or empty for a tcp controller",
        ])
    }
}

/// The audit over the ceph-host files: every source found, passing when each is routed out of
/// the storage interface, failing (naming target, source and interface) when one is routed via
/// management; secondary storage that `allow` covers listed as allowed.
@Suite struct PrimaryStorageAuditTests {
    static let policy = AuditFixtureTests.bridgePolicy

    static func survey(root: String = fixture("ceph-host"), mountinfo: String? = nil) throws -> HostSurvey {
        try HostSurvey.take(HostPaths(fixture: fixture("bridge-host"), sysfsRoot: "\(root)/sys",
                                      mountinfo: mountinfo ?? "\(root)/mountinfo", configRoot: root,
                                      resolver: StorageTargetSourcesTests.names))
    }

    static func audit(_ survey: HostSurvey, _ policyText: String = policy) throws -> AuditResult {
        Audit.run(policy: try Policy.parse(policyText, path: "policy.yaml"), host: survey.host, targets: survey.targets,
                  warnings: survey.problems.map(\.description))
    }

    /// The bridge host with `mountinfo` and the policy's targets, audited as the command does.
    static func audit(mountinfo: String, _ policyText: String) throws -> AuditResult {
        let policy = try Policy.parse(policyText, path: "policy.yaml")
        let survey = try HostSurvey.take(HostPaths(fixture: fixture("bridge-host"), mountinfo: mountinfo),
                                         extraTargets: policy.storageTargets.map { StorageTarget(address: $0, source: .policy) })
        return Audit.run(policy: policy, host: survey.host, targets: survey.targets)
    }

    @Test func everySourceIsFoundAndRoutedViaStoragePasses() throws {
        let survey = try Self.survey()
        #expect(survey.targets.map { "\($0.address) \($0.source.rawValue)" } == [
            "203.0.113.20 nfs-mount", "203.0.113.41 glusterfs-mount", "203.0.113.42 nvme-tcp",
            "203.0.113.31 libvirt-rbd-pool", "2001:db8:0:203::32 libvirt-rbd-pool", "203.0.113.33 libvirt-rbd-pool",
            "203.0.113.34 libvirt-rbd-pool", "203.0.113.35 ceph-conf", "2001:db8:0:203::36 ceph-conf",
            "203.0.113.37 ceph-conf", "203.0.113.38 ceph-conf",
        ])
        let result = try Self.audit(survey)
        #expect(result.verdict == .pass, "\(result.reasons)")
        #expect(result.targets.allSatisfy { $0.interface == "stor0" && $0.network == "storage" })
        #expect(result.warnings.contains { $0.hasSuffix("rbd-byname.xml: RBD pool rbd-byname names ceph-mon1.invalid, "
            + "which does not resolve (not in the test's table): not audited") })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(AuditReport.json(result).utf8)) as? [String: Any])
        let targets = try #require(json["targets"] as? [[String: Any]])
        #expect(targets.compactMap { $0["source"] as? String }.filter { $0 == "libvirt-rbd-pool" }.count == 4)
    }

    /// Each source in turn has its target moved to 192.0.2.0/24, which the host reaches only by
    /// its default route out of cloudbr0.
    @Test(arguments: [
        ("etc/libvirt/storage/a7c3e1f2-5b6d-4e8f-9a0b-1c2d3e4f5a6b.xml", "203.0.113.31", "libvirt-rbd-pool",
         "Ceph monitor 192.0.2.31:6789 of RBD pool a7c3e1f2-5b6d-4e8f-9a0b-1c2d3e4f5a6b"),
        ("run/libvirt/storage/5e0b6a4c-2d1f-4c8e-b7a9-3f6e1d2c0b9a.xml", "203.0.113.34", "libvirt-rbd-pool",
         "Ceph monitor 192.0.2.34:6789 of RBD pool 5e0b6a4c-2d1f-4c8e-b7a9-3f6e1d2c0b9a"),
        ("etc/ceph/ceph.conf", "203.0.113.37", "ceph-conf", "Ceph monitor 192.0.2.37:6789 from mon_host in [global]"),
        ("mountinfo", "203.0.113.41", "glusterfs-mount",
         "volfile server of 192.0.2.41:/gv0 on /mnt/4d1c9a3e-7b2f-4e8d-a6c5-0f1e2d3c4b5a"),
        ("sys/class/nvme/nvme0/address", "203.0.113.42", "nvme-tcp",
         "nvme0 192.0.2.42:4420 nqn.2026-11.org.example:primary from 203.0.113.10"),
    ])
    func aTargetRoutedViaManagementFails(file: String, address: String, source: String, detail: String) throws {
        let root = try StorageTargetSourcesTests.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.removeItem(atPath: root)
        try FileManager.default.copyItem(atPath: fixture("ceph-host"), toPath: root)
        let moved = address.replacingOccurrences(of: "203.0.113.", with: "192.0.2.")
        let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
        try text.replacingOccurrences(of: address, with: moved).write(toFile: "\(root)/\(file)", atomically: true, encoding: .utf8)
        let result = try Self.audit(try Self.survey(root: root))
        #expect(result.verdict == .fail)
        let violation = try #require(result.violations.only)
        #expect(violation.rule == "routed-via-management")
        #expect(violation.target?.description == moved)
        #expect(violation.interface == "cloudbr0")
        #expect(violation.source?.rawValue == source)
        #expect(violation.message == "storage target \(moved) is routed via cloudbr0 through gateway 198.51.100.1, which is "
            + "management (named in the policy); from \(source): \(detail)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(AuditReport.json(result).utf8)) as? [String: Any])
        let violations = try #require(json["violations"] as? [[String: Any]])
        #expect(violations.first?["source"] as? String == source)
        #expect(AuditReport.text(result).contains("  - storage target \(moved) is routed via cloudbr0"))
    }

    @Test func protocolsThePolicyLeavesOutAreNotAudited() throws {
        let result = try Self.audit(try Self.survey(), Self.policy + "storage_protocols: [nfs, iscsi, glusterfs, nvme-tcp]\n")
        #expect(result.verdict == .pass)
        #expect(!result.targets.contains { $0.source.protocolName == "ceph" })
        #expect(result.warnings.contains("storage target 203.0.113.31 (libvirt-rbd-pool) not audited: ceph is not in the "
            + "policy's storage_protocols"))
    }

    // MARK: - Secondary storage and allow

    static let secondaryMount = "98 25 0:52 / /mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2 rw,relatime shared:60 - nfs "
        + "198.51.100.60:/export/secondary rw,vers=3,proto=tcp,addr=198.51.100.60\n"

    @Test func allowedSecondaryStorageOnManagementIsListedNotFailed() throws {
        let mountinfo = try temporaryFile("mountinfo", Self.secondaryMount)
        defer { try? FileManager.default.removeItem(atPath: mountinfo) }
        let plain = Self.policy + "storage_targets: [203.0.113.20]\n"
        let failed = try Self.audit(mountinfo: mountinfo, plain)
        #expect(failed.verdict == .fail)
        #expect(failed.violations.map(\.rule) == ["target-in-management-subnet", "routed-via-management"])

        let allowing = plain + "allow:\n  - {protocol: iscsi, peer: 198.51.100.60/32}\n  - {protocol: nfs, peer: 198.51.100.60/32}\n"
        let result = try Self.audit(mountinfo: mountinfo, allowing)
        #expect(result.verdict == .pass, "\(result.reasons)")
        #expect(result.violations.isEmpty)
        let allowed = try #require(result.allowed.only)
        #expect(allowed.address.description == "198.51.100.60")
        #expect(allowed.interface == "cloudbr0" && allowed.network == "management")
        #expect(allowed.allowedBy == "allow[1] {protocol: nfs, peer: 198.51.100.60/32}")
        let text = AuditReport.text(result)
        #expect(text.contains("\nAllowed on management (the policy's allow; not failed)\n  - 198.51.100.60 (nfs-mount "
            + "198.51.100.60:/export/secondary on /mnt/6a9b2f43-6c1e-3d55-8a7e-21f0e9c4b3d2) via cloudbr0: "
            + "allow[1] {protocol: nfs, peer: 198.51.100.60/32}\n"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(AuditReport.json(result).utf8)) as? [String: Any])
        let listed = try #require(json["allowed"] as? [[String: Any]])
        #expect(listed.map { $0["address"] as? String } == ["198.51.100.60"])
        #expect(listed.first?["allow"] as? String == "allow[1] {protocol: nfs, peer: 198.51.100.60/32}")
        let targets = try #require(json["targets"] as? [[String: Any]])
        #expect(targets.map { $0["allowed_by"] as? String } == ["allow[1] {protocol: nfs, peer: 198.51.100.60/32}", nil])
    }

    /// A `storage_targets` entry has no protocol: only an entry's peer covers it.
    @Test func policyTargetsAreAllowedOnlyByPeer() throws {
        let base = Self.policy + "storage_targets: [203.0.113.20, 198.51.100.20]\n"
        let byProtocol = try Self.audit(mountinfo: "/dev/null", base + "allow: [{protocol: nfs}]\n")
        #expect(byProtocol.verdict == .fail)
        let byPeer = try Self.audit(mountinfo: "/dev/null", base + "allow: [{peer: 198.51.100.0/24}]\n")
        #expect(byPeer.verdict == .pass)
        #expect(byPeer.allowed.map(\.address.description) == ["198.51.100.20"])
    }
}

extension Array {
    /// The one element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
