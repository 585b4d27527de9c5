import Decode
import Foundation

/// Where `audit` and `policy init` read the host from: the running kernel, files and Open
/// vSwitch's database (the default), or a recorded fixture directory.
public struct HostPaths: Sendable {
    /// A directory of recorded netlink answers (`RecordedNetlink`); nil reads the kernel.
    public var fixture: String?
    /// The sysfs root (`/sys`; `FIXTURE/sys` for a fixture).
    public var sysfsRoot: String
    /// The mountinfo file (`/proc/self/mountinfo`; `FIXTURE/mountinfo` for a fixture); a file
    /// that does not exist means no mounts only when it was not asked for by name.
    public var mountinfo: String
    public var mountinfoRequired: Bool
    /// The root below which `/etc/libvirt/storage`, `/run/libvirt/storage` and
    /// `/etc/ceph/ceph.conf` are read (empty: `/`; the fixture directory for a fixture).
    public var configRoot: String
    /// Resolves the host names of Ceph monitors and Gluster servers.
    public var resolver: HostNameResolver
    /// Where Open vSwitch's configuration comes from: `ovs-vsctl` (`FIXTURE/ovs-vsctl.json` for
    /// a fixture).
    public var openVSwitch: SwitchSource

    public init(fixture: String? = nil, sysfsRoot: String? = nil, mountinfo: String? = nil, configRoot: String? = nil,
                resolver: HostNameResolver = .system, openVSwitch: SwitchSource? = nil) {
        self.fixture = fixture
        self.openVSwitch = openVSwitch ?? fixture.map { .recorded("\($0)/ovs-vsctl.json") } ?? .standard
        self.sysfsRoot = sysfsRoot ?? fixture.map { "\($0)/sys" } ?? "/sys"
        self.mountinfo = mountinfo ?? fixture.map { "\($0)/mountinfo" } ?? "/proc/self/mountinfo"
        self.mountinfoRequired = mountinfo != nil
        self.configRoot = configRoot ?? fixture ?? ""
        self.resolver = resolver
    }

    /// libvirt's pool definitions: persistent, then running (the agent's are transient).
    public var libvirtPoolDirectories: [String] {
        ["\(configRoot)/etc/libvirt/storage", "\(configRoot)/run/libvirt/storage"]
    }

    public var cephConf: String { "\(configRoot)/etc/ceph/ceph.conf" }
}

/// Everything the audit and the policy writer need from a host, read in one go.
public struct HostSurvey: Sendable {
    public var host: HostInventory
    /// Storage targets in order: NFS mounts, iSCSI sessions, GlusterFS mounts, NVMe/TCP
    /// controllers, Ceph monitors of libvirt RBD pools and of ceph.conf, then `extraTargets`
    /// (the policy's); one entry per address, named by the first source that has it.
    public var targets: [StorageTarget]
    /// What the target sources could not use (a malformed pool file, a name that does not
    /// resolve), each naming its file.
    public var problems: [TargetProblem] = []

    /// Reads the host, finds its storage targets and asks the kernel the route to each.
    /// With `recordInto`, the netlink answers are also written there as a fixture.
    public static func take(_ paths: HostPaths, extraTargets: [StorageTarget] = [], recordInto: String? = nil)
        throws(HostReadError) -> HostSurvey
    {
        let source: NetlinkSource
        if let fixture = paths.fixture {
            source = try RecordedNetlink(directory: fixture)
        } else {
            source = try LiveNetlink()
        }
        var host = try HostInventory.read(from: source, sysfsRoot: paths.sysfsRoot)
        var switchText: String?
        switch paths.openVSwitch.read() {
        case .absent: break
        case let .read(configuration, text):
            host.apply(configuration)
            switchText = text
        case let .failed(reason): host.openVSwitchProblem = reason
        }
        var found: [StorageTarget] = []
        var mounts = ""
        if FileManager.default.fileExists(atPath: paths.mountinfo) {
            // /proc files have no size, so read to the end rather than by size.
            guard let handle = FileHandle(forReadingAtPath: paths.mountinfo), let data = try? handle.readToEnd() ?? Data()
            else {
                throw HostReadError(code: .unreadable, message: "\(paths.mountinfo): cannot be read")
            }
            try? handle.close()
            mounts = String(decoding: data, as: UTF8.self)
            found += MountInfo.nfsTargets(mounts)
        } else if paths.mountinfoRequired {
            throw HostReadError(code: .notFound, message: "\(paths.mountinfo): no such file")
        }
        found += ISCSISessions.targets(sysfsRoot: paths.sysfsRoot)
        let primary = GlusterMounts.targets(mounts, path: paths.mountinfo, resolver: paths.resolver)
            + NVMeControllers.targets(sysfsRoot: paths.sysfsRoot)
            + LibvirtPools.targets(directories: paths.libvirtPoolDirectories, resolver: paths.resolver)
            + CephConf.targets(path: paths.cephConf, resolver: paths.resolver)
        found += primary.targets
        let targets = StorageTarget.unique(found + extraTargets)
        try host.lookUp(targets.map(\.address), in: source)
        if let recordInto {
            try RecordedNetlink.record(source, destinations: targets.map(\.address), into: recordInto)
            if let switchText, (try? switchText.write(toFile: recordInto + "/ovs-vsctl.json", atomically: true, encoding: .utf8)) == nil {
                throw HostReadError(code: .unreadable, message: "cannot record into \(recordInto)/ovs-vsctl.json")
            }
        }
        return HostSurvey(host: host, targets: targets, problems: primary.problems)
    }
}
