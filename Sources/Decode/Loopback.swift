/// The BSD loopback header (LINKTYPE_NULL, 0, host byte order of the capturing machine)
/// and the OpenBSD loopback header (LINKTYPE_LOOP, 108, network byte order).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Address family                         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 4 bytes are inside the buffer.
struct LoopbackHeader {
    enum Field {
        static let addressFamily = 0..<4
    }

    static let length = Field.addressFamily.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.link`) when fewer than 4 bytes were captured.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(DecodeError) {
        try checkLength(start: start, limit: Limit(capture: bytes), length: Self.length, layer: .link, field: "address family")
        self.bytes = bytes
        self.start = start
    }

    /// The address family in network byte order (LINKTYPE_LOOP).
    var networkOrderFamily: UInt32 { bytes.uncheckedBigEndianUInt32(at: start &+ Field.addressFamily.lowerBound) }

    /// The address family written in the capturing host's byte order (LINKTYPE_NULL). The
    /// file does not say which order that was; address families are small, so a value
    /// with any of its upper 16 bits set was written the other way round.
    var hostOrderFamily: UInt32 {
        let value = networkOrderFamily
        return value & 0xFFFF_0000 != 0 ? value.byteSwapped : value
    }

    /// What an address family value announces: 4, 6, or 0 for anything else.
    static func ipVersion(forFamily family: UInt32) -> UInt8 {
        switch family {
        case 2: 4  // AF_INET everywhere
        case 24, 28, 30: 6  // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
        default: 0
        }
    }
}
