/// Constants of the pcapng format (draft-ietf-opsawg-pcapng) shared by the reader and the
/// writer.
enum Pcapng {
    /// Block types.
    static let sectionHeaderBlock: UInt32 = 0x0A0D_0D0A
    static let interfaceDescriptionBlock: UInt32 = 0x0000_0001
    /// The obsolete Packet Block (2), like an EPB with a 16-bit interface id.
    static let packetBlock: UInt32 = 0x0000_0002
    static let simplePacketBlock: UInt32 = 0x0000_0003
    static let nameResolutionBlock: UInt32 = 0x0000_0004
    static let interfaceStatisticsBlock: UInt32 = 0x0000_0005
    static let enhancedPacketBlock: UInt32 = 0x0000_0006
    static let systemdJournalExportBlock: UInt32 = 0x0000_0009
    static let decryptionSecretsBlock: UInt32 = 0x0000_000A
    static let customBlock: UInt32 = 0x0000_0BAD
    static let customBlockNoCopy: UInt32 = 0x4000_0BAD

    /// The Section Header Block's byte-order magic, as written in the section's own order.
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    /// Option codes.
    static let optionEnd: UInt16 = 0
    static let shbUserApplication: UInt16 = 4
    static let ifName: UInt16 = 2
    static let ifDescription: UInt16 = 3
    static let ifTimestampResolution: UInt16 = 9
    static let ifTimestampOffset: UInt16 = 14

    /// Every block has a type, a total length, and a trailing copy of the total length.
    static let minimumBlockLength = 12
    /// Larger blocks are treated as corrupt instead of being buffered. Real packets are at
    /// most 256 KiB (Linux's maximum snaplen), so this leaves a wide margin.
    static let maximumBlockLength = 256 * 1024 * 1024

    /// Block types the reader skips without a warning: they are valid, just not needed.
    static func isKnownSkippable(_ type: UInt32) -> Bool {
        switch type {
        case nameResolutionBlock, interfaceStatisticsBlock, systemdJournalExportBlock, decryptionSecretsBlock,
            customBlock, customBlockNoCopy:
            true
        default:
            false
        }
    }

    /// A human-readable block type name for messages.
    static func blockName(_ type: UInt32) -> String {
        switch type {
        case sectionHeaderBlock: "Section Header Block"
        case interfaceDescriptionBlock: "Interface Description Block"
        case packetBlock: "Packet Block"
        case simplePacketBlock: "Simple Packet Block"
        case nameResolutionBlock: "Name Resolution Block"
        case interfaceStatisticsBlock: "Interface Statistics Block"
        case enhancedPacketBlock: "Enhanced Packet Block"
        case systemdJournalExportBlock: "systemd Journal Export Block"
        case decryptionSecretsBlock: "Decryption Secrets Block"
        case customBlock, customBlockNoCopy: "Custom Block"
        default: "block of type \(hex32(type))"
        }
    }
}

/// An interface's timestamp unit (`if_tsresol`): 10^-n or 2^-n seconds.
enum TimestampResolution: Equatable, Sendable {
    case decimal(UInt8)
    case binary(UInt8)

    /// The pcapng default when `if_tsresol` is absent: microseconds.
    static let microseconds = TimestampResolution.decimal(6)

    /// Decodes the `if_tsresol` byte: high bit clear = 10^-n, set = 2^-n.
    init(optionByte: UInt8) {
        self = optionByte & 0x80 == 0 ? .decimal(optionByte) : .binary(optionByte & 0x7F)
    }

    private static let powersOfTen: [UInt64] = {
        var powers: [UInt64] = [1]
        for _ in 1...19 { powers.append(powers[powers.count - 1] * 10) }
        return powers
    }()

    /// Converts a count of this unit to nanoseconds, rounding down and saturating at
    /// `UInt64.max`.
    func nanoseconds(_ units: UInt64) -> UInt64 {
        switch self {
        case .decimal(let exponent):
            if exponent == 9 { return units }
            if exponent < 9 {
                let (product, overflow) = units.multipliedReportingOverflow(by: Self.powersOfTen[Int(9 - exponent)])
                return overflow ? UInt64.max : product
            }
            let divisorExponent = Int(exponent - 9)
            return divisorExponent >= Self.powersOfTen.count ? 0 : units / Self.powersOfTen[divisorExponent]
        case .binary(let exponent):
            // units * 10^9 / 2^exponent, computed on the 128-bit product so nothing is lost.
            let (high, low) = units.multipliedFullWidth(by: 1_000_000_000)
            let shift = Int(exponent)
            if shift == 0 { return high == 0 ? low : UInt64.max }
            if shift >= 128 { return 0 }
            if shift >= 64 { return high >> UInt64(shift - 64) }
            if high >> UInt64(shift) != 0 { return UInt64.max }
            return (high << UInt64(64 - shift)) | (low >> UInt64(shift))
        }
    }
}

/// How to turn an interface's raw 64-bit timestamps into `Timestamp` nanoseconds.
struct InterfaceClock: Equatable, Sendable {
    var resolution: TimestampResolution = .microseconds
    /// `if_tsoffset`: seconds to add to every timestamp.
    var offsetSeconds: Int64 = 0

    /// Nanoseconds since the epoch for a raw timestamp, saturating at the `Int64` range.
    @inline(__always)
    func nanoseconds(high: UInt32, low: UInt32) -> Int64 {
        let units = UInt64(high) << 32 | UInt64(low)
        if offsetSeconds == 0, case .decimal(let exponent) = resolution, exponent == 6 || exponent == 9 {
            // Micro- and nanoseconds, nearly every file's: inline, without the general conversion.
            let (product, overflow) = units.multipliedReportingOverflow(by: exponent == 6 ? 1000 : 1)
            return overflow || product > UInt64(Int64.max) ? Int64.max : Int64(product)
        }
        let unsigned = resolution.nanoseconds(units)
        let base = unsigned > UInt64(Int64.max) ? Int64.max : Int64(unsigned)
        if offsetSeconds == 0 { return base }
        let (offset, overflow) = offsetSeconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return offsetSeconds > 0 ? Int64.max : Int64.min }
        let (sum, sumOverflow) = base.addingReportingOverflow(offset)
        if sumOverflow { return offset > 0 ? Int64.max : Int64.min }
        return sum
    }
}
