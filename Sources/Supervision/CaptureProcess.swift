#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// The supervisor's handle on the capture process it started: its pid, the socket its
/// requests come on, the pipe its orders go on.
public final class CaptureProcess {
    public let pid: pid_t
    public let requests: Channel
    public let control: Channel
    private var status: Int32?

    /// Why the capture process could not be started.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    private init(pid: pid_t, requests: Channel, control: Channel) {
        self.pid = pid
        self.requests = requests
        self.control = control
    }

    /// Starts `executable` with `arguments` (argv[0] included), its standard input from
    /// /dev/null, its standard output and error shared, the request socket on descriptor
    /// `SupervisorLink.requestDescriptor` and the control pipe's reading end on
    /// `SupervisorLink.controlDescriptor`. Signal dispositions and the mask are reset.
    public static func start(executable: String, arguments: [String]) throws(StartError) -> CaptureProcess {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw StartError(description: "socketpair failed: \(Errno.current.description)")
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            close(pair[0])
            close(pair[1])
            throw StartError(description: "pipe failed: \(Errno(rawValue: code).description)")
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        // The child's ends are moved above 10 first, so that neither already sits on the
        // descriptor it is to be duplicated onto (dup2 onto itself would keep close-on-exec).
        let childRequest = fcntl(pair[1], F_DUPFD_CLOEXEC, 10)
        let childControl = fcntl(pipeEnds[0], F_DUPFD_CLOEXEC, 10)
        close(pair[1])
        close(pipeEnds[0])
        defer {
            close(childRequest)
            close(childControl)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, childRequest, SupervisorLink.requestDescriptor)
        posix_spawn_file_actions_adddup2(&actions, childControl, SupervisorLink.controlDescriptor)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard result == 0 else {
            close(pair[0])
            close(pipeEnds[1])
            throw StartError(description: "cannot start the capture process \(executable): \(Errno(rawValue: result).description)")
        }
        return CaptureProcess(pid: pid, requests: Channel(descriptor: pair[0]), control: Channel(descriptor: pipeEnds[1]))
    }

    /// Waits for the process to end; its `waitpid` status.
    public func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        status = (try? retryingOnInterrupt { waitpid(pid, &raw, 0) }) == pid ? raw : 0
        return status ?? 0
    }

    /// Sends `signal` while the process has not been waited for.
    public func kill(_ signal: Int32) {
        guard status == nil else { return }
        _ = Glibc.kill(pid, signal)
    }
}

/// How a `waitpid` status reads.
public enum WaitStatus {
    /// The exit status, when the process exited.
    public static func exitStatus(_ status: Int32) -> Int32? {
        status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    /// The signal that ended the process, when one did.
    public static func signal(_ status: Int32) -> Int32? {
        let number = status & 0x7f
        return number != 0 && number != 0x7f ? number : nil
    }
}

/// systemd's readiness protocol (sd_notify(3)): a datagram to $NOTIFY_SOCKET.
public enum ServiceNotification {
    /// Sends `state` (e.g. "READY=1\nSTATUS=...") when run under systemd with Type=notify;
    /// returns whether it was sent.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let raw = getenv("NOTIFY_SOCKET") else { return false }
        var path = Array(String(cString: raw).utf8)
        guard !path.isEmpty else { return false }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }  // an abstract socket
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        return sent == bytes.count
    }
}
