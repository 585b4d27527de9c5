/// A Linux cooked-capture v1 header (LINKTYPE_LINUX_SLL, 113).
///
/// ```text
/// +---------------------------+
/// |         Packet type       |
/// |         (2 Octets)        |
/// +---------------------------+
/// |        ARPHRD_ type       |
/// |         (2 Octets)        |
/// +---------------------------+
/// | Link-layer address length |
/// |         (2 Octets)        |
/// +---------------------------+
/// |    Link-layer address     |
/// |         (8 Octets)        |
/// +---------------------------+
/// |        Protocol type      |
/// |         (2 Octets)        |
/// +---------------------------+
/// ```
///
/// The address length may exceed 8 (or lie outright); the address field is always 8
/// bytes, so the length is never used to find anything.
///
/// Valid after `init`: all 16 bytes are inside the buffer.
struct LinuxSLLHeader {
    enum Field {
        static let packetType = 0..<2
        static let hardwareType = 2..<4
        static let addressLength = 4..<6
        static let address = 6..<14
        static let protocolType = 14..<16
    }

    static let length = Field.protocolType.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.link`) when fewer than 16 bytes were captured.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(DecodeError) {
        try checkLength(start: start, limit: Limit(capture: bytes), length: Self.length, layer: .link, field: "sll header")
        self.bytes = bytes
        self.start = start
    }

    var packetType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.packetType.lowerBound) }
    var hardwareType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.hardwareType.lowerBound) }
    var protocolType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.protocolType.lowerBound) }
}

/// A Linux cooked-capture v2 header (LINKTYPE_LINUX_SLL2, 276).
///
/// ```text
/// +---------------------------+
/// |        Protocol type      |
/// |         (2 Octets)        |
/// +---------------------------+
/// |       Reserved (MBZ)      |
/// |         (2 Octets)        |
/// +---------------------------+
/// |       Interface index     |
/// |         (4 Octets)        |
/// +---------------------------+
/// |        ARPHRD_ type       |
/// |         (2 Octets)        |
/// +---------------------------+
/// |         Packet type       |
/// |         (1 Octet)         |
/// +---------------------------+
/// | Link-layer address length |
/// |         (1 Octet)         |
/// +---------------------------+
/// |    Link-layer address     |
/// |         (8 Octets)        |
/// +---------------------------+
/// ```
///
/// Valid after `init`: all 20 bytes are inside the buffer.
struct LinuxSLL2Header {
    enum Field {
        static let protocolType = 0..<2
        static let reserved = 2..<4
        static let interfaceIndex = 4..<8
        static let hardwareType = 8..<10
        static let packetType = 10
        static let addressLength = 11
        static let address = 12..<20
    }

    static let length = Field.address.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.link`) when fewer than 20 bytes were captured.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(DecodeError) {
        try checkLength(start: start, limit: Limit(capture: bytes), length: Self.length, layer: .link, field: "sll2 header")
        self.bytes = bytes
        self.start = start
    }

    var protocolType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.protocolType.lowerBound) }
    var interfaceIndex: Int32 {
        Int32(bitPattern: bytes.uncheckedBigEndianUInt32(at: start &+ Field.interfaceIndex.lowerBound))
    }
    var hardwareType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.hardwareType.lowerBound) }
    var packetType: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.packetType) }
}

/// ARPHRD_ values that change what the SLL protocol field means.
enum HardwareType {
    /// ARPHRD_NETLINK: the protocol field is a netlink family, not an EtherType.
    static let netlink: UInt16 = 824
}
