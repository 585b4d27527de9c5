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
/// Memory is bounded: at most `batchCount` batches of `slabSize` bytes of frames each are
/// in flight, reused round-robin (no allocation per packet).
enum ReadAhead {
    /// Bytes of frame data per batch.
    static let slabSize = 256 * 1024
    /// Frames per batch at most (a decode and its frame's facts are about 300 bytes: 512 of
    /// them about 150 KiB, so the batch being filled and the one being read stay in cache).
    static let framesPerBatch = 512
    /// Batches in flight (filled or being filled) at most.
    static let batchCount = 8

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
    /// (`account`), which reading frame by frame (`Engine.read`) cannot. Each frame is copied
    /// into the batch once; its decode is left to `account`, which makes it just before use.
    private static func readOnOneThread(_ inputs: [ReplayInput], into engine: inout Engine) throws(ReplayError) {
        let batch = Batch()
        for (index, input) in inputs.enumerated() {
            var source = try Engine.open(input)
            var filling = Filling(batch, decoding: false)
            let outcome = fill(from: &source, into: &filling, decoder: engine.decoder) { full in
                account(full.finish(ending: nil), source: index, into: &engine)
                batch.reset()
                return Filling(batch, decoding: false)
            }
            account(filling.finish(ending: nil), source: index, into: &engine)
            batch.reset()
            engine.finishSource(input, outcome: outcome, interfaces: source.interfaces)
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
        // What the previous frame of the batch joined (no flow before the first).
        var previous: (place: UInt32, flow: Int?) = (0, nil)
        /// Decodes frame `ahead` if need be, notes whether it continues the flow of the frame
        /// before it and, if not, starts loading its index bucket.
        @inline(__always)
        func prepare(_ ahead: Int) {
            if !decodedAhead {
                let item = items + ahead
                engine.decoder.decode(
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
            if !follows,
                let segment = engine.knownSegment(source: source, interface: items[ahead].interface, packet: packets + ahead)
            {
                hashes[ahead] = engine.tracker.prefetchIndex(packets + ahead, segment: segment)
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
            let frame = Frame(
                interface: item.pointee.interface < 0 ? nil : item.pointee.interface,
                timestamp: item.pointee.timestamp, linkType: item.pointee.linkType,
                wireLength: item.pointee.wireLength,
                bytes: UnsafeRawBufferPointer(start: item.pointee.bytes, count: item.pointee.length),
                fileOffset: item.pointee.fileOffset)
            // Through the pointer: the decode is lent to the engine where it lies, not copied.
            if continues[index], let flow = previous.flow {
                previous = engine.account(frame, decoded: packets + index, continuing: (previous.place, flow))
            } else {
                previous = engine.account(frame, decoded: packets + index, source: source)
            }
        }
    }

    /// Frames between starting to load a flow's record and accounting its frame (and as
    /// many again before that, its index bucket): enough for a miss to memory to finish
    /// behind the work of the frames in between.
    static let lead = 8

    /// The reading thread: every input in order, every frame decoded into a batch.
    private static func produce(_ inputs: [ReplayInput], into channel: Channel) {
        let decoder = PacketDecoder()
        for input in inputs {
            var filling = Filling(channel.takeEmpty(), decoding: channel.replayIsBehind)
            var source: any FrameSource
            do throws(ReplayError) {
                source = try Engine.open(input)
            } catch {
                channel.fill(filling.finish(ending: .opened(error)))
                return
            }
            let outcome = fill(from: &source, into: &filling, decoder: decoder) { full in
                channel.fill(full.finish(ending: nil))
                return Filling(channel.takeEmpty(), decoding: channel.replayIsBehind)
            }
            channel.fill(filling.finish(ending: .read(outcome, interfaces: source.interfaces)))
        }
    }

    /// Reads `source` into batches, both ways: each frame goes into the batch `filling`
    /// holds; a full batch goes to `full`, which hands it on and returns the hold on the next.
    /// Returns how the read ended, `filling` holding the last batch (perhaps part-full).
    @inline(__always)
    private static func fill(
        from source: inout any FrameSource, into filling: inout Filling, decoder: PacketDecoder,
        whenFull full: (Filling) -> Filling
    ) -> ReadOutcome {
        source.read { frame in
            if !filling.hasRoom(for: frame.bytes.count) { filling = full(filling) }
            filling.append(frame, decoder: decoder)
        }
    }

    /// The reading thread's hold on the batch it fills: the batch's memory and counts as
    /// plain values, so that appending a frame reads no class property (each such read is
    /// a runtime exclusivity check) and retains nothing. The channel keeps the batch alive.
    struct Filling {
        unowned(unsafe) let batch: Batch
        let frames: UnsafeMutablePointer<Item>
        let packets: UnsafeMutablePointer<DecodedPacket>
        let slab: UnsafeMutableRawPointer
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
        }

        /// Whether a frame of `length` bytes fits. A frame bigger than a slab (a pcapng
        /// block may hold up to 256 MiB) fits only an empty batch, which it then has to
        /// itself (in `Batch.oversized`).
        @inline(__always)
        func hasRoom(for length: Int) -> Bool {
            count < ReadAhead.framesPerBatch && used <= ReadAhead.slabSize
                && (ReadAhead.slabSize - used >= length || count == 0)
        }

        /// Copies and decodes `frame`; the caller has checked there is room.
        @inline(__always)
        mutating func append(_ frame: Frame, decoder: PacketDecoder) {
            let length = frame.bytes.count
            let copy: UnsafeMutableRawPointer
            if length <= ReadAhead.slabSize &- used {
                copy = slab + used
                used &+= length  // <= slabSize
            } else {
                copy = holdOversized(length)
            }
            if length > 0, let base = frame.bytes.baseAddress {
                copy.copyMemory(from: base, byteCount: length)
            }
            (frames + count).initialize(
                to: Item(
                    timestamp: frame.timestamp, linkType: frame.linkType, wireLength: frame.wireLength,
                    interface: frame.interface ?? -1, fileOffset: frame.fileOffset, bytes: UnsafeRawPointer(copy),
                    length: length))
            // Decoded in place, in the batch: the decode is never copied.
            if decoding {
                decoder.decode(
                    UnsafeRawBufferPointer(start: copy, count: length), linkType: frame.linkType,
                    initializing: packets + count)
            }
            count &+= 1  // < framesPerBatch
        }

        /// Memory for a frame bigger than the rest of the slab, which only an empty batch
        /// takes (`hasRoom`) and which then holds nothing else.
        @inline(never)
        mutating func holdOversized(_ length: Int) -> UnsafeMutableRawPointer {
            precondition(count == 0, "a frame bigger than the rest of the slab")
            used = ReadAhead.slabSize + 1
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

    /// One frame; its bytes are in the batch's slab (or its `oversized` buffer), its decode
    /// at the same index in its `packets`.
    struct Item {
        var timestamp: Timestamp
        var linkType: LinkType
        var wireLength: Int
        /// The source's interface index, or -1.
        var interface: Int
        var fileOffset: Int64
        var bytes: UnsafeRawPointer
        var length: Int
    }

    /// How a batch's source continues after its frames.
    enum Ending {
        /// The capture could not be opened: the read stops here.
        case opened(ReplayError)
        /// The capture was read to its end.
        case read(ReadOutcome, interfaces: [CaptureInterface])
    }

    /// Frames of one source, decoded, with copies of their bytes. Owned by one thread at a
    /// time: the reader fills it, the replay thread empties it (the channel hands it over).
    final class Batch: @unchecked Sendable {
        let frames: UnsafeMutableBufferPointer<Item>
        /// The decodes of `frames`, index for index.
        let packets: UnsafeMutableBufferPointer<DecodedPacket>
        /// The replay thread's scratch while it accounts the batch: the flow-index hash of
        /// each frame, index for index (`account`), and whether it continues the previous
        /// frame's flow (`Engine.continues`).
        let hashes: UnsafeMutablePointer<UInt64>
        let continues: UnsafeMutablePointer<Bool>
        let slab: UnsafeMutableRawBufferPointer
        /// The one frame of a batch whose frame is bigger than a slab (freed on reset).
        private var oversized: UnsafeMutableRawBufferPointer?
        var count = 0
        /// Whether the reading thread decoded the frames; if not, the replay thread does,
        /// each just before it accounts it.
        var decoded = true
        var ending: Ending?

        init() {
            frames = .allocate(capacity: ReadAhead.framesPerBatch)
            packets = .allocate(capacity: ReadAhead.framesPerBatch)
            hashes = .allocate(capacity: ReadAhead.framesPerBatch)
            continues = .allocate(capacity: ReadAhead.framesPerBatch)
            slab = UnsafeMutableRawBufferPointer.allocate(byteCount: ReadAhead.slabSize, alignment: 16)
        }

        deinit {
            reset()
            frames.deallocate()
            packets.deallocate()
            hashes.deallocate()
            continues.deallocate()
            slab.deallocate()
        }

        /// Memory for a frame of `length` bytes, bigger than a slab.
        func holdOversized(_ length: Int) -> UnsafeMutableRawPointer {
            oversized?.deallocate()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
            oversized = buffer
            return buffer.baseAddress.unsafelyUnwrapped  // length > slabSize > 0
        }

        /// Empties the batch for reuse.
        func reset() {
            oversized?.deallocate()
            oversized = nil
            _ = UnsafeMutableBufferPointer(rebasing: frames[0..<count]).deinitialize()
            _ = UnsafeMutableBufferPointer(rebasing: packets[0..<count]).deinitialize()
            count = 0
            ending = nil
        }
    }

    /// The hand-over between the two threads: a ring of `batchCount` batches, filled in
    /// turn by the reading thread and read in the same order by the replay thread.
    ///
    /// Two counters say where each side is (batches filled, batches given back). A side
    /// that finds nothing to do spins on them a while (the other side is often
    /// tens of microseconds from done), then sleeps until half the ring is ready for it rather
    /// than one batch: the two threads go at nearly the same speed, and waking one per
    /// batch would cost a sleep and a wake-up through the kernel at every batch.
    final class Channel: @unchecked Sendable {
        private let ring: [Batch]
        /// Batches handed to the replay thread so far.
        private let filled = Atomic<Int>(0)
        /// Batches the replay thread has given back so far.
        private let emptied = Atomic<Int>(0)
        /// The reading thread sleeps until `emptied` reaches this (`Int.max`: awake).
        private let wakeReaderAt = Atomic<Int>(.max)
        /// The replay thread sleeps until `filled` reaches this, or a source ends.
        private let wakeReplayAt = Atomic<Int>(.max)
        private let condition = NSCondition()
        /// Batches taken to fill (the reading thread's own count).
        private var taken = 0
        /// Batches taken to read (the replay thread's own count).
        private var read = 0

        /// Spins (an atomic load each) before sleeping: some tens of microseconds, about
        /// the time the other side takes over a batch of small frames. A sleep costs the
        /// sleeper a wake-up through the kernel and leaves its core idle meanwhile; with
        /// 2,000 spins (a few microseconds) a replay of 20 million small frames slept ~2,300
        /// times and took 5-10% longer than with 20,000 (~400 sleeps).
        static let spins = 20_000

        init() {
            ring = (0..<ReadAhead.batchCount).map { _ in Batch() }
        }

        /// True when the replay thread has two filled batches or more waiting: it is the
        /// slower side, so the reading thread should decode the next batch itself. When it
        /// is not, the reading thread is the slower one and leaves the decoding of the next
        /// batch to the replay thread: the work settles between the two threads by itself,
        /// and a decode is the same wherever it is done.
        var replayIsBehind: Bool {
            filled.load(ordering: .relaxed) - emptied.load(ordering: .relaxed) >= 2
        }

        /// The next batch to fill; waits until the replay thread has given it back.
        func takeEmpty() -> Batch {
            let slot = taken
            // The replay thread has given back every batch up to `slot - ring.count`.
            let needed = slot - ring.count + 1
            wait(for: emptied, toReach: needed, orSleepUntil: needed + ring.count / 2, marking: wakeReaderAt)
            taken += 1
            return ring[slot % ring.count]
        }

        /// Passes the batch last taken by `takeEmpty`, filled, on.
        func fill(_ batch: Batch) {
            let count = filled.add(1, ordering: .sequentiallyConsistent).newValue
            // A source's last batch wakes the replay thread whatever it waits for: nothing
            // may follow it.
            wake(wakeReplayAt, at: batch.ending == nil ? count : .max)
        }

        /// The next filled batch, in order; waits for it.
        func takeFilled() -> Batch {
            let slot = read
            wait(for: filled, toReach: slot + 1, orSleepUntil: slot + ring.count / 2, marking: wakeReplayAt)
            read += 1
            return ring[slot % ring.count]
        }

        /// Returns the batch last taken by `takeFilled`, emptied, for reuse.
        func giveBack(_ batch: Batch) {
            batch.reset()
            wake(wakeReaderAt, at: emptied.add(1, ordering: .sequentiallyConsistent).newValue)
        }

        /// Returns once `counter` reaches `needed`: spins a while, then sleeps until the
        /// other side has moved `counter` to `target` (or woken it for another reason).
        private func wait(
            for counter: borrowing Atomic<Int>, toReach needed: Int, orSleepUntil target: Int,
            marking mark: borrowing Atomic<Int>
        ) {
            for _ in 0..<Self.spins where counter.load(ordering: .sequentiallyConsistent) >= needed { return }
            condition.lock()
            // Marked before the counter is read again, and the other side reads the mark
            // after it moved the counter: one of the two sees the other (no lost wake-up).
            mark.store(target, ordering: .sequentiallyConsistent)
            while counter.load(ordering: .sequentiallyConsistent) < needed { condition.wait() }
            mark.store(.max, ordering: .sequentiallyConsistent)
            condition.unlock()
        }

        /// Wakes the other side when its mark says it sleeps until `count` (or less).
        private func wake(_ mark: borrowing Atomic<Int>, at count: Int) {
            guard count >= mark.load(ordering: .sequentiallyConsistent) else { return }
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
    }
}
