/// The source and destination ports that open both a TCP and a UDP header. Read on their
/// own so that a header cut short after its ports still yields them.
///
/// Valid after `init`: the 4 bytes lie before `limit.end`.
struct TransportPorts {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
    }

    static let length = Field.destinationPort.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (the given layer, field "ports") when the ports run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit, layer: DecodeError.Layer) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: layer, field: "ports")
        self.bytes = bytes
        self.start = start
    }

    var sourcePort: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.sourcePort.lowerBound) }
    var destinationPort: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.destinationPort.lowerBound) }
}

/// A TCP header (RFC 9293 §3.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Source Port          |       Destination Port        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Sequence Number                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Acknowledgment Number                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Data |       |C|E|U|A|P|R|S|F|                               |
/// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
/// |       |       |R|E|G|K|H|T|N|N|                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Checksum            |         Urgent Pointer        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           [Options]                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: the 20 fixed bytes lie before `limit.end`. The options
/// (`headerLength - 20` bytes) are not checked by `init`; `checkOptions(limit:)` does that.
struct TCPHeader {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
        static let sequenceNumber = 4..<8
        static let acknowledgmentNumber = 8..<12
        static let dataOffset = 12
        static let flags = 13
        static let window = 14..<16
        static let checksum = 16..<18
        static let urgentPointer = 18..<20
    }

    static let minimumLength = Field.urgentPointer.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.tcp`) when the 20 fixed bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.minimumLength, layer: .tcp, field: "header")
        self.bytes = bytes
        self.start = start
    }

    /// Data offset in bytes (0...60); at least 20 in a valid header.
    var headerLength: Int { Int(bytes.uncheckedUInt8(at: start &+ Field.dataOffset) >> 4) &* 4 }
    var flags: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.flags) }

    /// Checks that the whole header, options included, lies before `limit.end`.
    /// - Throws: `.tooShort` (layer `.tcp`, field "data offset").
    @inline(__always)
    func checkOptions(limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: headerLength, layer: .tcp, field: "data offset")
    }
}
