import Decode
@testable import Flows
import Frames
import TestSupport
import Testing

/// XDR words, big-endian.
func xdr(_ words: [UInt32]) -> [UInt8] {
    words.flatMap { [UInt8($0 >> 24), UInt8(($0 >> 16) & 0xff), UInt8(($0 >> 8) & 0xff), UInt8($0 & 0xff)] }
}

/// An XDR string: length, bytes, padding.
func xdrString(_ text: String) -> [UInt8] {
    let bytes = Array(text.utf8)
    return xdr([UInt32(bytes.count)]) + bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
}

/// An ONC RPC call with AUTH_SYS credentials and an AUTH_NONE verifier.
func rpcCall(xid: UInt32, program: UInt32, version: UInt32, procedure: UInt32, arguments: [UInt8] = [],
             rpcVersion: UInt32 = 2, tcp: Bool) -> [UInt8] {
    let credentials = xdr([1, 20]) + xdr([0x1234, 0]) + xdr([0, 0, 0])  // stamp, empty machine name, uid, gid, no gids
    let body = xdr([xid, 0, rpcVersion, program, version, procedure]) + credentials + xdr([0, 0]) + arguments
    return tcp ? xdr([0x8000_0000 | UInt32(body.count)]) + body : body
}

/// An accepted, successful ONC RPC reply.
func rpcReply(xid: UInt32, result: [UInt8], tcp: Bool) -> [UInt8] {
    let body = xdr([xid, 1, 0, 0, 0, 0]) + result
    return tcp ? xdr([0x8000_0000 | UInt32(body.count)]) + body : body
}

/// Feeds one packet with a payload into the tracker.
@discardableResult
func feed(_ tracker: inout FlowTracker, _ ipProtocol: UInt8, _ source: String, _ sourcePort: UInt16, _ destination: String,
          _ destinationPort: UInt16, payload: [UInt8], at seconds: Int64 = 1) -> Int? {
    let p = packet(ipProtocol, source, sourcePort, destination, destinationPort)
    return payload.withUnsafeBytes { bytes in
        tracker.observe(p, payload: bytes, segment: 0, wireLength: 66 + payload.count, at: at(seconds))
    }
}

func serviceName(_ tracker: FlowTracker, _ flow: Int?) -> String? {
    guard let flow, let service = tracker.flows[flow].service else { return nil }
    return tracker.table.services[service].name
}

@Suite struct RPCRecognitionTests {
    @Test func nfsOnANonStandardTCPPortIsRecognisedByItsCall() {
        var tracker = FlowTracker(table: .builtin)
        // The handshake comes first; the flow is not storage yet.
        let handshake = tracker.observe(packet(6, "198.51.100.10", 800, "198.51.100.20", 12049, flags: 0x02),
                                        segment: 0, wireLength: 74, at: at(1))
        #expect(serviceName(tracker, handshake) == nil)
        let getattr = rpcCall(xid: 7, program: 100_003, version: 3, procedure: 1, arguments: xdrString("fh"), tcp: true)
        let flow = feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 12049, payload: getattr)
        #expect(flow == handshake)
        #expect(serviceName(tracker, flow) == "nfs")
        #expect(tracker.flows[0].recognition == .rpcCall(program: 100_003, version: 3))
        #expect(tracker.flows[0].server.port == 12049)
        // Every packet of the flow counts, the handshake included.
        #expect(tracker.flows[0].packets == 2)
    }

    @Test func aPortMatchIsUpgradedToTheCallThatConfirmsIt() {
        var tracker = FlowTracker(table: .builtin)
        feed(&tracker, 6, "203.0.113.10", 801, "203.0.113.20", 2049, payload: [])
        #expect(tracker.flows[0].recognition == .port(2049))
        feed(&tracker, 6, "203.0.113.10", 801, "203.0.113.20", 2049,
             payload: rpcCall(xid: 1, program: 100_003, version: 4, procedure: 1, tcp: true))
        #expect(tracker.flows[0].recognition == .rpcCall(program: 100_003, version: 4))
    }

    @Test func mountOverUDPWithNoPortmapperIsStorage() {
        var tracker = FlowTracker(table: .builtin)
        let mnt = rpcCall(xid: 9, program: 100_005, version: 3, procedure: 1, arguments: xdrString("/export"), tcp: false)
        let flow = feed(&tracker, 17, "198.51.100.10", 901, "198.51.100.20", 20048, payload: mnt)
        #expect(serviceName(tracker, flow) == "mount")
        #expect(tracker.table.services[tracker.flows[0].service!].protocolName == "nfs")
    }

    @Test func aReplySeenFirstIsCorrectedByTheCall() {
        var tracker = FlowTracker(table: .builtin)
        // The capture starts with a reply from the server's high port to the client's low port.
        feed(&tracker, 6, "198.51.100.20", 40_000, "198.51.100.10", 700, payload: [1, 2, 3, 4])
        feed(&tracker, 6, "198.51.100.10", 700, "198.51.100.20", 40_000,
             payload: rpcCall(xid: 3, program: 100_021, version: 4, procedure: 2, tcp: true))
        #expect(serviceName(tracker, 0) == "nlm")
        #expect(tracker.flows[0].server.port == 40_000)
        #expect(tracker.flows[0].client.port == 700)
    }

    @Test func repliesSeenOnAnotherInterfaceAreMatchedByXid() {
        // Asymmetric routing: calls leave by stor0 (segment 0), replies return by mgmt0 (segment 1).
        var tracker = FlowTracker(table: .builtin)
        let call = rpcCall(xid: 0xfeed, program: 100_003, version: 3, procedure: 6, tcp: true)
        feed(&tracker, 6, "203.0.113.10", 900, "203.0.113.20", 12049, payload: call)
        let reply = rpcReply(xid: 0xfeed, result: xdr([0, 1, 2, 3]), tcp: true)
        let onOther = reply.withUnsafeBytes { bytes in
            tracker.observe(packet(6, "203.0.113.20", 12049, "203.0.113.10", 900), payload: bytes, segment: 1,
                            wireLength: 120, at: at(2))
        }
        #expect(onOther == 1)
        #expect(serviceName(tracker, onOther) == "nfs")
        #expect(tracker.flows[1].recognition == .rpcReply(program: 100_003, version: 3))
        #expect(tracker.flows[1].server.port == 12049)
        // A reply with another xid, or from another server, is not matched.
        var other = FlowTracker(table: .builtin)
        feed(&other, 6, "203.0.113.10", 900, "203.0.113.20", 12049, payload: call)
        let stranger = rpcReply(xid: 0xbeef, result: xdr([0]), tcp: true).withUnsafeBytes { bytes in
            other.observe(packet(6, "203.0.113.20", 12049, "203.0.113.10", 900), payload: bytes, segment: 1,
                          wireLength: 120, at: at(2))
        }
        #expect(serviceName(other, stranger) == nil)
    }

    @Test func portmapperGetportRepliesTeachPorts() {
        var tracker = FlowTracker(table: .builtin)
        let call = rpcCall(xid: 42, program: 100_000, version: 2, procedure: 3,
                           arguments: xdr([100_005, 3, 6, 0]), tcp: false)
        feed(&tracker, 17, "198.51.100.10", 1000, "198.51.100.20", 111, payload: call)
        feed(&tracker, 17, "198.51.100.20", 111, "198.51.100.10", 1000, payload: rpcReply(xid: 42, result: xdr([20048]), tcp: false))
        // A later TCP connection to that port is storage before any call on it.
        let flow = tracker.observe(packet(6, "198.51.100.10", 1001, "198.51.100.20", 20048, flags: 0x02),
                                   segment: 0, wireLength: 74, at: at(2))
        #expect(serviceName(tracker, flow) == "mount")
        #expect(tracker.flows[flow!].recognition == .portmapperMapping(port: 20048))
        // Only that transport, address and port were learned.
        let other = tracker.observe(packet(17, "198.51.100.10", 1002, "198.51.100.20", 20048),
                                    segment: 0, wireLength: 74, at: at(2))
        #expect(serviceName(tracker, other) == nil)
    }

    @Test func rpcbindGetaddrAndDumpRepliesTeachPorts() {
        var tracker = FlowTracker(table: .builtin)
        let getaddr = rpcCall(xid: 5, program: 100_000, version: 4, procedure: 3,
                              arguments: xdr([100_021, 4]) + xdrString("tcp6") + xdrString("") + xdrString(""), tcp: true)
        feed(&tracker, 6, "2001:db8:0:198::10", 1000, "2001:db8:0:198::20", 111, payload: getaddr)
        // 2001:db8:0:198::20 port 0x9c41 = 40001
        feed(&tracker, 6, "2001:db8:0:198::20", 111, "2001:db8:0:198::10", 1000,
             payload: rpcReply(xid: 5, result: xdrString("2001:db8:0:198::20.156.65"), tcp: true))
        let nlm = tracker.observe(packet(6, "2001:db8:0:198::10", 1003, "2001:db8:0:198::20", 40001, flags: 0x02),
                                  segment: 0, wireLength: 94, at: at(2))
        #expect(serviceName(tracker, nlm) == "nlm")

        let dump = rpcCall(xid: 6, program: 100_000, version: 2, procedure: 4, tcp: true)
        feed(&tracker, 6, "198.51.100.10", 1004, "198.51.100.20", 111, payload: dump)
        let list = xdr([1, 100_000, 2, 6, 111]) + xdr([1, 100_024, 1, 17, 33333]) + xdr([1, 100_005, 3, 6, 20048]) + xdr([0])
        feed(&tracker, 6, "198.51.100.20", 111, "198.51.100.10", 1004, payload: rpcReply(xid: 6, result: list, tcp: true))
        let nsm = tracker.observe(packet(17, "198.51.100.10", 1005, "198.51.100.20", 33333), segment: 0, wireLength: 80, at: at(3))
        #expect(serviceName(tracker, nsm) == "nsm")
    }

    @Test func aReplyToAnUnknownXidTeachesNothing() {
        var tracker = FlowTracker(table: .builtin)
        feed(&tracker, 17, "198.51.100.20", 111, "198.51.100.10", 1000, payload: rpcReply(xid: 99, result: xdr([20048]), tcp: false))
        let flow = tracker.observe(packet(6, "198.51.100.10", 1001, "198.51.100.20", 20048, flags: 0x02),
                                   segment: 0, wireLength: 74, at: at(2))
        #expect(serviceName(tracker, flow) == nil)
    }

    @Test func oneCoincidentalValueIsNotEnough() {
        // Each variant keeps the program number 100003 but breaks one other field.
        let variants: [[UInt8]] = [
            rpcCall(xid: 1, program: 100_003, version: 3, procedure: 1, rpcVersion: 3, tcp: true),  // RPC version
            rpcCall(xid: 1, program: 100_003, version: 7, procedure: 1, tcp: true),  // NFS version
            rpcCall(xid: 1, program: 100_003, version: 3, procedure: 99, tcp: true),  // procedure
            xdr([0x8000_0040, 1, 2, 2, 100_003, 3, 1, 1, 20]),  // message type 2
            xdr([0x8000_0040, 1, 0, 2, 100_003, 3, 1, 9, 20]),  // credential flavour 9
            xdr([0x8000_0040, 1, 0, 2, 100_003, 3, 1, 1, 4000]),  // credential length 4000
            xdr([0x0000_0004, 1, 0, 2, 100_003, 3, 1, 1, 20]),  // record mark too short
            xdr([100_003, 100_003, 100_003, 100_003, 100_003, 100_003, 100_003, 100_003]),
        ]
        for payload in variants {
            var tracker = FlowTracker(table: .builtin)
            let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 50_000, payload: payload)
            #expect(serviceName(tracker, flow) == nil, "\(payload)")
        }
    }

    @Test func everyPrefixOfACallIsSafeAndOnlyTheCompleteHeaderCounts() {
        let call = rpcCall(xid: 1, program: 100_005, version: 3, procedure: 1, arguments: xdrString("/export"), tcp: true)
        for length in 0...call.count {
            var tracker = FlowTracker(table: .builtin)
            let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 50_000, payload: Array(call.prefix(length)))
            // Record mark + 6 words + credentials (8 + 20 bytes) is the least that is enough.
            let enough = length >= 4 + 24 + 28
            #expect((serviceName(tracker, flow) == "mount") == enough, "prefix \(length)")
        }
    }
}

@Suite struct SignatureRecognitionTests {
    static func iscsiLogin(request: Bool, text: String) -> [UInt8] {
        var bhs = [UInt8](repeating: 0, count: 48)
        bhs[0] = request ? 0x43 : 0x23  // immediate Login request / Login response
        bhs[1] = 0x87  // T, CSG 1 (operational), NSG 3 (full feature)
        let data = Array(text.utf8)
        bhs[5] = UInt8(data.count >> 16)
        bhs[6] = UInt8((data.count >> 8) & 0xff)
        bhs[7] = UInt8(data.count & 0xff)
        return bhs + data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
    }

    @Test func iscsiLoginOnAnyPortIsISCSI() {
        var tracker = FlowTracker(table: .builtin)
        let login = Self.iscsiLogin(request: true, text: "InitiatorName=iqn.2026-11.org.example:host\0SessionType=Normal\0")
        let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 13260, payload: login)
        #expect(serviceName(tracker, flow) == "iscsi")
        #expect(tracker.flows[0].recognition == .signature(.iscsiLogin))
        #expect(tracker.flows[0].server.port == 13260)

        var reply = FlowTracker(table: .builtin)
        let response = Self.iscsiLogin(request: false, text: "TargetName=iqn.2026-11.org.example:lab\0")
        feed(&reply, 6, "198.51.100.20", 13260, "198.51.100.10", 40_001, payload: response)
        #expect(serviceName(reply, 0) == "iscsi")
        #expect(reply.flows[0].server.port == 13260)
    }

    @Test func anISCSIHeaderWithoutLoginTextIsNotEnough() {
        var tracker = FlowTracker(table: .builtin)
        let login = Self.iscsiLogin(request: true, text: "HeaderDigest=None\0")
        feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 13260, payload: login)
        #expect(serviceName(tracker, 0) == nil)
    }

    @Test func bannersAndHeadersOfOtherStorageProtocols() {
        let cases: [(payload: [UInt8], port: UInt16, service: String)] = [
            (Array("ceph v027".utf8) + [UInt8](repeating: 0, count: 20), 16789, "ceph-mon"),
            (Array("ceph v2\n".utf8) + [0x10, 0], 13300, "ceph-msgr2"),
            ([0, 0, 0, 100, 0xfe, 0x53, 0x4d, 0x42, 64, 0] + [UInt8](repeating: 0, count: 60), 10445, "smb"),
            ([0, 0, 128, 0, 128, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 118), 14420, "nvme-tcp"),
            (isnsPDU(function: 0x0001, flags: 0x8c00, payload: isnsDevAttrReg), 13205, "isns"),
            (rpcCall(xid: 2, program: 1_298_437, version: 400, procedure: 27, tcp: true), 49153, "glusterd"),
        ]
        for item in cases {
            var tracker = FlowTracker(table: .builtin)
            let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", item.port, payload: item.payload)
            #expect(serviceName(tracker, flow) == item.service, "\(item.service)")
        }
    }

    @Test func cephBannersMatchWholeAndNothingShort() {
        let matching: [(String, Signature)] = [("ceph v027", .cephV1), ("ceph v2\n", .cephV2), ("ceph v027\0\0", .cephV1)]
        for (text, signature) in matching {
            Array(text.utf8).withUnsafeBytes { #expect(Signatures.matches(signature, $0), "\(text.debugDescription)") }
        }
        // One byte short, one byte off at each end, the other version, nothing.
        let missing: [(String, Signature)] = [
            ("ceph v02", .cephV1), ("ceph v028", .cephV1), ("Ceph v027", .cephV1), ("ceph v2\n", .cephV1),
            ("ceph v2", .cephV2), ("ceph v2\r", .cephV2), ("deph v2\n", .cephV2), ("ceph v027", .cephV2), ("", .cephV2),
        ]
        for (text, signature) in missing {
            Array(text.utf8).withUnsafeBytes { #expect(!Signatures.matches(signature, $0), "\(text.debugDescription)") }
        }
        // A banner that starts one byte into the payload is not at its start.
        ([0] + Array("ceph v2\n".utf8)).withUnsafeBytes { bytes in
            #expect(!Signatures.matches(.cephV2, bytes))
            #expect(Signatures.matches(.cephV2, UnsafeRawBufferPointer(rebasing: bytes[1...])))
        }
    }

    @Test func disabledProtocolsAreNotRecognised() {
        var tracker = FlowTracker(table: ProtocolTable.builtin.restricted(to: ["nfs"]))
        let login = Self.iscsiLogin(request: true, text: "InitiatorName=iqn.2026-11.org.example:host\0")
        feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 3260, payload: login)
        #expect(tracker.flows[0].service == nil)
    }
}

@Suite struct NoiseIsNotStorageTests {
    @Test func ordinaryProtocolsNeverClassifyAsStorage() {
        let noise: [(UInt8, UInt16, [UInt8])] = [
            (6, 22, Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)),
            (6, 443, [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + [UInt8](repeating: 0x5a, count: 64)),
            (6, 8250, [0x16, 0x03, 0x03, 0x00, 0x7a, 0x02] + [UInt8](repeating: 0x11, count: 40)),
            (6, 8080, Array("GET /client/api?command=listHosts HTTP/1.1\r\nHost: 198.51.100.1\r\n\r\n".utf8)),
            (17, 53, [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]),
            (17, 123, [0x23] + [UInt8](repeating: 0, count: 47)),
        ]
        for (ipProtocol, port, payload) in noise {
            var tracker = FlowTracker(table: .builtin)
            for _ in 0..<20 {
                feed(&tracker, ipProtocol, "198.51.100.10", 40_000, "198.51.100.1", port, payload: payload)
                feed(&tracker, ipProtocol, "198.51.100.1", port, "198.51.100.10", 40_000, payload: payload)
            }
            #expect(tracker.flows.allSatisfy { $0.service == nil }, "port \(port)")
        }
    }

    @Test func randomPayloadsOnRandomPortsAreNotStorage() {
        var generator = SplitMix64(seed: 0x1a2e_5ee9)
        var tracker = FlowTracker(table: .builtin)
        let table = ProtocolTable.builtin
        var fed = 0
        for round in 0..<100_000 {
            let ipProtocol: UInt8 = round % 2 == 0 ? 6 : 17
            let sourcePort = UInt16(truncatingIfNeeded: 32768 + generator.next() % 28000)
            var destinationPort = UInt16(truncatingIfNeeded: 1024 + generator.next() % 30000)
            if table.serviceIndex(ipProtocol: ipProtocol, port: destinationPort) != nil { destinationPort = 1023 }
            let length = Int(generator.next() % 200)
            var payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Half of them start with a plausible record mark and RPC call words, but random after.
            if round % 4 == 1 && length >= 16 {
                payload.replaceSubrange(0..<12, with: xdr([0x8000_0000 | UInt32(length - 4), 77, 0]))
            }
            feed(&tracker, ipProtocol, "198.51.100.10", sourcePort, "198.51.100.1", destinationPort, payload: payload)
            fed += 1
        }
        #expect(fed == 100_000)
        let storage = tracker.flows.filter { $0.service != nil }
        #expect(storage.isEmpty, "\(storage.count) random flows classified as storage: \(storage.prefix(3).map(\.recognition))")
    }
}

/// Evidence levels (docs/evidence.md): content, well-known port, port range.
@Suite struct EvidenceLevelTests {
    @Test func aPortInACephOSDRangeIsOnlyRangeEvidence() {
        var tracker = FlowTracker(table: .builtin)
        // VNC's server greeting on 6900: a port in Ceph's OSD range, nothing Ceph says.
        let flow = feed(&tracker, 6, "198.51.100.20", 6900, "198.51.100.10", 40_000, payload: Array("RFB 003.008\n".utf8))
        #expect(serviceName(tracker, flow) == "ceph-osd")
        #expect(tracker.flows[0].recognition == .portRange(6900))
        #expect(tracker.flows[0].evidence == .portRange)
        #expect(tracker.flows[0].server.port == 6900)
        #expect(tracker.table.services[tracker.flows[0].service!].title == "Ceph OSD")
    }

    @Test func theMessengerBannerConfirmsAnOSDAndKeepsItsService() {
        var tracker = FlowTracker(table: .builtin)
        feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 6801, payload: Array("ceph v2\n".utf8) + [0x10, 0])
        #expect(serviceName(tracker, 0) == "ceph-osd")
        #expect(tracker.flows[0].recognition == .signature(.cephV2))
        #expect(tracker.flows[0].evidence == .content)
    }

    @Test func wellKnownPortsAndMappingsAreWellKnownPortEvidence() {
        for (port, service) in [(UInt16(2049), "nfs"), (3260, "iscsi"), (6789, "ceph-mon"), (3300, "ceph-msgr2"), (445, "smb"),
                                (4420, "nvme-tcp"), (3205, "isns"), (24007, "glusterd"), (111, "portmapper")] {
            var tracker = FlowTracker(table: .builtin)
            let flow = tracker.observe(packet(6, "198.51.100.10", 40_000, "198.51.100.20", port, flags: 0x02),
                                       segment: 0, wireLength: 74, at: at(1))
            #expect(serviceName(tracker, flow) == service)
            #expect(tracker.flows[0].evidence == .wellKnownPort, "\(port)")
        }
    }

    @Test func contentIsContentEvidence() {
        var tracker = FlowTracker(table: .builtin)
        let call = rpcCall(xid: 9, program: 100_003, version: 3, procedure: 0, tcp: true)
        feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 2049, payload: call)
        #expect(tracker.flows[0].evidence == .content)
        var none = FlowTracker(table: .builtin)
        none.observe(packet(6, "198.51.100.10", 40_000, "198.51.100.20", 8080, flags: 0x02), segment: 0, wireLength: 74, at: at(1))
        #expect(none.flows[0].evidence == nil)
    }

    @Test func aPolicyPortIsWellKnownEvenInsideARange() {
        var table = ProtocolTable.builtin.restricted(to: ["nfs"])
        table.addPorts([7000], toProtocol: "nfs")
        #expect(table.portService(ipProtocol: 6, port: 7000)?.inRange == false)
        #expect(ProtocolTable.builtin.portService(ipProtocol: 6, port: 7000)?.inRange == true)
        #expect(ProtocolTable.builtin.portService(ipProtocol: 6, port: 6789)?.inRange == false)
        #expect(ProtocolTable.builtin.portService(ipProtocol: 17, port: 7000) == nil)  // OSDs are TCP only
    }

    @Test func rangeOnlyFlowsAreSummarisedApart() {
        var tracker = FlowTracker(table: .builtin, maxFlows: 16)
        for i in 0..<40 {
            tracker.observe(packet(6, "198.51.100.10", UInt16(40_000 + i), "198.51.100.20", i % 2 == 0 ? 6900 : 2049, flags: 0x02),
                            segment: 0, wireLength: 74, at: at(Int64(i)))
        }
        let table = ProtocolTable.builtin
        let osd = table.services.firstIndex { $0.name == "ceph-osd" }
        let nfs = table.services.firstIndex { $0.name == "nfs" }
        // The finished flows beyond what `finished` keeps go to the summary: none here, since
        // `finished` holds up to maxFlows storage flows. Drive more to overflow it.
        for i in 40..<80 {
            tracker.observe(packet(6, "198.51.100.10", UInt16(40_000 + i), "198.51.100.20", i % 2 == 0 ? 6900 : 2049, flags: 0x02),
                            segment: 0, wireLength: 74, at: at(Int64(i)))
        }
        let rangeOnly = tracker.summarised[FlowSummaryKey(segment: 0, service: osd, rangeOnly: true)]?.flows ?? 0
        let confirmed = tracker.summarised[FlowSummaryKey(segment: 0, service: nfs, rangeOnly: false)]?.flows ?? 0
        #expect(rangeOnly > 0)
        #expect(confirmed > 0)
        #expect(tracker.summarised[FlowSummaryKey(segment: 0, service: osd, rangeOnly: false)] == nil)
    }
}

/// An iSNSP PDU (RFC 4171 §5.1): version 1, function, payload length, flags, transaction 7, sequence 0.
func isnsPDU(function: UInt16, flags: UInt16, payload: [UInt8]) -> [UInt8] {
    xdr([0x0001_0000 | UInt32(function), UInt32(payload.count) << 16 | UInt32(flags), 0x0007_0000]) + payload
}

/// A DevAttrReg's payload: the Source attribute (tag 32, iSCSI Name, NUL-padded), then the delimiter (tag 0).
let isnsDevAttrReg = xdr([32, 24]) + Array("iqn.2026-11.org.example".utf8) + [0] + xdr([0, 0])

@Suite struct ISNSSignatureTests {
    /// Whether a UDP datagram (all of it, as iSNSP over UDP sends one PDU) carrying `bytes`
    /// to a port iSNS does not own is recognised as iSNS.
    func matches(_ bytes: [UInt8]) -> Bool {
        var tracker = FlowTracker(table: .builtin)
        let flow = feed(&tracker, 17, "198.51.100.10", 40_000, "198.51.100.20", 13205, payload: bytes)
        return serviceName(tracker, flow) == "isns"
    }

    @Test func requestsAndResponsesWithConsistentFieldsMatch() {
        #expect(matches(isnsPDU(function: 0x0001, flags: 0x8c00, payload: isnsDevAttrReg)))
        // A DevAttrRegRsp: the server's flag, status 0, then attributes.
        #expect(matches(isnsPDU(function: 0x8001, flags: 0x4c00, payload: xdr([0]) + isnsDevAttrReg)))
        // An error response with a status and nothing more.
        #expect(matches(isnsPDU(function: 0x8002, flags: 0x4c00, payload: xdr([3]))))
    }

    @Test func oneInconsistentFieldIsEnough() {
        let good = isnsPDU(function: 0x0001, flags: 0x8c00, payload: isnsDevAttrReg)
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0x4c00, payload: isnsDevAttrReg)))  // server flag on a request
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0xcc00, payload: isnsDevAttrReg)))  // both senders
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0x8c01, payload: isnsDevAttrReg)))  // reserved bit
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0x8800, payload: isnsDevAttrReg)))  // not a first PDU
        #expect(!matches(isnsPDU(function: 0x0014, flags: 0x8c00, payload: isnsDevAttrReg)))  // no such function
        #expect(!matches(isnsPDU(function: 0x8001, flags: 0x4c00, payload: xdr([99]) + isnsDevAttrReg)))  // status
        #expect(!matches(Array(good.dropLast(4))))  // the length says more than the datagram holds
        #expect(!matches(good + [0, 0, 0, 0]))  // ... or less
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0x8c00, payload: xdr([0x0100_0000, 4, 0]))))  // tag
        #expect(!matches(isnsPDU(function: 0x0001, flags: 0x8c00, payload: xdr([32, 40, 0]))))  // attribute past the end
    }

    /// Protocols that share iSNSP's first bytes (version 1, a small second word), framed as
    /// their specifications lay them out.
    @Test func lookalikesDoNotMatch() {
        // LDP Hello (RFC 5036 §3.5.2): version 1, PDU length 30, LSR id 192.0.2.1, label space 0,
        // then the Hello message (type 0x0100).
        let ldp: [UInt8] = [0, 1, 0, 30, 192, 0, 2, 1, 0, 0, 0x01, 0x00, 0, 20, 0, 0, 0, 1, 0x04, 0x00, 0, 4, 0, 15, 0, 0,
                            0x04, 0x01, 0, 4, 192, 0, 2, 1]
        #expect(!matches(ldp))
        // A classic STUN Binding Request (RFC 3489 §11.1): type 0x0001, length 8, a 16-byte transaction id, one attribute.
        let stun: [UInt8] = [0, 1, 0, 8] + [UInt8](repeating: 0x5c, count: 16) + [0, 3, 0, 4, 0, 0, 0, 0]
        #expect(!matches(stun))
        // SOME/IP (AUTOSAR PRS_SOMEIP): service 0x0001, method 0x0001, length, client/session, versions, type, code.
        let someip: [UInt8] = [0, 1, 0, 1, 0, 0, 0, 8, 0, 1, 0, 1, 1, 1, 0, 0]
        #expect(!matches(someip))
    }
}

/// NFSv4.0's callback channel (RFC 7530 §16.33): the client names a program and an address
/// in SETCLIENTID; the server connects back to it.
@Suite struct NFSv4CallbackTests {
    /// An NFSv4.0 COMPOUND whose one operation is SETCLIENTID, as Linux sends it.
    static func setClientID(program: UInt32, netid: String = "tcp", address: String) -> [UInt8] {
        let arguments = xdrString("") + xdr([0, 1, 35]) + [1, 2, 3, 4, 5, 6, 7, 8]
            + xdrString("Linux NFSv4.0 198.51.100.10/198.51.100.20 tcp") + xdr([program]) + xdrString(netid)
            + xdrString(address) + xdr([1])
        return rpcCall(xid: 21, program: 100_003, version: 4, procedure: 1, arguments: arguments, tcp: true)
    }

    @Test func theServersConnectionBackIsStorageFromItsFirstPacket() {
        var tracker = FlowTracker(table: .builtin)
        // The client's connection: a NULL call first (content at once), then SETCLIENTID.
        feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 2049,
             payload: rpcCall(xid: 20, program: 100_003, version: 4, procedure: 0, tcp: true))
        feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 2049,
             payload: Self.setClientID(program: 0x4000_0000, address: "198.51.100.10.156.75"), at: 2)
        // The server's SYN to 198.51.100.10:40011 (156 * 256 + 75).
        let back = tracker.observe(packet(6, "198.51.100.20", 45_000, "198.51.100.10", 40_011, flags: 0x02),
                                   segment: 0, wireLength: 74, at: at(3))
        #expect(serviceName(tracker, back) == "nfs-callback")
        #expect(tracker.flows[1].recognition == .callbackAddress(port: 40_011))
        #expect(tracker.flows[1].evidence == .wellKnownPort)
        #expect(tracker.flows[1].server.description == "198.51.100.10:40011")
        #expect(tracker.table.services[tracker.flows[1].service!].protocolName == "nfs")
        // CB_NULL to the program the client chose confirms it.
        feed(&tracker, 6, "198.51.100.20", 45_000, "198.51.100.10", 40_011,
             payload: rpcCall(xid: 1, program: 0x4000_0000, version: 1, procedure: 0, tcp: true), at: 4)
        #expect(tracker.flows[1].recognition == .rpcCall(program: 0x4000_0000, version: 1))
        #expect(tracker.flows[1].evidence == .content)
    }

    @Test func aWildcardAddressMeansTheClientsOwn() {
        var tracker = FlowTracker(table: .builtin)
        feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 2049,
             payload: Self.setClientID(program: 0x4000_0001, address: "0.0.0.0.156.76"))
        let back = tracker.observe(packet(6, "198.51.100.20", 45_001, "198.51.100.10", 40_012, flags: 0x02),
                                   segment: 0, wireLength: 74, at: at(3))
        #expect(serviceName(tracker, back) == "nfs-callback")
    }

    @Test func anUnknownProgramIsNotACallbackUntilAClientNamesIt() {
        var tracker = FlowTracker(table: .builtin)
        let cbNull = rpcCall(xid: 1, program: 0x4000_0000, version: 1, procedure: 0, tcp: true)
        feed(&tracker, 6, "198.51.100.20", 45_000, "198.51.100.10", 40_011, payload: cbNull)
        #expect(serviceName(tracker, 0) == nil)
        // A COMPOUND of another operation, a minor version 1, or a damaged address teach nothing.
        var other = FlowTracker(table: .builtin)
        let notSetClientID = rpcCall(xid: 22, program: 100_003, version: 4, procedure: 1,
                                     arguments: xdrString("") + xdr([0, 1, 24]), tcp: true)  // PUTROOTFH
        feed(&other, 6, "198.51.100.10", 800, "198.51.100.20", 2049, payload: notSetClientID)
        feed(&other, 6, "198.51.100.10", 800, "198.51.100.20", 2049,
             payload: Self.setClientID(program: 0x4000_0000, address: "198.51.100.10.156"), at: 2)
        feed(&other, 6, "198.51.100.10", 800, "198.51.100.20", 2049,
             payload: Self.setClientID(program: 0x4000_0000, netid: "rdma", address: "198.51.100.10.156.75"), at: 3)
        let back = other.observe(packet(6, "198.51.100.20", 45_000, "198.51.100.10", 40_011, flags: 0x02),
                                 segment: 0, wireLength: 74, at: at(4))
        #expect(serviceName(other, back) == nil)
    }

    @Test func aCutSetClientIDNeverReadsPastItsPacket() {
        let whole = Self.setClientID(program: 0x4000_0000, address: "198.51.100.10.156.75")
        for length in 0..<whole.count {
            var tracker = FlowTracker(table: .builtin)
            feed(&tracker, 6, "198.51.100.10", 800, "198.51.100.20", 2049, payload: Array(whole[..<length]))
            let back = tracker.observe(packet(6, "198.51.100.20", 45_000, "198.51.100.10", 40_011, flags: 0x02),
                                       segment: 0, wireLength: 74, at: at(3))
            // Only the whole arguments (up to the address, before callback_ident) teach the address.
            if length < whole.count - 4 { #expect(serviceName(tracker, back) == nil, "\(length)") }
        }
    }
}

@Suite struct PortRangeDirectionTests {
    /// A client's ephemeral port that lies in Ceph's OSD range (a TLS client on 6946, an
    /// HTTP client on 7235) is no evidence of anything: only the server's port counts.
    @Test func aClientPortInTheRangeIsNotStorage() {
        var syn = FlowTracker(table: .builtin)
        syn.observe(packet(6, "198.51.100.10", 6946, "198.51.100.20", 443, flags: 0x02), segment: 0, wireLength: 74, at: at(1))
        #expect(syn.flows[0].service == nil)
        #expect(syn.flows[0].server.port == 443)
        // Mid-flow (no SYN seen): the lower port is taken as the server's.
        var mid = FlowTracker(table: .builtin)
        mid.observe(packet(6, "198.51.100.20", 3128, "198.51.100.10", 7235, flags: 0x10), segment: 0, wireLength: 74, at: at(1))
        #expect(mid.flows[0].service == nil)
        var reply = FlowTracker(table: .builtin)
        reply.observe(packet(6, "198.51.100.10", 7236, "198.51.100.20", 3128, flags: 0x10), segment: 0, wireLength: 74, at: at(1))
        #expect(reply.flows[0].service == nil)
    }

    @Test func theServersPortInTheRangeIsRangeEvidenceEitherWay() {
        var syn = FlowTracker(table: .builtin)
        syn.observe(packet(6, "198.51.100.10", 40_000, "198.51.100.20", 6800, flags: 0x02), segment: 0, wireLength: 74, at: at(1))
        #expect(syn.flows[0].recognition == .portRange(6800))
        #expect(syn.flows[0].server.port == 6800)
        var synAck = FlowTracker(table: .builtin)
        synAck.observe(packet(6, "198.51.100.20", 6800, "198.51.100.10", 40_000, flags: 0x12), segment: 0, wireLength: 74, at: at(1))
        #expect(synAck.flows[0].recognition == .portRange(6800))
        #expect(synAck.flows[0].server.port == 6800)
        // A well-known port still counts on either side, as before.
        var nfs = FlowTracker(table: .builtin)
        nfs.observe(packet(6, "198.51.100.10", 800, "198.51.100.20", 2049, flags: 0x10), segment: 0, wireLength: 74, at: at(1))
        #expect(nfs.flows[0].recognition == .port(2049))
    }
}
