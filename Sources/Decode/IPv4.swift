/// An IPv4 header (RFC 791 §3.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |Flags|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options                    |    Padding    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: the 20 fixed bytes lie before the limit `init` was given. The options
/// (`headerLength - 20` bytes) are not checked by `init`; `checkOptions(limit:)` does that.
struct IPv4Header {
    enum Field {
        static let versionAndIHL = 0
        static let typeOfService = 1
        static let totalLength = 2..<4
        static let identification = 4..<6
        static let flagsAndFragmentOffset = 6..<8
        static let timeToLive = 8
        static let protocolNumber = 9
        static let checksum = 10..<12
        static let sourceAddress = 12..<16
        static let destinationAddress = 16..<20
    }

    static let minimumLength = Field.destinationAddress.upperBound

    /// The More Fragments bit of the flags-and-offset field.
    static let moreFragmentsFlag: UInt16 = 0x2000
    static let fragmentOffsetMask: UInt16 = 0x1FFF

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Parameter limit: the end of the bytes the packet may occupy: the capture's, or the
    ///   end of the tunnel payload that carries it.
    /// - Throws: `.tooShort` (layer `.ipv4`) when the 20 fixed bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.minimumLength, layer: .ipv4, field: "header")
        self.bytes = bytes
        self.start = start
    }

    var version: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.versionAndIHL) >> 4 }
    /// IHL in bytes (0...60); at least 20 in a valid header.
    var headerLength: Int { Int(bytes.uncheckedUInt8(at: start &+ Field.versionAndIHL) & 0x0F) &* 4 }
    var totalLength: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.totalLength.lowerBound) }
    var identification: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.identification.lowerBound) }
    var moreFragments: Bool {
        bytes.uncheckedBigEndianUInt16(at: start &+ Field.flagsAndFragmentOffset.lowerBound) & Self.moreFragmentsFlag
            != 0
    }
    /// Fragment offset in bytes (the field counts 8-byte units; at most 8191 * 8).
    var fragmentOffset: UInt32 {
        UInt32(
            bytes.uncheckedBigEndianUInt16(at: start &+ Field.flagsAndFragmentOffset.lowerBound)
                & Self.fragmentOffsetMask) &* 8
    }
    var protocolNumber: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.protocolNumber) }
    var source: IPAddress { bytes.uncheckedIPv4Address(at: start &+ Field.sourceAddress.lowerBound) }
    var destination: IPAddress { bytes.uncheckedIPv4Address(at: start &+ Field.destinationAddress.lowerBound) }

    /// Checks that the whole header, options included, lies before `limit.end`.
    /// - Throws: `.tooShort` (layer `.ipv4`, field "ihl").
    @inline(__always)
    func checkOptions(limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: headerLength, layer: .ipv4, field: "ihl")
    }
}
