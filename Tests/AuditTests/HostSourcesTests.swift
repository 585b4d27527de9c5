import Audit
import Decode
import Testing

/// NFS mounts, iSCSI sessions and the agent configuration, from recorded text and trees.
@Suite struct HostSourcesTests {
    @Test func nfsMountsFromMountinfo() {
        let text = """
            25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            98 25 0:52 / /mnt/primary rw,relatime shared:60 - nfs 203.0.113.20:/export rw,vers=3,proto=tcp,mountaddr=203.0.113.20,addr=203.0.113.20
            99 25 0:53 / /mnt/with\\040space rw - nfs4 [2001:db8:0:203::20]:/ rw,vers=4.2,clientaddr=2001:db8:0:203::10,addr=2001:db8:0:203::20
            100 25 0:54 / /mnt/old rw - nfs 192.0.2.5:/srv rw,vers=3
            101 25 0:55 / /mnt/byname rw - nfs nfs.example:/srv rw,vers=3
            102 25 0:56 / /mnt/cifs rw - cifs //198.51.100.7/share rw,addr=198.51.100.7
            short line - nfs
            """
        let targets = MountInfo.nfsTargets(text)
        #expect(targets.map(\.address.description) == ["203.0.113.20", "2001:db8:0:203::20", "192.0.2.5"])
        #expect(targets.allSatisfy { $0.source == .nfsMount })
        #expect(targets[0].detail == "203.0.113.20:/export on /mnt/primary")
        #expect(targets[1].detail == "[2001:db8:0:203::20]:/ on /mnt/with space")
    }

    @Test func iscsiSessionsFromSysfs() {
        let targets = ISCSISessions.targets(sysfsRoot: fixture("vlan-bond/sys"))
        #expect(targets == [StorageTarget(address: IPAddress("203.0.113.21")!, source: .iscsiSession,
                                          detail: "session1 iqn.2026-11.org.example:lab portal 203.0.113.21:3260")])
        #expect(ISCSISessions.targets(sysfsRoot: "/nonexistent").isEmpty)
    }

    @Test func agentProperties() {
        let text = "# comment\n! also a comment\nprivate.network.device=cloudbr0\n  public.network.device = cloudbr1\n"
            + "guest.network.device: \\\n    cloudbr2\nkey\\=with\\:escapes value\\tx\nempty=\nunicode=\\u0041b\n"
            + "trailing.continuation=a\\\\\n"
        let properties = JavaProperties.parse(text)
        #expect(properties["private.network.device"] == "cloudbr0")
        #expect(properties["public.network.device"] == "cloudbr1")
        #expect(properties["guest.network.device"] == "cloudbr2")
        #expect(properties["key=with:escapes"] == "value\tx")
        #expect(properties["empty"] == "")
        #expect(properties["unicode"] == "Ab")
        #expect(properties["trailing.continuation"] == "a\\")
        #expect(properties.count == 7)
    }
}
