/// An IPv6 fixed header (RFC 8200 §3).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Traffic Class |           Flow Label                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +                         Source Address                        +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +                      Destination Address                      +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 40 bytes lie before the limit `init` was given.
struct IPv6Header {
    enum Field {
        static let versionTrafficClassFlowLabel = 0..<4
        static let payloadLength = 4..<6
        static let nextHeader = 6
        static let hopLimit = 7
        static let sourceAddress = 8..<24
        static let destinationAddress = 24..<40
    }

    static let length = Field.destinationAddress.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Parameter limit: the end of the bytes the packet may occupy: the capture's, or the
    ///   end of the tunnel payload that carries it.
    /// - Throws: `.tooShort` (layer `.ipv6`) when the 40 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .ipv6, field: "header")
        self.bytes = bytes
        self.start = start
    }

    var version: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.versionTrafficClassFlowLabel.lowerBound) >> 4 }
    var payloadLength: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.payloadLength.lowerBound) }
    var nextHeader: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.nextHeader) }
    var source: IPAddress { bytes.uncheckedIPv6Address(at: start &+ Field.sourceAddress.lowerBound) }
    var destination: IPAddress { bytes.uncheckedIPv6Address(at: start &+ Field.destinationAddress.lowerBound) }
}

/// IPv6 Next Header values the extension-header walk knows.
enum IPv6NextHeader {
    static let hopByHop: UInt8 = 0
    static let routing: UInt8 = 43
    static let fragment: UInt8 = 44
    static let authentication: UInt8 = 51
    static let noNextHeader: UInt8 = 59
    static let destinationOptions: UInt8 = 60
    /// Mobility (RFC 6275), HIP (RFC 7401), Shim6 (RFC 5533): same layout as options headers.
    static let mobility: UInt8 = 135
    static let hostIdentity: UInt8 = 139
    static let shim6: UInt8 = 140
    /// Extension headers followed before decoding stops with `.tooManyHeaders`.
    static let maximumChainLength = 16
}

/// An IPv6 extension header whose length counts 8-byte units beyond the first 8: hop-by-hop
/// options, routing, destination options (RFC 8200 §4.3–4.6), and the few later headers
/// that share the layout.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Header  |  Hdr Ext Len  |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                                                               |
/// .                                                               .
/// .                 Options / type-specific data                  .
/// .                                                               .
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: the whole header, `(Hdr Ext Len + 1) * 8` bytes, lies before `limit.end`.
struct IPv6OptionsHeader {
    enum Field {
        static let nextHeader = 0
        static let headerExtensionLength = 1
    }

    let bytes: UnsafeRawBufferPointer
    let start: Int
    /// The header's length in bytes (8...2048).
    let length: Int

    /// - Throws: `.tooShort` (layer `.ipv6Extension`) when the header runs past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        // The smallest such header is 8 bytes; that covers both fixed fields.
        try checkLength(start: start, limit: limit, length: 8, layer: .ipv6Extension, field: "extension header")
        // At most (255 + 1) * 8 = 2048: no overflow.
        let length = (Int(bytes.uncheckedUInt8(at: start &+ Field.headerExtensionLength)) &+ 1) &* 8
        try checkLength(start: start, limit: limit, length: length, layer: .ipv6Extension, field: "hdr ext len")
        self.bytes = bytes
        self.start = start
        self.length = length
    }

    var nextHeader: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.nextHeader) }
}

/// The IPv6 Fragment header (RFC 8200 §4.5).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Identification                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 8 bytes lie before `limit.end`.
struct IPv6FragmentHeader {
    enum Field {
        static let nextHeader = 0
        static let reserved = 1
        static let offsetAndFlags = 2..<4
        static let identification = 4..<8
    }

    static let length = Field.identification.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.ipv6Extension`) when the header runs past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .ipv6Extension, field: "fragment header")
        self.bytes = bytes
        self.start = start
    }

    var nextHeader: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.nextHeader) }
    /// Fragment offset in bytes: the top 13 bits count 8-byte units, so the field with its
    /// low 3 bits cleared already is the byte offset.
    var fragmentOffset: UInt32 {
        UInt32(bytes.uncheckedBigEndianUInt16(at: start &+ Field.offsetAndFlags.lowerBound) & 0xFFF8)
    }
    var moreFragments: Bool {
        bytes.uncheckedBigEndianUInt16(at: start &+ Field.offsetAndFlags.lowerBound) & 0x0001 != 0
    }
    var identification: UInt32 { bytes.uncheckedBigEndianUInt32(at: start &+ Field.identification.lowerBound) }
}

/// The IP Authentication Header (RFC 4302 §2), whose length counts 4-byte units minus 2.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Header   |  Payload Len  |          RESERVED             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Security Parameters Index (SPI)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Sequence Number Field                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                Integrity Check Value-ICV (variable)           |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: the whole header, `(Payload Len + 2) * 4` bytes, lies before `limit.end`.
struct AuthenticationHeader {
    enum Field {
        static let nextHeader = 0
        static let payloadLength = 1
        static let reserved = 2..<4
        static let securityParametersIndex = 4..<8
        static let sequenceNumber = 8..<12
    }

    static let minimumLength = Field.sequenceNumber.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int
    /// The header's length in bytes (8...1028).
    let length: Int

    /// - Throws: `.tooShort` (layer `.ipv6Extension`) when the header runs past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: 2, layer: .ipv6Extension, field: "authentication header")
        // At most (255 + 2) * 4 = 1028: no overflow. A Payload Len below 1 makes a header
        // shorter than its own fixed fields; it is still a forward step of at least 8.
        let length = (Int(bytes.uncheckedUInt8(at: start &+ Field.payloadLength)) &+ 2) &* 4
        try checkLength(start: start, limit: limit, length: length, layer: .ipv6Extension, field: "ah payload len")
        self.bytes = bytes
        self.start = start
        self.length = length
    }

    var nextHeader: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.nextHeader) }
}
