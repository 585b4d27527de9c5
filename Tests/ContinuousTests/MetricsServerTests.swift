import Foundation
import Telemetry
import TestSupport
import Testing

/// `--metrics-listen` addresses: numeric IPv4 or bracketed IPv6 and a port, or a clear error.
struct MetricsServerTests {
    @Test func addressesParse() {
        #expect(MetricsServer.parse("127.0.0.1:9273")! == ("127.0.0.1", 9273))
        #expect(MetricsServer.parse("0.0.0.0:0")! == ("0.0.0.0", 0))
        #expect(MetricsServer.parse("[::1]:9273")! == ("::1", 9273))
        #expect(MetricsServer.parse("[2001:db8::1]:80")! == ("2001:db8::1", 80))
        // Every address, IPv6 and IPv4, as node_exporter's --web.listen-address takes it.
        #expect(MetricsServer.parse(":9273")! == ("::", 9273))
        #expect(MetricsServer.parse("[::]:9273")! == ("::", 9273))
    }

    /// `:PORT` listens on every address: an IPv4 client reaches it.
    @Test func everyAddressTakesIPv4AndIPv6() throws {
        let server = try MetricsServer(address: ":0") { Array("x 1\n".utf8) }
        defer { server.stop() }
        for host in ["127.0.0.1", "[::1]"] {
            let fetched = try run(URL(fileURLWithPath: "/usr/bin/curl"), ["-sSg", "http://\(host):\(server.port)/metrics"])
            #expect(fetched.stdout == "x 1\n", "\(host): \(fetched.stderr)")
        }
    }

    @Test(arguments: ["", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9273", "[::1]", "localhost"])
    func malformedAddressesAreRefused(address: String) {
        #expect(MetricsServer.parse(address) == nil)
    }

    @Test func unusableAddressesSayWhy() {
        #expect(throws: MetricsServer.Failure.self) { try MetricsServer(address: "localhost:9273") { [] } }
        do {
            _ = try MetricsServer(address: "example:1") { [] }
        } catch {
            #expect(error.description.contains("ADDRESS:PORT") || error.description.contains("numeric"), "\(error)")
        }
        do {
            // 192.0.2.1 (documentation) is not an address of this host.
            _ = try MetricsServer(address: "192.0.2.1:9273") { [] }
            Issue.record("bound to an address this host does not have")
        } catch {
            #expect(error.description.contains("cannot listen on 192.0.2.1:9273"), "\(error)")
        }
    }

    @Test func servesOnAPortTheKernelChose() throws {
        let server = try MetricsServer(address: "127.0.0.1:0") { Array("x 1\n".utf8) }
        defer { server.stop() }
        #expect(server.port != 0)
        #expect(server.url == "http://127.0.0.1:\(server.port)/metrics")
    }
}
