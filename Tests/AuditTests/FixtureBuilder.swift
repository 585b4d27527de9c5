import Audit
import Decode
import Foundation

/// Kernel-shaped rtnetlink dump answers, for hosts this kernel cannot build (it has no bonding
/// and no 8021q module): the same structures, flags and attribute layout the kernel sends.
enum FixtureBuilder {
    struct Link {
        var index: Int32
        var name: String
        var kind: String? = nil
        var master: Int32? = nil
        var link: Int32? = nil
        var vlanID: UInt16? = nil
        var loopback = false
    }

    struct Address {
        var index: Int32
        var cidr: String
        var scope: UInt8 = 0
    }

    struct Route {
        var destination: String?  // nil: default route
        var length: UInt8
        var table: UInt32 = RTNetlink.tableMain
        var type: UInt8 = RTNetlink.routeUnicast
        var index: Int32
        var gateway: String? = nil
        var source: String? = nil
        var isIPv4 = true
    }

    static func ip(_ text: String) -> [UInt8] {
        NetlinkMessageBuilder.addressBytes(IPAddress(text)!)
    }

    static func native<T: FixedWidthInteger>(_ value: T) -> [UInt8] { NetlinkMessageBuilder.native(value) }

    static let done: [UInt8] = NetlinkMessageBuilder(type: RTNetlink.typeDone, flags: RTNetlink.flagMulti, body: native(Int32(0))).bytes

    static func links(_ links: [Link], withMasters: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for link in links {
            let flags: UInt32 = RTNetlink.interfaceUp | 0x40 | (link.loopback ? RTNetlink.interfaceLoopback : 0x1000)
            let body = [0, 0] + native(link.loopback ? RTNetlink.arpLoopback : UInt16(1)) + native(link.index)
                + native(flags) + native(UInt32(0))
            var message = NetlinkMessageBuilder(type: RTNetlink.newLink, flags: RTNetlink.flagMulti, body: body)
            message.attribute(RTNetlink.iflaName, Array(link.name.utf8) + [0])
            message.attribute(RTNetlink.iflaOperState, [link.loopback ? 0 : 6])
            if withMasters, let master = link.master { message.attribute(RTNetlink.iflaMaster, native(master)) }
            if let lower = link.link { message.attribute(RTNetlink.iflaLink, native(lower)) }
            if let kind = link.kind {
                var info = NetlinkMessageBuilder.attribute(RTNetlink.infoKind, Array(kind.utf8) + [0])
                if let vlan = link.vlanID {
                    info += NetlinkMessageBuilder.attribute(
                        RTNetlink.infoData | 0x8000, NetlinkMessageBuilder.attribute(RTNetlink.vlanID, native(vlan)))
                }
                message.attribute(RTNetlink.iflaLinkInfo | 0x8000, info)
            }
            out += message.bytes
        }
        return out + done
    }

    static func addresses(_ addresses: [Address]) -> [UInt8] {
        var out: [UInt8] = []
        for address in addresses {
            let parts = address.cidr.split(separator: "/")
            let value = IPAddress(parts[0])!
            let body: [UInt8] = [value.isIPv4 ? RTNetlink.familyIPv4 : RTNetlink.familyIPv6, UInt8(parts[1])!, 0x80, address.scope]
                + native(UInt32(bitPattern: address.index))
            var message = NetlinkMessageBuilder(type: RTNetlink.newAddress, flags: RTNetlink.flagMulti, body: body)
            message.attribute(RTNetlink.ifaAddress, ip(String(parts[0])))
            if value.isIPv4 { message.attribute(RTNetlink.ifaLocal, ip(String(parts[0]))) }
            out += message.bytes
        }
        return out + done
    }

    static func routes(_ routes: [Route]) -> [UInt8] {
        var out: [UInt8] = []
        for route in routes {
            let scope: UInt8 = route.type == RTNetlink.routeLocal ? RTNetlink.scopeHost
                : route.gateway == nil ? RTNetlink.scopeLink : 0
            let body: [UInt8] = [route.isIPv4 ? RTNetlink.familyIPv4 : RTNetlink.familyIPv6, route.length, 0, 0,
                                 UInt8(truncatingIfNeeded: route.table), route.gateway == nil ? 2 : 3, scope, route.type]
                + native(UInt32(0))
            var message = NetlinkMessageBuilder(type: RTNetlink.newRoute, flags: RTNetlink.flagMulti, body: body)
            message.attribute(RTNetlink.rtaTable, native(route.table))
            if let destination = route.destination { message.attribute(RTNetlink.rtaDestination, ip(destination)) }
            if let source = route.source { message.attribute(RTNetlink.rtaPreferredSource, ip(source)) }
            if let gateway = route.gateway { message.attribute(RTNetlink.rtaGateway, ip(gateway)) }
            message.attribute(RTNetlink.rtaOutputInterface, native(route.index))
            out += message.bytes
        }
        return out + done
    }

    // MARK: - The vlan-bond host

    /// eth0 and eth1 bonded as bond0 under the management bridge cloudbr0; the storage VLAN 42
    /// on the same bond as bond0.42; eth2 under cloudbr1 (public and guest traffic).
    static let vlanBondLinks: [Link] = [
        Link(index: 1, name: "lo", loopback: true),
        Link(index: 2, name: "eth0", master: 4),
        Link(index: 3, name: "eth1", master: 4),
        Link(index: 4, name: "bond0", kind: "bond", master: 5),
        Link(index: 5, name: "cloudbr0", kind: "bridge"),
        Link(index: 6, name: "bond0.42", kind: "vlan", link: 4, vlanID: 42),
        Link(index: 7, name: "eth2", master: 8),
        Link(index: 8, name: "cloudbr1", kind: "bridge"),
    ]

    static let vlanBondAddresses: [Address] = [
        Address(index: 1, cidr: "127.0.0.1/8", scope: RTNetlink.scopeHost),
        Address(index: 5, cidr: "198.51.100.10/24"),
        Address(index: 6, cidr: "203.0.113.10/24"),
        Address(index: 8, cidr: "192.0.2.10/24"),
        Address(index: 5, cidr: "fe80::1/64", scope: RTNetlink.scopeLink),
    ]

    static let vlanBondRoutes: [Route] = [
        Route(destination: nil, length: 0, index: 5, gateway: "198.51.100.1"),
        Route(destination: "198.51.100.0", length: 24, index: 5, source: "198.51.100.10"),
        Route(destination: "203.0.113.0", length: 24, index: 6, source: "203.0.113.10"),
        Route(destination: "192.0.2.0", length: 24, index: 8, source: "192.0.2.10"),
        Route(destination: "198.51.100.10", length: 32, table: RTNetlink.tableLocal, type: RTNetlink.routeLocal, index: 5,
              source: "198.51.100.10"),
        Route(destination: "203.0.113.10", length: 32, table: RTNetlink.tableLocal, type: RTNetlink.routeLocal, index: 6,
              source: "203.0.113.10"),
    ]

    static var vlanBondFiles: [String: [UInt8]] {
        ["link.nl": links(vlanBondLinks), "addr.nl": addresses(vlanBondAddresses), "route.nl": routes(vlanBondRoutes)]
    }
}

/// Netlink answers held in memory.
struct MemoryNetlink: NetlinkSource {
    var files: [String: [UInt8]]

    func dump(_ kind: NetlinkDump) throws(HostReadError) -> [UInt8] { files["\(kind.rawValue).nl"] ?? [] }
    func routeAnswer(to destination: IPAddress) throws(HostReadError) -> [UInt8]? { nil }
}
