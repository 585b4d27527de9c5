/// The transports a storage service can run over.
public enum Transport: UInt8, Sendable, Hashable, CustomStringConvertible {
    case tcp = 6
    case udp = 17

    public var description: String { self == .tcp ? "tcp" : "udp" }
}

/// One row of the protocol table: a service, the storage protocol it belongs to, and where
/// it listens.
public struct StorageService: Sendable, Hashable {
    /// The service's own name: `nfs`, `portmapper`, `iscsi`, ...
    public var name: String
    /// The storage protocol the policy speaks of (`nfs` for NFS and its helpers such as
    /// the portmapper, `iscsi`, ...).
    public var protocolName: String
    public var transports: [Transport]
    public var ports: [UInt16]

    public init(name: String, protocolName: String, transports: [Transport], ports: [UInt16]) {
        self.name = name
        self.protocolName = protocolName
        self.transports = transports
        self.ports = ports
    }
}

/// Which storage services lanekeeper knows and the ports they use. The table is data: the
/// policy narrows it (`storage_protocols`) and extends it (`ports`).
public struct ProtocolTable: Sendable {
    /// Every service, in a stable order; a service's index is its identity in flows.
    public private(set) var services: [StorageService]

    /// port -> service index + 1 (0 = none), one table per transport. 2 x 64 KiB, built
    /// once, so that the per-packet lookup is two array reads.
    private var tcpPorts: [UInt8]
    private var udpPorts: [UInt8]

    public init(services: [StorageService]) {
        self.services = services
        self.tcpPorts = []
        self.udpPorts = []
        rebuildIndex()
    }

    /// What lanekeeper recognises by port today.
    public static let builtin = ProtocolTable(services: [
        StorageService(name: "nfs", protocolName: "nfs", transports: [.tcp, .udp], ports: [2049]),
        StorageService(name: "portmapper", protocolName: "nfs", transports: [.tcp, .udp], ports: [111]),
        StorageService(name: "iscsi", protocolName: "iscsi", transports: [.tcp], ports: [3260]),
    ])

    /// The storage protocol names (what `storage_protocols`, `ports` and `allow` name), in table order.
    public var protocolNames: [String] {
        var seen: [String] = []
        for service in services where !seen.contains(service.protocolName) {
            seen.append(service.protocolName)
        }
        return seen
    }

    /// The table restricted to the services of the named protocols.
    public func restricted(to protocolNames: [String]) -> ProtocolTable {
        ProtocolTable(services: services.filter { protocolNames.contains($0.protocolName) })
    }

    /// Adds `ports` to the protocol's primary service (the first row of that protocol,
    /// e.g. `nfs` itself rather than its portmapper). Returns false for an unknown protocol.
    @discardableResult
    public mutating func addPorts(_ ports: [UInt16], toProtocol protocolName: String) -> Bool {
        guard let index = services.firstIndex(where: { $0.protocolName == protocolName }) else { return false }
        for port in ports where !services[index].ports.contains(port) {
            services[index].ports.append(port)
        }
        rebuildIndex()
        return true
    }

    /// The service listening on `port` over `transport` (an IP protocol number), if any.
    @inline(__always)
    public func serviceIndex(ipProtocol: UInt8, port: UInt16) -> Int? {
        let slot: UInt8
        switch ipProtocol {
        case 6: slot = tcpPorts[Int(port)]
        case 17: slot = udpPorts[Int(port)]
        default: return nil
        }
        return slot == 0 ? nil : Int(slot) - 1
    }

    private mutating func rebuildIndex() {
        var tcp = [UInt8](repeating: 0, count: 65_536)
        var udp = [UInt8](repeating: 0, count: 65_536)
        // Earlier rows win when two services claim the same port.
        for (index, service) in services.enumerated().reversed() where index < 255 {
            for port in service.ports {
                if service.transports.contains(.tcp) { tcp[Int(port)] = UInt8(index + 1) }
                if service.transports.contains(.udp) { udp[Int(port)] = UInt8(index + 1) }
            }
        }
        tcpPorts = tcp
        udpPorts = udp
    }
}
