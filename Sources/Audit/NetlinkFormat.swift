import Decode
import Policy

/// The parts of the rtnetlink ABI lanekeeper reads. Glibc exposes `linux/netlink.h` and
/// `linux/rtnetlink.h` to Swift only partly (their macros not at all), so the numbers are
/// written out here; each group names the kernel header it comes from.
public enum RTNetlink {
    // linux/netlink.h
    public static let protocolRoute: Int32 = 0  // NETLINK_ROUTE
    public static let messageHeaderLength = 16  // struct nlmsghdr
    public static let typeNoop: UInt16 = 1  // NLMSG_NOOP
    public static let typeError: UInt16 = 2  // NLMSG_ERROR
    public static let typeDone: UInt16 = 3  // NLMSG_DONE
    public static let typeOverrun: UInt16 = 4  // NLMSG_OVERRUN
    public static let flagRequest: UInt16 = 0x1  // NLM_F_REQUEST
    public static let flagMulti: UInt16 = 0x2  // NLM_F_MULTI
    public static let flagDump: UInt16 = 0x300  // NLM_F_ROOT | NLM_F_MATCH
    public static let flagDumpInterrupted: UInt16 = 0x10  // NLM_F_DUMP_INTR

    // linux/rtnetlink.h
    public static let newLink: UInt16 = 16  // RTM_NEWLINK
    public static let getLink: UInt16 = 18  // RTM_GETLINK
    public static let newAddress: UInt16 = 20  // RTM_NEWADDR
    public static let getAddress: UInt16 = 22  // RTM_GETADDR
    public static let newRoute: UInt16 = 24  // RTM_NEWROUTE
    public static let getRoute: UInt16 = 26  // RTM_GETROUTE
    public static let lookupTable: UInt32 = 0x1000  // RTM_F_LOOKUP_TABLE: say which table answered
    public static let tableMain: UInt32 = 254  // RT_TABLE_MAIN
    public static let tableLocal: UInt32 = 255  // RT_TABLE_LOCAL
    public static let routeUnicast: UInt8 = 1  // RTN_UNICAST
    public static let routeLocal: UInt8 = 2  // RTN_LOCAL
    public static let scopeLink: UInt8 = 253  // RT_SCOPE_LINK
    public static let scopeHost: UInt8 = 254  // RT_SCOPE_HOST
    // enum rtattr_type_t
    public static let rtaDestination: UInt16 = 1  // RTA_DST
    public static let rtaOutputInterface: UInt16 = 4  // RTA_OIF
    public static let rtaGateway: UInt16 = 5  // RTA_GATEWAY
    public static let rtaPriority: UInt16 = 6  // RTA_PRIORITY
    public static let rtaPreferredSource: UInt16 = 7  // RTA_PREFSRC
    public static let rtaTable: UInt16 = 15  // RTA_TABLE

    // linux/if_link.h
    public static let iflaAddress: UInt16 = 1  // IFLA_ADDRESS
    public static let iflaName: UInt16 = 3  // IFLA_IFNAME
    public static let iflaLink: UInt16 = 5  // IFLA_LINK
    public static let iflaMaster: UInt16 = 10  // IFLA_MASTER
    public static let iflaOperState: UInt16 = 16  // IFLA_OPERSTATE
    public static let iflaLinkInfo: UInt16 = 18  // IFLA_LINKINFO
    public static let iflaLinkNetNSID: UInt16 = 37  // IFLA_LINK_NETNSID
    public static let infoKind: UInt16 = 1  // IFLA_INFO_KIND
    public static let infoData: UInt16 = 2  // IFLA_INFO_DATA
    public static let infoSlaveKind: UInt16 = 4  // IFLA_INFO_SLAVE_KIND
    public static let vlanID: UInt16 = 1  // IFLA_VLAN_ID (inside IFLA_INFO_DATA of kind "vlan")

    // linux/if_addr.h
    public static let ifaAddress: UInt16 = 1  // IFA_ADDRESS
    public static let ifaLocal: UInt16 = 2  // IFA_LOCAL
    public static let ifaLabel: UInt16 = 3  // IFA_LABEL

    // linux/if.h, linux/if_arp.h
    public static let interfaceUp: UInt32 = 0x1  // IFF_UP
    public static let interfaceLoopback: UInt32 = 0x8  // IFF_LOOPBACK
    public static let arpLoopback: UInt16 = 772  // ARPHRD_LOOPBACK

    // linux/socket.h
    public static let familyIPv4: UInt8 = 2  // AF_INET
    public static let familyIPv6: UInt8 = 10  // AF_INET6

    /// RFC 2863 operational states (IF_OPER_*), as `ip link` prints them.
    public static func operStateName(_ state: UInt8) -> String {
        switch state {
        case 1: "notpresent"
        case 2: "down"
        case 3: "lowerlayerdown"
        case 4: "testing"
        case 5: "dormant"
        case 6: "up"
        default: "unknown"
        }
    }
}

/// Why bytes are not well-formed netlink. Every reader checks a length once, against the
/// bytes it was given, and reports instead of trapping.
public struct NetlinkFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset (within the bytes handed to the reader) of the structure at fault.
    public var offset: Int
    /// What is wrong, e.g. `nlmsghdr says 64 bytes, 20 remain`.
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "malformed netlink data at byte \(offset): \(message)" }
}

/// Reads native-endian integers (netlink is host byte order) from a byte slice, returning nil
/// rather than reading past its end.
struct NativeBytes {
    let bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var count: Int { bytes.count }

    func u8(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[bytes.startIndex + offset] : nil
    }

    func u16(_ offset: Int) -> UInt16? { integer(offset) }
    func u32(_ offset: Int) -> UInt32? { integer(offset) }
    func i32(_ offset: Int) -> Int32? { integer(offset) }

    private func integer<T: FixedWidthInteger>(_ offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<size { raw[index] = bytes[bytes.startIndex + offset + index] }
        }
        return value
    }

    func slice(_ offset: Int, _ length: Int) -> ArraySlice<UInt8>? {
        guard offset >= 0, length >= 0, offset <= bytes.count - length else { return nil }
        let start = bytes.startIndex + offset
        return bytes[start..<start + length]
    }
}

/// One netlink message: its header fields and the bytes after the header.
public struct NetlinkMessage: Sendable, Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// The bytes after `struct nlmsghdr`, up to the header's length.
    public var payload: ArraySlice<UInt8>
    /// Offset of the message's header in the bytes it was read from.
    public var offset: Int

    /// Every message in `bytes` (one datagram or several concatenated), in order. A message
    /// whose header or length does not fit ends the list with an error; the messages before it
    /// are kept.
    public static func split(_ bytes: [UInt8]) -> (messages: [NetlinkMessage], error: NetlinkFormatError?) {
        var messages: [NetlinkMessage] = []
        var offset = 0
        let reader = NativeBytes(bytes[...])
        while offset < bytes.count {
            let remaining = bytes.count - offset
            guard remaining >= RTNetlink.messageHeaderLength, let length = reader.u32(offset),
                let type = reader.u16(offset + 4), let flags = reader.u16(offset + 6),
                let sequence = reader.u32(offset + 8), let portID = reader.u32(offset + 12)
            else {
                return (messages, NetlinkFormatError(
                    offset: offset, message: "\(remaining) bytes cannot hold a 16-byte nlmsghdr"))
            }
            guard Int(length) >= RTNetlink.messageHeaderLength, Int(length) <= remaining else {
                return (messages, NetlinkFormatError(
                    offset: offset, message: "nlmsghdr says \(length) bytes, \(remaining) remain"))
            }
            let payload = bytes[(offset + RTNetlink.messageHeaderLength)..<(offset + Int(length))]
            messages.append(NetlinkMessage(type: type, flags: flags, sequence: sequence, portID: portID,
                                           payload: payload, offset: offset))
            offset += min(remaining, align4(Int(length)))
        }
        return (messages, nil)
    }

    /// For an `NLMSG_ERROR` message: the (positive) errno, 0 for an acknowledgement.
    public var errorNumber: Int32? {
        guard type == RTNetlink.typeError, let value = NativeBytes(payload).i32(0) else { return nil }
        return value == Int32.min ? Int32.max : -value
    }
}

func align4(_ length: Int) -> Int { (length + 3) & ~3 }

/// The route attributes (`struct rtattr` / `struct nlattr`) of a message or of a nested
/// attribute: type to payload; a later attribute of the same type replaces an earlier one.
public struct NetlinkAttributes: Sendable {
    public private(set) var values: [UInt16: ArraySlice<UInt8>] = [:]

    /// Reads attributes from `bytes`; `base` is their offset in the message for errors.
    public init(_ bytes: ArraySlice<UInt8>, base: Int = 0) throws(NetlinkFormatError) {
        let reader = NativeBytes(bytes)
        var offset = 0
        while offset < reader.count {
            let remaining = reader.count - offset
            guard remaining >= 4, let length = reader.u16(offset), let rawType = reader.u16(offset + 2) else {
                // Kernel padding never leaves fewer than 4 bytes; anything else is damage.
                throw NetlinkFormatError(offset: base + offset, message: "\(remaining) bytes cannot hold a 4-byte rtattr")
            }
            guard Int(length) >= 4, Int(length) <= remaining, let payload = reader.slice(offset + 4, Int(length) - 4)
            else {
                throw NetlinkFormatError(
                    offset: base + offset, message: "rtattr type \(rawType & 0x3fff) says \(length) bytes, \(remaining) remain")
            }
            // NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the top two bits.
            values[rawType & 0x3fff] = payload
            offset += min(remaining, align4(Int(length)))
        }
    }

    public subscript(type: UInt16) -> ArraySlice<UInt8>? { values[type] }

    func u8(_ type: UInt16) -> UInt8? { values[type].flatMap { NativeBytes($0).u8(0) } }
    func u16(_ type: UInt16) -> UInt16? { values[type].flatMap { NativeBytes($0).u16(0) } }
    func u32(_ type: UInt16) -> UInt32? { values[type].flatMap { NativeBytes($0).u32(0) } }
    func i32(_ type: UInt16) -> Int32? { values[type].flatMap { NativeBytes($0).i32(0) } }

    /// A NUL-terminated string attribute (the NUL and anything after it dropped).
    func string(_ type: UInt16) -> String? {
        guard let bytes = values[type] else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An address attribute: 4 bytes are IPv4, 16 IPv6, anything else nil.
    func address(_ type: UInt16) -> IPAddress? {
        values[type].flatMap { IPAddress(bytes: $0) }
    }
}

/// An interface, from an `RTM_NEWLINK` message.
public struct LinkRecord: Sendable, Hashable {
    public var index: Int32
    public var name: String
    /// `ifi_type` (ARPHRD_*).
    public var hardwareType: UInt16
    /// `ifi_flags` (IFF_*).
    public var flags: UInt32
    /// IFLA_INFO_KIND: `bridge`, `bond`, `vlan`, `veth`, `vxlan`, ...; nil for a physical NIC.
    public var kind: String?
    /// IFLA_MASTER: the bridge or bond this interface is a port of.
    public var master: Int32?
    /// IFLA_LINK: for a VLAN (or macvlan) device its lower device; for a veth its peer.
    public var link: Int32?
    /// IFLA_LINK_NETNSID: set when `link` lies in another network namespace.
    public var linkNetNSID: Int32?
    /// IFLA_VLAN_ID, for a device of kind `vlan`.
    public var vlanID: UInt16?
    /// IFLA_OPERSTATE, as `ip link` names it.
    public var operState: String

    public init(index: Int32, name: String, hardwareType: UInt16 = 1, flags: UInt32 = RTNetlink.interfaceUp,
                kind: String? = nil, master: Int32? = nil, link: Int32? = nil, linkNetNSID: Int32? = nil,
                vlanID: UInt16? = nil, operState: String = "up") {
        self.index = index
        self.name = name
        self.hardwareType = hardwareType
        self.flags = flags
        self.kind = kind
        self.master = master
        self.link = link
        self.linkNetNSID = linkNetNSID
        self.vlanID = vlanID
        self.operState = operState
    }

    public var isLoopback: Bool {
        flags & RTNetlink.interfaceLoopback != 0 || hardwareType == RTNetlink.arpLoopback
    }

    /// The lower device a `link` index names within this namespace: VLAN-like devices only
    /// (a veth's link is its peer, not a lower device).
    public var lowerFromLink: Int32? {
        guard let link, linkNetNSID == nil, link != index, let kind, ["vlan", "macvlan", "macvtap", "ipvlan"].contains(kind)
        else { return nil }
        return link
    }

    /// Decodes an `RTM_NEWLINK` message (`struct ifinfomsg` + attributes).
    public init(_ message: NetlinkMessage) throws(NetlinkFormatError) {
        let header = NativeBytes(message.payload)
        let base = message.offset + RTNetlink.messageHeaderLength
        guard message.type == RTNetlink.newLink, header.count >= 16, let type = header.u16(2), let index = header.i32(4),
            let flags = header.u32(8), let rest = header.slice(16, header.count - 16)
        else {
            throw NetlinkFormatError(offset: message.offset, message:
                "expected RTM_NEWLINK with a 16-byte ifinfomsg, found type \(message.type) with \(header.count) bytes")
        }
        let attributes = try NetlinkAttributes(rest, base: base + 16)
        guard let name = attributes.string(RTNetlink.iflaName), !name.isEmpty else {
            throw NetlinkFormatError(offset: message.offset, message: "link \(index) has no IFLA_IFNAME")
        }
        self.init(index: index, name: name, hardwareType: type, flags: flags)
        master = attributes.i32(RTNetlink.iflaMaster).flatMap { $0 > 0 ? $0 : nil }
        link = attributes.i32(RTNetlink.iflaLink)
        linkNetNSID = attributes.i32(RTNetlink.iflaLinkNetNSID)
        operState = attributes.u8(RTNetlink.iflaOperState).map(RTNetlink.operStateName) ?? "unknown"
        if let info = attributes[RTNetlink.iflaLinkInfo] {
            let infoAttributes = try NetlinkAttributes(info, base: base + (info.startIndex - message.payload.startIndex))
            kind = infoAttributes.string(RTNetlink.infoKind)
            if kind == "vlan", let data = infoAttributes[RTNetlink.infoData] {
                let dataAttributes = try NetlinkAttributes(data, base: base + (data.startIndex - message.payload.startIndex))
                vlanID = dataAttributes.u16(RTNetlink.vlanID)
            }
        }
    }
}

/// An interface address, from an `RTM_NEWADDR` message.
public struct AddressRecord: Sendable, Hashable {
    public var interfaceIndex: Int32
    public var address: IPAddress
    public var prefixLength: Int
    /// RT_SCOPE_*: 0 global, 253 link, 254 host.
    public var scope: UInt8

    public init(interfaceIndex: Int32, address: IPAddress, prefixLength: Int, scope: UInt8 = 0) {
        self.interfaceIndex = interfaceIndex
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
    }

    /// The connected subnet (`198.51.100.0/24` for `198.51.100.10/24`).
    public var subnet: IPPrefix? {
        IPPrefix(network: address, length: prefixLength)
    }

    /// `198.51.100.10/24`.
    public var cidr: String { "\(address)/\(prefixLength)" }

    /// Decodes an `RTM_NEWADDR` message (`struct ifaddrmsg` + attributes). The address is
    /// IFA_LOCAL when present (on a point-to-point link IFA_ADDRESS is the peer), else IFA_ADDRESS.
    public init(_ message: NetlinkMessage) throws(NetlinkFormatError) {
        let header = NativeBytes(message.payload)
        guard message.type == RTNetlink.newAddress, header.count >= 8, let prefixLength = header.u8(1),
            let scope = header.u8(3), let index = header.u32(4), let rest = header.slice(8, header.count - 8)
        else {
            throw NetlinkFormatError(offset: message.offset, message:
                "expected RTM_NEWADDR with an 8-byte ifaddrmsg, found type \(message.type) with \(header.count) bytes")
        }
        let attributes = try NetlinkAttributes(rest, base: message.offset + RTNetlink.messageHeaderLength + 8)
        guard let address = attributes.address(RTNetlink.ifaLocal) ?? attributes.address(RTNetlink.ifaAddress) else {
            throw NetlinkFormatError(offset: message.offset, message: "address on link \(index) has no IFA_ADDRESS")
        }
        guard Int(prefixLength) <= (address.isIPv4 ? 32 : 128) else {
            throw NetlinkFormatError(offset: message.offset, message: "prefix length \(prefixLength) for \(address)")
        }
        self.init(interfaceIndex: Int32(bitPattern: index), address: address, prefixLength: Int(prefixLength), scope: scope)
    }
}

/// A route: one row of a routing table dump, or the kernel's answer to `ip route get`.
public struct RouteRecord: Sendable, Hashable {
    public var destination: IPAddress?
    public var destinationLength: Int
    public var table: UInt32
    /// RTN_*: 1 unicast, 2 local, ...
    public var type: UInt8
    public var scope: UInt8
    public var outputInterface: Int32?
    public var gateway: IPAddress?
    public var preferredSource: IPAddress?
    public var priority: UInt32?
    public var isIPv4: Bool

    public init(destination: IPAddress?, destinationLength: Int, table: UInt32 = RTNetlink.tableMain,
                type: UInt8 = RTNetlink.routeUnicast, scope: UInt8 = 0, outputInterface: Int32?,
                gateway: IPAddress? = nil, preferredSource: IPAddress? = nil, priority: UInt32? = nil, isIPv4: Bool = true) {
        self.destination = destination
        self.destinationLength = destinationLength
        self.table = table
        self.type = type
        self.scope = scope
        self.outputInterface = outputInterface
        self.gateway = gateway
        self.preferredSource = preferredSource
        self.priority = priority
        self.isIPv4 = isIPv4
    }

    /// The destination as a prefix (`0.0.0.0/0` or `::/0` for a default route).
    public var prefix: IPPrefix? {
        let base = destination ?? (isIPv4 ? IPAddress.zeroIPv4 : IPAddress(ipv6High: 0, low: 0))
        return IPPrefix(network: base, length: destinationLength)
    }

    /// Decodes an `RTM_NEWROUTE` message (`struct rtmsg` + attributes).
    public init(_ message: NetlinkMessage) throws(NetlinkFormatError) {
        let header = NativeBytes(message.payload)
        guard message.type == RTNetlink.newRoute, header.count >= 12, let family = header.u8(0),
            let destinationLength = header.u8(1), let table = header.u8(4), let scope = header.u8(6),
            let type = header.u8(7), let rest = header.slice(12, header.count - 12)
        else {
            throw NetlinkFormatError(offset: message.offset, message:
                "expected RTM_NEWROUTE with a 12-byte rtmsg, found type \(message.type) with \(header.count) bytes")
        }
        guard family == RTNetlink.familyIPv4 || family == RTNetlink.familyIPv6,
            Int(destinationLength) <= (family == RTNetlink.familyIPv4 ? 32 : 128)
        else {
            throw NetlinkFormatError(offset: message.offset, message: "route of family \(family) with /\(destinationLength)")
        }
        let attributes = try NetlinkAttributes(rest, base: message.offset + RTNetlink.messageHeaderLength + 12)
        self.init(destination: attributes.address(RTNetlink.rtaDestination), destinationLength: Int(destinationLength),
                  table: attributes.u32(RTNetlink.rtaTable) ?? UInt32(table), type: type, scope: scope,
                  outputInterface: attributes.i32(RTNetlink.rtaOutputInterface),
                  gateway: attributes.address(RTNetlink.rtaGateway),
                  preferredSource: attributes.address(RTNetlink.rtaPreferredSource),
                  priority: attributes.u32(RTNetlink.rtaPriority), isIPv4: family == RTNetlink.familyIPv4)
    }
}

/// Builds netlink requests (and, in tests, kernel-shaped answers): a header, a fixed body and
/// attributes, each padded to 4 bytes, in host byte order.
public struct NetlinkMessageBuilder {
    public private(set) var bytes: [UInt8] = []

    public init(type: UInt16, flags: UInt16, sequence: UInt32 = 1, body: [UInt8]) {
        bytes = Self.native(UInt32(0)) + Self.native(type) + Self.native(flags) + Self.native(sequence) + Self.native(UInt32(0))
        bytes += body
        pad()
        setLength()
    }

    public mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        bytes += Self.attribute(type, payload)
        setLength()
    }

    /// One `rtattr` with its padding.
    public static func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var out = native(UInt16(4 + payload.count)) + native(type) + payload
        while out.count % 4 != 0 { out.append(0) }
        return out
    }

    public static func native<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    /// The address in network byte order (4 or 16 bytes).
    public static func addressBytes(_ address: IPAddress) -> [UInt8] {
        if address.isIPv4 { return withUnsafeBytes(of: address.ipv4Value.bigEndian) { Array($0) } }
        return withUnsafeBytes(of: address.high.bigEndian) { Array($0) } + withUnsafeBytes(of: address.low.bigEndian) { Array($0) }
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func setLength() {
        let length = Self.native(UInt32(bytes.count))
        bytes.replaceSubrange(0..<4, with: length)
    }
}
