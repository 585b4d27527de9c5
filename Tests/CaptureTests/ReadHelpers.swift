import Capture
import Foundation
import Frames
import Testing

/// A frame copied out of the callback, for comparisons.
struct SeenFrame: Equatable, CustomStringConvertible {
    var interface: Int?
    var nanoseconds: Int64
    var linkType: LinkType
    var wireLength: Int
    var bytes: [UInt8]
    var fileOffset: Int64

    init(_ frame: Frame) {
        interface = frame.interface
        nanoseconds = frame.timestamp.nanoseconds
        linkType = frame.linkType
        wireLength = frame.wireLength
        bytes = Array(frame.bytes)
        fileOffset = frame.fileOffset
    }

    var description: String {
        "frame(if \(interface.map(String.init) ?? "nil"), t \(nanoseconds), \(linkType), wire \(wireLength), "
            + "\(bytes.count) bytes, @\(fileOffset))"
    }
}

struct ReadResult {
    var frames: [SeenFrame]
    var outcome: ReadOutcome
    var interfaces: [CaptureInterface]
}

/// Opens `path` with `CaptureFile.open` and reads it to the end, frame by frame. Reads it
/// again in place, two records at a time (`read(into:)`, as replay does), and expects the
/// same frames, interfaces and ending: every test that reads a file through here holds
/// both ways of reading to the same result.
func readCapture(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws(CaptureError) -> ReadResult {
    var source = try CaptureFile.open(path: path)
    var frames: [SeenFrame] = []
    let outcome = source.read { frames.append(SeenFrame($0)) }
    let result = ReadResult(frames: frames, outcome: outcome, interfaces: source.interfaces)

    var inPlace = try CaptureFile.open(path: path)
    let records = UnsafeMutableBufferPointer<FrameRecord>.allocate(capacity: 2)
    defer { records.deallocate() }
    var again: [SeenFrame] = []
    while true {
        let count = inPlace.read(into: records)
        if count == 0 { break }
        again += records[0..<count].map { SeenFrame($0.frame) }
    }
    #expect(again == frames, "read in place", sourceLocation: sourceLocation)
    #expect(inPlace.endOfRecords() == outcome, "read in place", sourceLocation: sourceLocation)
    #expect(inPlace.interfaces == result.interfaces, "read in place", sourceLocation: sourceLocation)
    return result
}

/// The `CaptureError` that opening `path` throws, or nil if it opens.
func openError(_ path: String) -> CaptureError? {
    do {
        _ = try CaptureFile.open(path: path)
        return nil
    } catch {
        return error
    }
}

/// Runs a tool from PATH; nil when it is not installed.
/// Whether `name` is a program on PATH (for `.enabled(if:)`: a test that needs it is
/// reported as skipped without it).
func toolAvailable(_ name: String) -> Bool {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
}

func runTool(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String)? {
    guard
        let directory = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .map(String.init)
            .first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") })
    else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "\(directory)/\(name)")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
