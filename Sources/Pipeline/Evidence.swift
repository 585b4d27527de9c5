import Capture
import Check
import Decode
import Flows
import Frames

/// Writes the evidence file: every packet of every violating flow, in capture order, in a
/// pcapng file with one named interface block per interface the packets were seen on (so
/// Wireshark's `frame.interface_name` shows where each was seen).
///
/// It is a second pass over the captures. The reading pass is deterministic, so replaying
/// the same files through a fresh `FlowTracker` with the same places numbers every flow
/// exactly as the first pass did; a packet is written when its flow is one of `rawFlows`.
/// Non-first IP fragments that arrive before their first fragment are held (bounded) until
/// the first fragment says which flow they belong to.
enum Evidence {
    /// Fragments held while waiting for their first fragment, at most.
    static let maxHeldFragments = 4096

    struct HeldFragment {
        var source: IPAddress
        var destination: IPAddress
        var identification: UInt32
        var ipProtocol: UInt8
        var interface: InterfaceKey
        var bytes: [UInt8]
        var wireLength: Int
        var timestamp: Timestamp
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// - Returns: the number of packets written.
    static func write(
        to path: String, inputs: [ReplayInput], places: [RawPlace: UInt32], table: ProtocolTable,
        rawFlows: Set<Int>, interfaceOfPlace: [Int], interfaces: [ObservedInterface]
    ) throws(Failure) -> Int {
        do {
            return try writeUnchecked(
                to: path, inputs: inputs, places: places, table: table, rawFlows: rawFlows,
                interfaceOfPlace: interfaceOfPlace, interfaces: interfaces)
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "cannot write the evidence file \(path): \(error)")
        }
    }

    private static func writeUnchecked(
        to path: String, inputs: [ReplayInput], places: [RawPlace: UInt32], table: ProtocolTable,
        rawFlows: Set<Int>, interfaceOfPlace: [Int], interfaces: [ObservedInterface]
    ) throws -> Int {
        let writer = try PcapngWriter(path: path)
        var tracker = FlowTracker(table: table)
        let decoder = PacketDecoder()
        var packet = DecodedPacket()
        var written = 0
        var held: [HeldFragment] = []
        var interfaceIDs: [InterfaceKey: UInt32] = [:]

        for (sourceIndex, input) in inputs.enumerated() {
            var source = try CaptureFile.open(path: input.path)
            var failure: Error?
            _ = source.read { frame in
                guard failure == nil else { return }
                decoder.decode(frame.bytes, linkType: frame.linkType, into: &packet)
                let place = RawPlace(source: sourceIndex, interface: frame.interface, packet: packet)
                guard let segment = places[place] else { return }  // the file changed since the first pass
                let flow = tracker.observe(
                    packet, payload: Engine.payload(of: packet, in: frame.bytes), segment: segment,
                    wireLength: frame.wireLength, at: frame.timestamp)
                do {
                    let key = InterfaceKey(interface: interfaceOfPlace[Int(segment)], linkType: frame.linkType)
                    // Interface blocks are written only for interfaces that carry evidence.
                    func interfaceID(_ key: InterfaceKey) throws -> UInt32 {
                        if let known = interfaceIDs[key] { return known }
                        let observed = interfaces[key.interface]
                        let id = try writer.interfaceID(name: observed.name ?? observed.label, linkType: key.linkType)
                        interfaceIDs[key] = id
                        return id
                    }
                    guard let flow else {
                        if packet.isLaterFragment {
                            if held.count >= maxHeldFragments { held.removeFirst(held.count / 2) }
                            held.append(
                                HeldFragment(
                                    source: packet.source, destination: packet.destination,
                                    identification: packet.fragmentID, ipProtocol: packet.ipProtocol,
                                    interface: key, bytes: Array(frame.bytes), wireLength: frame.wireLength,
                                    timestamp: frame.timestamp))
                        }
                        return
                    }
                    guard rawFlows.contains(flow) else { return }
                    try writer.write(
                        frameBytes: frame.bytes, wireLength: frame.wireLength, timestamp: frame.timestamp,
                        interface: try interfaceID(key))
                    written += 1
                    if packet.isFragment && !packet.isLaterFragment && !held.isEmpty {
                        // Fragments of this datagram that came before its first fragment.
                        var kept: [HeldFragment] = []
                        for fragment in held {
                            if fragment.source == packet.source && fragment.destination == packet.destination
                                && fragment.identification == packet.fragmentID
                                && fragment.ipProtocol == packet.ipProtocol && fragment.interface.interface == key.interface
                            {
                                let id = try interfaceID(fragment.interface)
                                try fragment.bytes.withUnsafeBytes { bytes in
                                    try writer.write(
                                        frameBytes: bytes, wireLength: fragment.wireLength,
                                        timestamp: fragment.timestamp, interface: id)
                                }
                                written += 1
                            } else {
                                kept.append(fragment)
                            }
                        }
                        held = kept
                    }
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        }
        try writer.close()
        return written
    }

    struct InterfaceKey: Hashable {
        var interface: Int
        var linkType: LinkType
    }
}
