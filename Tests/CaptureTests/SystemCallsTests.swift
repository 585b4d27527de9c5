import Foundation
import SystemCalls
import Testing

/// The funnel every file and socket call goes through.
@Suite struct SystemCallsTests {
    @Test func aFailureIsItsErrnoByName() {
        do {
            _ = try retryingOnInterrupt { open("/nonexistent/lanekeeper", O_RDONLY) }
            Issue.record("opened a file that does not exist")
        } catch {
            #expect(error == Errno(rawValue: ENOENT))
            #expect(error.name == "ENOENT")
            #expect(error.description == "No such file or directory (ENOENT)")
        }
        #expect(throws: SystemCallError("open", Errno(rawValue: ENOENT))) { _ = try systemCall("open") { open("/nonexistent/x", O_RDONLY) } }
    }

    @Test func writeAllAndReadFullyMoveEveryByte() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let bytes = (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }
        // More than a pipe holds at once (64 KiB on Linux is not reached; 40 KB in one write).
        let (written, failure) = bytes.withUnsafeBytes { writeAll(ends[1], $0) }
        #expect(written == bytes.count && failure == nil)
        close(ends[1])
        var read = [UInt8](repeating: 0, count: 50_000)
        let (count, readFailure) = read.withUnsafeMutableBytes { readFully(ends[0], $0) }
        #expect(count == bytes.count && readFailure == nil)
        #expect(Array(read[..<count]) == bytes)
    }

    @Test func writingToAClosedPipeIsEPIPEWhenSIGPIPEIsIgnored() throws {
        signal(SIGPIPE, SIG_IGN)
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        let (written, failure) = [UInt8(1)].withUnsafeBytes { writeAll(ends[1], $0) }
        #expect(written == 0)
        #expect(failure == Errno(rawValue: EPIPE))
    }
}
