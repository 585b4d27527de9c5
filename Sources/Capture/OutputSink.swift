#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// A failure to write a file lanekeeper writes (a report, an evidence file, a metrics or
/// window file): which file, what was being done, and why.
public struct OutputWriteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    /// What failed, e.g. "create", "write", "close", "add interface".
    public var operation: String
    /// Why, e.g. "No space left on device".
    public var detail: String
    /// The C `errno`, when a system call failed.
    public var errno: Int32?

    public init(path: String, operation: String, detail: String, errno: Int32? = nil) {
        self.path = path
        self.operation = operation
        self.detail = detail
        self.errno = errno
    }

    public var description: String { "\(path): cannot \(operation): \(detail)" }
}

/// A file being written: its bytes go somewhere until `commit()` puts it in place under its
/// name, or `abandon(keep:)` gives it up. `OutputFile` is the one this process writes itself;
/// a watch's capture process writes through its supervisor (see the Supervision module), which
/// owns the file.
public protocol OutputSink: AnyObject {
    /// The file's final name.
    var path: String { get }
    /// Bytes that reached the file so far (also those of a write that then failed part way).
    var length: Int { get }
    /// True when the bytes go straight into `path` (a device or FIFO): nothing is renamed.
    var isInPlace: Bool { get }
    /// Writes every byte, or throws naming the file and the reason.
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputWriteError)
    /// Cuts the file back to `length` bytes (after a failed write, to its last whole block).
    func truncate(to length: Int)
    /// fsyncs the file and gives it its name (see `OutputFile.commit()`).
    func commit() throws(OutputWriteError)
    /// Gives the file up: a `FILE.partial` is kept when `keep`, anything else goes.
    func abandon(keep: Bool)
}

extension OutputSink {
    /// Gives the file up, keeping nothing.
    public func abandon() { abandon(keep: false) }

    public func write(_ bytes: [UInt8]) throws(OutputWriteError) {
        var failure: OutputWriteError?
        bytes.withUnsafeBytes { buffer in
            do throws(OutputWriteError) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

extension OutputFile: OutputSink {}

/// Who creates and removes the files a command writes: this process (`LocalFiles`), or, for
/// a watch's unprivileged capture process, the supervisor that started it (which writes them
/// as the user who ran lanekeeper, and only the files that user asked for).
public protocol OutputFiles: Sendable {
    /// Creates the staging file for `path` (see `OutputFile.init(path:replace:staging:)`).
    func create(path: String, replace: Bool, staging: OutputFile.Staging) throws(OutputWriteError) -> any OutputSink
    /// Removes the file `path` (a window's evidence file that ended empty).
    func remove(path: String) throws(OutputWriteError)
    /// Deletes the oldest files named PREFIX...SUFFIX in `directory` (by name, which starts
    /// with the time) beyond the newest `keep`; returns the paths deleted.
    func prune(directory: String, prefix: String, suffix: String, keep: Int) -> [String]
}

/// Files this process creates and removes itself.
public struct LocalFiles: OutputFiles {
    public init() {}

    public func create(path: String, replace: Bool, staging: OutputFile.Staging) throws(OutputWriteError) -> any OutputSink {
        try OutputFile(path: path, replace: replace, staging: staging)
    }

    public func remove(path: String) throws(OutputWriteError) {
        guard unlink(path) == 0 else {
            let code = errno
            throw OutputWriteError(path: path, operation: "remove", detail: Errno(rawValue: code).description, errno: code)
        }
    }

    public func prune(directory: String, prefix: String, suffix: String, keep: Int) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var matching: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(prefix) && name.hasSuffix(suffix) { matching.append(name) }
        }
        matching.sort()
        guard matching.count > keep else { return [] }
        var deleted: [String] = []
        for name in matching.prefix(matching.count - keep) {
            let path = directory + "/" + name
            if unlink(path) == 0 { deleted.append(path) }
        }
        return deleted
    }
}
