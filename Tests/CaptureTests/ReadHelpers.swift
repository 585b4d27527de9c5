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

    let inPlace = drainInPlace(try CaptureFile.open(path: path), batch: 2).result
    #expect(inPlace.frames == frames, "read in place", sourceLocation: sourceLocation)
    #expect(inPlace.outcome == outcome, "read in place", sourceLocation: sourceLocation)
    #expect(inPlace.interfaces == result.interfaces, "read in place", sourceLocation: sourceLocation)
    return result
}

/// Reads every frame through `read(into:)`, `batch` records at a time, checking each call's
/// records only once the call has returned, as replay's one-thread read uses them: a reader
/// that moved the bytes of a record it had handed out in the same call would show here as
/// frames with the wrong bytes. `calls` counts the calls that returned frames.
func drainInPlace(_ source: some FrameSource, batch: Int) -> (result: ReadResult, calls: Int) {
    var source = source
    let records = UnsafeMutableBufferPointer<FrameRecord>.allocate(capacity: batch)
    defer { records.deallocate() }
    var frames: [SeenFrame] = []
    var calls = 0
    while true {
        let count = source.read(into: records)
        if count == 0 { break }
        #expect(count <= batch)
        calls += 1
        frames += records[0..<count].map { SeenFrame($0.frame) }
    }
    #expect(source.read(into: records) == 0)  // and stays ended
    return (ReadResult(frames: frames, outcome: source.endOfRecords(), interfaces: source.interfaces), calls)
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
