#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Frames

/// Reads a classic pcap file (either byte order, micro- or nanosecond magic) through
/// libpcap, opened with nanosecond precision.
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
/// A classic file has one implicit interface: `interfaces` has one unnamed entry and every
/// frame has `interface == 0`. A last record cut short is `.cutShort`; a record whose
/// captured length is impossible is `.corrupt`. Both carry the record's byte offset.
public final class PcapFileReader: FrameSource {
    public let path: String
    public let interfaces: [CaptureInterface]

    private let handle: PcapHandle
    private let linkType: LinkType
    /// The offset of the next record (24 = just after the file header).
    private var nextOffset: Int64 = 24
    private var finished: ReadOutcome.End?

    /// Opens a classic pcap file.
    ///
    /// - Throws: `CaptureError` `.notFound` / `.unreadable` when the file cannot be opened,
    ///   `.malformed` when its header is truncated or not a pcap header.
    public init(path: String) throws(CaptureError) {
        // Open it ourselves first, for a precise not-found / unreadable / directory error.
        let file = try OpenedFile.open(path)
        close(file.descriptor)
        if file.size == 0 {
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: "empty file")
        }
        do {
            handle = try PcapHandle.openOffline(path: path)
        } catch {
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: "bad pcap header: \(error.message)")
        }
        self.path = path
        linkType = LinkType(dlt: handle.dataLink)
        let snapshot = handle.snapshot
        interfaces = [
            CaptureInterface(name: nil, linkType: linkType, snapLength: snapshot > 0 ? UInt32(snapshot) : 0)
        ]
    }

    /// Reads every remaining frame; see `FrameSource.read(_:)`.
    public func read(_ body: (Frame) throws -> Void) rethrows -> ReadOutcome {
        var frames = 0
        while true {
            if let finished {
                return ReadOutcome(frames: frames, bytesRead: nextOffset, end: finished)
            }
            let recordOffset = nextOffset
            switch handle.next() {
            case .packet(let header, let bytes):
                // The file stores seconds as an unsigned 32-bit number (good until 2106);
                // libpcap 1.10 reads it as signed, so take the low 32 bits back as unsigned.
                // libpcap shortens a record longer than the header's snaplen and skips the
                // rest, so ask it where the next record starts rather than adding caplen.
                nextOffset = handle.fileOffset ?? (recordOffset + 16 + Int64(header.captureLength))
                frames += 1
                try body(
                    Frame(
                        interface: 0,
                        timestamp: Timestamp(
                            seconds: Int64(UInt32(truncatingIfNeeded: header.seconds)),
                            fraction: header.fraction, unitsPerSecond: 1_000_000_000),
                        linkType: linkType,
                        wireLength: Int(header.wireLength),
                        bytes: bytes,
                        fileOffset: recordOffset))
            case .end:
                finished = .endOfFile
            case .timeout:
                // Cannot happen on a savefile; stop rather than spin.
                finished = .corrupt(offset: recordOffset, detail: "libpcap reported a timeout while reading a file")
            case .error(let message):
                finished = Self.classify(message, at: recordOffset)
            }
        }
    }

    /// Maps libpcap's read error text to how the read ended.
    ///
    /// - "truncated dump file; tried to read 16 header bytes, only got 7" (and the same for
    ///   captured bytes), and "error reading dump file: …": the file stops here → `.cutShort`.
    /// - "invalid packet capture length 4294967295, bigger than maximum of 262144", and
    ///   anything else → `.corrupt`.
    static func classify(_ message: String, at offset: Int64) -> ReadOutcome.End {
        if message.hasPrefix("truncated dump file") || message.hasPrefix("error reading dump file") {
            return .cutShort(offset: offset, detail: message)
        }
        return .corrupt(offset: offset, detail: message)
    }
}
