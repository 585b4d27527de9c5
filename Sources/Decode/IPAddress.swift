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

    public init(ipv6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        self.isIPv4 = false
    }

    /// The IPv4 address as a 32-bit integer (meaningful only when `isIPv4`).
    public var ipv4Value: UInt32 { UInt32(truncatingIfNeeded: low) }

    public static let zeroIPv4 = IPAddress(ipv4: 0)

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.isIPv4 != rhs.isIPv4 { return lhs.isIPv4 }
        if lhs.high != rhs.high { return lhs.high < rhs.high }
        return lhs.low < rhs.low
    }

    /// Dotted quad for IPv4; RFC 5952 text (lower case, longest zero run compressed) for IPv6.
    public var description: String {
        if isIPv4 {
            let v = ipv4Value
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
        }
        // Longest run of zero groups (length >= 2), first one wins on a tie.
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength && i - runStart >= 2 {
                    bestStart = runStart
                    bestLength = i - runStart
                }
                runStart = -1
            }
        }
        var text = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                text += "::"
                i += bestLength
                continue
            }
            if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
            text += String(groups[i], radix: 16)
            i += 1
        }
        return text
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail).
    public init?(_ text: Substring) {
        if !text.contains(":") {
            guard let v4 = Self.parseIPv4(text) else { return nil }
            self.init(ipv4: v4)
            return
        }
        guard let (h, l) = Self.parseIPv6(text) else { return nil }
        self.init(ipv6High: h, low: l)
    }

    public init?(_ text: String) {
        self.init(Substring(text))
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func parseIPv6(_ text: Substring) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var sawDoubleColon = false
        var halves: [Substring] = [text]
        var cursor = text.startIndex
        while cursor < text.endIndex {
            let next = text.index(after: cursor)
            if text[cursor] == ":" && next < text.endIndex && text[next] == ":" {
                halves = [text[..<cursor], text[text.index(after: next)...]]
                break
            }
            cursor = next
        }
        if halves.count == 2 {
            var last: Character = " "
            for c in halves[1] {
                if c == ":" && last == ":" { return nil }  // a second "::"
                last = c
            }
        }
        sawDoubleColon = halves.count == 2
        func parseHalf(_ half: Substring, allowIPv4Tail: Bool) -> [UInt16]? {
            if half.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = half.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1 && allowIPv4Tail && piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4, let g = UInt16(piece, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        if sawDoubleColon {
            guard let head = parseHalf(halves[0], allowIPv4Tail: false),
                let tail = parseHalf(halves[1], allowIPv4Tail: true)
            else { return nil }
            guard head.count + tail.count <= 7 else { return nil }
            groups = head
            tailGroups = tail
            groups += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tailGroups
        } else {
            guard let all = parseHalf(halves[0], allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
        return (high, low)
    }
}
