import Decode
import Foundation
import Policy
import SystemCalls

/// One interface of the host with its place among the others: the bridge or bond it is a port
/// of, and the devices below it.
public struct HostInterface: Sendable, Hashable {
    public var record: LinkRecord
    /// The bridge or bond this interface is enslaved to (IFLA_MASTER, or sysfs `master`).
    public var master: String?
    /// The devices below it: a bridge's ports, a bond's slaves, a VLAN device's parent
    /// (sysfs `lower_*`, IFLA_MASTER of the others, IFLA_LINK of a VLAN device).
    public var lowers: [String]
    /// What Open vSwitch makes of it, when its database knows it: `ovs-bridge` (a bridge's own
    /// internal port), `ovs-fake-bridge`, `ovs-internal`, `ovs-bond` (a bond port, which is no
    /// kernel device), `ovs-datapath` (`ovs-system`, `ovs-netdev`).
    public var switchKind: String? = nil
    /// The VLAN Open vSwitch puts its frames in: the tag of its port (a fake bridge, a tagged
    /// internal port, an access port).
    public var switchTag: UInt16? = nil

    public var name: String { record.name }
    public var index: Int32 { record.index }
    /// Open vSwitch's kind when it has one, else the kernel's (IFLA_INFO_KIND).
    public var kind: String? { switchKind ?? record.kind }
    /// The kernel's VLAN id (a VLAN device), else Open vSwitch's tag.
    public var vlanID: UInt16? { record.vlanID ?? switchTag }
}

/// The host as its kernel sees it: interfaces, addresses, routes, and the kernel's own answer
/// for each destination asked about.
public struct HostInventory: Sendable {
    public var interfaces: [HostInterface]
    public var addresses: [AddressRecord]
    public var routes: [RouteRecord]
    /// The kernel's route for each destination looked up with `lookUp(_:in:)`.
    public var routeAnswers: [IPAddress: RouteAnswer] = [:]
    /// The Open vSwitch configuration, already folded into `interfaces` (`applying(_:)`).
    public var openVSwitch: OpenVSwitch?
    /// Why Open vSwitch could not be read, when it could not.
    public var openVSwitchProblem: String?

    public init(interfaces: [HostInterface], addresses: [AddressRecord], routes: [RouteRecord]) {
        self.interfaces = interfaces
        self.addresses = addresses
        self.routes = routes
    }

    public func interface(index: Int32) -> HostInterface? { interfaces.first { $0.index == index } }
    public func interface(named name: String) -> HostInterface? { interfaces.first { $0.name == name } }

    /// The addresses on `name` that leave the host (not host-scoped, not IPv6 link-local).
    public func addresses(on name: String) -> [AddressRecord] {
        guard let index = interface(named: name)?.index else { return [] }
        return addresses.filter { $0.interfaceIndex == index && $0.isRoutable }
    }

    /// Reads links, addresses and routes from `source`, completing the device relations from
    /// the sysfs tree at `sysfsRoot` (`/sys` on a live host).
    public static func read(from source: NetlinkSource, sysfsRoot: String) throws(HostReadError) -> HostInventory {
        let links: [LinkRecord] = try decode(source.dump(.links), NetlinkDump.links.rawValue, RTNetlink.newLink, LinkRecord.init)
        let addresses = try decode(source.dump(.addresses), NetlinkDump.addresses.rawValue, RTNetlink.newAddress,
                                   AddressRecord.init)
        let routes = try decode(source.dump(.routes), NetlinkDump.routes.rawValue, RTNetlink.newRoute, RouteRecord.init)
        let sysfs = SysfsNet(root: sysfsRoot)
        var interfaces: [HostInterface] = []
        for link in links {
            let byIndex = link.master.flatMap { master in links.first { $0.index == master }?.name }
            let relations = sysfs.relations(of: link.name, index: link.index)
            var lowers = relations?.lowers ?? []
            for port in links where port.master == link.index && !lowers.contains(port.name) { lowers.append(port.name) }
            if let lower = link.lowerFromLink, let name = links.first(where: { $0.index == lower })?.name,
                !lowers.contains(name)
            {
                lowers.append(name)
            }
            interfaces.append(HostInterface(record: link, master: byIndex ?? relations?.master, lowers: lowers.sorted()))
        }
        return HostInventory(interfaces: interfaces, addresses: addresses, routes: routes)
    }

    /// Asks `source` for the route to each destination; a fixture without a recorded answer
    /// is answered from its dumped routes (`fallbackLookup`).
    public mutating func lookUp(_ destinations: [IPAddress], in source: NetlinkSource) throws(HostReadError) {
        for destination in destinations where routeAnswers[destination] == nil {
            if let bytes = try source.routeAnswer(to: destination) {
                routeAnswers[destination] = try RouteAnswer.decode(bytes)
            } else {
                routeAnswers[destination] = fallbackLookup(destination)
            }
        }
    }

    /// A longest-prefix match over the dumped `local` then `main` tables, for recorded hosts
    /// whose kernel cannot be asked (policy rules and other tables are not consulted).
    public func fallbackLookup(_ destination: IPAddress) -> RouteAnswer {
        for table in [RTNetlink.tableLocal, RTNetlink.tableMain] {
            let candidates = routes.filter { $0.table == table && $0.isIPv4 == destination.isIPv4 && $0.prefix?.contains(destination) == true }
            let best = candidates.max { a, b in
                a.destinationLength != b.destinationLength ? a.destinationLength < b.destinationLength
                    : (a.priority ?? 0) > (b.priority ?? 0)
            }
            guard let best else { continue }
            guard best.type == RTNetlink.routeUnicast || best.type == RTNetlink.routeLocal else {
                return .noRoute("the route to \(best.prefix.map { "\($0)" } ?? "?") is of type \(best.type) (not unicast)")
            }
            var answer = best
            answer.destination = destination
            answer.destinationLength = destination.isIPv4 ? 32 : 128
            if answer.preferredSource == nil, let index = best.outputInterface {
                answer.preferredSource = addresses.first {
                    $0.interfaceIndex == index && $0.isRoutable && $0.subnet?.contains(destination) == true
                }?.address ?? addresses.first { $0.interfaceIndex == index && $0.isRoutable && $0.address.isIPv4 == destination.isIPv4 }?.address
            }
            return .route(answer)
        }
        return .noRoute(Errno(rawValue: ENETUNREACH).text)
    }

    private static func decode<Record>(
        _ bytes: [UInt8], _ what: String, _ type: UInt16, _ make: (NetlinkMessage) throws(NetlinkFormatError) -> Record
    ) throws(HostReadError) -> [Record] {
        let (messages, error) = NetlinkMessage.split(bytes)
        if let error { throw HostReadError(code: .malformed, message: "\(what) dump: \(error)") }
        var records: [Record] = []
        for message in messages {
            if let number = message.errorNumber, number != 0 {
                throw HostReadError(code: .unreadable, message: "\(what) dump refused: \(Errno(rawValue: number).text)")
            }
            guard message.type == type else { continue }
            do {
                records.append(try make(message))
            } catch {
                throw HostReadError(code: .malformed, message: "\(what) dump: \(error)")
            }
        }
        return records
    }
}

extension AddressRecord {
    /// Not host-scoped and not IPv6 link-local (fe80::/10): an address storage could use.
    public var isRoutable: Bool {
        scope != RTNetlink.scopeHost && (address.isIPv4 || address.high >> 54 != 0x3fa)
    }
}

/// `/sys/class/net` below a root, so that tests can point it at a recorded tree.
public struct SysfsNet: Sendable {
    public var root: String

    public init(root: String) { self.root = root }

    /// The `master` link and `lower_*` entries of an interface; nil when the tree has no such
    /// interface or its `ifindex` is another (a sysfs of another namespace).
    public func relations(of name: String, index: Int32) -> (master: String?, lowers: [String])? {
        let directory = "\(root)/class/net/\(name)"
        guard let text = try? String(contentsOfFile: directory + "/ifindex", encoding: .utf8),
            Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == index
        else { return nil }
        let manager = FileManager.default
        let master = (try? manager.destinationOfSymbolicLink(atPath: directory + "/master"))
            .map { URL(fileURLWithPath: $0).lastPathComponent }
        let lowers = ((try? manager.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("lower_") }
            .map { String($0.dropFirst("lower_".count)) }
        return (master, lowers)
    }
}

/// Netlink answers recorded into a directory: `link.nl`, `addr.nl`, `route.nl` (the raw dump
/// answers) and `route-get/ADDRESS.nl` (raw `RTM_GETROUTE` answers). A destination without a
/// recorded answer is looked up in the dumped routes.
public struct RecordedNetlink: NetlinkSource {
    public var directory: String

    public init(directory: String) throws(HostReadError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HostReadError(code: .notFound, message: "\(directory): no such fixture directory")
        }
        self.directory = directory
    }

    public func dump(_ kind: NetlinkDump) throws(HostReadError) -> [UInt8] {
        try Self.bytes("\(directory)/\(kind.rawValue).nl")
    }

    public func routeAnswer(to destination: IPAddress) throws(HostReadError) -> [UInt8]? {
        let path = "\(directory)/route-get/\(destination).nl"
        return FileManager.default.fileExists(atPath: path) ? try Self.bytes(path) : nil
    }

    static func bytes(_ path: String) throws(HostReadError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw HostReadError(code: .notFound, message: "\(path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HostReadError(code: .unreadable, message: "\(path): cannot be read")
        }
        return [UInt8](data)
    }

    /// Writes what `source` answers (the three dumps and the route to each destination) into
    /// `directory` in this format, so a host can be audited again elsewhere.
    public static func record(_ source: NetlinkSource, destinations: [IPAddress], into directory: String)
        throws(HostReadError)
    {
        do {
            try FileManager.default.createDirectory(atPath: directory + "/route-get", withIntermediateDirectories: true)
            for kind in NetlinkDump.allCases {
                try Data(try source.dump(kind)).write(to: URL(fileURLWithPath: "\(directory)/\(kind.rawValue).nl"))
            }
            for destination in destinations {
                if let bytes = try source.routeAnswer(to: destination) {
                    try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/route-get/\(destination).nl"))
                }
            }
        } catch let error as HostReadError {
            throw error
        } catch {
            throw HostReadError(code: .unreadable, message: "cannot record into \(directory): \(error.localizedDescription)")
        }
    }
}
