import Frames

/// Decodes a frame's headers, from its link layer down to TCP/UDP, into a `DecodedPacket`.
///
/// Never traps and never reads outside `bytes`, whatever the bytes say; allocation-free.
public struct PacketDecoder: Sendable {
    public init() {}

    /// Decodes `bytes`, which start with a header of type `linkType`.
    /// - Parameters:
    ///   - bytes: the captured bytes (possibly fewer than were on the wire).
    ///   - linkType: the frame's link-layer header type.
    /// - Returns: every layer that could be decoded, with `truncated` and `stop` describing the rest.
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType) -> DecodedPacket {
        var packet = DecodedPacket()
        decode(bytes, linkType: linkType, into: &packet)
        return packet
    }

    /// As `decode(_:linkType:)`, into an existing value (reset first).
    public func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket) {
        packet = DecodedPacket()
        // Implementation: see the per-layer files (Ethernet.swift, LinuxSLL.swift, IPv4.swift, ...).
        packet.stop = DecodeError(code: .unsupportedLinkType, layer: .link, offset: 0, field: "not implemented yet")
    }
}
