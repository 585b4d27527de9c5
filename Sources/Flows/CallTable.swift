import Decode

/// Recognised RPC calls waiting for their replies, by conversation and xid: what `RPCLedger`
/// looks up for every RPC message of every new flow. The calls lie in one array in the order
/// they were seen, found through a `RecordIndex` as flows are: no `Hasher`, no allocation
/// once grown, 64 bytes a call and 16-32 of index. With a million NFS flows a `Dictionary` took a
/// tenth of a replay's time here, most of it SipHash.
///
/// Once it holds `limit` calls it starts afresh (the ledger's bound), keeping its memory.
/// Calls are never removed one by one.
struct CallTable: Sendable {
    typealias Call = (service: Int, program: UInt32, version: UInt32)

    private var records: [CallRecord] = []
    private var index = RecordIndex<CallRecord>(expected: 16)
    /// Calls held at most; the next one starts the table afresh.
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { records.count }

    /// The call remembered for `key`, if any. (Mutating: a probe too long re-seeds the index.)
    mutating func find(_ key: CallKey) -> Call? {
        guard !records.isEmpty, let slot = index.find(key, hash: index.hash(key), in: records) else { return nil }
        let record = records[slot]
        return (record.service, record.program, record.version)
    }

    /// Remembers `call` for `key` (replacing what `key` had); a full table starts afresh first.
    mutating func remember(_ key: CallKey, _ call: Call) {
        if records.count >= limit {
            records.removeAll(keepingCapacity: true)
            index.removeAll()
        }
        let record = CallRecord(key: key, service: call.service, program: call.program, version: call.version)
        let seeds = index.seeds
        var hash = index.hash(key)
        if let slot = index.find(key, hash: hash, in: records) {
            records[slot] = record
            return
        }
        if index.seeds != seeds { hash = index.hash(key) }  // the lookup re-seeded
        records.append(record)
        index.insert(slot: records.count - 1, hash: hash, flows: records)
    }
}

/// One remembered call: 64 bytes.
struct CallRecord: IndexedRecord {
    var key: CallKey
    var service: Int
    var program: UInt32
    var version: UInt32

    @inline(__always)
    static func hashWords(_ key: CallKey) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
        (key.clientHigh, key.clientLow, key.serverHigh, key.serverLow, key.portsAndXID, key.rest)
    }
}

/// An RPC conversation (client, server, transport) and a transaction id, as plain words:
/// each address's halves, both ports with the xid, and the protocol with both address families.
struct CallKey: Equatable, Sendable {
    var clientHigh: UInt64
    var clientLow: UInt64
    var serverHigh: UInt64
    var serverLow: UInt64
    var portsAndXID: UInt64
    var rest: UInt64

    init(client: Endpoint, server: Endpoint, ipProtocol: UInt8, xid: UInt32) {
        clientHigh = client.address.high
        clientLow = client.address.low
        serverHigh = server.address.high
        serverLow = server.address.low
        portsAndXID = UInt64(client.port) << 48 | UInt64(server.port) << 32 | UInt64(xid)
        rest = UInt64(ipProtocol) | (client.address.isIPv4 ? 0x100 : 0) | (server.address.isIPv4 ? 0x200 : 0)
    }

    /// For a call the packet goes client -> server; for a reply, server -> client.
    init(_ packet: UnsafePointer<DecodedPacket>, xid: UInt32, reply: Bool) {
        let source = Endpoint(address: packet.pointee.source, port: packet.pointee.sourcePort)
        let destination = Endpoint(address: packet.pointee.destination, port: packet.pointee.destinationPort)
        self.init(
            client: reply ? destination : source, server: reply ? source : destination,
            ipProtocol: packet.pointee.ipProtocol, xid: xid)
    }
}
