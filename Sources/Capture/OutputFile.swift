#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file lanekeeper writes (a report, an evidence file), written so that it is never half
/// there and never replaces a file by accident:
///
/// - the bytes go to a temporary file in the same directory (`FILE.partial` for evidence,
///   which a killed watch leaves behind readable; `.FILE.XXXXXX` for a report);
/// - `commit()` fsyncs it and renames it to `FILE` (refusing, atomically, when `FILE` exists
///   unless `replace`), then fsyncs the directory;
/// - creating refuses at once when `FILE` (or the temporary name) already exists, unless
///   `replace`, so that a command fails before doing any work.
///
/// When `FILE` exists and is not a regular file or link (`/dev/stdout`, `/dev/null`, a FIFO)
/// there is nothing to replace: the bytes are written straight into it.
public final class OutputFile {
    /// How the temporary file is named.
    public enum Staging: Sendable {
        /// `FILE.partial`, created exclusively (a stale one is evidence from a killed run and
        /// is only replaced with `replace`).
        case partial
        /// A hidden unique name beside `FILE`, removed if it cannot be completed.
        case hidden
    }

    /// The file's final name.
    public let path: String
    /// Where the bytes go until `commit()` (equal to `path` when written in place).
    public let stagingPath: String
    /// The open descriptor.
    public let descriptor: Int32
    /// Bytes written so far (also those of a write that then failed part way).
    public private(set) var length = 0
    private let replace: Bool
    private let inPlace: Bool
    /// Whether a staging file that cannot be completed stays (`FILE.partial`).
    private let keepsPartial: Bool
    private var finished = false

    /// The suffix of an evidence file being written.
    public static let partialSuffix = ".partial"

    /// Creates the staging file (mode 0644 before the umask).
    ///
    /// - Throws: `CaptureWriteError` with `errno` `EEXIST` when `path` (or, for `.partial`,
    ///   `path.partial`) exists and `replace` is false; with the system's reason otherwise.
    public init(path: String, replace: Bool, staging: Staging) throws(CaptureWriteError) {
        self.path = path
        self.replace = replace
        keepsPartial = staging == .partial
        var status = stat()
        let exists = lstat(path, &status) == 0
        let kind = status.st_mode & S_IFMT
        if exists && kind != S_IFREG && kind != S_IFLNK && kind != S_IFDIR {
            // A device or FIFO: write into it; nothing is replaced.
            inPlace = true
            stagingPath = path
            descriptor = try Self.open(path, flags: O_WRONLY | O_CLOEXEC, reportAs: path)
            return
        }
        if exists && !replace {
            throw Self.refusal(path)
        }
        if exists && kind == S_IFDIR {
            throw CaptureWriteError(path: path, operation: "create", detail: "it is a directory", errno: EISDIR)
        }
        inPlace = false
        switch staging {
        case .partial:
            stagingPath = path + Self.partialSuffix
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (replace ? O_TRUNC : O_EXCL)
            do {
                descriptor = try Self.open(stagingPath, flags: flags, reportAs: stagingPath)
            } catch where error.errno == EEXIST {
                throw Self.refusal(stagingPath)
            }
        case .hidden:
            let slash = path.lastIndex(of: "/")
            let directory = slash.map { String(path[...$0]) } ?? ""
            let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
            var attempt = 0
            while true {
                let candidate = directory + "." + name + "." + String(UInt32.random(in: 0...UInt32.max), radix: 36)
                do {
                    descriptor = try Self.open(
                        candidate, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, reportAs: path)
                    stagingPath = candidate
                    break
                } catch where error.errno == EEXIST && attempt < 100 {
                    attempt += 1
                }
            }
        }
    }

    deinit {
        if !finished { abandon() }
    }

    /// The process's umask (read without changing it for long).
    private static var umask: mode_t {
        let mask = Glibc.umask(0o022)
        _ = Glibc.umask(mask)
        return mask
    }

    private static func open(_ path: String, flags: Int32, reportAs name: String) throws(CaptureWriteError) -> Int32 {
        var fd: Int32
        repeat {
            fd = Glibc.open(path, flags, 0o644)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            let code = errno
            throw CaptureWriteError(path: name, operation: "create", detail: describeErrno(code), errno: code)
        }
        return fd
    }

    private static func refusal(_ path: String) -> CaptureWriteError {
        CaptureWriteError(
            path: path, operation: "create",
            detail: "it already exists; lanekeeper does not replace a file unless given --force", errno: EEXIST)
    }

    /// True when the bytes go straight into `path` (a device or FIFO).
    public var isInPlace: Bool { inPlace }

    /// Writes every byte, retrying on interruption.
    ///
    /// - Throws: `CaptureWriteError` naming the staging file and the reason (e.g. ENOSPC).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(CaptureWriteError) {
        var written = 0
        while written < bytes.count, let base = bytes.baseAddress {
            let result = Glibc.write(descriptor, base + written, bytes.count - written)
            if result > 0 {
                written += result
                length += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                let code = result < 0 ? errno : EIO
                throw CaptureWriteError(path: stagingPath, operation: "write", detail: describeErrno(code), errno: code)
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws(CaptureWriteError) {
        var failure: CaptureWriteError?
        bytes.withUnsafeBytes { buffer in
            do throws(CaptureWriteError) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Cuts the staging file back to `length` bytes (after a failed write, so that it ends
    /// on a whole block).
    public func truncate(to length: Int) {
        guard !inPlace else { return }
        if ftruncate(descriptor, off_t(length)) == 0 { self.length = length }
    }

    /// Gives the file to `user`:`group` (before a process drops its privileges, so that the
    /// user it becomes may finish and rename it).
    public func changeOwner(user: uid_t, group: gid_t) throws(CaptureWriteError) {
        guard !inPlace else { return }
        if fchown(descriptor, user, group) != 0 {
            let code = errno
            throw CaptureWriteError(path: stagingPath, operation: "change the owner of", detail: describeErrno(code), errno: code)
        }
    }

    /// fsyncs, closes and renames the staging file to `path` (without replacing an existing
    /// `path` unless `replace`), then fsyncs the directory.
    public func commit() throws(CaptureWriteError) {
        precondition(!finished, "an OutputFile is committed or abandoned once")
        finished = true
        if inPlace {
            guard Glibc.close(descriptor) == 0 else {
                let code = errno
                throw CaptureWriteError(path: path, operation: "close", detail: describeErrno(code), errno: code)
            }
            return
        }
        if fsync(descriptor) != 0 {
            let code = errno
            _ = Glibc.close(descriptor)
            if !keepsPartial { _ = unlink(stagingPath) }
            throw CaptureWriteError(path: stagingPath, operation: "write", detail: describeErrno(code), errno: code)
        }
        if Glibc.close(descriptor) != 0 {
            let code = errno
            if !keepsPartial { _ = unlink(stagingPath) }
            throw CaptureWriteError(path: stagingPath, operation: "close", detail: describeErrno(code), errno: code)
        }
        if replace {
            guard rename(stagingPath, path) == 0 else {
                let code = errno
                if !keepsPartial { _ = unlink(stagingPath) }
                throw CaptureWriteError(
                    path: path, operation: "rename \(stagingPath) to", detail: describeErrno(code), errno: code)
            }
        } else {
            // link(2) fails with EEXIST when `path` appeared meanwhile: the no-replace rename.
            guard link(stagingPath, path) == 0 else {
                let code = errno
                if !keepsPartial { _ = unlink(stagingPath) }
                if code == EEXIST { throw Self.refusal(path) }
                throw CaptureWriteError(
                    path: path, operation: "rename \(stagingPath) to", detail: describeErrno(code), errno: code)
            }
            _ = unlink(stagingPath)
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            _ = Glibc.close(fd)
        }
    }

    /// Closes the staging file without renaming it: keeps it when `keep` and it is a
    /// `FILE.partial` (with what it holds), removes it otherwise.
    public func abandon(keep: Bool = false) {
        guard !finished else { return }
        finished = true
        _ = Glibc.close(descriptor)
        if !inPlace && !(keep && keepsPartial) { _ = unlink(stagingPath) }
    }
}

/// `strerror` and the symbolic name, e.g. "No space left on device (ENOSPC)".
public func describeErrno(_ code: Int32) -> String {
    let names: [Int32: String] = [
        ENOSPC: "ENOSPC", EDQUOT: "EDQUOT", EIO: "EIO", EACCES: "EACCES", EPERM: "EPERM", EROFS: "EROFS",
        EEXIST: "EEXIST", ENOENT: "ENOENT", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EFBIG: "EFBIG", ELOOP: "ELOOP",
        EXDEV: "EXDEV", EBADF: "EBADF", ENAMETOOLONG: "ENAMETOOLONG",
    ]
    let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    return names[code].map { "\(text) (\($0))" } ?? text
}
