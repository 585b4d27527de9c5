import Decode
import Flows
import Frames
import Testing

/// Builds a decoded TCP/UDP packet or fragment by hand.
func packet(
    _ ipProtocol: UInt8, _ source: String, _ sourcePort: UInt16, _ destination: String, _ destinationPort: UInt16,
    flags: UInt8 = 0x10, fragment: (id: UInt32, offset: UInt32, more: Bool)? = nil
) -> DecodedPacket {
    var p = DecodedPacket()
    p.ipVersion = source.contains(":") ? 6 : 4
    p.source = IPAddress(source)!
    p.destination = IPAddress(destination)!
    p.ipProtocol = ipProtocol
    if let fragment {
        p.isFragment = true
        p.fragmentID = fragment.id
        p.fragmentOffset = fragment.offset
        p.moreFragments = fragment.more
    }
    if !p.isLaterFragment {
        p.hasPorts = true
        p.sourcePort = sourcePort
        p.destinationPort = destinationPort
        p.tcpFlags = ipProtocol == 6 ? flags : 0
    }
    return p
}

func at(_ seconds: Int64) -> Timestamp { Timestamp(nanoseconds: seconds * 1_000_000_000) }

@Suite struct FlowTrackerTests {
    let table = ProtocolTable.builtin

    @Test func bothDirectionsShareOneFlowAndTheServerIsTheStoragePort() {
        var tracker = FlowTracker(table: table)
        let a = tracker.observe(packet(6, "198.51.100.10", 700, "198.51.100.20", 2049, flags: 0x02), segment: 0, wireLength: 74, at: at(1))
        let b = tracker.observe(packet(6, "198.51.100.20", 2049, "198.51.100.10", 700, flags: 0x12), segment: 0, wireLength: 74, at: at(2))
        let c = tracker.observe(packet(6, "198.51.100.10", 700, "198.51.100.20", 2049), segment: 0, wireLength: 66, at: at(3))
        #expect(a == 0 && b == 0 && c == 0)
        #expect(tracker.flows.count == 1)
        let flow = tracker.flows[0]
        #expect(flow.packets == 3)
        #expect(flow.bytes == 214)
        #expect(flow.client.description == "198.51.100.10:700")
        #expect(flow.server.description == "198.51.100.20:2049")
        #expect(flow.service.map { table.services[$0].name } == "nfs")
        #expect(flow.firstSeen == at(1) && flow.lastSeen == at(3))
    }

    @Test func aReplySeenFirstStillNamesTheServer() {
        var tracker = FlowTracker(table: table)
        tracker.observe(packet(6, "203.0.113.20", 3260, "203.0.113.10", 51000), segment: 0, wireLength: 1514, at: at(1))
        #expect(tracker.flows[0].server.port == 3260)
        #expect(tracker.flows[0].client.address == IPAddress("203.0.113.10"))
        #expect(tracker.flows[0].service.map { table.services[$0].protocolName } == "iscsi")
    }

    @Test func theSameTupleOnAnotherSegmentIsAnotherFlow() {
        var tracker = FlowTracker(table: table)
        tracker.observe(packet(6, "203.0.113.10", 700, "203.0.113.20", 2049), segment: 0, wireLength: 60, at: at(1))
        tracker.observe(packet(6, "203.0.113.10", 700, "203.0.113.20", 2049), segment: 1, wireLength: 60, at: at(1))
        #expect(tracker.flows.count == 2)
    }

    @Test func nonStorageFlowsHaveNoServiceAndAGuessedServer() {
        var tracker = FlowTracker(table: table)
        tracker.observe(packet(6, "198.51.100.1", 22, "198.51.100.10", 40000), segment: 0, wireLength: 60, at: at(1))
        tracker.observe(packet(17, "198.51.100.10", 53000, "198.51.100.1", 53), segment: 0, wireLength: 80, at: at(1))
        #expect(tracker.flows.allSatisfy { $0.service == nil })
        #expect(tracker.flows[0].server.port == 22)
        #expect(tracker.flows[1].server.port == 53)
    }

    @Test func udpStoragePortIsRecognisedButTcpOnlyServicesAreNot() {
        var tracker = FlowTracker(table: table)
        tracker.observe(packet(17, "203.0.113.10", 900, "203.0.113.20", 111), segment: 0, wireLength: 98, at: at(1))
        tracker.observe(packet(17, "203.0.113.10", 901, "203.0.113.20", 3260), segment: 0, wireLength: 98, at: at(1))
        #expect(tracker.flows[0].service.map { table.services[$0].name } == "portmapper")
        #expect(tracker.flows[1].service == nil)
    }

    @Test func fragmentsInOrderJoinTheirDatagramsFlow() {
        var tracker = FlowTracker(table: table)
        let first = packet(17, "203.0.113.10", 800, "203.0.113.20", 2049, fragment: (7, 0, true))
        let second = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (7, 1480, true))
        let last = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (7, 2960, false))
        #expect(tracker.observe(first, segment: 0, wireLength: 1514, at: at(1)) == 0)
        #expect(tracker.observe(second, segment: 0, wireLength: 1514, at: at(1)) == 0)
        #expect(tracker.observe(last, segment: 0, wireLength: 600, at: at(1)) == 0)
        tracker.finish()
        #expect(tracker.flows[0].packets == 3)
        #expect(tracker.flows[0].laterFragments == 2)
        #expect(tracker.flows[0].bytes == 1514 + 1514 + 600)
        #expect(tracker.orphanFragments.isEmpty)
    }

    @Test func fragmentsBeforeTheirFirstFragmentAreCountedWhenItArrives() {
        var tracker = FlowTracker(table: table)
        let last = packet(17, "2001:db8:0:203::10", 0, "2001:db8:0:203::20", 0, fragment: (0x1234_5678, 2960, false))
        let middle = packet(17, "2001:db8:0:203::10", 0, "2001:db8:0:203::20", 0, fragment: (0x1234_5678, 1448, true))
        let first = packet(17, "2001:db8:0:203::10", 800, "2001:db8:0:203::20", 2049, fragment: (0x1234_5678, 0, true))
        #expect(tracker.observe(last, segment: 0, wireLength: 500, at: at(2)) == nil)
        #expect(tracker.observe(middle, segment: 0, wireLength: 1514, at: at(3)) == nil)
        #expect(tracker.observe(first, segment: 0, wireLength: 1514, at: at(4)) == 0)
        tracker.finish()
        #expect(tracker.flows[0].packets == 3)
        #expect(tracker.flows[0].firstSeen == at(2))
        #expect(tracker.orphanFragments.isEmpty)
    }

    @Test func fragmentsWhoseDatagramNeverShowsUpAreOrphansNotLost() {
        var tracker = FlowTracker(table: table)
        let stray = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (9, 1480, false))
        tracker.observe(stray, segment: 3, wireLength: 700, at: at(1))
        tracker.finish()
        #expect(tracker.flows.isEmpty)
        #expect(tracker.orphanFragments[3]?.packets == 1)
        #expect(tracker.orphanFragments[3]?.bytes == 700)
    }

    @Test func fragmentStateStaysBoundedAndCountsEverything() {
        var tracker = FlowTracker(table: table, maxFragmentEntries: 64)
        // 10,000 datagrams whose first fragment never arrives: memory stays bounded, nothing is lost.
        for id in 0..<10_000 {
            let stray = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (UInt32(id), 1480, false))
            tracker.observe(stray, segment: 0, wireLength: 100, at: at(Int64(id)))
        }
        tracker.finish()
        #expect(tracker.orphanFragments[0]?.packets == 10_000)
        #expect(tracker.orphanFragments[0]?.bytes == 1_000_000)
    }

    @Test func aStaleOwnerDoesNotCaptureANewDatagramWithTheSameID() {
        var tracker = FlowTracker(table: table, fragmentTimeout: 30_000_000_000)
        let first = packet(17, "203.0.113.10", 800, "203.0.113.20", 2049, fragment: (5, 0, true))
        tracker.observe(first, segment: 0, wireLength: 1514, at: at(0))
        let muchLater = packet(17, "203.0.113.10", 0, "203.0.113.20", 0, fragment: (5, 1480, false))
        #expect(tracker.observe(muchLater, segment: 0, wireLength: 100, at: at(100)) == nil)
    }

    @Test func extraPortsFromThePolicyAreStorage() {
        var extended = table
        let added = extended.addPorts([13260], toProtocol: "iscsi")
        let unknown = extended.addPorts([1], toProtocol: "nope")
        #expect(added)
        #expect(!unknown)
        var tracker = FlowTracker(table: extended)
        tracker.observe(packet(6, "203.0.113.10", 40000, "203.0.113.20", 13260), segment: 0, wireLength: 60, at: at(1))
        #expect(tracker.flows[0].service.map { extended.services[$0].name } == "iscsi")
        #expect(extended.restricted(to: ["nfs"]).serviceIndex(ipProtocol: 6, port: 3260) == nil)
        #expect(extended.restricted(to: ["nfs"]).serviceIndex(ipProtocol: 6, port: 2049) != nil)
    }
}
