import Foundation

/// Assembles pcap and pcapng bytes for tests, in either byte order: the one builder of
/// capture files every suite uses (readers, replay, read-ahead, accounting).
public struct ByteWriter: Sendable {
    public var bytes: [UInt8] = []
    public var bigEndian: Bool

    public init(bigEndian: Bool = false) {
        self.bigEndian = bigEndian
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func u16(_ value: UInt16) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    public mutating func u32(_ value: UInt32) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    public mutating func u64(_ value: UInt64) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    public mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}

/// A pcapng option: code and value.
public struct Option: Sendable {
    public var code: UInt16
    public var value: [UInt8]

    public init(code: UInt16, value: [UInt8]) {
        self.code = code
        self.value = value
    }

    public static func name(_ text: String) -> Option { Option(code: 2, value: Array(text.utf8)) }
    public static func description(_ text: String) -> Option { Option(code: 3, value: Array(text.utf8)) }
    public static func tsresol(_ byte: UInt8) -> Option { Option(code: 9, value: [byte]) }
    public static func tsoffset(_ seconds: Int64, bigEndian: Bool) -> Option {
        var writer = ByteWriter(bigEndian: bigEndian)
        writer.u64(UInt64(bitPattern: seconds))
        return Option(code: 14, value: writer.bytes)
    }
}

public enum PcapngBytes {
    /// A general block: type, total length, body (padded), total length.
    public static func block(type: UInt32, bigEndian: Bool, body: [UInt8]) -> [UInt8] {
        var padded = body
        while padded.count % 4 != 0 { padded.append(0) }
        var writer = ByteWriter(bigEndian: bigEndian)
        let length = UInt32(12 + padded.count)
        writer.u32(type)
        writer.u32(length)
        writer.raw(padded)
        writer.u32(length)
        return writer.bytes
    }

    public static func options(_ options: [Option], bigEndian: Bool) -> [UInt8] {
        guard !options.isEmpty else { return [] }
        var writer = ByteWriter(bigEndian: bigEndian)
        for option in options {
            writer.u16(option.code)
            writer.u16(UInt16(option.value.count))
            writer.raw(option.value)
            writer.pad()
        }
        writer.u32(0)  // opt_endofopt
        return writer.bytes
    }

    public static func shb(bigEndian: Bool = false, major: UInt16 = 1, minor: UInt16 = 0, options: [Option] = []) -> [UInt8] {
        var body = ByteWriter(bigEndian: bigEndian)
        body.u32(0x1A2B_3C4D)
        body.u16(major)
        body.u16(minor)
        body.u64(UInt64.max)
        body.raw(self.options(options, bigEndian: bigEndian))
        return block(type: 0x0A0D_0D0A, bigEndian: bigEndian, body: body.bytes)
    }

    public static func idb(bigEndian: Bool = false, linkType: UInt16, snapLength: UInt32 = 0, options: [Option] = [])
        -> [UInt8]
    {
        var body = ByteWriter(bigEndian: bigEndian)
        body.u16(linkType)
        body.u16(0)
        body.u32(snapLength)
        body.raw(self.options(options, bigEndian: bigEndian))
        return block(type: 1, bigEndian: bigEndian, body: body.bytes)
    }

    public static func epb(
        bigEndian: Bool = false, interface: UInt32, timestamp: UInt64, data: [UInt8],
        originalLength: UInt32? = nil, capturedLength: UInt32? = nil
    ) -> [UInt8] {
        var body = ByteWriter(bigEndian: bigEndian)
        body.u32(interface)
        body.u32(UInt32(truncatingIfNeeded: timestamp >> 32))
        body.u32(UInt32(truncatingIfNeeded: timestamp))
        body.u32(capturedLength ?? UInt32(data.count))
        body.u32(originalLength ?? UInt32(data.count))
        body.raw(data)
        body.pad()
        return block(type: 6, bigEndian: bigEndian, body: body.bytes)
    }

    public static func spb(bigEndian: Bool = false, originalLength: UInt32, data: [UInt8]) -> [UInt8] {
        var body = ByteWriter(bigEndian: bigEndian)
        body.u32(originalLength)
        body.raw(data)
        return block(type: 3, bigEndian: bigEndian, body: body.bytes)
    }
}

public enum PcapBytes {
    public struct Record: Sendable {
        public var seconds: UInt32
        public var fraction: UInt32
        public var data: [UInt8]
        public var originalLength: UInt32? = nil
        public var capturedLength: UInt32? = nil

        public init(seconds: UInt32, fraction: UInt32, data: [UInt8], originalLength: UInt32? = nil, capturedLength: UInt32? = nil) {
            self.seconds = seconds
            self.fraction = fraction
            self.data = data
            self.originalLength = originalLength
            self.capturedLength = capturedLength
        }
    }

    public static func header(bigEndian: Bool, nanoseconds: Bool, linkType: UInt32 = 1, snapLength: UInt32 = 65535)
        -> [UInt8]
    {
        var writer = ByteWriter(bigEndian: bigEndian)
        writer.u32(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        writer.u16(2)
        writer.u16(4)
        writer.u32(0)
        writer.u32(0)
        writer.u32(snapLength)
        writer.u32(linkType)
        return writer.bytes
    }

    public static func record(bigEndian: Bool, _ record: Record) -> [UInt8] {
        var writer = ByteWriter(bigEndian: bigEndian)
        writer.u32(record.seconds)
        writer.u32(record.fraction)
        writer.u32(record.capturedLength ?? UInt32(record.data.count))
        writer.u32(record.originalLength ?? UInt32(record.data.count))
        writer.raw(record.data)
        return writer.bytes
    }

    public static func file(
        bigEndian: Bool, nanoseconds: Bool, linkType: UInt32 = 1, snapLength: UInt32 = 65535, records: [Record]
    ) -> [UInt8] {
        var bytes = header(bigEndian: bigEndian, nanoseconds: nanoseconds, linkType: linkType, snapLength: snapLength)
        for item in records { bytes += record(bigEndian: bigEndian, item) }
        return bytes
    }
}

