import ArgumentParser
import Audit
import Foundation
import Policy

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
            separation conditions. With --cloudstack-url instead of --policy, the policy is the one \
            `policy init --cloudstack-url` would write (the management server's view of this host), audited the same way. \
            Exit status as replay: 0 pass, 1 fail, 2 inconclusive, 64 usage, \
            65 unusable policy or host data (or an answer the API does not document), 66 a file that does not exist, \
            69 the management server unreachable or its TLS certificate refused, 74 the report could not be written, \
            77 the API key or signature refused.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy (YAML); or give --cloudstack-url instead.", valueName: "POLICY.yaml"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("Write the report to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "Replace the report file if it exists (otherwise refused: exit 73).")
    var force = false

    @Option(name: .long, help: "Report format.")
    var format: ReportFormat = .text

    /// Refused: an audit sees no packets (hidden, and here only to say so).
    @Option(name: .long, help: .hidden)
    var evidence: String?

    @OptionGroup var cloudstack: CloudStackOptions

    @OptionGroup var host: HostOptions

    func validate() throws {
        if evidence != nil {
            throw ValidationError("--evidence is for replay and watch: an audit reads the host's configuration, not packets")
        }
        switch (policy, cloudstack.url) {
        case (nil, nil): throw ValidationError("give --policy POLICY.yaml, or --cloudstack-url URL to audit against the management server")
        case (_?, _?): throw ValidationError("give --policy or --cloudstack-url, not both")
        default: break
        }
    }

    func run() throws {
        let destination = try ReportDestination(path: output, force: force)
        let loaded: Policy
        var warnings: [String] = []
        let policyName: String
        if let policy {
            let report = try PolicyReportOptions.parse(["--policy", policy])
            loaded = try report.loadPolicy()
            policyName = policy
        } else {
            // The policy `policy init --cloudstack-url` would write, audited as if read from a file.
            let written = try writtenPolicy(host: host, agentPath: nil, cloudstack: cloudstack, path: "<management server>")
            loaded = written.policy
            warnings = written.warnings + written.undecided.map { "could not decide: \($0)" }
            policyName = cloudstack.url ?? "<management server>"
        }
        let survey = try host.survey(extraTargets: loaded.storageTargets.map { StorageTarget(address: $0, source: .policy) })
        let result = Audit.run(policy: loaded, host: survey.host, targets: survey.targets,
                               warnings: warnings + survey.problems.map(\.description))
        let text: String
        switch format {
        case .text: text = AuditReport.text(result)
        case .json: text = AuditReport.json(result, policyPath: policyName)
        }
        throw ExitCode(concludeReport({ $0.append(text) }, verdict: result.verdict, evidenceError: nil, destination: destination, output: output))
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
