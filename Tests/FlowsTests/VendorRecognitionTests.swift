import Flows
import TestSupport
import Testing

@Suite struct DRBDSignatureTests {
    /// Whether `payload`, sent to port 12345 (nothing in the table), makes the flow DRBD.
    func recognised(_ payload: [UInt8], port: UInt16 = 12345) -> Bool {
        var tracker = FlowTracker(table: .builtin)
        let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", port, payload: payload)
        return serviceName(tracker, flow) == "drbd"
    }

    @Test func theHandshakeIsRecognisedOnAnyPortAsContent() {
        for payload in [DRBDPackets.initialData, DRBDPackets.initialMeta, DRBDPackets.features80, DRBDPackets.features100,
                        DRBDPackets.data100, DRBDPackets.ping100] {
            var tracker = FlowTracker(table: .builtin)
            let flow = feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 12345, payload: payload)
            #expect(serviceName(tracker, flow) == "drbd", "\(payload.prefix(8))")
            #expect(tracker.flows[0].recognition == .signature(.drbd))
            #expect(tracker.flows[0].evidence == .content)
        }
    }

    @Test func oneInconsistentFieldIsEnoughToRefuse() {
        var wrongMagic = DRBDPackets.initialData
        wrongMagic[3] = 0x68
        #expect(!recognised(wrongMagic))
        #expect(!recognised(DRBDPackets.h80(command: 0xfff2, length: 8)))  // a first packet carries nothing
        #expect(!recognised(DRBDPackets.h80(command: 0xfff0, length: 0)))  // no such command
        #expect(!recognised(DRBDPackets.h80(command: 0x00, length: 16)))  // h80 only for the handshake
        #expect(!recognised(DRBDPackets.h80(command: 0xfffe, length: 64) + DRBDPackets.features()))  // features are 72 bytes
        #expect(!recognised(DRBDPackets.h80(command: 0xfffe, length: 72) + DRBDPackets.features(minimum: 85)))
        #expect(!recognised(DRBDPackets.h80(command: 0xfffe, length: 72) + DRBDPackets.features(minimum: 256, maximum: 0)))
        #expect(!recognised(DRBDPackets.h80(command: 0xfffe, length: 72) + DRBDPackets.features(minimum: 118, maximum: 101)))
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0xfffe, length: 72) + DRBDPackets.features()))  // volume -1
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0x13, length: 0, pad: 1)))  // pad must be 0
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0x25, length: 0)))  // reserved for protocol D
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0x37, length: 0)))  // the gap before 0x40
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0x5a, length: 0)))  // past the last command
        #expect(!recognised(DRBDPackets.h100(volume: 0, command: 0x00, length: (1 << 24) + 1)))
        // h95 (DRBD_MAGIC_BIG, 16 bits) is too little to go on.
        #expect(!recognised(FrameBuilder.be16(0x835a) + FrameBuilder.be16(0x00) + FrameBuilder.be32(4096) + [UInt8](repeating: 0, count: 24)))
    }

    @Test func everyPrefixIsSafeAndOnlyCompleteFieldsCount() {
        let cases: [(bytes: [UInt8], needed: Int)] = [
            (DRBDPackets.initialData, 8), (DRBDPackets.features80, 8 + 12), (DRBDPackets.features100, 16 + 12),
            (DRBDPackets.ping100, 16),
        ]
        for item in cases {
            for length in 0...item.bytes.count {
                #expect(recognised(Array(item.bytes.prefix(length))) == (length >= item.needed), "prefix \(length)")
            }
        }
    }

    @Test func linstorsRangeIsOnlyRangeEvidenceOnTheServerSide() {
        var tracker = FlowTracker(table: .builtin)
        // A SYN to 7789, DRBD's customary port and in Linstor's 7000-7999, says nothing more.
        let flow = tracker.observe(packet(6, "198.51.100.10", 40_000, "198.51.100.20", 7789, flags: 0x02),
                                   segment: 0, wireLength: 74, at: at(1))
        #expect(serviceName(tracker, flow) == "drbd")
        #expect(tracker.flows[0].recognition == .portRange(7789))
        #expect(tracker.flows[0].evidence == .portRange)
        #expect(tracker.table.services[tracker.flows[0].service!].title == "DRBD")
        // Its first packet confirms it.
        feed(&tracker, 6, "198.51.100.10", 40_000, "198.51.100.20", 7789, payload: DRBDPackets.initialData)
        #expect(tracker.flows[0].evidence == .content)
        #expect(serviceName(tracker, 0) == "drbd")
        // Ceph's OSD range keeps 7000-7300.
        #expect(tracker.table.services[ProtocolTable.builtin.portService(ipProtocol: 6, port: 7300)!.service].name == "ceph-osd")
        #expect(tracker.table.services[ProtocolTable.builtin.portService(ipProtocol: 6, port: 7301)!.service].name == "drbd")
        #expect(ProtocolTable.builtin.portService(ipProtocol: 17, port: 7789) == nil)  // DRBD is TCP only
    }
}

@Suite struct PowerFlexAndStorPoolRowTests {
    @Test func powerFlexIsKnownByItsSDSAndMDMPorts() {
        for (port, service) in [(UInt16(7072), "powerflex-sds"), (6611, "powerflex-mdm"), (9011, "powerflex-mdm")] {
            var tracker = FlowTracker(table: .builtin)
            let flow = tracker.observe(packet(6, "198.51.100.10", 40_000, "198.51.100.20", port, flags: 0x02),
                                       segment: 0, wireLength: 74, at: at(1))
            #expect(serviceName(tracker, flow) == service)
            #expect(tracker.table.services[tracker.flows[0].service!].protocolName == "powerflex")
            // 7072 lies in Ceph's and Linstor's ranges; a well-known port outranks any range.
            #expect(tracker.flows[0].evidence == .wellKnownPort, "\(port)")
        }
        // The REST gateway the pool's address names (HTTPS) and the LIA (9099) are management.
        for port: UInt16 in [443, 80, 9099] {
            #expect(ProtocolTable.builtin.portService(ipProtocol: 6, port: port) == nil)
        }
    }

    @Test func storPoolIsListedButNeverObserved() {
        let table = ProtocolTable.builtin
        #expect(table.protocolNames.contains("storpool"))
        #expect(table.unobservableProtocolNames.contains("storpool"))
        #expect(!table.observableProtocolNames.contains("storpool"))
        #expect(table.observableProtocolNames.contains("drbd"))
        #expect(table.observableProtocolNames.contains("powerflex"))
        let storpool = table.services.first { $0.protocolName == "storpool" }
        #expect(storpool?.unobservableBecause?.contains("no public wire format or ports") == true)
    }
}
