import Decode
import Foundation

/// Something a target source could not use: the file (or sysfs entry) and what is wrong with it.
/// Reported as an audit warning and a `policy init` comment; never fatal.
public struct TargetProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// What a target source found: the targets and the problems met on the way.
public struct TargetFindings: Sendable {
    public var targets: [StorageTarget] = []
    public var problems: [TargetProblem] = []

    public init(targets: [StorageTarget] = [], problems: [TargetProblem] = []) {
        self.targets = targets
        self.problems = problems
    }

    public static func + (a: TargetFindings, b: TargetFindings) -> TargetFindings {
        TargetFindings(targets: a.targets + b.targets, problems: a.problems + b.problems)
    }
}

/// Turns a host name into addresses (`getaddrinfo`); tests give a table instead.
public struct HostNameResolver: Sendable {
    public var resolve: @Sendable (String) -> Result<[IPAddress], TargetProblem>

    public init(_ resolve: @escaping @Sendable (String) -> Result<[IPAddress], TargetProblem>) {
        self.resolve = resolve
    }

    /// The system's resolver (`getaddrinfo`, so /etc/hosts and DNS as the host's own clients see them).
    public static let system = HostNameResolver { name in
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &info)
        guard status == 0 else {
            return .failure(TargetProblem(file: name, message: "does not resolve (\(String(cString: gai_strerror(status))))"))
        }
        defer { freeaddrinfo(info) }
        var addresses: [IPAddress] = []
        var entry = info
        while let current = entry?.pointee {
            if let socketAddress = current.ai_addr {
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(socketAddress, current.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0,
                    let address = IPAddress(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)), !addresses.contains(address)
                {
                    addresses.append(address)
                }
            }
            entry = current.ai_next
        }
        return .success(addresses)
    }

    /// A fixed table: a name it does not hold does not resolve.
    public static func table(_ names: [String: [IPAddress]]) -> HostNameResolver {
        HostNameResolver { name in
            names[name].map { .success($0) }
                ?? .failure(TargetProblem(file: name, message: "does not resolve (not in the test's table)"))
        }
    }

    /// The addresses of `host` (an address is itself); a name that does not resolve is a
    /// problem of `file`, saying where the name came from.
    func addresses(of host: String, file: String, context: String) -> Result<[IPAddress], TargetProblem> {
        if let address = IPAddress(host) { return .success([address]) }
        switch resolve(host) {
        case let .success(addresses) where !addresses.isEmpty: return .success(addresses)
        case .success: return .failure(TargetProblem(file: file, message: "\(context) names \(host), which resolves to no address"))
        case let .failure(problem):
            return .failure(TargetProblem(file: file, message: "\(context) names \(host), which \(problem.message): not audited"))
        }
    }
}

/// Why a piece of text could not be read.
public struct Why: Error, Sendable, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }
}

/// `address:port`, IPv6 in brackets.
func endpoint(_ address: IPAddress, _ port: UInt16?) -> String {
    let text = address.isIPv4 ? "\(address)" : "[\(address)]"
    return port.map { "\(text):\($0)" } ?? text
}

// MARK: - libvirt storage pools

/// Ceph monitors and Gluster servers from libvirt's storage pool definitions: the
/// `<source><host name='...' port='...'/>` elements of `<pool type='rbd'>` and
/// `<pool type='gluster'>` (persistent pools in /etc/libvirt/storage, running ones, as the
/// CloudStack agent creates them, in /run/libvirt/storage inside `<poolstate>`). NFS and
/// iSCSI pools are left to their mounts and sessions, which say what is actually in use.
public enum LibvirtPools {
    public static func targets(directories: [String], resolver: HostNameResolver) -> TargetFindings {
        var findings = TargetFindings()
        let manager = FileManager.default
        for directory in directories {
            guard let names = try? manager.contentsOfDirectory(atPath: directory) else { continue }
            for name in names.sorted() where name.hasSuffix(".xml") {
                let path = "\(directory)/\(name)"
                guard let data = manager.contents(atPath: path) else {
                    findings.problems.append(TargetProblem(file: path, message: "cannot be read"))
                    continue
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    findings.problems.append(TargetProblem(file: path, message: "is not UTF-8 text"))
                    continue
                }
                findings = findings + parse(text, path: path, resolver: resolver)
            }
        }
        return findings
    }

    /// The monitors and servers of the pool definitions in one file's text.
    public static func parse(_ text: String, path: String, resolver: HostNameResolver) -> TargetFindings {
        var findings = TargetFindings()
        let elements: [XMLTag]
        switch XMLTag.scan(text) {
        case let .success(tags): elements = tags
        case let .failure(message):
            findings.problems.append(TargetProblem(file: path, message: "not well-formed XML: \(message.text)"))
            return findings
        }
        guard elements.contains(where: { $0.name == "pool" && !$0.isClosing }) else {
            findings.problems.append(TargetProblem(file: path, message: "no <pool> element: not a libvirt storage pool definition"))
            return findings
        }
        var poolType: String?
        var poolName: String?
        var depth = 0
        var sourceDepth: Int?
        var hosts: [(name: String?, port: String?)] = []
        func finishPool() {
            defer { hosts = [] }
            guard let type = poolType, type == "rbd" || type == "gluster" else { return }
            let label = "\(type == "rbd" ? "RBD" : "Gluster") pool \(poolName ?? "(unnamed)")"
            if hosts.isEmpty {
                findings.problems.append(TargetProblem(file: path, message: "\(label) has no <source><host> element"))
            }
            for host in hosts {
                guard var name = host.name?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
                    findings.problems.append(TargetProblem(file: path, message: "\(label): a <host> element without a name"))
                    continue
                }
                var portText = host.port
                // `virsh pool-define-as --source-host NAME:PORT` keeps the port in the name.
                if portText == nil, IPAddress(name) == nil, let colon = name.lastIndex(of: ":"),
                    name.firstIndex(of: ":") == colon || name.hasPrefix("[")
                {
                    portText = String(name[name.index(after: colon)...])
                    name = String(name[..<colon])
                }
                if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
                var port: UInt16?
                if let portText {
                    guard let value = UInt16(portText), value != 0 else {
                        findings.problems.append(TargetProblem(
                            file: path, message: "\(label): host \(name) has port \"\(portText)\", which is not a port number"))
                        continue
                    }
                    port = value
                }
                let role = type == "rbd" ? "Ceph monitor" : "Gluster server"
                switch resolver.addresses(of: name, file: path, context: label) {
                case let .failure(problem): findings.problems.append(problem)
                case let .success(addresses):
                    for address in addresses {
                        let resolved = IPAddress(name) == nil ? "\(name) = " : ""
                        findings.targets.append(StorageTarget(
                            address: address, source: type == "rbd" ? .libvirtRBDPool : .libvirtGlusterPool,
                            detail: "\(role) \(resolved)\(endpoint(address, port ?? (type == "rbd" ? 6789 : 24007))) of \(label)"))
                    }
                }
            }
        }
        var poolDepth: Int?
        for tag in elements {
            if tag.isClosing {
                depth -= 1
                if tag.name == "source", sourceDepth == depth { sourceDepth = nil }
                if tag.name == "pool", poolDepth == depth {
                    finishPool()
                    poolType = nil
                    poolName = nil
                    poolDepth = nil
                }
                continue
            }
            switch tag.name {
            case "pool" where poolDepth == nil:
                poolType = tag.attributes["type"]
                poolDepth = depth
            case "name" where poolDepth.map { $0 + 1 } == depth:
                poolName = tag.text
            case "source" where poolDepth.map { $0 + 1 } == depth:
                sourceDepth = depth
            case "host" where sourceDepth.map { $0 + 1 } == depth:
                hosts.append((tag.attributes["name"], tag.attributes["port"]))
            default: break
            }
            if !tag.isSelfClosing { depth += 1 }
        }
        return findings
    }
}

/// Just enough of XML for libvirt's pool files: start, end and empty-element tags with their
/// attributes (entities decoded), the text that follows a start tag, comments, the XML
/// declaration skipped.
struct XMLTag {
    var name: String
    var attributes: [String: String]
    var isClosing: Bool
    var isSelfClosing: Bool
    /// The text right after this start tag, up to the next tag, trimmed.
    var text: String?

    static func scan(_ text: String) -> Result<[XMLTag], Why> {
        let characters = Array(text.unicodeScalars)
        var tags: [XMLTag] = []
        var index = 0
        var line = 1
        var stack: [String] = []
        func starts(_ prefix: String, at position: Int) -> Bool {
            let scalars = Array(prefix.unicodeScalars)
            guard position + scalars.count <= characters.count else { return false }
            return Array(characters[position..<(position + scalars.count)]) == scalars
        }
        while index < characters.count {
            let character = characters[index]
            if character == "\n" { line += 1 }
            guard character == "<" else { index += 1; continue }
            if starts("<!--", at: index) {
                guard let end = find("-->", in: characters, from: index + 4) else { return .failure(Why("comment never closed (line \(line))")) }
                line += characters[index..<end].filter { $0 == "\n" }.count
                index = end + 3
                continue
            }
            if starts("<?", at: index) || starts("<!", at: index) {
                guard let end = characters[index...].firstIndex(of: ">") else { return .failure(Why("declaration never closed (line \(line))")) }
                index = end + 1
                continue
            }
            guard let end = closingBracket(characters, from: index + 1) else {
                return .failure(Why("tag never closed (line \(line))"))
            }
            var body = String(String.UnicodeScalarView(characters[(index + 1)..<end]))
            line += body.filter { $0 == "\n" }.count
            index = end + 1
            var tag = XMLTag(name: "", attributes: [:], isClosing: false, isSelfClosing: false)
            if body.hasPrefix("/") {
                tag.isClosing = true
                body.removeFirst()
            }
            if body.hasSuffix("/") {
                tag.isSelfClosing = true
                body.removeLast()
            }
            var rest = Substring(body)
            tag.name = String(rest.prefix { !$0.isWhitespace })
            rest = rest.dropFirst(tag.name.count)
            guard !tag.name.isEmpty else { return .failure(Why("a tag without a name (line \(line))")) }
            while true {
                rest = rest.drop { $0.isWhitespace }
                if rest.isEmpty { break }
                let key = rest.prefix { $0 != "=" && !$0.isWhitespace }
                rest = rest.dropFirst(key.count).drop { $0.isWhitespace }
                guard rest.first == "=" else { return .failure(Why("attribute \(key) of <\(tag.name)> has no value (line \(line))")) }
                rest = rest.dropFirst().drop { $0.isWhitespace }
                guard let quote = rest.first, quote == "'" || quote == "\"" else {
                    return .failure(Why("attribute \(key) of <\(tag.name)> is not quoted (line \(line))"))
                }
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: quote) else {
                    return .failure(Why("attribute \(key) of <\(tag.name)> never ends (line \(line))"))
                }
                tag.attributes[String(key)] = decodeEntities(rest[..<close])
                rest = rest[rest.index(after: close)...]
            }
            if tag.isClosing {
                guard stack.last == tag.name else {
                    return .failure(Why("</\(tag.name)> closes " + (stack.last.map { "<\($0)>" } ?? "nothing") + " (line \(line))"))
                }
                stack.removeLast()
            } else if !tag.isSelfClosing {
                stack.append(tag.name)
                let textEnd = characters[index...].firstIndex(of: "<") ?? characters.count
                let following = String(String.UnicodeScalarView(characters[index..<textEnd]))
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                tag.text = following.isEmpty ? nil : decodeEntities(Substring(following))
            }
            tags.append(tag)
        }
        if let open = stack.last { return .failure(Why("<\(open)> is never closed (the file ends first)")) }
        return .success(tags)
    }

    private static func find(_ needle: String, in characters: [Unicode.Scalar], from start: Int) -> Int? {
        let scalars = Array(needle.unicodeScalars)
        var index = start
        while index + scalars.count <= characters.count {
            if Array(characters[index..<(index + scalars.count)]) == scalars { return index }
            index += 1
        }
        return nil
    }

    /// The `>` ending a tag, skipping quoted attribute values.
    private static func closingBracket(_ characters: [Unicode.Scalar], from start: Int) -> Int? {
        var quote: Unicode.Scalar?
        for index in start..<characters.count {
            let character = characters[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "<" {
                return nil
            } else if character == ">" {
                return index
            }
        }
        return nil
    }

    private static func decodeEntities(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

// MARK: - ceph.conf

/// Ceph monitors from `ceph.conf`: `mon_host` (in `[global]` or a `[client...]` section) and
/// the older `mon addr` of `[mon.X]` sections. Keys are matched as Ceph matches them (case,
/// spaces, dashes and underscores alike); `#` and `;` start comments. An address is written as
/// Ceph documents it (docs.ceph.com, "Messenger v2", Address formats; "Monitor Config
/// Reference", mon_host): `1.2.3.4`, `1.2.3.4:6789`, `[2001:db8::1]:6789`, `v2:1.2.3.4:3300/0`,
/// or an address vector `[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]`; entries are separated by
/// commas or spaces; a host name is resolved. Without a port a client tries 3300 (msgr2) and
/// 6789 (v1).
public enum CephConf {
    public static func targets(path: String, resolver: HostNameResolver) -> TargetFindings {
        guard FileManager.default.fileExists(atPath: path) else { return TargetFindings() }
        guard let data = FileManager.default.contents(atPath: path) else {
            return TargetFindings(problems: [TargetProblem(file: path, message: "cannot be read")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return TargetFindings(problems: [TargetProblem(file: path, message: "is not UTF-8 text")])
        }
        return parse(text, path: path, resolver: resolver)
    }

    public static func parse(_ text: String, path: String, resolver: HostNameResolver) -> TargetFindings {
        var findings = TargetFindings()
        var section = ""
        var sawMonitors = false
        var lines: [(number: Int, text: String)] = []
        var pending = ""
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasSuffix("\\") {
                pending += line.dropLast()
                continue
            }
            lines.append((offset + 1, pending + line))
            pending = ""
        }
        for (number, raw) in lines {
            let line = stripComment(raw).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    findings.problems.append(TargetProblem(file: path, message: "line \(number): section header \(line) has no closing ]"))
                    continue
                }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces).lowercased()
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                findings.problems.append(TargetProblem(file: path, message: "line \(number): \"\(line)\" is not KEY = VALUE"))
                continue
            }
            let key = normalize(line[..<equals])
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            let label: String
            if key == "mon_host", section == "global" || section == "client" || section.hasPrefix("client.") {
                label = "mon_host in [\(section)]"
            } else if key == "mon_addr", section.hasPrefix("mon.") {
                label = "mon addr in [\(section)]"
            } else {
                continue
            }
            sawMonitors = true
            switch monitorAddresses(value) {
            case let .failure(message):
                findings.problems.append(TargetProblem(file: path, message: "line \(number): \(label): \(message.text)"))
            case let .success(monitors):
                if monitors.isEmpty {
                    findings.problems.append(TargetProblem(file: path, message: "line \(number): \(label) is empty"))
                }
                for monitor in monitors {
                    let ports = monitor.port.map { [$0] } ?? monitor.defaultPorts
                    switch resolver.addresses(of: monitor.host, file: path, context: "line \(number): \(label)") {
                    case let .failure(problem): findings.problems.append(problem)
                    case let .success(addresses):
                        for address in addresses {
                            let name = IPAddress(monitor.host) == nil ? "\(monitor.host) = " : ""
                            let version = monitor.version.map { "\($0) " } ?? ""
                            findings.targets.append(StorageTarget(
                                address: address, source: .cephConf,
                                detail: "Ceph monitor \(version)\(name)\(ports.map { endpoint(address, $0) }.joined(separator: ", ")) "
                                    + "from \(label)"))
                        }
                    }
                }
            }
        }
        if !sawMonitors {
            findings.problems.append(TargetProblem(file: path, message: "names no monitor (no mon_host in [global] or [client])"))
        }
        return findings
    }

    /// One monitor address of `mon_host`.
    public struct Monitor: Sendable, Hashable {
        public var host: String
        public var port: UInt16?
        /// `v1`, `v2`, or nil (no prefix, or `any`).
        public var version: String?

        /// The ports a client tries when none is given.
        public var defaultPorts: [UInt16] {
            switch version {
            case "v2": [3300]
            case "v1": [6789]
            default: [3300, 6789]
            }
        }
    }

    /// The monitors of a `mon_host` value; an address vector gives one per entry.
    public static func monitorAddresses(_ value: String) -> Result<[Monitor], Why> {
        var monitors: [Monitor] = []
        switch split(value, separators: [",", " ", "\t", ";"]) {
        case let .failure(message): return .failure(message)
        case let .success(items):
            for item in items {
                var entries = [item]
                if item.hasPrefix("["), item.hasSuffix("]") {
                    let inner = String(item.dropFirst().dropLast())
                    if ["v1:", "v2:", "any:"].contains(where: { inner.hasPrefix($0) }) {
                        switch split(inner, separators: [","]) {
                        case let .success(parts): entries = parts
                        case let .failure(message): return .failure(message)
                        }
                    }
                }
                for entry in entries {
                    switch monitor(entry) {
                    case let .success(monitor): monitors.append(monitor)
                    case let .failure(message): return .failure(message)
                    }
                }
            }
        }
        return .success(monitors)
    }

    private static func monitor(_ text: String) -> Result<Monitor, Why> {
        var rest = Substring(text)
        var version: String?
        for prefix in ["v1:", "v2:", "any:"] where rest.hasPrefix(prefix) {
            version = prefix == "any:" ? nil : String(prefix.dropLast())
            rest = rest.dropFirst(prefix.count)
        }
        // A nonce: `/0`, `/89012`.
        if let slash = rest.lastIndex(of: "/") {
            guard rest[rest.index(after: slash)...].allSatisfy(\.isNumber) else {
                return .failure(Why("\"\(text)\" is not an address (what follows / is no nonce)"))
            }
            rest = rest[..<slash]
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return .failure(Why("\"\(text)\" opens [ without closing it")) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(Why("\"\(text)\" has \"\(after)\" after its address")) }
                portText = after.dropFirst()
            }
            guard IPAddress(host).map({ !$0.isIPv4 }) == true else {
                return .failure(Why("\"\(text)\": \(host) in brackets is not an IPv6 address"))
            }
        } else if IPAddress(rest) != nil {
            host = rest
        } else if let colon = rest.firstIndex(of: ":") {
            guard rest[rest.index(after: colon)...].firstIndex(of: ":") == nil else {
                return .failure(Why("\"\(text)\" is not an address (an IPv6 address with a port goes in brackets)"))
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { return .failure(Why("\"\(text)\" has no host")) }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" }) else {
            return .failure(Why("\"\(text)\" is not an address or a host name"))
        }
        var port: UInt16?
        if let portText {
            guard let value = UInt16(portText), value != 0 else { return .failure(Why("\"\(text)\": \"\(portText)\" is not a port number")) }
            port = value
        }
        return .success(Monitor(host: String(host), port: port, version: version))
    }

    /// Splits at `separators` outside brackets; empty pieces are dropped.
    private static func split(_ text: String, separators: Set<Character>) -> Result<[String], Why> {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "[" { depth += 1 }
            if character == "]" {
                depth -= 1
                if depth < 0 { return .failure(Why("\"\(text)\" closes ] without opening it")) }
            }
            if depth == 0, separators.contains(character) {
                if !current.isEmpty { parts.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if depth != 0 { return .failure(Why("\"\(text)\" opens [ without closing it")) }
        if !current.isEmpty { parts.append(current) }
        return .success(parts)
    }

    /// The line up to a `#` or `;` outside double quotes.
    private static func stripComment(_ line: String) -> Substring {
        var quoted = false
        for index in line.indices {
            let character = line[index]
            if character == "\"" { quoted.toggle() }
            if !quoted, character == "#" || character == ";" { return line[..<index] }
        }
        return Substring(line)
    }

    /// `Mon Host`, `mon-host`, `mon_host` are one key to Ceph.
    private static func normalize(_ key: Substring) -> String {
        var out = ""
        var lastUnderscore = false
        for character in key.trimmingCharacters(in: .whitespaces).lowercased() {
            let mapped: Character = character == " " || character == "-" || character == "\t" ? "_" : character
            if mapped == "_" && lastUnderscore { continue }
            lastUnderscore = mapped == "_"
            out.append(mapped)
        }
        return out
    }
}

// MARK: - GlusterFS mounts

/// GlusterFS servers from `fuse.glusterfs` mounts in mountinfo: the server of the mount's
/// source (`server:/volume` or `server:volume`), and the servers of a
/// `backup-volfile-servers=a:b` option when the mount shows one.
public enum GlusterMounts {
    public static func targets(_ text: String, path: String, resolver: HostNameResolver) -> TargetFindings {
        var findings = TargetFindings()
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count >= separator + 3,
                fields[separator + 1] == "fuse.glusterfs"
            else { continue }
            let source = MountInfo.unescape(fields[separator + 2])
            let mountPoint = MountInfo.unescape(fields[4])
            var servers: [String] = []
            if let colon = source.lastIndex(of: ":"), colon != source.startIndex,
                !source[source.index(after: colon)...].isEmpty
            {
                var host = source[..<colon]
                if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
                servers.append(String(host))
            } else {
                findings.problems.append(TargetProblem(
                    file: path, message: "line \(offset + 1): glusterfs mount \(mountPoint) has source \"\(source)\", not SERVER:/VOLUME"))
                continue
            }
            let options = fields[5].split(separator: ",") + (fields.count > separator + 3 ? fields[separator + 3].split(separator: ",") : [])
            for option in options where option.hasPrefix("backup-volfile-servers=") {
                for server in option.dropFirst("backup-volfile-servers=".count).split(separator: ":") where !servers.contains(String(server)) {
                    servers.append(String(server))
                }
            }
            for (position, server) in servers.enumerated() {
                let role = position == 0 ? "volfile server" : "backup volfile server"
                switch resolver.addresses(of: server, file: path, context: "line \(offset + 1): glusterfs mount \(mountPoint)") {
                case let .failure(problem): findings.problems.append(problem)
                case let .success(addresses):
                    for address in addresses {
                        findings.targets.append(StorageTarget(address: address, source: .glusterMount,
                                                              detail: "\(role) of \(source) on \(mountPoint)"))
                    }
                }
            }
        }
        return findings
    }
}

// MARK: - NVMe/TCP controllers

/// NVMe over TCP controllers from sysfs: each `class/nvme/*` whose `transport` is `tcp`, its
/// `address` (`traddr=203.0.113.40,trsvcid=4420,src_addr=203.0.113.10`, as the kernel's
/// nvme-tcp driver writes it) and `subsysnqn`.
public enum NVMeControllers {
    public static func targets(sysfsRoot: String) -> TargetFindings {
        var findings = TargetFindings()
        let directory = "\(sysfsRoot)/class/nvme"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
            let base = "\(directory)/\(name)"
            guard ISCSISessions.read(base + "/transport") == "tcp" else { continue }
            guard let address = ISCSISessions.read(base + "/address") else {
                findings.problems.append(TargetProblem(file: base + "/address", message: "missing or empty for a tcp controller"))
                continue
            }
            var fields: [String: String] = [:]
            for part in address.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            guard let traddr = fields["traddr"] else {
                findings.problems.append(TargetProblem(file: base + "/address", message: "\"\(address)\" has no traddr="))
                continue
            }
            guard let target = IPAddress(traddr) else {
                findings.problems.append(TargetProblem(file: base + "/address", message: "traddr=\(traddr) is not an IP address"))
                continue
            }
            let port = fields["trsvcid"].flatMap { UInt16($0) } ?? 4420
            var detail = "\(name) " + endpoint(target, port)
            if let nqn = ISCSISessions.read(base + "/subsysnqn") { detail += " \(nqn)" }
            if let source = fields["src_addr"] ?? fields["host_traddr"] { detail += " from \(source)" }
            findings.targets.append(StorageTarget(address: target, source: .nvmeTCP, detail: detail))
        }
        return findings
    }
}
