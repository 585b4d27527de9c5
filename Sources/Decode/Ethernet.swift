/// An Ethernet II (DIX) header: two MAC addresses and the EtherType of what follows.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Destination MAC address                      |
/// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                               |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                     Source MAC address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           EtherType           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 14 bytes lie before `limit.end`.
struct EthernetHeader {
    enum Field {
        static let destination = 0..<6
        static let source = 6..<12
        static let etherType = 12..<14
    }

    static let length = Field.etherType.upperBound

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Parameter limit: the end of the bytes the frame may occupy: the capture's, or the
    ///   end of the tunnel payload that carries it.
    /// - Throws: `.tooShort` (layer `.link`) when the 14 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .link, field: "ethernet header")
        self.bytes = bytes
        self.start = start
    }

    var etherType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.etherType.lowerBound) }
}

/// The EtherTypes lanekeeper acts on.
enum EtherType {
    static let ipv4: UInt16 = 0x0800
    static let ipv6: UInt16 = 0x86DD
    /// IEEE 802.1Q customer tag.
    static let vlan: UInt16 = 0x8100
    /// IEEE 802.1ad service tag.
    static let serviceVLAN: UInt16 = 0x88A8
    /// The pre-standard QinQ TPID some switches still send.
    static let legacyQinQ: UInt16 = 0x9100

    /// True for a TPID that announces a VLAN tag.
    @inline(__always)
    static func isVLANTag(_ etherType: UInt16) -> Bool {
        etherType == vlan || etherType == serviceVLAN || etherType == legacyQinQ
    }
}

/// The four bytes of an IEEE 802.1Q / 802.1ad tag that follow its TPID (the TPID itself is
/// the preceding EtherType field).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | PCP |D|        VLAN ID        |      Encapsulated EtherType   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 4 bytes lie before `limit.end`.
struct VLANTag {
    enum Field {
        static let tci = 0..<2
        static let etherType = 2..<4
    }

    static let length = Field.etherType.upperBound
    /// Tags followed before decoding stops with `.tooManyHeaders`.
    static let maximumCount = 8

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.vlan`) when the tag runs past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .vlan, field: "vlan tag")
        self.bytes = bytes
        self.start = start
    }

    /// The 12-bit VLAN identifier.
    var vlanID: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.tci.lowerBound) & 0x0FFF }
    var etherType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.etherType.lowerBound) }
}
