import ArgumentParser
import Audit
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit this host's configuration: would storage leave through the management network?",
        discussion: """
            Reads the interfaces, addresses and routes of the network namespace it runs in over rtnetlink, \
            Open vSwitch's bridges, bonds and VLAN tags (ovs-vsctl, when a switch runs), \
            the storage targets (NFS and GlusterFS mounts in /proc/self/mountinfo, iSCSI sessions and NVMe/TCP \
            controllers in /sys/class, Ceph monitors of libvirt RBD pools in /etc/libvirt/storage and \
            /run/libvirt/storage and of /etc/ceph/ceph.conf) and the policy's storage_targets; asks the kernel the route to each target (as `ip route get`) and checks the \
            separation conditions. Exit status as replay: 0 pass, 1 fail, 2 inconclusive, 64 usage, \
            65 unusable policy or host data, 66 a file that does not exist, 74 the report could not be written.
            """
    )

    @OptionGroup var report: PolicyReportOptions

    @Option(name: .long, help: "Report format.")
    var format: ReportFormat = .text

    /// Refused: an audit sees no packets (hidden, and here only to say so).
    @Option(name: .long, help: .hidden)
    var evidence: String?

    @OptionGroup var host: HostOptions

    func validate() throws {
        if evidence != nil {
            throw ValidationError("--evidence is for replay and watch: an audit reads the host's configuration, not packets")
        }
    }

    func run() throws {
        let destination = try report.openReport()
        let policy = try report.loadPolicy()
        let survey = try host.survey(extraTargets: policy.storageTargets.map { StorageTarget(address: $0, source: .policy) })
        let result = Audit.run(policy: policy, host: survey.host, targets: survey.targets,
                               warnings: survey.problems.map(\.description))
        let text: String
        switch format {
        case .text: text = AuditReport.text(result)
        case .json: text = AuditReport.json(result, policyPath: report.policy)
        }
        try report.finish(report: text, verdict: result.verdict, evidenceError: nil, destination: destination)
    }
}

/// Where `audit` and `policy init` read the host from. The options are hidden: they exist so
/// that a host can be recorded (`--record-host DIR`) and audited elsewhere or in tests
/// (`--host-fixture DIR`), and so that tests can point at recorded mountinfo and sysfs.
struct HostOptions: ParsableArguments {
    @Option(name: .customLong("host-fixture"), help: .hidden)
    var fixture: String?

    @Option(name: .customLong("sysfs"), help: .hidden)
    var sysfs: String?

    @Option(name: .customLong("mountinfo"), help: .hidden)
    var mountinfo: String?

    @Option(name: .customLong("record-host"), help: .hidden)
    var record: String?

    /// The root for /etc/libvirt/storage, /run/libvirt/storage and /etc/ceph/ceph.conf.
    @Option(name: .customLong("config-root"), help: .hidden)
    var configRoot: String?

    @OptionGroup var openVSwitch: SwitchOptions

    /// Reads the host; exits 66 when a named file or fixture does not exist, 65 otherwise.
    func survey(extraTargets: [StorageTarget]) throws -> HostSurvey {
        do {
            return try HostSurvey.take(
                HostPaths(fixture: fixture, sysfsRoot: sysfs, mountinfo: mountinfo, configRoot: configRoot,
                          openVSwitch: openVSwitch.source),
                extraTargets: extraTargets, recordInto: record)
        } catch {
            printError(error.description)
            throw ExitCode(error.code == .notFound ? ExitStatus.noInput : ExitStatus.dataError)
        }
    }
}

/// Where Open vSwitch's database is read from: `audit`, `policy init` and `watch` (which captures
/// an OVS bond the policy names on the bond's NICs).
struct SwitchOptions: ParsableArguments {
    @Option(name: .customLong("ovs-db"), help: ArgumentHelp(
        "The Open vSwitch database to read bridges, bonds and VLAN tags from (ovs-vsctl's --db; default: its own, "
            + "unix:$OVS_RUNDIR/db.sock; none running there means no Open vSwitch).", valueName: "unix:SOCKET"))
    var ovsDatabase: String?

    @Option(name: .customLong("ovs-vsctl"), help: ArgumentHelp(
        "The ovs-vsctl program (default: the first on PATH; none means no Open vSwitch).", valueName: "PATH"))
    var ovsVsctl: String?

    /// The source these options name (nil: neither was given, ovs-vsctl's own default).
    var source: SwitchSource? {
        ovsDatabase == nil && ovsVsctl == nil ? nil : .vsctl(path: ovsVsctl, database: ovsDatabase, timeout: 10)
    }
}
