import Capture

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's side of the file requests: it creates, writes, places and removes files
/// as the user who started lanekeeper, but only the files that user named on the command
/// line (the report, the evidence file, the metrics file) and window files in the
/// directories the user named, each with the staging and replacement the user asked for.
/// Whatever the capture process sends, it cannot make the supervisor touch another path.
public final class FileService {
    /// A file the capture process may have created, and how.
    public struct Rule: Sendable {
        public var staging: OutputFile.Staging
        /// Whether an existing file may be replaced (`--force`; a metrics file always).
        public var replace: Bool

        public init(staging: OutputFile.Staging, replace: Bool) {
            self.staging = staging
            self.replace = replace
        }
    }

    /// Window files in a directory: `DIRECTORY/PREFIX<time and number>SUFFIX`.
    public struct WindowFiles: Sendable {
        public var directory: String
        public var prefix: String
        public var suffix: String
        public var rule: Rule

        public init(directory: String, prefix: String, suffix: String, rule: Rule) {
            self.directory = directory
            self.prefix = prefix
            self.suffix = suffix
            self.rule = rule
        }

        /// Whether `path` is one of these files: a name in `directory` (no further slash)
        /// with the prefix and suffix and only letters, digits, dots and dashes between.
        func matches(_ path: String) -> Bool {
            guard path.hasPrefix(directory + "/") else { return false }
            let name = path.dropFirst(directory.count + 1)
            guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return false }
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
            return middle.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
        }
    }

    /// The most files open at once (a window's report and evidence, the metrics file, ...).
    public static let maximumOpen = 64

    private let exact: [String: Rule]
    private let windows: [WindowFiles]
    private var open: [UInt32: OutputFile] = [:]
    private var nextHandle: UInt32 = 1

    public init(files: [String: Rule], windows: [WindowFiles]) {
        exact = files
        self.windows = windows
    }

    /// The rule for `path`, if the capture process may create it.
    func rule(for path: String) -> Rule? {
        exact[path] ?? windows.first { $0.matches(path) }?.rule
    }

    /// Answers a file request (create, write, truncate, commit, abandon, remove, prune); nil
    /// for a request that is not about files.
    public func answer(_ request: Request) -> Reply? {
        switch request {
        case .create(let path, let replace, let staging):
            guard let rule = rule(for: path) else {
                return Self.refusal(path, "create", "not a file this watch was asked to write")
            }
            let wanted: OutputFile.Staging = staging == .partial ? .partial : .hidden
            guard wanted == rule.staging else { return Self.refusal(path, "create", "staged differently from what this file needs") }
            guard open.count < Self.maximumOpen else { return Self.refusal(path, "create", "too many files open at once") }
            do {
                let file = try OutputFile(path: path, replace: replace && rule.replace, staging: rule.staging)
                let handle = nextHandle
                nextHandle &+= 1
                open[handle] = file
                return .handle(handle, inPlace: file.isInPlace)
            } catch {
                return Self.failure(error, length: 0)
            }
        case .write(let handle, let bytes):
            guard let file = open[handle] else { return Self.unknown(handle) }
            do {
                try file.write(bytes)
                return .ok
            } catch {
                return Self.failure(error, length: file.length)
            }
        case .truncate(let handle, let length):
            guard let file = open[handle] else { return Self.unknown(handle) }
            file.truncate(to: Int(clamping: length))
            return .ok
        case .commit(let handle):
            guard let file = open.removeValue(forKey: handle) else { return Self.unknown(handle) }
            do {
                try file.commit()
                return .ok
            } catch {
                return Self.failure(error, length: file.length)
            }
        case .abandon(let handle, let keep):
            guard let file = open.removeValue(forKey: handle) else { return Self.unknown(handle) }
            file.abandon(keep: keep)
            return .ok
        case .remove(let path):
            guard windows.contains(where: { $0.matches(path) }) else {
                return Self.refusal(path, "remove", "not a window file of this watch")
            }
            do {
                try LocalFiles().remove(path: path)
                return .ok
            } catch {
                return Self.failure(error, length: 0)
            }
        case .prune(let directory, let prefix, let suffix, let keep):
            guard windows.contains(where: { $0.directory == directory && $0.prefix == prefix && $0.suffix == suffix }) else {
                return .pruned([])
            }
            return .pruned(LocalFiles().prune(directory: directory, prefix: prefix, suffix: suffix, keep: Int(keep)))
        case .ready, .capturesEnded, .result:
            return nil
        }
    }

    /// Gives up every file still open (the capture process died, or never began): with
    /// `keepPartial` a `FILE.partial` stays with every whole block it received, otherwise it
    /// goes when this run created it. Returns the paths of the partial files kept.
    @discardableResult
    public func abandonAll(keepPartial: Bool) -> [String] {
        var kept: [String] = []
        for (_, file) in open.sorted(by: { $0.key < $1.key }) {
            if keepPartial && file.stagingPath.hasSuffix(OutputFile.partialSuffix) && !file.isInPlace {
                kept.append(file.stagingPath)
            }
            file.abandon(keep: keepPartial)
        }
        open = [:]
        return kept
    }

    /// Files open now.
    public var openCount: Int { open.count }

    private static func failure(_ error: OutputWriteError, length: Int) -> Reply {
        .failure(path: error.path, operation: error.operation, detail: error.detail, errno: error.errno ?? 0, length: UInt64(length))
    }

    private static func refusal(_ path: String, _ operation: String, _ why: String) -> Reply {
        .failure(path: path, operation: operation, detail: "refused by the supervisor: \(why)", errno: EPERM, length: 0)
    }

    private static func unknown(_ handle: UInt32) -> Reply {
        .failure(path: "handle \(handle)", operation: "write", detail: "no file is open under that handle", errno: EBADF, length: 0)
    }
}
