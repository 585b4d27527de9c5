#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Decode
import SystemCalls

/// Why the host could not be read: a netlink call that failed, a fixture file that is
/// missing or damaged.
public struct HostReadError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// A file (fixture, agent configuration) does not exist.
        case notFound
        /// The kernel or a file refused (a failed system call, an unreadable file).
        case unreadable
        /// Bytes that are not well-formed netlink, or an answer of the wrong kind.
        case malformed
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func system(_ operation: String, _ number: Int32) -> HostReadError {
        HostReadError(code: .unreadable, message: "\(operation): \(Errno(rawValue: number).text)")
    }
}

/// A NETLINK_ROUTE socket in whatever network namespace the process is in. Every system call
/// goes through `call(_:_:)`, which retries EINTR and turns -1 into a `HostReadError`.
public final class NetlinkSocket {
    private let descriptor: Int32
    private var sequence: UInt32 = 0
    /// One datagram; the kernel sizes dump datagrams to at most 32 KiB (a page or so).
    private static let receiveSize = 1 << 16

    public init() throws(HostReadError) {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        descriptor = Int32(try Self.call("socket(AF_NETLINK)") { Int(socket(AF_NETLINK, type, RTNetlink.protocolRoute)) })
    }

    deinit {
        _ = close(descriptor)
    }

    /// The one funnel for the socket's system calls.
    private static func call(_ operation: String, _ body: () -> Int) throws(HostReadError) -> Int {
        do {
            return try retryingOnInterrupt(body)
        } catch {
            throw HostReadError.system(operation, error.rawValue)
        }
    }

    /// Sends one request (`type` with the fixed `body` and `attributes`) and returns the raw
    /// answer: every message carrying the request's sequence number, up to `NLMSG_DONE` for a
    /// dump, or the single reply (or `NLMSG_ERROR`) otherwise.
    public func exchange(type: UInt16, dump: Bool, body: [UInt8], attributes: [(UInt16, [UInt8])] = [])
        throws(HostReadError) -> [UInt8]
    {
        sequence &+= 1
        let flags = RTNetlink.flagRequest | (dump ? RTNetlink.flagDump : 0)
        var request = NetlinkMessageBuilder(type: type, flags: flags, sequence: sequence, body: body)
        for (attributeType, payload) in attributes { request.attribute(attributeType, payload) }
        let bytes = request.bytes
        // Unbound and unaddressed, the datagram goes to the kernel (port 0), and the socket is
        // bound to a port of its own on the way.
        let sent = try Self.call("send(netlink)") {
            bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        }
        guard sent == bytes.count else {
            throw HostReadError(code: .unreadable, message: "send(netlink): \(sent) of \(bytes.count) bytes sent")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: Self.receiveSize)
        while true {
            let received = try Self.call("recv(netlink)") {
                buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            }
            guard received <= buffer.count else {
                throw HostReadError(code: .malformed, message: "a netlink datagram of \(received) bytes did not fit")
            }
            let datagram = Array(buffer[..<received])
            let (messages, error) = NetlinkMessage.split(datagram)
            if let error { throw HostReadError(code: .malformed, message: error.description) }
            for message in messages where message.sequence == sequence {
                answer += datagram[message.offset..<(message.offset + RTNetlink.messageHeaderLength + message.payload.count)]
                while answer.count % 4 != 0 { answer.append(0) }
                if message.type == RTNetlink.typeDone || message.type == RTNetlink.typeError || !dump {
                    return answer
                }
            }
        }
    }
}

/// What the kernel answers for one destination, as `ip route get` shows it.
public enum RouteAnswer: Sendable, Hashable {
    case route(RouteRecord)
    /// The kernel has no usable route (the text is its reason: `Network is unreachable`).
    case noRoute(String)

    /// Decodes the answer to an `RTM_GETROUTE` request: an `RTM_NEWROUTE` or an `NLMSG_ERROR`.
    public static func decode(_ bytes: [UInt8]) throws(HostReadError) -> RouteAnswer {
        let (messages, error) = NetlinkMessage.split(bytes)
        if let error { throw HostReadError(code: .malformed, message: error.description) }
        for message in messages {
            if let number = message.errorNumber, number != 0 { return .noRoute(Errno(rawValue: number).text) }
            if message.type == RTNetlink.newRoute {
                do {
                    return .route(try RouteRecord(message))
                } catch {
                    throw HostReadError(code: .malformed, message: error.description)
                }
            }
        }
        throw HostReadError(code: .malformed, message: "the route answer holds no RTM_NEWROUTE and no error")
    }
}

/// The three dumps lanekeeper takes of a host.
public enum NetlinkDump: String, Sendable, CaseIterable {
    case links = "link"
    case addresses = "addr"
    case routes = "route"
}

/// Where netlink answers come from: the kernel, or a recorded fixture.
public protocol NetlinkSource {
    /// The raw answer to a dump request (every message up to `NLMSG_DONE`).
    func dump(_ kind: NetlinkDump) throws(HostReadError) -> [UInt8]
    /// The raw answer to `RTM_GETROUTE` for one destination.
    func routeAnswer(to destination: IPAddress) throws(HostReadError) -> [UInt8]?
}

/// The kernel of the network namespace this process runs in.
public final class LiveNetlink: NetlinkSource {
    private let socket: NetlinkSocket

    public init() throws(HostReadError) {
        socket = try NetlinkSocket()
    }

    public func dump(_ kind: NetlinkDump) throws(HostReadError) -> [UInt8] {
        switch kind {
        case .links:
            // struct ifinfomsg, all zero: every family, every link.
            return try socket.exchange(type: RTNetlink.getLink, dump: true, body: [UInt8](repeating: 0, count: 16))
        case .addresses:
            return try socket.exchange(type: RTNetlink.getAddress, dump: true, body: [UInt8](repeating: 0, count: 8))
        case .routes:
            // struct rtmsg; family AF_UNSPEC dumps IPv4 and IPv6, every table.
            return try socket.exchange(type: RTNetlink.getRoute, dump: true, body: [UInt8](repeating: 0, count: 12))
        }
    }

    /// As `ip route get ADDRESS`: the kernel's full lookup (policy rules, every table), for a
    /// destination that need not answer.
    public func routeAnswer(to destination: IPAddress) throws(HostReadError) -> [UInt8]? {
        var body = [UInt8](repeating: 0, count: 12)
        body[0] = destination.isIPv4 ? RTNetlink.familyIPv4 : RTNetlink.familyIPv6
        body[1] = destination.isIPv4 ? 32 : 128
        body.replaceSubrange(8..<12, with: NetlinkMessageBuilder.native(RTNetlink.lookupTable))
        return try socket.exchange(type: RTNetlink.getRoute, dump: false, body: body,
                                   attributes: [(RTNetlink.rtaDestination, NetlinkMessageBuilder.addressBytes(destination))])
    }
}
