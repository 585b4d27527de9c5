import TestSupport
import Foundation
import Testing

/// Every command that writes a file refuses to replace one (exit 73) unless given --force,
/// writes it atomically (no temporary file is left), and takes paths literally.
@Suite struct OverwriteTests {
    /// A fresh directory holding `existing` files, each containing its own name.
    func directory(with existing: [String]) throws -> String {
        let directory = temporaryPath("overwrite")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in existing { try Data(name.utf8).write(to: URL(fileURLWithPath: directory + "/" + name)) }
        return directory
    }

    func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func text(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static let leak = [
        "--policy", "captures/leak-address/policy.yaml", "mgmt0=captures/leak-address/mgmt0.pcap",
        "stor0=captures/leak-address/stor0.pcap",
    ]

    @Test func replayRefusesAnExistingReportEvidenceOrPartialEvidence() throws {
        for existing in ["r.json", "e.pcapng", "e.pcapng.partial"] {
            let dir = try directory(with: [existing])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try run(
                binary, ["replay", "--format", "json", "--output", dir + "/r.json", "--evidence", dir + "/e.pcapng"] + Self.leak)
            #expect(result.status == 73, "\(existing): \(result.stderr)")
            #expect(result.stderr.contains(dir + "/" + existing) && result.stderr.contains("--force"), "\(result.stderr)")
            #expect(try listing(dir) == [existing])
            #expect(text(dir + "/" + existing) == existing)
        }
    }

    @Test func replayWithForceReplacesBothAtomically() throws {
        let dir = try directory(with: ["r.json", "e.pcapng", "e.pcapng.partial"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(
            binary,
            ["replay", "--force", "--format", "json", "--output", dir + "/r.json", "--evidence", dir + "/e.pcapng"] + Self.leak)
        #expect(result.status == 1, "\(result.stderr)")
        // FILE.partial became FILE; no temporary file is left.
        #expect(try listing(dir) == ["e.pcapng", "r.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r.json"))) as? [String: Any]
        #expect(json?["verdict"] as? String == "fail")
        let evidence = try #require(FileManager.default.contents(atPath: dir + "/e.pcapng"))
        #expect(evidence.starts(with: [0x0A, 0x0D, 0x0D, 0x0A]))
    }

    @Test func checkAuditAndPolicyInitRefuseAnExistingOutput() throws {
        let dir = try directory(with: ["out"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let fixture = "Tests/AuditTests/Fixtures/bridge-host"
        let commands: [[String]] = [
            ["check", "captures/clean", "--output", out],
            ["audit", "--policy", fixture + "/policy.yaml", "--host-fixture", fixture, "--output", out],
            ["policy", "init", "--host-fixture", fixture, "--output", out],
        ]
        for arguments in commands {
            let refused = try run(binary, arguments)
            #expect(refused.status == 73, "\(arguments[0]): \(refused.stderr)")
            #expect(refused.stderr.contains(out) && refused.stderr.contains("--force"))
            #expect(text(out) == "out")
            let forced = try run(binary, arguments + ["--force"])
            #expect(forced.status != 73 && forced.status != 74, "\(arguments[0]): \(forced.stderr)")
            #expect(text(out) != "out")
            #expect(try listing(dir) == ["out"])
            try Data("out".utf8).write(to: URL(fileURLWithPath: out))
        }
    }

    /// /dev/null and /dev/stdout are not files to replace: written in place, no --force needed.
    @Test func aDeviceIsWrittenInPlace() throws {
        let result = try run(binary, ["replay", "--output", "/dev/null", "--evidence", "/dev/null"] + Self.leak)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        // Still the device (a rename over it would have left a regular file).
        let type = try FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType
        #expect(type == .typeCharacterSpecial)
    }

    /// A report that cannot be written (a full disk: /dev/full) is printed on standard output
    /// instead; the error names the file and ENOSPC; a fail still exits 1, a pass 74.
    @Test func aFullDiskKeepsTheVerdictAndPrintsTheReport() throws {
        let fail = try run(binary, ["replay", "--format", "json", "--output", "/dev/full"] + Self.leak)
        #expect(fail.status == 1, "\(fail.stderr)")
        #expect(fail.stderr.contains("/dev/full") && fail.stderr.contains("ENOSPC") && fail.stderr.contains("verdict: fail"))
        let json = try JSONSerialization.jsonObject(with: Data(fail.stdout.utf8)) as? [String: Any]
        #expect(json?["verdict"] as? String == "fail")
        let pass = try run(
            binary, ["replay", "--policy", "captures/clean/policy.yaml", "--output", "/dev/full", "captures/clean/host.pcapng"])
        #expect(pass.status == 74, "\(pass.stderr)")
        #expect(pass.stdout.hasPrefix("lanekeeper PASS"))
        #expect(pass.stderr.contains("verdict: pass"))
    }

    @Test func aReportInADirectoryThatDoesNotExistExits74NamingIt() throws {
        let result = try run(binary, ["replay", "--output", "/nonexistent/lk/r.txt"] + Self.leak)
        #expect(result.status == 74)
        #expect(result.stderr.contains("/nonexistent/lk/r.txt") && result.stderr.contains("ENOENT"), "\(result.stderr)")
    }

    /// Shell syntax in a report, evidence or capture path is part of the name: nothing runs.
    @Test func shellSyntaxInPathsIsTakenLiterally() throws {
        let dir = try directory(with: [])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = "lk-shell-ran"
        let odd = "$(touch \(marker)); `touch \(marker)` | a & b"
        let capture = dir + "/" + odd + ".pcap"
        try FileManager.default.copyItem(atPath: "captures/leak-address/mgmt0.pcap", toPath: capture)
        let result = try run(
            binary,
            ["replay", "--policy", "captures/leak-address/policy.yaml", "--output", dir + "/" + odd + ".txt",
             "--evidence", dir + "/" + odd + ".pcapng", "mgmt0=" + capture])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try listing(dir) == [odd + ".pcap", odd + ".pcapng", odd + ".txt"])
        #expect(!FileManager.default.fileExists(atPath: packageRoot.path + "/" + marker))
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + marker))
    }
}
