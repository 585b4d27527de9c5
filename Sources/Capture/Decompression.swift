#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib
import CZstd
import SystemCalls

/// The compressions a capture file may be kept in, told by their first bytes.
enum Compression: String {
    /// gzip (RFC 1952), magic 1f 8b: `tcpdump -w - | gzip`, `.pcap.gz`.
    case gzip
    /// Zstandard (RFC 8878), frame magic 28 b5 2f fd: `.pcapng.zst`, which tshark also reads.
    case zstd

    /// The compression whose magic begins a file (its first four bytes, big-endian).
    init?(magic: UInt32) {
        if magic >> 16 == 0x1F8B {
            self = .gzip
        } else if magic == 0x28B5_2FFD {
            self = .zstd
        } else {
            return nil
        }
    }

    /// A decompressor reading compressed bytes from `source` (`prefix` first).
    func decompressor(prefix: UnsafeRawBufferPointer, source: @escaping (UnsafeMutableRawPointer, Int) -> Int) -> any Decompressor {
        switch self {
        case .gzip: GzipStream(prefix: prefix, source: source)
        case .zstd: ZstdStream(prefix: prefix, source: source)
        }
    }

    /// A decompressor of compressed bytes held in memory (copied, served chunk by chunk).
    func decompressor(copying bytes: UnsafeRawBufferPointer) -> any Decompressor {
        let copy = [UInt8](bytes)
        var served = 0
        return decompressor(prefix: UnsafeRawBufferPointer(start: nil, count: 0)) { destination, count in
            let got = min(count, copy.count - served)
            if got > 0 {
                copy.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress.unsafelyUnwrapped + served, byteCount: got) }
                served += got
            }
            return got
        }
    }
}

/// A compressed stream read from a source that behaves like `read(2)`: `decompress(into:_:)`
/// behaves like `read(2)` on the uncompressed data (0 at the end, -1 with `errno` set on
/// failure; for damaged or cut data EIO, with `problem` saying what was wrong). Each format
/// decompresses what its `CompressedSource` read.
protocol Decompressor: AnyObject {
    /// What was wrong with the compressed data, if something was.
    var problem: String? { get }
    /// Up to `count` uncompressed bytes into `destination`, as `read(2)` would.
    func decompress(into destination: UnsafeMutableRawPointer, _ count: Int) -> Int
}

/// What both formats share: the source of compressed bytes, the 64 KiB buffer they are read
/// into, and the problem found in them.
final class CompressedSource {
    /// Reads up to `count` compressed bytes to a destination, as `read(2)` does.
    private let source: (UnsafeMutableRawPointer, Int) -> Int
    /// Compressed bytes read from `source`.
    let input: UnsafeMutableRawBufferPointer
    /// How many bytes of `input` the first `refill()` need not read (the prefix).
    let prefilled: Int
    /// What was wrong with the compressed data, if something was.
    var problem: String?

    init(prefix: UnsafeRawBufferPointer, source: @escaping (UnsafeMutableRawPointer, Int) -> Int) {
        self.source = source
        input = .allocate(byteCount: 64 * 1024, alignment: 16)
        prefilled = min(prefix.count, input.count)
        if prefilled > 0 {
            UnsafeMutableRawBufferPointer(rebasing: input[0..<prefilled])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: prefix[0..<prefilled]))
        }
    }

    deinit {
        input.deallocate()
    }

    /// Reads the next compressed bytes into `input`: how many (0 at the end of the source),
    /// or nil with `errno` set when reading failed.
    func refill() -> Int? {
        do {
            return try retryingOnInterrupt { source(input.baseAddress.unsafelyUnwrapped, input.count) }
        } catch {
            errno = error.rawValue
            return nil
        }
    }

    /// Records `problem` and answers as `read(2)` does for what this call produced before it:
    /// those bytes, or -1 with EIO when there are none (the next call fails).
    func fail(_ problem: String, produced: Int) -> Int {
        self.problem = problem
        if produced > 0 { return produced }
        errno = EIO
        return -1
    }
}

/// A gzip (or zlib) stream. Concatenated gzip members, as `cat a.gz b.gz` makes, are read
/// one after the other.
final class GzipStream: Decompressor {
    private let compressed: CompressedSource
    private let stream: UnsafeMutablePointer<z_stream>
    private var ended = false
    /// Whether the last member ended exactly where the input stands (nothing half-read).
    private var atMemberEnd = true

    var problem: String? { compressed.problem }

    init(prefix: UnsafeRawBufferPointer, source: @escaping (UnsafeMutableRawPointer, Int) -> Int) {
        compressed = CompressedSource(prefix: prefix, source: source)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        stream.pointee.next_in = compressed.input.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(compressed.prefilled)
        if lk_inflate_init(stream) != Z_OK { compressed.problem = "cannot start zlib" }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    func decompress(into destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
        if problem != nil {
            errno = EIO
            return -1
        }
        if ended || count == 0 { return 0 }
        stream.pointee.next_out = destination.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(min(count, Int(UInt32.max)))
        let wanted = Int(stream.pointee.avail_out)
        var produced: Int { wanted - Int(stream.pointee.avail_out) }
        while stream.pointee.avail_out == UInt32(wanted) {
            if stream.pointee.avail_in == 0 {
                guard let got = compressed.refill() else { return -1 }
                if got == 0 {
                    // The file ended: inside a member it was cut short (what was inflated stands).
                    ended = true
                    if stream.pointee.total_in > 0 && !atMemberEnd {
                        return compressed.fail("the gzip data is cut short", produced: produced)
                    }
                    return 0
                }
                stream.pointee.next_in = compressed.input.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = uInt(got)
            }
            atMemberEnd = false
            let result = CZlib.inflate(stream, Z_NO_FLUSH)
            switch result {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                // A member ended; another may follow.
                atMemberEnd = true
                if inflateReset(stream) != Z_OK { return compressed.fail("cannot restart zlib", produced: 0) }
                if stream.pointee.avail_out != UInt32(wanted) { break }
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(result)"
                // What this call inflated before the damage is handed out; the next call fails.
                return compressed.fail("corrupt gzip data: \(message)", produced: produced)
            }
        }
        return produced
    }
}

/// A Zstandard stream (RFC 8878). Concatenated frames (`zstd` writes one per file; `cat`
/// and multi-threaded compressors make several) and skippable frames are read in turn. The
/// window a frame may ask for is capped at 2^27 bytes (128 MiB, zstd's own default limit),
/// so memory stays bounded whatever the file says; a frame asking for more is refused.
final class ZstdStream: Decompressor {
    private let compressed: CompressedSource
    private let stream: OpaquePointer?
    private var inputBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var ended = false
    /// Whether the last frame was completely decoded and flushed (nothing half-read).
    private var atFrameEnd = true
    private var readAny = false
    static let maximumWindowLog: Int32 = 27

    var problem: String? { compressed.problem }

    init(prefix: UnsafeRawBufferPointer, source: @escaping (UnsafeMutableRawPointer, Int) -> Int) {
        compressed = CompressedSource(prefix: prefix, source: source)
        stream = ZSTD_createDStream()
        inputBuffer = ZSTD_inBuffer(src: compressed.input.baseAddress, size: compressed.prefilled, pos: 0)
        if stream == nil || ZSTD_isError(ZSTD_initDStream(stream)) != 0
            || ZSTD_isError(ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, Self.maximumWindowLog)) != 0
        {
            compressed.problem = "cannot start zstd"
        }
    }

    deinit {
        ZSTD_freeDStream(stream)
    }

    func decompress(into destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
        if problem != nil {
            errno = EIO
            return -1
        }
        if ended || count == 0 { return 0 }
        var output = ZSTD_outBuffer(dst: destination, size: count, pos: 0)
        while output.pos == 0 {
            if inputBuffer.pos == inputBuffer.size {
                guard let got = compressed.refill() else { return -1 }
                if got == 0 {
                    ended = true
                    if readAny && !atFrameEnd { return compressed.fail("the zstd data is cut short", produced: output.pos) }
                    return 0
                }
                inputBuffer = ZSTD_inBuffer(src: compressed.input.baseAddress, size: got, pos: 0)
            }
            readAny = true
            let hint = ZSTD_decompressStream(stream, &output, &inputBuffer)
            if ZSTD_isError(hint) != 0 {
                let name = ZSTD_getErrorName(hint).map { String(cString: $0) } ?? "error \(hint)"
                return compressed.fail("corrupt zstd data: \(name)", produced: output.pos)
            }
            // 0: a frame was completely decoded and flushed; another may follow.
            atFrameEnd = hint == 0
        }
        return output.pos
    }
}
