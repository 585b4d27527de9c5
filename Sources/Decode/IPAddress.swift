/// An IPv4 or IPv6 address as a fixed-size value (no allocation), ordered and hashable so
/// it can sit inside flow keys.
///
/// IPv4 addresses are held as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) with `isIPv4` set, so
/// the two families never compare equal.
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isIPv4: Bool

    public init(ipv4: UInt32) {
        self.high = 0
        self.low = 0x0000_FFFF_0000_0000 | UInt64(ipv4)
        self.isIPv4 = true
    }

    /// An address from the parts `high`, `low` and `isIPv4` hold (an IPv4 address mapped).
    @inlinable
    public init(high: UInt64, low: UInt64, isIPv4: Bool) {
        self.high = high
        self.low = low
        self.isIPv4 = isIPv4
    }

    public init(ipv6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        self.isIPv4 = false
    }

    /// An address from its bytes in network order: 4 bytes make an IPv4 address, 16 an
    /// IPv6 one; any other count gives `nil`.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        switch bytes.count {
        case 4:
            self.init(ipv4: bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            var high: UInt64 = 0
            var low: UInt64 = 0
            for (index, byte) in bytes.enumerated() {
                if index < 8 {
                    high = high << 8 | UInt64(byte)
                } else {
                    low = low << 8 | UInt64(byte)
                }
            }
            self.init(ipv6High: high, low: low)
        default:
            return nil
        }
    }

    /// The IPv4 address as a 32-bit integer (meaningful only when `isIPv4`).
    public var ipv4Value: UInt32 { UInt32(truncatingIfNeeded: low) }

    public static let zeroIPv4 = IPAddress(ipv4: 0)

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.isIPv4 != rhs.isIPv4 { return lhs.isIPv4 }
        if lhs.high != rhs.high { return lhs.high < rhs.high }
        return lhs.low < rhs.low
    }

    // MARK: Printing

    /// The 16-bit group `index` (0...7) of the IPv6 form.
    private func group(_ index: Int) -> UInt16 {
        let word = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (index & 3)))
    }

    private static func dottedQuad(_ v: UInt32) -> String {
        "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
    }

    /// Dotted quad for IPv4; RFC 5952 text for IPv6: lower-case hex without leading zeros,
    /// the longest run of two or more zero groups (the first on a tie) shortened to `::`,
    /// and an IPv4-mapped address (`::ffff:0:0/96`) written with a dotted-quad tail.
    public var description: String {
        if isIPv4 {
            return Self.dottedQuad(ipv4Value)
        }
        if high == 0 && low >> 32 == 0xFFFF {
            return "::ffff:" + Self.dottedQuad(ipv4Value)
        }
        var bestStart = -1
        var bestLength = 0
        var runStart = -1
        for index in 0...8 {
            if index < 8 && group(index) == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                let runLength = index - runStart
                if runLength >= 2 && runLength > bestLength {
                    bestStart = runStart
                    bestLength = runLength
                }
                runStart = -1
            }
        }
        var text = ""
        var index = 0
        while index < 8 {
            if index == bestStart {
                text += "::"
                index += bestLength
                continue
            }
            if index > 0 && index != bestStart + bestLength { text += ":" }
            text += String(group(index), radix: 16)
            index += 1
        }
        return text
    }

    // MARK: Parsing

    /// Parses dotted-quad IPv4 (four decimal octets, no leading zeros) or RFC 4291 IPv6
    /// text (hex groups, at most one `::`, an optional dotted-quad tail). Returns `nil` for
    /// anything else. IPv6 text always gives an IPv6 address, even `::ffff:a.b.c.d`.
    public init?(_ text: Substring) {
        let utf8 = Array(text.utf8)
        if !utf8.contains(UInt8(ascii: ":")) {
            guard let v4 = Self.parseIPv4(utf8[...]) else { return nil }
            self.init(ipv4: v4)
            return
        }
        guard let (high, low) = Self.parseIPv6(utf8) else { return nil }
        self.init(ipv6High: high, low: low)
    }

    public init?(_ text: String) {
        self.init(Substring(text))
    }

    private static func parseIPv4(_ text: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        var octet: UInt32 = 0
        var digits = 0
        var firstDigit: UInt8 = 0
        for c in text {
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                if digits == 0 { firstDigit = c }
                digits += 1
                guard digits <= 3, !(digits > 1 && firstDigit == UInt8(ascii: "0")) else { return nil }
                octet = octet * 10 + UInt32(c - UInt8(ascii: "0"))
                guard octet <= 255 else { return nil }
            } else if c == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | octet
                octets += 1
                octet = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        return value << 8 | octet
    }

    private static func hexValue(_ c: UInt8) -> UInt16? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// After BIND's `inet_pton6`: groups are collected left to right, the position of `::`
    /// is remembered, and the groups after it are moved to the end at the close.
    private static func parseIPv6(_ text: [UInt8]) -> (UInt64, UInt64)? {
        let colon = UInt8(ascii: ":")
        var groups = [UInt16](repeating: 0, count: 8)
        var count = 0
        var doubleColonAt = -1
        var index = 0
        if text.first == colon {
            // A leading colon must be half of "::".
            guard text.count > 1, text[1] == colon else { return nil }
            index = 1
        }
        var tokenStart = index
        var value: UInt16 = 0
        var digits = 0
        var sawIPv4Tail = false
        while index < text.count {
            let c = text[index]
            index += 1
            if let hex = hexValue(c) {
                digits += 1
                guard digits <= 4 else { return nil }
                value = value << 4 | hex
                continue
            }
            if c == colon {
                tokenStart = index
                if digits == 0 {
                    // The second colon of "::"; a second "::" (or ":::") is junk.
                    guard doubleColonAt < 0 else { return nil }
                    doubleColonAt = count
                    continue
                }
                // A group ends; a trailing single colon is junk.
                guard index < text.count, count < 8 else { return nil }
                groups[count] = value
                count += 1
                value = 0
                digits = 0
                continue
            }
            if c == UInt8(ascii: "."), count <= 6, let v4 = parseIPv4(text[tokenStart...]) {
                groups[count] = UInt16(truncatingIfNeeded: v4 >> 16)
                groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                count += 2
                digits = 0
                sawIPv4Tail = true
                break
            }
            return nil
        }
        if digits > 0 && !sawIPv4Tail {
            guard count < 8 else { return nil }
            groups[count] = value
            count += 1
        }
        if doubleColonAt >= 0 {
            // "::" stands for at least one zero group.
            guard count < 8 else { return nil }
            let moved = count - doubleColonAt
            for i in 0..<moved {
                groups[7 - i] = groups[count - 1 - i]
                groups[count - 1 - i] = 0
            }
            count = 8
        }
        guard count == 8 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
        return (high, low)
    }
}
