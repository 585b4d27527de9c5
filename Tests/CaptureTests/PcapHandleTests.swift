@testable import Capture
import Foundation
import Frames
import TestSupport
import Testing

/// The libpcap funnel itself.
@Suite struct PcapHandleTests {
    @Test func offlineReadingReportsOffsetsAndTheEnd() throws {
        let temp = try TemporaryDirectory()
        let records = [PcapBytes.Record(seconds: 7, fraction: 8, data: [1, 2, 3])]
        let path = try temp.file("a.pcap", PcapBytes.file(bigEndian: false, nanoseconds: false, records: records))
        let handle = try PcapHandle.openOffline(path: path)
        #expect(handle.dataLink == 1)
        #expect(handle.snapshot == 65535)
        #expect(handle.fileOffset == 24)
        guard case .packet(let header, let bytes) = handle.next() else {
            Issue.record("expected a packet")
            return
        }
        #expect(header == PcapPacketHeader(seconds: 7, fraction: 8000, captureLength: 3, wireLength: 3))
        #expect(Array(bytes) == [1, 2, 3])
        let offsetAfter: Int64? = handle.fileOffset
        #expect(offsetAfter == 43)
        guard case .end = handle.next() else {
            Issue.record("expected the end")
            return
        }
        guard case .end = handle.next() else {
            Issue.record("expected the end again")
            return
        }
    }

    @Test func openingGarbageThrowsLibpcapsMessage() throws {
        let temp = try TemporaryDirectory()
        let path = try temp.file("bad.pcap", Array("not a capture at all, no sir".utf8))
        let error = #expect(throws: PcapError.self) { try PcapHandle.openOffline(path: path) }
        #expect(error?.function == "pcap_open_offline_with_tstamp_precision")
        #expect(error?.message.isEmpty == false)
    }

    /// The live path on loopback: configure, activate, filter, statistics, break.
    /// Skipped when this process may not capture.
    @Test func liveLoopbackHandle() throws {
        let handle = try PcapHandle.create(device: "lo")
        try handle.setSnapLength(262_144)
        try handle.setImmediateMode(true)
        try handle.setBufferSize(1 << 20)
        try handle.setPromiscuous(false)
        try handle.setTimeout(milliseconds: 100)
        try handle.setNanosecondPrecision()
        do {
            _ = try handle.activate()
        } catch {
            #expect(error.status < 0)
            return  // no permission to capture here
        }
        #expect(try handle.dataLinks().contains(1))
        try handle.setDataLink(1)
        let program = try handle.compile("udp port 9 and host 127.0.0.1")
        try handle.setFilter(program)
        #expect(throws: PcapError.self) { try handle.compile("this is not a filter ((") }
        _ = try handle.statistics()
        handle.breakLoop()
        switch handle.next() {
        case .end, .timeout: break
        case .packet: Issue.record("no packet should match udp port 9")
        case .error(let message): Issue.record("unexpected error \(message)")
        }
    }

    @Test func timestampResolutionArithmetic() {
        #expect(TimestampResolution(optionByte: 6) == .microseconds)
        #expect(TimestampResolution(optionByte: 0x8A) == .binary(10))
        #expect(TimestampResolution.decimal(0).nanoseconds(UInt64.max) == UInt64.max)  // saturates
        #expect(TimestampResolution.decimal(127).nanoseconds(UInt64.max) == 0)
        #expect(TimestampResolution.decimal(28).nanoseconds(UInt64.max) == 1)  // 1.8e19 / 1e19
        #expect(TimestampResolution.binary(0).nanoseconds(3) == 3_000_000_000)
        #expect(TimestampResolution.binary(0).nanoseconds(UInt64.max) == UInt64.max)
        #expect(TimestampResolution.binary(127).nanoseconds(UInt64.max) == 0)
        #expect(TimestampResolution.binary(64).nanoseconds(UInt64.max) == 999_999_999)
        #expect(TimestampResolution.binary(30).nanoseconds(1 << 30) == 1_000_000_000)
        #expect(InterfaceClock(resolution: .decimal(9), offsetSeconds: -2).nanoseconds(high: 0, low: 1) == -1_999_999_999)
        #expect(InterfaceClock(resolution: .decimal(9), offsetSeconds: Int64.max).nanoseconds(high: 0, low: 1) == Int64.max)
        #expect(InterfaceClock(resolution: .decimal(9), offsetSeconds: Int64.min).nanoseconds(high: 0, low: 1) == Int64.min)
        #expect(InterfaceClock(resolution: .decimal(9)).nanoseconds(high: .max, low: .max) == Int64.max)
    }
}
