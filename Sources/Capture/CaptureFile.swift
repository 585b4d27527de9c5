#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// Opens capture files, choosing the reader by the file's first four bytes.
///
/// ```swift
/// var source = try CaptureFile.open(path: "trace.pcapng")
/// let outcome = source.read { frame in ... }
/// ```
public enum CaptureFile {
    /// The capture formats lanekeeper reads.
    public enum Format: Sendable, Equatable {
        /// Classic pcap: magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d (nanoseconds), either
        /// byte order.
        case pcap
        /// pcapng: a first block of type 0x0A0D0D0A.
        case pcapng
    }

    /// Opens `path` with the reader its magic number calls for: `PcapFileReader` for classic
    /// pcap, `PcapngReader` for pcapng.
    ///
    /// - Throws: `CaptureError` `.notFound` for a missing file; `.unreadable` for a directory
    ///   or a file that cannot be opened or read; `.malformed` for an empty file, a file too
    ///   short for a magic number, an unknown magic ("not a pcap or pcapng file (magic
    ///   0x…)"), or a truncated or invalid file header.
    public static func open(path: String) throws(CaptureError) -> any FrameSource {
        let file = try OpenedFile.open(path)
        var magic: UInt32 = 0
        let got = withUnsafeMutableBytes(of: &magic) { readFully(file.descriptor, $0) }
        guard got.count == 4 else {
            close(file.descriptor)
            if let code = got.error {
                throw CaptureError(code: .unreadable, path: path, detail: "cannot read: \(Errno(rawValue: code).text)")
            }
            let detail = got.count == 0 ? "empty file" : "file is too short (\(got.count) bytes) to be a capture"
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: detail)
        }
        let bigEndianMagic = UInt32(bigEndian: magic)
        if let compression = Compression(magic: bigEndianMagic) {
            return try withUnsafeBytes(of: &magic) { (prefix) throws(CaptureError) -> any FrameSource in
                try openCompressed(path: path, file: file, format: compression, prefix: prefix)
            }
        }
        switch format(magic: bigEndianMagic) {
        case .pcap:
            return try withUnsafeBytes(of: &magic) { (prefix) throws(CaptureError) -> PcapFileReader in
                try PcapFileReader(path: path, file: file, prefix: prefix)
            }
        case .pcapng:
            return try withUnsafeBytes(of: &magic) { (prefix) throws(CaptureError) -> PcapngReader in
                try PcapngReader(path: path, file: file, prefix: prefix)
            }
        case nil:
            close(file.descriptor)
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: notACaptureDetail(bigEndianMagic))
        }
    }

    /// A gzip- or zstd-compressed capture (`tcpdump -w - | gzip`, a `.pcap.gz` or
    /// `.pcapng.zst` kept to save space): decompressed as it is read, never whole in memory;
    /// the reader is chosen by the magic of the decompressed bytes, and offsets in messages
    /// are offsets in the decompressed data.
    private static func openCompressed(
        path: String, file: OpenedFile, format: Compression, prefix: UnsafeRawBufferPointer
    ) throws(CaptureError) -> any FrameSource {
        try reader(
            of: ChunkedInput(
                compressed: file, format: format, chunkSize: PcapngReader.chunkSize,
                maximumRequest: compressedMaximumRequest, prefix: prefix),
            compression: format, path: path)
    }

    /// The largest single request of a compressed capture's input (whichever format it holds).
    static let compressedMaximumRequest = max(PcapFileReader.maximumRequest, Pcapng.maximumBlockLength)

    /// The reader for the decompressed bytes of `input`, by their magic.
    private static func reader(of input: ChunkedInput, compression: Compression, path: String) throws(CaptureError)
        -> any FrameSource
    {
        guard input.request(4) else {
            if let problem = input.readErrorDescription {
                throw CaptureError(code: .malformed, path: path, offset: 0, detail: "\(compression)-compressed: \(problem)")
            }
            throw CaptureError(
                code: .malformed, path: path, offset: 0,
                detail: "\(compression)-compressed, but what it holds is \(input.available == 0 ? "empty" : "too short to be a capture")")
        }
        let inner = loadUInt32(input.window, 0, bigEndian: true)
        switch format(magic: inner) {
        case .pcap: return try PcapFileReader(path: path, input: input)
        case .pcapng: return try PcapngReader(path: path, input: input, size: nil)
        case nil:
            throw CaptureError(
                code: .malformed, path: path, offset: 0, detail: "\(compression)-compressed, but " + notACaptureDetail(inner))
        }
    }

    /// Reads a capture held in memory, classic pcap or pcapng by its first four bytes, as
    /// `open(path:)` reads a file (the same readers, the same chunked buffer, the same
    /// errors and ends). The bytes are copied, so the source outlives the buffer.
    ///
    /// ```swift
    /// var source = try CaptureFile.open(bytes: data, name: "fuzz-input")
    /// let outcome = source.read { frame in ... }
    /// ```
    /// - Parameter name: Stands for the path in `CaptureError`s and `source.path`.
    /// - Throws: `CaptureError` `.malformed`, as `open(path:)` does for the same bytes.
    public static func open(bytes: UnsafeRawBufferPointer, name: String) throws(CaptureError) -> any FrameSource {
        guard bytes.count >= 4 else {
            let detail = bytes.isEmpty ? "empty file" : "file is too short (\(bytes.count) bytes) to be a capture"
            throw CaptureError(code: .malformed, path: name, offset: 0, detail: detail)
        }
        let bigEndianMagic = loadUInt32(bytes, 0, bigEndian: true)
        if let compression = Compression(magic: bigEndianMagic) {
            return try reader(
                of: ChunkedInput(
                    compressedBytes: bytes, format: compression, chunkSize: PcapngReader.chunkSize,
                    maximumRequest: compressedMaximumRequest),
                compression: compression, path: name)
        }
        switch format(magic: bigEndianMagic) {
        case .pcap:
            return try PcapFileReader(bytes: bytes, name: name)
        case .pcapng:
            return try PcapngReader(bytes: bytes, name: name)
        case nil:
            throw CaptureError(code: .malformed, path: name, offset: 0, detail: notACaptureDetail(bigEndianMagic))
        }
    }

    /// `open(bytes:name:)` for an array.
    public static func open(bytes: [UInt8], name: String) throws(CaptureError) -> any FrameSource {
        let opened = bytes.withUnsafeBytes { raw in
            Result { () throws(CaptureError) -> any FrameSource in try open(bytes: raw, name: name) }
        }
        return try opened.get()
    }

    private static func notACaptureDetail(_ bigEndianMagic: UInt32) -> String {
        "not a pcap or pcapng file (magic \(hex32(bigEndianMagic)))"
    }

    /// The format named by a file's first four bytes, read as a big-endian number.
    public static func format(magic: UInt32) -> Format? {
        switch magic {
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1: .pcap
        case 0x0A0D_0D0A: .pcapng
        default: nil
        }
    }

    /// Reads until `buffer` is full, the file ends, or a read fails.
    private static func readFully(_ descriptor: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> (count: Int, error: Int32?) {
        let (count, failure) = SystemCalls.readFully(descriptor, buffer)
        return (count, failure?.rawValue)
    }
}
