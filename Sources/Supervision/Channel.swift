#if canImport(Glibc)
import Glibc
#endif

/// One end of a socket or pipe carrying framed messages (see `Message`): whole messages out,
/// whole messages in, every system call retried on EINTR.
public final class Channel {
    public let descriptor: Int32
    private var framer = MessageFramer()
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var ended = false

    /// Why a channel cannot go on.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The other process closed its end (or died) between two messages.
        case closed
        /// A system call failed.
        case system(call: String, errno: Int32)
        /// What arrived is not a message this side can read.
        case message(MessageError)

        public var description: String {
            switch self {
            case .closed: "the other process closed the channel"
            case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
            case .message(let error): "unreadable \(error)"
            }
        }
    }

    /// Takes `descriptor` (closed with the channel).
    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { _ = close(descriptor) }

    /// Writes every byte of `message` (blocking).
    public func send(_ message: [UInt8]) throws(Failure) {
        var sent = 0
        while sent < message.count {
            let result = message.withUnsafeBytes { raw in
                // MSG_NOSIGNAL on a socket; a pipe's EPIPE needs SIGPIPE ignored (both processes do).
                Glibc.write(descriptor, raw.baseAddress! + sent, raw.count - sent)
            }
            if result > 0 {
                sent += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                let code = result < 0 ? errno : EIO
                throw code == EPIPE ? .closed : .system(call: "write", errno: code)
            }
        }
    }

    /// The next whole message, waiting for it (blocking), or nil at a clean end of the stream.
    ///
    /// - Throws: `.message(.truncated)` when the stream ends inside a message, `.message` for
    ///   a length above the maximum, `.system` when reading fails.
    public func receive() throws(Failure) -> (kind: UInt8, payload: ArraySlice<UInt8>)? {
        while true {
            if let message = try nextBuffered() { return message }
            if ended { return nil }
            try fill()
        }
    }

    /// A whole message already read, if there is one (does not block).
    public func nextBuffered() throws(Failure) -> (kind: UInt8, payload: ArraySlice<UInt8>)? {
        do {
            if let message = try framer.next() { return message }
        } catch {
            throw .message(error)
        }
        if ended {
            do { try framer.finish() } catch { throw .message(error) }
        }
        return nil
    }

    /// True once the other end closed (every message sent before is still returned).
    public var isAtEnd: Bool { ended }

    /// Reads once what is there (blocking until something is, or the end).
    public func fill() throws(Failure) {
        while true {
            let count = readBuffer.withUnsafeMutableBytes { raw in read(descriptor, raw.baseAddress!, raw.count) }
            if count > 0 {
                readBuffer.withUnsafeBytes { raw in framer.append(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
                return
            }
            if count == 0 {
                ended = true
                return
            }
            if errno == EINTR { continue }
            let code = errno
            if code == ECONNRESET {
                ended = true
                return
            }
            throw .system(call: "read", errno: code)
        }
    }

    /// Whether a read would not block, waiting up to `milliseconds` (poll).
    public func waitReadable(milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let result = poll(&entry, 1, milliseconds)
        return result > 0
    }
}
