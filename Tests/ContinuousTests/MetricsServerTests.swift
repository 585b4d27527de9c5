import Telemetry
import Testing

/// `--metrics-listen` addresses: numeric IPv4 or bracketed IPv6 and a port, or a clear error.
struct MetricsServerTests {
    @Test func addressesParse() {
        #expect(MetricsServer.parse("127.0.0.1:9273")! == ("127.0.0.1", 9273))
        #expect(MetricsServer.parse("0.0.0.0:0")! == ("0.0.0.0", 0))
        #expect(MetricsServer.parse("[::1]:9273")! == ("::1", 9273))
        #expect(MetricsServer.parse("[2001:db8::1]:80")! == ("2001:db8::1", 80))
    }

    @Test(arguments: ["", ":9273", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9273", "[::1]", "localhost"])
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
