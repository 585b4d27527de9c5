import Decode

/// An IPv4 or IPv6 network prefix in CIDR notation (`198.51.100.0/24`, `2001:db8::/64`).
///
/// The address is always the network address: text with host bits set (`198.51.100.1/24`)
/// is rejected rather than silently truncated, because in a policy it is usually a typo.
/// IPv4 and IPv6 prefixes never contain or overlap each other, not even `0.0.0.0/0` and `::/0`.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits are zero).
    public let address: IPAddress
    /// Prefix length: 0–32 for IPv4, 0–128 for IPv6.
    public let length: Int

    /// Why a piece of text is not a prefix.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// The text that was rejected.
        public let text: String
        /// A complete, human-readable sentence, e.g.
        /// `"203.0.113.0/33" is not a CIDR prefix (prefix length 33 > 32)`.
        public let description: String
    }

    /// Parses `a.b.c.d/n`, `x:y::/n` or a bare address (a /32 or /128 prefix).
    /// Returns nil for anything else, including text with host bits set; use
    /// `init(parsing:)` to learn why.
    public init?(_ text: String) {
        guard let prefix = try? IPPrefix(parsing: text) else { return nil }
        self = prefix
    }

    /// Parses like `init?(_:)`, but says what is wrong with rejected text.
    public init(parsing text: String) throws(ParseError) {
        func fail(_ reason: String) -> ParseError {
            ParseError(text: text, description: "\"\(text)\" is not a CIDR prefix (\(reason))")
        }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw fail(parts[0].isEmpty ? "the address is missing" : "\"\(parts[0])\" is not an IPv4 or IPv6 address")
        }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(digits)
            else {
                throw fail(parts[1].isEmpty ? "the prefix length after \"/\" is missing"
                    : "prefix length \"\(parts[1])\" is not a number")
            }
            guard value <= maximum else { throw fail("prefix length \(value) > \(maximum)") }
            length = value
        }
        let network = IPPrefix.masked(address, length: length)
        guard network == address else {
            throw ParseError(text: text, description:
                "\"\(text)\" has host bits set; did you mean \(network)/\(length)?")
        }
        self.address = network
        self.length = length
    }

    /// The prefix of `length` bits that contains `address` (its host bits cleared), as an
    /// interface address with its prefix length names its connected subnet; nil for a length
    /// the address family cannot have.
    public init?(network address: IPAddress, length: Int) {
        guard length >= 0, length <= (address.isIPv4 ? 32 : 128) else { return nil }
        self.address = IPPrefix.masked(address, length: length)
        self.length = length
    }

    /// `address/length`, with IPv6 in RFC 5952 form.
    public var description: String { "\(address)/\(length)" }

    /// Whether `address` lies in this prefix. Addresses of the other family never do.
    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == self.address.isIPv4 && IPPrefix.masked(address, length: length) == self.address
    }

    /// Whether the two prefixes share at least one address (one contains the other).
    public func overlaps(_ other: IPPrefix) -> Bool {
        length <= other.length ? contains(other.address) : other.contains(address)
    }

    /// `address` with every bit after the first `length` (of its family) cleared.
    static func masked(_ address: IPAddress, length: Int) -> IPAddress {
        // IPv4 sits in the low 32 bits of the mapped form, after 96 fixed bits.
        let bits = address.isIPv4 ? 96 + length : length
        let highMask: UInt64 = bits >= 64 ? ~0 : (bits <= 0 ? 0 : ~0 << UInt64(64 - bits))
        let lowMask: UInt64 = bits <= 64 ? 0 : (bits >= 128 ? ~0 : ~0 << UInt64(128 - bits))
        var result = address
        result.high &= highMask
        result.low &= lowMask
        return result
    }
}
