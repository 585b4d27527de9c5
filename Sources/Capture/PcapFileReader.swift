import Frames
import SystemCalls

/// Reads a classic pcap file (either byte order, micro- or nanosecond magic) with
/// lanekeeper's own parser, in large chunks through one reused buffer (`ChunkedInput`):
/// frames point into that buffer, nothing is allocated per packet and there is no system
/// call per packet.
///
/// ```
/// File header (24 bytes)                 Record header (16 bytes), then caplen bytes
///  0 | magic a1b2c3d4 / a1b23c4d        |  0 | seconds                          |
///  4 | major 2       | minor 4          |  4 | micro- or nanoseconds            |
///  8 | reserved (thiszone)              |  8 | captured length                  |
/// 12 | reserved (sigfigs)               | 12 | original length                  |
/// 16 | snaplen                          | 16 / packet data                     /
/// 20 | link type (+ FCS bits)           |
/// ```
///
/// The link-type word keeps the LINKTYPE number in its low 26 bits; bit 26 set means the
/// frames end with a frame check sequence of (bits 28-31) 16-bit words, which is trimmed
/// from frames captured whole.
///
/// It behaves as libpcap did for files (and its messages are libpcap's): a record whose
/// captured length exceeds 262144 bytes is `.corrupt`; one longer than the header's
/// snaplen is trimmed to it, the rest skipped; a file that ends inside a record is
/// `.cutShort`; versions 2.0-2.2 (and 2.3 with caplen > len) have the two lengths swapped.
/// Both ends carry the record's byte offset.
///
/// A classic file has one implicit interface: `interfaces` has one unnamed entry and every
/// frame has `interface == 0`.
public final class PcapFileReader: FrameSource {
    public let path: String
    public let interfaces: [CaptureInterface]

    private let input: ChunkedInput
    private let header: Header
    private var finished: ReadOutcome.End?

    /// The buffer size, and so the size of each `read(2)`.
    static let chunkSize = 256 * 1024
    /// libpcap's limit on a record's captured length (its `max_snaplen_for_dlt`).
    static let maximumCaptureLength = 262_144
    static let fileHeaderLength = 24
    static let recordHeaderLength = 16

    /// Opens a classic pcap file.
    ///
    /// - Throws: `CaptureError` `.notFound` / `.unreadable` when the file cannot be opened,
    ///   `.malformed` when its header is truncated or not a pcap header.
    public convenience init(path: String) throws(CaptureError) {
        try self.init(path: path, chunkSize: Self.chunkSize)
    }

    /// Opens a classic pcap file, reading it `chunkSize` bytes at a time (tests use small
    /// chunks to put records across chunk ends).
    package convenience init(path: String, chunkSize: Int) throws(CaptureError) {
        let file = try OpenedFile.open(path)
        try self.init(path: path, file: file, prefix: UnsafeRawBufferPointer(start: nil, count: 0), chunkSize: chunkSize)
    }

    /// Takes over an opened file, `prefix` being the bytes already read from its start.
    convenience init(path: String, file: OpenedFile, prefix: UnsafeRawBufferPointer, chunkSize: Int = PcapFileReader.chunkSize)
        throws(CaptureError)
    {
        try self.init(
            path: path,
            input: ChunkedInput(file: file, chunkSize: chunkSize, maximumRequest: Self.maximumRequest, prefix: prefix))
    }

    /// Reads a classic pcap capture held in memory (copied first); `name` stands for the
    /// path in messages.
    package convenience init(bytes: UnsafeRawBufferPointer, name: String, chunkSize: Int = PcapFileReader.chunkSize)
        throws(CaptureError)
    {
        try self.init(
            path: name, input: ChunkedInput(bytes: bytes, chunkSize: chunkSize, maximumRequest: Self.maximumRequest))
    }

    /// The longest record: its header and the largest captured length.
    static let maximumRequest = recordHeaderLength + maximumCaptureLength

    /// Reads from `input` (its first bytes the file header): a gzip-compressed file's.
    init(path: String, input: ChunkedInput) throws(CaptureError) {
        self.path = path
        self.input = input
        header = try Header.read(from: input, path: path)
        interfaces = [CaptureInterface(name: nil, linkType: header.linkType, snapLength: UInt32(header.snapLength))]
    }

    /// Reads every remaining frame; see `FrameSource.read(_:)`.
    public func read(_ body: (Frame) throws -> Void) rethrows -> ReadOutcome {
        var frames = 0
        // A local, stored back at the end: a property read per packet is an exclusivity check.
        var finished = self.finished
        defer { self.finished = finished }
        while let record = nextRecord(finished: &finished) {
            frames &+= 1
            try body(record.frame)
        }
        return ReadOutcome(frames: frames, bytesRead: input.offset, end: finished ?? .endOfFile)
    }

    /// Reads the next frames where they lie; see `FrameSource.read(into:)`.
    public func read(into records: UnsafeMutableBufferPointer<FrameRecord>) -> Int {
        precondition(records.count > 0, "read(into:) with no room for a record")
        let out = records.baseAddress.unsafelyUnwrapped  // count > 0
        var finished = self.finished
        defer { self.finished = finished }
        // The first record may need more of the file (which may move what is buffered).
        guard let first = nextRecord(finished: &finished) else { return 0 }
        out.initialize(to: first)
        // The rest: the records whole in the buffer, in one pass over it. The first that is
        // not (or that is damaged) is left for the next call, which reads it as the first.
        let header = self.header
        let input = self.input
        let window = input.cursor
        let available = input.available
        let base = input.offset
        var at = 0
        var count = 1
        while count < records.count {
            guard case .whole(let record, let length) = Self.parseRecord(at: window + at, available: available &- at, header)
            else { break }
            (out + count).initialize(to: record.placed(at: base &+ Int64(at)))
            at &+= length  // <= available - at
            count &+= 1
        }
        input.consume(at)
        recordsRead &+= count
        return count
    }

    /// How `read(into:)` ended; see `FrameSource.endOfRecords()`.
    public func endOfRecords() -> ReadOutcome {
        ReadOutcome(frames: recordsRead, bytesRead: input.offset, end: finished ?? .endOfFile)
    }

    /// Frames `read(into:)` has read.
    private var recordsRead = 0

    /// The next record, read where it lies in the buffer (reading more of the file if it is
    /// not whole there) and consumed; nil with `finished` set when the file ends (or is
    /// damaged) there.
    @inline(__always)
    private func nextRecord(finished: inout ReadOutcome.End?) -> FrameRecord? {
        guard finished == nil else { return nil }
        let offset = input.offset  // of the record (read before the cursor moves)
        var wanted = Self.recordHeaderLength
        while true {
            guard input.request(wanted) else {
                let part = wanted == Self.recordHeaderLength ? "16 header bytes" : "\(wanted - Self.recordHeaderLength) captured bytes"
                finished = endInsideRecord(at: offset, part: part, wanted: wanted)
                return nil
            }
            switch Self.parseRecord(at: input.cursor, available: input.available, header) {
            case .whole(let record, let length):
                input.consumeRequested(length)
                return record.placed(at: offset)
            case .needs(let length):
                wanted = length  // > available: the request reads more
            case .tooLong(let captured):
                finished = .corrupt(
                    offset: offset,
                    detail: "invalid packet capture length \(captured), bigger than maximum of \(Self.maximumCaptureLength)")
                return nil
            }
        }
    }

    /// What the bytes at a record's start say.
    private enum RecordParse {
        /// The whole record is there: the frame (its offset not yet set) and the record's length.
        case whole(FrameRecord, length: Int)
        /// The record is `length` bytes, more than there are.
        case needs(Int)
        /// Its captured length is more than libpcap allows: the file is damaged here.
        case tooLong(captured: Int)
    }

    /// Parses the record at `record`, `available` bytes before the buffered end.
    @inline(__always)
    private static func parseRecord(at record: UnsafeRawPointer, available: Int, _ header: Header) -> RecordParse {
        guard available >= recordHeaderLength else { return .needs(recordHeaderLength) }
        // 16 bytes are there: the header's four fields.
        let seconds = loadUInt32(record, 0, bigEndian: header.bigEndian)
        let fraction = loadUInt32(record, 4, bigEndian: header.bigEndian)
        var captured = Int(loadUInt32(record, 8, bigEndian: header.bigEndian))
        var original = Int(loadUInt32(record, 12, bigEndian: header.bigEndian))
        if header.swappedLengths(captured: captured, original: original) {
            swap(&captured, &original)
        }
        guard captured <= maximumCaptureLength else { return .tooLong(captured: captured) }
        let length = recordHeaderLength &+ captured  // captured <= 262,144
        guard available >= length else { return .needs(length) }
        var kept = min(captured, header.snapLength)
        if header.fcsLength > 0 && kept == original && kept >= header.fcsLength {
            kept &-= header.fcsLength
        }
        // At most 2^32 - 1 seconds and 2^32 - 1 microseconds or nanoseconds: the sum
        // fits an Int64 with room to spare.
        let nanoseconds = Int64(seconds) &* 1_000_000_000 &+ Int64(fraction) &* header.fractionScale
        let frame = FrameRecord(
            timestamp: Timestamp(nanoseconds: nanoseconds), linkType: header.linkType, wireLength: original,
            interface: 0, fileOffset: 0, bytes: record + recordHeaderLength, length: kept)
        return .whole(frame, length: length)
    }

    /// How a read ends when fewer than `wanted` bytes are left at `offset`: the end of the
    /// file (nothing left), or a record cut short (libpcap's wording).
    private func endInsideRecord(at offset: Int64, part: String, wanted: Int) -> ReadOutcome.End {
        let present = input.available
        if let problem = input.readErrorDescription {
            return .cutShort(offset: offset, detail: "error reading dump file: \(problem)")
        }
        if present == 0 { return .endOfFile }
        let got = wanted == Self.recordHeaderLength ? present : present - Self.recordHeaderLength
        return .cutShort(offset: offset, detail: "truncated dump file; tried to read \(part), only got \(got)")
    }

    // MARK: File header

    /// What the 24-byte file header says.
    struct Header: Equatable {
        var bigEndian: Bool
        /// 1000 for a microsecond file, 1 for a nanosecond one.
        var fractionScale: Int64
        var major: UInt16
        var minor: UInt16
        var linkType: LinkType
        /// The header's snaplen, or the maximum when it is 0 or larger (as libpcap does).
        var snapLength: Int
        /// Bytes of frame check sequence at the end of each frame (0 when the FCS bit is clear).
        var fcsLength: Int

        /// Whether a record's two lengths are stored the other way round (old writers).
        @inline(__always)
        func swappedLengths(captured: Int, original: Int) -> Bool {
            minor < 3 || (minor == 3 && captured > original)
        }

        /// Reads and consumes the file header.
        static func read(from input: ChunkedInput, path: String) throws(CaptureError) -> Header {
            guard input.request(PcapFileReader.fileHeaderLength) else {
                let present = input.available
                if let problem = input.readErrorDescription {
                    throw CaptureError(code: .unreadable, path: path, detail: "cannot read: \(problem)")
                }
                let detail =
                    present == 0
                    ? "empty file" : "bad pcap header: the file is \(present) bytes, shorter than the 24-byte pcap header"
                throw CaptureError(code: .malformed, path: path, offset: 0, detail: detail)
            }
            let header = try parse(input.window, path: path)
            input.consume(PcapFileReader.fileHeaderLength)
            return header
        }

        /// Parses the first 24 bytes of `bytes`.
        static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(CaptureError) -> Header {
            let magic = loadUInt32(bytes, 0, bigEndian: true)
            let bigEndian: Bool
            let fractionScale: Int64
            switch magic {
            case 0xA1B2_C3D4: (bigEndian, fractionScale) = (true, 1000)
            case 0xD4C3_B2A1: (bigEndian, fractionScale) = (false, 1000)
            case 0xA1B2_3C4D: (bigEndian, fractionScale) = (true, 1)
            case 0x4D3C_B2A1: (bigEndian, fractionScale) = (false, 1)
            default:
                throw CaptureError(code: .malformed, path: path, offset: 0, detail: "not a pcap file (magic \(hex32(magic)))")
            }
            let major = loadUInt16(bytes, 4, bigEndian: bigEndian)
            let minor = loadUInt16(bytes, 6, bigEndian: bigEndian)
            guard major == 2 && minor <= 4 else {
                throw CaptureError(
                    code: .malformed, path: path, offset: 4,
                    detail: "bad pcap header: unsupported pcap version \(major).\(minor) (lanekeeper reads 2.0-2.4)")
            }
            let snapLength = Int(loadUInt32(bytes, 16, bigEndian: bigEndian))
            let linkWord = loadUInt32(bytes, 20, bigEndian: bigEndian)
            let fcsLength = linkWord & 0x0400_0000 != 0 ? Int(linkWord >> 28) * 2 : 0
            return Header(
                bigEndian: bigEndian, fractionScale: fractionScale, major: major, minor: minor,
                linkType: LinkType(rawValue: linkWord & 0x03FF_FFFF),
                snapLength: snapLength == 0 || snapLength > PcapFileReader.maximumCaptureLength
                    ? PcapFileReader.maximumCaptureLength : snapLength,
                fcsLength: fcsLength)
        }
    }
}
