import Decode
import Foundation

/// Where lanekeeper learned of a storage target.
public enum TargetSource: String, Sendable, Hashable {
    /// The policy's `storage_targets`.
    case policy
    /// An NFS mount (`addr=` in `/proc/self/mountinfo`).
    case nfsMount = "nfs-mount"
    /// An iSCSI session (`/sys/class/iscsi_connection/*/persistent_address`).
    case iscsiSession = "iscsi-session"
    /// A Ceph monitor of a libvirt RBD pool definition (`<source><host name= port=>`).
    case libvirtRBDPool = "libvirt-rbd-pool"
    /// A Gluster server of a libvirt gluster pool definition.
    case libvirtGlusterPool = "libvirt-gluster-pool"
    /// A Ceph monitor of `ceph.conf` (`mon_host`).
    case cephConf = "ceph-conf"
    /// A GlusterFS server of a `fuse.glusterfs` mount.
    case glusterMount = "glusterfs-mount"
    /// An NVMe/TCP controller (`/sys/class/nvme/*/address`).
    case nvmeTCP = "nvme-tcp"
    /// A server of a primary storage pool the CloudStack management server lists for this host
    /// (`listStoragePools`: `ipaddress`, an RBD pool's monitors each).
    case cloudStackPool = "cloudstack-pool"

    /// The storage protocol of the traffic to such a target, as the policy names it
    /// (`storage_protocols`, `allow`); nil for the policy's own targets, which say none.
    public var protocolName: String? {
        switch self {
        case .policy, .cloudStackPool: nil
        case .nfsMount: "nfs"
        case .iscsiSession: "iscsi"
        case .libvirtRBDPool, .cephConf: "ceph"
        case .libvirtGlusterPool, .glusterMount: "glusterfs"
        case .nvmeTCP: "nvme-tcp"
        }
    }
}

/// A storage server address this host uses or is told about.
public struct StorageTarget: Sendable, Hashable {
    public var address: IPAddress
    public var source: TargetSource
    /// What names it there: `198.51.100.20:/export on /mnt/primary`, `session1 iqn....`.
    public var detail: String?
    /// For a mount: where it is mounted (`/mnt/ff2b7d1e-...`) and what (`198.51.100.60:/export`).
    public var mountPoint: String?
    public var mountSource: String?

    public init(address: IPAddress, source: TargetSource, detail: String? = nil) {
        self.address = address
        self.source = source
        self.detail = detail
    }

    /// One entry per address, the first kept.
    public static func unique(_ targets: [StorageTarget]) -> [StorageTarget] {
        var seen = Set<IPAddress>()
        return targets.filter { seen.insert($0.address).inserted }
    }
}

/// NFS mounts from `/proc/self/mountinfo`.
public enum MountInfo {
    /// The server of every NFS mount (`nfs`, `nfs4`) in mountinfo text: the `addr=` super
    /// option (the address the kernel connected to), else the host part of `server:/path`
    /// when it is an address.
    public static func nfsTargets(_ text: String) -> [StorageTarget] {
        var targets: [StorageTarget] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // id parent major:minor root mount-point options [optional...] - type source super-options
            guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count >= separator + 4 else { continue }
            let type = fields[separator + 1]
            guard type == "nfs" || type == "nfs4" else { continue }
            let source = unescape(fields[separator + 2])
            let options = fields[separator + 3].split(separator: ",")
            var address = options.first { $0.hasPrefix("addr=") }.flatMap { IPAddress($0.dropFirst(5)) }
            if address == nil, let colon = source.range(of: ":/") {
                var host = source[..<colon.lowerBound]
                if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
                address = IPAddress(host)
            }
            guard let address else { continue }
            var target = StorageTarget(address: address, source: .nfsMount, detail: "\(source) on \(unescape(fields[4]))")
            target.mountPoint = unescape(fields[4])
            target.mountSource = source
            targets.append(target)
        }
        return targets
    }

    /// mountinfo writes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
                let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// iSCSI sessions from sysfs (`class/iscsi_connection`, `class/iscsi_session` below a root).
public enum ISCSISessions {
    /// The portal address of every connection, with its session's target name.
    public static func targets(sysfsRoot: String) -> [StorageTarget] {
        let manager = FileManager.default
        let connections = "\(sysfsRoot)/class/iscsi_connection"
        var targets: [StorageTarget] = []
        for name in ((try? manager.contentsOfDirectory(atPath: connections)) ?? []).sorted() {
            let directory = "\(connections)/\(name)"
            guard let text = read(directory + "/persistent_address") ?? read(directory + "/address"),
                let address = IPAddress(text)
            else { continue }
            // connectionN:M belongs to sessionN.
            let session = name.hasPrefix("connection") ? "session" + name.dropFirst("connection".count).prefix { $0 != ":" } : name
            let port = read(directory + "/persistent_port") ?? read(directory + "/port")
            let targetName = read("\(sysfsRoot)/class/iscsi_session/\(session)/targetname")
            var detail = session
            if let targetName { detail += " \(targetName)" }
            detail += " portal " + (address.isIPv4 ? "\(address)" : "[\(address)]") + (port.map { ":\($0)" } ?? "")
            targets.append(StorageTarget(address: address, source: .iscsiSession, detail: detail))
        }
        return targets
    }

    /// A sysfs value, trimmed; nil when missing or empty.
    static func read(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// A Java properties file (CloudStack's `agent.properties`): `key=value`, `key: value` or
/// `key value`; `#` and `!` comment lines; a backslash at the end of a line continues it;
/// `\t`, `\n`, `\uXXXX` and other backslash escapes.
public enum JavaProperties {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var logical = ""
        var continuing = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if continuing {
                line = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
            } else {
                line = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
                if line.isEmpty || line.first == "#" || line.first == "!" { continue }
            }
            let trailing = line.reversed().prefix { $0 == "\\" }.count
            if trailing % 2 == 1 {
                logical += line.dropLast()
                continuing = true
                continue
            }
            logical += line
            continuing = false
            let (key, value) = split(logical)
            result[key] = value
            logical = ""
        }
        if continuing {
            let (key, value) = split(logical)
            result[key] = value
        }
        return result
    }

    private static func split(_ line: String) -> (String, String) {
        var key = ""
        var rest = Substring(line)
        var escaped = false
        while let character = rest.first {
            if escaped {
                key.append(character)
                escaped = false
            } else if character == "\\" {
                key.append(character)
                escaped = true
            } else if character == "=" || character == ":" || character == " " || character == "\t" {
                break
            } else {
                key.append(character)
            }
            rest = rest.dropFirst()
        }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" || rest.first == ":" { rest = rest.dropFirst() }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        return (unescape(key), unescape(String(rest)))
    }

    private static func unescape(_ text: String) -> String {
        var out = ""
        var scalars = Substring(text).unicodeScalars[...]
        while let scalar = scalars.first {
            scalars = scalars.dropFirst()
            guard scalar == "\\", let next = scalars.first else {
                out.unicodeScalars.append(scalar)
                continue
            }
            scalars = scalars.dropFirst()
            switch next {
            case "t": out += "\t"
            case "n": out += "\n"
            case "r": out += "\r"
            case "f": out += "\u{0C}"
            case "u":
                let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                if hex.count == 4, let value = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(value) {
                    out.unicodeScalars.append(decoded)
                    scalars = scalars.dropFirst(4)
                } else {
                    out += "u"
                }
            default: out.unicodeScalars.append(next)
            }
        }
        return out
    }
}
