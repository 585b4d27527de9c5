#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SystemCalls

/// A minimal HTTP/1.1 server for Prometheus to scrape: `GET /metrics` (and `HEAD`), nothing
/// else. One thread serves one connection at a time; a request line and headers larger than
/// `maxRequestBytes`, or slower than `requestTimeout` in all, are refused; every response
/// closes the connection.
public final class MetricsServer: @unchecked Sendable {
    /// A listening address that could not be used.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static let maxRequestBytes = 8192
    public static let requestTimeout = 5.0

    /// The address and port it listens on (the port the kernel chose, when asked for 0).
    public let host: String
    public let port: UInt16
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let body: @Sendable () -> [UInt8]
    private let done = DispatchSemaphore(value: 0)

    /// Parses `ADDRESS:PORT` (`127.0.0.1:9273`, `[::1]:9273`, `0.0.0.0:9273`); `:PORT` (as
    /// node_exporter takes it) and `[::]:PORT` mean every address, IPv6 and IPv4 (host `::`).
    public static func parse(_ text: String) -> (host: String, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        if colon == text.startIndex { return ("::", port) }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.contains(":") == text[..<colon].hasPrefix("[") else { return nil }
        return (host, port)
    }

    /// Binds and listens on `address` (`ADDRESS:PORT`, numeric) and starts serving `body()`
    /// as `/metrics`.
    ///
    /// - Throws: `Failure` naming the address when it is malformed or cannot be bound.
    public init(address: String, body: @escaping @Sendable () -> [UInt8]) throws(Failure) {
        guard let (host, port) = Self.parse(address) else {
            throw Failure(description: "--metrics-listen \(address): give ADDRESS:PORT, e.g. 127.0.0.1:9273, [::1]:9273 or :9273 (every address)")
        }
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw Failure(description: "--metrics-listen \(address): \(host) is not a numeric IPv4 or IPv6 address")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "--metrics-listen \(address): socket: \(Errno.current.description)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if first.pointee.ai_family == AF_INET6 {
            // `::` takes IPv4 too (dual stack); any other IPv6 address only itself.
            var only: Int32 = host == "::" ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
        }
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 16) == 0 else {
            let reason = Errno.current.description
            close(fd)
            throw Failure(description: "cannot listen on \(address) for metrics: \(reason)")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let boundPort: UInt16 = withUnsafePointer(to: &bound) { pointer in
            if Int32(pointer.pointee.ss_family) == AF_INET6 {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            } else {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            close(fd)
            throw Failure(description: "cannot serve metrics: pipe: \(Errno.current.description)")
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        self.host = host
        self.port = boundPort
        self.listener = fd
        self.wake = (pipeEnds[0], pipeEnds[1])
        self.body = body
        let thread = Thread { [self] in
            serve()
            done.signal()
        }
        thread.name = "lanekeeper metrics"
        thread.start()
    }

    /// `http://HOST:PORT/metrics`.
    public var url: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics"
    }

    /// Stops listening and waits for the serving thread.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        done.wait()
        close(listener)
        close(wake.read)
        close(wake.write)
    }

    private func serve() {
        while true {
            var fds = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            respond(on: connection)
            linger(connection)
            close(connection)
        }
    }

    /// Reads one request (bounded in size and time) and answers it.
    private func respond(on connection: Int32) {
        var timeout = timeval(tv_sec: Int(Self.requestTimeout), tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let deadline = Date().addingTimeInterval(Self.requestTimeout)
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !Self.headerComplete(request) {
            guard request.count < Self.maxRequestBytes else {
                send(connection, status: "431 Request Header Fields Too Large", body: Array("request too large\n".utf8))
                return
            }
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var fd = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard remaining > 0, poll(&fd, 1, remaining) > 0 else {
                send(connection, status: "408 Request Timeout", body: Array("request timed out\n".utf8))
                return
            }
            let count = read(connection, &chunk, min(chunk.count, Self.maxRequestBytes - request.count))
            guard count > 0 else { return }
            request += chunk[0..<count]
        }
        let line = request.prefix { $0 != 13 && $0 != 10 }
        let parts = String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            send(connection, status: "400 Bad Request", body: Array("bad request\n".utf8))
            return
        }
        let method = parts[0]
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard method == "GET" || method == "HEAD" else {
            send(connection, status: "405 Method Not Allowed", body: Array("only GET /metrics\n".utf8), extra: "Allow: GET, HEAD\r\n")
            return
        }
        guard path == "/metrics" else {
            send(connection, status: "404 Not Found", body: Array("lanekeeper serves /metrics only\n".utf8))
            return
        }
        send(
            connection, status: "200 OK", body: body(), contentType: "text/plain; version=0.0.4; charset=utf-8",
            headOnly: method == "HEAD")
    }

    /// Ends the connection gracefully: no more to send, then whatever the client still sends
    /// (a request refused before its end) is read and dropped, for at most a second and
    /// 64 KiB, so that closing does not reset the connection before the answer is read.
    private func linger(_ connection: Int32) {
        shutdown(connection, Int32(SHUT_WR))
        var sink = [UInt8](repeating: 0, count: 4096)
        var left = 64 << 10
        let deadline = Date().addingTimeInterval(1)
        while left > 0 {
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var fd = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard remaining > 0, poll(&fd, 1, remaining) > 0 else { return }
            let count = read(connection, &sink, sink.count)
            guard count > 0 else { return }
            left -= count
        }
    }

    static func headerComplete(_ bytes: [UInt8]) -> Bool {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4 else { return false }
        return bytes.indices.dropLast(3).contains { bytes[$0..<($0 + 4)].elementsEqual(end) }
            || bytes.indices.dropLast(1).contains { bytes[$0] == 10 && bytes[$0 + 1] == 10 }
    }

    private func send(
        _ connection: Int32, status: String, body: [UInt8], contentType: String = "text/plain; charset=utf-8",
        extra: String = "", headOnly: Bool = false
    ) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + extra + "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes += body }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }
}
