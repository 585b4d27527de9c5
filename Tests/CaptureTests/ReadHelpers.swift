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

/// Opens `path` with `CaptureFile.open` and reads it to the end.
func readCapture(_ path: String) throws(CaptureError) -> ReadResult {
    var source = try CaptureFile.open(path: path)
    var frames: [SeenFrame] = []
    let outcome = source.read { frames.append(SeenFrame($0)) }
    return ReadResult(frames: frames, outcome: outcome, interfaces: source.interfaces)
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
