import Capture
import Check
import Decode
import Flows
import Frames
import Policy

/// Where a frame was seen, as the reading pass knows it, before interface names are resolved.
struct RawPlace: Hashable, Sendable {
    var source: Int
    /// The source's interface index, or -1.
    var interface: Int
    /// The SLL2 interface index, or `Int32.min` when the frame has none.
    var ifindex: Int32
    var outerVLAN: UInt16
    var innerVLAN: UInt16
    /// The ERSPAN session that mirrored the frame, or `notMirrored`.
    var mirrorSession: UInt16
    /// The VLAN the mirrored frame was on (see `DecodedPacket.mirroredVLAN`), or `untagged`.
    var mirroredVLAN: UInt16
    static let untagged: UInt16 = 0xFFFF
    /// Not an ERSPAN copy (sessions have 10 bits).
    static let notMirrored: UInt16 = 0xFFFF

    /// The place of the decode `packet` points to, read field by field through the pointer
    /// (a decode passed by value is a 184-byte copy, on every packet).
    @inline(__always)
    init(source: Int, interface: Int, packet: UnsafePointer<DecodedPacket>) {
        self.source = source
        self.interface = interface
        self.ifindex = packet.pointee.sllInterfaceIndex ?? Int32.min
        self.outerVLAN = packet.pointee.vlanCount >= 1 ? packet.pointee.outerVLAN : Self.untagged
        self.innerVLAN = packet.pointee.vlanCount >= 2 ? packet.pointee.innerVLAN : Self.untagged
        self.mirrorSession = packet.pointee.mirrorSession
        self.mirroredVLAN = packet.pointee.mirroredVLAN
    }

    /// The outermost VLAN id, when tagged.
    var outer: UInt16? { outerVLAN == Self.untagged ? nil : outerVLAN }
    /// The second VLAN id, when tagged twice.
    var inner: UInt16? { innerVLAN == Self.untagged ? nil : innerVLAN }
    /// The ERSPAN session, for a mirrored frame.
    var session: UInt16? { mirrorSession == Self.notMirrored ? nil : mirrorSession }
    /// The VLAN a mirrored frame was on, when it says.
    var mirrored: UInt16? { mirroredVLAN == Self.untagged ? nil : mirroredVLAN }
}

extension DecodedPacket {
    /// The ERSPAN session that mirrored this frame, or `RawPlace.notMirrored`.
    @inline(__always)
    var mirrorSession: UInt16 { tunnel == .erspan ? UInt16(truncatingIfNeeded: tunnelID) : RawPlace.notMirrored }
    /// For an ERSPAN copy: the VLAN its header says the frame was mirrored from, else the
    /// mirrored frame's own outermost tag; `RawPlace.untagged` when neither says (or not ERSPAN).
    @inline(__always)
    var mirroredVLAN: UInt16 {
        guard tunnel == .erspan else { return RawPlace.untagged }
        return erspanVLAN != 0 ? erspanVLAN : tunnelVLANCount >= 1 ? tunnelVLAN : RawPlace.untagged
    }
}

/// The reading pass: decodes every frame of every source and classifies it into flows,
/// keyed by raw place. Allocation-free per packet once a place and a flow are known.
struct Engine {
    var places: [RawPlace: UInt32] = [:]
    var placeList: [RawPlace] = []
    var counters: [SegmentCounters] = []
    var tracker: FlowTracker
    var sources: [SourceSummary] = []
    var sourceInterfaces: [[CaptureInterface]] = []
    let decoder = PacketDecoder()
    /// The last decoded packet (reused: no allocation per packet).
    var packet = DecodedPacket()
    /// Link types of the current source that could not be decoded.
    var unsupported: Set<LinkType> = []
    /// The place of the previous packet and its index.
    private var lastPlace: (place: RawPlace, number: UInt32)?

    /// - Parameters:
    ///   - maxFlows: the bound on live flows (`FlowTracker.maxFlows`). Unbounded by default, so
    ///     that a flow's slot stays its serial; a replay passes its `--max-flows`, a watch its own.
    ///   - remembersSummarisedSerials: see `FlowTracker.remembersSummarisedSerials`.
    init(table: ProtocolTable, maxFlows: Int = .max, remembersSummarisedSerials: Bool = true) {
        tracker = FlowTracker(table: table, maxFlows: maxFlows, remembersSummarisedSerials: remembersSummarisedSerials)
    }

    /// Reads a whole capture file as source `sourceIndex`.
    mutating func read(_ input: ReplayInput, sourceIndex: Int) throws(ReplayError) {
        var source = try Self.open(input)
        unsupported = []
        let outcome = source.read { frame in
            ingest(frame, source: sourceIndex)
        }
        finishSource(input, outcome: outcome, interfaces: source.interfaces)
    }

    /// Opens a replay input.
    /// - Throws: `ReplayError` `.notFound` or `.unusableInput`, with the capture's message.
    static func open(_ input: ReplayInput) throws(ReplayError) -> any FrameSource {
        do {
            return try CaptureFile.open(path: input.path)
        } catch {
            throw ReplayError(code: error.code == .notFound ? .notFound : .unusableInput, message: error.description)
        }
    }

    /// Records how `input`, read to its end, ended (see `finishSource(path:...)`).
    mutating func finishSource(_ input: ReplayInput, outcome: ReadOutcome, interfaces: [CaptureInterface]) {
        var warnings = outcome.warnings
        if input.interfaceName != nil && interfaces.count > 1 {
            warnings.append(
                "INTERFACE=PATH names one interface but the file describes \(interfaces.count); "
                    + "every packet in it is attributed to \(input.interfaceName ?? "")")
        }
        finishSource(path: input.path, frames: outcome.frames, end: outcome.end, warnings: warnings, interfaces: interfaces)
    }

    /// Records how source number `sources.count` ended. Call once per source, in order.
    mutating func finishSource(path: String, frames: Int, end: SourceEnd, warnings: [String], interfaces: [CaptureInterface]) {
        sources.append(
            SourceSummary(
                path: path, frames: frames, end: end, warnings: warnings,
                unsupportedLinkTypes: unsupported.sorted { $0.rawValue < $1.rawValue }))
        sourceInterfaces.append(interfaces)
        unsupported = []
    }

    /// Decodes one frame of source `source`, counts it on its place, and classifies it.
    /// Allocation-free once the place and the flow are known.
    /// - Returns: the number of its place and the flow it joined, if any: its slot in
    ///   `tracker.flows` (whose `serial` is the raw flow index). `packet` holds the decode.
    @discardableResult
    mutating func ingest(_ frame: Frame, source: Int) -> (place: UInt32, flow: Int?) {
        var decoded = decoder.decode(frame.bytes, linkType: frame.linkType)
        let interface = frame.interface ?? -1
        let result = withUnsafePointer(to: &decoded) { current in
            if let previous = lastIngested, previous.source == source, let flow = previous.flow,
                withUnsafePointer(to: &packet, {
                    Self.continues(current, interface: interface, previous: $0, previousInterface: previous.interface)
                })
            {
                return account(frame, decoded: current, continuing: (previous.place, flow))
            }
            return account(frame, decoded: current, source: source)
        }
        packet = decoded
        lastIngested = (source, interface, result.place, result.flow)
        return result
    }

    /// The number of the place a frame of source `source` seen on its interface `interface`
    /// (-1: none) with the decode `packet` is counted at, when that place is known already;
    /// nil for a place not seen yet. Changes nothing (`account` numbers new
    /// places): read-ahead asks it of frames ahead of the one it accounts. (Mutating only so
    /// that a caller holding the engine `inout` lends it rather than copying it whole.)
    @inline(__always)
    mutating func knownPlace(source: Int, interface: Int, packet: UnsafePointer<DecodedPacket>) -> UInt32? {
        let place = RawPlace(source: source, interface: interface, packet: packet)
        return recentPlace(of: place) ?? places[place]
    }

    /// Where the frame `packet` holds was seen and what it joined, for `ingest`'s next frame.
    private var lastIngested: (source: Int, interface: Int, place: UInt32, flow: Int?)?

    /// `ingest` after the decode: places, counts and classifies `frame`, whose decode
    /// `decoded` points to (replay's read-ahead decodes on another thread and lends the
    /// decode where it lies in its batch: a 200-byte copy per packet saved). Does not set
    /// `packet`.
    @discardableResult
    mutating func account(
        _ frame: Frame, decoded: UnsafePointer<DecodedPacket>, source: Int
    ) -> (place: UInt32, flow: Int?) {
        let place = RawPlace(source: source, interface: frame.interface ?? -1, packet: decoded)
        let number: UInt32
        if let known = recentPlace(of: place) ?? places[place] {
            number = known
        } else {
            number = UInt32(placeList.count)
            places[place] = number
            placeList.append(place)
            counters.append(SegmentCounters())
        }
        lastPlace = (place, number)
        return account(frame, decoded: decoded, at: number)
    }

    /// `account` of a frame whose place is known to be number `number` (`knownPlace` said
    /// so, and places are never renumbered): counts and classifies it there without
    /// looking its place up again.
    @inline(__always)
    mutating func account(
        _ frame: Frame, decoded: UnsafePointer<DecodedPacket>, at number: UInt32
    ) -> (place: UInt32, flow: Int?) {
        let packet = decoded  // read field by field through the pointer, never copied whole
        // Each packet lands in exactly one of decoded, truncated, undecodable. A header cut
        // by the snaplen is truncated (normal); a header that lies is undecodable.
        // A packet whose flow is known (ports, or a fragment of a known datagram) is decoded
        // even when something inside it could not be (a tunnel's broken inner frame).
        let outcome: SegmentCounters.Outcome
        if let stop = packet.pointee.stop, !packet.pointee.hasPorts, !packet.pointee.isLaterFragment,
            stop.code != .tooShort || !frame.isTruncated
        {
            outcome = stop.code == .unsupportedLinkType ? .unsupportedLinkType : .undecodable
            if outcome == .unsupportedLinkType { unsupported.insert(frame.linkType) }
        } else {
            outcome = packet.pointee.truncated || frame.isTruncated ? .truncated : .decoded
        }
        counters[Int(number)].count(wireLength: frame.wireLength, outcome)
        let payload = Self.payload(offset: packet.pointee.payloadOffset, length: packet.pointee.payloadLength, in: frame.bytes)
        let flow = tracker.observe(
            packet, payload: payload, segment: number, wireLength: frame.wireLength, at: frame.timestamp)
        return (number, flow)
    }

    /// `account` of a frame known to continue the previous frame's flow at the previous
    /// frame's place (`Engine.continues`), which was `previous`: counts it there without
    /// looking the place or the flow up. The result is `account`'s.
    @inline(__always)
    mutating func account(
        _ frame: Frame, decoded packet: UnsafePointer<DecodedPacket>, continuing previous: (place: UInt32, flow: Int)
    ) -> (place: UInt32, flow: Int?) {
        // With ports, the one rule of `account` left: cut by the snaplen or not.
        let truncated = packet.pointee.truncated || frame.isTruncated
        counters[Int(previous.place)].count(wireLength: frame.wireLength, truncated ? .truncated : .decoded)
        let payload = Self.payload(
            offset: packet.pointee.payloadOffset, length: packet.pointee.payloadLength, in: frame.bytes)
        tracker.observe(packet, continuing: previous.flow, payload: payload, wireLength: frame.wireLength, at: frame.timestamp)
        return (previous.place, previous.flow)
    }

    /// True when `packet` (on the source's interface `interface`) continues the flow of
    /// `previous`, the frame just before it in the same source: the same place (interface,
    /// SLL2 index, VLAN tags, ERSPAN session) and the same TCP or UDP 5-tuple either way round, as a whole
    /// packet with ports and no fragment. Then, if `previous` joined a flow, so does
    /// `packet`, and `account(_:decoded:continuing:)` may count it. Reads only the decodes.
    @inline(__always)
    static func continues(
        _ packet: UnsafePointer<DecodedPacket>, interface: Int, previous: UnsafePointer<DecodedPacket>,
        previousInterface: Int
    ) -> Bool {
        let p = packet, q = previous
        guard p.pointee.hasPorts, !p.pointee.isFragment, q.pointee.hasPorts, interface == previousInterface,
            p.pointee.ipProtocol == q.pointee.ipProtocol, p.pointee.vlanCount == q.pointee.vlanCount,
            p.pointee.sllInterfaceIndex == q.pointee.sllInterfaceIndex
        else { return false }
        if p.pointee.vlanCount >= 1 && p.pointee.outerVLAN != q.pointee.outerVLAN { return false }
        if p.pointee.vlanCount >= 2 && p.pointee.innerVLAN != q.pointee.innerVLAN { return false }
        if (p.pointee.tunnel == .erspan || q.pointee.tunnel == .erspan)
            && (p.pointee.mirrorSession != q.pointee.mirrorSession || p.pointee.mirroredVLAN != q.pointee.mirroredVLAN)
        {
            return false
        }
        if p.pointee.sourcePort == q.pointee.sourcePort && p.pointee.destinationPort == q.pointee.destinationPort
            && same(p.pointee.source, q.pointee.source) && same(p.pointee.destination, q.pointee.destination)
        {
            return true
        }
        return p.pointee.sourcePort == q.pointee.destinationPort && p.pointee.destinationPort == q.pointee.sourcePort
            && same(p.pointee.source, q.pointee.destination) && same(p.pointee.destination, q.pointee.source)
    }

    /// `==` on the fields themselves, inlined (the synthesised one is a call into `Decode`).
    @inline(__always)
    private static func same(_ a: IPAddress, _ b: IPAddress) -> Bool {
        a.low == b.low && a.high == b.high && a.isIPv4 == b.isIPv4
    }

    /// The number of `place` when finding it needs no hash lookup: the previous packet's
    /// place (consecutive packets are mostly seen in the same place), or one of a handful of
    /// places (a replay usually has a few interfaces and VLANs); nil when not found that way.
    @inline(__always)
    private func recentPlace(of place: RawPlace) -> UInt32? {
        if let last = lastPlace, last.place == place { return last.number }
        guard placeList.count <= Self.placesScanned else { return nil }
        for (number, known) in placeList.enumerated() where known == place { return UInt32(number) }
        return nil
    }

    /// Places up to which `recentPlace` compares every known place.
    private static let placesScanned = 8

    /// The transport payload's captured bytes (empty when there is none).
    @inline(__always)
    static func payload(offset: Int, length: Int, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard length > 0, offset >= 0, offset <= bytes.count, length <= bytes.count - offset
        else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }
}

/// The reading pass's per-packet step on its own, for benchmarks and embedders: frames go
/// in one at a time (decoded, placed, counted and classified into flows, as a replay does),
/// and `check()` judges everything seen so far, as a replay ends.
public struct PacketPath {
    private var engine: Engine
    private let configuration: ReplayConfiguration
    private let interfaces: [CaptureInterface]

    /// - Parameters:
    ///   - policy: what to judge against (its protocol table classifies).
    ///   - interfaces: the interfaces `Frame.interface` numbers, as a pcapng file's would.
    ///   - maxFlows: the bound on live flows.
    public init(policy: Policy, interfaces: [CaptureInterface], maxFlows: Int = ReplayConfiguration.defaultMaxFlows) {
        engine = Engine(table: policy.protocolTable, maxFlows: maxFlows)
        configuration = ReplayConfiguration(policy: policy, inputs: [ReplayInput(path: "packet path")])
        self.interfaces = interfaces
    }

    /// Accounts one frame. Allocation-free once its place and flow are known.
    /// - Returns: the serial of the flow it joined, if any.
    @inline(__always)
    public mutating func ingest(_ frame: Frame) -> Int? {
        guard let slot = engine.ingest(frame, source: 0).flow else { return nil }
        return engine.tracker.flows[slot].serial
    }

    /// Flows live now.
    public var liveFlows: Int { engine.tracker.liveFlows }

    /// Judges every frame ingested so far.
    public func check() -> CheckResult {
        var engine = engine
        engine.finishSource(path: "packet path", frames: 0, end: .endOfFile, warnings: [], interfaces: interfaces)
        let checker = Checker(policy: configuration.policy)
        return checker.check(engine.resolve(names: configuration.sourceNames, checker: checker).observation)
    }
}
