import Decode
import Frames

/// What RPC traffic has told a flow table: the services a portmapper said listen at an
/// address and port (so that MOUNT, NLM and NSM on the ports it handed out are storage),
/// portmapper calls waiting for their reply (to read the mappings it announces), and
/// recognised RPC calls waiting for theirs (so that a reply seen on another interface,
/// under asymmetric routing, is recognised too). Each bounded: full, it starts afresh.
struct RPCLedger: Sendable {
    static let maxLearned = 65_536
    static let maxQueries = 4096

    /// Services the portmapper said listen at an address and port.
    private var learned: [LearnedEndpoint: Int] = [:]
    /// Portmapper calls waiting for their reply, by flow serial and xid.
    private var portmapQueries: [QueryKey: PortmapQuery] = [:]
    /// Recognised RPC calls by connection and xid.
    private var calls = CallTable(limit: maxLearned)
    /// Callback addresses NFSv4.0 clients named in SETCLIENTID (RFC 7530 §16.33): the
    /// server connects back to them.
    private var callbackAddresses: [LearnedEndpoint: Int] = [:]
    /// The RPC programs those clients chose for their callback service (CB_NULL and
    /// CB_COMPOUND, version 1: RFC 7530 §16.33, §17).
    private var callbackPrograms: [UInt32: Int] = [:]

    /// Whether any mapping or callback address was learned (checked before the lookups, on
    /// every new flow).
    var hasMappings: Bool { !learned.isEmpty || !callbackAddresses.isEmpty }

    /// The service the capture said listens at one end of a new flow over `ipProtocol`: a
    /// portmapper's mapping (first), or an NFSv4.0 client's callback address (`callback`);
    /// the destination's before the source's.
    func taughtService(destination: Endpoint, source: Endpoint, _ ipProtocol: UInt8)
        -> (service: Int, serverIsSource: Bool, callback: Bool)?
    {
        Self.lookUp(learned, destination, source, ipProtocol).map { ($0.service, $0.serverIsSource, false) }
            ?? Self.lookUp(callbackAddresses, destination, source, ipProtocol).map { ($0.service, $0.serverIsSource, true) }
    }

    private static func lookUp(_ map: [LearnedEndpoint: Int], _ destination: Endpoint, _ source: Endpoint, _ ipProtocol: UInt8)
        -> (service: Int, serverIsSource: Bool)?
    {
        guard !map.isEmpty else { return nil }
        if let service = map[LearnedEndpoint(destination, ipProtocol)] { return (service, false) }
        return map[LearnedEndpoint(source, ipProtocol)].map { ($0, true) }
    }

    /// The callback service whose RPC program a client chose, if one did.
    func callbackService(program: UInt32) -> Int? {
        callbackPrograms.isEmpty ? nil : callbackPrograms[program]
    }

    /// Whether a call to `program` is a plausible NFSv4.0 callback (CB_NULL or CB_COMPOUND
    /// of version 1 of a program a client chose).
    func isCallback(program: UInt32, version: UInt32, procedure: UInt32) -> Bool {
        version == 1 && procedure <= 1 && callbackService(program: program) != nil
    }

    /// Reads an NFSv4.0 COMPOUND call's arguments at `offset` (RFC 7530 §16.2) and, when its
    /// first operation is SETCLIENTID (35, §16.33), learns the callback program and the
    /// callback address the client (`client`, for a wildcard address) named, as `service`.
    mutating func learnCallback(payload: UnsafeRawBufferPointer, at offset: Int, client: IPAddress, service: Int) {
        var cursor = XDRCursor(payload, at: offset)
        cursor.skipOpaque(maximum: 1024)  // tag
        let minorVersion = cursor.u32()
        let operations = cursor.u32()
        let operation = cursor.u32()
        guard !cursor.failed, minorVersion == 0, (1...64).contains(operations), operation == 35 else { return }
        _ = cursor.u32()  // verifier, 8 bytes
        _ = cursor.u32()
        cursor.skipOpaque(maximum: 1024)  // the client's id
        let program = cursor.u32()
        guard let netid = cursor.string(maximum: 64), let universal = cursor.string(maximum: 128), !cursor.failed,
            let (address, port) = Self.parseUniversalAddress(universal), port > 0
        else { return }
        let ipProtocol = Self.ipProtocol(netid: netid)
        guard ipProtocol == 6 || ipProtocol == 17 else { return }
        if callbackAddresses.count >= Self.maxLearned { callbackAddresses.removeAll() }
        if callbackPrograms.count >= Self.maxLearned { callbackPrograms.removeAll() }
        let endpoint = Endpoint(address: Self.isWildcard(address) ? client : address, port: port)
        callbackAddresses[LearnedEndpoint(endpoint, ipProtocol)] = service
        callbackPrograms[program] = service
    }

    /// Remembers a recognised call, for its reply.
    mutating func rememberCall(_ key: CallKey, service: Int, program: UInt32, version: UInt32) {
        calls.remember(key, (service, program, version))
    }

    /// Forgets every call waiting for its reply, and the memory that held them.
    mutating func forgetCalls() {
        calls = CallTable(limit: Self.maxLearned)
    }

    /// The recognised call a reply answers, if it was seen.
    mutating func call(answeredBy key: CallKey) -> (service: Int, program: UInt32, version: UInt32)? {
        calls.find(key)
    }

    /// The portmapper query a reply answers, taken out of the ledger.
    mutating func takePortmapQuery(flowSerial: Int, xid: UInt32) -> PortmapQuery? {
        portmapQueries.isEmpty ? nil : portmapQueries.removeValue(forKey: QueryKey(flow: flowSerial, xid: xid))
    }

    mutating func rememberPortmapCall(flowSerial: Int, call: RPC.Call, payload: UnsafeRawBufferPointer, at offset: Int) {
        var cursor = XDRCursor(payload, at: offset)
        let query: PortmapQuery
        switch (call.version, call.procedure) {
        case (2, 3):  // PMAPPROC_GETPORT(prog, vers, prot, port)
            let program = cursor.u32()
            _ = cursor.u32()
            let transport = cursor.u32()
            guard !cursor.failed, transport <= 255 else { return }
            query = .getPort(program: program, ipProtocol: UInt8(transport))
        case (3, 3), (4, 3), (4, 9):  // RPCBPROC_GETADDR / GETVERSADDR(rpcb)
            let program = cursor.u32()
            _ = cursor.u32()
            guard let netid = cursor.string(maximum: 64) else { return }
            query = .getAddress(program: program, ipProtocol: Self.ipProtocol(netid: netid))
        case (_, 4):  // DUMP
            query = .dump(version: call.version)
        default:
            return
        }
        if portmapQueries.count >= Self.maxQueries { portmapQueries.removeAll() }
        portmapQueries[QueryKey(flow: flowSerial, xid: call.xid)] = query
    }

    /// Learns the mappings a portmapper reply announces.
    mutating func learn(from query: PortmapQuery, payload: UnsafeRawBufferPointer, at offset: Int, server: IPAddress, table: ProtocolTable) {
        var cursor = XDRCursor(payload, at: offset)
        switch query {
        case .getPort(let program, let ipProtocol):
            let port = cursor.u32()
            guard !cursor.failed else { return }
            remember(program: program, address: server, ipProtocol: ipProtocol, port: port, table: table)
        case .getAddress(let program, let ipProtocol):
            guard let universal = cursor.string(maximum: 128),
                let (address, port) = Self.parseUniversalAddress(universal)
            else { return }
            remember(program: program, address: Self.isWildcard(address) ? server : address, ipProtocol: ipProtocol, port: UInt32(port), table: table)
        case .dump(let version):
            // A list of entries, each preceded by a "value follows" word.
            var entries = 0
            while entries < 1024, cursor.u32() == 1, !cursor.failed {
                entries += 1
                let program = cursor.u32()
                _ = cursor.u32()
                if version == 2 {
                    let transport = cursor.u32()
                    let port = cursor.u32()
                    guard !cursor.failed, transport <= 255 else { return }
                    remember(program: program, address: server, ipProtocol: UInt8(transport), port: port, table: table)
                } else {
                    guard let netid = cursor.string(maximum: 64), let universal = cursor.string(maximum: 128),
                        cursor.skipOpaque(maximum: 256) != nil
                    else { return }
                    if let (address, port) = Self.parseUniversalAddress(universal) {
                        remember(
                            program: program, address: Self.isWildcard(address) ? server : address,
                            ipProtocol: Self.ipProtocol(netid: netid), port: UInt32(port), table: table)
                    }
                }
            }
        }
    }

    private mutating func remember(program: UInt32, address: IPAddress, ipProtocol: UInt8, port: UInt32, table: ProtocolTable) {
        guard port > 0, port <= 65_535, ipProtocol == 6 || ipProtocol == 17,
            let service = table.serviceIndex(rpcProgram: program)
        else { return }
        if learned.count >= Self.maxLearned { learned.removeAll() }
        learned[LearnedEndpoint(Endpoint(address: address, port: UInt16(port)), ipProtocol)] = service
    }

    /// `tcp`, `tcp6` -> 6; `udp`, `udp6` -> 17; anything else 0 (never learned).
    static func ipProtocol(netid: String) -> UInt8 {
        if netid.hasPrefix("tcp") { return 6 }
        if netid.hasPrefix("udp") { return 17 }
        return 0
    }

    /// An RPC universal address (RFC 5665 §5.2.3.3): the address text, then `.p1.p2` with
    /// the port's high and low bytes.
    static func parseUniversalAddress(_ text: String) -> (IPAddress, UInt16)? {
        guard let last = text.lastIndex(of: "."), let high = text[..<last].lastIndex(of: ".") else { return nil }
        guard let p1 = UInt16(text[text.index(after: high)..<last]), let p2 = UInt16(text[text.index(after: last)...]),
            p1 <= 255, p2 <= 255, let address = IPAddress(text[..<high])
        else { return nil }
        return (address, p1 << 8 | p2)
    }

    static func isWildcard(_ address: IPAddress) -> Bool {
        address.isIPv4 ? address.ipv4Value == 0 : (address.high == 0 && address.low == 0)
    }
}

/// An address, port and transport a portmapper announced.
struct LearnedEndpoint: Hashable, Sendable {
    var endpoint: Endpoint
    var ipProtocol: UInt8

    init(_ endpoint: Endpoint, _ ipProtocol: UInt8) {
        self.endpoint = endpoint
        self.ipProtocol = ipProtocol
    }
}

struct QueryKey: Hashable, Sendable {
    /// The flow's serial.
    var flow: Int
    var xid: UInt32
}

/// What a portmapper call asked, so that its reply can be read.
enum PortmapQuery: Sendable {
    case getPort(program: UInt32, ipProtocol: UInt8)
    case getAddress(program: UInt32, ipProtocol: UInt8)
    case dump(version: UInt32)
}
