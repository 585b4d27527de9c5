import Capture
import Decode
import Frames

/// Reads a whole capture held in `bytes` (classic pcap or pcapng, by its magic) and checks
/// what the readers promise: every frame's bytes lie inside the reader's buffer (each byte
/// is read, so AddressSanitizer sees an overrun), no frame has more captured than wire
/// bytes beyond what its record says, frame offsets only grow and lie inside the input, and
/// the read ends at an offset inside the input. Each frame is decoded too, as a replay does.
/// The input is read twice: frame by frame (`read(_:)`), then in place a few records at a
/// time (`read(into:)`, as replay's batches read), each call's records checked only after
/// it returned; both reads must see the same frames and end the same way.
///
/// - Returns: -1 (do not keep the input) when its magic is not `format`'s.
public func readCapture(_ bytes: UnsafeRawBufferPointer, format: CaptureFile.Format) -> CInt {
    guard bytes.count >= 4 else { return -1 }
    let magic = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
    guard CaptureFile.format(magic: magic) == format else { return -1 }
    var source: any FrameSource
    do {
        source = try CaptureFile.open(bytes: bytes, name: "fuzz-input")
    } catch {
        if error.code != .malformed { violated("in-memory open failed with \(error.code): \(error)") }
        if error.offset.map({ $0 < 0 || $0 > Int64(bytes.count) }) == true {
            violated("error offset \(error.offset ?? 0) outside the input of \(bytes.count) bytes")
        }
        return 0
    }
    let decoder = PacketDecoder()
    var packet = DecodedPacket()
    var lastOffset: Int64 = -1
    var seen = 0
    var checksum: UInt8 = 0
    var highestInterface = -1
    func check(_ frame: Frame) {
        seen += 1
        for byte in frame.bytes { checksum &+= byte }
        if frame.fileOffset <= lastOffset || frame.fileOffset >= Int64(bytes.count) {
            violated("frame offset \(frame.fileOffset) after \(lastOffset) in \(bytes.count) bytes")
        }
        if frame.bytes.count > bytes.count || frame.wireLength < 0 {
            violated("frame of \(frame.bytes.count) captured, \(frame.wireLength) wire bytes from \(bytes.count)")
        }
        if let interface = frame.interface {
            if interface < 0 { violated("frame on interface \(interface)") }
            highestInterface = max(highestInterface, interface)
        }
        lastOffset = frame.fileOffset
        decoder.decode(frame.bytes, linkType: frame.linkType, into: &packet)
        checkDecoded(packet, count: frame.bytes.count)
    }
    func checkEnd(_ outcome: ReadOutcome, interfaces: [CaptureInterface]) {
        if highestInterface >= interfaces.count {
            violated("a frame on interface \(highestInterface) of \(interfaces.count) described")
        }
        if outcome.frames != seen { violated("outcome says \(outcome.frames) frames, \(seen) were handed on") }
        switch outcome.end {
        case .endOfFile:
            break
        case .cutShort(let offset, _), .corrupt(let offset, _):
            if offset < 0 || offset > Int64(bytes.count) { violated("end offset \(offset) outside \(bytes.count) bytes") }
        }
    }
    let outcome = source.read { check($0) }
    checkEnd(outcome, interfaces: source.interfaces)
    let byFrame = (seen, checksum, lastOffset)

    guard var inPlace = try? CaptureFile.open(bytes: bytes, name: "fuzz-input") else {
        violated("the input opened once and not twice")
    }
    (lastOffset, seen, checksum, highestInterface) = (-1, 0, 0, -1)
    let records = UnsafeMutableBufferPointer<FrameRecord>.allocate(capacity: 5)
    defer { records.deallocate() }
    while true {
        let count = inPlace.read(into: records)
        if count == 0 { break }
        for record in records[0..<min(count, records.count)] { check(record.frame) }
    }
    let inPlaceOutcome = inPlace.endOfRecords()
    checkEnd(inPlaceOutcome, interfaces: inPlace.interfaces)
    if inPlaceOutcome != outcome || (seen, checksum, lastOffset) != byFrame {
        violated("in place: \(inPlaceOutcome), \(seen) frames; frame by frame: \(outcome), \(byFrame.0)")
    }
    blackHole(checksum)
    return 0
}

/// Keeps a value alive so the loop computing it is not optimised away.
@inline(never)
public func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
