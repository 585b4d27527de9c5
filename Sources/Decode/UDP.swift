/// A UDP header (RFC 768).
///
/// ```text
///  0      7 8     15 16    23 24    31
/// +--------+--------+--------+--------+
/// |     Source      |   Destination   |
/// |      Port       |      Port       |
/// +--------+--------+--------+--------+
/// |                 |                 |
/// |     Length      |    Checksum     |
/// +--------+--------+--------+--------+
/// |
/// |          data octets ...
/// +---------------- ...
/// ```
///
/// Valid after `init`: all 8 bytes lie before `limit.end`.
struct UDPHeader {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
        static let length = 4..<6
        static let checksum = 6..<8
    }

    static let length = Field.checksum.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.udp`) when the 8 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .udp, field: "header")
        self.bytes = bytes
        self.start = start
    }

    /// The UDP length field: header plus data, in bytes. 0 in IPv6 jumbograms and in
    /// segmentation-offloaded sends; values below 8 cannot be.
    var length: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.length.lowerBound) }
}
