import Foundation
import TestSupport
import Testing

/// `lanekeeper watch --continuous` on live traffic, in two network namespaces made for each
/// test (a host with mgmt0 and stor0, a peer at the other end of each veth), as root.
final class Lab: @unchecked Sendable {
    let host: String
    let peer: String
    let directory: String

    static let unavailable: String? = {
        if getuid() != 0 { return "not root: the continuous watch tests need network namespaces and packet capture" }
        for tool in ["/usr/sbin/ip", "/usr/bin/tcpdump", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (bash scripts/install-deps --test)"
        }
        return nil
    }()

    init() throws {
        let tag = String(UUID().uuidString.prefix(6)).lowercased()
        host = "lkfleet-\(tag)-h"
        peer = "lkfleet-\(tag)-p"
        directory = NSTemporaryDirectory() + "lkfleet-\(tag)"
        for sub in ["", "/reports", "/evidence"] {
            try FileManager.default.createDirectory(atPath: directory + sub, withIntermediateDirectories: true)
            // Only root writes the window files (the supervisor, with the caller's identity);
            // the capture process, nobody by then, reads the policy again on SIGHUP (0711, 0644).
            chmod(directory + sub, sub.isEmpty ? 0o711 : 0o700)
        }
        let script = """
            set -e
            ip netns add \(host); ip netns add \(peer)
            ip link add mgmt0 netns \(host) type veth peer name pm0 netns \(peer)
            ip link add stor0 netns \(host) type veth peer name ps0 netns \(peer)
            for ns in \(host) \(peer); do
              ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
              ip -n $ns link set lo up
            done
            ip -n \(host) addr add 198.51.100.1/24 dev mgmt0; ip -n \(host) link set mgmt0 up
            ip -n \(host) addr add 203.0.113.1/24 dev stor0; ip -n \(host) link set stor0 up
            ip -n \(peer) addr add 198.51.100.2/24 dev pm0; ip -n \(peer) link set pm0 up
            ip -n \(peer) addr add 203.0.113.2/24 dev ps0; ip -n \(peer) link set ps0 up
            """
        let result = try run(URL(fileURLWithPath: "/bin/bash"), ["-c", script])
        if result.status != 0 {
            tearDown()
            throw LabError(description: "cannot build the namespaces: \(result.stderr)")
        }
    }

    deinit { tearDown() }

    private func tearDown() {
        _ = try? run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", host])
        _ = try? run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", peer])
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct LabError: Error, CustomStringConvertible {
        var description: String
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes a policy (management mgmt0, storage stor0) with `extra` appended.
    @discardableResult
    func policy(_ name: String = "policy.yaml", interfaces: (String, String) = ("mgmt0", "stor0"), extra: String = "") throws -> String {
        let text = """
            version: 1
            networks:
              management:
                interfaces: [\(interfaces.0)]
                subnets: [198.51.100.0/24]
              storage:
                interfaces: [\(interfaces.1)]
                subnets: [203.0.113.0/24]
                expect_storage_traffic: true

            """ + extra
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        chmod(path(name), 0o644)
        return path(name)
    }

    /// Starts a program in the host namespace, its standard error to `stderr` (a file name).
    func start(_ arguments: [String], stdout: String? = nil, stderr: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", host] + arguments
        for (name, assign) in [(stderr, { process.standardError = $0 }), (stdout ?? "/dev/null", { process.standardOutput = $0 })]
            as [(String, (FileHandle) -> Void)]
        {
            let file = name.hasPrefix("/") ? name : path(name)
            // createFile writes a temporary file and renames it over `file`: never over /dev/null.
            if file != "/dev/null" { _ = FileManager.default.createFile(atPath: file, contents: nil) }
            assign(FileHandle(forWritingAtPath: file)!)
        }
        try process.run()
        return process
    }

    /// Starts `lanekeeper ARGS` and returns once `sockets` packet sockets are open in the host
    /// namespace (all captures of everything started so far).
    func startCapturing(_ arguments: [String], stderr: String, stdout: String? = nil, sockets: Int) throws -> Process {
        let process = try start(arguments, stdout: stdout, stderr: stderr)
        try waitForSockets(sockets, process: process)
        return process
    }

    func waitForSockets(_ count: Int, process: Process) throws {
        let deadline = Date().addingTimeInterval(20)
        while try inHost("cat", "/proc/net/packet").stdout.split(separator: "\n").count < count + 1 {
            if !process.isRunning || Date() > deadline {
                throw LabError(description: "the capture did not start")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 0.3)
    }

    @discardableResult
    func inHost(_ arguments: String...) throws -> Run {
        try run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", host] + arguments)
    }

    /// Sends UDP datagrams from the peer: `count` rounds `gap` seconds apart, each to every
    /// (address, port).
    func send(rounds count: Int, gap: Double, to targets: [(String, Int)]) throws {
        let list = targets.map { "('\($0.0)', \($0.1))" }.joined(separator: ", ")
        let script = """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(\(count)):
                for target in [\(list)]:
                    s.sendto(b'lanekeeper-window-test' * 4, target)
                time.sleep(\(gap))
            """
        let result = try run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", peer, "python3", "-c", script])
        if result.status != 0 { throw LabError(description: "sending failed: \(result.stderr)") }
    }

    /// Sends SIGTERM (or `signal`) and waits.
    func end(_ process: Process, signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The window reports in reports/, oldest first.
    func reports() throws -> [[String: Any]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: path("reports")).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: path("reports/" + name)))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
    }

    /// The JSON lines of a log file.
    func events(_ file: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path(file), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

/// A report's `interfaces[].packets` for `name` (0 when absent).
func packets(_ report: [String: Any], _ name: String, field: String = "packets") -> Int {
    let interfaces = report["interfaces"] as? [[String: Any]] ?? []
    return interfaces.first { $0["name"] as? String == name }?[field] as? Int ?? 0
}

/// JSON without saying so: --continuous implies it.
let continuous = ["watch", "--continuous"]

@Suite(.serialized, .enabled(if: Lab.unavailable == nil, "\(Lab.unavailable ?? "")"))
struct ContinuousLiveTests {
    /// Short windows over bursts of traffic: the windows' reports add up to the packets a
    /// plain watch and tcpdump saw of the same traffic, none lost, none counted twice; the
    /// metrics endpoint, scraped over loopback and parsed by prometheus_client, says the same.
    @Test func windowsCountEveryPacketOnceAndTheMetricsSayTheSame() throws {
        let lab = try Lab()
        let policy = try lab.policy()
        let tcpdump = try lab.start(
            ["tcpdump", "-i", "mgmt0", "-n", "-U", "-w", lab.path("mgmt0.pcap"), "ip"], stderr: "tcpdump.err")
        try lab.waitForSockets(1, process: tcpdump)
        let plain = try lab.startCapturing(
            ["\(binary.path)", "watch", "--policy", policy, "--format", "json", "--output", lab.path("plain.json")],
            stderr: "plain.err", sockets: 3)
        let watch = try lab.startCapturing(
            [binary.path] + continuous + [
                "--policy", policy, "--interval", "0.5", "--report-dir", lab.path("reports"), "--evidence-dir",
                lab.path("evidence"), "--metrics-listen", "127.0.0.1:0", "--metrics-file", lab.path("metrics.prom"),
            ], stderr: "continuous.err", sockets: 5)
        // Bursts spread over several windows: NFS on both networks, and other traffic.
        try lab.send(rounds: 300, gap: 0.01, to: [("198.51.100.1", 2049), ("203.0.113.1", 2049), ("198.51.100.1", 5001)])
        Thread.sleep(forTimeInterval: 1.5)

        // Scrape: the counters are the sums of the first lanekeeper_windows_total windows.
        let url = try #require(try lab.events("continuous.err").first { $0["event"] as? String == "start" }?["metrics"] as? String)
        let scrape = try lab.inHost("python3", packageRoot.path + "/Tests/ContinuousTests/scrape.py", url)
        #expect(scrape.status == 0, "\(scrape.stderr)")
        let scraped = try #require(try JSONSerialization.jsonObject(with: Data(scrape.stdout.utf8)) as? [String: Any])

        #expect(lab.end(watch) == 0, "a continuous watch stopped by SIGTERM exits 0")
        #expect(lab.end(plain, signal: SIGINT) == 1, "the plain watch saw storage on management")
        _ = lab.end(tcpdump, signal: SIGKILL)  // -U wrote every packet as it came; the test runner may block SIGTERM

        let reports = try lab.reports()
        #expect(reports.count >= 4, "several windows")
        for name in try FileManager.default.contentsOfDirectory(atPath: lab.path("reports")) {
            let owner = try FileManager.default.attributesOfItem(atPath: lab.path("reports/" + name))[.ownerAccountID] as? Int
            #expect(owner == Int(getuid()), "\(name) belongs to the caller")
        }
        let plainReport = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lab.path("plain.json")))) as? [String: Any])
        for name in ["mgmt0", "stor0"] {
            let windowed = reports.reduce(0) { $0 + packets($1, name) }
            #expect(windowed == packets(plainReport, name), "\(name): windows against one watch")
            #expect(windowed >= 300 * (name == "mgmt0" ? 2 : 1))
        }
        let tshark = try run(URL(fileURLWithPath: "/usr/bin/tcpdump"), ["-n", "-r", lab.path("mgmt0.pcap")])
        let dumped = tshark.stdout.split(separator: "\n").count
        #expect(reports.reduce(0) { $0 + packets($1, "mgmt0") } == dumped, "mgmt0: windows against tcpdump")
        #expect(
            reports.reduce(0) { $0 + packets($1, "mgmt0", field: "storage_packets") }
                == packets(plainReport, "mgmt0", field: "storage_packets"))

        // Windows follow each other: each starts where the previous ended.
        let windows = reports.compactMap { $0["window"] as? [String: Any] }
        #expect(windows.map { $0["index"] as? Int ?? -1 } == Array(0..<reports.count))
        // Numbers are JSON numbers, not strings.
        #expect(windows.allSatisfy { ($0["seconds"] as? Double ?? 0) > 0 && !($0["seconds"] is String) })
        let start = try #require(try lab.events("continuous.err").first { $0["event"] as? String == "start" })
        #expect(start["interval"] as? Double == 0.5 && !(start["interval"] is String))
        for (previous, next) in zip(windows, windows.dropFirst()) {
            #expect(previous["end"] as? String == next["start"] as? String)
        }

        // The scrape, parsed by prometheus_client.
        let closed = try #require(scraped["lanekeeper_windows_total"] as? Double)
        let counted = reports.prefix(Int(closed))
        #expect(closed >= 3)
        for name in ["mgmt0", "stor0"] {
            #expect(
                scraped["lanekeeper_interface_packets_total{interface=\(name)}"] as? Double
                    == Double(counted.reduce(0) { $0 + packets($1, name) }))
        }
        #expect(
            scraped["lanekeeper_interface_storage_packets_total{interface=mgmt0,protocol=nfs}"] as? Double
                == Double(counted.reduce(0) { $0 + packets($1, "mgmt0", field: "storage_packets") }))
        #expect(scraped["lanekeeper_violations_total{interface=mgmt0,network=management,protocol=nfs}"] as? Double == 1)
        #expect(scraped["lanekeeper_dropped_packets_total{interface=mgmt0}"] as? Double == 0)
        // No port-range-only flow and no host_addresses: both stay 0, present from the start.
        #expect(scraped["lanekeeper_unconfirmed_flows"] as? Double == 0)
        #expect(scraped["lanekeeper_transit_flows"] as? Double == 0)
        let verdicts = ["pass", "fail", "inconclusive"].map { scraped["lanekeeper_verdict{verdict=\($0)}"] as? Double }
        #expect(verdicts.compactMap { $0 }.sorted() == [0, 0, 1], "one verdict gauge is 1")
        let digest = try run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [policy]).stdout.prefix(64)
        #expect(scraped["lanekeeper_policy_info{path=\(policy),sha256=\(digest)}"] as? Double == 1)
        #expect(scraped["http"] as? [String: Double] == ["/other": 404, "POST": 405, "HEAD": 200, "oversized": 431, "garbage": 400])
        #expect(scraped["content_type"] as? String == "text/plain; version=0.0.4; charset=utf-8")

        // The textfile, parsed the same way, after the last window.
        let file = try lab.inHost("python3", packageRoot.path + "/Tests/ContinuousTests/scrape.py", "file://" + lab.path("metrics.prom"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(file.stdout.utf8)) as? [String: Any])
        #expect(parsed["lanekeeper_windows_total"] as? Double == Double(reports.count))
        #expect(
            parsed["lanekeeper_interface_packets_total{interface=mgmt0}"] as? Double
                == Double(reports.reduce(0) { $0 + packets($1, "mgmt0") }))

        // One violation line, as soon as it was seen (before the window it is in closed).
        let events = try lab.events("continuous.err")
        let violations = events.filter { $0["event"] as? String == "violation" }
        #expect(violations.count == 1)
        #expect(violations.first?["server"] as? String == "198.51.100.1:2049")
        #expect(violations.first?["network"] as? String == "management")
        let firstFail = try #require(events.first { $0["event"] as? String == "window" && $0["verdict"] as? String == "fail" })
        #expect(try #require(violations.first?["time"] as? String) <= firstFail["end"] as? String ?? "")
    }

    /// SIGHUP reloads: an allow entry turns the next windows' violations into allowed flows;
    /// a broken policy and one naming other interfaces are rejected, said on the log, and the
    /// policy in force stays.
    @Test func sighupReloadsAndKeepsThePolicyInForceWhenTheNewOneCannotBeUsed() throws {
        let lab = try Lab()
        let policy = try lab.policy()
        let watch = try lab.startCapturing(
            [binary.path] + continuous + ["--policy", policy, "--interval", "30", "--report-dir", lab.path("reports")],
            stderr: "continuous.err", sockets: 2)
        func hangUp(expect result: String) throws {
            let before = try lab.events("continuous.err").filter { $0["event"] as? String == "reload" }.count
            kill(watch.processIdentifier, SIGHUP)
            let deadline = Date().addingTimeInterval(10)
            while try lab.events("continuous.err").filter({ $0["event"] as? String == "reload" }).count == before, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
            }
            let last = try lab.events("continuous.err").last { $0["event"] as? String == "reload" }
            #expect(last?["result"] as? String == result, "\(String(describing: last))")
        }
        try lab.send(rounds: 20, gap: 0.01, to: [("198.51.100.1", 2049), ("203.0.113.1", 2049)])
        try lab.policy(extra: "allow:\n  - {protocol: nfs, peer: 198.51.100.1/32}\n")
        Thread.sleep(forTimeInterval: 0.5)
        try hangUp(expect: "loaded")
        try lab.send(rounds: 20, gap: 0.01, to: [("198.51.100.1", 2049), ("203.0.113.1", 2049)])
        try "version: 1\nnetworks: [oops\n".write(toFile: policy, atomically: true, encoding: .utf8)
        try hangUp(expect: "rejected")
        try lab.policy(interfaces: ("mgmt1", "stor0"))
        try hangUp(expect: "rejected")
        try lab.send(rounds: 20, gap: 0.01, to: [("198.51.100.1", 2049), ("203.0.113.1", 2049)])
        Thread.sleep(forTimeInterval: 0.5)
        #expect(lab.end(watch) == 0)

        let reports = try lab.reports()
        #expect(reports.count == 2, "SIGHUP closed the first window; the rejected reloads did not")
        let first = try #require(reports.first)
        let second = try #require(reports.last)
        #expect(first["verdict"] as? String == "fail")
        #expect((first["violations"] as? [Any])?.count == 1)
        #expect(second["verdict"] as? String == "pass", "the allow entry of the reloaded policy still applies")
        #expect((second["violations"] as? [Any])?.count == 0)
        #expect((second["allowed"] as? [Any])?.count == 2, "the bursts before and after the rejected reloads (two flows)")
        #expect(packets(second, "mgmt0", field: "storage_packets") == 40, "both bursts after the reload, in the second window")
        let reasons = try lab.events("continuous.err").filter { $0["result"] as? String == "rejected" }.compactMap { $0["reason"] as? String }
        #expect(reasons.count == 2)
        #expect(reasons.first?.contains(policy) == true, "names the file: \(reasons)")
        #expect(reasons.last?.contains("mgmt1") == true && reasons.last?.contains("restart") == true, "\(reasons)")
    }

    /// --keep N: of the windows that had violations, the newest N evidence files stay, and
    /// the newest N reports; each evidence file holds only the window's violating packets.
    @Test func keepDeletesTheOldestEvidenceFilesAndReports() throws {
        let lab = try Lab()
        let policy = try lab.policy()
        let watch = try lab.startCapturing(
            [binary.path] + continuous + [
                "--policy", policy, "--interval", "0.5", "--keep", "2", "--report-dir", lab.path("reports"), "--evidence-dir",
                lab.path("evidence"),
            ], stderr: "continuous.err", sockets: 2)
        try lab.send(rounds: 250, gap: 0.01, to: [("198.51.100.1", 2049), ("198.51.100.1", 5001)])
        Thread.sleep(forTimeInterval: 0.3)
        #expect(lab.end(watch) == 0)

        let events = try lab.events("continuous.err").filter { $0["event"] as? String == "window" }
        let withEvidence = events.compactMap { $0["evidence"] as? String }
        #expect(withEvidence.count >= 4, "several windows had violations")
        let deleted = events.flatMap { $0["deleted_evidence"] as? [String] ?? [] }
        #expect(deleted == Array(withEvidence.dropLast(2)), "the oldest go first")
        let kept = try FileManager.default.contentsOfDirectory(atPath: lab.path("evidence")).sorted()
        #expect(kept.map { lab.path("evidence/" + $0) } == Array(withEvidence.suffix(2)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.path("reports")).count == 2)
        for file in kept {
            // Only the violating flow's packets (to 2049 on mgmt0), read by tcpdump.
            let read = try run(URL(fileURLWithPath: "/usr/bin/tcpdump"), ["-n", "-r", lab.path("evidence/" + file)])
            let lines = read.stdout.split(separator: "\n")
            #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("198.51.100.1.2049") }, "\(file): \(read.stdout.prefix(300))")
        }
        let windowPackets = events.filter { $0["evidence"] as? String != nil }.suffix(2).compactMap { $0["violations"] as? Int }
        #expect(windowPackets.allSatisfy { $0 == 1 })
    }
}

/// systemd's readiness: with NOTIFY_SOCKET set (Type=notify), READY=1 arrives once every
/// capture is open; `--format text` with --continuous is a usage error that says why.
@Suite(.serialized, .enabled(if: Lab.unavailable == nil, "\(Lab.unavailable ?? "")"))
struct ContinuousReadinessTests {
    @Test func readyIsNotifiedOnceCapturingHasBegun() throws {
        let lab = try Lab()
        let policy = try lab.policy()
        let socketPath = lab.path("notify")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", lab.host, binary.path] + continuous + ["--policy", policy, "--interval", "60"]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": socketPath]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        let state = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
        // Every capture is open by then: both packet sockets exist in the host namespace.
        let sockets = try lab.inHost("cat", "/proc/net/packet").stdout.split(separator: "\n").count - 1
        #expect(lab.end(process) == 0)
        #expect(state.contains("READY=1\n"), "\(state)")
        #expect(state.contains("STATUS=capturing on mgmt0, stor0"), "\(state)")
        #expect(state.contains("MAINPID=\(process.processIdentifier)"), "\(state)")
        #expect(sockets >= 2)
    }

    /// As systemd runs the service (DynamicUser, AmbientCapabilities=CAP_NET_RAW): the
    /// supervisor is an ordinary user too. It gives the capability up, the capture process
    /// drops it once capturing, and the window reports are the user's.
    @Test func theServiceRunsAsAnOrdinaryUserWithAnAmbientCapability() throws {
        let lab = try Lab()
        let policy = try lab.policy()
        let nobody = getpwnam("nobody").pointee
        let home = lab.path("service")
        let ready = home + "/ready"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chown(home, nobody.pw_uid, nobody.pw_gid)
        chmod(home, 0o700)
        let copy = lab.path("lanekeeper")
        try FileManager.default.copyItem(atPath: binary.path, toPath: copy)
        chmod(copy, 0o755)
        let process = try lab.start(
            [
                "setpriv", "--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)", "--clear-groups", "--inh-caps=+net_raw",
                "--ambient-caps=+net_raw", copy,
            ] + continuous + ["--policy", policy, "--interval", "1", "--duration", "6", "--report-dir", home, "--ready-file", ready],
            stderr: "service.err")
        // The ready file names the capture process, and is written once it has dropped its
        // privileges and is capturing (a fixed sleep was too short on a loaded machine).
        let deadline = Date().addingTimeInterval(30)
        var line = ""
        while process.isRunning, Date() < deadline {
            line = (try? String(contentsOfFile: ready, encoding: .utf8)) ?? ""
            if line.hasSuffix("\n") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let supervisor = process.processIdentifier
        let named = line.components(separatedBy: "(capture process ").dropFirst().first?.split(separator: " ").first
        let capture = try #require(named.flatMap { pid_t($0) }, "ready file: \(line)")
        for pid in [supervisor, capture] {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
                #expect(status.contains("\(set):\t0000000000000000"), "\(pid) \(set)")
            }
            #expect(status.contains("Uid:\t\(nobody.pw_uid)\t"), "\(pid)")
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 2, "nothing seen in 6 s: inconclusive")
        let reports = try FileManager.default.contentsOfDirectory(atPath: home).filter { $0.hasSuffix(".json") }
        let log = (try? String(contentsOfFile: lab.path("service.err"), encoding: .utf8)) ?? ""
        #expect(reports.count >= 3, "\(log)")
        for name in reports {
            let owner = try FileManager.default.attributesOfItem(atPath: home + "/" + name)[.ownerAccountID] as? Int
            #expect(owner == Int(nobody.pw_uid))
        }
    }

    @Test func aTextOrHTMLFormatIsRefusedSayingWhy() throws {
        let lab = try Lab()
        for format in ["text", "html"] {
            let result = try run(binary, continuous + ["--policy", try lab.policy(), "--format", format])
            #expect(result.status == 64)
            #expect(result.stderr.contains("--format \(format) cannot be used with it"), "\(result.stderr)")
        }
    }
}
