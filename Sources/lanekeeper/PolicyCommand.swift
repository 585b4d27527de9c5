import ArgumentParser
import Audit
import Foundation
import Policy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with policies.",
        subcommands: [PolicyInitCommand.self]
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
            as host_addresses. Exit status: 0 written, 64 usage, \
            65 unusable host data, 66 a file that does not exist, 73 the --output file exists (--force \
            replaces it), 74 the policy could not be written.
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

    func run() throws {
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
        let survey = try host.survey(extraTargets: [])
        let hostname = ProcessInfo.processInfo.hostName
        let time = ISO8601DateFormatter().string(from: Date())
        var input = PolicyWriter.Input(
            host: survey.host, targets: survey.targets, agent: agentInput, origin: "on \(hostname) at \(time)")
        input.problems = survey.problems.map(\.description)
        for warning in PolicyWriter.warnings(input) { printError("warning: \(warning)") }
        let text = PolicyWriter.write(input)
        // What we write must load; if it does not, that is lanekeeper's bug, not the host's.
        do {
            _ = try Policy.parse(text, path: output ?? "<policy init>")
        } catch {
            printError("internal error: the written policy does not load (\(error.description)); it follows:\n\(text)")
            throw ExitCode(70)
        }
        try emit(text, to: output, force: force, what: "policy")
    }
}
