import Foundation

/// A hypervisor host built in a fresh network namespace (`lk-a<pid>-<id>-host`), its links veth
/// pairs whose far ends wait in a second namespace (`...-peer`); nothing outside the two is
/// touched, and both are deleted when the value goes away. Only documentation addresses.
public final class NamespaceHost {
    public static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
    /// Root, with `ip`: what building namespaces needs (CI runs as root).
    public static let available = getuid() == 0 && ip != nil
    public static var tool: URL { URL(fileURLWithPath: ip ?? "/usr/sbin/ip") }

    /// A program for `python3 -c` that sends five ONC RPC calls (NFS version 3, NULL) over UDP
    /// to port 2049 of its argument, answered or not: storage traffic a watch recognises by content.
    public static let nfsCalls = """
        import socket, struct, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for xid in range(1, 6):
            s.sendto(struct.pack("!IIIIIIIIII", xid, 0, 2, 100003, 3, 0, 0, 0, 0, 0), (sys.argv[1], 2049))
            time.sleep(0.05)
        """

    public let name: String
    public let peer: String
    private var created: [String] = []

    public init() throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        name = "lk-a\(getpid())-\(id)-host"
        peer = "lk-a\(getpid())-\(id)-peer"
        for namespace in [name, peer] {
            try ip("netns", "add", namespace)
            created.append(namespace)
        }
        try ip("-n", name, "link", "set", "lo", "up")
    }

    deinit {
        for namespace in created.reversed() { _ = try? run(Self.tool, ["netns", "del", namespace]) }
    }

    @discardableResult
    public func ip(_ arguments: String...) throws -> Run {
        let result = try run(Self.tool, arguments)
        if result.status != 0 { throw CommandError(command: "ip " + arguments.joined(separator: " "), stderr: result.stderr) }
        return result
    }

    /// `ip -n HOST ...`.
    public func host(_ arguments: String...) throws {
        let result = try run(Self.tool, ["-n", name] + arguments)
        if result.status != 0 { throw CommandError(command: "ip -n \(name) " + arguments.joined(separator: " "), stderr: result.stderr) }
    }

    /// A veth `name` on the host (its peer up in the peer namespace), up, with `addresses`.
    public func link(_ link: String, _ addresses: String..., master: String? = nil) throws {
        let far = "p-" + link.prefix(12)
        try host("link", "add", link, "type", "veth", "peer", "name", far, "netns", peer)
        try ip("-n", peer, "link", "set", far, "up")
        if let master { try host("link", "set", link, "master", master) }
        for address in addresses { try host("addr", "add", address, "dev", link, "nodad") }
        try host("link", "set", link, "up")
    }

    /// The built lanekeeper, run inside the host namespace.
    public func lanekeeper(_ arguments: String...) throws -> Run {
        try lanekeeper(arguments)
    }

    public func lanekeeper(_ arguments: [String]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw CommandError(command: binary.path, stderr: "build lanekeeper first")
        }
        return try run(Self.tool, ["netns", "exec", name, binary.path] + arguments)
    }

    public struct CommandError: Error, CustomStringConvertible {
        public var command: String
        public var stderr: String

        public init(command: String, stderr: String) {
            self.command = command
            self.stderr = stderr
        }

        public var description: String { "\(command): \(stderr)" }
    }
}
