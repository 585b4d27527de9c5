import Capture
import Decode
import Foundation
import Frames

/// Replay's reading pass on two cores: a reading thread opens the captures in order, reads
/// and decodes their frames and hands them over in batches; the calling thread places,
/// counts and classifies them (`Engine.account`) in exactly the order a sequential read
/// would. Every stateful step (places, flows, what one file teaches about another: RPC
/// calls and replies, portmapper mappings) stays on the one calling thread in file order,
/// so the result is the sequential result by construction; only the stateless work
/// (`read(2)`, parsing records, `PacketDecoder`) moves to the other core.
///
/// Memory is bounded: at most `batchCount` batches of `slabSize` bytes of frames each are
/// in flight, reused round-robin (no allocation per packet).
enum ReadAhead {
    /// Bytes of frame data per batch.
    static let slabSize = 512 * 1024
    /// Frames per batch at most (a decode is a few hundred bytes: 2048 of them about 0.6 MiB).
    static let framesPerBatch = 2048
    /// Batches in flight (filled or being filled) at most.
    static let batchCount = 4

    /// False on a single processor, or when the environment sets `LANEKEEPER_READ_AHEAD=0`.
    static let enabledByEnvironment =
        ProcessInfo.processInfo.activeProcessorCount >= 2
        && ProcessInfo.processInfo.environment["LANEKEEPER_READ_AHEAD"] != "0"

    /// Reads every input into `engine` as `Engine.read` would, one after the other.
    /// - Throws: the `ReplayError` of the first capture that cannot be opened, after every
    ///   capture before it has been read (as the sequential read does).
    static func read(_ inputs: [ReplayInput], into engine: inout Engine) throws(ReplayError) {
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

    /// Places, counts and classifies a batch's frames, in order, as source `source`.
    private static func account(_ batch: Batch, source: Int, into engine: inout Engine) {
        guard let items = UnsafePointer(batch.frames.baseAddress), let slab = batch.slab.baseAddress else { return }
        let packetOffset = Item.packetOffset
        for index in 0..<batch.count {
            let item = items + index
            // Through the pointer: the decode is lent to the engine where it lies, not copied.
            engine.account(
                Frame(
                    interface: item.pointee.interface < 0 ? nil : item.pointee.interface,
                    timestamp: item.pointee.timestamp, linkType: item.pointee.linkType,
                    wireLength: item.pointee.wireLength,
                    bytes: UnsafeRawBufferPointer(start: slab + item.pointee.start, count: item.pointee.length),
                    fileOffset: item.pointee.fileOffset),
                decoded: (UnsafeRawPointer(item) + packetOffset).assumingMemoryBound(to: DecodedPacket.self),
                source: source)
        }
    }

    /// The reading thread: every input in order, every frame decoded into a batch.
    private static func produce(_ inputs: [ReplayInput], into channel: Channel) {
        let decoder = PacketDecoder()
        var filling = Filling(channel.takeEmpty())
        for input in inputs {
            var source: any FrameSource
            do throws(ReplayError) {
                source = try Engine.open(input)
            } catch {
                channel.fill(filling.finish(ending: .opened(error)))
                return
            }
            let outcome = source.read { frame in
                if !filling.hasRoom(for: frame.bytes.count) {
                    channel.fill(filling.finish(ending: nil))
                    filling = Filling(channel.takeEmpty())
                }
                filling.append(frame, decoder: decoder)
            }
            channel.fill(filling.finish(ending: .read(outcome, interfaces: source.interfaces)))
            filling = Filling(channel.takeEmpty())
        }
        channel.giveBack(filling.finish(ending: nil))
    }

    /// The reading thread's hold on the batch it fills: the batch's memory and counts as
    /// plain values, so that appending a frame reads no class property (each such read is
    /// a runtime exclusivity check) and retains nothing. The channel keeps the batch alive.
    struct Filling {
        unowned(unsafe) let batch: Batch
        let frames: UnsafeMutablePointer<Item>
        let slab: UnsafeMutableRawPointer
        var count = 0
        var used = 0

        init(_ batch: Batch) {
            self.batch = batch
            // Both allocated with the batch, never empty.
            frames = batch.frames.baseAddress!
            slab = batch.slab.baseAddress!
        }

        @inline(__always)
        func hasRoom(for length: Int) -> Bool {
            count < ReadAhead.framesPerBatch && ReadAhead.slabSize - used >= length
        }

        /// Copies and decodes `frame`; the caller has checked there is room.
        @inline(__always)
        mutating func append(_ frame: Frame, decoder: PacketDecoder) {
            let start = used
            let length = frame.bytes.count
            if length > 0, let base = frame.bytes.baseAddress {
                (slab + start).copyMemory(from: base, byteCount: length)
            }
            used += length
            let item = frames + count
            // Decoded in place, in the batch: the decode is never copied.
            item.initialize(
                to: Item(
                    packet: decoder.decode(
                        UnsafeRawBufferPointer(start: slab + start, count: length), linkType: frame.linkType),
                    timestamp: frame.timestamp, linkType: frame.linkType, wireLength: frame.wireLength,
                    interface: frame.interface ?? -1, fileOffset: frame.fileOffset, start: start, length: length))
            count += 1
        }

        /// Hands the batch over with its counts and how its source continues.
        func finish(ending: Ending?) -> Batch {
            batch.count = count
            batch.used = used
            batch.ending = ending
            return batch
        }
    }

    /// One decoded frame; its bytes are in the batch's slab.
    struct Item {
        var packet: DecodedPacket
        var timestamp: Timestamp
        var linkType: LinkType
        var wireLength: Int
        /// The source's interface index, or -1.
        var interface: Int
        var fileOffset: Int64
        var start: Int
        var length: Int

        /// Where `packet` lies in an item.
        static let packetOffset = MemoryLayout<Item>.offset(of: \Item.packet) ?? 0
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
        var frames: UnsafeMutableBufferPointer<Item>
        let slab: UnsafeMutableRawBufferPointer
        var count = 0
        var used = 0
        var ending: Ending?

        init() {
            frames = .allocate(capacity: ReadAhead.framesPerBatch)
            slab = UnsafeMutableRawBufferPointer.allocate(byteCount: ReadAhead.slabSize, alignment: 16)
        }

        deinit {
            _ = UnsafeMutableBufferPointer(rebasing: frames[0..<count]).deinitialize()
            frames.deallocate()
            slab.deallocate()
        }

        /// Empties the batch for reuse.
        func reset() {
            _ = UnsafeMutableBufferPointer(rebasing: frames[0..<count]).deinitialize()
            count = 0
            used = 0
            ending = nil
        }
    }

    /// The hand-over between the two threads: filled batches in order one way, emptied
    /// batches back the other, at most `batchCount` in all.
    final class Channel: @unchecked Sendable {
        private let condition = NSCondition()
        private var filled: [Batch] = []
        private var empty: [Batch] = []
        /// Every batch created: owns them while the threads hold them unowned.
        private var all: [Batch] = []

        /// A batch to fill: a returned one, a new one while fewer than `batchCount` exist,
        /// else waits for one to come back.
        func takeEmpty() -> Batch {
            condition.lock()
            defer { condition.unlock() }
            while empty.isEmpty {
                if all.count < ReadAhead.batchCount {
                    all.append(Batch())
                    return all[all.count - 1]
                }
                condition.wait()
            }
            return empty.removeLast()
        }

        /// Passes a filled batch on.
        func fill(_ batch: Batch) {
            condition.lock()
            filled.append(batch)
            condition.broadcast()
            condition.unlock()
        }

        /// The next filled batch, in order; waits for it.
        func takeFilled() -> Batch {
            condition.lock()
            defer { condition.unlock() }
            while filled.isEmpty { condition.wait() }
            return filled.removeFirst()
        }

        /// Returns an emptied batch for reuse.
        func giveBack(_ batch: Batch) {
            batch.reset()
            condition.lock()
            empty.append(batch)
            condition.broadcast()
            condition.unlock()
        }
    }
}
