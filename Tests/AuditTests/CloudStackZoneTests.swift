import CloudStack
import Foundation
import Policy
import TestSupport
import Testing
import Yams

/// `policy hosts` (a zone's KVM hosts), paging, and finding this host by address, against the
/// stand-in server answering from `Fixtures/cloudstack/zone-hosts.json`.
@Suite struct CloudStackZoneListTests {
    static func hosts(_ server: CloudStackServer, _ extra: String..., secret: String = CloudStackServer.secret) throws -> Run {
        try lanekeeperWithKey(["policy", "hosts", "--cloudstack-url", server.url] + extra, secret: secret)
    }

    @Test func aZonesKVMHostsByNameOrId() throws {
        let server = try CloudStackServer(fixture: CloudStackServer.zoneHosts)
        for zone in ["zone1", "a0a1b2c3-0000-4000-8000-0000000000z1"] {
            let result = try Self.hosts(server, "--cloudstack-zone", zone)
            #expect(result.status == 0, "\(result.stderr)")
            // Sorted by name; the VMware host and the system VM are not listed; kvm3, in maintenance, is.
            #expect(result.stdout == "kvm1 198.51.100.11\nkvm2 198.51.100.12\nkvm3 198.51.100.13\n")
            #expect(result.stderr == "lanekeeper: note: left out 1 Routing host not KVM: esx1 (VMware)\n"
                + "lanekeeper: note: kvm3 198.51.100.13: state Up, resource state Maintenance (listed)\n")
        }
        // Every zone: zone2's host too, its address as listHosts writes it, its state noted.
        let all = try Self.hosts(server)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout == "kvm-b1 2001:0db8:0:0::10\nkvm1 198.51.100.11\nkvm2 198.51.100.12\nkvm3 198.51.100.13\n")
        #expect(all.stderr.contains("note: kvm-b1 2001:0db8:0:0::10: state Disconnected, resource state Enabled (listed)\n"))
        // One listHosts type=Routing call per listing, nothing else asked.
        #expect(server.requests.allSatisfy { $0["command"] == "listHosts" && $0["type"] == "Routing" })
    }

    @Test func aZoneWithoutRoutingHostsIs64AndNamesTheZones() throws {
        let server = try CloudStackServer(fixture: CloudStackServer.zoneHosts)
        let result = try Self.hosts(server, "--cloudstack-zone", "zone9")
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("CloudStack listHosts: no Routing host is in a zone named or numbered zone9 "
            + "(zones with Routing hosts: zone1, zone2)"))
    }

    @Test func errorsExitAsTheOtherCloudStackCalls() throws {
        let server = try CloudStackServer(["--malformed", "listHosts"], fixture: CloudStackServer.zoneHosts)
        let malformed = try Self.hosts(server)
        #expect(malformed.status == 65)
        #expect(malformed.stderr.contains("CloudStack listHosts: \"host\" is not a list"))
        let refused = try Self.hosts(try CloudStackServer(fixture: CloudStackServer.zoneHosts), secret: "not the secret")
        #expect(refused.status == 77)
        #expect(refused.stderr.contains("CloudStack listHosts: errorcode 401: unable to verify user credentials"))
        let noURL = try lanekeeperWithKey(["policy", "hosts", "--cloudstack-zone", "zone1"])
        #expect(noURL.status == 64)
        #expect(noURL.stderr.contains("give --cloudstack-url URL"))
        let noKey = try run(URL(fileURLWithPath: "/usr/bin/env"), ["-u", "CLOUDSTACK_KEY", "-u", "CLOUDSTACK_SECRET", binary.path,
                                                                   "policy", "hosts", "--cloudstack-url", server.url])
        #expect(noKey.status == 64)
        #expect(noKey.stderr.contains("CLOUDSTACK_KEY and CLOUDSTACK_SECRET not set"))
        let noCA = try Self.hosts(server, "--cloudstack-ca", "/nonexistent/ca.pem")
        #expect(noCA.status == 66)
        // A port nobody listens on: a server started and stopped to find one.
        var closed = ""
        do { closed = try CloudStackServer(fixture: CloudStackServer.zoneHosts).url }
        let unreachable = try lanekeeperWithKey(["policy", "hosts", "--cloudstack-url", closed, "--cloudstack-timeout", "2"])
        #expect(unreachable.status == 69)
        #expect(unreachable.stderr.contains("CloudStack listHosts: cannot get an answer from \(closed)"))
    }

    /// A server that caps every page at 2 items: lists are followed to their `count`, asking
    /// page after page (the server honours `page`), not cut at the first short page.
    @Test func listsAreFollowedOverCappedPages() async throws {
        let server = try CloudStackServer(["--page-cap", "2"], fixture: CloudStackServer.zoneHosts)
        let client = try CloudStackClient(url: server.url, credentials: .init(apiKey: CloudStackServer.key, secret: CloudStackServer.secret))
        let hosts = try await client.hosts()
        let pools = try await client.storagePools(zoneID: "a0a1b2c3-0000-4000-8000-0000000000z1")
        await client.shutdown()
        #expect(hosts.map(\.name) == ["kvm3", "kvm1", "esx1", "kvm2", "kvm-b1"])
        #expect(pools.map(\.name) == ["primary-c1a", "primary-c1b", "primary-c2"])
        let requests = server.requests
        #expect(requests.filter { $0["command"] == "listHosts" }.map { $0["page"] ?? "" } == ["1", "2", "3"])
        #expect(requests.filter { $0["command"] == "listStoragePools" }.map { $0["page"] ?? "" } == ["1", "2"])
        #expect(requests.allSatisfy { $0["pagesize"] == "500" })

        // Through the command line too: every pool of kvm1's cluster, one item a page.
        let one = try CloudStackServer(["--page-cap", "1"], fixture: CloudStackServer.zoneHosts)
        let written = try lanekeeperWithKey(["policy", "init", "--host-fixture", fixture("bridge-host"), "--mountinfo", "/dev/null",
                                             "--cloudstack-url", one.url, "--cloudstack-host", "kvm1"])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try Policy.parse(written.stdout, path: "written.yaml").storageTargets.map(\.description) == ["203.0.113.20", "203.0.113.21"])
        // Three pools in zone1, a page each; no fourth page is asked once `count` is reached.
        #expect(one.requests.filter { $0["command"] == "listStoragePools" }.map { $0["page"] ?? "" } == ["1", "2", "3"])
        let listed = try Self.hosts(one, "--cloudstack-zone", "zone1")
        #expect(listed.stdout == "kvm1 198.51.100.11\nkvm2 198.51.100.12\nkvm3 198.51.100.13\n")
    }

    @Test func aServerThatIgnoresPageIsRefused() throws {
        let server = try CloudStackServer(["--page-cap", "2", "--ignore-page"], fixture: CloudStackServer.zoneHosts)
        let result = try Self.hosts(server)
        #expect(result.status == 65)
        #expect(result.stderr.contains("CloudStack listHosts: page 2 repeats page 1: the server does not honour \"page\""))
    }

    /// README's loop is docs/cloudstack.md's, which CloudStackZoneNamespaceTests runs as written.
    @Test func theREADMEShowsTheLoopTheDocsRun() throws {
        #expect(try ZoneDocumentation.loop(in: "README.md") == ZoneDocumentation.loop())
    }

    @Test func addressesAreComparedAsAddresses() {
        func host(_ address: String?) -> CloudStackHost { CloudStackHost(id: "h", name: "h", ipAddress: address) }
        #expect(host("2001:0db8:0:0::10").hasAddress(in: ["192.0.2.1", "2001:db8::10"]))
        #expect(host("2001:DB8::10").hasAddress(in: ["2001:db8:0:0:0:0:0:10"]))
        #expect(host("::ffff:198.51.100.10").hasAddress(in: ["198.51.100.10"]))
        #expect(host(" 198.51.100.10 ").hasAddress(in: ["198.51.100.10"]))
        #expect(host("fe80::1%cloudbr0").hasAddress(in: ["fe80::1"]))
        #expect(!host("2001:db8::11").hasAddress(in: ["2001:db8::10", "198.51.100.10"]))
        #expect(!host("198.51.100.1").hasAddress(in: ["198.51.100.10"]))
        #expect(!host("kvm1.example").hasAddress(in: ["kvm1.example"]))
        #expect(!host(nil).hasAddress(in: ["198.51.100.10"]))
        #expect(CloudStackHost.addressBytes("2001:db8::10") == [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [0x10])
        #expect(CloudStackHost.addressBytes("198.51.100.300") == nil)
    }

    /// This host found by its address when listHosts writes it unlike this machine does.
    @Test func thisHostIsFoundByItsIPv6AddressWrittenLonghand() async throws {
        let server = try CloudStackServer(fixture: CloudStackServer.zoneHosts)
        let client = try CloudStackClient(url: server.url, credentials: .init(apiKey: CloudStackServer.key, secret: CloudStackServer.secret))
        let view = try await client.view(host: nil, localAddresses: ["192.0.2.1", "2001:db8::10"])
        let missing: CloudStackError?
        do {
            _ = try await client.view(host: nil, localAddresses: ["2001:db8::11"])
            missing = nil
        } catch {
            missing = error
        }
        await client.shutdown()
        #expect(view.host.name == "kvm-b1")
        #expect(view.hostFoundBy == "its ipaddress 2001:0db8:0:0::10 is an address of this machine")
        #expect(view.pools.map(\.name) == ["primary-b"])
        #expect(missing?.kind == .usage)
        #expect(missing?.message.hasPrefix("no Routing host's ipaddress is an address of this machine") == true)
    }
}

/// The zone of the documentation's loop, built in namespaces: a management namespace with a
/// bridge (198.51.100.1/24) where the stand-in server listens, and three KVM hosts on it, each
/// with its own management address on `cloudbr0` (its default route) and its own storage
/// interface `stor0`: kvm1 and kvm2 in cluster1 (203.0.113.0/24, pools 203.0.113.20 and .21),
/// kvm3 in cluster2 (192.0.2.0/24, pool 192.0.2.50), in maintenance.
final class ZoneLab {
    struct Host {
        var name: String
        var management: String
        var storage: String
        var namespace: NamespaceHost
        /// Where this host's /etc/lanekeeper/ is (see `sshShim`).
        var etc: String
    }

    let management: NamespaceHost
    let server: CloudStackServer
    let hosts: [Host]
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory("lk-zone")
        management = try NamespaceHost()
        try management.host("link", "add", "zbr0", "type", "bridge")
        try management.host("addr", "add", "198.51.100.1/24", "dev", "zbr0", "nodad")
        try management.host("link", "set", "zbr0", "up")
        var hosts: [Host] = []
        for (name, number, storage) in [("kvm1", 11, "203.0.113.11/24"), ("kvm2", 12, "203.0.113.12/24"),
                                        ("kvm3", 13, "192.0.2.13/24")] {
            let namespace = try NamespaceHost()
            let port = "m-\(name)"
            try namespace.host("link", "add", "cloudbr0", "type", "veth", "peer", "name", port, "netns", management.name)
            try management.host("link", "set", port, "master", "zbr0")
            try management.host("link", "set", port, "up")
            try namespace.host("addr", "add", "198.51.100.\(number)/24", "dev", "cloudbr0", "nodad")
            try namespace.host("link", "set", "cloudbr0", "up")
            try namespace.link("stor0", storage)
            try namespace.host("route", "add", "default", "via", "198.51.100.1")
            let etc = directory.file("\(name)-etc-lanekeeper")
            try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: false)
            hosts.append(Host(name: name, management: "198.51.100.\(number)", storage: String(storage.prefix { $0 != "/" }),
                              namespace: namespace, etc: etc))
        }
        self.hosts = hosts
        server = try CloudStackServer(fixture: CloudStackServer.zoneHosts, namespace: management.name, bind: "198.51.100.1")
    }

    /// A stand-in `ssh` first on PATH: `ssh [-n|-T|-q] root@IP COMMAND...` runs COMMAND with sh
    /// in the namespace of the host whose management address is IP, as sshd would run it. The
    /// namespace hosts share this machine's file system (a network namespace separates only the
    /// network), so `/etc/lanekeeper/` in COMMAND becomes that host's own directory: otherwise
    /// every host would write the one same file, and the test would write into this machine's /etc.
    /// Each destination is logged to `ssh.log`, each remote command to `ssh-commands.log`.
    func sshShim() throws -> String {
        let bin = directory.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: false)
        var cases = ""
        for host in hosts {
            cases += "    root@\(host.management)) namespace='\(host.namespace.name)'; etc='\(host.etc)' ;;\n"
        }
        let script = """
            #!/bin/sh
            while [ $# -gt 0 ]; do
                case "$1" in
                    -n|-T|-q|-4|-6) shift ;;
                    -o|-p|-i|-l) shift 2 ;;
                    *) break ;;
                esac
            done
            destination=$1
            shift
            echo "$destination" >> '\(directory.file("ssh.log"))'
            printf '%s\\n' "$*" >> '\(directory.file("ssh-commands.log"))'
            case "$destination" in
            \(cases)    *) echo "ssh: $destination: no such test host" >&2; exit 255 ;;
            esac
            command=$(printf '%s' "$*" | sed "s#/etc/lanekeeper/#$etc/#g")
            exec '\(NamespaceHost.tool.path)' netns exec "$namespace" sh -c "$command"

            """
        let path = try directory.file("bin/ssh", text: script)
        guard chmod(path, 0o755) == 0 else { throw CocoaError(.fileWriteNoPermission) }
        return bin
    }

    /// The destinations the shim was asked for, in order.
    var sshDestinations: [String] {
        ((try? String(contentsOfFile: directory.file("ssh.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The remote commands the shim was given, as one text.
    var sshCommands: String { (try? String(contentsOfFile: directory.file("ssh-commands.log"), encoding: .utf8)) ?? "" }

    /// PATH with the built lanekeeper's directory first (and `first` before it).
    static func path(_ first: String...) -> String {
        (first + [binary.deletingLastPathComponent().path, ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
            .joined(separator: ":")
    }

    /// Checks `host`'s policy (written to its /etc/lanekeeper/policy.yaml): what makes it its own.
    func expectOwnPolicy(_ host: Host, sourceLocation: SourceLocation = #_sourceLocation) throws -> Policy {
        let file = host.etc + "/policy.yaml"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let policy = try Policy.parse(text, path: file)
        #expect(text.contains("host \(host.name) (id "), sourceLocation: sourceLocation)
        #expect(policy.management.interfaces == ["cloudbr0"], sourceLocation: sourceLocation)
        #expect(policy.management.subnets.map(\.description) == ["198.51.100.0/24"], sourceLocation: sourceLocation)
        #expect(policy.storage?.interfaces == ["stor0"], sourceLocation: sourceLocation)
        #expect(Set((policy.hostAddresses ?? []).map(\.description)) == [host.management, host.storage],
                sourceLocation: sourceLocation)
        // The image store, secondary storage, is allowed on management on every host.
        #expect(policy.allow.map { $0.peer?.description } == ["198.51.100.60/32"], sourceLocation: sourceLocation)
        if host.name == "kvm3" {
            #expect(policy.storage?.subnets.map(\.description) == ["192.0.2.0/24"], sourceLocation: sourceLocation)
            #expect(policy.storageTargets.map(\.description) == ["192.0.2.50"], sourceLocation: sourceLocation)
        } else {
            #expect(policy.storage?.subnets.map(\.description) == ["203.0.113.0/24"], sourceLocation: sourceLocation)
            #expect(policy.storageTargets.map(\.description) == ["203.0.113.20", "203.0.113.21"], sourceLocation: sourceLocation)
        }
        // It audits clean on its own host.
        let audit = try host.namespace.lanekeeper("audit", "--policy", file, "--mountinfo", "/dev/null")
        #expect(audit.status == 0, "\(host.name): \(audit.stdout)\(audit.stderr)", sourceLocation: sourceLocation)
        #expect(audit.stdout.hasPrefix("lanekeeper audit PASS"), "\(host.name): \(audit.stdout)", sourceLocation: sourceLocation)
        return policy
    }
}

/// docs/cloudstack.md's code blocks of "A policy per host for a whole zone", as written there.
enum ZoneDocumentation {
    static func blocks(_ language: String, in file: String = "docs/cloudstack.md") throws -> [String] {
        let text = try String(contentsOfFile: packageRoot.path + "/" + file, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```" + language {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The loop over `policy hosts` (in docs/cloudstack.md, or `file`).
    static func loop(in file: String = "docs/cloudstack.md") throws -> String {
        let loops = try blocks("sh", in: file).filter { $0.contains("lanekeeper policy hosts") && $0.contains("while read") }
        try #require(loops.count == 1, "\(file) shows \(loops.count) loops over `policy hosts`")
        return loops[0]
    }

    /// The Ansible play's tasks: each `ansible.builtin.command`'s argv and its environment.
    static func ansibleTasks() throws -> [(name: String, argv: [String], environment: [String: String])] {
        let plays = try blocks("yaml").filter { $0.contains("ansible.builtin.command") }
        try #require(plays.count == 1, "docs/cloudstack.md shows \(plays.count) Ansible plays")
        let loaded = try Yams.load(yaml: plays[0]) as? [[String: Any]]
        let tasks = try #require(loaded?.first?["tasks"] as? [[String: Any]], "no tasks in the play")
        return try tasks.map { task in
            let command = try #require(task["ansible.builtin.command"] as? [String: Any], "a task is not ansible.builtin.command")
            let argv = try #require(command["argv"] as? [String], "a task has no argv of strings")
            return (task["name"] as? String ?? "?", argv, task["environment"] as? [String: String] ?? [:])
        }
    }

    /// `text` with each `{{ name }}` replaced by its value; a name without one fails the test.
    static func fill(_ text: String, _ variables: [String: String]) throws -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            let close = try #require(rest[open.upperBound...].range(of: "}}"), "unclosed {{ in \(text)")
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out += rest[..<open.lowerBound] + (try #require(variables[name], "no value for the variable \(name)"))
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}

/// The documentation's zone loop and Ansible play, run on the namespace zone (root only).
@Suite(.enabled(if: NamespaceHost.available, "needs root and ip(8) to build network namespaces"))
struct CloudStackZoneNamespaceTests {
    /// The loop, as docs/cloudstack.md writes it, run by bash on the management side with the
    /// stand-in `ssh`: each host gets its own policy, on the host, which audits clean there.
    @Test func theDocumentedLoopWritesEachHostItsOwnPolicy() throws {
        let lab = try ZoneLab()
        let shim = try lab.sshShim()
        let loop = try ZoneDocumentation.loop()
        let result = try run(NamespaceHost.tool, ["netns", "exec", lab.management.name, "/usr/bin/env",
                                                  "PATH=" + ZoneLab.path(shim), "URL=" + lab.server.url, "ZONE=zone1",
                                                  "CLOUDSTACK_KEY=" + CloudStackServer.key,
                                                  "CLOUDSTACK_SECRET=" + CloudStackServer.secret, "bash", "-c", loop])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // One ssh per KVM host of the zone; the host in maintenance too, said on stderr.
        #expect(lab.sshDestinations == ["root@198.51.100.11", "root@198.51.100.12", "root@198.51.100.13"])
        #expect(result.stderr.contains("note: kvm3 198.51.100.13: state Up, resource state Maintenance (listed)"))
        #expect(result.stderr.contains("note: left out 1 Routing host not KVM: esx1 (VMware)"))
        #expect(!result.stderr.contains(": exit "), "\(result.stderr)")
        var policies: [String: Policy] = [:]
        for host in lab.hosts {
            policies[host.name] = try lab.expectOwnPolicy(host)
        }
        // The policies differ where the hosts do: addresses; cluster2's pool and storage network.
        #expect(policies["kvm1"]?.hostAddresses != policies["kvm2"]?.hostAddresses)
        #expect(policies["kvm1"]?.storageTargets == policies["kvm2"]?.storageTargets)
        #expect(policies["kvm1"]?.storageTargets != policies["kvm3"]?.storageTargets)
        // Each host asked the server itself, signed, by its name.
        let asked = lab.server.requests.filter { $0["command"] == "listHosts" }.compactMap { $0["name"] }
        #expect(asked == ["kvm1", "kvm2", "kvm3"])
        // The key and secret went on ssh's standard input, not in the remote command line.
        #expect(lab.sshCommands.contains("lanekeeper policy init --cloudstack-url '\(lab.server.url)' --cloudstack-host 'kvm3'"))
        #expect(!lab.sshCommands.contains(CloudStackServer.key) && !lab.sshCommands.contains(CloudStackServer.secret))
    }

    /// A host the list names that does not answer: the loop says which and goes on.
    @Test func aHostThatFailsIsSaidAndTheLoopGoesOn() throws {
        let lab = try ZoneLab()
        let shim = try lab.sshShim()
        // kvm2's management interface down: the shim still reaches its namespace, but policy init there
        // cannot reach the management server (69).
        try lab.hosts[1].namespace.host("link", "set", "cloudbr0", "down")
        let result = try run(NamespaceHost.tool, ["netns", "exec", lab.management.name, "/usr/bin/env",
                                                  "PATH=" + ZoneLab.path(shim), "URL=" + lab.server.url, "ZONE=zone1",
                                                  "CLOUDSTACK_KEY=" + CloudStackServer.key,
                                                  "CLOUDSTACK_SECRET=" + CloudStackServer.secret, "bash", "-c",
                                                  try ZoneDocumentation.loop()])
        #expect(result.stderr.contains("kvm2: exit 69\n"), "\(result.stderr)")
        #expect(lab.sshDestinations.count == 3)
        #expect(FileManager.default.fileExists(atPath: lab.hosts[0].etc + "/policy.yaml"))
        #expect(!FileManager.default.fileExists(atPath: lab.hosts[1].etc + "/policy.yaml"))
        #expect(FileManager.default.fileExists(atPath: lab.hosts[2].etc + "/policy.yaml"))
    }

    /// The Ansible play, without Ansible (not installed here, and not in CI): each task's argv
    /// run with its environment on every host of the zone, its variables filled in as an
    /// inventory and a vault would, /etc/lanekeeper/ mapped to the host's own directory.
    @Test func theDocumentedAnsibleTasksWriteAndAuditEachHost() throws {
        let lab = try ZoneLab()
        let tasks = try ZoneDocumentation.ansibleTasks()
        #expect(tasks.map(\.name) == ["lanekeeper policy from the management server", "audit against the management server"])
        for host in lab.hosts {
            let variables = ["cloudstack_url": lab.server.url, "inventory_hostname_short": host.name,
                             "vault_cloudstack_key": CloudStackServer.key, "vault_cloudstack_secret": CloudStackServer.secret]
            for task in tasks {
                let argv = try task.argv.map { try ZoneDocumentation.fill($0, variables).replacingOccurrences(of: "/etc/lanekeeper/",
                                                                                                              with: host.etc + "/") }
                let environment = try task.environment.sorted { $0.key < $1.key }.map { "\($0.key)=" + (try ZoneDocumentation.fill($0.value, variables)) }
                let result = try run(NamespaceHost.tool, ["netns", "exec", host.namespace.name, "/usr/bin/env", "PATH=" + ZoneLab.path()]
                                     + environment + argv)
                #expect(result.status == 0, "\(host.name), \(task.name): \(result.stdout)\(result.stderr)")
                if argv.starts(with: ["lanekeeper", "audit"]) {
                    #expect(result.stdout.hasPrefix("lanekeeper audit PASS"), "\(host.name): \(result.stdout)")
                }
            }
            _ = try lab.expectOwnPolicy(host)
        }
    }
}
