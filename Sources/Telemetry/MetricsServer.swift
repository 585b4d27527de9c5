#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The HTTP/1.1 endpoint Prometheus scrapes: `GET /metrics` (and `HEAD`), nothing else, on
/// SwiftNIO (one event loop thread). Connections are served concurrently, so idle or slow
/// clients do not hold up a scrape; at most `maxConnections` are open at once (beyond that a new
/// one is closed at once); a request head must arrive within `requestTimeout` (else 408) and
/// within `maxRequestBytes` (else 431); keep-alive is honoured for GET and HEAD.
public final class MetricsServer: Sendable {
    /// A listening address that could not be used.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static let maxRequestBytes = 8192
    public static let requestTimeout = 5.0
    public static let maxConnections = 1024

    /// The address and port it listens on (the port the kernel chose, when asked for 0).
    public let host: String
    public let port: UInt16
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let stopped = Mutex(false)

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
    /// as `/metrics`, at most `maxConnections` at once, each given `requestTimeout` seconds
    /// for a request head.
    ///
    /// - Throws: `Failure` naming the address when it is malformed or cannot be bound.
    public init(
        address: String, maxConnections: Int = MetricsServer.maxConnections,
        requestTimeout: Double = MetricsServer.requestTimeout, body: @escaping @Sendable () -> [UInt8]
    ) throws(Failure) {
        guard let (host, port) = Self.parse(address) else {
            throw Failure(description: "--metrics-listen \(address): give ADDRESS:PORT, e.g. 127.0.0.1:9273, [::1]:9273 or :9273 (every address)")
        }
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: host, port: Int(port))
        } catch {
            throw Failure(description: "--metrics-listen \(address): \(host) is not a numeric IPv4 or IPv6 address")
        }
        Self.allowDescriptors(maxConnections + 64)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = Atomic<Int>(0)
        let limits = RequestGuard.Limits(bytes: Self.maxRequestBytes, timeout: .nanoseconds(Int64(requestTimeout * 1e9)))
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        if case .v6 = socketAddress {
            // `::` takes IPv4 too (dual stack); any other IPv6 address only itself.
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: host == "::" ? 0 : 1)
        }
        let channel: any Channel
        do {
            channel = try bootstrap.childChannelInitializer { channel in
                // Over the cap: closed at once, before anything is read.
                guard open.add(1, ordering: .relaxed).newValue <= maxConnections else {
                    open.subtract(1, ordering: .relaxed)
                    return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
                channel.closeFuture.whenComplete { _ in open.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    let requestGuard = RequestGuard(limits)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(requestGuard)
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(MetricsHandler(requestGuard: requestGuard, body: body))
                }
            }
            .bind(to: socketAddress).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw Failure(description: "cannot listen on \(address) for metrics: \(error)")
        }
        self.host = host
        self.port = UInt16(channel.localAddress?.port ?? Int(port))
        self.group = group
        self.listener = channel
    }

    /// `http://HOST:PORT/metrics`.
    public var url: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics"
    }

    /// Stops listening, closes every connection and waits for the event loop thread to end.
    public func stop() {
        let already = stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        try? listener.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Raises the soft limit on open descriptors to `count` (within the hard limit), so that
    /// the connection cap, not the limit, decides which connections are refused.
    public static func allowDescriptors(_ count: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(count) else { return }
        limit.rlim_cur = min(rlim_t(count), limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Sits next to the socket: counts the bytes of a request head (431 past the limit) and gives
/// the head a deadline (408 past it), while no request is being answered.
final class RequestGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var bytes: Int
        var timeout: TimeAmount
    }

    private let limits: Limits
    private var context: ChannelHandlerContext?
    private var waiting = true
    private var received = 0
    private var refused = false
    private var answered = false
    private var deadline: Scheduled<Void>?

    init(_ limits: Limits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { awaitRequest() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        awaitRequest()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        if waiting {
            received += Self.unwrapInboundIn(data).readableBytes
            if received > limits.bytes {
                refuse(status: "431 Request Header Fields Too Large", body: "request too large\n")
                return
            }
        }
        context.fireChannelRead(data)
    }

    /// A request head arrived: no deadline or count while it is answered.
    func requestArrived() {
        waiting = false
        received = 0
        deadline?.cancel()
        deadline = nil
    }

    /// The answer is written and the connection kept: the next head has the same limits, but a
    /// kept connection on which nothing more comes is closed quietly (an unasked-for 408 would
    /// land on a client's idle connection).
    func awaitRequest(answered: Bool = false) {
        guard let context, !refused else { return }
        self.answered = self.answered || answered
        waiting = true
        received = 0
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limits.timeout) { [self] in
            if self.answered && received == 0 {
                context.close(promise: nil)
            } else {
                refuse(status: "408 Request Timeout", body: "request timed out\n")
            }
        }
    }

    /// Answers `status` and ends the connection gracefully: no more to send, whatever the client
    /// still sends is dropped, and it is closed when the client closes or a second later, so
    /// that closing does not reset the connection before the answer is read.
    private func refuse(status: String, body: String) {
        guard let context, !refused else { return }
        refused = true
        deadline?.cancel()
        let text = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: text))).assumeIsolated().whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}

/// Answers each request: `/metrics` to GET and HEAD, 404 for other paths, 405 for other methods.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let requestGuard: RequestGuard
    private let body: @Sendable () -> [UInt8]

    init(requestGuard: RequestGuard, body: @escaping @Sendable () -> [UInt8]) {
        self.requestGuard = requestGuard
        self.body = body
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = Self.unwrapInboundIn(data) else { return }
        requestGuard.requestArrived()
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        // A request with a body is answered and the connection closed, the body unread.
        let hasBody = request.headers.contains(name: "transfer-encoding")
            || request.headers["content-length"].contains { $0 != "0" }
        var keepAlive = request.isKeepAlive && !hasBody
        let status: HTTPResponseStatus
        var contentType = "text/plain; charset=utf-8"
        var extra: [(String, String)] = []
        let bytes: [UInt8]
        if request.method != .GET && request.method != .HEAD {
            (status, bytes, keepAlive) = (.methodNotAllowed, Array("only GET /metrics\n".utf8), false)
            extra.append(("Allow", "GET, HEAD"))
        } else if path != "/metrics" {
            (status, bytes) = (.notFound, Array("lanekeeper serves /metrics only\n".utf8))
        } else {
            (status, bytes) = (.ok, body())
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        }
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(bytes.count))] + extra)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        var head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        head.version = .http1_1
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let written = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if keepAlive {
            requestGuard.awaitRequest(answered: true)
        } else {
            let channel = context.channel
            written.assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
