/// Where a report's bytes go as they are made: the staging file of a report being written,
/// standard output, or memory (`ReportText`, behind every `render(...) -> String`).
public protocol ReportSink: AnyObject {
    /// Takes every byte of `bytes`, or throws why not (a full disk: the sink's own error).
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// The writer every text and JSON report is serialised through: appends are copies into a
/// buffer of a fixed `capacity`, handed to the sink each time it fills, so that a report of
/// a million violations is never held whole in memory, only as the bytes it becomes.
///
/// The first error the sink throws is kept (`failure`) and everything after it is dropped:
/// renderers write without `try`, may look at `failed` to stop early, and `finish()` throws
/// that error. `deinit` flushes nothing: a report that is not finished is not complete.
public struct ReportWriter: ~Copyable {
    /// 64 KiB: few enough system calls, small beside any report worth streaming.
    public static let defaultCapacity = 1 << 16

    private let sink: any ReportSink
    private let storage: UnsafeMutablePointer<UInt8>
    /// The most bytes held before they go to the sink; no write to the sink is larger.
    public let capacity: Int
    private var count = 0
    /// Bytes handed to the sink so far.
    public private(set) var flushed = 0
    /// The first error the sink threw; nothing has been written since.
    public private(set) var failure: (any Error)?

    /// A writer into `sink`, holding at most `capacity` bytes (at least 1) at a time.
    public init(into sink: any ReportSink, capacity: Int = defaultCapacity) {
        self.sink = sink
        self.capacity = max(1, capacity)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// True once the sink has failed: what is still appended goes nowhere.
    public var failed: Bool { failure != nil }

    public mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard var base = buffer.baseAddress, failure == nil else { return }
        var remaining = buffer.count
        while remaining > 0 {
            if count == capacity {
                flush()
                if failure != nil { return }
            }
            let piece = min(remaining, capacity - count)
            (storage + count).update(from: base, count: piece)
            count += piece
            base += piece
            remaining -= piece
        }
    }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    public mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    /// `value` in decimal.
    public mutating func append(_ value: Int) {
        append(String(value))
    }

    /// Hands what is held to the sink (nothing after a failure).
    public mutating func flush() {
        guard count > 0, failure == nil else { return }
        do {
            try sink.write(UnsafeRawBufferPointer(start: storage, count: count))
            flushed += count
        } catch {
            failure = error
        }
        count = 0
    }

    /// Flushes what is held; throws the sink's first error, if it failed.
    public mutating func finish() throws {
        flush()
        if let failure { throw failure }
    }

    /// What `body` writes, as a String (through a `ReportText`).
    public static func text(_ body: (inout ReportWriter) -> Void) -> String {
        let collected = ReportText()
        var writer = ReportWriter(into: collected)
        body(&writer)
        // A ReportText never fails.
        try? writer.finish()
        return collected.text
    }
}

/// A sink that keeps every byte in memory, for tests and the `render(...) -> String` forms.
public final class ReportText: ReportSink {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: bytes)
    }

    /// The bytes as text (valid UTF-8: every piece a report appends is).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
