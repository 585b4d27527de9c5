import Audit
import Decode
import Foundation
import Testing

/// The rtnetlink reader against answers recorded from this machine's kernel
/// (Fixtures/bridge-host): golden values, every prefix, and lengths that lie.
@Suite struct NetlinkFormatTests {
    static let recorded = ["link.nl", "addr.nl", "route.nl", "route-get/203.0.113.20.nl",
                           "route-get/2001:db8:0:203::20.nl", "route-get/198.51.100.20.nl"]

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try #require(FileManager.default.contents(atPath: fixture("bridge-host/\(name)"))))
    }

    static func records<Record>(_ name: String, _ type: UInt16, _ make: (NetlinkMessage) throws -> Record) throws -> [Record] {
        let (messages, error) = NetlinkMessage.split(try bytes(name))
        #expect(error == nil)
        #expect(messages.last?.type == RTNetlink.typeDone)
        return try messages.filter { $0.type == type }.map(make)
    }

    @Test func goldenLinks() throws {
        let links = try Self.records("link.nl", RTNetlink.newLink, LinkRecord.init)
        #expect(links.map(\.name) == ["lo", "cloudbr0", "eth0", "stor0"])
        #expect(links.map(\.index) == [1, 2, 3, 4])
        #expect(links.map(\.kind) == [nil, "bridge", "veth", "veth"])
        #expect(links.map(\.master) == [nil, nil, 2, nil])
        #expect(links[0].isLoopback && !links[1].isLoopback)
        #expect(links.map(\.operState) == ["unknown", "up", "up", "up"])
        // A veth's IFLA_LINK is its peer in another namespace, never a lower device.
        #expect(links[2].link != nil && links[2].linkNetNSID != nil)
        #expect(links.allSatisfy { $0.lowerFromLink == nil && $0.vlanID == nil })
    }

    @Test func goldenAddresses() throws {
        let addresses = try Self.records("addr.nl", RTNetlink.newAddress, AddressRecord.init)
        let routable = addresses.filter(\.isRoutable).map { "\($0.interfaceIndex) \($0.cidr)" }
        #expect(Set(routable) == ["2 198.51.100.10/24", "4 203.0.113.10/24", "2 2001:db8:0:198::10/64",
                                  "4 2001:db8:0:203::10/64"])
        #expect(addresses.contains { $0.cidr == "127.0.0.1/8" && !$0.isRoutable })
        #expect(addresses.contains { $0.address.description.hasPrefix("fe80:") && !$0.isRoutable })
        #expect(addresses.first { $0.cidr == "198.51.100.10/24" }?.subnet?.description == "198.51.100.0/24")
    }

    @Test func goldenRoutes() throws {
        let routes = try Self.records("route.nl", RTNetlink.newRoute, RouteRecord.init)
        let main = routes.filter { $0.table == RTNetlink.tableMain }
        #expect(main.contains { $0.prefix?.description == "0.0.0.0/0" && $0.gateway?.description == "198.51.100.1" && $0.outputInterface == 2 })
        #expect(main.contains { $0.prefix?.description == "203.0.113.0/24" && $0.gateway == nil && $0.outputInterface == 4 })
        #expect(routes.contains { $0.table == RTNetlink.tableLocal && $0.type == RTNetlink.routeLocal
            && $0.destination?.description == "203.0.113.10" })
    }

    @Test(arguments: [("203.0.113.20", 4, "203.0.113.10"), ("2001:db8:0:203::20", 4, "2001:db8:0:203::10"),
                      ("198.51.100.20", 2, "198.51.100.10")])
    func goldenRouteGet(_ target: String, _ interface: Int32, _ source: String) throws {
        guard case let .route(route) = try RouteAnswer.decode(try Self.bytes("route-get/\(target).nl")) else {
            Issue.record("no route")
            return
        }
        #expect(route.outputInterface == interface)
        #expect(route.preferredSource?.description == source)
        #expect(route.gateway == nil)
        #expect(route.table == RTNetlink.tableMain)
        #expect(route.destination?.description == target)
    }

    @Test func anErrorAnswerIsNoRoute() throws {
        // NLMSG_ERROR carrying -ENETUNREACH and the request's header.
        let body = NetlinkMessageBuilder.native(Int32(-101)) + [UInt8](repeating: 0, count: 16)
        let answer = NetlinkMessageBuilder(type: RTNetlink.typeError, flags: 0, body: body).bytes
        #expect(try RouteAnswer.decode(answer) == .noRoute("Network is unreachable"))
        #expect(throws: HostReadError.self) { try RouteAnswer.decode(FixtureBuilder.done) }
    }

    @Test(arguments: recorded)
    func everyPrefixSplitsSafely(_ name: String) throws {
        let bytes = try Self.bytes(name)
        let full = NetlinkMessage.split(bytes).messages
        let ends = Set(full.map { $0.offset + 16 + $0.payload.count })
        for count in 0..<bytes.count {
            let (messages, error) = NetlinkMessage.split(Array(bytes[..<count]))
            // Only whole messages, the same ones; an error exactly when a message is cut.
            #expect(messages.count <= full.count)
            for (index, message) in messages.enumerated() {
                #expect(message.type == full[index].type && Array(message.payload) == Array(full[index].payload))
            }
            #expect((error == nil) == (count == 0 || ends.contains(count)), "prefix \(count) of \(name)")
            if let error { #expect(error.offset == (messages.last.map { $0.offset + 16 + $0.payload.count } ?? 0)) }
        }
    }

    /// Every prefix of every message's body: a decoder reports or succeeds, never traps.
    @Test(arguments: recorded)
    func everyPrefixOfEveryMessageDecodesSafely(_ name: String) throws {
        for message in NetlinkMessage.split(try Self.bytes(name)).messages {
            for count in 0..<message.payload.count {
                var cut = message
                cut.payload = message.payload.prefix(count)
                _ = try? LinkRecord(cut)
                _ = try? AddressRecord(cut)
                _ = try? RouteRecord(cut)
                _ = try? RouteAnswer.decode(Array(NetlinkMessageBuilder(type: cut.type, flags: 0, body: Array(cut.payload)).bytes))
            }
        }
    }

    /// Every 16- and 32-bit field set to values that lie (0, 3, 4, one past the end, maximal):
    /// nlmsg_len and rta_len among them. No trap, and a lying length is reported.
    @Test(arguments: recorded)
    func lyingLengthsNeverTrap(_ name: String) throws {
        let bytes = try Self.bytes(name)
        var reported = 0
        for offset in stride(from: 0, to: bytes.count - 1, by: 2) {
            for value in [UInt16(0), 3, 4, UInt16(truncatingIfNeeded: bytes.count + 1), 0xffff] {
                var damaged = bytes
                withUnsafeBytes(of: value) { damaged.replaceSubrange(offset..<offset + 2, with: $0) }
                let (messages, error) = NetlinkMessage.split(damaged)
                if error != nil { reported += 1 }
                for message in messages {
                    _ = try? LinkRecord(message)
                    _ = try? AddressRecord(message)
                    _ = try? RouteRecord(message)
                }
                _ = try? RouteAnswer.decode(damaged)
                _ = try? HostInventory.read(from: MemoryNetlink(files: [name: damaged]), sysfsRoot: "/nonexistent")
            }
        }
        #expect(reported > 0)
    }

    @Test func aLyingAttributeLengthIsReported() throws {
        var message = NetlinkMessageBuilder(type: RTNetlink.newLink, flags: 0, body: [UInt8](repeating: 0, count: 16))
        message.attribute(RTNetlink.iflaName, Array("eth0".utf8) + [0])
        var bytes = message.bytes
        bytes[32] = 200  // rta_len of IFLA_IFNAME, at 16 + 16
        let parsed = try #require(NetlinkMessage.split(bytes).messages.first)
        #expect(throws: NetlinkFormatError(offset: 32, message: "rtattr type 3 says 200 bytes, 12 remain")) {
            try LinkRecord(parsed)
        }
    }
}
