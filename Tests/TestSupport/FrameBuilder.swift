import Decode
import Frames

/// Builds real-looking frames for tests (the one frame builder of every suite): Ethernet (optionally tagged), SLL2,
/// or raw IP; IPv4 or IPv6; TCP or UDP; IPv4 fragments. Checksums are left zero (nothing
/// in lanekeeper verifies them).
public enum FrameBuilder {
    public enum Link {
        case ethernet(vlans: [(tpid: UInt16, id: UInt16)])
        case sll2(ifindex: Int32)
        case sll
        case raw
    }

    public static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    public static func addressBytes(_ text: String) -> [UInt8] {
        let address = IPAddress(text)!
        if address.isIPv4 { return be32(address.ipv4Value) }
        var out: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((address.high >> UInt64(shift)) & 0xff)) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((address.low >> UInt64(shift)) & 0xff)) }
        return out
    }

    /// A TCP segment (20-byte header) or UDP datagram carrying `payload` bytes.
    public static func transport(_ ipProtocol: UInt8, sourcePort: UInt16, destinationPort: UInt16, flags: UInt8, payload: Int) -> [UInt8] {
        let body = [UInt8](repeating: 0xab, count: payload)
        if ipProtocol == 6 {
            return be16(sourcePort) + be16(destinationPort) + be32(1) + be32(0) + [0x50, flags] + be16(65535) + [0, 0, 0, 0] + body
        }
        return be16(sourcePort) + be16(destinationPort) + be16(UInt16(8 + payload)) + [0, 0] + body
    }

    public static func ipv4(_ source: String, _ destination: String, ipProtocol: UInt8, id: UInt16 = 1,
                     fragmentOffset: Int = 0, moreFragments: Bool = false, payload: [UInt8]) -> [UInt8] {
        let flagsAndOffset = UInt16(moreFragments ? 0x2000 : 0) | UInt16(fragmentOffset / 8)
        return [0x45, 0] + be16(UInt16(20 + payload.count)) + be16(id) + be16(flagsAndOffset) + [64, ipProtocol, 0, 0]
            + addressBytes(source) + addressBytes(destination) + payload
    }

    public static func ipv6(_ source: String, _ destination: String, nextHeader: UInt8, payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(payload.count)) + [nextHeader, 64] + addressBytes(source) + addressBytes(destination) + payload
    }

    public static func link(_ link: Link, etherType: UInt16, _ packet: [UInt8]) -> [UInt8] {
        switch link {
        case .ethernet(let vlans):
            var header: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]
            for tag in vlans { header += be16(tag.tpid) + be16(tag.id) }
            return header + be16(etherType) + packet
        case .sll2(let ifindex):
            return be16(etherType) + [0, 0] + be32(UInt32(bitPattern: ifindex)) + [0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]
                + packet
        case .sll:
            return [0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0] + be16(etherType) + packet
        case .raw:
            return packet
        }
    }

    /// A whole frame: link header, IP header, transport header, payload.
    public static func frame(_ link: Link = .ethernet(vlans: []), _ ipProtocol: UInt8, _ source: String, _ sourcePort: UInt16,
                      _ destination: String, _ destinationPort: UInt16, flags: UInt8 = 0x18, payload: Int = 0) -> [UInt8] {
        let segment = transport(ipProtocol, sourcePort: sourcePort, destinationPort: destinationPort, flags: flags, payload: payload)
        if source.contains(":") {
            return self.link(link, etherType: 0x86dd, ipv6(source, destination, nextHeader: ipProtocol, payload: segment))
        }
        return self.link(link, etherType: 0x0800, ipv4(source, destination, ipProtocol: ipProtocol, payload: segment))
    }

    /// A UDP datagram split into IPv4 fragments of at most `mtu` bytes of IP payload (a multiple of 8).
    public static func fragmentedUDP(_ link: Link = .ethernet(vlans: []), _ source: String, _ sourcePort: UInt16,
                              _ destination: String, _ destinationPort: UInt16, payload: Int, id: UInt16,
                              mtu: Int = 1480) -> [[UInt8]] {
        let datagram = transport(17, sourcePort: sourcePort, destinationPort: destinationPort, flags: 0, payload: payload)
        var frames: [[UInt8]] = []
        var offset = 0
        while offset < datagram.count {
            let end = min(offset + mtu, datagram.count)
            let piece = Array(datagram[offset..<end])
            frames.append(self.link(link, etherType: 0x0800,
                                    ipv4(source, destination, ipProtocol: 17, id: id, fragmentOffset: offset,
                                         moreFragments: end < datagram.count, payload: piece)))
            offset = end
        }
        return frames
    }
}
