import TestSupport
import Foundation
import Testing

/// Signals, a full disk, least privilege, no overwriting and no shell, for a live watch in
/// the fixture's namespaces (root only, as the other watch tests).
///
/// Traffic: iperf3 from the host to port 2049 in the load namespace, over load0, which the
/// policy here puts in the management network, so that the watch sees a steady NFS leak
/// and writes evidence all the time.
extension WatchFixture {
    /// Management mgmt0 and load0, storage stor0.
    func leakPolicy(_ name: String) throws -> String {
        let file = path(name)
        try """
            version: 1
            networks:
              management:
                interfaces: [mgmt0, load0]
                subnets: [198.51.100.0/24, 192.0.2.0/24]
              storage:
                interfaces: [stor0]
                subnets: [203.0.113.0/24]
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Runs iperf3 (server in the load namespace, client in the host) at a modest rate until
    /// the returned closure is called.
    func leakTraffic(seconds: Int = 60) throws -> () -> Void {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", load, "iperf3", "-s", "-p", "2049", "-B", "192.0.2.20"]
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        Thread.sleep(forTimeInterval: 0.5)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        client.arguments = [
            "netns", "exec", host, "iperf3", "-c", "192.0.2.20", "-p", "2049", "-t", String(seconds), "-b", "20M", "-l", "1400",
        ]
        client.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        client.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try client.run()
        Thread.sleep(forTimeInterval: 0.3)
        return {
            // SIGKILL: processes started from test threads inherit their blocked SIGTERM.
            for process in [client, server] {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }
}

/// A process started with posix_spawn with SIGINT and SIGTERM blocked, so that a signal
/// sent at any moment, even before lanekeeper's main runs, stays pending until lanekeeper
/// takes it (a signal that lands before a program's first instruction cannot be caught by
/// any program).
struct Spawned {
    let pid: pid_t

    init(_ argv: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGINT)
        sigaddset(&blocked, SIGTERM)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &blocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, environ)
        guard status == 0 else { throw WatchFixture.FixtureError(description: "posix_spawn \(argv[0]): \(status)") }
        self.pid = pid
    }

    /// `lanekeeper watch` in the fixture's host namespace, JSON report and evidence, no COMMAND.
    static func watch(
        _ f: WatchFixture, policy: String, report: String, evidence: String, stderr: String = "/dev/null",
        options: [String] = []
    ) throws -> Spawned {
        try Spawned(
            ["/usr/sbin/ip", "netns", "exec", f.host, binary.path, "watch", "--policy", policy, "--format", "json",
             "--output", report, "--evidence", evidence] + options,
            stderr: stderr)
    }

    /// Waits; the exit status, or 128 + the signal that ended it.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// What a test checks of every evidence file: tshark and capinfos read it to its end without
/// complaint, and lanekeeper replays it. Returns the packets tshark read.
@discardableResult
func expectReadableEvidence(_ path: String, policy: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    let tshark = try run(URL(fileURLWithPath: "/usr/bin/tshark"), ["-r", path, "-T", "fields", "-e", "frame.number"])
    #expect(tshark.status == 0, "tshark -r \(path): \(tshark.stderr)", sourceLocation: sourceLocation)
    let capinfos = try run(URL(fileURLWithPath: "/usr/bin/capinfos"), ["-c", path])
    #expect(capinfos.status == 0, "capinfos \(path): \(capinfos.stderr)", sourceLocation: sourceLocation)
    let replay = try run(binary, ["replay", "--policy", policy, "--format", "json", path])
    #expect([0, 1, 2].contains(replay.status), "lanekeeper replay \(path): \(replay.stderr)", sourceLocation: sourceLocation)
    let packets = tshark.stdout.split(separator: "\n").count
    if packets > 0 {
        // Everything in the evidence is the leak: lanekeeper replays it as a fail.
        #expect(replay.status == 1, "\(replay.stderr)", sourceLocation: sourceLocation)
    }
    return packets
}

func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

extension WatchSuites {
    @Suite struct WatchSignalTests {
        /// SIGINT or SIGTERM at 0, 5, 20, 100, 500 ms and 2 s after the start (before the captures
        /// are open, while capturing): each time a report that parses, with the verdict's exit
        /// status, and an evidence file under its final name that tshark, capinfos and lanekeeper read.
        @Test func aSignalAtAnyMomentLeavesACompleteReportAndAValidEvidenceFile() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("signals.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            var withPackets = 0
            for (index, delay) in [0, 5, 20, 100, 500, 2000].enumerated() {
                for signal in [SIGINT, SIGTERM] {
                    let name = "signal-\(delay)ms-\(signal)"
                    let report = f.path(name + ".json")
                    let evidence = f.path(name + ".pcapng")
                    let watch = try Spawned.watch(
                        f, policy: policy, report: report, evidence: evidence, stderr: f.path(name + ".err"))
                    usleep(useconds_t(delay * 1000))
                    kill(watch.pid, signal)
                    let status = watch.wait()
                    let stderr = (try? String(contentsOfFile: f.path(name + ".err"), encoding: .utf8)) ?? ""
                    let json = try Report(path: report)
                    let expected: [String: Int32] = ["pass": 0, "fail": 1, "inconclusive": 2]
                    #expect(json.verdict.flatMap { expected[$0] } == status, "\(name): exit \(status), \(stderr)")
                    #expect(exists(evidence) && !exists(evidence + ".partial"), "\(name)")
                    if try expectReadableEvidence(evidence, policy: policy) > 0 { withPackets += 1 }
                    // No temporary file is left beside the report.
                    let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.directory)
                        .filter { $0.hasPrefix("." + name) }
                    #expect(leftovers.isEmpty, "\(leftovers)")
                    if index == 5 { #expect(json.verdict == "fail", "\(name): 2 s of the leak") }
                }
            }
            #expect(withPackets > 0)
        }

        /// A second signal while the report is being made changes nothing: still one complete report.
        @Test func signalsDuringTheFinalReportAreIgnored() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("signals-twice.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let report = f.path("signals-twice.json")
            let evidence = f.path("signals-twice.pcapng")
            let watch = try Spawned.watch(f, policy: policy, report: report, evidence: evidence)
            usleep(1_500_000)
            kill(watch.pid, SIGINT)
            for _ in 0..<20 {
                usleep(20_000)
                kill(watch.pid, SIGTERM)
            }
            #expect(watch.wait() == 1)
            #expect(try Report(path: report).verdict == "fail")
            #expect(try expectReadableEvidence(evidence, policy: policy) > 0)
        }

        /// SIGKILL mid-capture: no report, but FILE.partial holds whole blocks written at most
        /// ~100 ms before, which tshark, capinfos and lanekeeper read to the end.
        @Test func sigkillLeavesAPartialEvidenceFileReadToItsLastPacket() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("sigkill.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let report = f.path("sigkill.json")
            let evidence = f.path("sigkill.pcapng")
            let watch = try Spawned.watch(f, policy: policy, report: report, evidence: evidence)
            // Until evidence reaches the file (the Section Header Block alone is 48 bytes).
            let deadline = Date().addingTimeInterval(20)
            func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: evidence + ".partial")[.size] as? Int) ?? 0 }
            while size() < 10_000 && Date() < deadline { usleep(50_000) }
            usleep(500_000)
            kill(watch.pid, SIGKILL)
            #expect(watch.wait() == 128 + SIGKILL)
            #expect(!exists(report) && !exists(evidence))
            let packets = try expectReadableEvidence(evidence + ".partial", policy: policy)
            #expect(packets > 10)

            // A reader also takes a file cut inside its last block (a writer killed mid-write on a
            // file system that tears writes): every whole packet before the cut.
            let cut = f.path("sigkill-cut.pcapng")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: evidence + ".partial"))
            try bytes.prefix(bytes.count - 30).write(to: URL(fileURLWithPath: cut))
            let tshark = try run(URL(fileURLWithPath: "/usr/bin/tshark"), ["-r", cut, "-T", "fields", "-e", "frame.number"])
            #expect(tshark.stdout.split(separator: "\n").count == packets - 1)
            #expect(tshark.stderr.contains("cut short"))
            let replay = try run(binary, ["replay", "--policy", policy, "--format", "json", "--output", f.path("sigkill-cut.json"), cut])
            #expect(replay.status == 1, "\(replay.stderr)")
            // The next watch refuses to replace the evidence a killed one left, unless --force.
            let again = try f.lanekeeper(["watch", "--policy", policy, "--duration", "1", "--evidence", evidence])
            #expect(again.status == 73)
            #expect(again.stderr.contains(evidence + ".partial") && again.stderr.contains("--force"), "\(again.stderr)")
        }

        /// SIGKILL of the supervisor mid-capture leaves no report temporary: the report goes
        /// to a file with no name (O_TMPFILE) in its directory, which the supervisor holds
        /// open, so nothing `.NAME.*` is left beside the report, with or without --force (the
        /// report it would have replaced stays as it was); FILE.partial, evidence, stays, and
        /// the capture process ends by itself (its orders pipe closed). Stopped by SIGINT
        /// instead, the supervisor names the file through /proc/self/fd, owned by the caller.
        @Test func sigkillLeavesNoReportTemporary() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("kill-report.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            func leftovers(_ name: String) throws -> [String] {
                try FileManager.default.contentsOfDirectory(atPath: f.directory).filter { $0.hasPrefix("." + name) }
            }
            for force in [false, true] {
                let name = force ? "kill-report-forced" : "kill-report"
                let report = f.path(name + ".json")
                let evidence = f.path(name + ".pcapng")
                if force { try "old\n".write(toFile: report, atomically: false, encoding: .utf8) }
                let watch = try Spawned.watch(f, policy: policy, report: report, evidence: evidence, options: force ? ["--force"] : [])
                // Until evidence reaches the file: capturing.
                let deadline = Date().addingTimeInterval(20)
                func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: evidence + ".partial")[.size] as? Int) ?? 0 }
                while size() < 10_000 && Date() < deadline { usleep(50_000) }
                let descriptors = "/proc/\(watch.pid)/fd"
                let open = ((try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? []).compactMap {
                    try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + $0)
                }
                #expect(open.contains { $0.hasPrefix(f.directory + "/#") && $0.hasSuffix(" (deleted)") }, "\(name): \(open)")
                #expect(try leftovers(name).isEmpty)
                let capture = try #require(capturePID(of: watch.pid))
                kill(watch.pid, SIGKILL)
                #expect(watch.wait() == 128 + SIGKILL)
                let gone = Date().addingTimeInterval(10)
                while kill(capture, 0) == 0 && Date() < gone { usleep(50_000) }
                #expect(kill(capture, 0) != 0, "the capture process outlived its supervisor")
                let left = try leftovers(name)
                #expect(left.isEmpty, "\(name): \(left)")
                #expect(exists(evidence + ".partial") && !exists(evidence), "\(name)")
                if force {
                    #expect(try String(contentsOfFile: report, encoding: .utf8) == "old\n")
                } else {
                    #expect(!exists(report))
                }
            }
            let report = f.path("kill-report-forced.json")
            let evidence = f.path("kill-report-forced.pcapng")
            let watch = try Spawned.watch(f, policy: policy, report: report, evidence: evidence, options: ["--force"])
            usleep(1_500_000)
            kill(watch.pid, SIGINT)
            #expect(watch.wait() == 1)
            #expect(try Report(path: report).verdict == "fail")
            let owner = try FileManager.default.attributesOfItem(atPath: report)[.ownerAccountID] as? Int
            #expect(owner == Int(getuid()))
            #expect(exists(evidence) && !exists(evidence + ".partial"))
            #expect(try leftovers("kill-report").isEmpty)
        }
    }
}

extension WatchSuites {
    @Suite struct WatchFullDiskTests {
        /// Runs `lanekeeper watch ARGS` in a private mount namespace where DIR is a tmpfs of
        /// `size` (already filled when `fill`), then unmounts it: nothing leaks out of the test.
        func watchOnTinyDisk(_ f: WatchFixture, _ directory: String, size: String, fill: Bool, _ arguments: [String]) throws -> Run {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let quoted = ([binary.path] + arguments).map { "'" + $0 + "'" }.joined(separator: " ")
            let script = """
                mount -t tmpfs -o size=\(size),mode=1777 lk-full '\(directory)' || exit 99
                \(fill ? "dd if=/dev/zero of='\(directory)/fill' bs=4k 2>/dev/null" : "true")
                ip netns exec \(f.host) \(quoted)
                status=$?
                ls -a '\(directory)' > '\(directory).listing'
                for file in '\(directory)'/*.partial; do [ -e "$file" ] && cp "$file" '\(directory).partial-copy'; done
                umount '\(directory)'
                exit $status
                """
            return try run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-m", "--propagation", "private", "/bin/sh", "-c", script])
        }

        @Test func aFullDiskWhileWritingEvidenceSaysSoAndKeepsTheVerdict() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("full-evidence.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let directory = f.path("full-evidence")
            let report = f.path("full-evidence.json")
            let result = try watchOnTinyDisk(
                f, directory, size: "64k", fill: false,
                ["watch", "--policy", policy, "--duration", "2", "--format", "json", "--output", report,
                 "--evidence", directory + "/e.pcapng"])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(try Report(path: report).verdict == "fail")
            #expect(result.stderr.contains("\(directory)/e.pcapng.partial") && result.stderr.contains("ENOSPC"), "\(result.stderr)")
            #expect(result.stderr.contains("verdict: fail"))
            // What reached the disk ends on a whole block: read to its end.
            #expect(try expectReadableEvidence(directory + ".partial-copy", policy: policy) > 0)
            let listing = try String(contentsOfFile: directory + ".listing", encoding: .utf8)
            #expect(!listing.contains("e.pcapng\n"))
        }

        @Test func aFullDiskWhileWritingTheReportPrintsItAndKeepsTheVerdict() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("full-report.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let directory = f.path("full-report")
            let result = try watchOnTinyDisk(
                f, directory, size: "64k", fill: true,
                ["watch", "--policy", policy, "--duration", "1", "--format", "json", "--output", directory + "/r.json"])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("\(directory)/r.json") && result.stderr.contains("ENOSPC"), "\(result.stderr)")
            // The report went to standard output instead, whole.
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(json?["verdict"] as? String == "fail")
            // No temporary file is left on the full disk.
            let listing = try String(contentsOfFile: directory + ".listing", encoding: .utf8)
            #expect(listing.split(separator: "\n").sorted() == [".", "..", "fill"])
        }

        /// A pass whose report could not be written exits 74, so that a missing report is not
        /// taken for a clean result.
        @Test func aPassWhoseReportCannotBeWrittenExits74() throws {
            let f = try fixture()
            let directory = f.path("full-pass")
            let result = try watchOnTinyDisk(
                f, directory, size: "64k", fill: true,
                ["watch", "--policy", try f.policy("full-pass.yaml"), "--output", directory + "/r.txt", "--",
                 "nfs-ls", "nfs://203.0.113.20/export?version=3"])
            #expect(result.status == 74, "\(result.stderr)")
            #expect(result.stderr.contains("ENOSPC") && result.stderr.contains("verdict: pass"), "\(result.stderr)")
            #expect(result.stdout.contains("lanekeeper PASS"))
        }
    }
}

extension WatchSuites {
    @Suite struct WatchPrivilegeTests {
        /// The /proc status fields of every thread of `pid`.
        func threadStatuses(_ pid: pid_t) throws -> [[String: String]] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").map { task in
                let text = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)
                var fields: [String: String] = [:]
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
                }
                return fields
            }
        }

        func expectUnprivileged(_ fields: [String: String], uid: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            // Started as root, the bounding set is emptied too.
            for set in ["CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"] {
                #expect(fields[set] == "0000000000000000", "\(set) \(fields[set] ?? "-")", sourceLocation: sourceLocation)
            }
            #expect(fields["NoNewPrivs"] == "1", sourceLocation: sourceLocation)
            for name in ["Uid", "Gid"] {
                let ids = (fields[name] ?? "").split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
                #expect(ids == [uid, uid, uid, uid], "\(name) \(fields[name] ?? "-")", sourceLocation: sourceLocation)
            }
            #expect(fields["Groups"] == "\(uid)", "Groups \(fields["Groups"] ?? "-")", sourceLocation: sourceLocation)
        }

        /// Started as root: the capture process (every thread) is nobody with no capability in
        /// any set and no_new_privs; the supervisor and COMMAND keep root's identity and
        /// capabilities; the report and evidence, in a directory only root may write in (mode
        /// 700, as `mktemp -d` makes it), belong to root.
        @Test func theCaptureProcessDropsEverythingWhileCommandKeepsTheCallersIdentity() throws {
            let f = try fixture()
            let nobody = Int(getpwnam("nobody").pointee.pw_uid)
            let policy = try f.leakPolicy("drop.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let out = try TemporaryDirectory("lk-drop")
            let report = out.file("drop.json")
            let evidence = out.file("drop.pcapng")
            let seen = out.file("command-status")
            let watch = try f.startLanekeeper([
                "watch", "--policy", policy, "--format", "json", "--output", report, "--evidence", evidence, "--",
                "sh", "-c", "cat /proc/self/status > \(seen); touch /root/.lk-marker-$$ && rm /root/.lk-marker-$$ && echo wrote >> \(seen); exec sleep 30",
            ])
            // COMMAND starts once the capture process has dropped its privileges and is capturing.
            waitForFile(seen, while: watch)
            let pid = watch.processIdentifier
            let capture = try #require(capturePID(of: pid))
            let threads = try threadStatuses(capture)
            #expect(threads.count > 2)  // the main thread and one per interface at least
            for fields in threads { expectUnprivileged(fields, uid: nobody) }
            let supervisor = try threadStatuses(pid)
            for fields in supervisor {
                #expect(fields["Uid"]?.split(whereSeparator: \.isWhitespace).compactMap { Int($0) } == [0, 0, 0, 0])
                #expect(fields["CapEff"] != "0000000000000000")
            }
            let command = try String(contentsOfFile: seen, encoding: .utf8)
            #expect(command.contains("Uid:\t0\t0\t0\t0"), "\(command)")
            #expect(command.contains("NoNewPrivs:\t0"))
            #expect(command.contains("\nwrote"), "COMMAND could not write in /root: \(command)")
            let mine = try threadStatuses(getpid()).first?["CapEff"] ?? "-"
            #expect(command.contains("CapEff:\t\(mine)"), "COMMAND's capabilities are not the caller's")
            watch.interrupt()
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 1)
            let json = try Report(path: report)
            #expect(json.verdict == "fail")
            #expect((json.capture("load0")?["frames"] as? Int ?? 0) > 100)
            #expect(json.command?["signal"] as? Int == Int(SIGINT))
            #expect(try expectReadableEvidence(evidence, policy: policy) > 100)
            for file in [report, evidence] {
                let owner = try FileManager.default.attributesOfItem(atPath: file)[.ownerAccountID] as? Int
                #expect(owner == 0, "\(file)")
            }
        }

        /// Started as an ordinary user with `cap_net_raw` as a file capability (not root): the
        /// capture process keeps the user and gives up the capability once capturing; the
        /// supervisor gives it up too, and COMMAND runs as that user without it.
        @Test func startedWithAFileCapabilityItGivesItUp() throws {
            let f = try fixture()
            let nobody = Int(getpwnam("nobody").pointee.pw_uid)
            let home = f.path("filecaps")
            try? FileManager.default.removeItem(atPath: home)
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            chown(home, uid_t(nobody), gid_t(nobody))
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home)
            let copy = try f.binaryCopy("lanekeeper-caps", capabilities: "cap_net_raw+ep")
            let policy = try f.policy("filecaps.yaml", expectStorage: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: policy)
            let seen = home + "/command-status"
            let watch = Process()
            watch.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            watch.arguments = [
                "netns", "exec", f.host, "setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", copy, "watch",
                "--policy", policy, "--output", home + "/filecaps.txt", "--", "sh", "-c", "cat /proc/self/status > \(seen); sleep 3",
            ]
            watch.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            watch.standardError = FileHandle(forWritingAtPath: "/dev/null")
            watch.currentDirectoryURL = URL(fileURLWithPath: home)  // a directory the user may enter
            try watch.run()
            waitForFile(seen, while: watch)
            let capture = try #require(capturePID(of: watch.processIdentifier))
            let threads = try threadStatuses(capture) + threadStatuses(watch.processIdentifier)
            #expect(threads.count > 2)
            for fields in threads {
                for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { #expect(fields[set] == "0000000000000000", "\(set)") }
                #expect(fields["Uid"]?.split(whereSeparator: \.isWhitespace).compactMap { Int($0) } == [nobody, nobody, nobody, nobody])
            }
            for fields in try threadStatuses(capture) { #expect(fields["NoNewPrivs"] == "1") }
            let command = try String(contentsOfFile: seen, encoding: .utf8)
            #expect(command.contains("Uid:\t\(nobody)\t\(nobody)\t\(nobody)\t\(nobody)"), "\(command)")
            #expect(command.contains("CapEff:\t0000000000000000") && command.contains("CapPrm:\t0000000000000000"), "\(command)")
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 2)  // captured (nothing to judge: inconclusive), not 77
            #expect(try String(contentsOfFile: home + "/filecaps.txt", encoding: .utf8).contains("Live captures"))
            let owner = try FileManager.default.attributesOfItem(atPath: home + "/filecaps.txt")[.ownerAccountID] as? Int
            #expect(owner == nobody)
        }

        /// --user names the user the capture process becomes; COMMAND keeps the caller's
        /// identity (root) with it and without it.
        @Test func commandRunsAsTheCallerWhateverTheCaptureProcessBecomes() throws {
            let f = try fixture()
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("user.yaml", expectStorage: false), "--user", "daemon", "--format", "json",
                "--output", f.path("user.json"), "--", "id", "-u",
            ])
            #expect(result.status == 2, "\(result.stderr)")  // no storage seen: inconclusive
            #expect(result.stdout == "0\n")
            #expect(result.stderr.contains("as daemon"), "\(result.stderr)")
            let plain = try f.lanekeeper([
                "watch", "--policy", try f.policy("user-default.yaml"), "--output", f.path("user-default.txt"), "--", "id", "-u",
            ])
            #expect(plain.stdout == "0\n", "\(plain.stderr)")
            #expect(plain.stderr.contains("as nobody"), "\(plain.stderr)")
        }

        @Test func anUnusableUserOrADirectoryThatCannotBeWrittenIsRefusedBeforeCapturing() throws {
            let f = try fixture()
            let policy = try f.policy("baduser.yaml")
            let root = try f.lanekeeper(["watch", "--policy", policy, "--user", "root", "--duration", "1"])
            #expect(root.status == 77)
            #expect(root.stderr.contains("--user root") && root.stderr.contains("unprivileged"), "\(root.stderr)")
            let missing = try f.lanekeeper(["watch", "--policy", policy, "--user", "lk-no-such-user", "--duration", "1"])
            #expect(missing.status == 77)
            #expect(missing.stderr.contains("lk-no-such-user"))
            let absent = f.path("lk-no-such-directory") + "/r.txt"
            let unwritable = try f.lanekeeper(["watch", "--policy", policy, "--duration", "1", "--output", absent])
            #expect(unwritable.status == 74)
            #expect(unwritable.stderr.contains(absent) && unwritable.stderr.contains("ENOENT"), "\(unwritable.stderr)")
            #expect(!unwritable.stderr.contains("capturing on"), "\(unwritable.stderr)")
        }
    }
}

/// Waits (at most 30 s, while `process` runs) until `path` exists and is not empty.
func waitForFile(_ path: String, while process: Process) {
    let deadline = Date().addingTimeInterval(30)
    while process.isRunning, Date() < deadline {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0 { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
}

/// The capture process `lanekeeper watch` (process `supervisor`) started: its child whose
/// command line has `--capture-process`.
/// Every thread's children are read: the process may be spawned from any of them.
func capturePID(of supervisor: pid_t) -> pid_t? {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(supervisor)/task")) ?? []
    let children = tasks.map { (try? String(contentsOfFile: "/proc/\(supervisor)/task/\($0)/children", encoding: .utf8)) ?? "" }
        .joined(separator: " ")
    return children.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.first { pid in
        let arguments = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return arguments.split(separator: "\0").contains("--capture-process")
    }
}

extension WatchSuites {
    @Suite struct WatchOverwriteAndShellTests {
        @Test func anExistingReportOrEvidenceFileIsRefusedBeforeCapturingUnlessForced() throws {
            let f = try fixture()
            let policy = try f.policy("exists.yaml", expectStorage: false)
            let report = f.path("exists.txt")
            let evidence = f.path("exists.pcapng")
            try "keep me\n".write(toFile: report, atomically: false, encoding: .utf8)
            try "keep me too\n".write(toFile: evidence, atomically: false, encoding: .utf8)
            for arguments in [["--output", report], ["--evidence", evidence]] {
                let refused = try f.lanekeeper(["watch", "--policy", policy, "--duration", "1"] + arguments)
                #expect(refused.status == 73, "\(refused.stderr)")
                #expect(refused.stderr.contains(arguments[1]) && refused.stderr.contains("--force"))
            }
            #expect(try String(contentsOfFile: report, encoding: .utf8) == "keep me\n")
            #expect(try String(contentsOfFile: evidence, encoding: .utf8) == "keep me too\n")
            let forced = try f.lanekeeper([
                "watch", "--policy", policy, "--duration", "1", "--force", "--output", report, "--evidence", evidence,
            ])
            // A second with no storage at all is inconclusive (2).
            #expect(forced.status == 2, "\(forced.stderr)")
            #expect(try String(contentsOfFile: report, encoding: .utf8).hasPrefix("lanekeeper INCONCLUSIVE"))
            #expect(try expectReadableEvidence(evidence, policy: policy) == 0)
        }

        /// A COMMAND argument, a path and an interface name full of shell syntax are taken
        /// literally: nothing is run by a shell.
        @Test func shellSyntaxInACommandAPathOrAnInterfaceNameIsTakenLiterally() throws {
            let f = try fixture()
            let marker = f.path("shell-ran")
            // Relative to lanekeeper's working directory (the package root) as well: a path may hold no "/".
            let relativeMarker = "lk-shell-ran"
            let hostile = ["$(touch \(marker))", "`touch \(marker)`", "; touch \(marker)", "a b | touch \(marker)"]
            // COMMAND's arguments reach it as they are.
            let echo = try f.lanekeeper(
                ["watch", "--policy", try f.policy("shell-echo.yaml", expectStorage: false), "--output", f.path("shell-echo.txt"), "--", "/bin/echo"]
                    + hostile)
            #expect(echo.status == 2, "\(echo.stderr)")  // no storage seen: inconclusive
            #expect(echo.stdout == hostile.joined(separator: " ") + "\n")
            // A COMMAND named with shell syntax is looked for as a file of that name.
            let named = try f.lanekeeper(
                ["watch", "--policy", try f.policy("shell-named.yaml"), "--output", f.path("shell-named.txt"), "--",
                 "touch \(marker)"])
            #expect(named.status == 127)
            // A report path with shell syntax is a file of that name.
            let odd = f.path("r $(touch \(relativeMarker)); `touch \(relativeMarker)` | a.txt")
            let path = try f.lanekeeper(["watch", "--policy", try f.policy("shell-path.yaml", expectStorage: false), "--duration", "1", "--output", odd])
            #expect(path.status == 2, "\(path.stderr)")
            #expect(exists(odd))
            // An interface name from the policy with shell syntax is only ever a name.
            let policy = f.path("shell-interface.yaml")
            try """
                version: 1
                networks:
                  management:
                    interfaces: ["$(touch \(marker))"]
                    subnets: [198.51.100.0/24]
                  storage:
                    interfaces: ["s;touch \(marker)"]
                    subnets: [203.0.113.0/24]
                """.write(toFile: policy, atomically: true, encoding: .utf8)
            let interface = try f.lanekeeper(["watch", "--policy", policy, "--duration", "1"])
            #expect(interface.status == 65)
            #expect(interface.stderr.contains("$(touch \(marker))") && interface.stderr.contains("does not exist"), "\(interface.stderr)")
            #expect(!exists(marker))
            #expect(!exists(packageRoot.path + "/" + relativeMarker) && !exists(f.path(relativeMarker)))
        }
    }
}

/// A watch that fails after creating its output files and before its end (it cannot hand
/// them to the user it becomes, its COMMAND cannot start) leaves none of them: neither the
/// FILE.partial this run created (one that was there stays) nor the report's staging file.
/// The exit status and message are those of the failure. Each watch runs in namespaces of its
/// own (unshare), capturing on their loopback: no fixture needed, but root.
@Suite(.enabled(if: getuid() == 0, "needs root: user and network namespaces, packet capture"))
struct WatchEarlyFailureTests {
    /// A policy in a fresh directory, and beside it an empty directory for the outputs (mode
    /// 700: only the caller writes there).
    func directories(_ name: String) throws -> (policy: String, out: String) {
        let base = NSTemporaryDirectory() + "lk-early-" + UUID().uuidString
        let out = base + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: out)
        let policy = base + "/" + name + ".yaml"
        try """
            version: 1
            networks:
              management:
                interfaces: [lo]
                subnets: [198.51.100.0/24]
              storage:
                subnets: [203.0.113.0/24]
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        return (policy, out)
    }

    func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func unshare(_ namespaces: [String], _ arguments: [String]) throws -> Run {
        try run(URL(fileURLWithPath: "/usr/bin/unshare"), namespaces + [binary.path] + arguments)
    }

    /// In a user namespace that maps only root, nobody has no uid there: the capture process
    /// cannot become it (setgroups or setresuid fail), after the supervisor created the files
    /// and before any packet was read: the supervisor removes what this run created.
    @Test func aFailedDropLeavesNoPartialEvidenceNorReport() throws {
        let (policy, out) = try directories("handover")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path) }
        let namespaces = ["--user", "--map-root-user", "--net"]
        let watch = ["watch", "--policy", policy, "--duration", "5"]
        let evidence = try unshare(namespaces, watch + ["--evidence", out + "/e.pcapng"])
        #expect(evidence.status == 77)
        #expect(evidence.stderr.contains("cannot drop privileges"), "\(evidence.stderr)")
        #expect(try listing(out) == [])

        let both = try unshare(namespaces, watch + ["--output", out + "/r.json", "--evidence", out + "/e.pcapng"])
        #expect(both.status == 77)
        #expect(both.stderr.contains("cannot drop privileges"), "\(both.stderr)")
        #expect(try listing(out) == [])

        // A FILE.partial that was there (a killed run's, replaced with --force) is not this run's to remove.
        try Data("killed".utf8).write(to: URL(fileURLWithPath: out + "/e.pcapng.partial"))
        let forced = try unshare(namespaces, watch + ["--force", "--evidence", out + "/e.pcapng"])
        #expect(forced.status == 77, "\(forced.stderr)")
        #expect(try listing(out) == ["e.pcapng.partial"])
    }

    /// A COMMAND that cannot start ends the watch (127) just after capturing began: no evidence
    /// file (neither FILE nor FILE.partial) and no report.
    @Test func aCommandThatCannotStartLeavesNoEvidenceNorReport() throws {
        let (policy, out) = try directories("nocommand")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path) }
        let result = try run(
            URL(fileURLWithPath: "/usr/bin/unshare"),
            ["--net", "/bin/sh", "-c", "/usr/sbin/ip link set lo up && exec \"$0\" \"$@\"", binary.path, "watch", "--policy", policy,
             "--output", out + "/r.txt", "--evidence", out + "/e.pcapng", "--", "lk-no-such-command"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("lk-no-such-command: command not found"), "\(result.stderr)")
        #expect(try listing(out) == [])
    }
}
