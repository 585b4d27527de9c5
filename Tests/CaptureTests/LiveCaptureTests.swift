@testable import Capture
import Foundation
import Frames
import TestSupport
import Testing

/// Hand-built frames for the capture filter: Ethernet (tagged or not) or SLL2, IPv4 or IPv6,
/// TCP or UDP, fragments.
/// Shorthands over `FrameBuilder` for the filter tests: one IPv4 pair (198.51.100.10 ->
/// 203.0.113.20), one IPv6 pair (2001:db8::10 -> 2001:db8::20), 16 bytes of payload.
enum FilterFrames {
    static func transport(_ ipProtocol: UInt8, _ sourcePort: UInt16, _ destinationPort: UInt16) -> [UInt8] {
        FrameBuilder.transport(ipProtocol, sourcePort: sourcePort, destinationPort: destinationPort, flags: 0x18, payload: 16)
    }

    /// With the given fragment offset (bytes) and MF flag.
    static func ipv4(_ ipProtocol: UInt8, _ payload: [UInt8], offset: Int = 0, moreFragments: Bool = false) -> [UInt8] {
        FrameBuilder.ipv4(
            "198.51.100.10", "203.0.113.20", ipProtocol: ipProtocol, id: 7, fragmentOffset: offset, moreFragments: moreFragments,
            payload: payload)
    }

    /// With `fragment`, a fragment header (offset 8 bytes: a later fragment) comes first.
    static func ipv6(_ ipProtocol: UInt8, _ payload: [UInt8], fragment: Bool = false) -> [UInt8] {
        FrameBuilder.ipv6(
            "2001:db8::10", "2001:db8::20", nextHeader: fragment ? 44 : ipProtocol,
            payload: fragment ? [ipProtocol, 0, 0, 8, 0, 0, 0, 9] + payload : payload)
    }

    static func ethernet(_ etherType: UInt16, _ packet: [UInt8], tags: [(tpid: UInt16, id: UInt16)] = []) -> [UInt8] {
        FrameBuilder.link(.ethernet(vlans: tags), etherType: etherType, packet)
    }

    static func sll2(_ etherType: UInt16, _ packet: [UInt8]) -> [UInt8] {
        FrameBuilder.link(.sll2(ifindex: 3), etherType: etherType, packet)
    }
}

@Suite struct CaptureFilterTests {
    let filter = CaptureFilter(tcpPorts: [2049, 111, 3260, 2049], udpPorts: [2049, 111])

    func program(_ dlt: Int32) throws -> PcapFilterProgram {
        let handle = try PcapHandle.openDead(linkType: dlt)
        return try handle.compile(filter.expression(for: LinkType(dlt: dlt)))
    }

    /// Each case: a name, a frame, and whether the filter must keep it.
    func expect(_ program: PcapFilterProgram, _ cases: [(String, [UInt8], Bool)]) {
        for (name, frame, expected) in cases {
            let matched = frame.withUnsafeBytes { program.matches($0) }
            #expect(matched == expected, "\(name)")
        }
    }

    @Test func expressionIsAFunctionOfThePorts() {
        #expect(filter.tcpPorts == [2049, 111, 3260])
        let ethernet = filter.expression(for: .ethernet)
        #expect(ethernet.hasPrefix("(tcp port 2049 or tcp port 111 or tcp port 3260 or udp port 2049 or udp port 111 or "))
        #expect(ethernet.contains("(vlan and ("))
        #expect(!filter.expression(for: .linuxSLL2).contains("vlan"))
        let narrower = CaptureFilter(tcpPorts: [13260], udpPorts: [])
        #expect(narrower.expression(for: .linuxSLL2) == "tcp port 13260 or (ip[6:2] & 0x3fff != 0) or (ip6[6] == 44)")
    }

    @Test func deepInspectionKeepsEveryIPPacketOnAnyPortAndInTunnels() throws {
        typealias F = FilterFrames
        let deep = CaptureFilter.everyIPPacket
        #expect(deep.expression(for: .linuxSLL2) == "ip or ip6")
        for dlt: Int32 in [1, 276] {
            let program = try PcapHandle.openDead(linkType: dlt).compile(deep.expression(for: LinkType(dlt: dlt)))
            let wrap: ([UInt8], UInt16) -> [UInt8] = { dlt == 1 ? F.ethernet($1, $0) : F.sll2($1, $0) }
            var cases: [(String, [UInt8], Bool)] = [
                ("NFS on 12049", wrap(F.ipv4(6, F.transport(6, 700, 12049)), 0x0800), true),
                ("VXLAN", wrap(F.ipv4(17, F.transport(17, 40000, 4789)), 0x0800), true),
                ("IPv6 iSCSI on 13260", wrap(F.ipv6(6, F.transport(6, 700, 13260)), 0x86dd), true),
                ("ARP", wrap([UInt8](repeating: 0, count: 28), 0x0806), false),
            ]
            if dlt == 1 {
                cases.append(("802.1Q ssh", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 700, 22)), tags: [(0x8100, 42)]), true))
                cases.append(("802.1Q ARP", F.ethernet(0x0806, [UInt8](repeating: 0, count: 28), tags: [(0x8100, 42)]), false))
            }
            expect(program, cases)
        }
    }

    @Test func compilesForEthernetAndSLL2() throws {
        _ = try program(1)
        _ = try program(276)
    }

    @Test func ethernetKeepsStoragePortsTagsAndFragmentsOnly() throws {
        let program = try program(1)
        typealias F = FilterFrames
        let cases: [(String, [UInt8], Bool)] = [
            ("tcp to 2049", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 700, 2049))), true),
            ("tcp from 2049", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 2049, 700))), true),
            ("tcp 3260", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 40000, 3260))), true),
            ("udp 111", F.ethernet(0x0800, F.ipv4(17, F.transport(17, 800, 111))), true),
            ("tcp 80", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 40000, 80))), false),
            ("udp 3260 (iSCSI is TCP only)", F.ethernet(0x0800, F.ipv4(17, F.transport(17, 40000, 3260))), false),
            ("802.1Q tcp 2049", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 700, 2049)), tags: [(0x8100, 42)]), true),
            ("802.1Q tcp 80", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 700, 80)), tags: [(0x8100, 42)]), false),
            ("QinQ tcp 3260", F.ethernet(0x0800, F.ipv4(6, F.transport(6, 700, 3260)), tags: [(0x88a8, 7), (0x8100, 42)]), true),
            ("QinQ udp 53", F.ethernet(0x0800, F.ipv4(17, F.transport(17, 700, 53)), tags: [(0x88a8, 7), (0x8100, 42)]), false),
            ("IPv4 later fragment", F.ethernet(0x0800, F.ipv4(17, [UInt8](repeating: 1, count: 64), offset: 1480)), true),
            ("IPv4 first fragment, other port", F.ethernet(0x0800, F.ipv4(17, F.transport(17, 9, 9999), moreFragments: true)), true),
            ("802.1Q IPv4 later fragment",
             F.ethernet(0x0800, F.ipv4(17, [UInt8](repeating: 1, count: 64), offset: 2960), tags: [(0x8100, 42)]), true),
            ("IPv6 tcp 2049", F.ethernet(0x86dd, F.ipv6(6, F.transport(6, 700, 2049))), true),
            ("IPv6 tcp 80", F.ethernet(0x86dd, F.ipv6(6, F.transport(6, 700, 80))), false),
            ("IPv6 fragment", F.ethernet(0x86dd, F.ipv6(17, [UInt8](repeating: 1, count: 64), fragment: true)), true),
            ("802.1Q IPv6 udp 2049", F.ethernet(0x86dd, F.ipv6(17, F.transport(17, 700, 2049)), tags: [(0x8100, 42)]), true),
            ("ARP", F.ethernet(0x0806, [UInt8](repeating: 0, count: 28)), false),
        ]
        expect(program, cases)
    }

    @Test func sll2KeepsStoragePortsAndFragments() throws {
        let program = try program(276)
        typealias F = FilterFrames
        let cases: [(String, [UInt8], Bool)] = [
            ("tcp 2049", F.sll2(0x0800, F.ipv4(6, F.transport(6, 700, 2049))), true),
            ("tcp 80", F.sll2(0x0800, F.ipv4(6, F.transport(6, 700, 80))), false),
            ("IPv4 later fragment", F.sll2(0x0800, F.ipv4(17, [UInt8](repeating: 1, count: 64), offset: 1480)), true),
            ("IPv6 udp 111", F.sll2(0x86dd, F.ipv6(17, F.transport(17, 700, 111))), true),
        ]
        expect(program, cases)
    }
}

@Suite struct LiveCaptureOpenTests {
    /// An interface that does not exist is named as such (as root); without the right to
    /// capture, libpcap says so first.
    @Test func aMissingInterfaceIsNamed() {
        let error = #expect(throws: LiveCaptureError.self) {
            try LiveCapture.open(interface: "lk-nosuch0", filter: CaptureFilter(tcpPorts: [2049], udpPorts: []))
        }
        #expect(error?.interface == "lk-nosuch0")
        #expect(error?.code == (getuid() == 0 ? .noSuchDevice : .permissionDenied))
    }

    /// On loopback: opens with the filter for its link type, reads nothing that does not match,
    /// and stops when asked.
    @Test func loopbackOpensFiltersAndStops() throws {
        let capture: LiveCapture
        do {
            capture = try LiveCapture.open(
                interface: "lo", options: LiveCaptureOptions(bufferBytes: 1 << 20, timeoutMilliseconds: 20),
                filter: CaptureFilter(tcpPorts: [9], udpPorts: [9]))
        } catch {
            #expect(error.code == .permissionDenied)
            return  // not allowed to capture here
        }
        #expect(capture.linkType == .ethernet)
        #expect(capture.filterExpression?.contains("vlan") == true)
        capture.stop()
        capture.breakLoop()
        var ticks = 0
        let outcome = capture.run(onPacket: { _ in }, onTick: { ticks += 1 })
        #expect(outcome.problems.isEmpty)
        #expect(!outcome.interfaceLost)
        #expect(capture.statistics().dropped == 0)
    }
}

/// Immediate mode reaches the kernel: libpcap then asks for TPACKET_V2 frames (each packet
/// handed over as it arrives) instead of TPACKET_V3 blocks. Root only; opens loopback and
/// reads nothing.
@Suite(.enabled(if: geteuid() == 0, "opening a live capture needs root"))
struct LiveCaptureModeTests {
    @Test func immediateModeIsTheDefaultAndUsesPerPacketFrames() throws {
        let capture = try LiveCapture.open(interface: "lo", filter: nil)
        #expect(capture.options.immediate)
        #expect(capture.ringVersion == 1)
    }

    @Test func withoutImmediateModeTheKernelHandsOverBlocks() throws {
        let capture = try LiveCapture.open(interface: "lo", options: LiveCaptureOptions(immediate: false), filter: nil)
        #expect(capture.ringVersion == 2)
    }
}
