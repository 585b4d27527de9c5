#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// One end of a socket or pipe carrying framed messages (see `Message`): whole messages out,
/// whole messages in, every system call retried on EINTR.
public final class Channel {
    public let descriptor: Int32
    private var framer = MessageFramer()
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
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
            case .system(let call, let code): "\(call) failed: \(Errno(rawValue: code))"
            case .message(let error): "unreadable \(error)"
            }
        }
    }

    /// Takes `descriptor` (closed with the channel).
    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        _ = close(descriptor)
        readBuffer.deallocate()
    }

    /// Writes every byte of `message` (blocking).
    public func send(_ message: [UInt8]) throws(Failure) {
        // A closed pipe's EPIPE needs SIGPIPE ignored, which both processes do.
        let (_, failure) = message.withUnsafeBytes { writeAll(descriptor, $0) }
        if let failure { throw failure.rawValue == EPIPE ? .closed : .system(call: "write", errno: failure.rawValue) }
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
        let count: Int
        do throws(Errno) {
            count = try retryingOnInterrupt { read(descriptor, readBuffer.baseAddress, readBuffer.count) }
        } catch {
            guard error.rawValue == ECONNRESET else { throw .system(call: "read", errno: error.rawValue) }
            ended = true
            return
        }
        if count == 0 {
            ended = true
            return
        }
        framer.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
    }

    /// Whether a read would not block, waiting up to `milliseconds` (poll).
    public func waitReadable(milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let result = poll(&entry, 1, milliseconds)
        return result > 0
    }
}
