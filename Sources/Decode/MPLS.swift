/// One MPLS label stack entry (RFC 3032 §2.1), after an EtherType of 0x8847 (unicast) or
/// 0x8848 (multicast), or after the entry above it until one has the bottom-of-stack bit.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Label                  | TC  |S|       TTL     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Nothing in the stack says what follows it: the first nibble of the payload is read as
/// routers and Wireshark read it (4 IPv4, 6 IPv6, 0 a pseudowire control word, RFC 4385).
///
/// Valid after `init`: all 4 bytes lie before `limit.end`.
struct MPLSLabel {
    enum Field {
        static let entry = 0..<4
    }

    static let length = Field.entry.upperBound
    /// Labels followed before decoding stops with `.tooManyHeaders`.
    static let maximumCount = 8
    static let unicast: UInt16 = 0x8847
    static let multicast: UInt16 = 0x8848
    /// The S bit: this is the last entry of the stack.
    static let bottomOfStack: UInt32 = 0x100

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.mpls`) when the entry runs past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .mpls, field: "label")
        self.bytes = bytes
        self.start = start
    }

    var entry: UInt32 { bytes.uncheckedBigEndianUInt32(at: start &+ Field.entry.lowerBound) }
    /// The 20-bit label.
    var label: UInt32 { entry >> 12 }
    var isBottomOfStack: Bool { entry & Self.bottomOfStack != 0 }

    /// True for the EtherTypes of an MPLS label stack.
    @inline(__always)
    static func isMPLS(_ etherType: UInt16) -> Bool { etherType == unicast || etherType == multicast }
}
