import Decode
import Flows
import Frames

/// Feeds a sequence of packets, described by the input, to one `FlowTracker`, so that the
/// recognisers (ONC RPC calls and replies, portmapper mappings, iSCSI login, signatures) see
/// arbitrary payloads on storage and non-storage ports, and learned state (portmapper
/// mappings, RPC calls by xid, fragment owners) carries from one packet to the next.
///
/// Each record is a 4-byte header and a payload:
/// ```
/// 0 | control: bit 0 UDP (else TCP); bits 1-2 destination port: 111, 2049, 3260, or the
///   |   payload's first two bytes (and the port after them the source); bit 3 reply (swap
///   |   the ends); bits 4-5 which of four hosts is the client; bit 6 an IP fragment;
///   |   bit 7 IPv6
/// 1 | low nibble: time step (2^n ns); high nibble: fragment id, and bit 7 a later fragment
/// 2 | payload length, big-endian (clipped to what is left)
/// ```
/// The tracker is small (16 live flows, 16 fragment entries, 64 ns fragment timeout), so
/// eviction and sweeping happen within a few records.
///
/// Checks the tracker's promise that no packet is lost: after `finish()`, the packets of
/// the recorded flows, the summarised flows and the orphan fragments add up to the packets
/// it accepted.
public func trackFlows(_ bytes: UnsafeRawBufferPointer) -> CInt {
    var tracker = FlowTracker(table: .builtin, maxFragmentEntries: 16, fragmentTimeout: 64, maxFlows: 16)
    var offset = 0
    var time: Int64 = 0
    var accepted = 0
    let serverPorts: [UInt16] = [111, 2049, 3260]
    while bytes.count - offset >= 3 {
        let control = bytes[offset]
        let extra = bytes[offset + 1]
        let length = min(Int(bytes[offset + 2]) << 4 | Int(extra & 0x0F), bytes.count - offset - 3)
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + 3)..<(offset + 3 + length)])
        offset += 3 + length
        time += Int64(1) << Int64(extra & 0x0F)

        var packet = DecodedPacket()
        let v6 = control & 0x80 != 0
        let client = hostAddress(Int(control >> 4) & 3, v6: v6)
        let server = hostAddress(4, v6: v6)
        packet.ipVersion = v6 ? 6 : 4
        packet.ipProtocol = control & 1 != 0 ? 17 : 6
        let selector = Int(control >> 1) & 3
        var serverPort: UInt16
        var clientPort: UInt16 = 700
        if selector < 3 {
            serverPort = serverPorts[selector]
        } else {
            serverPort = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 0
            clientPort = payload.count >= 4 ? UInt16(payload[2]) << 8 | UInt16(payload[3]) : 0
        }
        let reply = control & 0x08 != 0
        packet.source = reply ? server : client
        packet.destination = reply ? client : server
        packet.sourcePort = reply ? serverPort : clientPort
        packet.destinationPort = reply ? clientPort : serverPort
        packet.tcpFlags = reply ? 0x18 : 0x02
        if control & 0x40 != 0 {
            packet.isFragment = true
            packet.fragmentID = UInt32(extra >> 4)
            packet.fragmentOffset = extra & 0x80 != 0 ? 185 : 0
            packet.moreFragments = extra & 0x80 == 0
        }
        packet.hasPorts = !packet.isLaterFragment
        packet.payloadLength = packet.hasPorts ? payload.count : 0
        packet.payloadOffset = packet.hasPorts ? 42 : 0
        let wire = 42 + payload.count
        _ = tracker.observe(
            packet, payload: packet.hasPorts ? payload : UnsafeRawBufferPointer(start: nil, count: 0),
            segment: UInt32(extra >> 6), wireLength: wire, at: Timestamp(nanoseconds: time))
        accepted += 1
    }
    tracker.finish()
    let inFlows = tracker.recordedFlows.reduce(0) { $0 + $1.packets }
    let summarised = tracker.summarised.values.reduce(0) { $0 + $1.packets }
    let orphans = tracker.orphanFragments.values.reduce(0) { $0 + $1.packets }
    if inFlows + summarised + orphans != accepted {
        violated("\(accepted) packets observed, \(inFlows) in flows + \(summarised) summarised + \(orphans) orphans")
    }
    for flow in tracker.recordedFlows where flow.packets <= 0 || flow.laterFragments > flow.packets {
        violated("a flow of \(flow.packets) packets with \(flow.laterFragments) later fragments")
    }
    return 0
}

/// Four clients and a server, from the documentation ranges.
private func hostAddress(_ index: Int, v6: Bool) -> IPAddress {
    v6
        ? IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: UInt64(index + 1))
        : IPAddress(ipv4: 0xC633_6400 | UInt32(index + 10))  // 198.51.100.x
}
