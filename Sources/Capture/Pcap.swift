import CPcap

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The one funnel for libpcap. Every `pcap_*` call in lanekeeper goes through this file, so
// the rest of the code never touches an `OpaquePointer` and a mock can replace it later.
//
// Concurrency: `pcap_t *` imports as `OpaquePointer`, which is not `Sendable`, so neither
// is `PcapHandle`. Confine a handle to one thread; a live-capture wrapper that must call
// `breakLoop()` from another thread should be a `final class …: @unchecked Sendable` that
// owns the handle (`pcap_breakloop` is documented as safe to call from another thread).

/// A failure reported by libpcap.
package struct PcapError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libpcap function that failed, e.g. `pcap_activate`.
    package var function: String
    /// The status libpcap returned (a `PCAP_ERROR_*` value), or -1 when it returned NULL.
    package var status: Int32
    /// libpcap's own message (its error buffer or `pcap_geterr`).
    package var message: String

    package init(function: String, status: Int32, message: String) {
        self.function = function
        self.status = status
        self.message = message
    }

    package var description: String { "\(function): \(message)" }

    /// The failures a live capture explains to the user, by `status`.
    package enum Kind: Sendable, Equatable {
        /// `PCAP_ERROR_NO_SUCH_DEVICE`: the interface does not exist.
        case noSuchDevice
        /// `PCAP_ERROR_PERM_DENIED`: no permission to capture (CAP_NET_RAW on Linux).
        case permissionDenied
        /// `PCAP_ERROR_IFACE_NOT_UP`: the interface exists but is down.
        case interfaceNotUp
        /// Anything else.
        case other
    }

    package var kind: Kind {
        switch status {
        case PCAP_ERROR_NO_SUCH_DEVICE: .noSuchDevice
        case PCAP_ERROR_PERM_DENIED: .permissionDenied
        case PCAP_ERROR_IFACE_NOT_UP: .interfaceNotUp
        default: .other
        }
    }
}

/// The per-packet header libpcap returns, as Swift values.
package struct PcapPacketHeader: Sendable, Equatable {
    /// Seconds since the epoch.
    package var seconds: Int64
    /// Sub-second part, in the unit the handle was opened with (nanoseconds for
    /// `PcapHandle.openOffline(path:)`).
    package var fraction: Int64
    /// Bytes captured (the count of bytes handed over).
    package var captureLength: UInt32
    /// Bytes on the wire.
    package var wireLength: UInt32
}

/// What `PcapHandle.next()` found.
package enum PcapNextResult {
    /// A packet; `bytes` is valid only until the next call on the handle.
    case packet(PcapPacketHeader, UnsafeRawBufferPointer)
    /// A live capture's timeout expired with no packet (never for a savefile).
    case timeout
    /// No more packets: the end of a savefile, or `breakLoop()` on a live capture
    /// (`PCAP_ERROR_BREAK`). Do not call `next()` again expecting more.
    case end
    /// libpcap failed; the message is `pcap_geterr`'s.
    case error(String)
}

/// What `PcapHandle.dispatch(_:)` did.
package enum PcapDispatchResult: Equatable {
    /// It handed this many packets to the body; 0 when a live read timed out with none.
    case packets(Int)
    /// `breakLoop()` was called (`PCAP_ERROR_BREAK`), or a savefile ended.
    case end
    /// libpcap failed; the message is `pcap_geterr`'s.
    case error(String)
}

/// Packet counters from `PcapHandle.statistics()`. libpcap keeps them as 32-bit counters
/// that wrap; on Linux `received` counts packets that passed the filter.
package struct PcapStatistics: Sendable, Equatable {
    package var received: UInt32
    package var dropped: UInt32
    package var interfaceDropped: UInt32
}

/// A compiled BPF program. Freed when the last reference goes away.
package final class PcapFilterProgram {
    fileprivate let program: UnsafeMutablePointer<bpf_program>

    fileprivate init() {
        program = .allocate(capacity: 1)
        program.initialize(to: bpf_program())
    }

    /// Whether the program accepts a packet, as the kernel would (for tests of filters
    /// compiled on a handle from `PcapHandle.openDead(linkType:snapLength:)`).
    ///
    /// - Parameters:
    ///   - bytes: The captured bytes, starting with the link-layer header.
    ///   - wireLength: The packet's length on the wire (at least `bytes.count`).
    /// The corresponding C function is `pcap_offline_filter`.
    package func matches(_ bytes: UnsafeRawBufferPointer, wireLength: Int? = nil) -> Bool {
        var header = pcap_pkthdr()
        header.caplen = UInt32(clamping: bytes.count)
        header.len = UInt32(clamping: max(wireLength ?? bytes.count, bytes.count))
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        return pcap_offline_filter(program, &header, base) != 0
    }

    /// The corresponding C function is `pcap_freecode`.
    deinit {
        pcap_freecode(program)
        program.deinitialize(count: 1)
        program.deallocate()
    }
}

/// An open libpcap handle (`pcap_t *`): a savefile or a live interface. Closed on deinit.
package final class PcapHandle {
    private let raw: OpaquePointer

    private init(raw: OpaquePointer) {
        self.raw = raw
    }

    /// The corresponding C function is `pcap_close`.
    deinit {
        pcap_close(raw)
    }

    // MARK: Opening

    /// Opens a saved classic pcap file for reading, with nanosecond timestamps whatever the
    /// file's own resolution.
    ///
    /// - Parameter path: The file to open.
    /// - Throws: `PcapError` with libpcap's message (missing file, truncated or unknown header).
    /// The corresponding C function is `pcap_open_offline_with_tstamp_precision`.
    package static func openOffline(path: String) throws(PcapError) -> PcapHandle {
        let (handle, message) = withErrorBuffer { errbuf in
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), errbuf)
        }
        guard let handle else {
            throw PcapError(function: "pcap_open_offline_with_tstamp_precision", status: -1, message: message)
        }
        return PcapHandle(raw: handle)
    }

    /// Creates a not-yet-activated handle for a live interface (`"any"` for all).
    ///
    /// The corresponding C function is `pcap_create`.
    package static func create(device: String) throws(PcapError) -> PcapHandle {
        let (handle, message) = withErrorBuffer { errbuf in
            pcap_create(device, errbuf)
        }
        guard let handle else {
            throw PcapError(function: "pcap_create", status: -1, message: message)
        }
        return PcapHandle(raw: handle)
    }

    /// A handle attached to no interface or file, for compiling filters for a link type.
    ///
    /// - Parameters:
    ///   - linkType: A DLT value (1 Ethernet, 276 Linux SLL2, ...).
    ///   - snapLength: The snapshot length the filter is compiled for.
    /// The corresponding C function is `pcap_open_dead_with_tstamp_precision`.
    package static func openDead(linkType: Int32, snapLength: Int32 = 262_144) throws(PcapError) -> PcapHandle {
        guard let handle = pcap_open_dead_with_tstamp_precision(linkType, snapLength, UInt32(PCAP_TSTAMP_PRECISION_NANO))
        else {
            throw PcapError(function: "pcap_open_dead_with_tstamp_precision", status: -1, message: "out of memory")
        }
        return PcapHandle(raw: handle)
    }

    // MARK: Configuring a live handle (before activate)

    /// The corresponding C function is `pcap_set_snaplen`.
    package func setSnapLength(_ bytes: Int32) throws(PcapError) {
        try check(pcap_set_snaplen(raw, bytes), "pcap_set_snaplen")
    }

    /// The corresponding C function is `pcap_set_immediate_mode`.
    package func setImmediateMode(_ on: Bool) throws(PcapError) {
        try check(pcap_set_immediate_mode(raw, on ? 1 : 0), "pcap_set_immediate_mode")
    }

    /// The corresponding C function is `pcap_set_buffer_size`.
    package func setBufferSize(_ bytes: Int32) throws(PcapError) {
        try check(pcap_set_buffer_size(raw, bytes), "pcap_set_buffer_size")
    }

    /// The corresponding C function is `pcap_set_promisc`.
    package func setPromiscuous(_ on: Bool) throws(PcapError) {
        try check(pcap_set_promisc(raw, on ? 1 : 0), "pcap_set_promisc")
    }

    /// The read timeout in milliseconds (how often a blocked read wakes up).
    ///
    /// The corresponding C function is `pcap_set_timeout`.
    package func setTimeout(milliseconds: Int32) throws(PcapError) {
        try check(pcap_set_timeout(raw, milliseconds), "pcap_set_timeout")
    }

    /// Asks for nanosecond timestamps on a live handle.
    ///
    /// The corresponding C function is `pcap_set_tstamp_precision`.
    package func setNanosecondPrecision() throws(PcapError) {
        try check(pcap_set_tstamp_precision(raw, PCAP_TSTAMP_PRECISION_NANO), "pcap_set_tstamp_precision")
    }

    /// Activates a handle made by `create(device:)`.
    ///
    /// - Returns: libpcap's warning when it activated with one (a positive status, e.g.
    ///   promiscuous mode not supported), or nil.
    /// - Throws: `PcapError` for a negative status (no such device, permission denied, ...).
    /// The corresponding C function is `pcap_activate`.
    package func activate() throws(PcapError) -> String? {
        let status = pcap_activate(raw)
        if status == 0 { return nil }
        let message = Self.describe(status: status, detail: lastError)
        if status > 0 { return message }
        throw PcapError(function: "pcap_activate", status: status, message: message)
    }

    // MARK: Reading

    /// Reads the next packet.
    ///
    /// The corresponding C function is `pcap_next_ex`.
    package func next() -> PcapNextResult {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        let status = pcap_next_ex(raw, &header, &data)
        switch status {
        case 1:
            guard let header else { return .error("pcap_next_ex returned a packet without a header") }
            let h = header.pointee
            let packetHeader = PcapPacketHeader(
                seconds: Int64(h.ts.tv_sec), fraction: Int64(h.ts.tv_usec),
                captureLength: h.caplen, wireLength: h.len)
            // `Int(UInt32)` cannot trap on the 64-bit platforms lanekeeper supports.
            let count = data == nil ? 0 : Int(h.caplen)
            return .packet(packetHeader, UnsafeRawBufferPointer(start: data, count: count))
        case 0:
            return .timeout
        case PCAP_ERROR_BREAK:
            return .end
        default:
            return .error(lastError)
        }
    }

    /// How many units of `PcapPacketHeader.fraction` make a second: 10^9 when the handle
    /// delivers nanoseconds, else 10^6.
    ///
    /// The corresponding C function is `pcap_get_tstamp_precision`.
    package var timestampUnitsPerSecond: Int64 {
        pcap_get_tstamp_precision(raw) == PCAP_TSTAMP_PRECISION_NANO ? 1_000_000_000 : 1_000_000
    }

    /// Reads what is available (on Linux, a whole ring block at a time), up to a timeout,
    /// calling `body` once per packet with bytes that point into libpcap's ring: valid only
    /// during that call. Unlike `next()`, which copies every packet out of the ring on Linux,
    /// this copies nothing.
    ///
    /// The corresponding C function is `pcap_dispatch`.
    package func dispatch(_ body: (PcapPacketHeader, UnsafeRawBufferPointer) -> Void) -> PcapDispatchResult {
        typealias Body = (PcapPacketHeader, UnsafeRawBufferPointer) -> Void
        let status = withoutActuallyEscaping(body) { escapable -> Int32 in
            var context: Body = escapable
            return withUnsafeMutablePointer(to: &context) { pointer in
                pcap_dispatch(
                    raw, -1,
                    { user, header, data in
                        guard let user, let header else { return }
                        let h = header.pointee
                        let packetHeader = PcapPacketHeader(
                            seconds: Int64(h.ts.tv_sec), fraction: Int64(h.ts.tv_usec),
                            captureLength: h.caplen, wireLength: h.len)
                        let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : Int(h.caplen))
                        UnsafeRawPointer(user).assumingMemoryBound(to: Body.self).pointee(packetHeader, bytes)
                    },
                    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self))
            }
        }
        switch status {
        case 0...: return .packets(Int(status))
        case PCAP_ERROR_BREAK: return .end
        default: return .error(lastError)
        }
    }

    /// The handle's link-layer type as a DLT value.
    ///
    /// The corresponding C function is `pcap_datalink`.
    package var dataLink: Int32 { pcap_datalink(raw) }

    /// The capture's socket (a live handle) or -1 (a file or dead handle).
    ///
    /// The corresponding C function is `pcap_fileno`.
    package var fileDescriptor: Int32 { pcap_fileno(raw) }

    /// The snapshot length: a savefile's header value, or the live setting.
    ///
    /// The corresponding C function is `pcap_snapshot`.
    package var snapshot: Int32 { pcap_snapshot(raw) }

    /// The text of the last error on this handle.
    ///
    /// The corresponding C function is `pcap_geterr`.
    package var lastError: String {
        guard let message = pcap_geterr(raw) else { return "unknown libpcap error" }
        return String(cString: message)
    }

    /// For a savefile, the byte offset libpcap has read up to (the start of the next record
    /// after a successful `next()`); nil for a live handle.
    ///
    /// The corresponding C functions are `pcap_file` and `ftello`.
    package var fileOffset: Int64? {
        guard let file = pcap_file(raw) else { return nil }
        let offset = ftello(file)
        return offset < 0 ? nil : Int64(offset)
    }

    // MARK: Filters

    /// Compiles a BPF filter expression for this handle.
    ///
    /// - Parameters:
    ///   - expression: tcpdump filter syntax, e.g. `"tcp port 2049"`.
    ///   - optimize: Whether to run the BPF optimiser.
    ///   - netmask: The IPv4 netmask for `broadcast` tests; `PCAP_NETMASK_UNKNOWN` when unknown.
    /// The corresponding C function is `pcap_compile`.
    package func compile(
        _ expression: String, optimize: Bool = true, netmask: UInt32 = PCAP_NETMASK_UNKNOWN
    ) throws(PcapError) -> PcapFilterProgram {
        let program = PcapFilterProgram()
        let status = pcap_compile(raw, program.program, expression, optimize ? 1 : 0, netmask)
        guard status == 0 else {
            throw PcapError(function: "pcap_compile", status: status, message: lastError)
        }
        return program
    }

    /// Installs a compiled filter.
    ///
    /// The corresponding C function is `pcap_setfilter`.
    package func setFilter(_ program: PcapFilterProgram) throws(PcapError) {
        let status = pcap_setfilter(raw, program.program)
        guard status == 0 else {
            throw PcapError(function: "pcap_setfilter", status: status, message: lastError)
        }
    }

    // MARK: Live control

    /// Packet counters for a live handle.
    ///
    /// The corresponding C function is `pcap_stats`.
    package func statistics() throws(PcapError) -> PcapStatistics {
        var stat = pcap_stat()
        let status = pcap_stats(raw, &stat)
        guard status == 0 else {
            throw PcapError(function: "pcap_stats", status: status, message: lastError)
        }
        return PcapStatistics(received: stat.ps_recv, dropped: stat.ps_drop, interfaceDropped: stat.ps_ifdrop)
    }

    /// Makes a blocked or future read return `.end`. Safe to call from another thread.
    ///
    /// The corresponding C function is `pcap_breakloop`.
    package func breakLoop() {
        pcap_breakloop(raw)
    }

    /// Chooses the link type of an activated live handle (e.g. 276, SLL2, on `any`).
    ///
    /// The corresponding C function is `pcap_set_datalink`.
    package func setDataLink(_ dlt: Int32) throws(PcapError) {
        let status = pcap_set_datalink(raw, dlt)
        guard status == 0 else {
            throw PcapError(function: "pcap_set_datalink", status: status, message: lastError)
        }
    }

    /// The link types an activated live handle offers.
    ///
    /// The corresponding C functions are `pcap_list_datalinks` and `pcap_free_datalinks`.
    package func dataLinks() throws(PcapError) -> [Int32] {
        var list: UnsafeMutablePointer<Int32>? = nil
        let count = pcap_list_datalinks(raw, &list)
        guard count >= 0 else {
            throw PcapError(function: "pcap_list_datalinks", status: count, message: lastError)
        }
        guard let list else { return [] }
        defer { pcap_free_datalinks(list) }
        return Array(UnsafeBufferPointer(start: list, count: Int(count)))
    }

    // MARK: Helpers

    private func check(_ status: Int32, _ function: String) throws(PcapError) {
        guard status == 0 else {
            throw PcapError(function: function, status: status, message: Self.describe(status: status, detail: ""))
        }
    }

    /// Combines libpcap's name for a status with the handle's error text.
    ///
    /// The corresponding C function is `pcap_statustostr`.
    private static func describe(status: Int32, detail: String) -> String {
        let name = pcap_statustostr(status).map { String(cString: $0) } ?? "status \(status)"
        return detail.isEmpty ? name : "\(name): \(detail)"
    }

    /// Runs `body` with a zeroed `PCAP_ERRBUF_SIZE` error buffer; returns its result and the
    /// buffer's text.
    private static func withErrorBuffer<R>(
        _ body: (UnsafeMutablePointer<CChar>) -> R
    ) -> (R, String) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(PCAP_ERRBUF_SIZE) + 1) { buffer in
            buffer.initialize(repeating: 0)
            guard let base = buffer.baseAddress else {
                preconditionFailure("a temporary allocation of \(buffer.count) bytes has no address")
            }
            let result = body(base)
            base[Int(PCAP_ERRBUF_SIZE)] = 0
            return (result, String(cString: base))
        }
    }
}
