#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Frames
import Synchronization

/// How to open a live capture.
public struct LiveCaptureOptions: Sendable, Equatable {
    /// Bytes kept of each packet (libpcap's snapshot length).
    public var snapLength: Int
    /// The kernel ring buffer, in bytes. Packets are packed into it (TPACKET_V3), each taking
    /// its captured length plus about 60 bytes.
    public var bufferBytes: Int
    /// How often a read with nothing to read wakes up to notice a stop or a lost interface
    /// (and, when not in immediate mode, how long the kernel may hold a block of packets).
    public var timeoutMilliseconds: Int
    /// libpcap's immediate mode: the kernel hands every packet over as it arrives instead of
    /// in blocks that fill or time out (libpcap then uses TPACKET_V2 rather than V3).
    public var immediate: Bool
    /// In immediate mode, how long the reader rests after reading what the ring held, so that
    /// under load it wakes about once per interval for a batch rather than once per packet.
    /// This bounds how late a packet is read (unlike TPACKET_V3's block timeout, which may
    /// hold a quiet interface's packets for `timeoutMilliseconds`); 0 reads without resting.
    public var batchMicroseconds: Int

    public static let defaultSnapLength = 262_144
    /// 16 MiB: at 400,000 MTU-sized packets a second, some 25 ms of traffic, twenty-five
    /// times the reader's rest; no drop under `scripts/bench-live`'s iperf3 load nor its
    /// flood of 1.5 million new flows. The ring is mapped into the capture process and counts
    /// in its memory for every interface watched (the kernel maps more than the buffer asked
    /// for), and the kernel zeroes it when the capture opens, a start-up cost that grows with
    /// it: 32 MiB put a two-interface watch's peak over 128 MiB under the flood
    /// (docs/performance.md, "Live capture speed", has the figures and the CPU).
    public static let defaultBufferBytes = 16 << 20
    public static let defaultBatchMicroseconds = 1_000

    public init(
        snapLength: Int = defaultSnapLength, bufferBytes: Int = defaultBufferBytes, timeoutMilliseconds: Int = 100,
        immediate: Bool = true, batchMicroseconds: Int = defaultBatchMicroseconds
    ) {
        self.snapLength = snapLength
        self.bufferBytes = bufferBytes
        self.timeoutMilliseconds = timeoutMilliseconds
        self.immediate = immediate
        self.batchMicroseconds = batchMicroseconds
    }
}

/// An interface that could not be opened for capture.
public struct LiveCaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The interface does not exist (in this network namespace).
        case noSuchDevice
        /// This process may not capture (no CAP_NET_RAW).
        case permissionDenied
        /// The interface exists but is down.
        case notUp
        /// Anything else libpcap refused (the detail says what).
        case failed
    }

    public var code: Code
    public var interface: String
    /// What went wrong, with libpcap's own words.
    public var detail: String

    public init(code: Code, interface: String, detail: String) {
        self.code = code
        self.interface = interface
        self.detail = detail
    }

    public var description: String { "\(interface): \(detail)" }
}

/// Counters of a live capture since it was opened, widened from libpcap's wrapping 32-bit
/// counters.
public struct LiveCaptureStatistics: Sendable, Equatable {
    /// Packets the kernel handed to the capture (after the filter).
    public var received = 0
    /// Packets the kernel dropped because the capture's buffer was full (`ps_drop`).
    public var kernelDropped = 0
    /// Packets the interface dropped (`ps_ifdrop`; libpcap on Linux counts it in promiscuous
    /// mode only).
    public var interfaceDropped = 0

    public init() {}

    public var dropped: Int { kernelDropped + interfaceDropped }
}

/// How a live capture's read loop ended.
public struct LiveCaptureOutcome: Sendable, Equatable {
    /// Frames handed to the callback.
    public var frames = 0
    /// What went wrong on the way, in words (the interface went down, disappeared, a read
    /// failed); empty for a capture that saw everything until it was stopped.
    public var problems: [String] = []
    /// True when the interface is gone (deleted or renamed), so the loop ended by itself.
    public var interfaceLost = false

    public init() {}
}

/// A live capture on one interface through libpcap.
///
/// In immediate mode by default: libpcap 1.10 then uses TPACKET_V2, where the kernel hands
/// each packet over as it arrives. Read naively, that wakes the reader for every packet,
/// which `scripts/bench-live` measured at three times the CPU per packet of TPACKET_V3's
/// blocks. So after reading what the ring holds, the reader rests `batchMicroseconds`
/// (1 ms) before reading again: under load each wake-up takes a batch (hundreds of packets
/// at 400k packets/s, well inside the ring), and no packet waits longer than about a
/// millisecond. Without immediate mode (TPACKET_V3) the kernel hands packets over a block at
/// a time, at the latest `timeoutMilliseconds` after the first. Either way a reader with
/// nothing to read sleeps at most `timeoutMilliseconds` (or until an error such as the
/// interface going away, or `breakLoop()`). To stop without losing what the kernel still
/// holds, call `stop()`, wait until `run` returns or `stopSeconds` have passed, then call
/// `breakLoop()`.
///
/// Concurrency: confined to the thread that calls `run`, except `stop()` and `breakLoop()`,
/// which any thread may call (`pcap_breakloop` is documented as thread-safe and wakes a
/// blocked read).
public final class LiveCapture: @unchecked Sendable {
    public let interface: String
    public let linkType: LinkType
    /// The filter installed in the kernel, if any.
    public let filterExpression: String?
    /// libpcap's warning from activation (e.g. a timestamp type it could not honour).
    public let warning: String?
    public let options: LiveCaptureOptions

    /// The handle until `close()` (nil after). Reading threads take it once, when `run`
    /// starts; the lock guards only taking and letting go of it.
    private let handleLock: Mutex<PcapHandle?>
    private let unitsPerSecond: Int64
    /// The interface's index when it was opened; a different index later means it was
    /// deleted (and maybe re-created).
    private let interfaceIndex: UInt32
    private var statisticsBase = Raw()
    private var statisticsTotal = LiveCaptureStatistics()
    /// When `run` stops (wall-clock nanoseconds); `Int64.max` until `stop()`.
    private let stopAt = Atomic<Int64>(.max)

    private struct Raw {
        var received: UInt32 = 0
        var dropped: UInt32 = 0
        var interfaceDropped: UInt32 = 0
    }

    private init(
        interface: String, handle: sending PcapHandle, filterExpression: String?, warning: String?,
        options: LiveCaptureOptions, interfaceIndex: UInt32
    ) {
        self.interface = interface
        self.linkType = LinkType(dlt: handle.dataLink)
        self.unitsPerSecond = handle.timestampUnitsPerSecond
        self.handleLock = Mutex(handle)
        self.filterExpression = filterExpression
        self.warning = warning
        self.options = options
        self.interfaceIndex = interfaceIndex
    }

    /// Opens `interface`: create, snaplen, immediate mode, buffer, timeout, nanosecond
    /// timestamps, activate, then the filter for the interface's link type.
    ///
    /// - Parameters:
    ///   - interface: The interface's name in this network namespace.
    ///   - options: Snaplen, buffer and timeout.
    ///   - filter: The kernel prefilter; nil keeps every packet.
    /// - Throws: `LiveCaptureError` saying why, with libpcap's words.
    public static func open(
        interface: String, options: LiveCaptureOptions = LiveCaptureOptions(), filter: CaptureFilter?
    ) throws(LiveCaptureError) -> LiveCapture {
        let handle: PcapHandle
        let warning: String?
        do {
            handle = try PcapHandle.create(device: interface)
            try handle.setSnapLength(Int32(clamping: options.snapLength))
            try handle.setImmediateMode(options.immediate)
            try handle.setBufferSize(Int32(clamping: options.bufferBytes))
            try handle.setTimeout(milliseconds: Int32(clamping: options.timeoutMilliseconds))
            // Microseconds when the kernel cannot do better; `unitsPerSecond` follows.
            try? handle.setNanosecondPrecision()
            warning = try handle.activate()
        } catch {
            switch error.kind {
            case .noSuchDevice:
                throw LiveCaptureError(code: .noSuchDevice, interface: interface, detail: "no such interface")
            case .permissionDenied:
                throw LiveCaptureError(code: .permissionDenied, interface: interface, detail: error.message)
            case .interfaceNotUp:
                throw LiveCaptureError(code: .notUp, interface: interface, detail: "the interface is down (\(error.message))")
            case .other:
                throw LiveCaptureError(code: .failed, interface: interface, detail: error.description)
            }
        }
        var expression: String?
        if let filter {
            let text = filter.expression(for: LinkType(dlt: handle.dataLink))
            do {
                try handle.setFilter(try handle.compile(text))
            } catch {
                throw LiveCaptureError(
                    code: .failed, interface: interface, detail: "cannot install the capture filter '\(text)': \(error.message)")
            }
            expression = text
        }
        return LiveCapture(
            interface: interface, handle: handle, filterExpression: expression, warning: warning, options: options,
            interfaceIndex: if_nametoindex(interface))
    }

    /// Reads until `stop()` (then `breakLoop()`) is called, or the interface disappears.
    ///
    /// - Parameters:
    ///   - tickNanoseconds: How often `onTick` is called, at least (after a read timeout,
    ///     and after a batch of packets once this much time has passed).
    ///   - onPacket: Called once per packet; the frame's bytes are valid only during the call.
    ///     `Frame.interface` is 0 and `fileOffset` is the packet's ordinal (from 1).
    ///   - onTick: Called periodically on this thread, e.g. to read `statistics()`.
    public func run(
        tickNanoseconds: Int64 = 250_000_000, onPacket: (Frame) -> Void, onTick: () -> Void
    ) -> LiveCaptureOutcome {
        var outcome = LiveCaptureOutcome()
        var nextTick = Self.now() + tickNanoseconds
        var isDown = false
        var consecutiveErrors = 0
        // A batch this large means the reader is behind: read on without resting.
        let restUnlessBatchOf = 4_096
        let restMicroseconds = options.immediate ? max(options.batchMicroseconds, 0) : 0
        var rest = timespec(tv_sec: restMicroseconds / 1_000_000, tv_nsec: restMicroseconds % 1_000_000 * 1_000)
        guard let handle = handleLock.withLock({ $0 }) else { return outcome }
        loop: while true {
            let result = handle.dispatch { header, bytes in
                outcome.frames += 1
                onPacket(
                    Frame(
                        interface: 0,
                        timestamp: Timestamp(seconds: header.seconds, fraction: header.fraction, unitsPerSecond: unitsPerSecond),
                        linkType: linkType, wireLength: Int(header.wireLength), bytes: bytes,
                        fileOffset: Int64(outcome.frames)))
            }
            let now = Self.now()
            let stopping = stopAt.load(ordering: .relaxed)
            if now >= stopping {
                // Past the drain deadline: end once a read finds the kernel's buffer empty.
                // A reader the scheduler kept off the CPU until now still reads what arrived
                // before `stop()`; a flood that never lets up is cut `lateReadNanoseconds` on.
                guard case .packets(let count) = result, count > 0, now - stopping < Self.lateReadNanoseconds else { break loop }
                continue
            }
            switch result {
            case .packets(let count):
                consecutiveErrors = 0
                if count > 0 {
                    isDown = false
                    if restMicroseconds > 0 && count < restUnlessBatchOf { nanosleep(&rest, nil) }
                    if now < nextTick { continue }
                }
            case .end:
                // `breakLoop()` without `stop()` wakes the reader for a tick (a continuous
                // watch closing a window on a quiet interface, which libpcap's immediate mode
                // would otherwise leave asleep in its read).
                if stopAt.load(ordering: .relaxed) != .max { break loop }
            case .error(let message):
                consecutiveErrors += 1
                if !isStillThere() {
                    outcome.problems.append("\(interface) disappeared during the capture (\(message))")
                    outcome.interfaceLost = true
                    break loop
                }
                if !isDown {
                    isDown = true
                    outcome.problems.append("\(interface) went down during the capture (\(message))")
                }
                if consecutiveErrors >= 100 {
                    outcome.problems.append("reading \(interface) failed repeatedly; the capture stopped (\(message))")
                    break loop
                }
                // A downed interface reports once, then reads block until it is up again.
                usleep(10_000)
            }
            nextTick = now + tickNanoseconds
            onTick()
            if !isStillThere() {
                outcome.problems.append("\(interface) disappeared during the capture")
                outcome.interfaceLost = true
                break loop
            }
        }
        return outcome
    }

    /// How long after `stop()` the kernel may still hand over packets that arrived before it:
    /// twice the timeout.
    public var drainSeconds: Double { Double(max(options.timeoutMilliseconds, 1)) * 2 / 1000 }

    /// How long past the drain deadline a reader that still finds packets goes on reading.
    static let lateReadNanoseconds: Int64 = 2_000_000_000

    /// How long after `stop()` a reader ends by itself at the latest, when it is not blocked in
    /// a read: the drain, the late reads, and one more timeout. Wait that long before
    /// `breakLoop()`.
    public var stopSeconds: Double {
        drainSeconds + Double(Self.lateReadNanoseconds) / 1e9 + Double(max(options.timeoutMilliseconds, 1)) / 1000
    }

    /// Makes `run` return once it has read what the kernel still holds: at the first read
    /// that finds nothing from `drainSeconds` on (or `lateReadNanoseconds` after that, if
    /// packets keep coming). Follow with `breakLoop()` once `run` has returned or
    /// `stopSeconds` have passed, to end a reader blocked in a read. Safe to call from any thread.
    public func stop() {
        let deadline = Self.now() + Int64(drainSeconds * 1e9)
        _ = stopAt.compareExchange(expected: .max, desired: deadline, ordering: .relaxed)
    }

    /// After `stop()`: makes `run` return now, leaving unread whatever the kernel still holds.
    /// Without `stop()`: makes `run` call `onTick` now (and go on reading). Safe to call from
    /// any thread.
    public func breakLoop() {
        handleLock.withLock { $0?.breakLoop() }
    }

    /// Closes the capture once it has been read for the last time (after `run` returned):
    /// the kernel's ring buffer (`bufferBytes`, mapped into this process) is released at
    /// once, before the watch merges and judges its flows, so that the two never add up to
    /// the peak memory. `statistics()` then returns the last counts read.
    public func close() {
        handleLock.withLock { $0 = nil }  // the last reference: pcap_close runs as it goes
    }

    /// Counters since the capture was opened. Call on the reading thread, at least once per
    /// 2^32 packets (the kernel's counters are 32-bit and wrap).
    public func statistics() -> LiveCaptureStatistics {
        guard let raw = try? handleLock.withLock({ try $0?.statistics() }) else { return statisticsTotal }
        statisticsTotal.received += Int(raw.received &- statisticsBase.received)
        statisticsTotal.kernelDropped += Int(raw.dropped &- statisticsBase.dropped)
        statisticsTotal.interfaceDropped += Int(raw.interfaceDropped &- statisticsBase.interfaceDropped)
        statisticsBase = Raw(received: raw.received, dropped: raw.dropped, interfaceDropped: raw.interfaceDropped)
        return statisticsTotal
    }

    /// The packet socket's ring version as the kernel reports it (`PACKET_VERSION`: 1 is
    /// TPACKET_V2, which libpcap uses in immediate mode; 2 is TPACKET_V3), nil if unknown.
    package var ringVersion: Int32? {
        var version: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        let solPacket: Int32 = 263, packetVersion: Int32 = 10  // <linux/if_packet.h>
        guard let descriptor = handleLock.withLock({ $0?.fileDescriptor }),
            getsockopt(descriptor, solPacket, packetVersion, &version, &length) == 0
        else { return nil }
        return version
    }

    /// Whether an interface of this name, and the same index, still exists.
    private func isStillThere() -> Bool {
        let index = if_nametoindex(interface)
        return index != 0 && (interfaceIndex == 0 || index == interfaceIndex)
    }

    /// The time now, as packet timestamps count it (the wall clock).
    public static func wallClock() -> Timestamp {
        Timestamp(nanoseconds: now())
    }

    /// Wall-clock nanoseconds (packet timestamps are wall-clock too).
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
