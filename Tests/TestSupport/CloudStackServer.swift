import Foundation

// The CloudStack management server the tests talk to: `Tests/AuditTests/Fixtures/cloudstack/server.py`
// (signatures verified as CloudStack verifies them, written apart from lanekeeper's code), shared
// by the CloudStack suites and the documented-command runs.

/// `env`, through which python3 and lanekeeper with the API key in its environment are started.
public let python = URL(fileURLWithPath: "/usr/bin/env")

/// The stand-in management server (`Fixtures/cloudstack/server.py`), answering from
/// `Fixtures/cloudstack/zone.json` and verifying each request's signature as CloudStack does;
/// started on a free port of 127.0.0.1 (inside `namespace` when given), killed by its PID.
public final class CloudStackServer {
    public static let key = "test-api-key_0123"
    public static let secret = "test-secret+/=~ key"
    public static let script = packageRoot.path + "/Tests/AuditTests/Fixtures/cloudstack/server.py"
    public static let zone = packageRoot.path + "/Tests/AuditTests/Fixtures/cloudstack/zone.json"
    /// Two zones: three KVM hosts of zone1 in two clusters (kvm3 in maintenance), a VMware host,
    /// a system VM, and zone2's KVM host whose ipaddress is written `2001:0db8:0:0::10`.
    public static let zoneHosts = packageRoot.path + "/Tests/AuditTests/Fixtures/cloudstack/zone-hosts.json"

    private let process = Process()
    public let port: Int
    public let scheme: String
    public let address: String
    public let log: String

    /// `bind` is the address it listens on (inside `namespace`, when given).
    public init(_ extra: [String] = [], fixture: String = zone, namespace: String? = nil, bind: String = "127.0.0.1",
                tls: (cert: String, key: String)? = nil) throws {
        log = temporaryPath("requests.log")
        address = bind
        var arguments = ["python3", Self.script, "--fixture", fixture, "--key", Self.key, "--secret", Self.secret,
                         "--port", "0", "--bind", bind, "--log", log] + extra
        if let tls { arguments += ["--cert", tls.cert, "--cert-key", tls.key] }
        if let namespace {
            process.executableURL = NamespaceHost.tool
            process.arguments = ["netns", "exec", namespace, "/usr/bin/env"] + arguments
        } else {
            process.executableURL = python
            process.arguments = arguments
        }
        scheme = tls == nil ? "http" : "https"
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty {
                let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw NamespaceHost.CommandError(command: "server.py", stderr: stderr)
            }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5).prefix { $0.isNumber }) else {
            throw NamespaceHost.CommandError(command: "server.py", stderr: "said \(text)")
        }
        self.port = port
    }

    public var url: String { "\(scheme)://\(address):\(port)/client/api" }

    /// The parameters of each request that passed the signature check.
    public var requests: [[String: String]] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
    }

    deinit {
        // SIGKILL: the test process may hand its blocked SIGTERM down to the server.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: log)
    }
}

/// Runs the built lanekeeper with the API key and secret in its environment (inside `namespace`, when given).
public func lanekeeperWithKey(_ arguments: [String], key: String = CloudStackServer.key, secret: String = CloudStackServer.secret,
                              namespace: String? = nil) throws -> Run
{
    let env = ["CLOUDSTACK_KEY=\(key)", "CLOUDSTACK_SECRET=\(secret)"]
    if let namespace {
        return try run(NamespaceHost.tool, ["netns", "exec", namespace, "/usr/bin/env"] + env + [binary.path] + arguments)
    }
    return try run(python, env + [binary.path] + arguments)
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, plus another CA that did not
/// sign it, made by openssl in `directory` (for a management server behind HTTPS).
public struct TestCertificates {
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    public let ca: String
    public let otherCA: String
    public let server: (cert: String, key: String)

    public init(in directory: TemporaryDirectory) throws {
        func openssl(_ arguments: String...) throws {
            let result = try run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
            guard result.status == 0 else {
                throw NamespaceHost.CommandError(command: "openssl " + arguments.joined(separator: " "), stderr: result.stderr)
            }
        }
        for ca in ["ca", "other-ca"] {
            try openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lanekeeper test \(ca)",
                        "-keyout", directory.file("\(ca).key"), "-out", directory.file("\(ca).pem"))
        }
        try openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", directory.file("server.key"),
                    "-out", directory.file("server.csr"))
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: directory.file("san.ext"), atomically: true, encoding: .utf8)
        try openssl("x509", "-req", "-in", directory.file("server.csr"), "-CA", directory.file("ca.pem"), "-CAkey",
                    directory.file("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", directory.file("san.ext"),
                    "-out", directory.file("server.pem"))
        ca = directory.file("ca.pem")
        otherCA = directory.file("other-ca.pem")
        server = (directory.file("server.pem"), directory.file("server.key"))
    }
}

extension NamespaceHost {
    /// The stand-in zone's kvm1 (`zone.json`) as a namespace host: cloudbr0 198.51.100.10/24 (the
    /// Management label, the default route via 198.51.100.1), stor0 203.0.113.10/24 (the pools' network).
    public static func kvm1() throws -> NamespaceHost {
        let host = try NamespaceHost()
        try host.link("cloudbr0", "198.51.100.10/24")
        try host.link("stor0", "203.0.113.10/24")
        try host.host("route", "add", "default", "via", "198.51.100.1")
        return host
    }
}
