import Frames
import SystemCalls

/// Reads a pcapng file with lanekeeper's own parser (libpcap cannot say which interface a
/// pcapng packet came from and rejects files whose interfaces have different link types).
///
/// The file is read in 4 MiB chunks into one reusable buffer; frames are handed to the
/// callback as slices of it. Every general block is checked before anything in it is read:
///
/// ```
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------------------------------------------------------+
/// |                          Block Type                           |  0
/// +---------------------------------------------------------------+
/// |                      Block Total Length                       |  4
/// +---------------------------------------------------------------+
/// /                          Block Body                           /  8
/// +---------------------------------------------------------------+
/// |                      Block Total Length                       |  length - 4
/// +---------------------------------------------------------------+
/// ```
///
/// The total length must be at least 12, a multiple of 4, at most 256 MiB, and equal to
/// its trailing copy; otherwise reading stops with `.corrupt` at the block's offset. A file
/// that ends inside a block stops with `.cutShort`. Frames already delivered stay delivered.
///
/// Interface ids in packet blocks are per section (they restart after every Section Header
/// Block); `Frame.interface` is the index into `interfaces`, which lists every interface
/// of every section in file order.
public final class PcapngReader: FrameSource {
    public let path: String
    public private(set) var interfaces: [CaptureInterface] = []

    private let input: ChunkedInput
    /// The file's size when it is a regular file: a block that claims to run past it is
    /// reported as cut short without buffering it.
    private let fileSize: Int64?
    /// What reading a block needs of the sections read so far.
    private var section = Section()
    private var pendingWarnings: [String] = []
    /// Counts of skipped blocks of unknown type, reported once per read.
    private var unknownBlocks: [UInt32: Int] = [:]
    private var simplePacketsWithoutTime = 0
    /// How the last read ended, once it has.
    private var finished: ReadOutcome.End?

    /// The buffer size, and so the size of each `read(2)`.
    static let chunkSize = 256 * 1024

    /// Opens a pcapng file and reads its first Section Header Block.
    ///
    /// - Throws: `CaptureError` `.notFound` / `.unreadable` when the file cannot be opened,
    ///   `.malformed` when it does not start with a complete, valid Section Header Block.
    public convenience init(path: String) throws(CaptureError) {
        let file = try OpenedFile.open(path)
        try self.init(path: path, file: file, prefix: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Opens a pcapng file, reading it `chunkSize` bytes at a time (tests use small chunks to
    /// put blocks across chunk ends).
    package convenience init(path: String, chunkSize: Int) throws(CaptureError) {
        let file = try OpenedFile.open(path)
        try self.init(path: path, file: file, prefix: UnsafeRawBufferPointer(start: nil, count: 0), chunkSize: chunkSize)
    }

    /// Takes over an opened file, `prefix` being the bytes already read from its start.
    convenience init(path: String, file: OpenedFile, prefix: UnsafeRawBufferPointer, chunkSize: Int = PcapngReader.chunkSize)
        throws(CaptureError)
    {
        let input = ChunkedInput(
            file: file, chunkSize: chunkSize, maximumRequest: Pcapng.maximumBlockLength, prefix: prefix)
        try self.init(path: path, input: input, size: file.size)
    }

    /// Reads a pcapng capture held in memory (copied first); `name` stands for the path in
    /// messages.
    package convenience init(bytes: UnsafeRawBufferPointer, name: String, chunkSize: Int = PcapngReader.chunkSize)
        throws(CaptureError)
    {
        let input = ChunkedInput(bytes: bytes, chunkSize: chunkSize, maximumRequest: Pcapng.maximumBlockLength)
        try self.init(path: name, input: input, size: Int64(bytes.count))
    }

    /// Reads from `input` (its first bytes a Section Header Block); `size` is the file's when
    /// known (nil for a FIFO or a gzip-compressed file's inflated bytes).
    init(path: String, input: ChunkedInput, size: Int64?) throws(CaptureError) {
        self.path = path
        self.input = input
        fileSize = size
        try readFirstSection()
    }

    /// Reads every remaining frame; see `FrameSource.read(_:)`.
    public func read(_ body: (Frame) throws -> Void) rethrows -> ReadOutcome {
        var frames = 0
        if let finished {
            return ReadOutcome(frames: frames, bytesRead: input.offset, end: finished, warnings: takeWarnings())
        }
        // A local while reading, stored back at the end: each read of a property of this
        // class per block would be a runtime exclusivity check.
        var section = self.section
        defer { self.section = section }
        var end: ReadOutcome.End? = nil
        while let frame = nextFrame(&section, end: &end) {
            frames &+= 1
            try body(frame)
        }
        let ended = end ?? .endOfFile
        finished = ended
        return ReadOutcome(frames: frames, bytesRead: input.offset, end: ended, warnings: takeWarnings())
    }

    /// Reads the next frames where they lie; see `FrameSource.read(into:)`.
    public func read(into records: UnsafeMutableBufferPointer<FrameRecord>) -> Int {
        precondition(records.count > 0, "read(into:) with no room for a record")
        guard finished == nil else { return 0 }
        let out = records.baseAddress.unsafelyUnwrapped  // count > 0
        var section = self.section
        defer { self.section = section }
        var count = 0
        while count < records.count {
            let frame: Frame
            if let whole = wholeEnhancedPacket(section) {
                frame = whole
            } else {
                // Anything else may read more of the file, and so move the bytes of the
                // frames handed out in this call: those go first.
                if count > 0 { break }
                var end: ReadOutcome.End? = nil
                guard let next = nextFrame(&section, end: &end) else {
                    finished = end ?? .endOfFile
                    break
                }
                frame = next
            }
            (out + count).initialize(to: FrameRecord(frame, bytes: frame.bytes.baseAddress ?? input.cursor))
            count &+= 1
        }
        recordsRead &+= count
        return count
    }

    /// How `read(into:)` ended; see `FrameSource.endOfRecords()`.
    public func endOfRecords() -> ReadOutcome {
        ReadOutcome(frames: recordsRead, bytesRead: input.offset, end: finished ?? .endOfFile, warnings: takeWarnings())
    }

    /// Frames `read(into:)` has read.
    private var recordsRead = 0

    /// The state of the section being read that reading a block needs.
    private struct Section {
        /// The current section's byte order.
        var bigEndian = false
        /// Index in `interfaces` of the current section's interface 0.
        var base = 0
        /// Parallel to `interfaces`: each interface's link type and clock.
        var linkTypes: [LinkType] = []
        var clocks: [InterfaceClock] = []
    }

    // MARK: Blocks

    private enum BlockRead {
        /// A whole, validated block is at the start of `input.window`.
        case block(type: UInt32, length: Int)
        case end(ReadOutcome.End)
    }

    private func readFirstSection() throws(CaptureError) {
        var section = self.section
        defer { self.section = section }
        guard input.request(4) else {
            let detail = input.available == 0 ? "empty file" : "file is too short (\(input.available) bytes) for a pcapng header"
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: detail)
        }
        let firstType = loadUInt32(input.window, 0, bigEndian: false)
        guard firstType == Pcapng.sectionHeaderBlock else {
            throw CaptureError(
                code: .malformed, path: path, offset: 0,
                detail: "not a pcapng file: the first block has type \(hex32(firstType)), not a Section Header Block")
        }
        switch nextBlock(&section) {
        case .end(let end):
            let detail: String
            switch end {
            case .endOfFile: detail = "empty file"
            case .cutShort(_, let why), .corrupt(_, let why): detail = why
            }
            throw CaptureError(code: .malformed, path: path, offset: 0, detail: "bad pcapng header: \(detail)")
        case .block(_, let length):
            if let problem = beginSection(UnsafeRawBufferPointer(rebasing: input.window[0..<length]), &section) {
                throw CaptureError(code: .malformed, path: path, offset: 0, detail: problem)
            }
            input.consume(length)
        }
    }

    /// Finds the next frame, handling every non-packet block on the way; nil with `end`
    /// set when the file ends (a plain optional: an enum carrying the frame or the end's
    /// text would be copied and released around every frame).
    private func nextFrame(_ section: inout Section, end: inout ReadOutcome.End?) -> Frame? {
        while true {
            if let frame = wholeEnhancedPacket(section) { return frame }
            let offset = input.offset
            switch nextBlock(&section) {
            case .end(let ended):
                end = ended
                return nil
            case .block(let type, let length):
                let block = UnsafeRawBufferPointer(rebasing: input.window[0..<length])
                var problem: String? = nil
                switch type {
                case Pcapng.sectionHeaderBlock:
                    problem = beginSection(block, &section)
                case Pcapng.interfaceDescriptionBlock:
                    problem = addInterface(block, at: offset, &section)
                case Pcapng.enhancedPacketBlock, Pcapng.packetBlock:
                    if let frame = packet(block, type: type, at: offset, section, problem: &problem) {
                        input.consumeRequested(length)
                        return frame
                    }
                case Pcapng.simplePacketBlock:
                    if let frame = simplePacket(block, at: offset, section, problem: &problem) {
                        input.consumeRequested(length)
                        return frame
                    }
                default:
                    if !Pcapng.isKnownSkippable(type) {
                        unknownBlocks[type, default: 0] += 1
                    }
                }
                if let problem {
                    end = .corrupt(offset: offset, detail: problem)
                    return nil
                }
                input.consume(length)
            }
        }
    }

    /// The next block in one pass when it is the common one: an Enhanced Packet Block of the
    /// current section, already whole in the buffer and valid by every check the general
    /// path (`nextBlock` then `packet`) makes. Anything else, or anything wrong with it,
    /// returns nil without consuming, and the general path reads it (and reports what is
    /// wrong): the same frames either way, at a third of the instructions a frame.
    @inline(__always)
    private func wholeEnhancedPacket(_ section: Section) -> Frame? {
        let available = input.available
        guard available >= 32 else { return nil }
        let block = input.cursor
        let bigEndian = section.bigEndian
        func field(_ offset: Int) -> Int { Int(loadUInt32(block, offset, bigEndian: bigEndian)) }
        let length = field(4)
        guard field(0) == Int(Pcapng.enhancedPacketBlock), length >= 32, length & 3 == 0, length <= available,
            field(length &- 4) == length
        else { return nil }
        let localID = field(8)
        let captured = field(20)
        guard localID < section.linkTypes.count &- section.base, captured <= length &- 32 else { return nil }
        let index = section.base &+ localID
        let high = UInt32(truncatingIfNeeded: field(12))
        let low = UInt32(truncatingIfNeeded: field(16))
        let offset = input.offset
        input.consumeRequested(length)
        return Frame(
            interface: index,
            timestamp: Timestamp(nanoseconds: section.clocks[index].nanoseconds(high: high, low: low)),
            linkType: section.linkTypes[index], wireLength: field(24),
            bytes: UnsafeRawBufferPointer(start: block + 28, count: captured), fileOffset: offset)
    }

    /// Reads and validates the next block's framing; on `.block` the whole block is buffered.
    private func nextBlock(_ section: inout Section) -> BlockRead {
        let offset = input.offset
        guard input.request(8) else {
            if input.available == 0 && input.readError == nil { return .end(.endOfFile) }
            return .end(.cutShort(offset: offset, detail: endDetail("the file ends inside a block header")))
        }
        var window = input.window
        var type = loadUInt32(window, 0, bigEndian: false)
        if type == Pcapng.sectionHeaderBlock {
            // The type is a palindrome; the byte-order magic says how to read the rest.
            guard input.request(12) else {
                return .end(.cutShort(offset: offset, detail: endDetail("the file ends inside a Section Header Block")))
            }
            window = input.window
            switch window.loadUnaligned(fromByteOffset: 8, as: UInt32.self) {
            case Pcapng.byteOrderMagic.littleEndian: section.bigEndian = false
            case Pcapng.byteOrderMagic.bigEndian: section.bigEndian = true
            case let other:
                return .end(.corrupt(
                    offset: offset,
                    detail: "Section Header Block has byte-order magic \(hex32(UInt32(bigEndian: other))), "
                        + "expected 0x1a2b3c4d"))
            }
        } else {
            type = loadUInt32(window, 0, bigEndian: section.bigEndian)
        }
        let bigEndian = section.bigEndian
        let declared = loadUInt32(window, 4, bigEndian: bigEndian)
        // Only for messages: not built for the blocks that are fine.
        var name: String { Pcapng.blockName(type) }
        guard declared >= UInt32(Pcapng.minimumBlockLength) else {
            return .end(.corrupt(offset: offset, detail: "\(name) has total length \(declared), less than the minimum 12"))
        }
        guard declared % 4 == 0 else {
            return .end(.corrupt(offset: offset, detail: "\(name) has total length \(declared), not a multiple of 4"))
        }
        guard declared <= UInt32(Pcapng.maximumBlockLength) else {
            return .end(.corrupt(
                offset: offset,
                detail: "\(name) has impossible total length \(declared) (limit \(Pcapng.maximumBlockLength))"))
        }
        let length = Int(declared)  // ≤ 256 MiB, checked above
        var fitsInFile = true
        if let fileSize { fitsInFile = offset <= fileSize && Int64(length) <= fileSize - offset }
        guard fitsInFile, input.request(length) else {
            let present = fitsInFile ? Int64(input.available) : (fileSize ?? 0) - offset
            return .end(.cutShort(
                offset: offset,
                detail: endDetail("the file ends inside a \(name) of \(length) bytes (\(present) present)")))
        }
        window = input.window
        let trailer = loadUInt32(window, length - 4, bigEndian: bigEndian)
        guard trailer == declared else {
            return .end(.corrupt(
                offset: offset,
                detail: "\(name) has total length \(declared) but its trailing copy says \(trailer)"))
        }
        return .block(type: type, length: length)
    }

    private func endDetail(_ text: String) -> String {
        guard let problem = input.readErrorDescription else { return text }
        return "\(text): read error: \(problem)"
    }

    // MARK: Section Header Block

    /// ```
    ///  0 |                   Block Type = 0x0A0D0D0A                     |
    ///  4 |                      Block Total Length                       |
    ///  8 |                      Byte-Order Magic                         |
    /// 12 |          Major Version        |         Minor Version         |
    /// 16 |                                                               |
    ///    |                          Section Length (i64, -1 = unknown)   |
    /// 24 /                      Options (variable)                       /
    ///    |                      Block Total Length                       |
    /// ```
    /// - Returns: why the block is unusable, or nil.
    private func beginSection(_ block: UnsafeRawBufferPointer, _ section: inout Section) -> String? {
        guard block.count >= 28 else {
            return "Section Header Block is \(block.count) bytes, less than the minimum 28"
        }
        let major = loadUInt16(block, 12, bigEndian: section.bigEndian)
        let minor = loadUInt16(block, 14, bigEndian: section.bigEndian)
        // Only 1.0 is defined; libpcap (tcpdump), tshark and capinfos refuse anything else.
        guard major == 1 && minor == 0 else {
            return "unsupported pcapng version \(major).\(minor) (only 1.0 is defined)"
        }
        section.base = section.linkTypes.count
        return nil
    }

    // MARK: Interface Description Block

    /// ```
    ///  0 |                    Block Type = 0x00000001                    |
    ///  4 |                      Block Total Length                       |
    ///  8 |           LinkType            |           Reserved            |
    /// 12 |                            SnapLen                            |
    /// 16 /                      Options (variable)                       /
    ///    |                      Block Total Length                       |
    /// ```
    /// Options used: `if_name` (2), `if_description` (3), `if_tsresol` (9), `if_tsoffset` (14).
    private func addInterface(_ block: UnsafeRawBufferPointer, at offset: Int64, _ section: inout Section) -> String? {
        guard block.count >= 20 else {
            return "Interface Description Block is \(block.count) bytes, less than the minimum 20"
        }
        let bigEndian = section.bigEndian
        let linkType = LinkType(rawValue: UInt32(loadUInt16(block, 8, bigEndian: bigEndian)))
        let snapLength = loadUInt32(block, 12, bigEndian: bigEndian)
        var interface = CaptureInterface(name: nil, linkType: linkType, snapLength: snapLength)
        var clock = InterfaceClock()
        let complete = forEachOption(in: block, from: 16, bigEndian: bigEndian) { code, value in
            switch code {
            case Pcapng.ifName:
                interface.name = Self.string(value)
            case Pcapng.ifDescription:
                interface.description = Self.string(value)
            case Pcapng.ifTimestampResolution where value.count >= 1:
                clock.resolution = TimestampResolution(optionByte: value[0])
            case Pcapng.ifTimestampOffset where value.count >= 8:
                clock.offsetSeconds = Int64(bitPattern: loadUInt64(value, 0, bigEndian: bigEndian))
            default:
                break
            }
        }
        if !complete {
            pendingWarnings.append(
                "Interface Description Block at byte \(offset): an option runs past the end of the block; "
                    + "ignored the options from there on")
        }
        interfaces.append(interface)
        section.linkTypes.append(linkType)
        section.clocks.append(clock)
        return nil
    }

    /// Calls `body` with each option's code and value from `start` up to the trailing length
    /// field, stopping at `opt_endofopt`.
    ///
    /// ```
    /// |      Option Code              |         Option Length         |
    /// /       Option Value (Option Length bytes, padded to 4)         /
    /// ```
    /// - Returns: false when an option's length runs past the options area.
    private func forEachOption(
        in block: UnsafeRawBufferPointer, from start: Int, bigEndian: Bool,
        _ body: (UInt16, UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        let limit = block.count - 4  // block.count ≥ start + 4 was checked by the caller
        var position = start
        while limit - position >= 4 {
            let code = loadUInt16(block, position, bigEndian: bigEndian)
            let length = Int(loadUInt16(block, position + 2, bigEndian: bigEndian))
            if code == Pcapng.optionEnd { return true }
            let valueStart = position + 4
            guard length <= limit - valueStart else { return false }
            body(code, UnsafeRawBufferPointer(rebasing: block[valueStart..<(valueStart + length)]))
            let padded = (length + 3) & ~3
            guard padded <= limit - valueStart else { return true }  // unpadded last option: tolerated
            position = valueStart + padded
        }
        return true
    }

    /// A UTF-8 option value, without the trailing NULs some writers add.
    private static func string(_ value: UnsafeRawBufferPointer) -> String {
        var count = value.count
        while count > 0 && value[count - 1] == 0 { count -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: value[0..<count]), as: UTF8.self)
    }

    // MARK: Packet blocks

    /// Enhanced Packet Block (type 6), and the obsolete Packet Block (type 2), which has a
    /// 16-bit interface id followed by a 16-bit drop count in the first word:
    ///
    /// ```
    ///  0 |                    Block Type = 0x00000006                    |
    ///  4 |                      Block Total Length                       |
    ///  8 |                         Interface ID                          |
    /// 12 |                        Timestamp (High)                       |
    /// 16 |                        Timestamp (Low)                        |
    /// 20 |                    Captured Packet Length                     |
    /// 24 |                    Original Packet Length                     |
    /// 28 /                          Packet Data  (padded to 4)           /
    ///    /                      Options (variable)                       /
    ///    |                      Block Total Length                       |
    /// ```
    /// The captured length must fit in the block (≤ total length − 32).
    /// - Returns: the frame, or nil with `problem` saying why the block is unusable.
    private func packet(
        _ block: UnsafeRawBufferPointer, type: UInt32, at offset: Int64, _ section: Section, problem: inout String?
    ) -> Frame? {
        var name: String { Pcapng.blockName(type) }
        let bigEndian = section.bigEndian
        guard block.count >= 32 else {
            problem = "\(name) is \(block.count) bytes, less than the minimum 32"
            return nil
        }
        let localID =
            type == Pcapng.packetBlock
            ? UInt32(loadUInt16(block, 8, bigEndian: bigEndian))
            : loadUInt32(block, 8, bigEndian: bigEndian)
        let sectionCount = section.linkTypes.count - section.base
        // `Int(UInt32)` cannot trap on the 64-bit platforms lanekeeper supports.
        guard Int(localID) < sectionCount else {
            problem = "\(name) names interface \(localID), but its section describes \(sectionCount) interface(s)"
            return nil
        }
        let index = section.base + Int(localID)
        let high = loadUInt32(block, 12, bigEndian: bigEndian)
        let low = loadUInt32(block, 16, bigEndian: bigEndian)
        let captured = Int(loadUInt32(block, 20, bigEndian: bigEndian))
        let original = Int(loadUInt32(block, 24, bigEndian: bigEndian))
        let room = block.count - 32
        guard captured <= room else {
            problem = "\(name) has captured length \(captured), more than the \(room) bytes the block holds"
            return nil
        }
        return Frame(
            interface: index,
            timestamp: Timestamp(nanoseconds: section.clocks[index].nanoseconds(high: high, low: low)),
            linkType: section.linkTypes[index],
            wireLength: original,
            // 28 + captured <= block.count: just checked.
            bytes: UnsafeRawBufferPointer(start: block.baseAddress.map { $0 + 28 }, count: captured),
            fileOffset: offset)
    }

    /// Simple Packet Block (type 3): a packet on the section's interface 0, with no
    /// timestamp (its frames get time 0) and no captured length of its own.
    ///
    /// ```
    ///  0 |                    Block Type = 0x00000003                    |
    ///  4 |                      Block Total Length                       |
    ///  8 |                    Original Packet Length                     |
    /// 12 /                          Packet Data  (padded to 4)           /
    ///    |                      Block Total Length                       |
    /// ```
    /// Captured length = min(original length, total length − 16, interface snaplen if not 0).
    /// - Returns: the frame, or nil with `problem` saying why the block is unusable.
    private func simplePacket(
        _ block: UnsafeRawBufferPointer, at offset: Int64, _ section: Section, problem: inout String?
    ) -> Frame? {
        guard block.count >= 16 else {
            problem = "Simple Packet Block is \(block.count) bytes, less than the minimum 16"
            return nil
        }
        guard section.linkTypes.count > section.base else {
            problem = "Simple Packet Block comes before any Interface Description Block"
            return nil
        }
        let original = Int(loadUInt32(block, 8, bigEndian: section.bigEndian))
        var captured = min(original, block.count - 16)
        let snapLength = Int(interfaces[section.base].snapLength)
        if snapLength > 0 { captured = min(captured, snapLength) }
        simplePacketsWithoutTime += 1
        return Frame(
            interface: section.base,
            timestamp: Timestamp(nanoseconds: 0),
            linkType: section.linkTypes[section.base],
            wireLength: original,
            bytes: UnsafeRawBufferPointer(rebasing: block[12..<(12 + captured)]),
            fileOffset: offset)
    }

    // MARK: Warnings

    private func takeWarnings() -> [String] {
        var warnings = pendingWarnings
        pendingWarnings = []
        for (type, count) in unknownBlocks.sorted(by: { $0.key < $1.key }) {
            warnings.append("skipped \(count) block(s) of unknown type \(hex32(type))")
        }
        unknownBlocks = [:]
        if simplePacketsWithoutTime > 0 {
            warnings.append(
                "\(simplePacketsWithoutTime) frame(s) came from Simple Packet Blocks, which carry no timestamp; "
                    + "their time is the epoch")
            simplePacketsWithoutTime = 0
        }
        for (index, interface) in interfaces.enumerated() where interface.name == nil {
            if !reportedUnnamed.contains(index) {
                reportedUnnamed.insert(index)
                warnings.append("interface \(index) (\(interface.linkType)) has no name (no if_name option)")
            }
        }
        return warnings
    }

    private var reportedUnnamed: Set<Int> = []
}
