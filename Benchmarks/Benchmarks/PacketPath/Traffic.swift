import Decode
import Frames

/// Realistic frames for the per-packet benchmarks, built once: NFS over TCP (RPC record mark,
/// WRITE calls and replies), NFSv3 over UDP as IPv4 fragments, iSCSI (Basic Header Segments
/// of SCSI Data-In and Command PDUs), management noise (ssh, HTTP, DNS, ARP, ICMP), 802.1Q
/// tags on the storage VLAN and ~1 in 16 packets over IPv6, on two interfaces (mgmt0 and
/// stor0) over `flows` conversations. Deterministic (a seeded SplitMix64).
struct Traffic {
    /// The frames' bytes back to back, and each frame's (offset, length, interface).
    private(set) var bytes: [UInt8] = []
    private(set) var frames: [(offset: Int, length: Int, interface: Int)] = []

    static let interfaces = [
        CaptureInterface(name: "mgmt0", linkType: .ethernet, snapLength: 262_144),
        CaptureInterface(name: "stor0", linkType: .ethernet, snapLength: 262_144),
    ]

    /// `packets` frames over `flows` conversations; `frameSize` pads storage payloads (small
    /// frames: 64-128 bytes, as the small-packet capture; large: MTU-sized segments).
    init(packets: Int, flows: Int, large: Bool, seed: UInt64 = 7) {
        var random = SplitMix(seed)
        var ipID: UInt16 = 1
        while frames.count < packets {
            let flow = Int(random.next() % UInt64(flows))
            let kind = flow % 8
            let clientPort = UInt16(32_768 + flow % 28_000)
            let v6 = flow % 16 == 5
            let reply = random.next() % 2 == 0
            let payloadSize = large ? 1_400 : Int(random.next() % 48)
            switch kind {
            case 0, 1, 2:  // NFS over TCP on the storage VLAN
                let rpc = Self.rpcCall(xid: UInt32(truncatingIfNeeded: random.next()), program: 100_003, version: 3, procedure: 7, pad: payloadSize)
                add(interface: 1, vlan: 42, v6: v6, ipProtocol: 6, client: flow, clientPort: clientPort, server: 20, serverPort: 2049,
                    reply: reply, payload: reply ? Self.rpcReply(xid: 1, pad: payloadSize) : rpc)
            case 3, 4:  // iSCSI
                let opcode: UInt8 = reply ? 0x25 : 0x01  // SCSI Data-In / SCSI Command
                add(interface: 1, vlan: 42, v6: v6, ipProtocol: 6, client: flow, clientPort: clientPort, server: 30, serverPort: 3260,
                    reply: reply, payload: Self.iscsiBHS(opcode: opcode, pad: payloadSize))
            case 5:  // NFSv3 over UDP, a WRITE call as IPv4 fragments
                let datagram = Self.udp(sourcePort: clientPort, destinationPort: 2049,
                                        payload: Self.rpcCall(xid: UInt32(truncatingIfNeeded: random.next()), program: 100_003, version: 3, procedure: 7, pad: large ? 4_000 : 200))
                ipID &+= 1
                var offset = 0
                while offset < datagram.count {
                    let size = min(large ? 1_480 : 96, datagram.count - offset)
                    let more = offset + size < datagram.count
                    let ip = Self.ipv4(source: Self.address(client: flow), destination: Self.address(server: 21), ipProtocol: 17,
                                       id: ipID, offset: offset, more: more, payload: Array(datagram[offset..<(offset + size)]))
                    append(Self.ethernet(vlan: 42, etherType: 0x0800, ip), interface: 1)
                    offset += size
                }
            case 6:  // management: ssh and HTTP
                let port: UInt16 = flow % 3 == 0 ? 80 : 22
                add(interface: 0, vlan: nil, v6: v6, ipProtocol: 6, client: flow, clientPort: clientPort, server: 1, serverPort: port,
                    reply: reply, payload: [UInt8](repeating: 0x41, count: payloadSize))
            default:  // management: DNS, ARP and ICMP
                switch random.next() % 3 {
                case 0:
                    add(interface: 0, vlan: nil, v6: v6, ipProtocol: 17, client: flow, clientPort: clientPort, server: 2, serverPort: 53,
                        reply: reply, payload: [UInt8](repeating: 0x00, count: 12 + payloadSize % 20))
                case 1:
                    let arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 2, count: 6) + Self.be32(Self.address(client: flow))
                        + [UInt8](repeating: 0, count: 6) + Self.be32(Self.address(server: 1))
                    append(Self.ethernet(vlan: nil, etherType: 0x0806, arp), interface: 0)
                default:
                    let icmp: [UInt8] = [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0x61, count: 32)
                    append(Self.ethernet(vlan: nil, etherType: 0x0800,
                                         Self.ipv4(source: Self.address(client: flow), destination: Self.address(server: 1), ipProtocol: 1,
                                                   id: 0, offset: 0, more: false, payload: icmp)), interface: 0)
                }
            }
        }
    }

    /// Calls `body` with each frame of `range` (all by default), its bytes valid for the call.
    func forEach(_ range: Range<Int>? = nil, _ body: (Frame) -> Void) {
        bytes.withUnsafeBytes { all in
            let range = range ?? frames.indices
            var time: Int64 = 1_795_000_000_000_000_000 + Int64(range.lowerBound) * 1_000
            for frame in frames[range] {
                time += 1_000
                body(Frame(
                    interface: frame.interface, timestamp: Timestamp(nanoseconds: time), linkType: .ethernet,
                    wireLength: frame.length,
                    bytes: UnsafeRawBufferPointer(rebasing: all[frame.offset..<(frame.offset + frame.length)]), fileOffset: 0))
            }
        }
    }

    private mutating func add(
        interface: Int, vlan: UInt16?, v6: Bool, ipProtocol: UInt8, client: Int, clientPort: UInt16, server: Int,
        serverPort: UInt16, reply: Bool, payload: [UInt8]
    ) {
        let (sourcePort, destinationPort) = reply ? (serverPort, clientPort) : (clientPort, serverPort)
        let segment = ipProtocol == 6
            ? Self.tcp(sourcePort: sourcePort, destinationPort: destinationPort, payload: payload)
            : Self.udp(sourcePort: sourcePort, destinationPort: destinationPort, payload: payload)
        if v6 {
            var a = Self.ipv6Address(client: client)
            var b = Self.ipv6Address(server: server)
            if reply { swap(&a, &b) }
            let ip = [0x60, 0, 0, 0] + Self.be16(UInt16(segment.count)) + [ipProtocol, 64] + a + b + segment
            append(Self.ethernet(vlan: vlan, etherType: 0x86dd, ip), interface: interface)
        } else {
            var a = Self.address(client: client)
            var b = Self.address(server: server)
            if reply { swap(&a, &b) }
            let ip = Self.ipv4(source: a, destination: b, ipProtocol: ipProtocol, id: 0, offset: 0, more: false, payload: segment)
            append(Self.ethernet(vlan: vlan, etherType: 0x0800, ip), interface: interface)
        }
    }

    private mutating func append(_ frame: [UInt8], interface: Int) {
        frames.append((bytes.count, frame.count, interface))
        bytes += frame
    }

    // MARK: Headers

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    /// 198.51.100.x for clients and servers of the management network, 203.0.113.x on storage.
    static func address(client: Int) -> UInt32 { 0xCB00_7100 | UInt32(10 + client % 200) + UInt32(client / 200 % 250) << 8 }
    static func address(server: Int) -> UInt32 { server < 10 ? 0xC633_6400 | UInt32(server) : 0xCB00_7100 | UInt32(server) }
    static func ipv6Address(client: Int) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 8) + be32(UInt32(client)) }
    static func ipv6Address(server: Int) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 8) + be32(0xFFFF_0000 | UInt32(server)) }

    static func ethernet(vlan: UInt16?, etherType: UInt16, _ packet: [UInt8]) -> [UInt8] {
        var header: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]
        if let vlan { header += be16(0x8100) + be16(vlan) }
        return header + be16(etherType) + packet
    }

    static func ipv4(source: UInt32, destination: UInt32, ipProtocol: UInt8, id: UInt16, offset: Int, more: Bool, payload: [UInt8]) -> [UInt8] {
        [0x45, 0] + be16(UInt16(20 + payload.count)) + be16(id) + be16((more ? 0x2000 : 0) | UInt16(offset / 8))
            + [64, ipProtocol, 0, 0] + be32(source) + be32(destination) + payload
    }

    static func tcp(sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be32(1) + be32(1) + [0x50, 0x18] + be16(65_535) + [0, 0, 0, 0] + payload
    }

    static func udp(sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    /// An ONC RPC call (record-marked, AUTH_SYS credentials) followed by `pad` bytes of arguments.
    static func rpcCall(xid: UInt32, program: UInt32, version: UInt32, procedure: UInt32, pad: Int) -> [UInt8] {
        let credentials = be32(1) + be32(20) + be32(0) + be32(4) + Array("host".utf8) + be32(0) + be32(0) + be32(0)
        let body = be32(xid) + be32(0) + be32(2) + be32(program) + be32(version) + be32(procedure) + credentials
            + be32(0) + be32(0) + [UInt8](repeating: 0, count: pad)
        return be32(0x8000_0000 | UInt32(body.count)) + body
    }

    static func rpcReply(xid: UInt32, pad: Int) -> [UInt8] {
        let body = be32(xid) + be32(1) + be32(0) + be32(0) + be32(0) + be32(0) + [UInt8](repeating: 0, count: pad)
        return be32(0x8000_0000 | UInt32(body.count)) + body
    }

    /// An iSCSI Basic Header Segment (48 bytes) and `pad` bytes of data.
    static func iscsiBHS(opcode: UInt8, pad: Int) -> [UInt8] {
        [opcode, 0x80, 0, 0, 0] + [UInt8(pad >> 16 & 0xff), UInt8(pad >> 8 & 0xff), UInt8(pad & 0xff)]
            + [UInt8](repeating: 0, count: 40) + [UInt8](repeating: 0x5a, count: pad)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014), for deterministic traffic.
struct SplitMix {
    private var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
