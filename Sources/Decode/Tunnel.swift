/// A VXLAN header (RFC 7348 §5), the 8 bytes after a UDP header to port 4789, followed by
/// the inner Ethernet frame.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|R|R|R|I|R|R|R|            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                VXLAN Network Identifier (VNI) |   Reserved    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 8 bytes lie before `limit.end`.
struct VXLANHeader {
    enum Field {
        static let flags = 0
        static let reserved = 1..<4
        static let networkIdentifier = 4..<7
        static let reserved2 = 7
    }

    static let length = 8
    /// The UDP destination port IANA assigned to VXLAN.
    static let port: UInt16 = 4789
    /// The I flag: the VNI is valid. RFC 7348 requires it; Linux drops frames without it.
    static let validIdentifierFlag: UInt8 = 0x08

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.vxlan`) when the 8 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .vxlan, field: "header")
        self.bytes = bytes
        self.start = start
    }

    var flags: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.flags) }
    /// The 24-bit VXLAN Network Identifier.
    var networkIdentifier: UInt32 { bytes.uncheckedBigEndianUInt32(at: start &+ Field.networkIdentifier.lowerBound) >> 8 }
}

/// A GRE header (RFC 2784 §2.1, with the Key and Sequence Number of RFC 2890 §2), followed
/// by the packet of its protocol type.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |C|R|K|S| Reserved0       | Ver |         Protocol Type         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Checksum (optional)      |       Reserved1 (Optional)    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Key (optional)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Sequence Number (Optional)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// R is RFC 1701's Routing Present bit, which RFC 2784 retired: Linux rejects a header
/// with it set, and so does lanekeeper.
///
/// Valid after `init`: the 4 fixed bytes lie before `limit.end`. The optional fields
/// (`length - 4` bytes) are not checked by `init`; `checkOptionalFields(limit:)` does that,
/// and `key` may be read only after it.
struct GREHeader {
    enum Field {
        static let flags = 0
        static let version = 1
        static let protocolType = 2..<4
        static let optional = 4
    }

    static let minimumLength = Field.protocolType.upperBound
    /// The IP protocol number of GRE.
    static let ipProtocol: UInt8 = 47
    /// Protocol type of transparent Ethernet bridging: an Ethernet frame follows.
    static let transparentEthernetBridging: UInt16 = 0x6558

    static let checksumPresent: UInt8 = 0x80
    static let routingPresent: UInt8 = 0x40
    static let keyPresent: UInt8 = 0x20
    static let sequencePresent: UInt8 = 0x10

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.gre`) when the 4 fixed bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.minimumLength, layer: .gre, field: "header")
        self.bytes = bytes
        self.start = start
    }

    var flags: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.flags) }
    /// The 3-bit version: 0 for GRE, 1 for PPTP's enhanced GRE.
    var version: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.version) & 0x07 }
    /// The EtherType of the payload.
    var protocolType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.protocolType.lowerBound) }
    var hasKey: Bool { flags & Self.keyPresent != 0 }

    /// The header's length in bytes (4, 8, 12 or 16): each of checksum, key and sequence
    /// number adds 4.
    var length: Int {
        let present = flags & (Self.checksumPresent | Self.keyPresent | Self.sequencePresent)
        return Self.minimumLength &+ present.nonzeroBitCount &* 4
    }

    /// Checks that the whole header, optional fields included, lies before `limit.end`.
    /// - Throws: `.tooShort` (layer `.gre`, field "optional fields").
    @inline(__always)
    func checkOptionalFields(limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: length, layer: .gre, field: "optional fields")
    }

    /// The key, when `hasKey`; after the checksum word when there is one. Read only after
    /// `checkOptionalFields(limit:)`.
    var key: UInt32 {
        let offset = flags & Self.checksumPresent != 0 ? Field.optional &+ 4 : Field.optional
        return bytes.uncheckedBigEndianUInt32(at: start &+ offset)
    }
}
