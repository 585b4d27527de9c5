import Pipeline

/// The messages between `watch`'s supervisor (the process the user started, with the user's
/// identity) and its capture process (unprivileged, the only one that reads packets).
///
/// Every message is framed the same way, on a stream socket or a pipe:
///
/// ```
///  0      1                      5
///  +------+----------------------+---------------------------+
///  | kind | payload length (BE32)| payload (`length` bytes)  |
///  +------+----------------------+---------------------------+
/// ```
///
/// A payload is a sequence of fields: `u8`, `u32` and `u64` big-endian, `i32` as its bit
/// pattern in a `u32`, a byte string as a `u32` length then the bytes, a text as a byte
/// string holding UTF-8, a list as a `u32` count then its elements. A receiver checks the
/// length against `maximumPayload` before reading a byte of the payload, then reads each
/// field after checking that it fits; a payload with bytes left over is malformed.
///
/// The capture process sends a `Request` on the socket and waits for its `Reply`; the
/// supervisor sends `Control` messages on a pipe of their own, whenever it decides.
public enum Message {
    /// The most payload bytes one message may carry: a write of up to 1 MiB and its fields.
    public static let maximumPayload = (1 << 20) + 4096
    /// The most bytes of file content one `write` request carries (longer writes are split).
    public static let maximumWrite = 1 << 20
    /// Kind and length.
    public static let headerLength = 5
}

/// A message that cannot be read: what was wrong, in words, with the kind it claimed.
public struct MessageError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The length field is above `Message.maximumPayload`.
        case tooLong
        /// A kind this side does not know (or not in this direction).
        case unknownKind
        /// The payload's fields do not match the kind: too short, bytes left over, text that
        /// is not UTF-8, a value out of range.
        case malformed
        /// The stream ended inside a message.
        case truncated
    }

    public var code: Code
    public var kind: UInt8
    public var detail: String

    public init(_ code: Code, kind: UInt8, _ detail: String) {
        self.code = code
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "message of kind \(kind): \(detail)" }
}

// MARK: - The messages

/// How a file is staged until it is put in place (see `OutputFile.Staging`).
public enum StagingKind: UInt8, Sendable {
    case partial = 0
    case hidden = 1
}

/// What the capture process asks of its supervisor. Each gets exactly one `Reply`.
public enum Request: Equatable, Sendable {
    /// Create the staging file of `path` (only a path the user named, or a window file in a
    /// directory the user named): `.handle` or `.failure`.
    case create(path: String, replace: Bool, staging: StagingKind)
    /// Append to a file created before: `.ok` or `.failure`.
    case write(handle: UInt32, bytes: [UInt8])
    /// Cut a file back to `length` bytes: `.ok`.
    case truncate(handle: UInt32, length: UInt64)
    /// fsync the file and give it its name: `.ok` or `.failure`.
    case commit(handle: UInt32)
    /// Give the file up (a `FILE.partial` stays when `keep`): `.ok`.
    case abandon(handle: UInt32, keep: Bool)
    /// Remove a window file that ended empty: `.ok` or `.failure`.
    case remove(path: String)
    /// Delete the oldest window files beyond `keep` in one of the user's directories: `.pruned`.
    case prune(directory: String, prefix: String, suffix: String, keep: UInt32)
    /// Every capture is open and privileges are dropped: the supervisor may start COMMAND.
    /// `interfaces` are the captures' interfaces, `user` whom the capture process now runs as.
    case ready(interfaces: [String], user: String)
    /// No capture is left (every interface was lost): the supervisor should stop.
    case capturesEnded
    /// The verdict (0 pass, 1 fail, 2 inconclusive), sent once the report is written.
    case result(verdict: UInt8)

    public var kind: UInt8 {
        switch self {
        case .create: 1
        case .write: 2
        case .truncate: 3
        case .commit: 4
        case .abandon: 5
        case .remove: 6
        case .prune: 7
        case .ready: 8
        case .capturesEnded: 9
        case .result: 10
        }
    }
}

/// The supervisor's answer to one `Request`.
public enum Reply: Equatable, Sendable {
    case ok
    /// The file was created: refer to it by `handle`; `inPlace` when it is a device or FIFO.
    case handle(UInt32, inPlace: Bool)
    /// A file operation failed: the `OutputWriteError` fields, and the file's length after it.
    case failure(path: String, operation: String, detail: String, errno: Int32, length: UInt64)
    /// The paths `prune` deleted.
    case pruned([String])

    public var kind: UInt8 {
        switch self {
        case .ok: 128
        case .handle: 129
        case .failure: 130
        case .pruned: 131
        }
    }
}

/// Why the supervisor stops the capture.
public enum StopReason: UInt8, Sendable, Equatable {
    /// SIGINT or SIGTERM reached the supervisor (its number travels with it).
    case signal = 1
    case commandExited = 2
    case duration = 3
    /// The capture process said no capture was left.
    case capturesEnded = 4
}

/// What the supervisor tells the capture process, on the control pipe.
public enum Control: Equatable, Sendable {
    /// Stop capturing, judge and write the report. `command` is COMMAND's outcome, when there
    /// was one; `signal` the signal's number for `.signal`, else 0.
    case stop(reason: StopReason, signal: Int32, command: CommandOutcome?)
    /// SIGHUP: read the policy again (a continuous watch).
    case reload

    public var kind: UInt8 {
        switch self {
        case .stop: 64
        case .reload: 65
        }
    }
}

// MARK: - Encoding

/// Builds one message: `begin`, fields, `finish`.
public struct MessageBuilder {
    public private(set) var bytes: [UInt8] = []

    public init(kind: UInt8, capacity: Int = 64) {
        bytes.reserveCapacity(capacity + Message.headerLength)
        bytes.append(kind)
        bytes.append(contentsOf: [0, 0, 0, 0])
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    public mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }

    public mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func data(_ value: UnsafeRawBufferPointer) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func data(_ value: [UInt8]) {
        value.withUnsafeBytes { data($0) }
    }

    public mutating func text(_ value: String) {
        u32(UInt32(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    public mutating func texts(_ values: [String]) {
        u32(UInt32(values.count))
        for value in values { text(value) }
    }

    /// The message, its length field filled in.
    public mutating func finish() -> [UInt8] {
        let length = UInt32(bytes.count - Message.headerLength)
        for index in 0..<4 { bytes[1 + index] = UInt8(truncatingIfNeeded: length >> UInt32(24 - 8 * index)) }
        return bytes
    }
}

extension Request {
    /// The framed message.
    public func encoded() -> [UInt8] {
        var message = MessageBuilder(kind: kind)
        switch self {
        case .create(let path, let replace, let staging):
            message.text(path)
            message.bool(replace)
            message.u8(staging.rawValue)
        case .write(let handle, let bytes):
            message.u32(handle)
            message.data(bytes)
        case .truncate(let handle, let length):
            message.u32(handle)
            message.u64(length)
        case .commit(let handle):
            message.u32(handle)
        case .abandon(let handle, let keep):
            message.u32(handle)
            message.bool(keep)
        case .remove(let path):
            message.text(path)
        case .prune(let directory, let prefix, let suffix, let keep):
            message.text(directory)
            message.text(prefix)
            message.text(suffix)
            message.u32(keep)
        case .ready(let interfaces, let user):
            message.texts(interfaces)
            message.text(user)
        case .capturesEnded:
            break
        case .result(let verdict):
            message.u8(verdict)
        }
        return message.finish()
    }

    /// A write request straight from a buffer (no intermediate array of the content).
    public static func encodedWrite(handle: UInt32, _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var message = MessageBuilder(kind: 2, capacity: bytes.count + 8)
        message.u32(handle)
        message.data(bytes)
        return message.finish()
    }

    /// Reads a request from a framed message's kind and payload.
    public static func decode(kind: UInt8, payload: ArraySlice<UInt8>) throws(MessageError) -> Request {
        var reader = PayloadReader(kind: kind, payload)
        let request: Request
        switch kind {
        case 1:
            let path = try reader.text()
            let replace = try reader.bool()
            guard let staging = StagingKind(rawValue: try reader.u8()) else {
                throw MessageError(.malformed, kind: kind, "staging kind out of range")
            }
            request = .create(path: path, replace: replace, staging: staging)
        case 2: request = .write(handle: try reader.u32(), bytes: try reader.data())
        case 3: request = .truncate(handle: try reader.u32(), length: try reader.u64())
        case 4: request = .commit(handle: try reader.u32())
        case 5: request = .abandon(handle: try reader.u32(), keep: try reader.bool())
        case 6: request = .remove(path: try reader.text())
        case 7:
            request = .prune(directory: try reader.text(), prefix: try reader.text(), suffix: try reader.text(), keep: try reader.u32())
        case 8: request = .ready(interfaces: try reader.texts(), user: try reader.text())
        case 9: request = .capturesEnded
        case 10:
            let verdict = try reader.u8()
            guard verdict <= 2 else { throw MessageError(.malformed, kind: kind, "verdict \(verdict) out of range") }
            request = .result(verdict: verdict)
        default: throw MessageError(.unknownKind, kind: kind, "not a request")
        }
        try reader.end()
        return request
    }
}

extension Reply {
    public func encoded() -> [UInt8] {
        var message = MessageBuilder(kind: kind)
        switch self {
        case .ok: break
        case .handle(let handle, let inPlace):
            message.u32(handle)
            message.bool(inPlace)
        case .failure(let path, let operation, let detail, let errno, let length):
            message.text(path)
            message.text(operation)
            message.text(detail)
            message.i32(errno)
            message.u64(length)
        case .pruned(let paths):
            message.texts(paths)
        }
        return message.finish()
    }

    public static func decode(kind: UInt8, payload: ArraySlice<UInt8>) throws(MessageError) -> Reply {
        var reader = PayloadReader(kind: kind, payload)
        let reply: Reply
        switch kind {
        case 128: reply = .ok
        case 129: reply = .handle(try reader.u32(), inPlace: try reader.bool())
        case 130:
            reply = .failure(
                path: try reader.text(), operation: try reader.text(), detail: try reader.text(), errno: try reader.i32(),
                length: try reader.u64())
        case 131: reply = .pruned(try reader.texts())
        default: throw MessageError(.unknownKind, kind: kind, "not a reply")
        }
        try reader.end()
        return reply
    }
}

extension Control {
    public func encoded() -> [UInt8] {
        var message = MessageBuilder(kind: kind)
        switch self {
        case .stop(let reason, let signal, let command):
            message.u8(reason.rawValue)
            message.i32(signal)
            message.bool(command != nil)
            if let command {
                message.texts(command.argv)
                message.bool(command.exitStatus != nil)
                message.i32(command.exitStatus ?? 0)
                message.bool(command.signal != nil)
                message.i32(command.signal ?? 0)
                message.text(command.note ?? "")
            }
        case .reload:
            break
        }
        return message.finish()
    }

    public static func decode(kind: UInt8, payload: ArraySlice<UInt8>) throws(MessageError) -> Control {
        var reader = PayloadReader(kind: kind, payload)
        let control: Control
        switch kind {
        case 64:
            let code = try reader.u8()
            guard let reason = StopReason(rawValue: code) else {
                throw MessageError(.malformed, kind: kind, "stop reason \(code) out of range")
            }
            let signal = try reader.i32()
            var command: CommandOutcome?
            if try reader.bool() {
                var outcome = CommandOutcome(argv: try reader.texts())
                let exited = try reader.bool()
                let status = try reader.i32()
                let signalled = try reader.bool()
                let number = try reader.i32()
                let note = try reader.text()
                outcome.exitStatus = exited ? status : nil
                outcome.signal = signalled ? number : nil
                outcome.note = note.isEmpty ? nil : note
                command = outcome
            }
            control = .stop(reason: reason, signal: signal, command: command)
        case 65: control = .reload
        default: throw MessageError(.unknownKind, kind: kind, "not a control message")
        }
        try reader.end()
        return control
    }
}

// MARK: - Decoding

/// Reads a payload's fields, each after checking that it fits.
public struct PayloadReader {
    private let kind: UInt8
    private let bytes: ArraySlice<UInt8>
    private var offset: Int

    public init(kind: UInt8, _ bytes: ArraySlice<UInt8>) {
        self.kind = kind
        self.bytes = bytes
        offset = bytes.startIndex
    }

    private var remaining: Int { bytes.endIndex - offset }

    private mutating func take(_ count: Int, _ what: String) throws(MessageError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else {
            throw MessageError(.malformed, kind: kind, "\(what) needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func u8() throws(MessageError) -> UInt8 {
        try take(1, "a byte").first!
    }

    public mutating func bool() throws(MessageError) -> Bool {
        let value = try u8()
        guard value <= 1 else { throw MessageError(.malformed, kind: kind, "a flag of \(value), not 0 or 1") }
        return value == 1
    }

    public mutating func u32() throws(MessageError) -> UInt32 {
        try take(4, "a 32-bit field").reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func i32() throws(MessageError) -> Int32 { Int32(bitPattern: try u32()) }

    public mutating func u64() throws(MessageError) -> UInt64 {
        try take(8, "a 64-bit field").reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func data() throws(MessageError) -> [UInt8] {
        let count = try u32()
        return Array(try take(Int(count), "a byte string"))
    }

    public mutating func text() throws(MessageError) -> String {
        let count = try u32()
        let raw = try take(Int(count), "a text")
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw MessageError(.malformed, kind: kind, "a text that is not UTF-8")
        }
        return text
    }

    public mutating func texts() throws(MessageError) -> [String] {
        let count = try u32()
        // Each text takes at least its 4-byte length: a count that cannot fit is a lie.
        guard Int(count) <= remaining / 4 else {
            throw MessageError(.malformed, kind: kind, "a list of \(count) texts in \(remaining) bytes")
        }
        var values: [String] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count { values.append(try text()) }
        return values
    }

    /// Checks that nothing is left over.
    public func end() throws(MessageError) {
        guard remaining == 0 else { throw MessageError(.malformed, kind: kind, "\(remaining) bytes left over") }
    }
}

/// Cuts a byte stream into messages: feed it what was read, take whole messages out.
public struct MessageFramer {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes held that are not yet a whole message.
    public var pending: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && (start == buffer.count || start >= 1 << 16) {
            // Bytes already taken out go, so the buffer holds at most one message and a read.
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next whole message (kind and payload), nil when more bytes are needed.
    ///
    /// - Throws: `MessageError.tooLong` as soon as a header claims more than
    ///   `Message.maximumPayload` bytes (nothing of such a stream can be trusted after it).
    public mutating func next() throws(MessageError) -> (kind: UInt8, payload: ArraySlice<UInt8>)? {
        guard pending >= Message.headerLength else { return nil }
        let kind = buffer[start]
        var length = 0
        for index in 1...4 { length = length << 8 | Int(buffer[start + index]) }
        guard length <= Message.maximumPayload else {
            throw MessageError(.tooLong, kind: kind, "a payload of \(length) bytes, more than \(Message.maximumPayload)")
        }
        guard pending >= Message.headerLength + length else { return nil }
        let payloadStart = start + Message.headerLength
        start = payloadStart + length
        // A slice is a value: the next append, which drops what was taken out, leaves it intact.
        return (kind, buffer[payloadStart..<start])
    }

    /// At the end of the stream: an error when it ended inside a message.
    public func finish() throws(MessageError) {
        guard pending > 0 else { return }
        let kind = buffer[start]
        throw MessageError(.truncated, kind: kind, "the stream ended \(pending) bytes into a message")
    }
}
