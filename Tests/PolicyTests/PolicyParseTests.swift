import Decode
import Flows
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing
import Policy

/// The example from the policy format's documentation.
let examplePolicy = """
    version: 1
    networks:
      management:
        interfaces: [cloudbr0]                # interface names as the host or the capture knows them
        subnets: [198.51.100.0/24, "2001:db8:0:198::/64"]
      storage:
        interfaces: [eth2]
        vlans: [42]                           # frames tagged 42 belong here, on whatever interface
        subnets: [203.0.113.0/24]
        expect_storage_traffic: true          # optional; no storage seen here -> inconclusive
      guest:                                  # any other name is allowed; only management and storage have rules
        interfaces: [cloudbr1]
    storage_protocols: [nfs, iscsi]           # optional; the default is every protocol lanekeeper knows
    ports: {iscsi: [3260, 13260]}             # optional extra ports per protocol
    allow:                                    # optional exceptions on management, e.g. secondary storage
      - {protocol: nfs, peer: 198.51.100.60/32}

    """

func ip(_ text: String) -> IPAddress { IPAddress(text)! }
func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }

@Suite struct PolicyParseTests {
    @Test func exampleParsesToExactlyTheExpectedValues() throws {
        let policy = try Policy.parse(examplePolicy, path: "policy.yaml")
        #expect(policy.version == 1)
        #expect(policy.networks == [
            NetworkSpec(name: "management", interfaces: ["cloudbr0"],
                        subnets: [prefix("198.51.100.0/24"), prefix("2001:db8:0:198::/64")]),
            NetworkSpec(name: "storage", interfaces: ["eth2"], vlans: [42], subnets: [prefix("203.0.113.0/24")],
                        expectStorageTraffic: true),
            NetworkSpec(name: "guest", interfaces: ["cloudbr1"]),
        ])
        #expect(policy.networks.map(\.role) == [.management, .storage, .other])
        #expect(policy.storageProtocols == ["nfs", "iscsi"])
        #expect(policy.extraPorts == ["iscsi": [3260, 13260]])
        #expect(policy.allow == [AllowRule(protocolName: "nfs", peer: prefix("198.51.100.60/32"))])

        #expect(policy.management.name == "management")
        #expect(policy.storage?.name == "storage")
        #expect(policy.network(named: "guest")?.interfaces == ["cloudbr1"])
        #expect(policy.network(named: "public") == nil)
        #expect(policy.network(forVLAN: 42) == 1)
        #expect(policy.network(forVLAN: 43) == nil)
        #expect(policy.network(forInterface: "cloudbr0") == 0)
        #expect(policy.network(forInterface: "eth2") == 1)
        #expect(policy.network(forInterface: "cloudbr1") == 2)
        #expect(policy.network(forInterface: "eth9") == nil)
        #expect(policy.network(forAddress: ip("198.51.100.7")) == 0)
        #expect(policy.network(forAddress: ip("2001:db8:0:198::7")) == 0)
        #expect(policy.network(forAddress: ip("203.0.113.200")) == 1)
        #expect(policy.network(forAddress: ip("192.0.2.1")) == nil)
    }

    @Test func minimalPolicyUsesTheDefaults() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              management: {interfaces: [eth0]}
            """, path: "p.yaml")
        #expect(policy.networks == [NetworkSpec(name: "management", interfaces: ["eth0"])])
        #expect(policy.storage == nil)
        #expect(policy.storageProtocols == ProtocolTable.builtin.observableProtocolNames)
        #expect(policy.storageProtocols == ["nfs", "iscsi", "ceph", "smb", "nvme-tcp", "isns", "glusterfs", "drbd", "powerflex"])
        #expect(policy.extraPorts.isEmpty)
        #expect(policy.allow.isEmpty)
        #expect(policy.protocolTable.services == ProtocolTable.builtin.services.filter(\.observable))
    }

    @Test func networkForAddressPrefersTheLongestPrefix() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              guest: {subnets: [10.0.0.0/8]}
              management: {subnets: [10.1.0.0/16]}
              lab: {subnets: [10.1.0.0/16]}
            """, path: "p.yaml")
        #expect(policy.network(forAddress: ip("10.1.2.3")) == 1)
        #expect(policy.network(forAddress: ip("10.2.0.1")) == 0)
        #expect(policy.network(forAddress: ip("::ffff:10.1.2.3")) == nil)
    }

    @Test func protocolTableIsRestrictedAndExtended() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              management: {interfaces: [eth0]}
            storage_protocols: [iscsi]
            ports: {iscsi: [3260, 13260]}
            """, path: "p.yaml")
        let table = policy.protocolTable
        #expect(table.services.map(\.protocolName) == ["iscsi"])
        let iscsi = try #require(table.serviceIndex(ipProtocol: 6, port: 3260))
        #expect(table.services[iscsi].name == "iscsi")
        #expect(table.serviceIndex(ipProtocol: 6, port: 13260) == iscsi)
        #expect(table.serviceIndex(ipProtocol: 17, port: 13260) == nil)  // iSCSI is TCP only
        #expect(table.serviceIndex(ipProtocol: 6, port: 2049) == nil)    // NFS not checked
        #expect(table.serviceIndex(ipProtocol: 17, port: 111) == nil)

        let both = try Policy.parse("""
            version: 1
            networks:
              management: {interfaces: [eth0]}
            ports:
              nfs: [20049]
            """, path: "p.yaml")
        let nfs = try #require(both.protocolTable.serviceIndex(ipProtocol: 17, port: 20049))
        #expect(both.protocolTable.services[nfs].name == "nfs")
        #expect(both.protocolTable.serviceIndex(ipProtocol: 6, port: 20049) == nfs)
        #expect(both.protocolTable.serviceIndex(ipProtocol: 6, port: 2049) == nfs)
        #expect(both.protocolTable.serviceIndex(ipProtocol: 6, port: 3260) != nil)
    }

    /// The names `policy init --cloudstack-url` writes for Linstor, PowerFlex and StorPool pools.
    @Test func theVendorProtocolsAreAccepted() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              management: {interfaces: [eth0]}
            storage_protocols: [drbd, powerflex, storpool]
            ports: {drbd: [7789, 12345], powerflex: [17072]}
            allow:
              - {protocol: drbd, peer: 198.51.100.9/32}
            """, path: "p.yaml")
        #expect(policy.storageProtocols == ["drbd", "powerflex", "storpool"])
        let table = policy.protocolTable
        #expect(table.unobservableProtocolNames == ["storpool"])
        // A policy's port is well-known, inside Linstor's range or not.
        #expect(table.services[try #require(table.serviceIndex(ipProtocol: 6, port: 12345))].name == "drbd")
        #expect(table.portService(ipProtocol: 6, port: 7789)?.inRange == false)
        #expect(table.portService(ipProtocol: 6, port: 7790)?.inRange == true)
        #expect(table.services[try #require(table.serviceIndex(ipProtocol: 6, port: 17072))].name == "powerflex-sds")

        // A port only inside another protocol's range may be given to a protocol (it outranks the range).
        let nfs = try Policy.parse("""
            version: 1
            networks:
              management: {interfaces: [eth0]}
            ports: {nfs: [7500, 7000]}
            """, path: "p.yaml")
        for port: UInt16 in [7500, 7000] {
            let service = try #require(nfs.protocolTable.portService(ipProtocol: 6, port: port))
            #expect(nfs.protocolTable.services[service.service].name == "nfs")
            #expect(!service.inRange)
        }
        #expect(throws: PolicyError.self) {
            try Policy.parse("version: 1\nnetworks:\n  management: {interfaces: [eth0]}\nports: {storpool: [1]}\n", path: "p.yaml")
        }
    }

    @Test func allowRuleMatching() throws {
        let nfsToFiler = AllowRule(protocolName: "nfs", peer: prefix("198.51.100.60/32"))
        #expect(nfsToFiler.covers(protocolName: "nfs", client: ip("198.51.100.5"), server: ip("198.51.100.60")))
        #expect(nfsToFiler.covers(protocolName: "nfs", client: ip("198.51.100.60"), server: ip("198.51.100.5")))
        #expect(!nfsToFiler.covers(protocolName: "iscsi", client: ip("198.51.100.5"), server: ip("198.51.100.60")))
        #expect(!nfsToFiler.covers(protocolName: "nfs", client: ip("198.51.100.5"), server: ip("198.51.100.61")))

        let anyNFS = AllowRule(protocolName: "nfs")
        #expect(anyNFS.covers(protocolName: "nfs", client: ip("192.0.2.1"), server: ip("2001:db8::1")))
        #expect(!anyNFS.covers(protocolName: "iscsi", client: ip("192.0.2.1"), server: ip("192.0.2.2")))

        let anythingToSubnet = AllowRule(peer: prefix("2001:db8:60::/48"))
        #expect(anythingToSubnet.covers(protocolName: "iscsi", client: ip("2001:db8::1"), server: ip("2001:db8:60::9")))
        #expect(!anythingToSubnet.covers(protocolName: "iscsi", client: ip("2001:db8::1"), server: ip("2001:db8:61::9")))
        // An IPv4 endpoint never matches an IPv6 peer prefix.
        #expect(!anythingToSubnet.covers(protocolName: "nfs", client: ip("192.0.2.1"), server: ip("192.0.2.2")))
    }

    @Test func allowRulesFromTheFile() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              management: {subnets: ["2001:db8::/64"]}
            allow:
              - protocol: iscsi
              - peer: 2001:db8::60
              - {protocol: nfs, peer: "2001:db8:1::/48"}
            """, path: "p.yaml")
        #expect(policy.allow == [
            AllowRule(protocolName: "iscsi"),
            AllowRule(peer: prefix("2001:db8::60/128")),
            AllowRule(protocolName: "nfs", peer: prefix("2001:db8:1::/48")),
        ])
    }

    @Test func scalarsOfOtherYAMLStylesAreAccepted() throws {
        let policy = try Policy.parse("""
            version: 1
            networks:
              management:
                interfaces:
                  - "cloudbr0"
                  - 'bond0.100'
                vlans:
                  - 100
              storage:
                subnets: [10.42.0.0/16]
                expect_storage_traffic: false
            """, path: "p.yaml")
        #expect(policy.management.interfaces == ["cloudbr0", "bond0.100"])
        #expect(policy.management.vlans == [100])
        #expect(policy.storage?.expectStorageTraffic == false)
    }

    @Test func loadReadsAFileAndReportsAMissingOne() throws {
        let scratch = try TemporaryDirectory()
        let directory = scratch.path
        let path = directory + "/policy.yaml"
        try writeText(examplePolicy, to: path)
        let policy = try Policy.load(path: path)
        #expect(policy.networks.count == 3)

        let missing = directory + "/absent.yaml"
        do {
            _ = try Policy.load(path: missing)
            Issue.record("loading a missing file succeeded")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.path == missing)
            #expect(error.line == nil)
            #expect(error.description == "\(missing): no such file")
        }

        do {
            _ = try Policy.load(path: directory)
            Issue.record("loading a directory succeeded")
        } catch {
            #expect(error.code == .unreadable)
        }

        // An endless file is cut off with a reason, not read without end.
        do {
            _ = try Policy.load(path: "/dev/zero")
            Issue.record("loading /dev/zero succeeded")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.description == "/dev/zero: is larger than 16 MiB; a policy is a small YAML file")
        }

        // A file this process may not read names the system's reason.
        try writeText(examplePolicy, to: path)
        chmod(path, 0)
        if access(path, R_OK) != 0 {  // root reads it anyway
            do {
                _ = try Policy.load(path: path)
                Issue.record("an unreadable file was loaded")
            } catch {
                #expect(error.description == "\(path): cannot be read (Permission denied)")
            }
        }
        chmod(path, 0o644)

        try writeText("version: 1\nnetworks: {management: {vlans: [0]}}\n", to: path)
        do {
            _ = try Policy.load(path: path)
            Issue.record("an invalid file was accepted")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.description == "\(path):2:33: networks.management.vlans[0]: VLAN id 0 is out of range (1–4094)")
        }
    }
}
