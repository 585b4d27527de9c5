import CShims
import Capture
import Decode
import Foundation
import Frames
import Synchronization

/// What read-ahead hands from the reading thread to the replay thread: batches of frames
/// (their bytes copied into a slab, their decodes beside them) and the ring of batches that
/// carries them, two atomic counters and a condition for the rare sleep.
extension ReadAhead {
    /// One frame: its bytes in the batch's slab (or its `oversized` buffer) on two threads,
    /// where the reader keeps them on one; its decode at the same index in its `packets`.
    typealias Item = FrameRecord

    /// How a batch's source continues after its frames.
    enum Ending {
        /// The capture could not be opened: the read stops here.
        case opened(ReplayError)
        /// The capture was read to its end.
        case read(ReadOutcome, interfaces: [CaptureInterface])
    }

    /// Frames of one source and their decodes: on two threads with copies of their bytes,
    /// owned by one thread at a time (the reader fills it, the replay thread empties it, the
    /// channel hands it over); on one, the records the reader laid out where it read them.
    final class Batch: @unchecked Sendable {
        let frames: UnsafeMutableBufferPointer<Item>
        /// The decodes of `frames`, index for index.
        let packets: UnsafeMutableBufferPointer<DecodedPacket>
        /// The replay thread's scratch while it accounts the batch: the flow-index hash of
        /// each frame, index for index (`account`), and whether it continues the previous
        /// frame's flow (`Engine.continues`).
        let hashes: UnsafeMutablePointer<UInt64>
        let continues: UnsafeMutablePointer<Bool>
        /// The number of each frame's place when it was known ahead (`Engine.knownPlace`),
        /// else `unknownPlace`.
        let places: UnsafeMutablePointer<UInt32>
        static let unknownPlace = UInt32.max
        let slab: UnsafeMutableRawBufferPointer
        /// The one frame of a batch whose frame is bigger than a slab (freed on reset).
        private var oversized: UnsafeMutableRawBufferPointer?
        var count = 0
        /// Whether the reading thread decoded the frames; if not, the replay thread does,
        /// each just before it accounts it.
        var decoded = true
        var ending: Ending?

        init(_ shape: Shape) {
            frames = .allocate(capacity: shape.frames)
            packets = .allocate(capacity: shape.frames)
            hashes = .allocate(capacity: shape.frames)
            continues = .allocate(capacity: shape.frames)
            places = .allocate(capacity: shape.frames)
            slab = UnsafeMutableRawBufferPointer.allocate(byteCount: max(shape.slabBytes, 16), alignment: 16)
        }

        deinit {
            reset()
            frames.deallocate()
            packets.deallocate()
            hashes.deallocate()
            continues.deallocate()
            places.deallocate()
            slab.deallocate()
        }

        /// Memory for a frame of `length` bytes, bigger than a slab.
        func holdOversized(_ length: Int) -> UnsafeMutableRawPointer {
            oversized?.deallocate()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
            oversized = buffer
            return buffer.baseAddress.unsafelyUnwrapped  // length > slab size > 0
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

        /// How long a side spins before sleeping: a part of the time the other side takes
        /// over a batch of small frames. A sleep costs the sleeper a wake-up through the
        /// kernel and leaves its core idle meanwhile; spinning a few microseconds, a replay
        /// of 20 million small frames slept ~2,300 times and took 5-10% longer than spinning
        /// some tens (~400 sleeps). Each turn of the spin pauses (`lk_spin_pause`), and the
        /// spin is bounded by time, not turns: a pause lasts from a few cycles to over a
        /// hundred depending on the processor.
        static let spinNanoseconds: UInt64 = 30_000

        init() {
            ring = (0..<ReadAhead.batchCount).map { _ in Batch(ReadAhead.handedOver) }
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
            if counter.load(ordering: .sequentiallyConsistent) >= needed { return }
            let deadline = lk_monotonic_ns() &+ Self.spinNanoseconds
            var turns = 0
            while true {
                lk_spin_pause()
                if counter.load(ordering: .sequentiallyConsistent) >= needed { return }
                turns &+= 1
                if turns & 31 == 0 && lk_monotonic_ns() >= deadline { break }
            }
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
