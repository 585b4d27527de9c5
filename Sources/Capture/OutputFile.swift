#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// A file lanekeeper writes (a report, an evidence file), written so that it is never half
/// there and never replaces a file by accident:
///
/// - the bytes go to a temporary file in the same directory: `FILE.partial` for evidence,
///   which a killed watch leaves behind readable; for a report an unnamed file (Linux's
///   `O_TMPFILE`), so that a killed process leaves nothing, or, where the file system has no
///   `O_TMPFILE` or /proc is missing, a hidden `.FILE.XXXXXX`;
/// - `commit()` fsyncs it and gives it the name `FILE` (refusing, atomically, when `FILE`
///   exists unless `replace`), then fsyncs the directory;
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
        /// No name until `commit()` (`O_TMPFILE`), or where that cannot be had a hidden unique
        /// name beside `FILE`, removed if it cannot be completed.
        case hidden
    }

    /// The file's final name.
    public let path: String
    /// Where the bytes go until `commit()`: `FILE.partial`, `.FILE.XXXXXX`, or `path` itself
    /// when written in place or into an unnamed file.
    public let stagingPath: String
    /// The open descriptor.
    public let descriptor: Int32
    /// Bytes written so far (also those of a write that then failed part way).
    public private(set) var length = 0
    private let replace: Bool
    private let inPlace: Bool
    /// Whether a staging file that cannot be completed stays (`FILE.partial`).
    private let keepsPartial: Bool
    /// Whether the staging file has no name (`O_TMPFILE`) until `commit()` links it.
    private let unnamed: Bool
    /// Whether this object created the staging file: a `FILE.partial` that was there already
    /// (replaced as asked, truncated and written again) is never removed.
    private let createdStaging: Bool
    private var finished = false

    /// The suffix of an evidence file being written.
    public static let partialSuffix = ".partial"

    /// Creates the staging file (mode 0644 before the umask).
    ///
    /// - Throws: `OutputWriteError` with `errno` `EEXIST` when `path` (or, for `.partial`,
    ///   `path.partial`) exists and `replace` is false; with the system's reason otherwise.
    public convenience init(path: String, replace: Bool, staging: Staging) throws(OutputWriteError) {
        try self.init(path: path, replace: replace, staging: staging, allowingUnnamed: true)
    }

    /// `allowingUnnamed: false` always names a hidden staging file (as where there is no
    /// `O_TMPFILE`).
    init(path: String, replace: Bool, staging: Staging, allowingUnnamed: Bool) throws(OutputWriteError) {
        self.path = path
        self.replace = replace
        keepsPartial = staging == .partial
        var status = stat()
        let exists = lstat(path, &status) == 0
        let kind = status.st_mode & S_IFMT
        if exists && kind != S_IFREG && kind != S_IFLNK && kind != S_IFDIR {
            // A device or FIFO: write into it; nothing is replaced.
            inPlace = true
            unnamed = false
            createdStaging = false
            stagingPath = path
            descriptor = try Self.open(path, flags: O_WRONLY | O_CLOEXEC, reportAs: path)
            return
        }
        if exists && !replace {
            throw Self.refusal(path)
        }
        if exists && kind == S_IFDIR {
            throw OutputWriteError(path: path, operation: "create", detail: "it is a directory", errno: EISDIR)
        }
        inPlace = false
        switch staging {
        case .partial:
            unnamed = false
            stagingPath = path + Self.partialSuffix
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW
            do {
                descriptor = try Self.open(stagingPath, flags: flags | O_EXCL, reportAs: stagingPath)
                createdStaging = true
            } catch where error.errno == EEXIST {
                guard replace else { throw Self.refusal(stagingPath) }
                descriptor = try Self.open(stagingPath, flags: flags | O_TRUNC, reportAs: stagingPath)
                createdStaging = false
            }
        case .hidden:
            createdStaging = true
            if allowingUnnamed, let fd = try Self.openUnnamed(beside: path) {
                unnamed = true
                stagingPath = path
                descriptor = fd
            } else {
                unnamed = false
                (stagingPath, descriptor) = try Self.withHiddenName(beside: path) { (candidate) throws(OutputWriteError) in
                    let fd = try Self.open(
                        candidate, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, reportAs: path)
                    return (candidate, fd)
                }
            }
        }
    }

    deinit {
        if !finished { abandon(keep: false) }
    }

    private static func open(_ path: String, flags: Int32, reportAs name: String) throws(OutputWriteError) -> Int32 {
        do {
            return try retryingOnInterrupt { Glibc.open(path, flags, 0o644) }
        } catch {
            throw OutputWriteError(path: name, operation: "create", detail: error.description, errno: error.rawValue)
        }
    }

    private static func refusal(_ path: String) -> OutputWriteError {
        OutputWriteError(
            path: path, operation: "create",
            detail: "it already exists; lanekeeper does not replace a file unless given --force", errno: EEXIST)
    }

    /// The directory `path` is in ("." for a bare name).
    static func directory(of path: String) -> String {
        let slash = path.lastIndex(of: "/")
        return slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    }

    /// Calls `body` with a hidden unique name beside `path` (`DIR/.NAME.XXXXXX`), again with
    /// another while it fails with EEXIST (up to 100 times).
    private static func withHiddenName<Result>(
        beside path: String, _ body: (String) throws(OutputWriteError) -> Result
    ) throws(OutputWriteError) -> Result {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var attempt = 0
        while true {
            do {
                return try body(directory + "." + name + "." + String(UInt32.random(in: 0...UInt32.max), radix: 36))
            } catch where error.errno == EEXIST && attempt < 100 {
                attempt += 1
            }
        }
    }

    /// How this process reaches its descriptor `fd` as a path (to link an unnamed file). A
    /// process may always follow its own /proc/self/fd links, also once it has given up root
    /// and is no longer dumpable.
    private static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    /// An unnamed file in the directory of `path` (`O_TMPFILE`), which `commit()` names by
    /// linking /proc/self/fd/N; nil when the file system or kernel has none (EOPNOTSUPP,
    /// EISDIR, EINVAL) or /proc does not show it: a named hidden file is used then.
    private static func openUnnamed(beside path: String) throws(OutputWriteError) -> Int32? {
        #if os(Linux)
        let fd: Int32
        do {
            // glibc names it O_TMPFILE only under _GNU_SOURCE; __O_TMPFILE includes O_DIRECTORY.
            fd = try open(directory(of: path), flags: __O_TMPFILE | O_WRONLY | O_CLOEXEC, reportAs: path)
        } catch where [EOPNOTSUPP, EISDIR, EINVAL].contains(error.errno ?? 0) {
            return nil
        }
        var direct = stat()
        var viaProc = stat()
        guard fstat(fd, &direct) == 0, stat(procPath(fd), &viaProc) == 0, viaProc.st_dev == direct.st_dev,
            viaProc.st_ino == direct.st_ino
        else {
            _ = Glibc.close(fd)
            return nil
        }
        return fd
        #else
        return nil
        #endif
    }

    /// True when the bytes go straight into `path` (a device or FIFO).
    public var isInPlace: Bool { inPlace }

    /// True when the staging file has no name until `commit()` (`O_TMPFILE`).
    public var isUnnamed: Bool { unnamed }

    /// Writes every byte, retrying on interruption.
    ///
    /// - Throws: `OutputWriteError` naming the staging file and the reason (e.g. ENOSPC).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(OutputWriteError) {
        let (written, failure) = writeAll(descriptor, bytes)
        length += written
        if let failure {
            throw OutputWriteError(path: stagingPath, operation: "write", detail: failure.description, errno: failure.rawValue)
        }
    }

    /// Cuts the staging file back to `length` bytes (after a failed write, so that it ends
    /// on a whole block).
    public func truncate(to length: Int) {
        guard !inPlace else { return }
        if ftruncate(descriptor, off_t(length)) == 0 { self.length = length }
    }

    /// fsyncs, closes and renames the staging file to `path` (without replacing an existing
    /// `path` unless `replace`), then fsyncs the directory.
    public func commit() throws(OutputWriteError) {
        precondition(!finished, "an OutputFile is committed or abandoned once")
        finished = true
        if inPlace {
            guard Glibc.close(descriptor) == 0 else {
                let code = errno
                throw OutputWriteError(path: path, operation: "close", detail: Errno(rawValue: code).description, errno: code)
            }
            return
        }
        if fsync(descriptor) != 0 {
            let code = errno
            _ = Glibc.close(descriptor)
            removeStaging(keep: true)
            throw OutputWriteError(path: stagingPath, operation: "write", detail: Errno(rawValue: code).description, errno: code)
        }
        if unnamed {
            // Linked while open (an unnamed file's only handle); fsynced already, so closing
            // afterwards loses nothing.
            defer { _ = Glibc.close(descriptor) }
            try linkUnnamed()
        } else {
            if Glibc.close(descriptor) != 0 {
                let code = errno
                removeStaging(keep: true)
                throw OutputWriteError(path: stagingPath, operation: "close", detail: Errno(rawValue: code).description, errno: code)
            }
            try rename(stagingPath)
        }
        let fd = Glibc.open(Self.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            _ = Glibc.close(fd)
        }
    }

    /// Renames `staged` (a named staging file, or a name just given to the unnamed one) to
    /// `path`: over it with `replace`; otherwise by link(2), which fails with EEXIST when
    /// `path` appeared meanwhile (the no-replace rename), then unlink. `staged` goes on failure
    /// (unless it is a `FILE.partial`).
    private func rename(_ staged: String) throws(OutputWriteError) {
        if replace ? Glibc.rename(staged, path) == 0 : link(staged, path) == 0 {
            if !replace { _ = unlink(staged) }
            return
        }
        let code = errno
        if staged != stagingPath || !keepsPartial { _ = unlink(staged) }
        if code == EEXIST && !replace { throw Self.refusal(path) }
        throw OutputWriteError(path: path, operation: "rename \(staged) to", detail: Errno(rawValue: code).description, errno: code)
    }

    /// Gives the unnamed staging file its name: linked straight to `path` (linkat fails with
    /// EEXIST when `path` appeared meanwhile: nothing is replaced), or with `replace` linked to
    /// a hidden name and renamed over `path`.
    private func linkUnnamed() throws(OutputWriteError) {
        let source = Self.procPath(descriptor)
        func link(to target: String) throws(OutputWriteError) {
            guard linkat(AT_FDCWD, source, AT_FDCWD, target, AT_SYMLINK_FOLLOW) != 0 else { return }
            let code = errno
            throw code == EEXIST && target == path
                ? Self.refusal(path) : OutputWriteError(path: path, operation: "create", detail: Errno(rawValue: code).description, errno: code)
        }
        guard replace else { return try link(to: path) }
        let hidden = try Self.withHiddenName(beside: path) { (candidate) throws(OutputWriteError) in
            try link(to: candidate)
            return candidate
        }
        try rename(hidden)
    }

    /// Removes a named staging file this object created, unless it is a `FILE.partial` to `keep`.
    private func removeStaging(keep: Bool) {
        if !inPlace && !unnamed && createdStaging && !(keep && keepsPartial) { _ = unlink(stagingPath) }
    }

    /// Closes the staging file without renaming it: keeps it when `keep` and it is a
    /// `FILE.partial` (with what it holds), removes it otherwise (an unnamed file simply goes;
    /// a `FILE.partial` this object did not create, one replaced as asked, stays).
    public func abandon(keep: Bool) {
        guard !finished else { return }
        finished = true
        _ = Glibc.close(descriptor)
        removeStaging(keep: keep)
    }
}

