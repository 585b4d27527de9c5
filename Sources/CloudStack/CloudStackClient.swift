import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Why a call to the management server failed, naming the call; `exitStatus` is the
/// command's exit status for it (sysexits).
public struct CloudStackError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The server cannot be reached, the TLS handshake failed, or it timed out (69, EX_UNAVAILABLE).
        case unavailable
        /// The key, secret or signature was refused, or the account may not make the call (77, EX_NOPERM).
        case rejected
        /// The answer is not what the API documents (65, EX_DATAERR).
        case malformed
        /// The environment or the options do not allow a call at all (64, EX_USAGE): no key, a bad URL.
        case usage
        /// A CloudStack error response other than a refused key (`errorcode` 431, 530, ...) (69).
        case serverError
    }

    public var kind: Kind
    /// The API command (`listHosts`), or what was being done.
    public var call: String
    public var message: String

    public init(_ kind: Kind, call: String, _ message: String) {
        self.kind = kind
        self.call = call
        self.message = message
    }

    public var description: String { "CloudStack \(call): \(message)" }

    public var exitStatus: Int32 {
        switch kind {
        case .unavailable, .serverError: 69
        case .rejected: 77
        case .malformed: 65
        case .usage: 64
        }
    }
}

/// The API key and secret, from `CLOUDSTACK_KEY` and `CLOUDSTACK_SECRET` (as the `cs` client and
/// Terraform's CloudStack provider name them): never on the command line.
public struct CloudStackCredentials: Sendable {
    public var apiKey: String
    public var secret: String

    public init(apiKey: String, secret: String) {
        self.apiKey = apiKey
        self.secret = secret
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(CloudStackError) -> CloudStackCredentials
    {
        let key = environment["CLOUDSTACK_KEY"] ?? ""
        let secret = environment["CLOUDSTACK_SECRET"] ?? ""
        guard !key.isEmpty, !secret.isEmpty else {
            let missing = [key.isEmpty ? "CLOUDSTACK_KEY" : nil, secret.isEmpty ? "CLOUDSTACK_SECRET" : nil].compactMap { $0 }
            throw CloudStackError(.usage, call: "credentials", "\(missing.joined(separator: " and ")) not set: the API key and "
                + "secret come from the environment (CLOUDSTACK_KEY, CLOUDSTACK_SECRET), never from the command line")
        }
        return CloudStackCredentials(apiKey: key, secret: secret)
    }
}

/// A client of CloudStack's HTTP API: signed GET requests (`signatureversion=3` with `expires`),
/// JSON answers, a timeout per request, TLS verified against the system's roots or a private CA.
public final class CloudStackClient: Sendable {
    public let url: String
    let endpoint: String
    let credentials: CloudStackCredentials
    let timeout: TimeAmount
    let client: HTTPClient
    /// The most an answer may be (a zone of thousands of hosts is a few megabytes).
    static let maximumBody = 64 << 20
    static let pageSize = 500
    /// The most pages one list call is followed over (a server capping pages at 20 items still
    /// gives 20 000).
    static let maximumPages = 1000

    /// `url` is the API endpoint (`https://cloud.example/client/api`); a URL without a path gets
    /// `/client/api`. `caFile` replaces the system's trust roots with a PEM file's certificates.
    public init(url: String, credentials: CloudStackCredentials, caFile: String? = nil, timeout: Duration = .seconds(30))
        throws(CloudStackError)
    {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parsed.host, !host.isEmpty
        else {
            throw CloudStackError(.usage, call: "--cloudstack-url", "\(url) is not an http:// or https:// URL")
        }
        var endpoint = url
        if parsed.path.isEmpty || parsed.path == "/" {
            endpoint = (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/client/api"
        }
        if parsed.query != nil {
            throw CloudStackError(.usage, call: "--cloudstack-url", "\(url) has a query; give the API endpoint only")
        }
        self.url = url
        self.endpoint = endpoint
        self.credentials = credentials
        let (seconds, attoseconds) = timeout.components
        self.timeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            tls.trustRoots = .file(caFile)
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                                     timeout: .init(connect: self.timeout, read: self.timeout))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections; call it once when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: - Calls

    /// One API call: the `<command>response` object of its answer, every page of a list
    /// (`listKey` the array's key) gathered. A server may cap a page below the `pagesize` asked
    /// for (CloudStack's `default.page.size`), so a short page is no end: pages are asked until
    /// `count` items are in or a page comes back empty, at most `maximumPages`.
    func list<Item: Decodable & Equatable>(_ command: String, _ parameters: [String: String], listKey: String, as _: Item.Type)
        async throws(CloudStackError) -> [Item]
    {
        var items: [Item] = []
        var previous: [Item] = []
        for page in 1...Self.maximumPages {
            var query = parameters
            query["page"] = String(page)
            query["pagesize"] = String(Self.pageSize)
            let object = try await call(command, query)
            let count = object["count"]
            let array = object[listKey]
            guard let array else { return items }  // CloudStack leaves both out of an empty list
            guard JSONSerialization.isValidJSONObject(array), let list = array as? [Any] else {
                throw CloudStackError(.malformed, call: command, "\"\(listKey)\" is not a list")
            }
            let pageItems: [Item]
            do {
                let data = try JSONSerialization.data(withJSONObject: list)
                pageItems = try JSONDecoder().decode([Item].self, from: data)
            } catch let error as DecodingError {
                throw CloudStackError(.malformed, call: command, "\"\(listKey)\": " + Self.describe(error))
            } catch {
                throw CloudStackError(.malformed, call: command, "\"\(listKey)\": \(error)")
            }
            if pageItems.isEmpty { return items }
            if page > 1, pageItems == previous {
                throw CloudStackError(.malformed, call: command, "page \(page) repeats page \(page - 1): the server does not "
                    + "honour \"page\"")
            }
            items += pageItems
            previous = pageItems
            switch count {
            // No count: the answer is taken as the whole list.
            case nil: return items
            case let total as Int: if items.count >= total { return items }
            default: throw CloudStackError(.malformed, call: command, "\"count\" is not a number")
            }
        }
        throw CloudStackError(.malformed, call: command, "\(items.count) items in \(Self.maximumPages) pages, still fewer than "
            + "its \"count\"")
    }

    /// A signed call; the `<command lower-cased>response` object of the answer.
    public func call(_ command: String, _ parameters: [String: String]) async throws(CloudStackError) -> [String: Any] {
        var signed = parameters
        signed["command"] = command
        signed["apikey"] = credentials.apiKey
        signed["response"] = "json"
        signed["signatureversion"] = "3"
        signed["expires"] = CloudStackSignature.expires(Date().addingTimeInterval(600))
        let address = endpoint + "?" + CloudStackSignature.signedQuery(signed, secret: credentials.secret)
        var request = HTTPClientRequest(url: address)
        request.headers.add(name: "Accept", value: "application/json")
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = response.status.code
            body = try await response.body.collect(upTo: Self.maximumBody)
        } catch let error as NIOTooManyBytesError {
            throw CloudStackError(.malformed, call: command, "the answer is larger than \(Self.maximumBody >> 20) MiB (\(error))")
        } catch {
            throw CloudStackError(.unavailable, call: command, "cannot get an answer from \(endpoint): \(Self.describe(error))")
        }
        return try Self.decode(command: command, status: status, body: Data(body.readableBytesView))
    }

    /// The response object of an answer, or the error it reports.
    static func decode(command: String, status: UInt, body: Data) throws(CloudStackError) -> [String: Any] {
        let key = command.lowercased() + "response"
        guard let top = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            let start = String(decoding: body.prefix(120), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            if status == 401 || status == 403 {
                throw CloudStackError(.rejected, call: command, "HTTP \(status), not a CloudStack answer: \(start)")
            }
            throw CloudStackError(.malformed, call: command, "HTTP \(status), and the answer is not a JSON object: \(start)")
        }
        guard let object = top[key] as? [String: Any] ?? (top.count == 1 ? top.first?.value as? [String: Any] : nil) else {
            throw CloudStackError(.malformed, call: command, "HTTP \(status), and the answer has no \"\(key)\" object (it has "
                + top.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ") + ")")
        }
        if object["errorcode"] != nil || object["errortext"] != nil {
            let code = (object["errorcode"] as? Int) ?? Int(status)
            let text = object["errortext"] as? String ?? "(no errortext)"
            // 401: credentials or signature; 531: the account may not make this call; 432: not available to it.
            let kind: CloudStackError.Kind = [401, 403, 432, 531].contains(code) ? .rejected : .serverError
            throw CloudStackError(kind, call: command, "errorcode \(code): \(text)")
        }
        guard (200..<300).contains(status) else {
            throw CloudStackError(status == 401 || status == 403 ? .rejected : .serverError, call: command,
                                  "HTTP \(status) without an error text")
        }
        return object
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case let .keyNotFound(key, context): return "\(path(context)) has no \"\(key.stringValue)\""
        case let .typeMismatch(type, context): return "\(path(context)) is not \(type)"
        case let .valueNotFound(type, context): return "\(path(context)) is null, expected \(type)"
        case let .dataCorrupted(context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }

    // MARK: - The list calls

    /// `listHosts type=Routing`, by name or id when given.
    public func hosts(name: String? = nil, id: String? = nil) async throws(CloudStackError) -> [CloudStackHost] {
        var parameters = ["type": "Routing"]
        if let name { parameters["name"] = name }
        if let id { parameters["id"] = id }
        return try await list("listHosts", parameters, listKey: "host", as: CloudStackHost.self)
    }

    public func storagePools(zoneID: String?) async throws(CloudStackError) -> [CloudStackStoragePool] {
        try await list("listStoragePools", zoneID.map { ["zoneid": $0] } ?? [:], listKey: "storagepool", as: CloudStackStoragePool.self)
    }

    public func imageStores(zoneID: String?) async throws(CloudStackError) -> [CloudStackImageStore] {
        try await list("listImageStores", zoneID.map { ["zoneid": $0] } ?? [:], listKey: "imagestore", as: CloudStackImageStore.self)
    }

    public func physicalNetworks(zoneID: String?) async throws(CloudStackError) -> [CloudStackPhysicalNetwork] {
        try await list("listPhysicalNetworks", zoneID.map { ["zoneid": $0] } ?? [:], listKey: "physicalnetwork",
                       as: CloudStackPhysicalNetwork.self)
    }

    public func trafficTypes(physicalNetworkID: String) async throws(CloudStackError) -> [CloudStackTrafficType] {
        try await list("listTrafficTypes", ["physicalnetworkid": physicalNetworkID], listKey: "traffictype",
                       as: CloudStackTrafficType.self)
    }

    // MARK: - A zone's hosts

    /// The KVM hypervisors of a zone (`zone` its name or id) or of every zone: the Routing hosts
    /// of `listHosts` whose `hypervisor` is KVM and that have an `ipaddress`, by name, with notes
    /// on what was left out and on hosts that are not Up and Enabled (listed all the same: their
    /// policy is the same, and whether they answer is for the caller to find).
    public func kvmHosts(zone: String?) async throws(CloudStackError) -> (hosts: [CloudStackHost], notes: [String]) {
        var routing = try await hosts().filter { $0.type == nil || $0.type == "Routing" }
        if let zone {
            let all = routing
            routing = all.filter { $0.zoneID == zone || $0.zoneName == zone }
            let zones = Set(routing.compactMap(\.zoneID))
            if routing.isEmpty {
                let known = Set(all.map { $0.zoneName ?? $0.zoneID ?? "?" }).sorted()
                throw CloudStackError(.usage, call: "listHosts", "no Routing host is in a zone named or numbered \(zone)"
                    + (known.isEmpty ? " (there is no Routing host at all)" : " (zones with Routing hosts: \(known.joined(separator: ", ")))"))
            }
            if zones.count > 1 {
                throw CloudStackError(.usage, call: "listHosts", "\(zones.count) zones are named \(zone) "
                    + "(\(zones.sorted().joined(separator: ", "))): give its id")
            }
        }
        var notes: [String] = []
        let others = routing.filter { $0.hypervisor?.lowercased() != "kvm" }
        if !others.isEmpty {
            notes.append("left out \(others.count) Routing host\(others.count == 1 ? "" : "s") not KVM: "
                + others.map { "\($0.name) (\($0.hypervisor ?? "no hypervisor"))" }.joined(separator: ", "))
        }
        var kvm = routing.filter { $0.hypervisor?.lowercased() == "kvm" }
        for host in kvm where (host.ipAddress ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            notes.append("left out \(host.name) (id \(host.id)): listHosts gives it no ipaddress")
        }
        kvm = kvm.filter { !($0.ipAddress ?? "").trimmingCharacters(in: .whitespaces).isEmpty }
            .sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        for host in kvm where host.state != "Up" || host.resourceState != "Enabled" {
            notes.append("\(host.name) \(host.ipAddress ?? ""): state \(host.state ?? "unknown"), resource state "
                + "\(host.resourceState ?? "unknown") (listed)")
        }
        for (name, same) in Dictionary(grouping: kvm, by: \.name).sorted(by: { $0.key < $1.key }) where same.count > 1 {
            notes.append("\(same.count) hosts are named \(name) (\(same.map(\.id).joined(separator: ", "))): "
                + "--cloudstack-host needs their ids")
        }
        if kvm.isEmpty { notes.append("no KVM host" + (zone.map { " in zone \($0)" } ?? "")) }
        return (kvm, notes)
    }

    // MARK: - One host's view

    /// Finds this host (by `selector`, a name or an id, else the Routing host whose `ipaddress`
    /// is one of `localAddresses`) and gathers what the server says about it.
    public func view(host selector: String?, localAddresses: [String]) async throws(CloudStackError) -> ManagementServerView {
        let host: CloudStackHost
        let foundBy: String
        if let selector {
            let isID = UUID(uuidString: selector) != nil || selector.allSatisfy(\.isNumber)
            let found = try await isID ? hosts(id: selector) : hosts(name: selector)
            // `name` is a keyword search in some versions: keep exact matches only.
            let exact = found.filter { $0.id == selector || $0.name == selector }
            guard exact.count == 1, let only = exact.first else {
                throw CloudStackError(.usage, call: "listHosts", exact.isEmpty
                    ? "no Routing host is named or numbered \(selector)"
                    : "\(exact.count) Routing hosts are named \(selector) (\(exact.map(\.id).joined(separator: ", "))): give its id")
            }
            host = only
            foundBy = "--cloudstack-host \(selector)"
        } else {
            let all = try await hosts()
            let matches = all.filter { $0.hasAddress(in: localAddresses) }
            guard matches.count == 1, let only = matches.first else {
                throw CloudStackError(.usage, call: "listHosts", matches.isEmpty
                    ? "no Routing host's ipaddress is an address of this machine (\(localAddresses.joined(separator: ", "))); "
                        + "give --cloudstack-host NAME|ID"
                    : "several Routing hosts have an address of this machine (\(matches.map(\.name).joined(separator: ", "))); "
                        + "give --cloudstack-host NAME|ID")
            }
            host = only
            foundBy = "its ipaddress \(only.ipAddress ?? "") is an address of this machine"
        }
        let zonePools = try await storagePools(zoneID: host.zoneID)
        let stores = try await imageStores(zoneID: host.zoneID)
        let physical = try await physicalNetworks(zoneID: host.zoneID)
        var traffic: [CloudStackTrafficType] = []
        for network in physical {
            traffic += try await trafficTypes(physicalNetworkID: network.id)
        }
        var view = ManagementServerView(url: url, host: host, hostFoundBy: foundBy,
                                        pools: zonePools.filter { ManagementServerView.uses($0, host: host) },
                                        imageStores: stores.filter { $0.zoneID == nil || $0.zoneID == host.zoneID },
                                        physicalNetworks: physical, trafficTypes: traffic)
        view.otherPools = zonePools.filter { !ManagementServerView.uses($0, host: host) }
        return view
    }
}
