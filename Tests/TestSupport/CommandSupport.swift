import Foundation

/// What the command-line test suites share: where the package and the built binary are, and
/// how to run a program.

/// The package root (this file is Tests/TestSupport/TestSupport.swift).
public let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
}()

/// The built `lanekeeper` binary, beside the test bundle.
public let binary: URL = {
    var directory = Bundle.main.bundleURL
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        directory = bundle.bundleURL.deletingLastPathComponent()
    }
    return directory.appendingPathComponent("lanekeeper")
}()

public struct Run: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program (never through a shell) in the package root and collects its output.
public func run(_ executable: URL, _ arguments: [String]) throws -> Run {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = packageRoot
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
               stderr: String(decoding: stderr, as: UTF8.self))
}

/// A fresh path under the system's temporary directory for a file a test creates (nothing is
/// created; the name ends with `name`).
public func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "lk-test-" + UUID().uuidString + "-" + name
}

/// A directory of its own under the system's temporary directory (mode 700, as `mktemp -d`
/// makes it), removed with everything in it when the value goes. The one temporary-directory
/// helper of every test suite.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ name: String = "lanekeeper-test") throws {
        var template = Array((NSTemporaryDirectory() + "/\(name).XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: made)
    }

    public var url: URL { URL(fileURLWithPath: path, isDirectory: true) }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// A path inside the directory.
    public func path(_ name: String) -> String { file(name) }

    /// Writes `bytes` to a new file inside the directory and returns its path.
    @discardableResult
    public func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Writes `text` to a new file inside the directory and returns its path.
    @discardableResult
    public func file(_ name: String, text: String) throws -> String {
        try file(name, Array(text.utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
