#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Frames

/// Writes an evidence file in pcapng, in host byte order:
///
/// ```
/// Section Header Block   shb_userappl = "lanekeeper"
/// Interface Description  one per distinct (name, link type), added on first use:
///                        if_name (when given), if_tsresol = 9 (nanoseconds), snaplen 0
/// Enhanced Packet Block  one per frame: timestamp in ns, caplen = bytes, origlen = wire length
/// ```
///
/// Writes are buffered (1 MiB) and only ever reach the file as whole blocks: a block that
/// does not fit what is left of the buffer flushes it first, so a reader of a file that is
/// still being written (or whose writer was killed) sees whole blocks only. Every failure
/// throws a `OutputWriteError` naming the file; a failed write cuts the file back to its
/// last whole block, and the writer stays failed and throws the same error again. The file
/// is an `OutputSink` (an `OutputFile`, or one a supervisor writes): `close()` flushes, fsyncs and renames it into place and says whether
/// everything reached it; only `close()` puts it in place.
public final class PcapngWriter {
    public let path: String

    private let file: any OutputSink
    /// Bytes in the file: whole blocks only.
    private var fileLength = 0
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var interfaceIDs: [InterfaceKey: UInt32] = [:]
    private var interfaceCount: UInt32 = 0
    private var failure: OutputWriteError?
    private var isClosed = false

    private struct InterfaceKey: Hashable {
        var name: String?
        var linkType: LinkType
    }

    static let bufferSize = 1024 * 1024
    /// The most bytes of a frame written: Wireshark and libpcap reject longer packets
    /// (262144, Linux's maximum snaplen), and an evidence file must open in Wireshark.
    public static let maximumFrameLength = 262_144

    /// Creates `path` (replacing it, atomically when closed) and writes the Section Header Block.
    ///
    /// - Throws: `OutputWriteError` when the file cannot be created.
    public convenience init(path: String) throws(OutputWriteError) {
        try self.init(file: OutputFile(path: path, replace: true, staging: .hidden))
    }

    /// Writes into `file` (named by its final path in errors) and writes the Section Header
    /// Block to it at once; `close()` commits it.
    public init(file: any OutputSink) throws(OutputWriteError) {
        self.file = file
        path = file.path
        buffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
        try writeSectionHeader()
        // At once: from its first moment the file is a valid (empty) capture. (A device or
        // FIFO written in place has no file to keep valid: its first flush is the usual one.)
        if !file.isInPlace { try flush() }
    }

    /// Without `close()` the file is not put in place: an evidence file stays `FILE.partial`
    /// (with everything written), a hidden staging file is removed.
    deinit {
        if !isClosed { abandon(keep: true) }
        buffer.deallocate()
    }

    /// The interface id for frames seen on `name` with `linkType`, writing its Interface
    /// Description Block the first time the pair is used.
    ///
    /// - Throws: `OutputWriteError` when the name is longer than 65535 bytes or a write fails.
    public func interfaceID(name: String?, linkType: LinkType) throws(OutputWriteError) -> UInt32 {
        let key = InterfaceKey(name: name, linkType: linkType)
        if let id = interfaceIDs[key] { return id }
        try checkUsable()
        guard linkType.rawValue <= UInt32(UInt16.max) else {
            throw OutputWriteError(
                path: path, operation: "add interface",
                detail: "link type \(linkType.rawValue) does not fit pcapng's 16-bit field")
        }
        let nameBytes = Array((name ?? "").utf8)
        guard nameBytes.count <= Int(UInt16.max) - 3 else {
            throw OutputWriteError(
                path: path, operation: "add interface", detail: "interface name is \(nameBytes.count) bytes, too long")
        }
        // Block body: link type, reserved, snaplen, options, opt_endofopt.
        let nameOption = name == nil ? 0 : 4 + Self.padded(nameBytes.count)
        let length = 8 + 8 + nameOption + 8 + 4 + 4
        try appendBlockStart(type: Pcapng.interfaceDescriptionBlock, length: length)
        try append(UInt16(truncatingIfNeeded: linkType.rawValue))
        try append(UInt16(0))
        try append(UInt32(0))  // snaplen: unlimited
        if name != nil {
            try append(Pcapng.ifName)
            try append(UInt16(nameBytes.count))
            try append(nameBytes)
            try appendPadding(nameBytes.count)
        }
        try append(Pcapng.ifTimestampResolution)
        try append(UInt16(1))
        try append(UInt8(9))  // 10^-9 s: nanoseconds
        try appendPadding(1)
        try append(Pcapng.optionEnd)
        try append(UInt16(0))
        try append(UInt32(length))
        let id = interfaceCount
        interfaceCount += 1
        interfaceIDs[key] = id
        return id
    }

    /// Writes one frame as an Enhanced Packet Block.
    ///
    /// - Parameters:
    ///   - frameBytes: The captured bytes; only the first `maximumFrameLength` are written.
    ///   - wireLength: The frame's length on the wire; raised to `frameBytes.count` if smaller.
    ///   - timestamp: When it was captured; times before 1970 are written as 0.
    ///   - interface: An id from `interfaceID(name:linkType:)`.
    /// - Throws: `OutputWriteError` for an unknown interface or a failed write.
    public func write(
        frameBytes: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, interface: UInt32
    ) throws(OutputWriteError) {
        try checkUsable()
        guard interface < interfaceCount else {
            throw OutputWriteError(
                path: path, operation: "write a frame",
                detail: "interface id \(interface) was never added (\(interfaceCount) known)")
        }
        // Longer frames are cut to what Wireshark accepts; the wire length still says how long
        // the frame was.
        let captured = min(frameBytes.count, Self.maximumFrameLength)
        let length = 32 + Self.padded(captured)
        let nanoseconds = UInt64(max(0, timestamp.nanoseconds))
        try appendBlockStart(type: Pcapng.enhancedPacketBlock, length: length)
        try append(interface)
        try append(UInt32(truncatingIfNeeded: nanoseconds >> 32))
        try append(UInt32(truncatingIfNeeded: nanoseconds))
        try append(UInt32(captured))
        try append(UInt32(clamping: max(wireLength, frameBytes.count)))
        try append(UnsafeRawBufferPointer(rebasing: frameBytes[0..<captured]))
        try appendPadding(captured)
        try append(UInt32(length))
    }

    /// Writes a frame read from a capture, on the interface named `interfaceName` with the
    /// frame's link type.
    public func write(_ frame: Frame, interfaceName: String?) throws(OutputWriteError) {
        let id = try interfaceID(name: interfaceName, linkType: frame.linkType)
        try write(frameBytes: frame.bytes, wireLength: frame.wireLength, timestamp: frame.timestamp, interface: id)
    }

    /// Writes everything buffered to the file (whole blocks: called between blocks).
    public func flush() throws(OutputWriteError) {
        try checkUsable()
        guard used > 0 else { return }
        let pending = UnsafeRawBufferPointer(rebasing: buffer[0..<used])
        used = 0
        try writeAll(pending)
    }

    /// Flushes, fsyncs and closes the file and renames it into place. Further calls do
    /// nothing. When anything failed the file is not renamed: its staging file is kept (an
    /// evidence file's `FILE.partial`, with every whole block written) or removed (a hidden one).
    public func close() throws(OutputWriteError) {
        if isClosed { return }
        defer { isClosed = true }
        do {
            try flush()
        } catch {
            file.abandon(keep: true)
            throw error
        }
        try file.commit()
    }

    /// Closes without renaming: the staging file keeps what was written (`keep`) or is removed.
    public func abandon(keep: Bool) {
        if isClosed { return }
        if keep { try? flush() }
        isClosed = true
        file.abandon(keep: keep)
    }

    // MARK: Blocks and bytes

    /// ```
    ///  0 |                   Block Type = 0x0A0D0D0A                     |
    ///  4 |                      Block Total Length                       |
    ///  8 |                 Byte-Order Magic 0x1A2B3C4D                   |
    /// 12 |     Major Version 1           |       Minor Version 0         |
    /// 16 |              Section Length -1 (unknown, 64 bits)             |
    /// 24 | shb_userappl (4) | length 10 | "lanekeeper" + 2 pad | opt_endofopt | length
    /// ```
    private func writeSectionHeader() throws(OutputWriteError) {
        let application = Array("lanekeeper".utf8)
        let length = 24 + 4 + Self.padded(application.count) + 4 + 4
        try appendBlockStart(type: Pcapng.sectionHeaderBlock, length: length)
        try append(Pcapng.byteOrderMagic)
        try append(UInt16(1))
        try append(UInt16(0))
        try append(UInt64.max)
        try append(Pcapng.shbUserApplication)
        try append(UInt16(application.count))
        try append(application)
        try appendPadding(application.count)
        try append(Pcapng.optionEnd)
        try append(UInt16(0))
        try append(UInt32(length))
    }

    /// Starts a block of `length` bytes, flushing first unless the whole block fits the
    /// buffer (so a flush never writes part of a block).
    private func appendBlockStart(type: UInt32, length: Int) throws(OutputWriteError) {
        if Self.bufferSize - used < length { try flush() }
        try append(type)
        try append(UInt32(length))
    }

    private static func padded(_ count: Int) -> Int { (count + 3) & ~3 }

    private func appendPadding(_ count: Int) throws(OutputWriteError) {
        let padding = Self.padded(count) - count
        if padding > 0 {
            try append(UInt32(0), byteCount: padding)
        }
    }

    /// Appends an integer in host byte order (the SHB's magic tells readers which).
    private func append<T: FixedWidthInteger>(_ value: T, byteCount: Int = MemoryLayout<T>.size) throws(OutputWriteError) {
        if Self.bufferSize - used < byteCount { try flush() }
        withUnsafeBytes(of: value) { bytes in
            UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + byteCount)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<byteCount]))
        }
        used += byteCount
    }

    private func append(_ bytes: UnsafeRawBufferPointer) throws(OutputWriteError) {
        if Self.bufferSize - used < bytes.count {
            try flush()
            if bytes.count >= Self.bufferSize {
                try writeAll(bytes)
                return
            }
        }
        if bytes.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + bytes.count)]).copyMemory(from: bytes)
            used += bytes.count
        }
    }

    /// Appends a short byte array (an option value; at most 64 KiB, well under the buffer size).
    private func append(_ bytes: [UInt8]) throws(OutputWriteError) {
        precondition(bytes.count <= Self.bufferSize)
        if Self.bufferSize - used < bytes.count { try flush() }
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + source.count)]).copyMemory(from: source)
        }
        used += bytes.count
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(OutputWriteError) {
        do {
            try file.write(bytes)
            fileLength += bytes.count
        } catch {
            // Back to the last whole block that reached the file, so that readers see every
            // packet written and no torn block.
            fileLength += Self.wholeBlocks(in: bytes, upTo: file.length - fileLength)
            file.truncate(to: fileLength)
            failure = error
            throw error
        }
    }

    /// The length of the whole blocks at the start of `bytes` (which holds whole blocks, in
    /// host byte order) that end within its first `count` bytes.
    static func wholeBlocks(in bytes: UnsafeRawBufferPointer, upTo count: Int) -> Int {
        var end = 0
        while end + 8 <= count {
            let length = Int(bytes.loadUnaligned(fromByteOffset: end + 4, as: UInt32.self))
            guard length >= 12, end + length <= count else { break }
            end += length
        }
        return end
    }

    private func checkUsable() throws(OutputWriteError) {
        if let failure { throw failure }
        if isClosed {
            throw OutputWriteError(path: path, operation: "write", detail: "the writer is closed")
        }
    }
}
