// Unchecked big-endian reads over the frame bytes, and the one length check every header
// view performs before it uses them.
//
// `loadUnaligned(fromByteOffset:as:)` has no bounds check in optimised builds: a read past
// the end returns garbage or faults. Every call below is
// therefore made only by a header view whose initialiser has already proved, with
// `checkLength`, that the bytes it reads lie inside the buffer.

extension UnsafeRawBufferPointer {
    /// The byte at `offset`. The caller has proved `0 <= offset < count`.
    @inline(__always)
    func uncheckedUInt8(at offset: Int) -> UInt8 {
        loadUnaligned(fromByteOffset: offset, as: UInt8.self)
    }

    /// The big-endian `UInt16` at `offset`. The caller has proved `offset + 2 <= count`.
    @inline(__always)
    func uncheckedBigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// The big-endian `UInt32` at `offset`. The caller has proved `offset + 4 <= count`.
    @inline(__always)
    func uncheckedBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The big-endian `UInt64` at `offset`. The caller has proved `offset + 8 <= count`.
    @inline(__always)
    func uncheckedBigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The IPv4 address at `offset`. The caller has proved `offset + 4 <= count`.
    @inline(__always)
    func uncheckedIPv4Address(at offset: Int) -> IPAddress {
        IPAddress(ipv4: uncheckedBigEndianUInt32(at: offset))
    }

    /// The IPv6 address at `offset`. The caller has proved `offset + 16 <= count`.
    @inline(__always)
    func uncheckedIPv6Address(at offset: Int) -> IPAddress {
        // offset + 8 <= offset + 16 <= count, so the second read is in bounds too.
        IPAddress(
            ipv6High: uncheckedBigEndianUInt64(at: offset),
            low: uncheckedBigEndianUInt64(at: offset &+ 8))
    }
}

/// The end of the bytes a header may occupy, and what set it: the end of the captured
/// bytes, or an earlier end an IP length field gave. Always `0 <= end <= bytes.count`.
struct Limit {
    let end: Int
    let source: DecodeError.LengthSource

    /// The end of the captured bytes.
    init(capture bytes: UnsafeRawBufferPointer) {
        self.end = bytes.count
        self.source = .capture
    }

    /// An end a length field gave; the caller has proved `end <= bytes.count`.
    init(end: Int, source: DecodeError.LengthSource) {
        self.end = end
        self.source = source
    }
}

/// Throws `.tooShort` unless `length` bytes starting at `start` lie inside `start..<limit.end`.
///
/// `start` may lie anywhere; outside `0...limit.end` it is reported as 0 bytes available
/// rather than trusted.
///
/// - Throws: `DecodeError` `.tooShort` at `start`, with `required = length`, `available` =
///   the bytes between `start` and `limit.end`, and the limit's length source.
@inline(__always)
func checkLength(
    start: Int, limit: Limit, length: Int, layer: DecodeError.Layer, field: StaticString
) throws(DecodeError) {
    // Compared before subtracting: when 0 <= start <= end both are in 0...bytes.count, so
    // end - start cannot overflow.
    let available = start >= 0 && start <= limit.end ? limit.end &- start : 0
    guard length >= 0, available >= length else {
        throw tooShort(start: start, limit: limit, length: length, available: available, layer: layer, field: field)
    }
}

/// `checkLength`'s error, built out of line: the check is inlined into every header view
/// on the per-packet path, and the rarely taken error would bloat each copy of it.
@inline(never)
private func tooShort(
    start: Int, limit: Limit, length: Int, available: Int, layer: DecodeError.Layer, field: StaticString
) -> DecodeError {
    DecodeError(
        code: .tooShort, layer: layer, offset: start, required: length, available: available, field: field,
        lengthSource: limit.source)
}
