import Testing
import Policy

/// One invalid policy and the exact error it must produce.
struct Rejection: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var code: PolicyError.Code = .invalid
    var line: Int?
    var column: Int?
    var key: String?
    var message: String

    var testDescription: String { name }
}

/// The start of most cases: a valid header with a management network on line 3.
private let header = "version: 1\nnetworks:\n  management: {interfaces: [eth0]}\n"

let rejections: [Rejection] = [
    // Structure of the document.
    Rejection(name: "empty document", yaml: "# nothing here\n", line: nil, column: nil, key: nil,
              message: "the policy is empty; it needs at least `version: 1` and `networks`"),
    Rejection(name: "top level is a list", yaml: "- version: 1\n", line: 1, column: 1, key: nil,
              message: "expected a mapping with keys version, networks, ..., found a list"),
    Rejection(name: "version missing", yaml: "networks: {management: {interfaces: [eth0]}}\n",
              line: 1, column: 1, key: "version",
              message: "the required key \"version\" is missing (write `version: 1`)"),
    Rejection(name: "version 2", yaml: "version: 2\nnetworks: {management: {interfaces: [eth0]}}\n",
              line: 1, column: 10, key: "version",
              message: "unsupported policy version 2; this lanekeeper reads version 1"),
    Rejection(name: "version as a string", yaml: "version: \"1\"\nnetworks: {management: {interfaces: [eth0]}}\n",
              line: 1, column: 10, key: "version", message: "expected an integer, found the string \"1\""),
    Rejection(name: "networks missing", yaml: "version: 1\n", line: 1, column: 1, key: "networks",
              message: "the required key \"networks\" is missing"),
    Rejection(name: "networks is a list", yaml: "version: 1\nnetworks: [management]\n", line: 2, column: 11,
              key: "networks", message: "expected a mapping of network name to network, found a list"),
    Rejection(name: "networks is empty", yaml: "version: 1\nnetworks:\n", line: 2, column: 10, key: "networks",
              message: "expected a mapping of network name to network, found nothing (null)"),
    Rejection(name: "network is not a mapping", yaml: header + "  guest:\n", line: 4, column: 9,
              key: "networks.guest",
              message: "expected a mapping with interfaces, vlans and/or subnets, found nothing (null)"),

    // Unknown keys, with and without a suggestion.
    Rejection(name: "unknown top-level key", yaml: "version: 1\nnetwork: {}\n", line: 2, column: 1, key: "network",
              message: "unknown key \"network\"; did you mean \"networks\"? "
                + "(expected version, networks, storage_protocols, ports, allow, storage_targets, host_addresses)"),
    Rejection(name: "subnet for subnets",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0]\n    subnet: [10.0.0.0/8]\n",
              line: 5, column: 5, key: "networks.management.subnet",
              message: "unknown key \"subnet\"; did you mean \"subnets\"? "
                + "(expected interfaces, vlans, subnets, expect_storage_traffic)"),
    Rejection(name: "vlan for vlans",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0]\n    vlan: [5]\n",
              line: 5, column: 5, key: "networks.management.vlan",
              message: "unknown key \"vlan\"; did you mean \"vlans\"? "
                + "(expected interfaces, vlans, subnets, expect_storage_traffic)"),
    Rejection(name: "dashes for underscores",
              yaml: header + "  storage:\n    interfaces: [eth1]\n    expect-storage-traffic: true\n",
              line: 6, column: 5, key: "networks.storage.expect-storage-traffic",
              message: "unknown key \"expect-storage-traffic\"; did you mean \"expect_storage_traffic\"? "
                + "(expected interfaces, vlans, subnets, expect_storage_traffic)"),
    Rejection(name: "unrelated unknown key", yaml: header + "colour: blue\n", line: 4, column: 1, key: "colour",
              message: "unknown key \"colour\" (expected version, networks, storage_protocols, ports, allow, storage_targets, host_addresses)"),
    Rejection(name: "key that is not a scalar", yaml: header + "[a]: b\n", line: 4, column: 1, key: nil,
              message: "keys must be plain names, found a list"),

    // Interfaces.
    Rejection(name: "interfaces as a single string",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: eth0\n",
              line: 4, column: 17, key: "networks.management.interfaces",
              message: "expected a list of interface names, found the string \"eth0\" (write [eth0])"),
    Rejection(name: "interfaces left empty",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces:\n",
              line: 4, column: 16, key: "networks.management.interfaces",
              message: "expected a list of interface names, found nothing (null) (write [] for none)"),
    Rejection(name: "empty interface name",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0, \"\"]\n",
              line: 4, column: 24, key: "networks.management.interfaces[1]",
              message: "expected an interface name, found an empty string"),
    Rejection(name: "null interface name",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces:\n      - eth0\n      -\n",
              line: 6, column: 8, key: "networks.management.interfaces[1]",
              message: "expected an interface name, found nothing (null)"),
    Rejection(name: "nested list as interface name",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [[eth0]]\n",
              line: 4, column: 18, key: "networks.management.interfaces[0]",
              message: "expected an interface name, found a list"),
    Rejection(name: "same interface in two networks",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0, eth1]\n"
                + "  storage:\n    interfaces: [eth2, eth0]\n",
              line: 6, column: 24, key: "networks.storage.interfaces[1]",
              message: "interface \"eth0\" is already in network \"management\" (line 4)"),
    Rejection(name: "same interface twice in one network",
              yaml: "version: 1\nnetworks:\n  management: {interfaces: [\"é\", eth0, eth0]}\n",
              line: 3, column: 40, key: "networks.management.interfaces[2]",
              message: "interface \"eth0\" is already in this network's list (line 3)"),

    // VLANs.
    Rejection(name: "VLAN 0", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [0]\n",
              line: 4, column: 13, key: "networks.management.vlans[0]", message: "VLAN id 0 is out of range (1–4094)"),
    Rejection(name: "VLAN 4095", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [1, 4095]\n",
              line: 4, column: 16, key: "networks.management.vlans[1]",
              message: "VLAN id 4095 is out of range (1–4094)"),
    Rejection(name: "VLAN as a string", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [\"42\"]\n",
              line: 4, column: 13, key: "networks.management.vlans[0]",
              message: "expected an integer, found the string \"42\""),
    Rejection(name: "VLAN in hex", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [0x2a]\n",
              line: 4, column: 13, key: "networks.management.vlans[0]",
              message: "expected a decimal integer, found 0x2a"),
    Rejection(name: "VLAN with a leading zero", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [042]\n",
              line: 4, column: 13, key: "networks.management.vlans[0]",
              message: "expected a decimal integer, found 042"),
    Rejection(name: "huge VLAN", yaml: "version: 1\nnetworks:\n  management:\n    vlans: [99999999999999999999999]\n",
              line: 4, column: 13, key: "networks.management.vlans[0]",
              message: "the number 99999999999999999999999 is too large"),
    Rejection(name: "same VLAN in two networks",
              yaml: "version: 1\nnetworks:\n  management:\n    vlans: [10]\n  storage:\n    vlans: [20]\n"
                + "  guest:\n    vlans: [30, 10]\n",
              line: 8, column: 17, key: "networks.guest.vlans[1]",
              message: "VLAN 10 is already in network \"management\" (line 4)"),

    // Subnets.
    Rejection(name: "prefix length too long",
              yaml: header + "  storage:\n    subnets: [203.0.113.0/24, 203.0.113.0/33]\n",
              line: 5, column: 31, key: "networks.storage.subnets[1]",
              message: "\"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)"),
    Rejection(name: "host bits set", yaml: "version: 1\nnetworks:\n  management:\n    subnets: [198.51.100.1/24]\n",
              line: 4, column: 15, key: "networks.management.subnets[0]",
              message: "\"198.51.100.1/24\" has host bits set; did you mean 198.51.100.0/24?"),
    Rejection(name: "management and storage overlap",
              yaml: "version: 1\nnetworks:\n  management:\n    subnets: [198.51.100.0/24]\n"
                + "  storage:\n    subnets: [203.0.113.0/24, 198.51.100.128/25]\n",
              line: 6, column: 31, key: "networks.storage.subnets[1]",
              message: "storage subnet 198.51.100.128/25 overlaps management subnet 198.51.100.0/24 (line 4); "
                + "storage and management networks must not share addresses"),
    Rejection(name: "overlap reported at the later prefix",
              yaml: "version: 1\nnetworks:\n  storage:\n    subnets: [\"2001:db8:0:198::/64\"]\n"
                + "  management:\n    subnets: [198.51.100.0/24, \"2001:db8::/32\"]\n",
              line: 6, column: 32, key: "networks.management.subnets[1]",
              message: "management subnet 2001:db8::/32 overlaps storage subnet 2001:db8:0:198::/64 (line 4); "
                + "storage and management networks must not share addresses"),

    // expect_storage_traffic.
    Rejection(name: "expect_storage_traffic not a boolean",
              yaml: header + "  storage:\n    interfaces: [eth1]\n    expect_storage_traffic: maybe\n",
              line: 6, column: 29, key: "networks.storage.expect_storage_traffic",
              message: "expected true or false, found the string \"maybe\""),
    Rejection(name: "expect_storage_traffic on management",
              yaml: "version: 1\nnetworks:\n  management: {interfaces: [eth0], expect_storage_traffic: true}\n",
              line: 3, column: 36, key: "networks.management.expect_storage_traffic",
              message: "expect_storage_traffic applies only to the network named \"storage\""),

    // Network names and roles.
    Rejection(name: "management missing", yaml: "version: 1\nnetworks:\n  storage: {interfaces: [eth0]}\n",
              line: 3, column: 3, key: "networks",
              message: "a network named \"management\" is required: it is the network that storage traffic must stay off"),
    Rejection(name: "misspelt management", yaml: "version: 1\nnetworks:\n  managment: {interfaces: [eth0]}\n",
              line: 3, column: 3, key: "networks.managment",
              message: "network \"managment\" is not \"management\": only the networks named exactly \"management\" "
                + "and \"storage\" have rules; fix the spelling or choose a clearly different name"),
    Rejection(name: "capitalised storage", yaml: header + "  Storage: {interfaces: [eth1]}\n",
              line: 4, column: 3, key: "networks.Storage",
              message: "network \"Storage\" is not \"storage\": only the networks named exactly \"management\" "
                + "and \"storage\" have rules; fix the spelling or choose a clearly different name"),
    Rejection(name: "network that matches nothing", yaml: header + "  guest: {}\n", line: 4, column: 3,
              key: "networks.guest",
              message: "network \"guest\" lists no interfaces, vlans or subnets, so no traffic can belong to it"),

    // storage_protocols.
    Rejection(name: "misspelt protocol", yaml: header + "storage_protocols: [nfs, nsf]\n", line: 4, column: 26,
              key: "storage_protocols[1]",
              message: "unknown storage protocol \"nsf\"; did you mean \"nfs\"? (known: nfs, iscsi, ceph, smb, nvme-tcp, isns, glusterfs, drbd, powerflex, storpool, iser, nvme-rdma, fc)"),
    Rejection(name: "unknown protocol", yaml: header + "storage_protocols: [lustre]\n", line: 4, column: 21,
              key: "storage_protocols[0]", message: "unknown storage protocol \"lustre\" (known: nfs, iscsi, ceph, smb, nvme-tcp, isns, glusterfs, drbd, powerflex, storpool, iser, nvme-rdma, fc)"),
    Rejection(name: "no protocols", yaml: header + "storage_protocols: []\n", line: 4, column: 20,
              key: "storage_protocols",
              message: "the list is empty; leave storage_protocols out to check every protocol packet capture can see (nfs, iscsi, ceph, smb, nvme-tcp, isns, glusterfs, drbd, powerflex)"),

    // ports.
    Rejection(name: "ports for an unknown protocol", yaml: header + "ports: {iscsci: [3260]}\n", line: 4, column: 9,
              key: "ports.iscsci",
              message: "unknown key \"iscsci\"; did you mean \"iscsi\"? (expected nfs, iscsi, ceph, smb, nvme-tcp, isns, glusterfs, drbd, powerflex, storpool, iser, nvme-rdma, fc)"),
    Rejection(name: "port 0", yaml: header + "ports: {iscsi: [0]}\n", line: 4, column: 17, key: "ports.iscsi[0]",
              message: "port 0 is out of range (1–65535)"),
    Rejection(name: "port 65536", yaml: header + "ports:\n  iscsi: [3260, 65536]\n", line: 5, column: 17,
              key: "ports.iscsi[1]", message: "port 65536 is out of range (1–65535)"),
    Rejection(name: "port as a scalar", yaml: header + "ports: {iscsi: 3260}\n", line: 4, column: 16,
              key: "ports.iscsi", message: "expected a list of port numbers, found the number 3260 (write [3260])"),
    Rejection(name: "port taken by another protocol", yaml: header + "ports: {iscsi: [2049]}\n", line: 4,
              column: 17, key: "ports.iscsi[0]", message: "port 2049/tcp already belongs to nfs"),
    Rejection(name: "port taken by a helper service", yaml: header + "ports: {iscsi: [111]}\n", line: 4,
              column: 17, key: "ports.iscsi[0]", message: "port 111/tcp already belongs to portmapper (nfs)"),
    Rejection(name: "ports for a protocol not checked",
              yaml: header + "storage_protocols: [iscsi]\nports: {nfs: [2050]}\n", line: 5, column: 9,
              key: "ports.nfs",
              message: "protocol \"nfs\" is not checked by this policy (storage_protocols: iscsi)"),

    // allow.
    Rejection(name: "allow is a mapping", yaml: header + "allow: {protocol: nfs}\n", line: 4, column: 8,
              key: "allow", message: "expected a list of exceptions, found a mapping"),
    Rejection(name: "allow entry is a string", yaml: header + "allow:\n  - nfs\n", line: 5, column: 5,
              key: "allow[0]", message: "expected a mapping with protocol and/or peer, found the string \"nfs\""),
    Rejection(name: "misspelt allow key", yaml: header + "allow:\n  - {protocl: nfs}\n", line: 5, column: 6,
              key: "allow[0].protocl",
              message: "unknown key \"protocl\"; did you mean \"protocol\"? (expected protocol, peer)"),
    Rejection(name: "empty allow entry", yaml: header + "allow:\n  - {protocol: nfs}\n  - {}\n", line: 6,
              column: 5, key: "allow[1]",
              message: "an exception needs a protocol, a peer or both; one with neither would excuse every flow"),
    Rejection(name: "allow peer with host bits", yaml: header + "allow:\n  - {protocol: nfs, peer: 10.0.0.1/8}\n",
              line: 5, column: 27, key: "allow[0].peer",
              message: "\"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8?"),
    Rejection(name: "allow unknown protocol", yaml: header + "allow:\n  - protocol: lustre\n", line: 5, column: 15,
              key: "allow[0].protocol", message: "unknown storage protocol \"lustre\" (known: nfs, iscsi, ceph, smb, nvme-tcp, isns, glusterfs, drbd, powerflex, storpool, iser, nvme-rdma, fc)"),
    Rejection(name: "allow protocol not checked",
              yaml: header + "storage_protocols: [iscsi]\nallow:\n  - {protocol: nfs}\n", line: 6, column: 16,
              key: "allow[0].protocol",
              message: "protocol \"nfs\" is not checked by this policy (storage_protocols: iscsi)"),

    // Duplicate keys (Yams rejects them; the error must point at the second one).
    Rejection(name: "duplicate top-level key", yaml: "version: 1\nversion: 1\nnetworks: {management: {vlans: [1]}}\n",
              code: .syntax, line: 2, column: 1, key: "version",
              message: "duplicate key \"version\" (first given at line 1)"),
    Rejection(name: "duplicate nested key",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0]\n    subnets: [10.0.0.0/8]\n"
                + "    interfaces: [eth1]\n",
              code: .syntax, line: 6, column: 5, key: "networks.management.interfaces",
              message: "duplicate key \"interfaces\" (first given at line 4)"),
    Rejection(name: "duplicate key in a flow mapping",
              yaml: "version: 1\nnetworks:\n  management: {interfaces: [eth0], interfaces: [eth1]}\n",
              code: .syntax, line: 3, column: 36, key: "networks.management.interfaces",
              message: "duplicate key \"interfaces\" (first given at line 3)"),
    Rejection(name: "duplicate network",
              yaml: "version: 1\nnetworks:\n  management:\n    vlans: [1]\n  management:\n    vlans: [2]\n",
              code: .syntax, line: 5, column: 3, key: "networks.management",
              message: "duplicate key \"management\" (first given at line 3)"),
    Rejection(name: "duplicate key in an allow entry",
              yaml: header + "allow:\n  - {protocol: nfs}\n  - protocol: nfs\n    peer: 10.0.0.0/8\n    protocol: iscsi\n",
              code: .syntax, line: 8, column: 5, key: "allow[1].protocol",
              message: "duplicate key \"protocol\" (first given at line 6)"),
    Rejection(name: "duplicate quoted keys",
              yaml: "version: 1\n\"networks\":\n  management: {'vlans': [1], \"vlans\": [2]}\n",
              code: .syntax, line: 3, column: 30, key: "networks.management.vlans",
              message: "duplicate key \"vlans\" (first given at line 3)"),
    Rejection(name: "control character", yaml: "version: 1\nnetworks:\n  man\u{1}agement: {vlans: [1]}\n",
              code: .syntax, line: 3, column: 6, key: nil,
              message: "YAML syntax error: control characters are not allowed"),
    Rejection(name: "keys equal only as text", yaml: header + "  1: {vlans: [1]}\n  \"1\": {vlans: [2]}\n",
              code: .syntax, line: 5, column: 3, key: "networks.1",
              message: "duplicate key \"1\" (first given at line 4)"),

    // YAML syntax.
    Rejection(name: "unclosed flow sequence",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0\n", code: .syntax, line: 5,
              column: 1, key: nil,
              message: "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 4, column 17)"),
    Rejection(name: "bad indentation",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0]\n   subnets: []\n",
              code: .syntax, line: 5, column: 4, key: nil,
              message: "YAML syntax error: did not find expected key (while parsing a block mapping at line 3, column 3)"),
    Rejection(name: "tab indentation",
              yaml: "version: 1\nnetworks:\n  management:\n    interfaces: [eth0]\n\tsubnets: []\n",
              code: .syntax, line: 5, column: 1, key: nil,
              message: "YAML syntax error: found character that cannot start any token; "
                + "YAML does not allow tabs for indentation"),
    Rejection(name: "two documents", yaml: header + "---\nversion: 1\n", code: .syntax, line: 4, column: 1, key: nil,
              message: "YAML syntax error: expected a single document in the stream, but found another document"),
    Rejection(name: "undefined alias", yaml: header + "allow: *exceptions\n", code: .syntax, line: 4, column: 8,
              key: nil, message: "YAML syntax error: found undefined alias"),
    Rejection(name: "Windows line ends", yaml: "version: 1\r\nnetworks:\r\n  management:\r\n    vlans: [0]\r\n",
              line: 4, column: 13, key: "networks.management.vlans[0]", message: "VLAN id 0 is out of range (1–4094)"),

    // Impossible addresses and prefixes.
    Rejection(name: "IPv4 octet over 255", yaml: header + "  storage: {subnets: [300.1.2.3/24]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"300.1.2.3/24\" is not a CIDR prefix (\"300.1.2.3\" is not an IPv4 or IPv6 address)"),
    Rejection(name: "IPv6 prefix length 129", yaml: header + "  storage: {subnets: [\"::/129\"]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"::/129\" is not a CIDR prefix (prefix length 129 > 128)"),
    Rejection(name: "IPv6 host bits set", yaml: header + "  storage: {subnets: [\"2001:db8::1/64\"]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"2001:db8::1/64\" has host bits set; did you mean 2001:db8::/64?"),
    Rejection(name: "negative prefix length", yaml: header + "  storage: {subnets: [203.0.113.0/-1]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"203.0.113.0/-1\" is not a CIDR prefix (prefix length \"-1\" is not a number)"),
    Rejection(name: "prefix length missing", yaml: header + "  storage: {subnets: [\"203.0.113.0/\"]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"203.0.113.0/\" is not a CIDR prefix (the prefix length after \"/\" is missing)"),
    Rejection(name: "bad IPv6 digit", yaml: header + "  storage: {subnets: [\"2001:db8::g/64\"]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"2001:db8::g/64\" is not a CIDR prefix (\"2001:db8::g\" is not an IPv4 or IPv6 address)"),
    Rejection(name: "a name for a subnet", yaml: header + "  storage: {subnets: [storage-net]}\n",
              line: 4, column: 23, key: "networks.storage.subnets[0]",
              message: "\"storage-net\" is not a CIDR prefix (\"storage-net\" is not an IPv4 or IPv6 address)"),
    Rejection(name: "allow peer with IPv6 length 129", yaml: header + "allow: [{peer: \"::/129\"}]\n",
              line: 4, column: 16, key: "allow[0].peer",
              message: "\"::/129\" is not a CIDR prefix (prefix length 129 > 128)"),
    Rejection(name: "impossible storage target", yaml: header + "storage_targets: [300.0.0.1]\n",
              line: 4, column: 19, key: "storage_targets[0]", message: "\"300.0.0.1\" is not an IPv4 or IPv6 address"),

    // Overlapping networks.
    Rejection(name: "management is everything", yaml: "version: 1\nnetworks:\n  management: {subnets: [0.0.0.0/0]}\n"
                + "  storage: {subnets: [\"2001:db8::/32\", 203.0.113.0/24]}\n",
              line: 4, column: 40, key: "networks.storage.subnets[1]",
              message: "storage subnet 203.0.113.0/24 overlaps management subnet 0.0.0.0/0 (line 3); "
                + "storage and management networks must not share addresses"),
    Rejection(name: "the same subnet in both", yaml: "version: 1\nnetworks:\n  storage: {subnets: [203.0.113.0/24]}\n"
                + "  management: {subnets: [203.0.113.0/24]}\n",
              line: 4, column: 26, key: "networks.management.subnets[0]",
              message: "management subnet 203.0.113.0/24 overlaps storage subnet 203.0.113.0/24 (line 3); "
                + "storage and management networks must not share addresses"),

    // Wrong types.
    Rejection(name: "version as a decimal", yaml: "version: 1.0\nnetworks: {management: {interfaces: [eth0]}}\n",
              line: 1, column: 10, key: "version", message: "expected an integer, found the number 1.0"),
    Rejection(name: "negative version", yaml: "version: -1\nnetworks: {management: {interfaces: [eth0]}}\n",
              line: 1, column: 10, key: "version", message: "expected a decimal integer, found -1"),
    Rejection(name: "VLAN as a decimal", yaml: header + "  storage: {vlans: [4.2]}\n", line: 4, column: 21,
              key: "networks.storage.vlans[0]", message: "expected an integer, found the number 4.2"),
    Rejection(name: "VLANs as a mapping", yaml: header + "  storage: {vlans: {a: 1}}\n", line: 4, column: 20,
              key: "networks.storage.vlans", message: "expected a list of VLAN ids, found a mapping"),
    Rejection(name: "port as a string", yaml: header + "ports: {iscsi: [\"3260\"]}\n", line: 4, column: 17,
              key: "ports.iscsi[0]", message: "expected an integer, found the string \"3260\""),
    Rejection(name: "port in exponent form", yaml: header + "ports: {iscsi: [1e5]}\n", line: 4, column: 17,
              key: "ports.iscsi[0]", message: "expected an integer, found the number 1e5"),
    Rejection(name: "subnets as a binary tag", yaml: header + "  storage: {subnets: !!binary aGVsbG8=}\n",
              line: 4, column: 22, key: "networks.storage.subnets",
              message: "expected a list of CIDR prefixes, found the string \"aGVsbG8=\" (write [aGVsbG8=])"),
    Rejection(name: "a merge key", yaml: "version: 1\nnetworks:\n  management: &m {interfaces: [mgmt0]}\n"
                + "  storage:\n    <<: *m\n",
              line: 5, column: 5, key: "networks.storage.<<",
              message: "unknown key \"<<\" (expected interfaces, vlans, subnets, expect_storage_traffic)"),

    // Hostile input.
    Rejection(name: "nesting 20000 deep", yaml: "version: 1\nnetworks: " + String(repeating: "[", count: 20_000)
                + String(repeating: "]", count: 20_000) + "\n",
              code: .syntax, line: 2, column: 12, key: nil,
              message: "YAML syntax error: Maximum nesting level reached, set with yaml_set_max_nest_level())"),
    Rejection(name: "a NUL byte", yaml: "version: 1\nnetworks:\n  management: {interfaces: [mg\u{0}mt0]}\n",
              code: .syntax, line: 3, column: 31, key: nil,
              message: "YAML syntax error: control characters are not allowed"),
    Rejection(name: "aliases a billion deep", yaml: billionLaughs, line: 3, column: 1, key: "a0",
              message: "unknown key \"a0\" (expected version, networks, storage_protocols, ports, allow, storage_targets, host_addresses)"),
]

/// Ten levels of aliases, each ten of the one before (10^11 strings if expanded), then a
/// key the reader rejects: the document must be refused without ever expanding them.
private let billionLaughs: String = {
    var yaml = "version: 1\nnetworks: {management: {interfaces: [mgmt0]}}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1...10 {
        yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
    }
    return yaml
}()

@Suite struct PolicyErrorTests {
    @Test(arguments: rejections)
    func rejects(_ rejection: Rejection) {
        do {
            let policy = try Policy.parse(rejection.yaml, path: "policy.yaml")
            Issue.record("accepted, networks \(policy.networks.map(\.name))")
        } catch {
            #expect(error.code == rejection.code)
            #expect(error.path == "policy.yaml")
            #expect(error.line == rejection.line)
            #expect(error.column == rejection.column)
            #expect(error.key == rejection.key)
            #expect(error.message == rejection.message)
        }
    }

    @Test func descriptionReadsLikeACompilerDiagnostic() {
        let error = PolicyError(code: .invalid, path: "policy.yaml", line: 7, column: 15,
                                key: "networks.storage.subnets[1]",
                                message: "\"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)")
        #expect(error.description == "policy.yaml:7:15: networks.storage.subnets[1]: "
            + "\"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)")
        #expect(PolicyError(code: .syntax, path: "p.yaml", line: 3, column: 1, message: "bad").description
            == "p.yaml:3:1: bad")
        #expect(PolicyError(code: .notFound, path: "p.yaml", message: "no such file").description
            == "p.yaml: no such file")
    }

    @Test func errorInTheExampleLayoutNamesTheLine() {
        let broken = examplePolicy.replacingOccurrences(of: "[203.0.113.0/24]", with: "[203.0.113.0/24, 203.0.113.0/33]")
        do {
            _ = try Policy.parse(broken, path: "policy.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description == "policy.yaml:9:31: networks.storage.subnets[1]: "
                + "\"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)")
        }
    }
}
