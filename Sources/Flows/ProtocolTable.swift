/// The transports a storage service can run over.
public enum Transport: UInt8, Sendable, Hashable, CustomStringConvertible {
    case tcp = 6
    case udp = 17

    public var description: String { self == .tcp ? "tcp" : "udp" }
}

/// A payload signature a service can be recognised by on any port. Each checks several
/// fields together, so that no flow becomes storage on one coincidental value.
public enum Signature: String, Sendable, Hashable, CaseIterable {
    /// An iSCSI Login request or response (RFC 7143 §11.12/11.13) whose text carries
    /// `InitiatorName=`, `TargetName=` or `SessionType=`.
    case iscsiLogin = "iscsi login"
    /// The Ceph messenger v1 banner `ceph v027`.
    case cephV1 = "ceph v027 banner"
    /// The Ceph messenger v2 banner `ceph v2\n`.
    case cephV2 = "ceph v2 banner"
    /// A NetBIOS session message carrying an SMB2/3 header (`\xfeSMB`).
    case smb2 = "smb2 header"
    /// An NVMe/TCP ICReq or ICResp PDU (NVMe/TCP 1.0 §3.6.2.2).
    case nvmeTCP = "nvme/tcp icreq"
    /// An iSNSP header (RFC 4171 §5.1): version 1 and a known function id.
    case isns = "isnsp header"
    /// A DRBD packet header (LINBIT drbd-headers `drbd_protocol.h`): a connection's first
    /// packet, its feature negotiation, or a protocol-100 header with a known command.
    case drbd = "drbd header"
}

/// One row of the protocol table: a service, the storage protocol it belongs to, where it
/// listens, and how it is recognised on other ports.
public struct StorageService: Sendable, Hashable {
    /// The service's own name: `nfs`, `portmapper`, `mount`, `iscsi`, ...
    public var name: String
    /// What people call it, for reports ("Ceph OSD"); the name when not given.
    public var title: String
    /// The storage protocol the policy speaks of (`nfs` for NFS and its helpers such as
    /// the portmapper, `iscsi`, ...).
    public var protocolName: String
    public var transports: [Transport]
    /// Well-known ports (a flow to one of them is storage by port).
    public var ports: [UInt16]
    /// Port ranges, inclusive (Ceph OSDs).
    public var portRanges: [ClosedRange<UInt16>]
    /// ONC RPC programs that identify the service on any port.
    public var rpcPrograms: [UInt32]
    /// A payload signature that identifies the service on any port.
    public var signature: Signature?
    /// False for storage that never crosses an IP network libpcap can see (RDMA, Fibre
    /// Channel): a policy that lists it cannot be vouched for by packet capture.
    public var observable: Bool
    /// Why an unobservable service cannot be seen, when it is not the usual "does not travel
    /// over IP" (a verdict's reason says it).
    public var unobservableBecause: String?

    public init(
        name: String, protocolName: String, transports: [Transport], ports: [UInt16],
        portRanges: [ClosedRange<UInt16>] = [], rpcPrograms: [UInt32] = [], signature: Signature? = nil,
        observable: Bool = true, unobservableBecause: String? = nil, title: String? = nil
    ) {
        self.name = name
        self.title = title ?? name
        self.protocolName = protocolName
        self.transports = transports
        self.ports = ports
        self.portRanges = portRanges
        self.rpcPrograms = rpcPrograms
        self.signature = signature
        self.observable = observable
        self.unobservableBecause = unobservableBecause
    }
}

/// Which storage services lanekeeper knows, the ports they use and how they are recognised.
/// The table is data: the policy narrows it (`storage_protocols`) and extends it (`ports`).
public struct ProtocolTable: Sendable {
    /// Every service, in a stable order; a service's index is its identity in flows.
    public private(set) var services: [StorageService]

    /// port -> service index + 1 (0 = none), with `rangeBit` set for a port known only from
    /// a range, one table per transport. 2 x 64 KiB, built once, so that the per-packet
    /// lookup is two array reads. (At most 126 services.)
    private var tcpPorts: [UInt8]
    private var udpPorts: [UInt8]
    /// RPC program -> service index.
    private var programs: [UInt32: Int]
    /// Signatures of the observable services, with their service index.
    public private(set) var signatures: [(signature: Signature, service: Int)]

    public init(services: [StorageService]) {
        self.services = services
        self.tcpPorts = []
        self.udpPorts = []
        self.programs = [:]
        self.signatures = []
        rebuildIndex()
    }

    /// GlusterFS's ONC RPC programs (glusterfs `rpc/rpc-lib/src/protocol-common.h`).
    public static let glusterPrograms: [UInt32] = [
        14_398_633,  // GLUSTER_HNDSK_PROGRAM
        34_123_456,  // GLUSTER_PMAP_PROGRAM
        52_743_234,  // GLUSTER_CBK_PROGRAM
        1_298_437,  // GLUSTER_FOP_PROGRAM
        29_852_134,  // GLUSTER_AGGREGATOR_PROGRAM
        1_238_433,  // GD_MGMT_PROGRAM
        123_451_501,  // GLUSTER_DUMP_PROGRAM
    ]

    /// What lanekeeper recognises. The first row of each protocol is its primary service
    /// (where the policy's extra `ports` go).
    public static let builtin = ProtocolTable(services: [
        StorageService(name: "nfs", protocolName: "nfs", transports: [.tcp, .udp], ports: [2049], rpcPrograms: [100_003]),
        StorageService(name: "portmapper", protocolName: "nfs", transports: [.tcp, .udp], ports: [111], rpcPrograms: [100_000]),
        StorageService(name: "mount", protocolName: "nfs", transports: [.tcp, .udp], ports: [], rpcPrograms: [100_005]),
        StorageService(name: "nlm", protocolName: "nfs", transports: [.tcp, .udp], ports: [], rpcPrograms: [100_021]),
        StorageService(name: "nsm", protocolName: "nfs", transports: [.tcp, .udp], ports: [], rpcPrograms: [100_024]),
        StorageService(name: "nfs_acl", protocolName: "nfs", transports: [.tcp, .udp], ports: [], rpcPrograms: [100_227]),
        // The server's connections back to an NFSv4.0 client, at the address and with the
        // program the client named in SETCLIENTID (learned from the capture).
        StorageService(name: "nfs-callback", protocolName: "nfs", transports: [.tcp, .udp], ports: []),
        StorageService(name: "iscsi", protocolName: "iscsi", transports: [.tcp], ports: [3260], signature: .iscsiLogin),
        StorageService(name: "ceph-mon", protocolName: "ceph", transports: [.tcp], ports: [6789], signature: .cephV1),
        StorageService(name: "ceph-msgr2", protocolName: "ceph", transports: [.tcp], ports: [3300], signature: .cephV2),
        StorageService(name: "ceph-osd", protocolName: "ceph", transports: [.tcp], ports: [], portRanges: [6800...7300], title: "Ceph OSD"),
        StorageService(name: "smb", protocolName: "smb", transports: [.tcp], ports: [445], signature: .smb2),
        StorageService(name: "nvme-tcp", protocolName: "nvme-tcp", transports: [.tcp], ports: [4420], signature: .nvmeTCP),
        StorageService(name: "isns", protocolName: "isns", transports: [.tcp, .udp], ports: [3205], signature: .isns),
        // Bricks listen from 49152, inside the ephemeral port range, so they are recognised
        // by their RPC programs, never by port.
        StorageService(
            name: "glusterd", protocolName: "glusterfs", transports: [.tcp], ports: [24007, 24008],
            rpcPrograms: ProtocolTable.glusterPrograms),
        // DRBD (Linstor): replication and diskless clients' I/O over DRBD's own TCP
        // connections. Linstor hands out ports from 7000-7999 by default (a range: other
        // software listens there); the packet headers are recognised on any port. Linstor's
        // controller and satellites (3366-3371) are its control plane, not storage I/O.
        StorageService(
            name: "drbd", protocolName: "drbd", transports: [.tcp], ports: [], portRanges: [7000...7999],
            signature: .drbd, title: "DRBD"),
        // Dell PowerFlex (ScaleIO): the SDC's I/O to the SDSs (7072) and its metadata
        // connection to the MDM (6611; 9011 between MDMs). The pool's address in CloudStack is
        // the REST gateway (HTTPS, 443), which is management, not storage. The wire protocol
        // is not public, so only the ports say it.
        StorageService(name: "powerflex-sds", protocolName: "powerflex", transports: [.tcp], ports: [7072], title: "PowerFlex SDS"),
        StorageService(
            name: "powerflex-mdm", protocolName: "powerflex", transports: [.tcp], ports: [6611, 9011], title: "PowerFlex MDM"),
        // StorPool's block protocol: neither its wire format nor its ports are public, and on
        // NICs it accelerates it bypasses the kernel, so libpcap on the host never sees it.
        StorageService(
            name: "storpool", protocolName: "storpool", transports: [], ports: [], observable: false,
            unobservableBecause: "whose block protocol has no public wire format or ports and, on the NICs StorPool "
                + "accelerates, bypasses the kernel where packet capture looks",
            title: "StorPool"),
        StorageService(name: "iser", protocolName: "iser", transports: [], ports: [], observable: false),
        StorageService(name: "nvme-rdma", protocolName: "nvme-rdma", transports: [], ports: [], observable: false),
        StorageService(name: "fibre-channel", protocolName: "fc", transports: [], ports: [], observable: false),
    ])

    /// The storage protocol names (what `storage_protocols`, `ports` and `allow` name), in table order.
    public var protocolNames: [String] {
        var seen: [String] = []
        for service in services where !seen.contains(service.protocolName) {
            seen.append(service.protocolName)
        }
        return seen
    }

    /// The protocols whose traffic packet capture can see (the default for a policy).
    public var observableProtocolNames: [String] {
        protocolNames.filter { name in services.contains { $0.protocolName == name && $0.observable } }
    }

    /// The protocols in this table that packet capture cannot see.
    public var unobservableProtocolNames: [String] {
        protocolNames.filter { name in !services.contains { $0.protocolName == name && $0.observable } }
    }

    /// The table restricted to the services of the named protocols.
    public func restricted(to protocolNames: [String]) -> ProtocolTable {
        ProtocolTable(services: services.filter { protocolNames.contains($0.protocolName) })
    }

    /// Adds `ports` to the protocol's primary service (the first row of that protocol,
    /// e.g. `nfs` itself rather than its portmapper). Returns false for an unknown protocol.
    @discardableResult
    public mutating func addPorts(_ ports: [UInt16], toProtocol protocolName: String) -> Bool {
        guard let index = services.firstIndex(where: { $0.protocolName == protocolName && $0.observable }) else {
            return false
        }
        for port in ports where !services[index].ports.contains(port) {
            services[index].ports.append(port)
        }
        rebuildIndex()
        return true
    }

    /// The service listening on `port` over `transport` (an IP protocol number), if any.
    @inline(__always)
    public func serviceIndex(ipProtocol: UInt8, port: UInt16) -> Int? {
        portService(ipProtocol: ipProtocol, port: port)?.service
    }

    /// The service listening on `port` over `transport`, and whether the port is only in
    /// one of its ranges (weaker evidence than a well-known port, see `Evidence`).
    @inline(__always)
    public func portService(ipProtocol: UInt8, port: UInt16) -> (service: Int, inRange: Bool)? {
        let slot: UInt8
        switch ipProtocol {
        case 6: slot = tcpPorts[Int(port)]
        case 17: slot = udpPorts[Int(port)]
        default: return nil
        }
        guard slot != 0 else { return nil }
        return (Int(slot & ~Self.rangeBit) - 1, slot & Self.rangeBit != 0)
    }

    /// Set in a port slot whose service has the port only in a range.
    private static let rangeBit: UInt8 = 0x80

    /// The service an ONC RPC program belongs to, if the table has it.
    public func serviceIndex(rpcProgram: UInt32) -> Int? {
        programs[rpcProgram]
    }

    /// The service a signature belongs to, if the table has it.
    public func serviceIndex(signature: Signature) -> Int? {
        signatures.first { $0.signature == signature }?.service
    }

    private mutating func rebuildIndex() {
        var tcp = [UInt8](repeating: 0, count: 65_536)
        var udp = [UInt8](repeating: 0, count: 65_536)
        var programs: [UInt32: Int] = [:]
        var signatures: [(Signature, Int)] = []
        // Earlier rows win when two services claim the same port or program. Every service's
        // ranges go in before any well-known port, so that a well-known port inside a range,
        // the service's own or another's (PowerFlex's 7072 in Ceph's and Linstor's), is marked
        // as such.
        let indexed = services.enumerated().reversed().filter { $0.offset < 127 && $0.element.observable }
        for (index, service) in indexed {
            for range in service.portRanges {
                for port in Int(range.lowerBound)...Int(range.upperBound) {
                    if service.transports.contains(.tcp) { tcp[port] = UInt8(index + 1) | Self.rangeBit }
                    if service.transports.contains(.udp) { udp[port] = UInt8(index + 1) | Self.rangeBit }
                }
            }
        }
        for (index, service) in indexed {
            for port in service.ports.map(Int.init) {
                if service.transports.contains(.tcp) { tcp[port] = UInt8(index + 1) }
                if service.transports.contains(.udp) { udp[port] = UInt8(index + 1) }
            }
            for program in service.rpcPrograms { programs[program] = index }
            if let signature = service.signature { signatures.insert((signature, index), at: 0) }
        }
        tcpPorts = tcp
        udpPorts = udp
        self.programs = programs
        self.signatures = signatures
    }
}
