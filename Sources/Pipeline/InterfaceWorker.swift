import Capture
import Check
import Decode
import Flows
import Frames
import Policy
import Synchronization

/// One watched interface: its live capture, read on its own thread into its own `Engine`
/// (flows are keyed by place, and a place includes the source, so two interfaces never
/// share a flow and the hot path takes no lock), writing evidence as it goes.
///
/// Concurrency: `run()` and everything it touches are confined to the worker's thread until
/// it returns; the session reads the results only after joining the thread. Other threads
/// read the `published` counters and call `capture.breakLoop()`.
final class InterfaceWorker: @unchecked Sendable {
    /// The interface the policy names: its frames are judged and reported as this one's.
    let name: String
    /// The device captured: `name`, or a member of the switch port `name` (an Open vSwitch bond).
    let device: String
    let capture: LiveCapture?
    /// Why the interface could not be opened, when it could not.
    let openError: LiveCaptureError?
    let published = PublishedCounters()
    /// The continuous watch's handshake for closing windows (see `ContinuousWatch`); set
    /// before the thread starts, nil for a single-window watch.
    var windows: WindowControl?

    private(set) var reader: LiveReader
    private(set) var outcome = LiveCaptureOutcome()
    private(set) var statistics = LiveCaptureStatistics()
    private(set) var start: Timestamp?
    private(set) var end: Timestamp?

    var engine: Engine { reader.engine }
    var evidenceWritten: Int { reader.recorder?.written ?? 0 }
    var evidenceError: String? { reader.evidenceError }
    var timeline: Timeline? { reader.timeline }

    /// Counters another thread may read while the worker runs (the status line).
    final class PublishedCounters: Sendable {
        let packets = Atomic<Int>(0)
        let storagePackets = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let finished = Atomic<Bool>(false)
    }

    let sourceIndex: Int

    init(
        name: String, device: String? = nil, sourceIndex: Int, capture: LiveCapture?, openError: LiveCaptureError?,
        policy: Policy, evidence: EvidenceSink?, timeline: Bool = false, maxFlows: Int = FlowTracker.defaultMaxFlows
    ) {
        self.name = name
        self.device = device ?? name
        self.sourceIndex = sourceIndex
        self.capture = capture
        self.openError = openError
        reader = LiveReader(
            name: name, sourceIndex: sourceIndex, policy: policy, evidence: evidence, timeline: timeline, maxFlows: maxFlows)
        if capture == nil {
            reader.finishSource(frames: 0, linkType: .ethernet, snapLength: 0)
        }
    }

    /// Reads until the capture is stopped or the interface is lost. Call once, on the
    /// worker's own thread.
    func run() {
        defer { published.finished.store(true, ordering: .releasing) }
        guard let capture else { return }
        start = LiveCapture.wallClock()
        // The hot path works on locals, so that it needs no dynamic exclusivity checks.
        var reader = self.reader
        var statistics = LiveCaptureStatistics()
        let published = self.published
        let windows = self.windows
        let sourceIndex = self.sourceIndex
        var served = 0
        outcome = capture.run(
            onPacket: { frame in reader.ingest(frame) },
            onTick: {
                statistics = capture.statistics()
                reader.publish(statistics, to: published)
                // Between two packets: the window closes here, so every packet is in exactly one.
                if let windows, let request = windows.pending(after: served) {
                    windows.deliver(reader.cut(request, statistics: statistics), for: sourceIndex)
                    served = request.generation
                }
            })
        end = LiveCapture.wallClock()
        statistics = capture.statistics()
        reader.publish(statistics, to: published)
        reader.finishSource(frames: outcome.frames, linkType: capture.linkType, snapLength: capture.options.snapLength)
        self.statistics = statistics
        self.reader = reader
    }

    /// Prepares a continuous watch before the thread starts: where evidence goes and who
    /// hears of violations.
    func prepareWindows(_ control: WindowControl, evidence: EvidenceSink?, onViolation: (@Sendable (LiveViolation) -> Void)?) {
        windows = control
        reader.replaceEvidence(evidence)
        reader.onViolation = onViolation
    }

    /// The reader as it ended. Only once the thread has finished (or before it started).
    var finalReader: LiveReader { reader }
}

/// The reading side of one watched interface: its engine, and what it knows about which of
/// its flows are evidence.
struct LiveReader {
    let name: String
    let sourceIndex: Int
    private(set) var engine: Engine
    private(set) var recorder: EvidenceRecorder?
    private(set) var evidenceError: String?
    /// Bytes over time per network, when the report draws it. A packet counts as storage when
    /// its flow is storage at that moment, so a flow recognised by content mid-stream has its
    /// first packets drawn as other traffic (a live watch keeps no packets to look back at).
    private(set) var timeline: Timeline?

    private(set) var policy: Policy
    private var checker: Checker
    /// Told of each flow that becomes a violation, once per flow and policy, on this thread.
    var onViolation: (@Sendable (LiveViolation) -> Void)?
    /// The window being read (counts from 0; see `cut`).
    private(set) var window = 0
    /// Bumped when a reload replaces the engine, so that a window knows its counts start from zero.
    private(set) var epoch = 0
    /// Per raw place of `engine`: the policy network it belongs to.
    private var placeNetwork: [Int?] = []
    /// Per flow slot of `engine`: what the flow in it was when last judged (a slot whose flow
    /// was finished is taken by a new flow: `serial` tells them apart).
    private var flowStates: [FlowState] = []
    /// The bound on the engine's live flows.
    let maxFlows: Int
    private(set) var packets = 0
    private var storagePackets = 0

    struct FlowState {
        /// The serial of the flow this state is about (-1: none yet).
        var serial = -1
        var service: Int?
        /// Whether the flow was known only by a port range when last judged.
        var rangeOnly = false
        var isEvidence = false
        /// Whether the flow was reported as a violation (`onViolation`) under this policy.
        var reported = false
        /// The window in which `windowFirst` was set: the flow's first packet in that window.
        var window = -1
        var windowFirst = Timestamp(nanoseconds: 0)
        /// The flow's first packets, kept while it is not yet storage in the management
        /// network, so that the evidence has them should deep classification recognise it.
        var early: [EvidenceRecorder.PacketCopy] = []
        var earlyBytes = 0
        /// Set once the flow has carried more packets than are kept; nothing more is kept.
        var earlyDone = false
    }

    /// Packets kept per unjudged flow, and bytes kept in all (the bound on this memory).
    static let earlyPacketsPerFlow = 16
    static let earlyBytesLimit = 32 << 20
    private var earlyBytes = 0

    init(
        name: String, sourceIndex: Int, policy: Policy, evidence: EvidenceSink?, timeline: Bool = false,
        maxFlows: Int = FlowTracker.defaultMaxFlows
    ) {
        self.name = name
        self.sourceIndex = sourceIndex
        self.policy = policy
        self.checker = Checker(policy: policy)
        self.maxFlows = maxFlows
        self.engine = Self.engine(policy, maxFlows: maxFlows)
        self.recorder = evidence.map(EvidenceRecorder.init(sink:))
        self.timeline = timeline ? Timeline(series: policy.networks.count + 1) : nil
    }

    /// A live engine: bounded to `maxFlows` live flows, finishing the least recently seen.
    /// (Its flows started are not bounded, so it keeps no bit per flow started.)
    private static func engine(_ policy: Policy, maxFlows: Int) -> Engine {
        Engine(table: policy.protocolTable, maxFlows: maxFlows, remembersSummarisedSerials: false)
    }

    mutating func finishSource(frames: Int, linkType: LinkType, snapLength: Int) {
        engine.finishSource(
            path: name, frames: frames, end: .endOfFile, warnings: [],
            interfaces: [CaptureInterface(name: name, linkType: linkType, snapLength: UInt32(clamping: snapLength))])
    }

    func publish(_ statistics: LiveCaptureStatistics, to published: InterfaceWorker.PublishedCounters) {
        published.packets.store(packets, ordering: .relaxed)
        published.storagePackets.store(storagePackets, ordering: .relaxed)
        published.dropped.store(statistics.dropped, ordering: .relaxed)
    }

    mutating func ingest(_ frame: Frame) {
        let (place, flow) = engine.ingest(frame, source: sourceIndex)
        packets += 1
        guard let flow else {
            if timeline != nil { draw(frame, place: place, storage: false) }
            // A fragment whose datagram is not known yet: the recorder holds it.
            if engine.packet.isLaterFragment { offer(frame, flow: nil, isEvidence: false) }
            return
        }
        let wasEvidence =
            flow < flowStates.count && flowStates[flow].isEvidence && flowStates[flow].serial == engine.tracker.flows[flow].serial
        let state = judge(flow, place: place)
        if flowStates[flow].window != window {
            flowStates[flow].window = window
            flowStates[flow].windowFirst = frame.timestamp
        }
        if timeline != nil { draw(frame, place: place, storage: state.service != nil) }
        if state.service != nil { storagePackets += 1 }
        if state.isEvidence {
            if !wasEvidence { flushEarly(flow) }
            offer(frame, flow: flow, isEvidence: true)
        } else if recorder != nil && state.service == nil {
            keepEarly(frame, flow: flow, place: place)
        }
    }

    /// Keeps a copy of a not-yet-storage packet of a management-network flow (bounded per
    /// flow and in all), so the evidence can include the handshake and the first messages of
    /// a flow that deep classification recognises later, as replay's evidence does.
    private mutating func keepEarly(_ frame: Frame, flow: Int, place: UInt32) {
        guard !flowStates[flow].earlyDone else { return }
        guard let network = network(of: place), policy.isManagement(network),
            flowStates[flow].early.count < Self.earlyPacketsPerFlow,
            earlyBytes + frame.bytes.count <= Self.earlyBytesLimit
        else {
            // Past the bound: this flow keeps nothing more, and what it kept is released.
            earlyBytes -= flowStates[flow].earlyBytes
            flowStates[flow].early = []
            flowStates[flow].earlyBytes = 0
            flowStates[flow].earlyDone = true
            return
        }
        flowStates[flow].early.append(EvidenceRecorder.PacketCopy(frame))
        flowStates[flow].earlyBytes += frame.bytes.count
        earlyBytes += frame.bytes.count
    }

    /// Writes what a flow carried before it became evidence, and releases it.
    private mutating func flushEarly(_ flow: Int) {
        let early = flowStates[flow].early
        earlyBytes -= flowStates[flow].earlyBytes
        flowStates[flow].early = []
        flowStates[flow].earlyBytes = 0
        flowStates[flow].earlyDone = true
        guard !early.isEmpty, recorder != nil, evidenceError == nil else { return }
        do {
            try recorder?.writeEarly(early, interface: name)
        } catch {
            evidenceError = error.description
        }
    }

    private mutating func draw(_ frame: Frame, place: UInt32, storage: Bool) {
        let series = network(of: place) ?? policy.networks.count
        timeline?.add(bytes: frame.wireLength, at: frame.timestamp.nanoseconds, series: series, storage: storage)
    }

    private mutating func offer(_ frame: Frame, flow: Int?, isEvidence: Bool) {
        guard recorder != nil, evidenceError == nil else { return }
        do {
            try recorder?.offer(frame, packet: engine.packet, flow: flow, isEvidence: isEvidence, interface: name)
        } catch {
            evidenceError = error.description
        }
    }

    /// Whether `flow` is storage and a violation, so its packets are evidence: storage in the
    /// management network that no `allow` entry covers, as the checker will judge it at the end.
    ///
    /// Judged again whenever the flow's service changes: deep classification can make a
    /// flow storage after its first packets; those earlier packets were kept (bounded, see
    /// `keepEarly`) and are written first. A flow judged a violation for the first time is
    /// told to `onViolation`.
    private mutating func judge(_ flow: Int, place: UInt32) -> (service: Int?, isEvidence: Bool) {
        // Only the service is read per packet; the rest of the flow only when it changes.
        // A flow known only by a port range is no violation (yet): content may confirm it.
        let service = engine.tracker.flows[flow].service
        let rangeOnly = service != nil && engine.tracker.flows[flow].evidence == .portRange
        let serial = engine.tracker.flows[flow].serial
        if flow < flowStates.count, flowStates[flow].serial == serial, flowStates[flow].service == service,
            flowStates[flow].rangeOnly == rangeOnly
        {
            return (service, flowStates[flow].isEvidence)
        }
        while flowStates.count <= flow { flowStates.append(FlowState()) }
        if flowStates[flow].serial != serial {
            // A new flow in a slot whose flow was finished: nothing of the old one applies.
            earlyBytes -= flowStates[flow].earlyBytes
            flowStates[flow] = FlowState()
            flowStates[flow].serial = serial
        }
        var isEvidence = false
        if let service, !rangeOnly, recorder != nil || onViolation != nil, let network = network(of: place),
            policy.isManagement(network)
        {
            let record = engine.tracker.flows[flow]
            let storage = policy.protocolTable.services[service]
            isEvidence = policy.isViolation(
                in: network, protocolName: storage.protocolName, client: record.client.address, server: record.server.address)
            if isEvidence, !flowStates[flow].reported, let onViolation {
                flowStates[flow].reported = true
                let raw = engine.placeList[Int(place)]
                onViolation(
                    LiveViolation(
                        time: record.lastSeen,
                        row: Violation(
                            flow: record, index: flow, interface: name, network: policy.networks[network].name,
                            service: storage, vlan: raw.inner ?? raw.outer)))
            }
        }
        flowStates[flow].service = service
        flowStates[flow].rangeOnly = rangeOnly
        flowStates[flow].isEvidence = isEvidence
        return (service, isEvidence)
    }

    /// Closes the current window (see `ContinuousWatch`): returns what the window's report
    /// needs, then starts the next window, with the request's evidence file and policy if it
    /// brings them. Learned state (flows, their recognition, portmapper mappings, RPC calls)
    /// carries over, unless the new policy's protocol table differs, which needs a new engine;
    /// counts start from zero (the window's report is what the engine counted since the cut).
    mutating func cut(_ request: WindowControl.Request, statistics: LiveCaptureStatistics) -> ReaderSnapshot {
        let snapshot = snapshot(statistics: statistics)
        window += 1
        if request.replacesEvidence { replaceEvidence(request.evidence) }
        if let policy = request.policy { adopt(policy) }
        // The next window counts from zero; what was learned (flows, their recognition,
        // mappings) carries over. The engine's memory stays within `maxFlows` live flows.
        engine.tracker.startCountingAfresh()
        return snapshot
    }

    /// Starts a new engine: what the old one learned is forgotten (flows recognised by
    /// content are recognised again by their next messages), its memory released.
    private mutating func restartEngine() {
        engine = Self.engine(policy, maxFlows: maxFlows)
        epoch += 1
        earlyBytes = 0
        flowStates = []
        placeNetwork = []
    }

    /// Per flow: its first packet in the current window, when it had one.
    func flowWindowFirstSeen() -> [Timestamp?] {
        flowStates.map { $0.window == window ? $0.windowFirst : nil }
    }

    /// Writes the evidence of the windows from now on to `sink` (nil: none).
    mutating func replaceEvidence(_ sink: EvidenceSink?) {
        recorder = sink.map(EvidenceRecorder.init(sink:))
        evidenceError = nil
    }

    /// Judges from now on against `policy`. A flow already storage is judged again (and told
    /// again if it is a violation under the new policy).
    private mutating func adopt(_ new: Policy) {
        let restart = !ContinuousWatch.sameProtocolTable(new.protocolTable, policy.protocolTable)
        policy = new
        if restart { restartEngine() }
        checker = Checker(policy: new)
        placeNetwork = []
        for flow in flowStates.indices where flowStates[flow].service != nil {
            // A service index no flow has: the next packet judges the flow again.
            flowStates[flow].service = -1
            flowStates[flow].reported = false
        }
    }

    /// The policy network of raw place `place`, as the checker will say at the end.
    private mutating func network(of place: UInt32) -> Int? {
        while placeNetwork.count < engine.placeList.count {
            let raw = engine.placeList[placeNetwork.count]
            placeNetwork.append(checker.network(interface: name, outerVLAN: raw.outer, innerVLAN: raw.inner))
        }
        return placeNetwork[Int(place)]
    }
}

extension InterfaceWorker {
    /// This interface's part of a report: a whole watch's (its capture's counts and span) or
    /// a window's (the window's counts and span; the capture's problems only once it `ended`).
    /// An interface that could not be opened says so, whatever the span.
    func report(
        frames: Int, statistics: LiveCaptureStatistics, start: Timestamp?, end: Timestamp?, ended: Bool = true
    ) -> LiveInterfaceReport {
        var report = LiveInterfaceReport(
            name: name, device: device, opened: capture != nil, filter: capture?.filterExpression, frames: frames,
            statistics: statistics, start: start, end: end, problems: [], warning: capture?.warning)
        report.problems = openError.map { ["\(report.label) could not be opened, so nothing on it was checked: \($0.detail)"] }
            ?? (ended ? outcome.problems : [])
        return report
    }
}
