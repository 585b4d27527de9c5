/// A point in time as a capture records it: nanoseconds since the Unix epoch, UTC.
///
/// pcap stores seconds and micro- or nanoseconds; pcapng stores a 64-bit count in a
/// per-interface resolution. Both are converted to this one representation when read.
public struct Timestamp: Hashable, Comparable, Sendable {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var nanoseconds: Int64

    @inlinable
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// Converts `seconds` plus `fraction` counted in `unitsPerSecond` (10^6 for classic
    /// microsecond pcap, 10^9 for nanosecond pcap). Saturates instead of overflowing.
    public init(seconds: Int64, fraction: Int64, unitsPerSecond: Int64) {
        let (whole, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let fractionNanos: Int64
        if unitsPerSecond == 1_000_000_000 {
            fractionNanos = fraction
        } else if unitsPerSecond > 0 && unitsPerSecond < 1_000_000_000 && 1_000_000_000 % unitsPerSecond == 0 {
            fractionNanos = fraction.multipliedReportingOverflow(by: 1_000_000_000 / unitsPerSecond).partialValue
        } else if unitsPerSecond > 0 {
            fractionNanos = Int64((Double(fraction) / Double(unitsPerSecond)) * 1e9)
        } else {
            fractionNanos = 0
        }
        let (sum, o2) = whole.addingReportingOverflow(fractionNanos)
        self.nanoseconds = (o1 || o2) ? Int64.max : sum
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// RFC 3339 in UTC with nanosecond fraction, e.g. `2026-11-25T13:09:14.123456789Z`.
    public var rfc3339: String {
        var seconds = nanoseconds / 1_000_000_000
        var nanos = nanoseconds % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Self.civilDate(fromDays: days)
        guard (0...9999).contains(year) else {
            // Outside four digits (never in a capture that makes sense): the general way.
            return "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))T"
                + "\(Self.pad(secondOfDay / 3600, 2)):\(Self.pad((secondOfDay % 3600) / 60, 2)):"
                + "\(Self.pad(secondOfDay % 60, 2)).\(Self.pad(nanos, 9))Z"
        }
        // YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ, 30 bytes written in place (a report writes two per
        // flow, and a million flows' worth of small strings costs more than the digits).
        return String(unsafeUninitializedCapacity: 30) { buffer in
            func digits(_ value: Int64, _ width: Int, at offset: Int) {
                var value = value
                for position in stride(from: offset + width - 1, through: offset, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
            }
            digits(year, 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            digits(month, 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            digits(day, 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            digits(secondOfDay / 3600, 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            digits((secondOfDay % 3600) / 60, 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            digits(secondOfDay % 60, 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            digits(nanos, 9, at: 20)
            buffer[29] = UInt8(ascii: "Z")
            return 30
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Howard Hinnant's days-from-civil inverse (proleptic Gregorian calendar).
    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
