import CShims
import Capture
import Decode
import Foundation
import Frames
import Synchronization

/// Replay's reading pass in batches. On two cores a reading thread opens the captures in
/// order, reads and decodes their frames and hands them over in batches; the calling thread
/// places, counts and classifies them (`Engine.account`) in exactly the order a sequential
/// read would. On one core the calling thread fills a batch and then accounts it, in turn,
/// which still lets it work ahead of the frame it accounts (`account`). Every stateful step
/// (places, flows, what one file teaches about another: RPC calls and replies, portmapper
/// mappings) stays on the one calling thread in file order, so the result is the sequential
/// result by construction; only the stateless work (`read(2)`, parsing records,
/// `PacketDecoder`) moves to the other core.
///
/// Memory is bounded: one batch on one thread, at most `batchCount` handed over on two, each
/// of a fixed `Shape`, reused (no allocation per packet).
enum ReadAhead {
    /// A batch's room: frames at most, and bytes of frame data.
    struct Shape: Sendable {
        let frames: Int
        let slabBytes: Int
    }

    /// On one thread: a decode and its frame's facts are about 250 bytes, 512 of them about
    /// 125 KiB, so that the batch filled and then accounted stays in the core's cache. No
    /// slab: the frames stay in the reader's buffer (`readOnOneThread`).
    static let oneThread = Shape(frames: 512, slabBytes: 0)
    /// Handed from one thread to the other: eight times the frames, so that the threads meet
    /// (and wait for each other) eight times less often. Against 512 frames in 256 KiB, eight
    /// batches in the ring, on the 20M small-frame file: 1.06-1.22 s wall and 1.8-2.1 s CPU
    /// against 1.13-1.47 s and 2.1-2.5 s; 2048 frames in 1 MiB, six batches, came between; 256
    /// frames in 64 KiB, four batches, was worse (docs/performance.md, 2026-12-04 evening).
    static let handedOver = Shape(frames: 4096, slabBytes: 1024 * 1024)
    /// Batches in flight (filled or being filled) at most, on two threads.
    static let batchCount = 4

    /// False when the environment sets `LANEKEEPER_READ_AHEAD=0` (frame by frame, as
    /// `Engine.read`: the reference the read-ahead is tested against).
    static let enabledByEnvironment = ProcessInfo.processInfo.environment["LANEKEEPER_READ_AHEAD"] != "0"

    /// Whether this process may run on two processors or more: its CPU affinity (what
    /// `taskset` and cgroup cpusets set), which `activeProcessorCount` does not look at.
    static let hasTwoProcessors: Bool = {
        let allowed = Int(lk_allowed_processors())
        return (allowed > 0 ? allowed : ProcessInfo.processInfo.activeProcessorCount) >= 2
    }()

    /// Reads every input into `engine` as `Engine.read` would, one after the other: on a
    /// second thread when there are two processors (`threads`), else in batches on this one.
    /// - Throws: the `ReplayError` of the first capture that cannot be opened, after every
    ///   capture before it has been read (as the sequential read does).
    static func read(_ inputs: [ReplayInput], into engine: inout Engine, threads: Bool) throws(ReplayError) {
        guard threads else { return try readOnOneThread(inputs, into: &engine) }
        guard !inputs.isEmpty else { return }
        let channel = Channel()
        let reader = Thread { produce(inputs, into: channel) }
        reader.start()
        var finished = 0
        while finished < inputs.count {
            let batch = channel.takeFilled()
            account(batch, source: finished, into: &engine)
            let ending = batch.ending
            channel.giveBack(batch)
            switch ending {
            case nil:
                continue
            case .opened(let error):
                throw error
            case .read(let outcome, let interfaces):
                engine.finishSource(inputs[finished], outcome: outcome, interfaces: interfaces)
                finished += 1
            }
        }
    }

    /// `read` on one processor: the same batches, filled and then accounted in turn on the
    /// calling thread, so that the replay still works ahead of the frame it accounts
    /// (`account`), which reading frame by frame (`Engine.read`) cannot. The frames are not
    /// copied: a batch is the records `FrameSource.read(into:)` lays out, pointing where the
    /// reader read them, and is accounted before the next read. Their decodes are left to
    /// `account`, which makes each just before use.
    private static func readOnOneThread(_ inputs: [ReplayInput], into engine: inout Engine) throws(ReplayError) {
        let batch = Batch(ReadAhead.oneThread)
        for (index, input) in inputs.enumerated() {
            var source = try Engine.open(input)
            while true {
                batch.count = source.read(into: batch.frames)
                if batch.count == 0 { break }
                batch.decoded = false
                account(batch, source: index, into: &engine)
            }
            engine.finishSource(input, outcome: source.endOfRecords(), interfaces: source.interfaces)
        }
    }

    /// Places, counts and classifies a batch's frames, in order, as source `source`.
    ///
    /// Works ahead of the frame it accounts: `lead` frames ahead it starts loading the flow
    /// record that frame will join, `2 * lead` ahead the index bucket that names it (and
    /// decodes that frame first, when the reading thread left the decoding to this one).
    /// With tens of thousands of flows the bucket and the record are two cache misses, one
    /// after the other, that cost more than the rest of a small frame's work; started early,
    /// they overlap with the frames in between.
    private static func account(_ batch: Batch, source: Int, into engine: inout Engine) {
        guard let items = UnsafePointer(batch.frames.baseAddress), let packets = batch.packets.baseAddress
        else { return }
        let count = batch.count
        let decodedAhead = batch.decoded
        let hashes = batch.hashes
        let continues = batch.continues
        let places = batch.places
        // What the previous frame of the batch joined (no flow before the first).
        var previous: (place: UInt32, flow: Int?) = (0, nil)
        let decoder = engine.decoder
        /// Decodes frame `ahead` if need be, notes whether it continues the flow of the frame
        /// before it and, if not, starts loading its index bucket.
        @inline(__always)
        func prepare(_ ahead: Int) {
            if !decodedAhead {
                let item = items + ahead
                decoder.decode(
                    UnsafeRawBufferPointer(start: item.pointee.bytes, count: item.pointee.length),
                    linkType: item.pointee.linkType, initializing: packets + ahead)
            }
            // A frame that continues the previous frame's flow finds it without the index.
            let follows =
                ahead > 0
                && Engine.continues(
                    packets + ahead, interface: items[ahead].interface, previous: packets + (ahead - 1),
                    previousInterface: items[ahead - 1].interface)
            continues[ahead] = follows
            // Its place is the one it will be counted at, if known (else it starts a place,
            // and so a flow: nothing to load).
            hashes[ahead] = 0
            places[ahead] = Batch.unknownPlace
            if !follows,
                let place = engine.knownPlace(source: source, interface: items[ahead].interface, packet: packets + ahead)
            {
                places[ahead] = place
                hashes[ahead] = engine.tracker.prefetchIndex(packets + ahead, segment: place)
            }
        }
        for ahead in 0..<min(2 * lead, count) { prepare(ahead) }
        for ahead in 0..<min(lead, count) where hashes[ahead] != 0 { engine.tracker.prefetchFlow(hash: hashes[ahead]) }
        for index in 0..<count {
            if index &+ 2 &* lead < count { prepare(index &+ 2 &* lead) }
            if index &+ lead < count && hashes[index &+ lead] != 0 {
                engine.tracker.prefetchFlow(hash: hashes[index &+ lead])
            }
            let item = items + index
            let frame = item.pointee.frame
            // Through the pointer: the decode is lent to the engine where it lies, not copied.
            if continues[index], let flow = previous.flow {
                previous = engine.account(frame, decoded: packets + index, continuing: (previous.place, flow))
            } else if places[index] != Batch.unknownPlace {
                previous = engine.account(frame, decoded: packets + index, at: places[index])
            } else {
                previous = engine.account(frame, decoded: packets + index, source: source)
            }
        }
    }

    /// Frames between starting to load a flow's record and accounting its frame (and as
    /// many again before that, its index bucket): enough for a miss to memory to finish
    /// behind the work of the frames in between.
    static let lead = 8

    /// The reading thread: every input in order, every frame copied and decoded into a
    /// batch. The reader lays out `recordsAtOnce` records at a time where it read them
    /// (`FrameSource.read(into:)`), which are copied into batches before it reads on.
    private static func produce(_ inputs: [ReplayInput], into channel: Channel) {
        let decoder = PacketDecoder()
        let records = UnsafeMutableBufferPointer<FrameRecord>.allocate(capacity: recordsAtOnce)
        defer { records.deallocate() }
        for input in inputs {
            var filling = Filling(channel.takeEmpty(), decoding: channel.replayIsBehind)
            var source: any FrameSource
            do throws(ReplayError) {
                source = try Engine.open(input)
            } catch {
                channel.fill(filling.finish(ending: .opened(error)))
                return
            }
            while true {
                let count = source.read(into: records)
                if count == 0 { break }
                for index in 0..<count {
                    let record = records.baseAddress.unsafelyUnwrapped + index  // index < count <= capacity
                    if !filling.hasRoom(for: record.pointee.length) {
                        channel.fill(filling.finish(ending: nil))
                        filling = Filling(channel.takeEmpty(), decoding: channel.replayIsBehind)
                    }
                    filling.append(record, decoder: decoder)
                }
            }
            channel.fill(filling.finish(ending: .read(source.endOfRecords(), interfaces: source.interfaces)))
        }
    }

    /// Records the reading thread asks its reader for at a time.
    static let recordsAtOnce = 512

    /// The reading thread's hold on the batch it fills: the batch's memory and counts as
    /// plain values, so that appending a frame reads no class property (each such read is
    /// a runtime exclusivity check) and retains nothing. The channel keeps the batch alive.
    struct Filling {
        unowned(unsafe) let batch: Batch
        let frames: UnsafeMutablePointer<Item>
        let packets: UnsafeMutablePointer<DecodedPacket>
        let slab: UnsafeMutableRawPointer
        /// The batch's room (its `Shape`).
        let capacity: Int
        let slabBytes: Int
        /// Whether this thread decodes the batch's frames (else the replay thread does).
        let decoding: Bool
        var count = 0
        var used = 0

        init(_ batch: Batch, decoding: Bool) {
            self.batch = batch
            self.decoding = decoding
            // Both allocated with the batch, never empty.
            frames = batch.frames.baseAddress!
            packets = batch.packets.baseAddress!
            slab = batch.slab.baseAddress!
            capacity = batch.frames.count
            slabBytes = batch.slab.count
        }

        /// Whether a frame of `length` bytes fits. A frame bigger than a slab (a pcapng
        /// block may hold up to 256 MiB) fits only an empty batch, which it then has to
        /// itself (in `Batch.oversized`).
        @inline(__always)
        func hasRoom(for length: Int) -> Bool {
            count < capacity && used <= slabBytes
                && (slabBytes - used >= length || count == 0)
        }

        /// Copies and decodes the frame `record` describes; the caller has checked there is
        /// room.
        @inline(__always)
        mutating func append(_ record: UnsafePointer<FrameRecord>, decoder: PacketDecoder) {
            let length = record.pointee.length
            let copy: UnsafeMutableRawPointer
            if length <= slabBytes &- used {
                copy = slab + used
                used &+= length  // <= slabBytes
            } else {
                copy = holdOversized(length)
            }
            if length > 0 {
                copy.copyMemory(from: record.pointee.bytes, byteCount: length)
            }
            let item = frames + count
            item.initialize(to: record.pointee)
            item.pointee.bytes = UnsafeRawPointer(copy)
            // Decoded in place, in the batch: the decode is never copied.
            if decoding {
                decoder.decode(
                    UnsafeRawBufferPointer(start: copy, count: length), linkType: record.pointee.linkType,
                    initializing: packets + count)
            }
            count &+= 1  // < capacity
        }

        /// Memory for a frame bigger than the rest of the slab, which only an empty batch
        /// takes (`hasRoom`) and which then holds nothing else.
        @inline(never)
        mutating func holdOversized(_ length: Int) -> UnsafeMutableRawPointer {
            precondition(count == 0, "a frame bigger than the rest of the slab")
            used = slabBytes + 1
            return batch.holdOversized(length)
        }

        /// Hands the batch over with its counts and how its source continues.
        func finish(ending: Ending?) -> Batch {
            batch.count = count
            batch.decoded = decoding
            batch.ending = ending
            return batch
        }
    }
}
