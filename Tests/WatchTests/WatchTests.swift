import TestSupport
import Foundation
import Testing

/// `lanekeeper watch` against real NFS (nfs-ganesha) and iSCSI (tgtd) peers and real clients
/// (libnfs, libiscsi), in namespaces built by `scripts/lab.d/watch-fixture` (root only; CI
/// runs as root). The fixture is built once and shared; it tears itself down when this test
/// process closes its standard input, also if the process dies.
final class WatchFixture: @unchecked Sendable {
    let directory: String
    let host: String
    let load: String
    let iqn: String
    private let process: Process
    private let keepAlive: Pipe

    static let shared: Result<WatchFixture, Error> = Result { try WatchFixture() }

    /// Why these tests cannot run here, if they cannot.
    static let unavailable: String? = {
        if getuid() != 0 { return "not root: the watch tests need network namespaces and packet capture" }
        for tool in ["ganesha.nfsd", "tgtd", "nfs-ls", "iscsi-inq", "iperf3", "tshark", "ethtool"] {
            let found = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin")
                .split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
            if !found { return "\(tool) is missing (bash scripts/install-deps --test)" }
        }
        return nil
    }()

    private init() throws {
        directory = NSTemporaryDirectory() + "lk-watch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Nobody but root may write here (as in a clone under /root or `mktemp -d`): the watch's
        // supervisor keeps root's identity and writes every output. Others may pass through
        // (0711), for the tests that start lanekeeper as an ordinary user.
        try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: directory)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [packageRoot.path + "/scripts/lab.d/watch-fixture", "serve", directory, "--storage", "--load"]
        keepAlive = Pipe()
        process.standardInput = keepAlive
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = directory + "/fixture.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: directory + "/ready") {
            if !process.isRunning || Date() > deadline {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw FixtureError(description: "the watch fixture did not come up:\n\(text)")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let env = try String(contentsOfFile: directory + "/env", encoding: .utf8)
        var values: [String: String] = [:]
        for line in env.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        host = values["HOST"] ?? ""
        load = values["LOAD"] ?? ""
        iqn = values["IQN"] ?? ""
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    /// A file in the fixture's directory.
    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes a policy: management mgmt0, storage stor0 plus `storage` more interfaces.
    func policy(_ name: String, storage extra: [String] = [], expectStorage: Bool = true) throws -> String {
        let text = """
            version: 1
            networks:
              management:
                interfaces: [mgmt0]
                subnets: [198.51.100.0/24]
              storage:
                interfaces: [\((["stor0"] + extra).joined(separator: ", "))]
                subnets: [203.0.113.0/24, 192.0.2.0/24]
                expect_storage_traffic: \(expectStorage)
            """
        let file = path(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Runs `lanekeeper ARGS` in the host namespace and waits for it.
    func lanekeeper(_ arguments: [String]) throws -> Run {
        try run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", host, binary.path] + arguments)
    }

    /// Starts `lanekeeper ARGS` in the host namespace and returns once its captures are open:
    /// it is given `--ready-file`, which the watch creates only once every capture is open
    /// (it opens the policy's interfaces one after the other, and a test that deletes an
    /// interface must not beat the open).
    func startLanekeeper(_ arguments: [String]) throws -> Process {
        let ready = path("ready-" + UUID().uuidString)
        var arguments = arguments
        if let watch = arguments.firstIndex(of: "watch") { arguments.insert(contentsOf: ["--ready-file", ready], at: watch + 1) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", host, binary.path] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: ready) {
            if !process.isRunning || Date() > deadline { throw FixtureError(description: "lanekeeper did not start capturing") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return process
    }

    /// The real user id of process `pid`, from /proc/PID/status; nil when it has gone.
    static func realUserID(of pid: Int32) throws -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
        return line.flatMap { $0.split(separator: "\t").dropFirst().first }.flatMap { Int($0) }
    }

    /// A copy of the built binary in the fixture's directory (which every user may pass
    /// through), for running it as another user: the build directory may be one only root
    /// may enter (a clone under /root).
    func binaryCopy(_ name: String, capabilities: String? = nil) throws -> String {
        let copy = path(name)
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: binary.path, toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
        if let capabilities {
            let setcap = try run(URL(fileURLWithPath: "/usr/sbin/setcap"), [capabilities, copy])
            if setcap.status != 0 { throw FixtureError(description: "setcap \(capabilities) \(copy): \(setcap.stderr)") }
        }
        return copy
    }

    /// Runs a program in the host namespace.
    @discardableResult
    func inHost(_ arguments: String...) throws -> Run {
        try run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", host] + arguments)
    }
}

/// Every watch test, one at a time: they share the fixture's namespaces (and its iperf3
/// port, and count packet sockets in the host namespace).
@Suite(.serialized, .enabled(if: WatchFixture.unavailable == nil, "\(WatchFixture.unavailable ?? "")"))
struct WatchSuites {}

/// The fixture, or a skip.
func fixture() throws -> WatchFixture {
    try WatchFixture.shared.get()
}

/// A JSON report as Foundation values.
struct Report {
    let json: [String: Any]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    var verdict: String? { json["verdict"] as? String }
    var reasons: [String] { json["reasons"] as? [String] ?? [] }
    var interfaces: [[String: Any]] { json["interfaces"] as? [[String: Any]] ?? [] }
    var captures: [[String: Any]] { json["captures"] as? [[String: Any]] ?? [] }
    var violations: [[String: Any]] { json["violations"] as? [[String: Any]] ?? [] }
    var command: [String: Any]? { json["command"] as? [String: Any] }

    func interface(_ name: String) -> [String: Any]? { interfaces.first { $0["name"] as? String == name } }
    func capture(_ name: String) -> [String: Any]? { captures.first { $0["interface"] as? String == name } }
    func storagePackets(_ name: String) -> Int { interface(name)?["storage_packets"] as? Int ?? -1 }
}

extension WatchSuites {
    @Suite struct WatchLiveTests {
        @Test func cleanNFSAndISCSIWhileACommandRunsPass() throws {
            let f = try fixture()
            let report = f.path("clean.json")
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("clean.yaml"), "--format", "json", "--output", report, "--",
                "sh", "-c", "nfs-ls 'nfs://203.0.113.20/export?version=3' && iscsi-inq iscsi://203.0.113.20/\(f.iqn)/1",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try Report(path: report)
            #expect(json.verdict == "pass", "\(json.reasons)")
            #expect(json.storagePackets("stor0") > 10)
            #expect(json.storagePackets("mgmt0") == 0)
            #expect(json.command?["exit_status"] as? Int == 0)
            for name in ["mgmt0", "stor0"] {
                #expect(json.interface(name)?["dropped"] as? Int == 0)
                #expect(json.interface(name)?["capture_start"] is String)
                #expect(json.capture(name)?["end"] as? String == "stopped")
            }
        }

        @Test func nfsOverTheManagementAddressFailsWithDuration() throws {
            let f = try fixture()
            let report = f.path("leak-nfs.json")
            let evidence = f.path("leak-nfs.pcapng")
            let watch = try f.startLanekeeper([
                "watch", "--policy", try f.policy("leak-nfs.yaml"), "--duration", "8", "--format", "json", "--output", report,
                "--evidence", evidence,
            ])
            try f.inHost("nfs-ls", "nfs://203.0.113.20/export?version=3")
            let leak = try f.inHost("nfs-ls", "nfs://198.51.100.20/export?version=3")
            #expect(leak.status == 0, "\(leak.stderr)")
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 1)
            let json = try Report(path: report)
            #expect(json.verdict == "fail")
            #expect(json.violations.contains { $0["interface"] as? String == "mgmt0" && $0["protocol"] as? String == "nfs" })
            #expect(json.storagePackets("stor0") > 0)
            let tshark = try run(URL(fileURLWithPath: "/usr/bin/tshark"), ["-r", evidence, "-T", "fields", "-e", "frame.interface_name"])
            let names = tshark.stdout.split(separator: "\n")
            #expect(!names.isEmpty && names.allSatisfy { $0 == "mgmt0" }, "\(tshark.stderr)")
        }

        @Test func iscsiLeakFailsAndTheCommandsStatusIsReportedApart() throws {
            let f = try fixture()
            let report = f.path("leak-iscsi.json")
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("leak-iscsi.yaml", expectStorage: false), "--format", "json",
                "--output", report, "--", "sh", "-c", "iscsi-inq iscsi://198.51.100.20/\(f.iqn)/1 >/dev/null; exit 3",
            ])
            #expect(result.status == 1, "\(result.stderr)")
            let json = try Report(path: report)
            #expect(json.violations.contains { $0["interface"] as? String == "mgmt0" && $0["protocol"] as? String == "iscsi" })
            #expect(json.command?["exit_status"] as? Int == 3)
        }

        @Test func aLeakAsAnHTMLPageHasItsTimelineDropsAndCommand() throws {
            let f = try fixture()
            let page = f.path("leak-nfs.html")
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("leak-html.yaml", expectStorage: false), "--format", "html",
                "--output", page, "--", "nfs-ls", "nfs://198.51.100.20/export?version=3",
            ])
            #expect(result.status == 1, "\(result.stderr)")
            let html = try String(contentsOfFile: page, encoding: .utf8)
            #expect(html.contains("<h1 id=\"verdict\">FAIL: storage traffic crossed the management network</h1>"))
            #expect(html.contains("<table class=\"flows violations\">"))
            #expect(html.contains("<td>mgmt0</td>"))
            // Drops per interface, the management network's timeline with the leak marked, the command.
            #expect(html.contains("<th scope=\"col\" class=\"num\">Dropped</th>"))
            #expect(html.contains("<svg class=\"timeline\""))
            #expect(html.contains("<rect class=\"mark\""))
            #expect(html.contains("<li>mgmt0: "))
            #expect(html.contains("Command: nfs-ls nfs://198.51.100.20/export?version=3 exited with status 0"))
            #expect(!html.contains("<script"))
        }

        @Test func sigintWritesTheReportAndAValidEvidenceFile() throws {
            let f = try fixture()
            let report = f.path("sigint.json")
            let evidence = f.path("sigint.pcapng")
            let watch = try f.startLanekeeper([
                "watch", "--policy", try f.policy("sigint.yaml"), "--format", "json", "--output", report, "--evidence", evidence,
            ])
            try f.inHost("nfs-ls", "nfs://198.51.100.20/export?version=4")
            try f.inHost("nfs-ls", "nfs://203.0.113.20/export?version=4")
            watch.interrupt()
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 1)
            #expect(try Report(path: report).verdict == "fail")
            let tshark = try run(URL(fileURLWithPath: "/usr/bin/tshark"), ["-r", evidence, "-Y", "nfs"])
            #expect(tshark.status == 0, "\(tshark.stderr)")
            #expect(tshark.stdout.split(separator: "\n").count > 0)
        }

        /// The interface is deleted by the test (COMMAND runs as nobody, who may not delete it),
        /// after the watch has dropped its privileges: noticing the loss needs none.
        @Test func anInterfaceDeletedDuringTheCaptureMakesItInconclusive() throws {
            let f = try fixture()
            try f.inHost("ip", "link", "add", "gone0", "type", "veth", "peer", "name", "gone0p")
            try f.inHost("ip", "link", "set", "gone0", "up")
            let report = f.path("gone.json")
            let watch = try f.startLanekeeper([
                "watch", "--policy", try f.policy("gone.yaml", storage: ["gone0"]), "--format", "json", "--output", report, "--",
                "sh", "-c", "nfs-ls 'nfs://203.0.113.20/export?version=3' && sleep 3",
            ])
            try f.inHost("ip", "link", "del", "gone0")
            watch.waitUntilExit()
            let result = (status: watch.terminationStatus, stderr: "")
            #expect(result.status == 2, "\(result.stderr)")
            let json = try Report(path: report)
            #expect(json.verdict == "inconclusive")
            #expect(json.reasons.contains { $0.contains("gone0") && $0.contains("disappeared") }, "\(json.reasons)")
            #expect(json.capture("gone0")?["end"] as? String == "incomplete")
        }

        @Test func aTinyBufferUnderLoadDropsAndIsInconclusive() throws {
            let f = try fixture()
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", f.load, "iperf3", "-s", "-p", "2049", "-B", "192.0.2.20"]
            server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            server.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try server.run()
            defer {
                // SIGKILL: processes started from test threads inherit their blocked SIGTERM.
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            Thread.sleep(forTimeInterval: 1)
            let report = f.path("drops.json")
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("drops.yaml", storage: ["load0"], expectStorage: false),
                "--buffer-mib", "1", "--format", "json", "--output", report, "--",
                "iperf3", "-c", "192.0.2.20", "-p", "2049", "-t", "4", "-P", "2",
            ])
            #expect(result.status == 2, "\(result.stderr)")
            let json = try Report(path: report)
            #expect(json.verdict == "inconclusive")
            let dropped = json.capture("load0")?["dropped"] as? Int ?? 0
            #expect(dropped > 0)
            #expect(json.reasons.contains { $0.contains("dropped on load0") && $0.contains("--buffer-mib") }, "\(json.reasons)")
        }
    }
}

extension WatchSuites {
    @Suite struct WatchErrorTests {
        @Test func anInterfaceThatDoesNotExistExits65NamingIt() throws {
            let f = try fixture()
            let policy = try f.policy("missing.yaml", storage: ["nosuch0"])
            let evidence = f.path("missing.pcapng")
            let result = try f.lanekeeper(["watch", "--policy", policy, "--duration", "1", "--evidence", evidence])
            #expect(result.status == 65)
            #expect(result.stderr.contains("nosuch0") && result.stderr.contains("does not exist"), "\(result.stderr)")
            // A watch that never started leaves no evidence file (nor a FILE.partial to refuse next time).
            #expect(!FileManager.default.fileExists(atPath: evidence))
            #expect(!FileManager.default.fileExists(atPath: evidence + ".partial"))
        }

        @Test func withoutCapNetRawExits77SayingSo() throws {
            let f = try fixture()
            let policy = try f.policy("noperm.yaml")
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: policy)
            let result = try f.inHost(
                "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", try f.binaryCopy("lanekeeper-noperm"),
                "watch", "--policy", policy, "--duration", "1")
            #expect(result.status == 77, "\(result.stderr)")
            #expect(result.stderr.contains("CAP_NET_RAW"))
        }

        @Test func aPolicyNamingNoInterfaceExits65() throws {
            let f = try fixture()
            let file = f.path("noif.yaml")
            try "version: 1\nnetworks:\n  management:\n    subnets: [198.51.100.0/24]\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            let result = try f.lanekeeper(["watch", "--policy", file, "--duration", "1"])
            #expect(result.status == 65)
            #expect(result.stderr.contains("names no interface"))
        }

        @Test func aCommandThatCannotStartExits127Or126() throws {
            let f = try fixture()
            let policy = try f.policy("nocmd.yaml")
            let missing = try f.lanekeeper(["watch", "--policy", policy, "--", "lk-no-such-command"])
            #expect(missing.status == 127)
            #expect(missing.stderr.contains("lk-no-such-command"))
            let notExecutable = try f.lanekeeper(["watch", "--policy", policy, "--", policy])
            #expect(notExecutable.status == 126)
        }
    }
}
