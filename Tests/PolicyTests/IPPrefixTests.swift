import Decode
import Testing
import Policy

@Suite struct IPPrefixTests {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test func parsesIPv4() throws {
        let prefix = try #require(IPPrefix("198.51.100.0/24"))
        #expect(prefix.address == ip("198.51.100.0"))
        #expect(prefix.length == 24)
        #expect(prefix.description == "198.51.100.0/24")
        #expect(IPPrefix("0.0.0.0/0")?.length == 0)
        #expect(IPPrefix("203.0.113.7/32")?.length == 32)
        #expect(IPPrefix("203.0.113.7")?.length == 32)
        #expect(IPPrefix("203.0.113.7") == IPPrefix("203.0.113.7/32"))
    }

    @Test func parsesIPv6() throws {
        let prefix = try #require(IPPrefix("2001:db8:0:198::/64"))
        #expect(prefix.address == ip("2001:db8:0:198::"))
        #expect(prefix.length == 64)
        #expect(prefix.description == "2001:db8:0:198::/64")
        #expect(IPPrefix("::/0")?.length == 0)
        #expect(IPPrefix("2001:db8::1/128")?.length == 128)
        #expect(IPPrefix("2001:db8::1")?.length == 128)
        #expect(IPPrefix("2001:DB8::/32")?.description == "2001:db8::/32")
    }

    @Test(arguments: [
        ("203.0.113.0/33", "\"203.0.113.0/33\" is not a CIDR prefix (prefix length 33 > 32)"),
        ("2001:db8::/129", "\"2001:db8::/129\" is not a CIDR prefix (prefix length 129 > 128)"),
        ("198.51.100.1/24", "\"198.51.100.1/24\" has host bits set; did you mean 198.51.100.0/24?"),
        ("2001:db8::1/64", "\"2001:db8::1/64\" has host bits set; did you mean 2001:db8::/64?"),
        ("0.0.0.1/0", "\"0.0.0.1/0\" has host bits set; did you mean 0.0.0.0/0?"),
        ("10.0.0.0/", "\"10.0.0.0/\" is not a CIDR prefix (the prefix length after \"/\" is missing)"),
        ("10.0.0.0/x", "\"10.0.0.0/x\" is not a CIDR prefix (prefix length \"x\" is not a number)"),
        ("10.0.0.0/-1", "\"10.0.0.0/-1\" is not a CIDR prefix (prefix length \"-1\" is not a number)"),
        ("10.0.0.0/8/8", "\"10.0.0.0/8/8\" is not a CIDR prefix (prefix length \"8/8\" is not a number)"),
        ("10.0.0/8", "\"10.0.0/8\" is not a CIDR prefix (\"10.0.0\" is not an IPv4 or IPv6 address)"),
        ("/8", "\"/8\" is not a CIDR prefix (the address is missing)"),
        ("", "\"\" is not a CIDR prefix (the address is missing)"),
        ("eth0", "\"eth0\" is not a CIDR prefix (\"eth0\" is not an IPv4 or IPv6 address)"),
    ])
    func rejects(text: String, reason: String) {
        #expect(IPPrefix(text) == nil)
        do {
            _ = try IPPrefix(parsing: text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description == reason)
            #expect(error.text == text)
        }
    }

    @Test func containsIPv4() throws {
        let prefix = try #require(IPPrefix("198.51.100.0/24"))
        #expect(prefix.contains(ip("198.51.100.0")))
        #expect(prefix.contains(ip("198.51.100.255")))
        #expect(!prefix.contains(ip("198.51.101.0")))
        #expect(!prefix.contains(ip("198.51.99.255")))
        // The IPv4-mapped IPv6 spelling of an address in the prefix is still IPv6.
        #expect(!prefix.contains(ip("::ffff:198.51.100.1")))

        let host = try #require(IPPrefix("198.51.100.60/32"))
        #expect(host.contains(ip("198.51.100.60")))
        #expect(!host.contains(ip("198.51.100.61")))

        let everything = try #require(IPPrefix("0.0.0.0/0"))
        #expect(everything.contains(ip("255.255.255.255")))
        #expect(everything.contains(ip("0.0.0.0")))
        #expect(!everything.contains(ip("::")))
        #expect(!everything.contains(ip("2001:db8::1")))
    }

    @Test func containsIPv6() throws {
        let prefix = try #require(IPPrefix("2001:db8:0:198::/64"))
        #expect(prefix.contains(ip("2001:db8:0:198::1")))
        #expect(prefix.contains(ip("2001:db8:0:198:ffff:ffff:ffff:ffff")))
        #expect(!prefix.contains(ip("2001:db8:0:199::")))

        let host = try #require(IPPrefix("2001:db8::1/128"))
        #expect(host.contains(ip("2001:db8::1")))
        #expect(!host.contains(ip("2001:db8::2")))

        let everything = try #require(IPPrefix("::/0"))
        #expect(everything.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")))
        #expect(everything.contains(ip("::ffff:1.2.3.4")))
        #expect(!everything.contains(ip("1.2.3.4")))

        // Prefix lengths on either side of the boundary between the two 64-bit halves.
        let short = try #require(IPPrefix("2001:db8::/63"))
        #expect(short.contains(ip("2001:db8:0:1::")))
        #expect(!short.contains(ip("2001:db8:0:2::")))
        let long = try #require(IPPrefix("2001:db8::8000:0:0:0/65"))
        #expect(long.contains(ip("2001:db8::ffff:0:0:1")))
        #expect(!long.contains(ip("2001:db8::7fff:0:0:1")))
    }

    @Test func overlaps() {
        let p = { (text: String) in IPPrefix(text)! }
        #expect(p("198.51.100.0/24").overlaps(p("198.51.100.128/25")))
        #expect(p("198.51.100.128/25").overlaps(p("198.51.100.0/24")))
        #expect(p("198.51.100.0/24").overlaps(p("198.51.100.0/24")))
        #expect(!p("198.51.100.0/25").overlaps(p("198.51.100.128/25")))
        #expect(p("0.0.0.0/0").overlaps(p("203.0.113.9/32")))
        #expect(p("203.0.113.9/32").overlaps(p("203.0.113.9")))
        #expect(!p("203.0.113.9/32").overlaps(p("203.0.113.10/32")))
        #expect(p("::/0").overlaps(p("2001:db8::/32")))
        #expect(p("2001:db8::/32").overlaps(p("2001:db8:0:198::/64")))
        #expect(!p("2001:db8::/32").overlaps(p("2001:db9::/32")))
        #expect(p("2001:db8::1/128").overlaps(p("2001:db8::/127")))
        // Families never overlap, not even the default routes.
        #expect(!p("0.0.0.0/0").overlaps(p("::/0")))
        #expect(!p("::/0").overlaps(p("0.0.0.0/0")))
        #expect(!p("::ffff:0:0/96").overlaps(p("10.0.0.0/8")))
    }
}
