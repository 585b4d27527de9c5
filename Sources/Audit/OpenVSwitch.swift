import Foundation
import Policy

/// The Open vSwitch configuration of a host, as its database (`Open_vSwitch`, RFC 7047) holds
/// it: bridges, their ports, each port's interfaces and VLAN settings.
///
/// A port of an OVS bridge shows `ovs-system` as its master (kernel datapath) or nothing at all
/// (userspace datapath), so which bridge, bond and VLAN a NIC serves is only known here.
/// `ovs-vsctl add-br mgmt0 cloudbr0 100` (a fake bridge) is no `Bridge` row: it is a port of
/// cloudbr0 with `fake_bridge` true, tag 100, and one internal interface, mgmt0.
public struct OpenVSwitch: Sendable, Hashable {
    public struct Interface: Sendable, Hashable {
        public var name: String
        /// `Interface.type`: `""` (a system device: a NIC, a veth, a VM's tap), `internal`,
        /// `patch`, `vxlan`, ...
        public var type: String
        /// Set by libvirt and other managers on a virtual machine's port (`attached-mac`,
        /// `iface-id`, `vm-id` in `external_ids`).
        public var isVirtualMachinePort: Bool

        public init(name: String, type: String = "", isVirtualMachinePort: Bool = false) {
            self.name = name
            self.type = type
            self.isVirtualMachinePort = isVirtualMachinePort
        }

        /// A device of the host that frames leave through: a system interface, not a VM's.
        public var isSystem: Bool { ["", "system", "dpdk", "afxdp"].contains(type) && !isVirtualMachinePort }
    }

    public struct Port: Sendable, Hashable {
        public var name: String
        public var interfaces: [Interface]
        /// `tag`: the port's VLAN (an access port; the native VLAN of a `native-*` port).
        public var tag: UInt16?
        /// `trunks`: the VLANs a trunk port carries; empty means all of them.
        public var trunks: [UInt16]
        /// `vlan_mode`: nil (access when tagged, trunk otherwise), `access`, `trunk`,
        /// `native-tagged`, `native-untagged`, `dot1q-tunnel`.
        public var vlanMode: String?
        public var isFakeBridge: Bool
        public var bondMode: String?

        public init(name: String, interfaces: [Interface], tag: UInt16? = nil, trunks: [UInt16] = [], vlanMode: String? = nil,
                    isFakeBridge: Bool = false, bondMode: String? = nil) {
            self.name = name
            self.interfaces = interfaces
            self.tag = tag
            self.trunks = trunks
            self.vlanMode = vlanMode
            self.isFakeBridge = isFakeBridge
            self.bondMode = bondMode
        }

        /// A port of several interfaces (`ovs-vsctl add-bond`).
        public var isBond: Bool { interfaces.count > 1 }
        /// One interface of type `internal`: a device of the host on the bridge.
        public var isInternal: Bool { interfaces.count == 1 && interfaces[0].type == "internal" }

        /// The VLAN the frames the port receives untagged are in (nil: the bridge's untagged
        /// traffic, VLAN 0).
        public var accessVLAN: UInt16? { vlanMode == "trunk" ? nil : tag }

        private var isAccess: Bool { vlanMode == "access" || (vlanMode == nil && tag != nil) }

        /// How a frame of VLAN `vlan` (nil: untagged) leaves through this port: nil when the
        /// port does not carry it, else the tag it has on the wire (nil: untagged).
        public func wireTag(forVLAN vlan: UInt16?) -> UInt16?? {
            if isAccess { return vlan == tag ? .some(nil) : nil }
            if vlanMode == "native-untagged" || vlanMode == "native-tagged", let tag, vlan == tag {
                return vlanMode == "native-untagged" ? .some(nil) : .some(tag)
            }
            // A trunk carries the VLANs `trunks` lists (all when empty); untagged is VLAN 0.
            guard trunks.isEmpty || trunks.contains(vlan ?? 0) else { return nil }
            return vlan == nil && tag != nil ? nil : .some(vlan)
        }
    }

    public struct Bridge: Sendable, Hashable {
        public var name: String
        /// `datapath_type`: `system` (or empty: the kernel module) or `netdev` (userspace).
        public var datapathType: String
        public var ports: [Port]

        public init(name: String, datapathType: String = "", ports: [Port]) {
            self.name = name
            self.datapathType = datapathType
            self.ports = ports
        }

        /// The ports frames leave the host through: every interface a system device, no
        /// internal port, no fake bridge, no VM's port.
        public var uplinks: [Port] {
            ports.filter { port in
                port.name != name && !port.isFakeBridge && !port.interfaces.isEmpty && port.interfaces.allSatisfy(\.isSystem)
            }
        }
    }

    public var bridges: [Bridge]

    public init(bridges: [Bridge]) { self.bridges = bridges }

    /// The bridge and port whose (one) internal interface is `name`: a bridge's own port, a
    /// fake bridge, another internal port.
    public func internalPort(named name: String) -> (bridge: Bridge, port: Port)? {
        for bridge in bridges {
            if let port = bridge.ports.first(where: { $0.isInternal && $0.interfaces[0].name == name }) { return (bridge, port) }
        }
        return nil
    }

    /// Where the host's frames sent out of internal interface `name` leave the switch: the
    /// bridge's uplinks that carry its VLAN, each with the tag its frames have there.
    public func exit(of name: String) -> SwitchExit? {
        guard let (bridge, port) = internalPort(named: name) else { return nil }
        let vlan = port.accessVLAN
        var exit = SwitchExit(bridge: bridge.name, vlan: vlan, ports: [])
        for uplink in bridge.uplinks {
            guard let wire = uplink.wireTag(forVLAN: vlan) else { continue }
            exit.ports.append(.init(name: uplink.name, interfaces: uplink.interfaces.map(\.name), tag: wire))
        }
        return exit
    }
}

/// Where a route out of an Open vSwitch internal interface leaves the host.
public struct SwitchExit: Sendable, Hashable {
    public struct Port: Sendable, Hashable {
        public var name: String
        /// The NICs: the port's own interface, or a bond's members.
        public var interfaces: [String]
        /// The tag frames have on the wire there (nil: untagged).
        public var tag: UInt16?

        public init(name: String, interfaces: [String], tag: UInt16?) {
            self.name = name
            self.interfaces = interfaces
            self.tag = tag
        }
    }

    public var bridge: String
    /// The VLAN the internal port is in (nil: untagged).
    public var vlan: UInt16?
    public var ports: [Port]

    /// Every NIC, in port order.
    public var interfaces: [String] { ports.flatMap(\.interfaces) }

    /// `Open vSwitch bridge cloudbr0 sends it out of bond0 (veth-a, veth-b) tagged 100`.
    public var description: String {
        guard !ports.isEmpty else {
            return "Open vSwitch bridge \(bridge) has no uplink for it" + (vlan.map { " (VLAN \($0))" } ?? "")
        }
        let parts = ports.map { port -> String in
            let text = port.interfaces == [port.name] ? port.name : "\(port.name) (\(port.interfaces.joined(separator: ", ")))"
            return text + (port.tag.map { " tagged \($0)" } ?? "")
        }
        return "Open vSwitch bridge \(bridge) sends it out of \(parts.joined(separator: ", "))"
    }
}

// MARK: - The host's interfaces, audit and policy init

extension HostInventory {
    /// Folds Open vSwitch's configuration into the interfaces' relations, so that membership
    /// reads OVS bridges as it reads Linux ones:
    /// - a bridge's own internal port (the device named as the bridge) is `ovs-bridge`, its
    ///   lower devices its uplinks (a NIC, or a bond port);
    /// - a bond port, which is no kernel device, is added as `ovs-bond` (master the bridge,
    ///   its interfaces below it; each interface's master the bond);
    /// - any other system interface's master is the bridge (instead of `ovs-system`), its
    ///   `switchTag` the port's access VLAN;
    /// - a fake bridge or tagged internal port is a VLAN device (`switchTag`) on its bridge;
    ///   an untagged internal port is a port of it;
    /// - the datapath device (`ovs-system`, `ovs-netdev`) is `ovs-datapath`, with no lower
    ///   devices (its kernel ports are the bridges' now).
    public mutating func apply(_ configuration: OpenVSwitch) {
        openVSwitch = configuration
        func update(_ name: String, _ change: (inout HostInterface) -> Void) {
            if let index = interfaces.firstIndex(where: { $0.name == name }) { change(&interfaces[index]) }
        }
        for bridge in configuration.bridges {
            update("ovs-" + (bridge.datapathType.isEmpty ? "system" : bridge.datapathType)) {
                $0.switchKind = "ovs-datapath"
                $0.lowers = []
            }
        }
        for bridge in configuration.bridges {
            // A VM's tap added without external_ids is still no uplink.
            let uplinks = bridge.uplinks.filter { $0.isBond || interface(named: $0.interfaces[0].name)?.record.kind != "tun" }
            update(bridge.name) {
                $0.switchKind = "ovs-bridge"
                $0.master = nil
                $0.lowers = uplinks.map { $0.isBond ? $0.name : $0.interfaces[0].name }.sorted()
            }
            for port in bridge.ports where port.name != bridge.name {
                if port.isInternal {
                    update(port.interfaces[0].name) {
                        $0.switchKind = port.isFakeBridge ? "ovs-fake-bridge" : "ovs-internal"
                        $0.switchTag = port.accessVLAN
                        $0.master = port.accessVLAN == nil ? bridge.name : nil
                        $0.lowers = port.accessVLAN == nil ? [] : [bridge.name]
                    }
                } else if port.isBond {
                    let members = port.interfaces.map(\.name)
                    if interface(named: port.name) == nil {
                        interfaces.append(HostInterface(
                            record: LinkRecord(index: 0, name: port.name, operState: "unknown"), master: bridge.name,
                            lowers: members, switchKind: "ovs-bond", switchTag: port.accessVLAN))
                    } else {
                        update(port.name) {
                            $0.switchKind = "ovs-bond"
                            $0.master = bridge.name
                            $0.lowers = members
                            $0.switchTag = port.accessVLAN
                        }
                    }
                    for member in members { update(member) { $0.master = port.name } }
                } else {
                    for member in port.interfaces {
                        update(member.name) {
                            $0.master = bridge.name
                            $0.switchTag = port.accessVLAN
                        }
                    }
                }
            }
        }
    }
}

extension PolicyWriter {
    /// Open vSwitch's part of `policy init`: a network holding a fake bridge or tagged internal
    /// port also gets its VLAN (its frames leave the NICs tagged); one holding a bridge or an
    /// untagged internal port also gets the NICs its frames leave untagged (a capture there
    /// sees them), each unless another network has it already.
    static func addSwitchDevices(_ networks: inout [NetworkSpec], notes: inout [String: [String]], host: HostInventory) {
        guard let configuration = host.openVSwitch else { return }
        for index in networks.indices {
            for name in networks[index].interfaces {
                guard let exit = configuration.exit(of: name) else { continue }
                let network = networks[index].name
                if let vlan = exit.vlan {
                    guard !networks.contains(where: { $0.vlans.contains(vlan) }) else { continue }
                    networks[index].vlans.append(vlan)
                    notes[network, default: []].append("VLAN \(vlan): \(name) is tagged \(vlan) on Open vSwitch bridge "
                        + "\(exit.bridge); \(exit.description)")
                } else {
                    let nics = exit.ports.filter { $0.tag == nil }.flatMap(\.interfaces)
                        .filter { nic in !networks.contains { $0.interfaces.contains(nic) } }
                    guard !nics.isEmpty else { continue }
                    networks[index].interfaces += nics
                    notes[network, default: []].append("\(nics.joined(separator: ", ")): \(name) is on Open vSwitch bridge "
                        + "\(exit.bridge), which sends its frames out of them untagged")
                }
            }
        }
    }
}

// MARK: - Reading the database

extension OpenVSwitch {
    /// The tables and columns read, in this order (`ovs-vsctl list`).
    static let tables: [(table: String, columns: [String])] = [
        ("Bridge", ["name", "ports", "datapath_type"]),
        ("Port", ["_uuid", "name", "interfaces", "tag", "trunks", "vlan_mode", "fake_bridge", "bond_mode"]),
        ("Interface", ["_uuid", "name", "type", "external_ids"]),
    ]

    /// The arguments after `ovs-vsctl [--db=DB] --timeout=N`: the three tables in one
    /// transaction, as JSON data (RFC 7047 notation) in JSON tables.
    public static var vsctlArguments: [String] {
        ["--format=json", "--data=json"] + tables.flatMap { ["--", "--columns=" + $0.columns.joined(separator: ","), "list", $0.table] }
    }

    /// Parses what `ovs-vsctl` prints for `vsctlArguments`: one JSON table a line, Bridge,
    /// Port and Interface, each `{"data": [[...]], "headings": [...]}`.
    public static func parse(_ text: String) throws(HostReadError) -> OpenVSwitch {
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        guard lines.count == tables.count else {
            throw malformed("expected \(tables.count) JSON tables (Bridge, Port, Interface), found \(lines.count) lines")
        }
        var rows: [[[String: Any]]] = []
        for (line, table) in zip(lines, tables) {
            rows.append(try Self.rows(of: String(line), table: table.table))
        }
        var interfaces: [String: Interface] = [:]
        for row in rows[2] {
            let uuid = try uuid(row["_uuid"], "Interface _uuid")
            let ids = try map(row["external_ids"], "Interface external_ids")
            interfaces[uuid] = Interface(
                name: try string(row["name"], "Interface name"), type: try string(row["type"], "Interface type"),
                isVirtualMachinePort: ["attached-mac", "iface-id", "vm-id"].contains { ids[$0] != nil })
        }
        var ports: [String: Port] = [:]
        for row in rows[1] {
            let name = try string(row["name"], "Port name")
            let members = try resolve(row["interfaces"], in: interfaces, "port \(name)", "interface")
            let tags = try vlans(row["tag"], "Port \(name) tag")
            ports[try uuid(row["_uuid"], "Port _uuid")] = Port(
                name: name, interfaces: members.sorted { $0.name < $1.name }, tag: tags.first,
                trunks: try vlans(row["trunks"], "Port \(name) trunks").sorted(),
                vlanMode: try optionalString(row["vlan_mode"], "Port \(name) vlan_mode"),
                isFakeBridge: try bool(row["fake_bridge"], "Port \(name) fake_bridge"),
                bondMode: try optionalString(row["bond_mode"], "Port \(name) bond_mode"))
        }
        var bridges: [Bridge] = []
        for row in rows[0] {
            let name = try string(row["name"], "Bridge name")
            let members = try resolve(row["ports"], in: ports, "bridge \(name)", "port")
            bridges.append(Bridge(name: name, datapathType: try string(row["datapath_type"], "Bridge \(name) datapath_type"),
                                  ports: members.sorted { $0.name < $1.name }))
        }
        return OpenVSwitch(bridges: bridges.sorted { $0.name < $1.name })
    }

    /// The rows a set of uuids names: `bridge cloudbr0 names port U, which is not listed`.
    private static func resolve<Row>(_ value: Any?, in rows: [String: Row], _ owner: String, _ what: String)
        throws(HostReadError) -> [Row]
    {
        var out: [Row] = []
        for reference in try set(value, "\(owner) \(what)s") {
            let uuid = try uuid(reference, "\(owner) \(what)s")
            guard let row = rows[uuid] else { throw malformed("\(owner) names \(what) \(uuid), which is not listed") }
            out.append(row)
        }
        return out
    }

    private static func rows(of line: String, table: String) throws(HostReadError) -> [[String: Any]] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let headings = object["headings"] as? [String], let data = object["data"] as? [[Any]]
        else { throw malformed("the \(table) table is not a JSON table with headings and data") }
        let wanted = tables.first { $0.table == table }!.columns
        guard headings == wanted else {
            throw malformed("the \(table) table has columns \(headings.joined(separator: ",")), expected \(wanted.joined(separator: ","))")
        }
        return try data.map { row throws(HostReadError) in
            guard row.count == headings.count else { throw malformed("a \(table) row has \(row.count) values for \(headings.count) columns") }
            return Dictionary(uniqueKeysWithValues: zip(headings, row))
        }
    }

    // RFC 7047 section 5.1: an atom, ["uuid", U], ["set", [atoms]] (a set of one may be the
    // bare atom), ["map", [[key, value], ...]].

    private static func set(_ value: Any?, _ what: String) throws(HostReadError) -> [Any] {
        if let pair = value as? [Any], pair.count == 2, let kind = pair[0] as? String {
            if kind == "set" {
                guard let members = pair[1] as? [Any] else { throw malformed("\(what): a set without a list") }
                return members
            }
            if kind == "uuid" { return [pair] }
        }
        guard let value else { throw malformed("\(what): missing") }
        return [value]
    }

    private static func map(_ value: Any?, _ what: String) throws(HostReadError) -> [String: String] {
        guard let pair = value as? [Any], pair.count == 2, pair[0] as? String == "map", let entries = pair[1] as? [[Any]] else {
            throw malformed("\(what): not a map")
        }
        var out: [String: String] = [:]
        for entry in entries {
            guard entry.count == 2, let key = entry[0] as? String else { throw malformed("\(what): a map entry is not a pair") }
            out[key] = entry[1] as? String ?? "\(entry[1])"
        }
        return out
    }

    private static func uuid(_ value: Any?, _ what: String) throws(HostReadError) -> String {
        guard let pair = value as? [Any], pair.count == 2, pair[0] as? String == "uuid", let uuid = pair[1] as? String else {
            throw malformed("\(what): not a uuid")
        }
        return uuid
    }

    private static func string(_ value: Any?, _ what: String) throws(HostReadError) -> String {
        guard let text = value as? String else { throw malformed("\(what): not a string") }
        return text
    }

    private static func bool(_ value: Any?, _ what: String) throws(HostReadError) -> Bool {
        guard let flag = value as? Bool else { throw malformed("\(what): not a boolean") }
        return flag
    }

    /// An optional string column: a set of none or one.
    private static func optionalString(_ value: Any?, _ what: String) throws(HostReadError) -> String? {
        let members = try set(value, what)
        guard members.count <= 1 else { throw malformed("\(what): \(members.count) values") }
        return try members.first.map { (member: Any) throws(HostReadError) -> String in try string(member, what) }
    }

    private static func vlans(_ value: Any?, _ what: String) throws(HostReadError) -> [UInt16] {
        var out: [UInt16] = []
        for member in try set(value, what) {
            guard let number = member as? Int, let vlan = UInt16(exactly: number), vlan <= 4095 else {
                throw malformed("\(what): \(member) is not a VLAN id")
            }
            out.append(vlan)
        }
        return out
    }

    private static func malformed(_ message: String) -> HostReadError {
        HostReadError(code: .malformed, message: "Open vSwitch database: \(message)")
    }
}

/// Where the Open vSwitch configuration is read from: `ovs-vsctl` against the running
/// database, or a file it wrote.
public enum SwitchSource: Sendable, Hashable {
    /// `ovs-vsctl` at `vsctl` (nil: the first of PATH and the usual places), against
    /// `database` (nil: its default, `unix:$OVS_RUNDIR/db.sock`, /var/run/openvswitch). Neither
    /// program nor database there means no Open vSwitch, silently.
    case vsctl(path: String?, database: String?, timeout: Double)
    /// What `ovs-vsctl` printed, recorded in a file (`ovs-vsctl.json` of a host fixture); no
    /// file means no Open vSwitch.
    case recorded(String)
    case none

    public static let standard = SwitchSource.vsctl(path: nil, database: nil, timeout: 10)

    /// What reading gave: nothing (no Open vSwitch), a configuration (with the text it was
    /// parsed from, for recording), or why it could not be read.
    public enum Reading: Sendable {
        case absent
        case read(OpenVSwitch, text: String)
        case failed(String)
    }

    public func read() -> Reading {
        switch self {
        case .none:
            return .absent
        case let .recorded(path):
            guard FileManager.default.fileExists(atPath: path) else { return .absent }
            guard let data = FileManager.default.contents(atPath: path) else { return .failed("\(path) cannot be read") }
            let text = String(decoding: data, as: UTF8.self)
            do {
                return .read(try OpenVSwitch.parse(text), text: text)
            } catch {
                return .failed("\(path): \(error.message)")
            }
        case let .vsctl(path, database, timeout):
            let search = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
                + ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"]
            guard let program = path ?? search.map({ $0 + "/ovs-vsctl" }).first(where: FileManager.default.isExecutableFile)
            else { return .absent }
            guard FileManager.default.isExecutableFile(atPath: program) else { return .failed("\(program): not an executable file") }
            var arguments = ["--timeout=\(max(1, Int(timeout)))"]
            if let database { arguments.insert("--db=\(database)", at: 0) }
            let result: (status: Int32?, stdout: String, stderr: String)
            do {
                result = try Spawned.run(program, arguments + OpenVSwitch.vsctlArguments, timeout: timeout + 2)
            } catch {
                return .failed("\(program): \(error.message)")
            }
            guard let status = result.status else { return .failed("\(program) did not answer within \(String(format: "%g", timeout)) s: killed") }
            guard status == 0 else {
                let said = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                // No database where the default says: this host runs no Open vSwitch.
                if database == nil, said.contains("database connection failed") { return .absent }
                return .failed("\(program) exited \(status): \(said)")
            }
            do {
                return .read(try OpenVSwitch.parse(result.stdout), text: result.stdout)
            } catch {
                return .failed(error.message)
            }
        }
    }
}

/// A program run to its end, or killed at a deadline, its output kept in unlinked temporary
/// files (no pipe to fill, no name to race for).
enum Spawned {
    struct Failure: Error { var message: String }

    /// - Returns: the exit status (nil when it was killed at `timeout` or by a signal), and
    ///   what it wrote.
    static func run(_ program: String, _ arguments: [String], timeout: Double) throws(Failure)
        -> (status: Int32?, stdout: String, stderr: String)
    {
        func scratch() throws(Failure) -> FileHandle {
            var template = Array((NSTemporaryDirectory() + "/lanekeeper-spawn.XXXXXX").utf8CString)
            let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard descriptor >= 0 else { throw Failure(message: "cannot create a temporary file: \(String(cString: strerror(errno)))") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        let out = try scratch()
        let err = try scratch()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            throw Failure(message: "cannot run it: \(error.localizedDescription)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        var killed = false
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            killed = true
        }
        process.waitUntilExit()
        func text(_ handle: FileHandle) -> String {
            try? handle.seek(toOffset: 0)
            return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        }
        let status = killed || process.terminationReason != .exit ? nil : process.terminationStatus
        return (status, text(out), text(err))
    }
}
