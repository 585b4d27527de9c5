#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// A capture file opened for reading, after the checks every reader shares.
struct OpenedFile {
    var descriptor: Int32
    /// The file's size when it is a regular file; nil for anything else (a FIFO, a device).
    var size: Int64?

    /// Opens `path` read-only.
    ///
    /// - Throws: `CaptureError` `.notFound` for a missing file, `.unreadable` for a
    ///   directory, a permission problem or any other failure to open.
    static func open(_ path: String) throws(CaptureError) -> OpenedFile {
        let descriptor: Int32
        do {
            descriptor = try retryingOnInterrupt { path.withCString { posixOpen($0, O_RDONLY | O_CLOEXEC) } }
        } catch {
            if error.rawValue == ENOENT || error.rawValue == ENOTDIR {
                throw CaptureError(code: .notFound, path: path, detail: "no such file")
            }
            throw CaptureError(code: .unreadable, path: path, detail: "cannot open: \(error.text)")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw CaptureError(code: .unreadable, path: path, detail: "cannot stat: \(Errno(rawValue: code).text)")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            close(descriptor)
            throw CaptureError(code: .unreadable, path: path, detail: "is a directory, not a capture file")
        }
        return OpenedFile(descriptor: descriptor, size: kind == S_IFREG ? Int64(info.st_size) : nil)
    }
}

private func posixOpen(_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32 {
    open(path, flags)
}

/// Reads a file through one reusable buffer, in large chunks (`read(2)` of up to the
/// buffer's size), so a reader can ask for "the next `n` bytes" and get a pointer into the
/// buffer without an allocation per record.
///
/// The buffer grows only when a single request is larger than it (a huge block), up to
/// `maximumRequest`; callers must check lengths against that first. Owns and closes the
/// descriptor.
///
/// It can also serve bytes held in memory (`init(bytes:capacity:maximumRequest:)`): they are
/// copied once and handed out through the same buffer, chunk by chunk, so an in-memory
/// capture goes through exactly the code a file does (records straddling chunk ends
/// included).
final class ChunkedInput {
    /// Where the bytes come from.
    private enum Origin {
        /// An open file descriptor, owned.
        case descriptor(Int32)
        /// An owned copy of the whole input, and how much of it was served.
        case memory(UnsafeMutableRawBufferPointer)
        /// Compressed data (an owned file descriptor, or -1 for bytes held in memory),
        /// decompressed as it is read.
        case compressed(Int32, any Decompressor)
    }

    private let origin: Origin
    /// For `.memory`: how many of its bytes were moved into `storage`.
    private var memoryServed = 0
    private var storage: UnsafeMutableRawBufferPointer
    /// Index in `storage` of the first unconsumed byte.
    private var start = 0
    /// Index in `storage` just past the last byte read from the file.
    private var end = 0
    /// The file offset of `storage[0]`.
    private var storageOffset: Int64 = 0
    /// True once `read(2)` returned 0 or failed.
    private(set) var reachedEnd = false
    /// The `errno` of a failed `read(2)`, if one failed.
    private(set) var readError: Int32?
    /// Why reading failed, in words: the system's reason, or what was wrong with compressed data.
    var readErrorDescription: String? {
        if case .compressed(_, let stream) = origin, let problem = stream.problem { return problem }
        return readError.map { Errno(rawValue: $0).text }
    }
    /// The largest request `request(_:)` will honour.
    let maximumRequest: Int

    /// - Parameters:
    ///   - descriptor: An open file descriptor, now owned by this object.
    ///   - capacity: The buffer size (and the size of each read).
    ///   - maximumRequest: The largest single request allowed.
    ///   - prefix: Bytes already read from the start of the file (e.g. while sniffing its
    ///     magic); they are served first.
    init(descriptor: Int32, capacity: Int, maximumRequest: Int, prefix: UnsafeRawBufferPointer) {
        origin = .descriptor(descriptor)
        self.maximumRequest = maximumRequest
        storage = .allocate(byteCount: max(capacity, prefix.count, 64), alignment: 16)
        if prefix.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: storage[0..<prefix.count]).copyMemory(from: prefix)
        }
        end = prefix.count
        #if canImport(Glibc)
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    /// Reads an opened compressed file (its `prefix`, the compressed bytes already read,
    /// first), handing out the decompressed bytes: offsets are offsets in the uncompressed
    /// data. Memory is bounded (the chunk buffer, a 64 KiB compressed buffer and the
    /// decompressor's state) whatever the ratio.
    init(compressed file: OpenedFile, format: Compression, chunkSize: Int, maximumRequest: Int, prefix: UnsafeRawBufferPointer) {
        let descriptor = file.descriptor
        origin = .compressed(descriptor, format.decompressor(prefix: prefix) { read(descriptor, $0, $1) })
        self.maximumRequest = maximumRequest
        storage = .allocate(byteCount: max(chunkSize, 64), alignment: 16)
    }

    /// Serves compressed `bytes` held in memory (copied first), decompressed as they are
    /// read, exactly as `init(compressed:...)` reads a file (the fuzzers go through this).
    init(compressedBytes bytes: UnsafeRawBufferPointer, format: Compression, chunkSize: Int, maximumRequest: Int) {
        origin = .compressed(-1, format.decompressor(copying: bytes))
        self.maximumRequest = maximumRequest
        storage = .allocate(byteCount: max(chunkSize, 64), alignment: 16)
    }

    /// Reads an opened file `chunkSize` bytes at a time; a smaller file gets a buffer its own
    /// size (plus one byte, so the end is seen in one read).
    convenience init(file: OpenedFile, chunkSize: Int, maximumRequest: Int, prefix: UnsafeRawBufferPointer) {
        self.init(
            descriptor: file.descriptor,
            capacity: file.size.map { min(Int(clamping: $0), chunkSize - 1) + 1 } ?? chunkSize,
            maximumRequest: maximumRequest, prefix: prefix)
    }

    /// Serves a copy of `bytes`, `chunkSize` bytes at a time.
    convenience init(bytes: UnsafeRawBufferPointer, chunkSize: Int, maximumRequest: Int) {
        self.init(bytes: bytes, capacity: min(bytes.count, chunkSize - 1) + 1, maximumRequest: maximumRequest)
    }

    private init(bytes: UnsafeRawBufferPointer, capacity: Int, maximumRequest: Int) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if bytes.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: copy[0..<bytes.count]).copyMemory(from: bytes)
        }
        origin = .memory(UnsafeMutableRawBufferPointer(rebasing: copy[0..<bytes.count]))
        self.maximumRequest = maximumRequest
        storage = .allocate(byteCount: max(capacity, 64), alignment: 16)
    }

    deinit {
        storage.deallocate()
        switch origin {
        case .descriptor(let descriptor): close(descriptor)
        case .compressed(let descriptor, _): if descriptor >= 0 { close(descriptor) }
        case .memory(let bytes): bytes.deallocate()
        }
    }

    /// The file offset of the next unconsumed byte.
    var offset: Int64 { storageOffset + Int64(start) }

    /// How many unconsumed bytes are buffered.
    var available: Int { end - start }

    /// The buffered, unconsumed bytes. Valid until the next `request(_:)`.
    var window: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[start..<end])
    }

    /// The first unconsumed byte, `available` bytes before the end of what is buffered:
    /// `window`'s start, without building the window (the per-record path reads a record
    /// header through it). Valid until the next `request` or `consume`.
    var cursor: UnsafeRawPointer {
        // The storage is allocated with at least 64 bytes, so its base is never nil.
        UnsafeRawPointer(storage.baseAddress.unsafelyUnwrapped) + start
    }

    /// Makes at least `count` unconsumed bytes available in `window`, reading more of the
    /// file when needed.
    ///
    /// - Returns: false when the file ends (or a read fails, see `readError`) first, or when
    ///   `count` exceeds `maximumRequest`; `available` then says what there is.
    @inline(__always)
    func request(_ count: Int) -> Bool {
        end - start >= count || refill(count)
    }

    /// `request(_:)`'s slow path: reads more of the input.
    private func refill(_ count: Int) -> Bool {
        guard !reachedEnd, count <= maximumRequest else { return false }
        if count > storage.count {
            grow(toHold: count)
        } else if storage.count - start < count || storage.count - end < min(storage.count / 4, 64 * 1024) {
            // Not enough room after the cursor, or so little that the next read would be a
            // small one: move the pending bytes to the front so the read can be large.
            compact()
        }
        while end - start < count {
            guard let base = storage.baseAddress else { return false }
            do {
                let got = try retryingOnInterrupt { fill(base + end, storage.count - end) }
                if got == 0 {
                    reachedEnd = true
                    return false
                }
                end += got
            } catch {
                readError = error.rawValue
                reachedEnd = true
                return false
            }
        }
        return true
    }

    /// Reads up to `count` bytes to `destination`: `read(2)`'s result (0 at the end, -1 with
    /// `errno` set on failure).
    private func fill(_ destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
        switch origin {
        case .descriptor(let descriptor):
            return read(descriptor, destination, count)
        case .memory(let bytes):
            let got = min(count, bytes.count - memoryServed)
            if got > 0, let base = bytes.baseAddress {
                destination.copyMemory(from: base + memoryServed, byteCount: got)
                memoryServed += got
            }
            return got
        case .compressed(_, let stream):
            return stream.decompress(into: destination, count)
        }
    }

    /// Marks `count` bytes (at most `available`) as used.
    func consume(_ count: Int) {
        precondition(count >= 0 && count <= end - start, "consumed more than was buffered")
        start += count
    }

    /// `consume` of bytes a successful `request(count)` has just made available: the
    /// per-record path, checked in debug builds only.
    @inline(__always)
    func consumeRequested(_ count: Int) {
        assert(count >= 0 && count <= end - start, "consumed more than was requested")
        start &+= count
    }

    /// Moves the unconsumed bytes to the front of the buffer.
    private func compact() {
        guard start > 0, let base = storage.baseAddress else { return }
        let count = end - start
        if count > 0 {
            memmove(base, base + start, count)
        }
        storageOffset += Int64(start)
        start = 0
        end = count
    }

    /// Replaces the buffer with one big enough for `count` bytes from the cursor.
    private func grow(toHold count: Int) {
        let newCapacity = min(max(count, storage.count.multipliedReportingOverflow(by: 2).partialValue), maximumRequest)
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(newCapacity, count), alignment: 16)
        let pending = end - start
        if pending > 0 {
            UnsafeMutableRawBufferPointer(rebasing: bigger[0..<pending])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<end]))
        }
        storage.deallocate()
        storage = bigger
        storageOffset += Int64(start)
        start = 0
        end = pending
    }
}

// MARK: Unchecked loads

// These read a fixed-width integer at `offset` without a bounds check in release builds:
// every caller has checked the block or header length first (see the layout diagrams).

@inline(__always)
func loadUInt16(_ bytes: UnsafeRawBufferPointer, _ offset: Int, bigEndian: Bool) -> UInt16 {
    assert(offset >= 0 && offset + 2 <= bytes.count)
    let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    return bigEndian ? UInt16(bigEndian: value) : UInt16(littleEndian: value)
}

@inline(__always)
func loadUInt32(_ bytes: UnsafeRawBufferPointer, _ offset: Int, bigEndian: Bool) -> UInt32 {
    assert(offset >= 0 && offset + 4 <= bytes.count)
    return loadUInt32(UnsafeRawPointer(bytes.baseAddress.unsafelyUnwrapped), offset, bigEndian: bigEndian)
}

/// As the buffer form, through a pointer whose `offset + 4` bytes the caller has checked
/// are buffered (the per-record paths, which do not build a buffer per record).
@inline(__always)
func loadUInt32(_ pointer: UnsafeRawPointer, _ offset: Int, bigEndian: Bool) -> UInt32 {
    let value = pointer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    return bigEndian ? UInt32(bigEndian: value) : UInt32(littleEndian: value)
}

@inline(__always)
func loadUInt64(_ bytes: UnsafeRawBufferPointer, _ offset: Int, bigEndian: Bool) -> UInt64 {
    assert(offset >= 0 && offset + 8 <= bytes.count)
    let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    return bigEndian ? UInt64(bigEndian: value) : UInt64(littleEndian: value)
}

/// Formats a 32-bit value as `0x%08x`.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

