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

/// A Geneve header (RFC 8926 §3.4), the 8 bytes after a UDP header to port 6081, followed by
/// `optionsLength` bytes of options and then the packet of its protocol type.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Virtual Network Identifier (VNI)       |    Reserved   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                    Variable-Length Options                    ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Opt Len counts 4-byte words (up to 252 bytes of options). The O (control message) and C
/// (critical options) bits change nothing here: the options are skipped whole, never read.
///
/// Valid after `init`: the 8 fixed bytes lie before `limit.end`. The options are not
/// checked by `init`; `checkOptions(limit:)` does that.
struct GeneveHeader {
    enum Field {
        static let versionAndOptionsLength = 0
        static let flags = 1
        static let protocolType = 2..<4
        static let networkIdentifier = 4..<7
        static let reserved = 7
        static let options = 8
    }

    static let minimumLength = Field.options
    /// The UDP destination port IANA assigned to Geneve.
    static let port: UInt16 = 6081

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.geneve`) when the 8 fixed bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.minimumLength, layer: .geneve, field: "header")
        self.bytes = bytes
        self.start = start
    }

    /// The 2-bit version: 0 is the only one RFC 8926 defines (a tunnel endpoint drops others).
    var version: UInt8 { bytes.uncheckedUInt8(at: start &+ Field.versionAndOptionsLength) >> 6 }
    /// The EtherType of the payload (0x6558 for an Ethernet frame).
    var protocolType: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.protocolType.lowerBound) }
    /// The 24-bit Virtual Network Identifier.
    var networkIdentifier: UInt32 { bytes.uncheckedBigEndianUInt32(at: start &+ Field.networkIdentifier.lowerBound) >> 8 }

    /// The header's length in bytes, options included: 8 + 4 × Opt Len (8 to 260).
    var length: Int {
        Self.minimumLength &+ Int(bytes.uncheckedUInt8(at: start &+ Field.versionAndOptionsLength) & 0x3F) &* 4
    }

    /// Checks that the options lie before `limit.end`.
    /// - Throws: `.tooShort` (layer `.geneve`, field "options").
    @inline(__always)
    func checkOptions(limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: length, layer: .geneve, field: "options")
    }
}

/// WCCP's redirect header (draft-wilson-wrec-wccp-v2 §4.12, draft-mclaggan-wccp-v2rev1 §4.12):
/// the 4 bytes WCCPv2 puts between a GRE header of protocol type 0x883E and the redirected
/// IP packet.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Flags (D, A) |  Service ID   |  Alt Bucket   |  Pri Bucket   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// D says the service is dynamic, A that the alternative bucket was used; none of it
/// says anything about the packet, so only the header's length matters here.
///
/// WCCPv1 (and some WCCPv2 routers) send 0x883E with no redirect header, the IP packet
/// right after GRE. Nothing in GRE says which: like Wireshark's GRE dissector, a payload
/// whose first nibble is 4 is taken to be the IPv4 packet itself, anything else to start
/// with the redirect header (whose first byte, flags with reserved high bits, has 0 there).
///
/// Valid after `init`: all 4 bytes lie before `limit.end`.
struct WCCPRedirectHeader {
    enum Field {
        static let flags = 0
        static let serviceID = 1
        static let alternativeBucket = 2
        static let primaryBucket = 3
    }

    static let length = 4
    /// The GRE protocol type of WCCP-redirected packets.
    static let greProtocolType: UInt16 = 0x883E

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.gre`) when the 4 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .gre, field: "wccp redirect header")
        self.bytes = bytes
        self.start = start
    }

    /// Where the redirected IP packet starts in a GRE payload at `start` of protocol type
    /// 0x883E: at `start` when its first nibble is 4 (no redirect header), else after the
    /// redirect header.
    /// - Throws: `.tooShort` (layer `.gre`) when the payload is empty or the redirect header
    ///   runs past `limit.end`.
    @inline(__always)
    static func packetOffset(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) -> Int {
        try checkLength(start: start, limit: limit, length: 1, layer: .gre, field: "wccp payload")
        // start + 1 <= limit.end <= count was just checked.
        guard bytes.uncheckedUInt8(at: start) >> 4 != 4 else { return start }
        _ = try WCCPRedirectHeader(bytes, at: start, limit: limit)
        return start &+ length  // the 4 bytes lie before limit.end
    }
}

/// The ERSPAN headers (draft-foschiano-erspan-03) after a GRE header, followed by the
/// mirrored Ethernet frame. Type II and type III carry a 10-bit session ID, the switch's
/// name for the mirror session, and the VLAN the frame was mirrored from.
enum ERSPAN {
    /// GRE protocol type of ERSPAN type I (no sequence number, no ERSPAN header) and type II
    /// (sequence number present).
    static let typeIIProtocolType: UInt16 = 0x88BE
    /// GRE protocol type of ERSPAN type III.
    static let typeIIIProtocolType: UInt16 = 0x22EB
}

/// The first 4 bytes, laid out alike in types II and III: Ver, VLAN, COS, 3 bits of flags,
/// Session ID. Read only after the conforming view's `init` checked its length.
protocol ERSPANHeader {
    var bytes: UnsafeRawBufferPointer { get }
    var start: Int { get }
}

extension ERSPANHeader {
    /// The 4-bit version: 1 for type II, 2 for type III.
    var version: UInt8 { bytes.uncheckedUInt8(at: start) >> 4 }
    /// The 12-bit VLAN the frame was mirrored from (0: none).
    var vlan: UInt16 { bytes.uncheckedBigEndianUInt16(at: start) & 0x0FFF }
    /// The 10-bit session ID.
    var sessionID: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ 2) & 0x03FF }

    /// - Throws: `.invalidField` (layer `.erspan`, field "version") unless the version is `expected`.
    @inline(__always)
    func checkVersion(_ expected: UInt8) throws(DecodeError) {
        guard version == expected else {
            throw DecodeError(code: .invalidField, layer: .erspan, offset: start, field: "version")
        }
    }
}

/// An ERSPAN type II header (draft-foschiano-erspan-03 §4.1), after a GRE header of protocol
/// type 0x88BE with its sequence number present.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Ver  |          VLAN         | COS | En|T|    Session ID     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Reserved         |                  Index                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Valid after `init`: all 8 bytes lie before `limit.end`.
struct ERSPANTypeIIHeader: ERSPANHeader {
    enum Field {
        static let versionAndVLAN = 0..<2
        static let flagsAndSession = 2..<4
        static let reservedAndIndex = 4..<8
    }

    static let length = Field.reservedAndIndex.upperBound
    /// The Ver field of type II.
    static let version: UInt8 = 1

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.erspan`) when the 8 bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.length, layer: .erspan, field: "type II header")
        self.bytes = bytes
        self.start = start
    }
}

/// An ERSPAN type III header (draft-foschiano-erspan-03 §4.2), after a GRE header of protocol
/// type 0x22EB, with the 8-byte platform-specific subheader when O is set.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Ver  |          VLAN         | COS |BSO|T|     Session ID    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Timestamp                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             SGT               |P|    FT   |   Hw ID   |D|Gra|O|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Platform Specific SubHeader (8 octets, optional)  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// FT (frame type) 0 is an Ethernet frame; the others (IP, and reserved values) are
/// mirrored frames lanekeeper does not follow.
///
/// Valid after `init`: the 12 fixed bytes lie before `limit.end`. The subheader is not
/// checked by `init`; `checkSubheader(limit:)` does that.
struct ERSPANTypeIIIHeader: ERSPANHeader {
    enum Field {
        static let versionAndVLAN = 0..<2
        static let flagsAndSession = 2..<4
        static let timestamp = 4..<8
        static let securityGroupTag = 8..<10
        static let flags = 10..<12
        static let subheader = 12
    }

    static let minimumLength = Field.subheader
    static let subheaderLength = 8
    /// The Ver field of type III.
    static let version: UInt8 = 2
    /// The O bit: the platform-specific subheader follows.
    static let subheaderPresent: UInt16 = 0x0001
    /// The FT field's bits; FT 0 is an Ethernet frame.
    static let frameTypeMask: UInt16 = 0x7C00

    let bytes: UnsafeRawBufferPointer
    let start: Int

    /// - Throws: `.tooShort` (layer `.erspan`) when the 12 fixed bytes run past `limit.end`.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at start: Int, limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: Self.minimumLength, layer: .erspan, field: "type III header")
        self.bytes = bytes
        self.start = start
    }

    var flags: UInt16 { bytes.uncheckedBigEndianUInt16(at: start &+ Field.flags.lowerBound) }
    /// True when the mirrored frame is an Ethernet frame (FT 0).
    var isEthernet: Bool { flags & Self.frameTypeMask == 0 }

    /// The header's length in bytes: 12, or 20 with the platform-specific subheader.
    var length: Int { flags & Self.subheaderPresent != 0 ? Self.minimumLength &+ Self.subheaderLength : Self.minimumLength }

    /// Checks that the subheader, when there is one, lies before `limit.end`.
    /// - Throws: `.tooShort` (layer `.erspan`, field "platform subheader").
    @inline(__always)
    func checkSubheader(limit: Limit) throws(DecodeError) {
        try checkLength(start: start, limit: limit, length: length, layer: .erspan, field: "platform subheader")
    }
}
