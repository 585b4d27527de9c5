import Capture
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The capture process's side: asks its supervisor to create, write and place its files
/// (`OutputFiles`), tells it when capturing has begun and what the verdict is, and hears
/// when to stop.
///
/// Requests are answered one at a time, in order: a caller holds the link until its reply
/// comes, so that threads writing evidence and the thread writing reports may share it.
public final class SupervisorLink: OutputFiles, @unchecked Sendable {
    /// The descriptors a capture process finds its channels on.
    public static let requestDescriptor: Int32 = 3
    public static let controlDescriptor: Int32 = 4

    /// Guards `requests` (a request and its reply are one step).
    private let requests: Mutex<Channel>
    private let control: Channel

    public init(requestDescriptor: Int32 = requestDescriptor, controlDescriptor: Int32 = controlDescriptor) {
        requests = Mutex(Channel(descriptor: requestDescriptor))
        control = Channel(descriptor: controlDescriptor)
    }

    /// Whether this process was started as a capture process: its request descriptor is a
    /// socket and its control descriptor a pipe.
    public static func isPresent() -> Bool {
        var status = stat()
        guard fstat(requestDescriptor, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return false }
        guard fstat(controlDescriptor, &status) == 0, status.st_mode & S_IFMT == S_IFIFO else { return false }
        return true
    }

    /// Sends `request` and waits for its reply.
    public func call(_ request: Request) throws(Channel.Failure) -> Reply {
        try call(encoded: request.encoded())
    }

    func call(encoded: [UInt8]) throws(Channel.Failure) -> Reply {
        try requests.withLock { (channel) throws(Channel.Failure) -> Reply in
            try channel.send(encoded)
            guard let message = try channel.receive() else { throw .closed }
            do throws(MessageError) {
                return try Reply.decode(kind: message.kind, payload: message.payload)
            } catch {
                throw .message(error)
            }
        }
    }

    // MARK: Events

    /// Capturing has begun on `interfaces`, as `user`.
    public func ready(interfaces: [String], user: String) throws(Channel.Failure) {
        _ = try call(.ready(interfaces: interfaces, user: user))
    }

    /// Every capture was lost.
    public func capturesEnded() throws(Channel.Failure) {
        _ = try call(.capturesEnded)
    }

    /// The verdict, once the report is written.
    public func result(verdict: UInt8) throws(Channel.Failure) {
        _ = try call(.result(verdict: verdict))
    }

    /// The next control message, waiting for it; nil when the supervisor is gone (its end
    /// closed) or sent something unreadable, which the capture process takes as a stop.
    public func nextControl() -> Control? {
        do {
            guard let message = try control.receive() else { return nil }
            return try Control.decode(kind: message.kind, payload: message.payload)
        } catch {
            return nil
        }
    }

    // MARK: OutputFiles

    public func create(path: String, replace: Bool, staging: OutputFile.Staging) throws(OutputWriteError) -> any OutputSink {
        let reply = try fileCall(.create(path: path, replace: replace, staging: staging == .partial ? .partial : .hidden), path: path)
        guard case .handle(let handle, let inPlace) = reply else { throw Self.unexpected(reply, path: path, operation: "create") }
        return SupervisedFile(link: self, handle: handle, path: path, inPlace: inPlace)
    }

    public func remove(path: String) throws(OutputWriteError) {
        _ = try fileCall(.remove(path: path), path: path)
    }

    public func prune(directory: String, prefix: String, suffix: String, keep: Int) -> [String] {
        let request = Request.prune(directory: directory, prefix: prefix, suffix: suffix, keep: UInt32(clamping: keep))
        guard case .pruned(let paths)? = try? fileCall(request, path: directory) else { return [] }
        return paths
    }

    /// A file request (encoded): its reply, a `.failure` reply or a broken link thrown as an
    /// `OutputWriteError` naming `path`; after a failed write, `length` is the file's length
    /// as the supervisor reports it.
    func fileCall(encoded request: [UInt8], path: String, length: inout Int) throws(OutputWriteError) -> Reply {
        let reply: Reply
        do {
            reply = try call(encoded: request)
        } catch {
            throw OutputWriteError(
                path: path, operation: "write", detail: "the supervising lanekeeper process is gone (\(error))", errno: EPIPE)
        }
        if case .failure(let failedPath, let operation, let detail, let code, let after) = reply {
            length = Int(clamping: after)
            throw OutputWriteError(path: failedPath, operation: operation, detail: detail, errno: code == 0 ? nil : code)
        }
        return reply
    }

    func fileCall(_ request: Request, path: String) throws(OutputWriteError) -> Reply {
        var ignored = 0
        return try fileCall(encoded: request.encoded(), path: path, length: &ignored)
    }

    static func unexpected(_ reply: Reply, path: String, operation: String) -> OutputWriteError {
        OutputWriteError(path: path, operation: operation, detail: "the supervisor answered with a message of kind \(reply.kind)")
    }
}

/// A file the supervisor writes for the capture process.
final class SupervisedFile: OutputSink {
    let link: SupervisorLink
    let handle: UInt32
    let path: String
    let isInPlace: Bool
    private(set) var length = 0
    private var finished = false

    init(link: SupervisorLink, handle: UInt32, path: String, inPlace: Bool) {
        self.link = link
        self.handle = handle
        self.path = path
        self.isInPlace = inPlace
    }

    deinit {
        if !finished { abandon(keep: false) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputWriteError) {
        var offset = 0
        while offset < bytes.count {
            let count = min(Message.maximumWrite, bytes.count - offset)
            let request = Request.encodedWrite(handle: handle, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            _ = try link.fileCall(encoded: request, path: path, length: &length)
            length += count
            offset += count
        }
    }

    func truncate(to length: Int) {
        if (try? link.fileCall(.truncate(handle: handle, length: UInt64(max(0, length))), path: path)) != nil {
            self.length = length
        }
    }

    func commit() throws(OutputWriteError) {
        finished = true
        _ = try link.fileCall(.commit(handle: handle), path: path)
    }

    func abandon(keep: Bool) {
        guard !finished else { return }
        finished = true
        _ = try? link.fileCall(.abandon(handle: handle, keep: keep), path: path)
    }
}
