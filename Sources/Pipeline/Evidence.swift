import Capture
import Check
import Decode
import Flows
import Frames
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes the evidence file: every packet of every violating flow, in a pcapng file with one
/// named interface block per interface the packets were seen on (so Wireshark's
/// `frame.interface_name` shows where each was seen).
///
/// For a replay it is a `SecondPass` over the captures: a packet is written when its flow is
/// one of `rawFlows`. A live watch has no second pass: each reading thread offers its packets to
/// its own `EvidenceRecorder` as they come (see `InterfaceWorker`), all writing to one
/// `EvidenceSink`.
enum Evidence {
    struct Failure: Error, CustomStringConvertible {
        var description: String

        init(description: String) {
            self.description = description
        }

        init(_ error: OutputWriteError) {
            isRefusal = error.errno == EEXIST
            if isRefusal {
                description = "\(error.path): \(error.detail)"
            } else if error.path.hasSuffix(OutputFile.partialSuffix) && ["write", "close"].contains(error.operation) {
                // A write that failed: FILE.partial stays (creating or handing it over failed:
                // it does not).
                description = "cannot write the evidence file \(error.path): \(error.detail); it keeps every "
                    + "whole packet written before that and is left under that name"
            } else {
                description = "cannot \(error.operation) the evidence file \(error.path): \(error.detail)"
            }
        }

        /// The file already exists (and --force was not given).
        var isRefusal = false
    }

    /// - Returns: the number of packets written.
    static func write(
        to path: String, replace: Bool = false, inputs: [ReplayInput], places: [RawPlace: UInt32],
        table: ProtocolTable, isEvidence: (_ flow: Int, _ place: UInt32) -> Bool, interfaceOfPlace: [Int], interfaces: [ObservedInterface],
        maxFlows: Int = FlowTracker.defaultMaxFlows
    ) throws(Failure) -> Int {
        let sink: EvidenceSink
        do {
            sink = try EvidenceSink(path: path, replace: replace)
        } catch {
            throw Failure(error)
        }
        var recorder = EvidenceRecorder(sink: sink)
        var failure: Failure?
        do {
            try SecondPass.walk(inputs: inputs, places: places, table: table, maxFlows: maxFlows) { frame, packet, place, flow in
                let observed = interfaces[interfaceOfPlace[Int(place)]]
                do throws(Evidence.Failure) {
                    try recorder.offer(
                        frame, packet: packet, flow: flow, isEvidence: flow.map { isEvidence($0, place) } ?? false,
                        interface: observed.name ?? observed.label)
                } catch {
                    failure = error
                }
                return failure == nil
            }
        } catch {
            sink.abandon()
            throw Failure(description: "cannot write the evidence file \(path): \(error)")
        }
        if let failure {
            sink.abandon()
            throw failure
        }
        do {
            try sink.close()
        } catch {
            throw Failure(error)
        }
        return recorder.written
    }
}

/// The evidence file, shared by the threads that write to it: every use of `writer` is
/// under `lock`.
///
/// It is written as `FILE.partial` (whole blocks only, flushed often by a watch, so that a
/// killed process leaves a file Wireshark and lanekeeper read up to its last packet) and
/// renamed to `FILE` when closed with everything written. When a write fails (a full disk)
/// `FILE.partial` is kept with every whole block that reached it, and the error says so.
final class EvidenceSink: @unchecked Sendable {
    let path: String
    private let writer: PcapngWriter
    private let lock = Mutex(())

    /// Creates `FILE.partial` through `files`, so that an unwritable path, or an existing
    /// `FILE` or `FILE.partial` without `replace`, fails before any capture.
    init(path: String, replace: Bool = false, files: any OutputFiles = LocalFiles()) throws(OutputWriteError) {
        self.path = path
        writer = try PcapngWriter(file: files.create(path: path, replace: replace, staging: .partial))
    }

    /// Closes without renaming, keeping `FILE.partial` with what was written.
    func abandon() {
        lock.withLock { _ in writer.abandon(keep: true) }
    }

    /// Closes and removes `FILE.partial` (a watch that never started, or failed before its
    /// end, has no evidence), when this run created it.
    func discard() {
        lock.withLock { _ in writer.abandon(keep: false) }
    }

    /// Writes one frame seen on the interface called `interface`.
    func write(
        _ bytes: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, linkType: LinkType, interface: String
    ) throws(OutputWriteError) {
        try lock.withLock { (_) throws(OutputWriteError) in
            let id = try writer.interfaceID(name: interface, linkType: linkType)
            try writer.write(frameBytes: bytes, wireLength: wireLength, timestamp: timestamp, interface: id)
        }
    }

    /// Puts everything written so far into the file (a watch does so periodically, so that
    /// even a killed watch leaves the evidence it had).
    func flush() throws(OutputWriteError) {
        try lock.withLock { (_) throws(OutputWriteError) in try writer.flush() }
    }

    /// Flushes, fsyncs and renames `FILE.partial` to `FILE`; on failure `FILE.partial` stays.
    func close() throws(OutputWriteError) {
        try lock.withLock { (_) throws(OutputWriteError) in try writer.close() }
    }
}

/// Offers one reading pass's packets to the evidence file: writes a packet of an evidence
/// flow, and holds (bounded) non-first IP fragments that arrive before their first
/// fragment, until the first fragment says which flow they belong to.
struct EvidenceRecorder {
    /// Fragments held while waiting for their first fragment, at most.
    static let maxHeldFragments = 4096

    /// A copy of a packet kept until it can be judged: a fragment waiting for its first
    /// fragment, or (live) an early packet of a flow not yet recognised.
    struct PacketCopy {
        var bytes: [UInt8]
        var wireLength: Int
        var timestamp: Timestamp
        var linkType: LinkType

        init(_ frame: Frame) {
            bytes = Array(frame.bytes)
            wireLength = frame.wireLength
            timestamp = frame.timestamp
            linkType = frame.linkType
        }
    }

    struct HeldFragment {
        var source: IPAddress
        var destination: IPAddress
        var identification: UInt32
        var ipProtocol: UInt8
        var interface: String
        var copy: PacketCopy
    }

    let sink: EvidenceSink
    private var held: [HeldFragment] = []
    /// Packets written.
    private(set) var written = 0

    /// Writes packets a flow carried before it became evidence, in the order they came.
    mutating func writeEarly(_ packets: [PacketCopy], interface: String) throws(Evidence.Failure) {
        do throws(OutputWriteError) {
            for packet in packets { try write(packet, interface: interface) }
        } catch {
            throw Evidence.Failure(error)
        }
    }

    private mutating func write(_ copy: PacketCopy, interface: String) throws(OutputWriteError) {
        var failure: OutputWriteError?
        copy.bytes.withUnsafeBytes { bytes in
            do throws(OutputWriteError) {
                try sink.write(
                    bytes, wireLength: copy.wireLength, timestamp: copy.timestamp, linkType: copy.linkType,
                    interface: interface)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        written += 1
    }

    init(sink: EvidenceSink) {
        self.sink = sink
    }

    /// - Parameters:
    ///   - frame: the packet as read.
    ///   - packet: its decode.
    ///   - flow: the flow it joined, if any (nil: held when it is a non-first fragment).
    ///   - isEvidence: whether `flow` is one whose packets are evidence.
    ///   - interface: the name the evidence file gives the packet's interface.
    mutating func offer(
        _ frame: Frame, packet: DecodedPacket, flow: Int?, isEvidence: Bool, interface: String
    ) throws(Evidence.Failure) {
        do throws(OutputWriteError) {
            guard flow != nil else {
                if packet.isLaterFragment {
                    if held.count >= Self.maxHeldFragments { held.removeFirst(held.count / 2) }
                    held.append(
                        HeldFragment(
                            source: packet.source, destination: packet.destination, identification: packet.fragmentID,
                            ipProtocol: packet.ipProtocol, interface: interface, copy: PacketCopy(frame)))
                }
                return
            }
            guard isEvidence else { return }
            try sink.write(
                frame.bytes, wireLength: frame.wireLength, timestamp: frame.timestamp, linkType: frame.linkType,
                interface: interface)
            written += 1
            guard packet.isFragment && !packet.isLaterFragment && !held.isEmpty else { return }
            // Fragments of this datagram that came before its first fragment.
            var kept: [HeldFragment] = []
            for fragment in held {
                guard
                    fragment.source == packet.source && fragment.destination == packet.destination
                        && fragment.identification == packet.fragmentID && fragment.ipProtocol == packet.ipProtocol
                        && fragment.interface == interface
                else {
                    kept.append(fragment)
                    continue
                }
                try write(fragment.copy, interface: interface)
            }
            held = kept
        } catch {
            throw Evidence.Failure(error)
        }
    }
}
