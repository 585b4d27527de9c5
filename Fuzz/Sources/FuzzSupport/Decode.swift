import Decode
import Frames

/// Every link type the decoder knows, and one it does not (147, DLT_USER0).
public let fuzzLinkTypes: [LinkType] = [
    .ethernet, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6, .null, .loop, LinkType(rawValue: 147),
]

/// What `PacketDecoder` promises about any decode of `count` bytes (as DecodeTests'
/// FuzzTests check): the payload range lies inside the bytes, ports only for TCP and UDP,
/// a payload only with ports, a tunnel only with both IP layers.
public func checkDecoded(_ packet: DecodedPacket, count: Int) {
    guard packet.payloadOffset >= 0, packet.payloadLength >= 0, packet.payloadOffset <= count,
        packet.payloadLength <= count - packet.payloadOffset
    else { violated("payload \(packet.payloadOffset)+\(packet.payloadLength) outside \(count) bytes") }
    guard packet.vlanCount <= 8 else { violated("\(packet.vlanCount) VLAN tags") }
    guard !packet.hasPorts || packet.ipProtocol == 6 || packet.ipProtocol == 17 else {
        violated("ports for IP protocol \(packet.ipProtocol)")
    }
    guard packet.payloadOffset == 0 || packet.hasPorts else { violated("a payload offset without ports") }
    let tunnelSane =
        packet.tunnel == .none
        ? packet.outerIPVersion == 0 && packet.tunnelID == 0
        : packet.ipVersion != 0 && packet.outerIPVersion != 0
            && (packet.outerIPProtocol == 17 || packet.outerIPProtocol == 47)
    guard tunnelSane else { violated("tunnel \(packet.tunnel) with outer IP v\(packet.outerIPVersion)") }
}

/// Decodes `bytes` as a frame of `linkType` from an exactly-sized copy (so any over-read
/// leaves the allocation) and checks the result.
public func decodeFrame(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, into packet: inout DecodedPacket) {
    let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { exact.deallocate() }
    if !bytes.isEmpty { exact.copyMemory(from: bytes) }
    PacketDecoder().decode(UnsafeRawBufferPointer(exact), linkType: linkType, into: &packet)
    checkDecoded(packet, count: bytes.count)
}
