@testable import Capture
import Foundation
import Frames
import TestSupport
import Testing
import SystemCalls

/// `OutputFile` (no replacing without being asked, staging then rename) and what
/// `PcapngWriter` puts on disk through it (whole blocks only, the Section Header Block at once).
@Suite struct OutputFileTests {
    func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }

    func listing(_ temp: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: temp.path("")).sorted()
    }

    @Test func anExistingFileIsRefusedUntouchedUnlessReplacing() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("report.json")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: OutputWriteError.self) { try OutputFile(path: path, replace: false, staging: .hidden) }
        #expect(error?.errno == EEXIST)
        #expect(error?.description == "\(path): cannot create: it already exists; lanekeeper does not replace a file unless given --force")
        #expect(contents(path) == Array("old".utf8))
        #expect(try listing(temp) == ["report.json"])

        let file = try OutputFile(path: path, replace: true, staging: .hidden)
        try file.write(Array("new".utf8))
        #expect(contents(path) == Array("old".utf8))  // nothing replaced before the commit
        try file.commit()
        #expect(contents(path) == Array("new".utf8))
        #expect(try listing(temp) == ["report.json"])
    }

    @Test func aPartialFileIsVisibleUntilCommittedAndAStaleOneIsRefused() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("e.pcapng")
        let file = try OutputFile(path: path, replace: false, staging: .partial)
        #expect(file.stagingPath == path + ".partial")
        try file.write(Array("abc".utf8))
        #expect(try listing(temp) == ["e.pcapng.partial"])
        #expect(contents(path + ".partial") == Array("abc".utf8))
        try file.commit()
        #expect(try listing(temp) == ["e.pcapng"])

        // A FILE.partial left by a killed run is refused, and kept.
        try Data("killed".utf8).write(to: URL(fileURLWithPath: temp.path("k.pcapng.partial")))
        let error = #expect(throws: OutputWriteError.self) {
            try OutputFile(path: temp.path("k.pcapng"), replace: false, staging: .partial)
        }
        #expect(error?.errno == EEXIST && error?.path == temp.path("k.pcapng.partial"))
        #expect(contents(temp.path("k.pcapng.partial")) == Array("killed".utf8))
    }

    @Test func abandoningRemovesAHiddenFileAndKeepsAPartialOne() throws {
        let temp = try TemporaryDirectory()
        let hidden = try OutputFile(path: temp.path("r.txt"), replace: false, staging: .hidden, allowingUnnamed: false)
        #expect(hidden.stagingPath.hasPrefix(temp.path(".r.txt.")) && !hidden.isUnnamed)
        #expect(try listing(temp) == [URL(fileURLWithPath: hidden.stagingPath).lastPathComponent])
        hidden.abandon()
        let unnamed = try OutputFile(path: temp.path("u.txt"), replace: false, staging: .hidden)
        try unnamed.write(Array("x".utf8))
        unnamed.abandon()
        let partial = try OutputFile(path: temp.path("e.pcapng"), replace: false, staging: .partial)
        try partial.write(Array("x".utf8))
        partial.abandon(keep: true)
        #expect(try listing(temp) == ["e.pcapng.partial"])
    }

    /// A report is written to a file with no name (O_TMPFILE) that only the commit names, so
    /// that a process killed before leaves nothing in the directory; without replacing (a file
    /// that appears meanwhile is refused) and, with `replace`, over the old file. The file gets
    /// the mode a named staging file gets.
    @Test func aReportHasNoNameUntilCommitted() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("r.json")
        let file = try OutputFile(path: path, replace: false, staging: .hidden)
        #expect(file.isUnnamed && file.stagingPath == path)
        try file.write(Array("first".utf8))
        #expect(try listing(temp) == [])
        try file.commit()
        #expect(try listing(temp) == ["r.json"])
        #expect(contents(path) == Array("first".utf8))

        let again = try OutputFile(path: path, replace: true, staging: .hidden)
        #expect(again.isUnnamed)
        try again.write(Array("second".utf8))
        #expect(try listing(temp) == ["r.json"] && contents(path) == Array("first".utf8))
        try again.commit()
        #expect(try listing(temp) == ["r.json"] && contents(path) == Array("second".utf8))

        let named = try OutputFile(path: temp.path("n.json"), replace: false, staging: .hidden, allowingUnnamed: false)
        try named.commit()
        let modes = try [path, temp.path("n.json")].map {
            try FileManager.default.attributesOfItem(atPath: $0)[.posixPermissions] as? Int
        }
        #expect(modes[0] != nil && modes[0] == modes[1])
        #expect(try listing(temp) == ["n.json", "r.json"])
    }

    /// A FILE.partial that was there (replaced as asked) is truncated and written, but never
    /// removed when given up; one this run created is.
    @Test func onlyAPartialFileThisRunCreatedIsRemovedWhenGivenUp() throws {
        let temp = try TemporaryDirectory()
        try Data("killed".utf8).write(to: URL(fileURLWithPath: temp.path("k.pcapng.partial")))
        let replacing = try OutputFile(path: temp.path("k.pcapng"), replace: true, staging: .partial)
        try replacing.write(Array("new".utf8))
        replacing.abandon(keep: false)
        #expect(contents(temp.path("k.pcapng.partial")) == Array("new".utf8))
        let fresh = try OutputFile(path: temp.path("f.pcapng"), replace: true, staging: .partial)
        try fresh.write(Array("new".utf8))
        fresh.abandon(keep: false)
        #expect(try listing(temp) == ["k.pcapng.partial"])
    }

    /// A file that appears while the output is written is not replaced either: the commit
    /// (linkat of the unnamed file, or link then unlink of a named one where there is no
    /// O_TMPFILE) fails and the staging file goes; with `replace` it is replaced, and nothing
    /// is left beside it.
    @Test(arguments: [true, false]) func aFileThatAppearsMeanwhileIsNotReplaced(unnamed: Bool) throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("r.txt")
        let file = try OutputFile(path: path, replace: false, staging: .hidden, allowingUnnamed: unnamed)
        #expect(file.isUnnamed == unnamed)
        try file.write(Array("mine".utf8))
        try Data("theirs".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: OutputWriteError.self) { try file.commit() }
        #expect(error?.errno == EEXIST)
        #expect(contents(path) == Array("theirs".utf8))
        #expect(try listing(temp) == ["r.txt"])
        let forced = try OutputFile(path: path, replace: true, staging: .hidden, allowingUnnamed: unnamed)
        try forced.write(Array("mine".utf8))
        try forced.commit()
        #expect(contents(path) == Array("mine".utf8))
        #expect(try listing(temp) == ["r.txt"])
    }

    @Test func aDeviceIsWrittenInPlace() throws {
        let file = try OutputFile(path: "/dev/null", replace: false, staging: .hidden)
        #expect(file.isInPlace && file.stagingPath == "/dev/null")
        try file.write(Array("x".utf8))
        try file.commit()
    }

    @Test func aMissingDirectoryOrADirectoryNamesTheFile() throws {
        let temp = try TemporaryDirectory()
        let missing = #expect(throws: OutputWriteError.self) {
            try OutputFile(path: temp.path("no/r.txt"), replace: false, staging: .hidden)
        }
        #expect(missing?.path == temp.path("no/r.txt") && missing?.errno == ENOENT)
        let directory = #expect(throws: OutputWriteError.self) {
            try OutputFile(path: temp.path(""), replace: true, staging: .hidden)
        }
        #expect(directory?.errno == EISDIR)
    }

    @Test func errnoDescriptionsNameTheConstant() {
        #expect(Errno(rawValue: ENOSPC).description == "No space left on device (ENOSPC)")
        #expect(Errno(rawValue: EDQUOT).description.hasSuffix("(EDQUOT)"))
        #expect(Errno(rawValue: EEXIST).description == "File exists (EEXIST)")
    }
}

@Suite struct PcapngWriterBlockTests {
    /// The Section Header Block, little-endian (this host), reaches the file at once.
    static let sectionHeader: [UInt8] = [
        0x0A, 0x0D, 0x0D, 0x0A, 48, 0, 0, 0,  // type, total length 48
        0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0,  // byte-order magic, version 1.0
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // section length: unknown
        4, 0, 10, 0, 0x6C, 0x61, 0x6E, 0x65, 0x6B, 0x65, 0x65, 0x70, 0x65, 0x72, 0, 0,  // shb_userappl "lanekeeper"
        0, 0, 0, 0, 48, 0, 0, 0,  // opt_endofopt, total length
    ]

    /// Only close() puts a file in place: a writer dropped without it leaves FILE.partial (an
    /// evidence file, with what it holds) or nothing (a hidden staging file).
    @Test func aWriterDroppedWithoutClosingPutsNothingInPlace() throws {
        let temp = try TemporaryDirectory()
        do {
            let evidence = try PcapngWriter(file: OutputFile(path: temp.path("e.pcapng"), replace: false, staging: .partial))
            _ = try evidence.interfaceID(name: "eth0", linkType: .ethernet)
            _ = try PcapngWriter(path: temp.path("other.pcapng"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path("")) == ["e.pcapng.partial"])
        #expect(try readCapture(temp.path("e.pcapng.partial")).interfaces.map(\.name) == ["eth0"])
    }

    @Test func theSectionHeaderIsOnDiskBeforeAnyPacket() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("e.pcapng")
        let writer = try PcapngWriter(file: OutputFile(path: path, replace: false, staging: .partial))
        #expect(FileManager.default.contents(atPath: path + ".partial").map(Array.init) == Self.sectionHeader)
        try writer.close()
        #expect(FileManager.default.contents(atPath: path).map(Array.init) == Self.sectionHeader)
    }

    /// Every flush leaves whole blocks: the file read so far ends on a block boundary and
    /// reads to its end (what a SIGKILLed watch leaves).
    @Test func aFlushedFileEndsOnAWholeBlock() throws {
        let temp = try TemporaryDirectory()
        let path = temp.path("e.pcapng")
        let writer = try PcapngWriter(file: OutputFile(path: path, replace: false, staging: .partial))
        let id = try writer.interfaceID(name: "mgmt0", linkType: .ethernet)
        let frame = [UInt8](repeating: 0xAB, count: 1000)
        // More than the 1 MiB buffer, so that it also flushes by itself.
        for index in 0..<1500 {
            try frame.withUnsafeBytes {
                try writer.write(frameBytes: $0, wireLength: 1000, timestamp: Timestamp(nanoseconds: Int64(index)), interface: id)
            }
            if index % 500 == 499 { try writer.flush() }
            let onDisk = try #require(FileManager.default.contents(atPath: path + ".partial"))
            let whole = onDisk.withUnsafeBytes { PcapngWriter.wholeBlocks(in: $0, upTo: $0.count) }
            #expect(whole == onDisk.count)
        }
        try writer.close()
        #expect(try readCapture(path).frames.count == 1500)
    }

    @Test func wholeBlocksStopsAtATornOrImpossibleBlock() {
        // Blocks of 12 and 16 bytes (type, length, ..., length), then a block claiming 8 bytes.
        var bytes: [UInt8] = []
        for length in [12, 16] {
            bytes += [1, 0, 0, 0, UInt8(length), 0, 0, 0] + [UInt8](repeating: 0, count: length - 12) + [UInt8(length), 0, 0, 0]
        }
        bytes += [1, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0]
        bytes.withUnsafeBytes { buffer in
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: 0) == 0)
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: 11) == 0)
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: 12) == 12)
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: 27) == 12)
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: 28) == 28)
            #expect(PcapngWriter.wholeBlocks(in: buffer, upTo: buffer.count) == 28)
        }
    }
}
