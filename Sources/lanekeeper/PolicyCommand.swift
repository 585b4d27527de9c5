import ArgumentParser
import Audit
import CloudStack
import Foundation
import Policy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with policies.",
        subcommands: [PolicyInitCommand.self, PolicyHostsCommand.self]
    )
}

struct PolicyInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a starting policy from this host.",
        discussion: """
            Interfaces and their subnets come from the kernel, storage targets from the current NFS and \
            GlusterFS mounts, iSCSI sessions, NVMe/TCP controllers, libvirt's RBD pools and ceph.conf, roles from CloudStack's KVM agent configuration when given \
            (private.network.device is the management bridge; public.network.device and \
            guest.network.device are not storage). Storage is the interfaces the kernel routes the targets \
            directly out of; when there is none, the policy says so. An Open vSwitch bridge's network also \
            gets its VLAN (a fake bridge's tag) or the NICs its frames leave untagged. NFS mounts reached over \
            management are marked (primary and secondary storage look alike) with how to allow secondary \
            storage; agent bridges missing on this host are warned about; the host's own addresses are listed \
            as host_addresses. With --cloudstack-url the management server is asked too (listHosts, \
            listStoragePools, listImageStores, listPhysicalNetworks, listTrafficTypes): the Management traffic \
            type's KVM label is management, Guest and Public labels are other networks, the pools of this host's \
            cluster and zone are storage_targets and give storage_protocols, the image stores' servers are \
            allowed on management (secondary storage); what it could not decide is printed. \
            Exit status: 0 written, 64 usage, \
            65 unusable host data or an answer not as the API documents, 66 a file that does not exist, \
            69 the management server unreachable or its TLS certificate refused, 73 the --output file exists (--force \
            replaces it), 74 the policy could not be written, 77 the API key or signature refused.
            """
    )

    @Option(
        name: .customLong("cloudstack-agent"),
        help: ArgumentHelp("CloudStack's KVM agent configuration.", valueName: "agent.properties"))
    var agent: String?

    @Option(name: .long, help: ArgumentHelp("Write the policy to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "Replace the policy file if it exists (otherwise refused: exit 73).")
    var force = false

    @OptionGroup var host: HostOptions

    @OptionGroup var cloudstack: CloudStackOptions

    func run() throws {
        let written = try writtenPolicy(host: host, agentPath: agent, cloudstack: cloudstack, path: output ?? "<policy init>")
        for warning in written.warnings { printError("warning: \(warning)") }
        for item in written.undecided { printError("could not decide: \(item)") }
        try emit(written.text, to: output, force: force, what: "policy")
    }
}

/// The hosts to write a policy on, from the management server: what a loop over a zone reads.
struct PolicyHostsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hosts",
        abstract: "List a zone's KVM hosts from the CloudStack management server, one NAME ADDRESS line each.",
        discussion: """
            Asks the management server at --cloudstack-url (listHosts type=Routing, every page) for its KVM \
            hypervisors, of the zone --cloudstack-zone names (its name or id) or of every zone, and prints one \
            line per host: its name and its ipaddress, sorted by name; what a loop that runs \
            `policy init --cloudstack-host NAME` on each host reads. Hosts that are not Up and Enabled \
            (Disconnected, in Maintenance, ...) are listed all the same, each with its state in a note on \
            standard error; Routing hosts of another hypervisor and hosts without an ipaddress are left out, \
            said in a note. The API key and secret come from CLOUDSTACK_KEY and CLOUDSTACK_SECRET. \
            Exit status: 0 listed (no KVM host is a note, not an error), 64 usage (no key in the environment, \
            no Routing host in that zone), 65 an answer not as the API documents, 66 no --cloudstack-ca file, \
            69 the management server unreachable or its TLS certificate refused, 77 the API key or signature refused.
            """
    )

    @OptionGroup var connection: CloudStackConnectionOptions

    @Option(name: .customLong("cloudstack-zone"), help: ArgumentHelp(
        "The zone's name or id (default: every zone).", valueName: "NAME|ID"))
    var zone: String?

    func validate() throws {
        if connection.url == nil { throw ValidationError("give --cloudstack-url URL, the management server to ask") }
    }

    func run() throws {
        let zone = zone
        let found = try connection.withClient(url: connection.url ?? "") { client async throws(CloudStackError) in
            try await client.kvmHosts(zone: zone)
        }
        for note in found.notes { printError("note: \(note)") }
        print(found.hosts.map { "\($0.name) \(($0.ipAddress ?? "").trimmingCharacters(in: .whitespaces))\n" }.joined(),
              terminator: "")
    }
}

/// A policy written from this host (and, with --cloudstack-url, what its management server
/// says), checked to load; what `policy init` prints and what `audit --cloudstack-url` audits.
struct WrittenPolicy {
    var text: String
    var policy: Policy
    var warnings: [String]
    var undecided: [String]
}

func writtenPolicy(host: HostOptions, agentPath agent: String?, cloudstack: CloudStackOptions, path: String) throws -> WrittenPolicy {
    var agentInput: (path: String, properties: [String: String])?
    if let agent {
        guard FileManager.default.fileExists(atPath: agent) else {
            printError("\(agent): no such file")
            throw ExitCode(ExitStatus.noInput)
        }
        guard let text = try? String(contentsOfFile: agent, encoding: .utf8) else {
            printError("\(agent): cannot be read as UTF-8 text")
            throw ExitCode(ExitStatus.dataError)
        }
        agentInput = (agent, JavaProperties.parse(text))
    }
    var survey = try host.survey(extraTargets: [])
    let server = try cloudstack.input(localAddresses: survey.host.addresses.map(\.address.description))
    if let server {
        // Again, so that the kernel is asked the route to each pool server too.
        survey = try host.survey(extraTargets: server.poolTargets)
    }
    let hostname = ProcessInfo.processInfo.hostName
    let time = ISO8601DateFormatter().string(from: Date())
    var input = PolicyWriter.Input(
        host: survey.host, targets: survey.targets, agent: agentInput, origin: "on \(hostname) at \(time)")
    input.problems = survey.problems.map(\.description)
    input.managementServer = server
    let text = PolicyWriter.write(input)
    // What we write must load; if it does not, that is lanekeeper's bug, not the host's.
    do {
        let policy = try Policy.parse(text, path: path)
        return WrittenPolicy(text: text, policy: policy, warnings: PolicyWriter.warnings(input), undecided: PolicyWriter.undecided(input))
    } catch {
        printError("internal error: the written policy does not load (\(error.description)); it follows:\n\(text)")
        throw ExitCode(70)
    }
}
