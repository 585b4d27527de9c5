import Foundation
import TestSupport
import Testing

/// `watch -- COMMAND` as a test runner uses it: the exit status table, the line on standard
/// error, readiness, and what happens when the capture process dies.
extension WatchSuites {
    @Suite struct WatchExitStatusTests {
        /// One watch in a mode-700 directory: COMMAND reaches NFS on `server` (the storage
        /// address: clean; the management address: a leak) and exits `status`.
        func watch(_ f: WatchFixture, server: String, status: Int, output: Bool = true) throws -> (Run, TemporaryDirectory) {
            let out = try TemporaryDirectory("lk-exit")
            var arguments = ["watch", "--policy", try f.policy("exit.yaml"), "--format", "json"]
            if output { arguments += ["--output", out.file("r.json")] }
            arguments += ["--", "sh", "-c", "nfs-ls 'nfs://\(server)/export?version=3' > /dev/null; exit \(status)"]
            return (try f.lanekeeper(arguments), out)
        }

        @Test func theExitStatusCombinesTheVerdictAndCommandsStatus() throws {
            let f = try fixture()
            let clean = "203.0.113.20"
            let leak = "198.51.100.20"
            // (server, COMMAND's status, lanekeeper's status, verdict)
            let table: [(String, Int, Int32, String)] = [
                (clean, 0, 0, "pass"), (clean, 1, 3, "pass"), (clean, 2, 3, "pass"), (clean, 3, 3, "pass"), (clean, 42, 42, "pass"),
                (leak, 0, 1, "fail"), (leak, 3, 1, "fail"),
            ]
            for (server, status, expected, verdict) in table {
                let (result, out) = try watch(f, server: server, status: status)
                #expect(result.status == expected, "\(server) exit \(status): \(result.stderr)")
                let json = try Report(path: out.file("r.json"))
                #expect(json.verdict == verdict)
                #expect(json.command?["exit_status"] as? Int == status)
                // One line with both, on standard error, even though the report went to a file.
                let line = "lanekeeper: verdict \(verdict); COMMAND exited \(status); exit status \(expected)\n"
                #expect(result.stderr.hasSuffix(line), "\(result.stderr)")
                // Written by the caller (root), in a directory nobody else may write in.
                let owner = try FileManager.default.attributesOfItem(atPath: out.file("r.json"))[.ownerAccountID] as? Int
                #expect(owner == Int(getuid()))
            }
            // Text to standard output: the same status and line.
            let (text, _) = try watch(f, server: clean, status: 3, output: false)
            #expect(text.status == 3)
            #expect(text.stdout.contains("\"verdict\": \"pass\""))
            #expect(text.stderr.hasSuffix("lanekeeper: verdict pass; COMMAND exited 3; exit status 3\n"), "\(text.stderr)")
        }

        /// A COMMAND killed by a signal, with a pass verdict: 128 + the signal.
        @Test func aCommandKilledByASignalExits128PlusIt() throws {
            let f = try fixture()
            let out = try TemporaryDirectory("lk-exit")
            let result = try f.lanekeeper([
                "watch", "--policy", try f.policy("exit-signal.yaml"), "--format", "json", "--output", out.file("r.json"), "--",
                "sh", "-c", "nfs-ls 'nfs://203.0.113.20/export?version=3' > /dev/null; kill -TERM $$",
            ])
            #expect(result.status == 128 + SIGTERM, "\(result.stderr)")
            #expect(try Report(path: out.file("r.json")).command?["signal"] as? Int == Int(SIGTERM))
            #expect(result.stderr.contains("COMMAND was killed by signal 15"), "\(result.stderr)")
        }

        /// The ready file appears once every capture is open, names the interfaces, and is gone
        /// when the watch ends; the line on standard error says the same. The policy may be
        /// one only the caller can read.
        @Test func theReadyFileAndLineSayWhenCapturingHasBegun() throws {
            let f = try fixture()
            let out = try TemporaryDirectory("lk-ready")
            let ready = out.file("ready")
            try "stale\n".write(toFile: ready, atomically: true, encoding: .utf8)
            // A policy only root may read, in a directory only root may enter: the capture
            // process reads its bytes as the caller, before it becomes nobody to parse them.
            let policy = out.file("ready.yaml")
            try FileManager.default.copyItem(atPath: try f.policy("ready.yaml", expectStorage: false), toPath: policy)
            chmod(policy, 0o600)
            let result = try f.lanekeeper([
                "watch", "--policy", policy, "--ready-file", ready, "--output",
                out.file("r.txt"), "--", "sh", "-c", "cat \(ready)",
            ])
            #expect(result.stdout.hasPrefix("capturing on mgmt0, stor0 (capture process "), "\(result.stdout)")
            #expect(result.stderr.contains("lanekeeper: capturing on mgmt0, stor0"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: ready))
        }
    }

    @Suite struct CaptureProcessLossTests {
        /// SIGKILL of the capture process mid-capture: never a pass. The supervisor ends
        /// COMMAND, writes a report saying what happened (inconclusive), keeps the evidence
        /// written so far as FILE.partial (readable to its last packet) and exits 2.
        @Test func aKilledCaptureProcessIsInconclusiveAndItsEvidenceStays() throws {
            let f = try fixture()
            let policy = try f.leakPolicy("lost.yaml")
            let stop = try f.leakTraffic()
            defer { stop() }
            let out = try TemporaryDirectory("lk-lost")
            let report = out.file("lost.json")
            let evidence = out.file("lost.pcapng")
            let watch = try f.startLanekeeper([
                "watch", "--policy", policy, "--format", "json", "--output", report, "--evidence", evidence, "--", "sleep", "60",
            ])
            let deadline = Date().addingTimeInterval(20)
            func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: evidence + ".partial")[.size] as? Int) ?? 0 }
            while size() < 20_000 && Date() < deadline { usleep(50_000) }
            let capture = try #require(capturePID(of: watch.processIdentifier))
            kill(capture, SIGKILL)
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 2)
            let json = try Report(path: report)
            #expect(json.verdict == "inconclusive")
            #expect(json.reasons.contains { $0.contains("capture process") && $0.contains("signal 9") }, "\(json.reasons)")
            #expect(json.reasons.contains { $0.contains(evidence + ".partial") }, "\(json.reasons)")
            let note = json.command?["note"] as? String ?? ""
            #expect(json.command?["signal"] as? Int == Int(SIGTERM) && note.contains("capture process"), "\(String(describing: json.command))")
            #expect(!exists(evidence) && exists(evidence + ".partial"))
            #expect(try expectReadableEvidence(evidence + ".partial", policy: policy) > 10)
        }
    }
}
