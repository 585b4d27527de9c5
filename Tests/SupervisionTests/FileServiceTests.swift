import Capture
import Foundation
import TestSupport
import Testing

@testable import Supervision

@Suite struct FileServiceTests {
    func service(_ directory: String, force: Bool = false) -> FileService {
        FileService(
            files: [
                directory + "/r.json": FileService.Rule(staging: .hidden, replace: force),
                directory + "/e.pcapng": FileService.Rule(staging: .partial, replace: force),
            ],
            windows: [
                FileService.WindowFiles(
                    directory: directory + "/w", prefix: "lanekeeper-evidence-", suffix: ".pcapng",
                    rule: FileService.Rule(staging: .partial, replace: false))
            ])
    }

    func handle(_ reply: Reply?) throws -> UInt32 {
        guard case .handle(let handle, _)? = reply else {
            Issue.record("expected a handle, got \(String(describing: reply))")
            throw CancellationError()
        }
        return handle
    }

    @Test func writesAndPlacesOnlyTheFilesTheUserNamed() throws {
        let directory = try TemporaryDirectory()
        let files = service(directory.path)
        let report = try handle(files.answer(.create(path: directory.path + "/r.json", replace: false, staging: .hidden)))
        #expect(files.answer(.write(handle: report, bytes: Array("{}\n".utf8))) == .ok)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/r.json"))  // staged until committed
        #expect(files.answer(.commit(handle: report)) == .ok)
        #expect(try String(contentsOfFile: directory.path + "/r.json", encoding: .utf8) == "{}\n")
        // A handle is gone once committed.
        guard case .failure(_, _, _, let code, _)? = files.answer(.write(handle: report, bytes: [1])) else {
            Issue.record("a committed handle was written")
            return
        }
        #expect(code == EBADF)
    }

    @Test func refusesEveryOtherPath() throws {
        let directory = try TemporaryDirectory()
        let files = service(directory.path)
        try FileManager.default.createDirectory(atPath: directory.path + "/w", withIntermediateDirectories: true)
        let refused = [
            "/etc/passwd", directory.path + "/r.json.x", directory.path + "/other.json", directory.path + "/w/../r.json",
            directory.path + "/w/lanekeeper-evidence-../../x.pcapng", directory.path + "/w/lanekeeper-evidence-.pcapng",
            directory.path + "/w/sub/lanekeeper-evidence-1.pcapng", directory.path + "/w/lanekeeper-evidence-a b.pcapng",
            directory.path + "/w/lanekeeper-report-1.json",
        ]
        for path in refused {
            guard case .failure(_, _, let detail, let code, _)? = files.answer(.create(path: path, replace: true, staging: .partial))
            else {
                Issue.record("\(path) was created")
                continue
            }
            #expect(code == EPERM)
            #expect(detail.contains("refused by the supervisor"))
            if case .failure? = files.answer(.remove(path: path)) {} else { Issue.record("\(path) could be removed") }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/w").isEmpty)
        // The evidence file staged as it must be (FILE.partial), not as the request says.
        guard case .failure? = files.answer(.create(path: directory.path + "/e.pcapng", replace: false, staging: .hidden)) else {
            Issue.record("evidence staged as a hidden file")
            return
        }
        // Pruning only the user's directories.
        #expect(files.answer(.prune(directory: "/etc", prefix: "", suffix: "", keep: 0)) == .pruned([]))
    }

    @Test func aWindowFileIsCreatedKeptAndRemoved() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/w", withIntermediateDirectories: true)
        let files = service(directory.path)
        let path = directory.path + "/w/lanekeeper-evidence-20261203T101500.123456789Z-w000003.pcapng"
        let window = try handle(files.answer(.create(path: path, replace: false, staging: .partial)))
        #expect(FileManager.default.fileExists(atPath: path + ".partial"))
        #expect(files.answer(.commit(handle: window)) == .ok)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(files.answer(.remove(path: path)) == .ok)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func anExistingFileIsReplacedOnlyWhenTheUserSaidForce() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/r.json"
        try "old".write(toFile: path, atomically: true, encoding: .utf8)
        // The request asks to replace; the user did not give --force.
        guard case .failure(_, _, _, let code, _)? = service(directory.path).answer(.create(path: path, replace: true, staging: .hidden))
        else {
            Issue.record("replaced without --force")
            return
        }
        #expect(code == EEXIST)
        let forced = service(directory.path, force: true)
        let report = try handle(forced.answer(.create(path: path, replace: true, staging: .hidden)))
        #expect(forced.answer(.write(handle: report, bytes: Array("new".utf8))) == .ok)
        #expect(forced.answer(.commit(handle: report)) == .ok)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
    }

    @Test func whenTheCaptureProcessIsLostPartialEvidenceStaysAndTheReportGoes() throws {
        let directory = try TemporaryDirectory()
        let files = service(directory.path)
        let report = try handle(files.answer(.create(path: directory.path + "/r.json", replace: false, staging: .hidden)))
        let evidence = try handle(files.answer(.create(path: directory.path + "/e.pcapng", replace: false, staging: .partial)))
        #expect(files.answer(.write(handle: evidence, bytes: [1, 2, 3])) == .ok)
        #expect(files.answer(.write(handle: report, bytes: [1, 2, 3])) == .ok)
        #expect(files.abandonAll(keepPartial: true) == [directory.path + "/e.pcapng.partial"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["e.pcapng.partial"])
        #expect(files.openCount == 0)
    }
}

@Suite struct CaptureProcessTests {
    /// A capture process that dies in the middle of a message: the supervisor's channel says
    /// the stream was truncated (never a message, never a hang), and the process's end is seen.
    @Test func aChildKilledMidMessageIsATruncatedStream() throws {
        let child = try CaptureProcess.start(
            executable: "/bin/sh",
            arguments: ["sh", "-c", #"printf '\001\000\000\000\020abc' >&3; kill -9 $$"#])
        do throws(Channel.Failure) {
            while try child.requests.receive() != nil {}
            Issue.record("the stream ended cleanly")
        } catch {
            guard case .message(let error) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(error.code == .truncated)
        }
        let status = child.wait()
        #expect(WaitStatus.signal(status) == SIGKILL)
    }

    @Test func theChildFindsItsChannelsOnDescriptors3And4AndNothingElse() throws {
        // The child answers a request on 3 with what it read on 4: both descriptors work,
        // standard input is /dev/null.
        let child = try CaptureProcess.start(
            executable: "/bin/sh",
            arguments: ["sh", "-c", #"head -c 5 <&4 >&3; cat >&3; exit 7"#])
        try child.control.send(Control.reload.encoded())
        let message = try #require(try child.requests.receive())
        #expect(try Control.decode(kind: message.kind, payload: message.payload) == .reload)
        #expect(try child.requests.receive() == nil)  // stdin was empty
        #expect(WaitStatus.exitStatus(child.wait()) == 7)
    }

    @Test func aChildThatCannotBeStartedSaysWhy() {
        #expect(throws: CaptureProcess.StartError.self) {
            _ = try CaptureProcess.start(executable: "/nonexistent/lanekeeper", arguments: ["x"])
        }
    }
}
