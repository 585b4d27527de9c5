import Frames

/// Something that yields frames from a saved capture file (pcap or pcapng). A live
/// capture (`LiveCapture`) is read differently: a thread per interface, with its own loop.
///
/// Reading is push-style: `read(_:)` calls `body` once per frame, in file order, handing it
/// a `Frame` whose bytes are valid only during that call. It returns how the read ended;
/// a file that was cut short or is corrupt in the middle is not an error thrown at the
/// caller, because every frame before the damage is good and must not be lost.
public protocol FrameSource: ~Copyable {
    /// The path (or interface name) this source reads, for messages.
    var path: String { get }
    /// The interfaces described so far. A pcapng file can describe more interfaces as it
    /// goes, so read this after (or during) `read(_:)`.
    var interfaces: [CaptureInterface] { get }
    /// Reads every remaining frame.
    mutating func read(_ body: (Frame) throws -> Void) rethrows -> ReadOutcome
    /// Reads the next frames into `records` (at most its count), without copying them: each
    /// record points at the frame's bytes where the reader keeps them, which stay there
    /// until the next call (or until the source is released). A call stops early rather
    /// than move bytes it has handed out in that call, so a caller can use a batch of frames
    /// in place. Returns how many it read: 0 only once the read has ended (`endOfRecords`).
    /// `records` has room for one record at least.
    mutating func read(into records: UnsafeMutableBufferPointer<FrameRecord>) -> Int
    /// How a read through `read(into:)` ended, once that returned 0: the frames of all its
    /// calls.
    mutating func endOfRecords() -> ReadOutcome
}

/// How a read ended.
public struct ReadOutcome: Sendable, Equatable {
    /// How the file ended; shared with later stages through the frame model.
    public typealias End = SourceEnd

    /// Frames handed to the callback.
    public var frames: Int
    /// Bytes of the file consumed.
    public var bytesRead: Int64
    public var end: End
    /// Non-fatal observations (unknown blocks skipped, an interface with no name, ...).
    public var warnings: [String]

    public init(frames: Int, bytesRead: Int64, end: End, warnings: [String] = []) {
        self.frames = frames
        self.bytesRead = bytesRead
        self.end = end
        self.warnings = warnings
    }
}

/// A capture that cannot be used at all: it does not exist, cannot be opened, or its
/// header is not a pcap or pcapng header.
public struct CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The file does not exist (exit status 66).
        case notFound
        /// The file exists but cannot be opened or read (permissions, a directory, I/O).
        case unreadable
        /// The file's contents are not a capture lanekeeper can read (exit status 65).
        case malformed
    }

    public var code: Code
    public var path: String
    /// Byte offset the problem was found at, when it applies.
    public var offset: Int64?
    public var detail: String

    public init(code: Code, path: String, offset: Int64? = nil, detail: String) {
        self.code = code
        self.path = path
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        if let offset {
            return "\(path): at byte \(offset): \(detail)"
        }
        return "\(path): \(detail)"
    }
}
