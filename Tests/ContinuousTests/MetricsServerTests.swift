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

/// The endpoint's answers, and that idle or slow clients neither hold up a scrape nor pile up.
struct MetricsServingTests {
    /// A TCP connection to 127.0.0.1:`port`, with a receive timeout of `timeout` seconds.
    final class Connection {
        let fd: Int32

        init(port: UInt16, timeout: Int = 5) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(fd >= 0, "socket: errno \(errno)")
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0, "connect: errno \(errno)")
            var limit = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// What arrives until the server closes (or the timeout).
        func readAll() -> String {
            var answer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(fd, &chunk, chunk.count)
                guard count > 0 else { break }
                answer += chunk[0..<count]
            }
            return String(decoding: answer, as: UTF8.self)
        }

        /// One response: its head and `Content-Length` bytes of body (none for HEAD).
        func readResponse(headOnly: Bool = false) -> String {
            var answer: [UInt8] = []
            var byte: UInt8 = 0
            while !answer.suffix(4).elementsEqual([13, 10, 13, 10]), read(fd, &byte, 1) == 1 { answer.append(byte) }
            let head = String(decoding: answer, as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            var body = [UInt8](repeating: 0, count: headOnly ? 0 : length)
            var got = 0
            while got < body.count {
                let count = body[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                got += count
            }
            return head + String(decoding: body[0..<got], as: UTF8.self)
        }

        /// Sends `request`, half-closes and returns the whole answer.
        static func exchange(port: UInt16, _ request: String) throws -> String {
            let connection = try Connection(port: port)
            connection.send(request)
            shutdown(connection.fd, Int32(SHUT_WR))
            return connection.readAll()
        }
    }

    static func status(_ answer: String) -> Int? {
        answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
    }

    @Test func answersAsBefore() throws {
        let server = try MetricsServer(address: "127.0.0.1:0") { Array("x 1\n".utf8) }
        defer { server.stop() }
        let port = server.port
        let scrape = try Connection.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(Self.status(scrape) == 200)
        #expect(scrape.lowercased().contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"), "\(scrape)")
        #expect(scrape.hasSuffix("\r\n\r\nx 1\n"), "\(scrape)")
        #expect(Self.status(try Connection.exchange(port: port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n")) == 200)
        #expect(Self.status(try Connection.exchange(port: port, "GET /other HTTP/1.1\r\nHost: a\r\n\r\n")) == 404)
        let post = try Connection.exchange(port: port, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        #expect(Self.status(post) == 405)
        #expect(post.lowercased().contains("allow: get, head\r\n"), "\(post)")
        let head = try Connection.exchange(port: port, "HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(Self.status(head) == 200)
        #expect(head.hasSuffix("\r\n\r\n"), "\(head)")
        let oversized = "GET /metrics HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 9000)
        #expect(Self.status(try Connection.exchange(port: port, oversized)) == 431)
        #expect(Self.status(try Connection.exchange(port: port, "hello\r\n\r\n")) == 400)
    }

    @Test func keepsConnectionsAlive() throws {
        let server = try MetricsServer(address: "127.0.0.1:0") { Array("x 1\n".utf8) }
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        for _ in 0..<3 {
            connection.send("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = connection.readResponse()
            #expect(Self.status(answer) == 200)
            #expect(answer.hasSuffix("x 1\n"), "\(answer)")
        }
        connection.send("GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(connection.readAll().hasSuffix("x 1\n"))
    }

    /// A kept connection on which nothing more comes is closed after the timeout, without a 408.
    @Test func idleKeptConnectionsCloseQuietly() throws {
        let server = try MetricsServer(address: "127.0.0.1:0", requestTimeout: 0.3) { Array("x 1\n".utf8) }
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(Self.status(connection.readResponse()) == 200)
        let started = ContinuousClock.now
        #expect(connection.readAll() == "")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    /// A client that sends nothing, or not a whole head, is answered 408 and closed.
    @Test func idleClientsTimeOut() throws {
        let server = try MetricsServer(address: "127.0.0.1:0", requestTimeout: 0.3) { Array("x 1\n".utf8) }
        defer { server.stop() }
        let silent = try Connection(port: server.port)
        let slow = try Connection(port: server.port)
        slow.send("GET /metrics HTTP/1.1\r\n")
        let started = ContinuousClock.now
        #expect(Self.status(silent.readAll()) == 408)
        #expect(Self.status(slow.readAll()) == 408)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    /// The issue's slowloris: 500 connections held open, sending nothing; a scrape is still
    /// answered within a second.
    @Test func scrapeIsAnsweredWhile500ClientsIdle() throws {
        MetricsServer.allowDescriptors(2048)  // 500 client ends and 500 server ends in this process
        let server = try MetricsServer(address: "127.0.0.1:0") { Array("x 1\n".utf8) }
        defer { server.stop() }
        let idle = try (0..<500).map { _ in try Connection(port: server.port) }
        let started = ContinuousClock.now
        let scrape = try Connection.exchange(port: server.port, "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let took = ContinuousClock.now - started
        print("scrape with \(idle.count) idle connections open: \(took)")
        #expect(Self.status(scrape) == 200)
        #expect(scrape.hasSuffix("x 1\n"))
        #expect(took < .seconds(1))
    }

    /// Beyond the cap a new connection is closed at once, unanswered.
    @Test func connectionsBeyondTheCapAreClosed() throws {
        let server = try MetricsServer(address: "127.0.0.1:0", maxConnections: 3) { Array("x 1\n".utf8) }
        defer { server.stop() }
        let held = try (0..<3).map { _ in try Connection(port: server.port) }
        let extra = try Connection(port: server.port, timeout: 3)
        let started = ContinuousClock.now
        extra.send("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(extra.readAll() == "")
        #expect(ContinuousClock.now - started < .seconds(2))
        // Those within the cap are served.
        held[0].send("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(Self.status(held[0].readResponse()) == 200)
    }
}

extension MetricsServingTests {
    /// Stopping closes the connections still open and ends at once.
    @Test func stopClosesEveryConnection() throws {
        let server = try MetricsServer(address: "127.0.0.1:0") { Array("x 1\n".utf8) }
        let idle = try (0..<50).map { _ in try Connection(port: server.port, timeout: 3) }
        Thread.sleep(forTimeInterval: 0.2)
        let started = ContinuousClock.now
        server.stop()
        let took = ContinuousClock.now - started
        print("stop with \(idle.count) idle connections open: \(took)")
        #expect(took < .seconds(1))
        #expect(idle[0].readAll() == "")
    }
}
