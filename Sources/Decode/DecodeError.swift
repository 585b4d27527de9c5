/// Why decoding stopped, in the shape of swift-asn1's error struct with etherparse's length
/// details: which layer, where, which field capped the length, and how many bytes were
/// needed against how many there were. Holds no references (allocation-free).
public struct DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// Fewer bytes than the header needs (a frame cut by the snaplen, or a lying length).
        case tooShort
        /// A header field holds a value that cannot be (IHL < 5, version mismatch, ...).
        case invalidField
        /// The link type is not one lanekeeper decodes.
        case unsupportedLinkType
        /// More IPv6 extension headers, VLAN tags, MPLS labels or tunnel levels than lanekeeper follows.
        case tooManyHeaders
    }

    public enum Layer: String, Hashable, Sendable {
        case link, vlan, mpls, ipv4, ipv6, ipv6Extension, tcp, udp, vxlan, geneve, gre, erspan
    }

    /// What set the end of the bytes a `.tooShort` layer had to fit in (etherparse's
    /// `LenSource`). `.capture` means the captured bytes ran out, so the frame was cut by the
    /// snaplen; the others mean a length field gave less room than the header needs.
    public enum LengthSource: Hashable, Sendable {
        /// The end of the captured bytes.
        case capture
        /// The IPv4 Total Length field.
        case ipv4TotalLength
        /// The IPv6 Payload Length field.
        case ipv6PayloadLength
        /// The UDP Length field (the room a VXLAN or Geneve header and its inner frame had).
        case udpLength
    }

    public var code: Code
    public var layer: Layer
    /// Offset of the layer's header within the frame.
    public var offset: Int
    /// Bytes the layer needed (for `.tooShort`), else 0.
    public var required: Int
    /// Bytes that were available, else 0.
    public var available: Int
    /// The header field whose value is at fault or capped the length, e.g. "ihl", "data offset".
    public var field: StaticString
    /// For `.tooShort`: what ended the room the layer had (see `LengthSource`).
    public var lengthSource: LengthSource

    public init(
        code: Code, layer: Layer, offset: Int, required: Int = 0, available: Int = 0, field: StaticString,
        lengthSource: LengthSource = .capture
    ) {
        self.code = code
        self.layer = layer
        self.offset = offset
        self.required = required
        self.available = available
        self.field = field
        self.lengthSource = lengthSource
    }

    public static func == (lhs: DecodeError, rhs: DecodeError) -> Bool {
        lhs.code == rhs.code && lhs.layer == rhs.layer && lhs.offset == rhs.offset
            && lhs.required == rhs.required && lhs.available == rhs.available
            && lhs.field.description == rhs.field.description && lhs.lengthSource == rhs.lengthSource
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(layer)
        hasher.combine(offset)
    }

    public var description: String {
        switch code {
        case .tooShort:
            let room: String
            switch lengthSource {
            case .capture:
                return "\(layer.rawValue) at offset \(offset): \(field) needs \(required) bytes, \(available) captured"
            case .ipv4TotalLength: room = "IPv4 total length"
            case .ipv6PayloadLength: room = "IPv6 payload length"
            case .udpLength: room = "UDP length"
            }
            return "\(layer.rawValue) at offset \(offset): \(field) needs \(required) bytes, \(room) leaves \(available)"
        case .invalidField:
            return "\(layer.rawValue) at offset \(offset): invalid \(field)"
        case .unsupportedLinkType:
            return "link type not decoded (\(field))"
        case .tooManyHeaders:
            return "\(layer.rawValue) at offset \(offset): too many \(field)"
        }
    }
}
