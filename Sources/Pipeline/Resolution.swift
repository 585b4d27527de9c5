import Check
import Flows
import Frames
import Policy

/// What names the interfaces of a run's sources: each source (a capture file, or a live
/// interface) with the interface name it was given, `--ifindex` names for SLL2 indexes, and
/// `--erspan` names for the interfaces ERSPAN sessions mirror.
public struct SourceNames: Sendable {
    public var inputs: [ReplayInput]
    public var ifindexNames: [Int32: String]
    public var erspanNames: [UInt16: String]

    public init(inputs: [ReplayInput], ifindexNames: [Int32: String] = [:], erspanNames: [UInt16: String] = [:]) {
        self.inputs = inputs
        self.ifindexNames = ifindexNames
        self.erspanNames = erspanNames
    }

    /// A live watch's: each source is the interface of that name.
    public static func live(_ interfaces: [String]) -> SourceNames {
        SourceNames(inputs: interfaces.map { ReplayInput(path: $0, interfaceName: $0) })
    }
}

/// Resolution: from what engines counted per raw place (a source, an SLL2 index, VLAN tags)
/// to an observation per interface and VLANs, with flows merged across places that turn out
/// to be the same.
extension Engine {
    struct Resolved {
        var observation: Observation
        /// Raw flow index (a flow's serial; engine 0's first, then engine 1's, ...) -> index
        /// in `observation.flows`.
        var rawFlowOwner: RawFlowOwners
        /// Raw flows counted in `observation.summarised` as storage (flows finished beyond the bound).
        var summarisedStorage: SerialSet
        /// Raw place index -> index in `observation.interfaces`.
        var interfaceOfPlace: [Int]
        /// Raw place index -> index in `observation.segments`.
        var segmentOfPlace: [Int]
    }

    /// Names every raw place's interface, merges places that turn out to be the same
    /// interface and VLANs (the same interface in two files), and merges their flows.
    ///
    /// The engine's flow records move into the observation (at the end of a long replay they
    /// are the largest thing held, and a copy would double them): afterwards the engine keeps
    /// its places and counts but no flows.
    mutating func resolve(names: SourceNames, checker: Checker) -> Resolved {
        var engines = [self]
        // Hold the records in one place only, so that they can move rather than be copied.
        tracker = FlowTracker(
            table: tracker.table, maxFlows: tracker.maxFlows, remembersSummarisedSerials: tracker.remembersSummarisedSerials)
        defer { self = engines[0] }
        return Self.resolve(&engines, names: names, checker: checker, movingRecords: true)
    }

    /// Resolves engines that read side by side (one per live interface, each on its own
    /// thread) as one. The engines' sources, in engine order, are `names.inputs`;
    /// raw place and flow indices in the result count engine by engine (engine 0's first).
    ///
    /// With `movingRecords`, a lone engine whose flows need no merging (its places name
    /// distinct segments, and no flow was ever finished, so no key recurs) hands its records
    /// over whole instead of copying them one by one through a dictionary.
    static func resolve(
        _ engines: inout [Engine], names: SourceNames, checker: Checker, movingRecords: Bool = false
    ) -> Resolved {
        guard let table = engines.first?.tracker.table else {
            return Resolved(observation: Observation(protocolTable: ProtocolTable(services: [])), rawFlowOwner: RawFlowOwners(), summarisedStorage: SerialSet(), interfaceOfPlace: [], segmentOfPlace: [])
        }
        var observation = Observation(protocolTable: table)
        observation.sources = engines.flatMap(\.sources)
        let sourceInterfaces = engines.flatMap(\.sourceInterfaces)
        var interfaceIndex: [ObservedInterface: Int] = [:]
        var segmentIndex: [Segment: Int] = [:]
        var segmentOfPlace: [Int] = []
        var interfaceOfPlace: [Int] = []
        for place in engines.flatMap(\.placeList) {
            let (interface, outerVLAN, innerVLAN) = Self.attribution(
                of: place, names: names, sourceInterfaces: sourceInterfaces)
            let interfaceSlot: Int
            if let known = interfaceIndex[interface] {
                interfaceSlot = known
            } else {
                interfaceSlot = observation.interfaces.count
                interfaceIndex[interface] = interfaceSlot
                observation.interfaces.append(interface)
            }
            let segment = Segment(
                interface: interfaceSlot, outerVLAN: outerVLAN, innerVLAN: innerVLAN,
                network: checker.network(interface: interface.name, outerVLAN: outerVLAN, innerVLAN: innerVLAN))
            if let known = segmentIndex[segment] {
                segmentOfPlace.append(known)
            } else {
                segmentIndex[segment] = observation.segments.count
                segmentOfPlace.append(observation.segments.count)
                observation.segments.append(segment)
                observation.counters.append(SegmentCounters())
            }
            interfaceOfPlace.append(interfaceSlot)
        }
        var merged: FlowMerge?
        var rawFlowOwner = RawFlowOwners()
        var summarisedStorage = SerialSet()
        var placeBase = 0
        var serialBase = 0
        for index in engines.indices {
            engines[index].tracker.finish()
            let places = segmentOfPlace[placeBase..<(placeBase + engines[index].placeList.count)]
            if movingRecords && engines.count == 1 && engines[index].tracker.neverFinished
                && Set(places).count == places.count
            {
                observation.flows = engines[index].tracker.takeFlows()
                for slot in observation.flows.indices {
                    observation.flows[slot].key.segment = UInt32(places[placeBase + Int(observation.flows[slot].key.segment)])
                }
                rawFlowOwner = RawFlowOwners(identity: observation.flows.count)
            } else if merged == nil {
                merged = FlowMerge(expected: engines.reduce(0) { $0 + $1.tracker.liveFlows + $1.tracker.finished.count })
            }
            let engine = engines[index]
            for (place, counter) in engine.counters.enumerated() {
                observation.counters[segmentOfPlace[placeBase + place]].add(counter)
            }
            /// A record's key on the segment its place is judged on.
            func mergedKey(_ key: FlowKey) -> FlowKey {
                FlowKey(
                    segment: UInt32(segmentOfPlace[placeBase + Int(key.segment)]), ipProtocol: key.ipProtocol, key.lower,
                    key.upper)
            }
            engine.tracker.forEachRecordedFlow(ahead: { merged?.prefetch(mergedKey($0.key)) }) { recorded in
                var flow = recorded
                flow.key = mergedKey(flow.key)
                rawFlowOwner[serialBase + flow.serial] = merged?.add(flow) ?? -1
            }
            for (key, tally) in engine.tracker.summarised {
                let segment = UInt32(segmentOfPlace[placeBase + Int(key.segment)])
                observation.summarised[FlowSummaryKey(segment: segment, service: key.service, rangeOnly: key.rangeOnly), default: FlowTally()]
                    .merge(tally)
            }
            summarisedStorage.formUnion(engine.tracker.summarisedStorage, offset: serialBase)
            serialBase += engine.tracker.flowsStarted
            for (place, tally) in engine.tracker.orphanFragments {
                let segment = UInt32(segmentOfPlace[placeBase + Int(place)])
                observation.orphanFragments[segment, default: FragmentTally()].merge(tally)
            }
            placeBase += engine.placeList.count
            // This engine's records are in the merge: it need not hold them too.
            if movingRecords { engines[index].tracker.dropRecords() }
        }
        if var merged { observation.flows = merged.take() }
        return Resolved(
            observation: observation, rawFlowOwner: rawFlowOwner, summarisedStorage: summarisedStorage,
            interfaceOfPlace: interfaceOfPlace,
            segmentOfPlace: segmentOfPlace)
    }

    /// Where a raw place's frames are judged: a copy mirrored by an ERSPAN session that
    /// `--erspan` names is on that interface, with the VLAN it was mirrored from (the ERSPAN
    /// header's, else the mirrored frame's own tag); everything else, unnamed sessions
    /// included, is where the capture saw it, with the tags it had there.
    static func attribution(
        of place: RawPlace, names: SourceNames, sourceInterfaces: [[CaptureInterface]]
    ) -> (interface: ObservedInterface, outerVLAN: UInt16?, innerVLAN: UInt16?) {
        if let session = place.session, let name = names.erspanNames[session] {
            return (ObservedInterface(name: name, label: name), place.mirrored, nil)
        }
        return (interface(of: place, names: names, sourceInterfaces: sourceInterfaces), place.outer, place.inner)
    }

    /// The interface a raw place is on: the SLL2 index through `--ifindex`, else the name
    /// given with INTERFACE=PATH, else the capture's own interface name; `any` and missing
    /// names are unattributed.
    static func interface(
        of place: RawPlace, names: SourceNames, sourceInterfaces: [[CaptureInterface]]
    ) -> ObservedInterface {
        let input = names.inputs[place.source]
        let file = input.path
        if place.ifindex != Int32.min {
            if let name = names.ifindexNames[place.ifindex] {
                return ObservedInterface(name: name, label: name)
            }
            // An SLL2 capture of one interface, named on the command line.
            if let name = input.interfaceName {
                return ObservedInterface(name: name, label: name)
            }
            return ObservedInterface(
                name: nil, label: "ifindex \(place.ifindex) in \(file)", hint: "--ifindex \(place.ifindex)=NAME")
        }
        if let name = input.interfaceName {
            return ObservedInterface(name: name, label: name)
        }
        let interfaces = sourceInterfaces[place.source]
        if place.interface >= 0 && place.interface < interfaces.count {
            if let name = interfaces[place.interface].name, !name.isEmpty, name != "any" {
                return ObservedInterface(name: name, label: name)
            }
            if interfaces.count > 1 || interfaces[place.interface].name == "any" {
                let why = interfaces[place.interface].name == "any" ? "captured on 'any'" : "no if_name"
                return ObservedInterface(name: nil, label: "interface #\(place.interface) of \(file) (\(why))")
            }
        }
        return ObservedInterface(
            name: nil, label: "\(file) (no interface recorded)", hint: "INTERFACE=\(file) on the command line")
    }
}

/// Raw flow index -> index in `Observation.flows`, for every flow recorded with its details.
/// Sparse: flows finished and summarised to bound memory have no entry (they are not
/// storage, or are counted in `Observation.summarised`), so its size follows the flows kept,
/// not every flow a long capture ever started.
struct RawFlowOwners {
    /// Raw flows `0..<identity` own themselves (a lone engine's flows, moved whole).
    private var identity = 0
    /// The other raw flows and their owners, in increasing raw order (they are assigned in
    /// serial order): 16 bytes a flow where a dictionary takes about three times that.
    private var raws: [Int] = []
    private var owners: [Int] = []

    init() {}

    /// Raw flows `0..<count`, each its own owner.
    init(identity count: Int) { identity = count }

    /// The owner of raw flow `raw`, or -1 when it was summarised. Raw flows are assigned in
    /// increasing order.
    subscript(raw: Int) -> Int {
        get {
            if raw >= 0 && raw < identity { return raw }
            var low = 0
            var high = raws.count
            while low < high {
                let middle = (low + high) / 2
                if raws[middle] < raw { low = middle + 1 } else { high = middle }
            }
            return low < raws.count && raws[low] == raw ? owners[low] : -1
        }
        set {
            assert(raws.last.map { $0 < raw } ?? true, "raw flows are assigned in increasing order")
            raws.append(raw)
            owners.append(newValue)
        }
    }

    /// The raw flows whose owner is in `wanted`.
    func rawFlows(ownedByAnyOf wanted: Set<Int>) -> Set<Int> {
        var found = Set((0..<identity).filter { wanted.contains($0) })
        for (raw, owner) in zip(raws, owners) where wanted.contains(owner) { found.insert(raw) }
        return found
    }
}
