#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one funnel for the C library's file and socket calls, in swift-system's manner: a
/// call that fails with EINTR is made again, and a failure comes back as a typed `Errno`
/// that knows its name. Every module that reads or writes files, pipes or sockets goes
/// through here (libpcap has its own funnel, `Pcap`).

/// A C `errno` value.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The calling thread's `errno` now.
    public static var current: Errno { Errno(rawValue: errno) }

    /// The symbolic name (`ENOSPC`), when it is one a user meets.
    public var name: String? { Self.names[rawValue] }

    /// `strerror`'s text, e.g. "No space left on device".
    public var text: String {
        strerror(rawValue).map { String(cString: $0) } ?? "errno \(rawValue)"
    }

    /// `strerror`'s text and the name, e.g. "No space left on device (ENOSPC)".
    public var description: String {
        name.map { "\(text) (\($0))" } ?? text
    }

    private static let names: [Int32: String] = [
        ENOSPC: "ENOSPC", EDQUOT: "EDQUOT", EIO: "EIO", EACCES: "EACCES", EPERM: "EPERM", EROFS: "EROFS",
        EEXIST: "EEXIST", ENOENT: "ENOENT", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EFBIG: "EFBIG", ELOOP: "ELOOP",
        EXDEV: "EXDEV", EBADF: "EBADF", ENAMETOOLONG: "ENAMETOOLONG", EPIPE: "EPIPE", ECONNRESET: "ECONNRESET",
        EINVAL: "EINVAL", EMFILE: "EMFILE", ENFILE: "ENFILE", EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL",
    ]
}

/// A system call that failed: which, and why.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var errno: Errno

    public init(_ call: String, _ errno: Errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: \(errno)" }
}

/// Makes `body` (a call returning -1 and setting `errno` on failure) until it does not fail
/// with EINTR. Returns its result, or throws its `errno`.
@inlinable
public func retryingOnInterrupt<Result: BinaryInteger>(_ body: () -> Result) throws(Errno) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code != EINTR { throw Errno(rawValue: code) }
    }
}

/// `retryingOnInterrupt`, failing with the call's name.
@inlinable
public func systemCall<Result: BinaryInteger>(_ name: String, _ body: () -> Result) throws(SystemCallError) -> Result {
    do {
        return try retryingOnInterrupt(body)
    } catch {
        throw SystemCallError(name, error)
    }
}

/// Writes every byte of `bytes` to `descriptor`. On failure, the bytes that did reach it and why
/// the rest did not (a write of 0 bytes counts as EIO).
public func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, failure: Errno?) {
    var written = 0
    while written < bytes.count, let base = bytes.baseAddress {
        do {
            let count = try retryingOnInterrupt { write(descriptor, base + written, bytes.count - written) }
            if count == 0 { return (written, Errno(rawValue: EIO)) }
            written += count
        } catch {
            return (written, error)
        }
    }
    return (written, nil)
}

/// Reads into `buffer` until it is full, the input ends, or a read fails: how many bytes
/// came, and why reading stopped early if it failed.
public func readFully(_ descriptor: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> (count: Int, failure: Errno?) {
    var count = 0
    while count < buffer.count, let base = buffer.baseAddress {
        do {
            let got = try retryingOnInterrupt { read(descriptor, base + count, buffer.count - count) }
            if got == 0 { break }
            count += got
        } catch {
            return (count, error)
        }
    }
    return (count, nil)
}
