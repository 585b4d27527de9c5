import Foundation
import TestSupport
import Testing

/// How each command the documentation shows (`DocumentedCommandTests.commands`, the one
/// extractor) is run by a test: its placeholders and host paths mapped to real values, kept
/// small and explicit here.
///
/// - `replay` and `check` run everywhere, on the repository's sample captures
///   (`DocumentedCommandTests.everyDocumentedReplayAndCheckRuns`);
/// - `watch` (one-shot and `--continuous`), `audit` and `policy init` need root and a host: they
///   run in a namespace host (`DocumentedLiveCommandTests`, skipped with its reason when not root;
///   CI runs as root);
/// - those with `--cloudstack-url` (`policy init`, `audit`, `policy hosts`) run against the
///   stand-in management server in a namespace host (`DocumentedManagementServerCommandTests`);
/// - anything else must be in `notRun` with the reason, and is then only option-checked.
enum DocumentedRun {
    enum Kind: Equatable {
        /// Runs anywhere, on the repository's files.
        case samples
        /// Needs root and a namespace host.
        case live
        /// Asks a CloudStack management server (`--cloudstack-url`): run against the stand-in
        /// server, in a namespace host built as its zone describes.
        case managementServer
    }

    /// Documented commands that no test here runs, by place (`FILE:LINE`), with the reason.
    /// An entry naming no documented command fails.
    static let notRun: [String: String] = {
        // The loop over `policy hosts` is run as written (the whole block, by bash) elsewhere.
        let zoneLoop =
            "the zone loop (ssh to each host): CloudStackZoneNamespaceTests runs this block as written with bash, "
            + "a stand-in ssh and three namespace hosts with the stand-in server"
        // README shows the same loop; CloudStackZoneNamespaceTests holds it to docs/cloudstack.md's, byte for byte.
        return [
            "docs/cloudstack.md:258": zoneLoop, "docs/cloudstack.md:262": zoneLoop,
            "README.md:68": zoneLoop, "README.md:72": zoneLoop,
        ]
    }()

    /// How a command is run: nil when no test knows how (then it must be in `notRun`).
    static func kind(of command: DocumentedCommandTests.Command) -> Kind? {
        if command.words.contains("--cloudstack-url") { return .managementServer }
        return switch DocumentedCommandTests.split(command.words).subcommand {
        case ["replay"], ["check"]: .samples
        case ["watch"], ["audit"], ["policy", "init"]: .live
        default: nil
        }
    }

    /// The files the documentation names, as the repository's (replay and check).
    static let sampleFiles: [String: String] = [
        "POLICY.yaml": "captures/leak-address/policy.yaml",
        "p.yaml": "captures/leak-address/policy.yaml",
        "host.pcapng": "captures/leak-address/host.pcapng",
        "CAPTURE...": "captures/leak-address/host.pcapng",
        "mgmt0.pcap": "captures/leak-address/mgmt0.pcap",
        "stor0.pcap": "captures/leak-address/stor0.pcap",
        // tcpdump -i any -y LINUX_SLL2; ifindex 2 is mgmt0 and 3 stor0 there too.
        "any.pcap": "captures/leak-address/any-sll2.pcap",
        // An ERSPAN II copy (its session is not 5 or 6: those names stay unused).
        "span.pcap": "Tests/PipelineTests/PublicCaptures/storage/erspan-ii-icmp-zeek.pcap",
        "DIR": "captures",
    ]

    /// The synopses' placeholder values, by option.
    static let optionValues: [String: String] = [
        "--ifindex N=NAME": "2=mgmt0",
        "--erspan SESSION=NAME": "5=vmnic0",
        "--buffer-mib N": "8",
        "--snaplen N": "65535",
        "--keep N": "3",
        "--user NAME": "nobody",
        "--metrics-listen ADDRESS:PORT": "127.0.0.1:9273",
        "--ovs-vsctl PATH": "/usr/bin/ovs-vsctl",
        "--cloudstack-host NAME": "kvm1",
        "--cloudstack-zone NAME": "zone1",
        "--cloudstack-timeout SECONDS": "10",
    ]

    /// Options whose value is a file the command writes: a fresh path in the sandbox instead.
    static let outputs: Set<String> = ["--output", "--evidence", "--ready-file", "--metrics-file", "--junit"]
    /// Options whose value is a directory the command writes in: a fresh one in the sandbox.
    static let directories: Set<String> = ["--report-dir", "--evidence-dir"]
    /// Options that take no value.
    static let flags: Set<String> = ["--force", "--continuous"]

    /// What a live command gets instead of the host's files, and how long it runs.
    struct Host {
        var policy: String
        var agent: String
        /// `--duration` (a watch), `--interval` (a continuous watch's windows).
        var duration = "2.5"
        var interval = "1"
        /// The stand-in management server's URL and the CA file that verifies it.
        var cloudstackURL = ""
        var cloudstackCA = ""
    }

    /// The documented words made runnable: brackets and `...` dropped, the first of `a|b|c`,
    /// placeholders and host paths replaced (`host` for a live command, the samples otherwise),
    /// every written file put in `sandbox`.
    static func words(_ command: DocumentedCommandTests.Command, sandbox: TemporaryDirectory, host: Host?) throws -> [String] {
        // A shell word in double quotes that holds spaces (`"$(mktemp -d)/r.json"`) is one word.
        var shellWords: [String] = []
        var open = false
        for word in command.words {
            if open { shellWords[shellWords.count - 1] += " " + word } else { shellWords.append(word) }
            if word.filter({ $0 == "\"" }).count % 2 == 1 { open.toggle() }
        }
        let documented = shellWords.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }
            .filter { !$0.isEmpty && $0 != "..." }
        var out: [String] = []
        var index = 0
        while index < documented.count {
            let word = documented[index]
            index += 1
            guard word.hasPrefix("--"), !flags.contains(word), index < documented.count else {
                // A capture, `INTERFACE=PATH` too.
                let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
                let file = parts.last.flatMap { sampleFiles[$0] }
                out.append(word.hasPrefix("-") || host != nil || file == nil ? word : (parts.count == 2 ? parts[0] + "=" : "") + file!)
                continue
            }
            var value = documented[index]
            index += 1
            if value.contains("|") { value = String(value.split(separator: "|")[0]) }
            let name = "lk-" + UUID().uuidString.prefix(8) + "-"
                + (value.split(separator: "/").last.map { $0.filter { $0.isLetter || $0.isNumber || $0 == "." } } ?? "file")
            switch word {
            case _ where outputs.contains(word):
                value = sandbox.file(name)
            case _ where directories.contains(word):
                value = sandbox.file(name)
                try FileManager.default.createDirectory(atPath: value, withIntermediateDirectories: false)
            case "--policy":
                value = host?.policy ?? sampleFiles[value] ?? value
            case "--cloudstack-agent":
                value = host?.agent ?? value
            case "--duration":
                value = host?.duration ?? value
            case "--interval":
                value = host?.interval ?? value
            case "--cloudstack-url":
                value = host?.cloudstackURL ?? value
            case "--cloudstack-ca":
                value = host?.cloudstackCA ?? value
            case "--ovs-db":
                value = "unix:" + sandbox.file("no-switch.sock")
            default:
                value = optionValues["\(word) \(value)"] ?? value
            }
            out += [word, value]
        }
        // A live watch stops on its own: after --duration (a continuous one after a window or two).
        if let host, DocumentedCommandTests.split(command.words).subcommand == ["watch"], !out.contains("--duration") {
            out += ["--duration", host.duration]
        }
        return out
    }
}

/// The documented `watch`, `watch --continuous`, `audit` and `policy init` commands, each run
/// as shown (placeholders mapped by `DocumentedRun`) in a namespace host whose interfaces are
/// named as the documentation names them: mgmt0 (198.51.100.10/24, the default route) and stor0
/// (203.0.113.10/24, the storage server 203.0.113.20 a fixed neighbour). A one-shot watch runs
/// a COMMAND that sends NFS calls to the storage server; each must end with its verdict.
@Suite(.serialized, .enabled(if: NamespaceHost.available, "needs root and ip(8) to build a namespace host and capture"))
struct DocumentedLiveCommandTests {
    static let policy = """
        version: 1
        networks:
          management: {interfaces: [mgmt0], subnets: [198.51.100.0/24]}
          storage: {interfaces: [stor0], subnets: [203.0.113.0/24]}
        host_addresses: [198.51.100.10, 203.0.113.10]
        storage_targets: [203.0.113.20]

        """

    static func host() throws -> NamespaceHost {
        let host = try NamespaceHost()
        try host.link("mgmt0", "198.51.100.10/24")
        try host.link("stor0", "203.0.113.10/24")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        try host.host("neigh", "add", "203.0.113.20", "lladdr", "02:00:00:00:00:20", "dev", "stor0", "nud", "permanent")
        return host
    }

    static func commands(_ subcommand: [String]) -> [DocumentedCommandTests.Command] {
        DocumentedCommandTests.commands.filter {
            DocumentedRun.kind(of: $0) == .live && DocumentedCommandTests.split($0.words).subcommand == subcommand
                && DocumentedRun.notRun[$0.place] == nil
        }
    }

    /// Runs each documented command of `subcommand` in a fresh host; `check` judges each run
    /// (given the words run, and what `--output` wrote, or standard output).
    static func runEach(_ subcommand: [String], minimum: Int, extra: (DocumentedCommandTests.Command) -> [String] = { _ in [] },
                        check: (DocumentedCommandTests.Command, [String], Run, String) -> Void) throws {
        let commands = Self.commands(subcommand)
        #expect(commands.count >= minimum, "only \(commands.count) documented `\(subcommand.joined(separator: " "))` commands")
        for command in commands {
            let host = try Self.host()
            let sandbox = try TemporaryDirectory("lk-documented")
            let values = DocumentedRun.Host(
                policy: try sandbox.file("policy.yaml", text: Self.policy),
                agent: try sandbox.file("agent.properties", text: "private.network.device=mgmt0\nhypervisor.type=kvm\n"))
            let words = try DocumentedRun.words(command, sandbox: sandbox, host: values)
            let result = try host.lanekeeper(words + extra(command))
            let output = words.firstIndex(of: "--output").map { words[$0 + 1] }
            check(command, words, result, output.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? result.stdout)
        }
    }

    @Test func documentedWatchesRunAndPass() throws {
        // One-shot watches: the documented COMMAND (a test suite) becomes one that sends NFS calls
        // over the storage network; --duration is 2.5 s (added where not shown).
        try Self.runEach(["watch"], minimum: 9, extra: { command in
            command.words.contains("--continuous") ? [] : ["--", "python3", "-c", NamespaceHost.nfsCalls, "203.0.113.20"]
        }) { command, _, result, report in
            if command.words.contains("--continuous") {
                // No traffic is sent: each window is inconclusive (no storage seen), and the watch
                // stops after --duration with the worst window's status.
                #expect(result.status == 2, "\(command): exit \(result.status): \(result.stderr)")
                #expect(result.stderr.contains("\"event\":\"window\""), "\(command): \(result.stderr)")
                #expect(result.stderr.contains("\"event\":\"stop\",") && result.stderr.contains("\"reason\":\"duration\""),
                        "\(command): \(result.stderr)")
            } else {
                #expect(result.status == 0, "\(command): exit \(result.status): \(result.stderr)")
                #expect(result.stderr.contains("verdict pass; COMMAND exited 0; exit status 0"), "\(command): \(result.stderr)")
                #expect(report.contains("stor0") && report.lowercased().contains("pass"), "\(command): \(report)")
            }
        }
    }

    @Test func documentedAuditsRunAndPass() throws {
        try Self.runEach(["audit"], minimum: 2) { command, _, result, report in
            // The policy's target goes out of stor0; the host's own NFS mounts (if any) are audited too.
            #expect([0, 1, 2].contains(result.status), "\(command): exit \(result.status): \(result.stderr)")
            #expect(report.hasPrefix("lanekeeper audit "), "\(command): \(report)\(result.stderr)")
            #expect(report.contains("203.0.113.20  policy  stor0"), "\(command): \(report)")
        }
    }

    @Test func documentedPolicyInitsRunAndWriteAPolicy() throws {
        try Self.runEach(["policy", "init"], minimum: 2) { command, _, result, written in
            #expect(result.status == 0, "\(command): exit \(result.status): \(result.stderr)")
            #expect(written.contains("interfaces: [mgmt0]"), "\(command): \(written)")
        }
    }
}

/// The documented commands that ask a CloudStack management server (`--cloudstack-url`), each
/// run as shown against the stand-in server (over HTTPS with a test CA where `--cloudstack-ca`
/// is shown), in a namespace host built as the server's zone describes kvm1: cloudbr0
/// 198.51.100.10/24 (the Management label, the default route) and stor0 203.0.113.10/24 (the
/// pools' network). `policy hosts` lists the zone's KVM hosts; `policy init` writes a policy
/// naming cloudbr0 as management; `audit` passes.
@Suite(.serialized, .enabled(if: NamespaceHost.available && TestCertificates.available,
                             "needs root and ip(8) to build a namespace host, and openssl for the server's certificate"))
struct DocumentedManagementServerCommandTests {
    static let commands = DocumentedCommandTests.commands.filter {
        DocumentedRun.kind(of: $0) == .managementServer && DocumentedRun.notRun[$0.place] == nil
    }

    @Test func everyDocumentedManagementServerCommandRuns() throws {
        let subcommands = Set(Self.commands.map { DocumentedCommandTests.split($0.words).subcommand })
        #expect(subcommands == [["policy", "init"], ["audit"], ["policy", "hosts"]], "\(subcommands)")
        let certificates = try TemporaryDirectory("lk-documented-tls")
        let tls = try TestCertificates(in: certificates)
        for command in Self.commands {
            let host = try NamespaceHost.kvm1()
            let sandbox = try TemporaryDirectory("lk-documented")
            let subcommand = DocumentedCommandTests.split(command.words).subcommand
            let https = command.words.contains("--cloudstack-ca")
            let server = try CloudStackServer(fixture: subcommand == ["policy", "hosts"] ? CloudStackServer.zoneHosts : CloudStackServer.zone,
                                              namespace: host.name, tls: https ? tls.server : nil)
            var values = DocumentedRun.Host(policy: "", agent: "")
            values.cloudstackURL = server.url
            values.cloudstackCA = tls.ca
            var words = try DocumentedRun.words(command, sandbox: sandbox, host: values)
            // The machine's own mounts are not the namespace host's.
            if subcommand != ["policy", "hosts"] { words += ["--mountinfo", "/dev/null"] }
            let result = try lanekeeperWithKey(words, namespace: host.name)
            let output = words.firstIndex(of: "--output").map { words[$0 + 1] }
            let written = output.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? result.stdout
            #expect(result.status == 0, "\(command): exit \(result.status): \(result.stderr)")
            #expect(!server.requests.isEmpty, "\(command): no signed request reached the server")
            switch subcommand {
            case ["policy", "hosts"]:
                #expect(written.hasPrefix("kvm1 198.51.100.11\nkvm2 198.51.100.12\n"), "\(command): \(written)")
            case ["policy", "init"]:
                #expect(written.contains("interfaces: [cloudbr0]") && written.contains("203.0.113.20"), "\(command): \(written)")
            default:
                #expect(written.contains("lanekeeper audit PASS") || written.contains("\"verdict\": \"pass\""),
                        "\(command): \(written)")
            }
        }
        #expect(Self.commands.count >= 6, "only \(Self.commands.count) documented --cloudstack-url commands")
    }
}
