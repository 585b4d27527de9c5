import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the management server says, in the fields lanekeeper reads (the API documentation's
/// response fields of each list call; everything else is ignored).

/// A host of `listHosts` (`type=Routing`: a hypervisor).
public struct CloudStackHost: Sendable, Hashable, Decodable {
    public var id: String
    public var name: String
    public var ipAddress: String?
    public var type: String?
    public var hypervisor: String?
    public var clusterID: String?
    public var clusterName: String?
    public var zoneID: String?
    public var zoneName: String?
    /// The agent's connection: `Up`, `Disconnected`, `Down`, `Alert`, `Connecting`, ...
    public var state: String?
    /// What the operator made of it: `Enabled`, `Disabled`, `Maintenance`, `PrepareForMaintenance`, ...
    public var resourceState: String?

    public init(id: String, name: String, ipAddress: String? = nil, type: String? = "Routing", hypervisor: String? = "KVM",
                clusterID: String? = nil, clusterName: String? = nil, zoneID: String? = nil, zoneName: String? = nil,
                state: String? = "Up", resourceState: String? = "Enabled") {
        self.id = id
        self.name = name
        self.ipAddress = ipAddress
        self.type = type
        self.hypervisor = hypervisor
        self.clusterID = clusterID
        self.clusterName = clusterName
        self.zoneID = zoneID
        self.zoneName = zoneName
        self.state = state
        self.resourceState = resourceState
    }

    enum CodingKeys: String, CodingKey {
        case id, name, type, hypervisor, state
        case ipAddress = "ipaddress", clusterID = "clusterid", clusterName = "clustername", zoneID = "zoneid", zoneName = "zonename"
        case resourceState = "resourcestate"
    }

    /// Whether its `ipaddress` is one of `addresses`, compared as addresses, not as text:
    /// `2001:0db8:0:0::10` is `2001:db8::10`, `::ffff:198.51.100.10` is `198.51.100.10`.
    public func hasAddress(in addresses: [String]) -> Bool {
        guard let own = ipAddress.flatMap(Self.addressBytes) else { return false }
        return addresses.contains { Self.addressBytes($0) == own }
    }

    /// The bytes of an IPv4 or IPv6 address in text (4 or 16; an IPv4-mapped IPv6 address as
    /// its IPv4 address; a `%zone` suffix dropped), nil when the text is not an address.
    /// The corresponding C function is `inet_pton`.
    public static func addressBytes(_ text: String) -> [UInt8]? {
        var text = text.trimmingCharacters(in: .whitespaces)
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &v4) == 1 { return v4 }
        var v6 = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        if v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xff, v6[11] == 0xff { return Array(v6[12...]) }
        return v6
    }
}

/// A primary storage pool of `listStoragePools`. For an RBD pool `ipAddress` holds the Ceph
/// monitors, several separated by commas (the KVM agent splits it so,
/// `LibvirtStoragePoolDef`), and `path` the Ceph pool.
public struct CloudStackStoragePool: Sendable, Hashable, Decodable {
    public var id: String
    public var name: String
    public var ipAddress: String?
    public var path: String?
    public var type: String?
    /// `CLUSTER`, `ZONE` or `HOST`.
    public var scope: String?
    public var clusterID: String?
    public var zoneID: String?
    public var state: String?
    /// For a zone-wide pool, the hypervisor it serves (`KVM`, `VMware`, `Any`).
    public var hypervisor: String?

    public init(id: String, name: String, ipAddress: String?, path: String?, type: String?, scope: String?,
                clusterID: String? = nil, zoneID: String? = nil, state: String? = "Up", hypervisor: String? = nil) {
        self.id = id
        self.name = name
        self.ipAddress = ipAddress
        self.path = path
        self.type = type
        self.scope = scope
        self.clusterID = clusterID
        self.zoneID = zoneID
        self.state = state
        self.hypervisor = hypervisor
    }

    enum CodingKeys: String, CodingKey {
        case id, name, path, type, scope, state, hypervisor
        case ipAddress = "ipaddress", clusterID = "clusterid", zoneID = "zoneid"
    }
}

/// A secondary storage server of `listImageStores`: `nfs://198.51.100.60/export/secondary`.
public struct CloudStackImageStore: Sendable, Hashable, Decodable {
    public var id: String
    public var name: String?
    public var url: String?
    public var `protocol`: String?
    public var providerName: String?
    public var zoneID: String?

    public init(id: String, name: String?, url: String?, protocol: String?, providerName: String? = "NFS", zoneID: String? = nil) {
        self.id = id
        self.name = name
        self.url = url
        self.protocol = `protocol`
        self.providerName = providerName
        self.zoneID = zoneID
    }

    enum CodingKeys: String, CodingKey {
        case id, name, url, `protocol`
        case providerName = "providername", zoneID = "zoneid"
    }

    /// The server of `url` (`nfs://HOST/path`, `HOST:/path`), brackets of an IPv6 address removed.
    public var server: String? {
        guard var rest = url?.trimmingCharacters(in: .whitespaces), !rest.isEmpty else { return nil }
        if let scheme = rest.range(of: "://") { rest = String(rest[scheme.upperBound...]) }
        if let at = rest.lastIndex(of: "@") { rest = String(rest[rest.index(after: at)...]) }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        let host = rest.prefix { $0 != "/" && $0 != ":" }
        return host.isEmpty ? nil : String(host)
    }
}

/// A physical network of `listPhysicalNetworks`.
public struct CloudStackPhysicalNetwork: Sendable, Hashable, Decodable {
    public var id: String
    public var name: String?
    public var zoneID: String?

    public init(id: String, name: String?, zoneID: String? = nil) {
        self.id = id
        self.name = name
        self.zoneID = zoneID
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case zoneID = "zoneid"
    }
}

/// A traffic type of `listTrafficTypes`: `Management`, `Guest`, `Public` or `Storage`, with
/// the name KVM hosts give its bridge (`kvmnetworklabel`).
public struct CloudStackTrafficType: Sendable, Hashable, Decodable {
    public var id: String
    public var trafficType: String
    public var kvmNetworkLabel: String?
    public var physicalNetworkID: String?

    public init(id: String, trafficType: String, kvmNetworkLabel: String?, physicalNetworkID: String? = nil) {
        self.id = id
        self.trafficType = trafficType
        self.kvmNetworkLabel = kvmNetworkLabel
        self.physicalNetworkID = physicalNetworkID
    }

    enum CodingKeys: String, CodingKey {
        case id
        case trafficType = "traffictype", kvmNetworkLabel = "kvmnetworklabel", physicalNetworkID = "physicalnetworkid"
    }
}

/// Everything the management server says about one host: the host, the primary storage pools
/// it uses (its cluster's and its zone's), its zone's image stores and traffic types.
public struct ManagementServerView: Sendable, Hashable {
    public var url: String
    public var host: CloudStackHost
    /// How the host was found (`--cloudstack-host kvm1`, `its ipaddress 198.51.100.10 is an address of this machine`).
    public var hostFoundBy: String
    public var pools: [CloudStackStoragePool]
    /// Pools of the zone this host does not use (another cluster's, host-local ones), for the record.
    public var otherPools: [CloudStackStoragePool] = []
    public var imageStores: [CloudStackImageStore]
    public var physicalNetworks: [CloudStackPhysicalNetwork]
    public var trafficTypes: [CloudStackTrafficType]

    public init(url: String, host: CloudStackHost, hostFoundBy: String, pools: [CloudStackStoragePool],
                imageStores: [CloudStackImageStore], physicalNetworks: [CloudStackPhysicalNetwork],
                trafficTypes: [CloudStackTrafficType]) {
        self.url = url
        self.host = host
        self.hostFoundBy = hostFoundBy
        self.pools = pools
        self.imageStores = imageStores
        self.physicalNetworks = physicalNetworks
        self.trafficTypes = trafficTypes
    }

    /// The distinct KVM labels of a traffic type (`Management` -> `[cloudbr0]`), in order.
    public func labels(of trafficType: String) -> [String] {
        var seen = Set<String>()
        return trafficTypes.filter { $0.trafficType.lowercased() == trafficType.lowercased() }
            .compactMap { $0.kvmNetworkLabel?.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// Whether a pool of the zone is one this host uses: a cluster-scoped pool of its
    /// cluster, or a zone-wide pool of its zone for its hypervisor (or any).
    public static func uses(_ pool: CloudStackStoragePool, host: CloudStackHost) -> Bool {
        switch pool.scope?.uppercased() {
        case "CLUSTER": pool.clusterID != nil && pool.clusterID == host.clusterID
        case "ZONE":
            (pool.zoneID == nil || pool.zoneID == host.zoneID)
                && [nil, "any", host.hypervisor?.lowercased()].contains(pool.hypervisor?.lowercased())
        default: false
        }
    }
}
