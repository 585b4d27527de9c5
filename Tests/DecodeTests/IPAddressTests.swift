import Decode
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("2001:db8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("::", "::"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // one zero group stays
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // first of two equal runs
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // longest run wins
        ("1::", "1::"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("fe80::1:2", "fe80::1:2"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("::ffff:c000:201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func ipv6RoundTrip(_ text: String, _ printed: String) throws {
        let address = try #require(IPAddress(text))
        #expect(!address.isIPv4)
        #expect(address.description == printed)
        #expect(IPAddress(printed) == address)
    }

    @Test(arguments: ["0.0.0.0", "198.51.100.10", "255.255.255.255", "10.0.0.1"])
    func ipv4RoundTrip(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.isIPv4)
        #expect(address.description == text)
    }

    @Test(arguments: [
        "", "1.2.3", "256.1.1.1", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "01.2.3.4", "1.2.3.-4", "+1.2.3.4",
        "a.b.c.d", "1.2.3.4 ", " 1.2.3.4", "1::2::3", ":::", "12345::", ":1", "1:", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8", "g::1", "+1::", "-1::", "::1.2.3", "::256.1.1.1", "1.2.3.4::",
        "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "::ffff:1.2.3.04", "１.2.3.4",
    ])
    func rejectsJunk(_ text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test func familiesNeverCompareEqual() throws {
        let v4 = try #require(IPAddress("192.0.2.1"))
        let mapped = try #require(IPAddress("::ffff:192.0.2.1"))
        #expect(v4 != mapped)
        #expect(v4 < mapped)
        #expect(v4.high == mapped.high && v4.low == mapped.low)
    }

    @Test func ordering() throws {
        let a = try #require(IPAddress("10.0.0.1"))
        let b = try #require(IPAddress("10.0.0.2"))
        let c = try #require(IPAddress("2001:db8::1"))
        let d = try #require(IPAddress("2001:db8::1:0"))
        #expect(a < b && b < c && c < d)
        #expect(!(b < a))
    }

    @Test func fromRawBytes() throws {
        let v4 = try #require(IPAddress(bytes: [198, 51, 100, 10]))
        #expect(v4 == IPAddress("198.51.100.10"))
        let v6 = try #require(IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x10]))
        #expect(v6 == IPAddress("2001:db8::10"))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(IPAddress(ipv4: 0xC633_640A) == v4)
        #expect(v4.ipv4Value == 0xC633_640A)
    }

    @Test func substringParsing() throws {
        let line = "src=198.51.100.10 dst=2001:db8::1"
        let parts = line.split(separator: " ")
        let source = try #require(IPAddress(parts[0].dropFirst(4)))
        let destination = try #require(IPAddress(parts[1].dropFirst(4)))
        #expect(source.description == "198.51.100.10")
        #expect(destination.description == "2001:db8::1")
    }
}
