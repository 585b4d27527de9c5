import ArgumentParser
import Foundation
import Check
import Pipeline
import Policy
import Report

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Check saved captures (pcap or pcapng) against a policy.",
        discussion: """
            CAPTURE is PATH or INTERFACE=PATH; INTERFACE names the interface a single-interface file was \
            taken on. pcapng files name their interfaces themselves; SLL2 ('any') captures carry interface \
            indexes, named with --ifindex.
            """
    )

    @OptionGroup var report: PacketReportOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Name an SLL2 interface index (repeatable), e.g. --ifindex 3=eth1.", valueName: "N=NAME"))
    var ifindex: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Keep at most N flows live (memory stays bounded); beyond it the least recently seen are finished, "
                + "their counts kept. At least 16.", valueName: "N"))
    var maxFlows: Int = ReplayConfiguration.defaultMaxFlows

    @Argument(help: ArgumentHelp("Capture files.", valueName: "CAPTURE"))
    var captures: [String] = []

    func validate() throws {
        if captures.isEmpty {
            throw ValidationError("give at least one CAPTURE (PATH or INTERFACE=PATH)")
        }
        if maxFlows < 16 {
            throw ValidationError("--max-flows \(maxFlows): give at least 16")
        }
        _ = try ifindexNames()
    }

    func ifindexNames() throws -> [Int32: String] {
        var names: [Int32: String] = [:]
        for entry in ifindex {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let index = Int32(parts[0]), index > 0, !parts[1].isEmpty else {
                throw ValidationError("--ifindex \(entry): expected N=NAME with N a positive interface index, e.g. 3=eth1")
            }
            if let existing = names[index], existing != String(parts[1]) {
                throw ValidationError("--ifindex \(index) is given twice (\(existing) and \(parts[1]))")
            }
            names[index] = String(parts[1])
        }
        return names
    }

    func run() throws {
        let destination = try report.openReport()
        try report.base.refuseExistingEvidence(report.evidence)
        var configuration = ReplayConfiguration(
            policy: try report.loadPolicy(), inputs: captures.map(ReplayInput.init(argument:)),
            ifindexNames: try ifindexNames(), evidencePath: report.evidence, timeline: report.format == .html)
        configuration.replaceExisting = report.force
        configuration.maxFlows = maxFlows
        let outcome: ReplayOutcome
        do {
            outcome = try Replay.run(configuration)
        } catch {
            printError(error.description)
            switch error.code {
            case .notFound: throw ExitCode(ExitStatus.noInput)
            case .unusableInput: throw ExitCode(ExitStatus.dataError)
            case .evidence: throw ExitCode(ExitStatus.ioError)
            }
        }
        let result = outcome.result
        let text: String
        switch report.format {
        case .text: text = TextReport.render(result)
        case .json: text = JSONReport.render(result, policyPath: report.policy)
        case .html:
            text = HTMLReport.render(
                result,
                HTMLReportContext(
                    title: "lanekeeper replay", policyPath: report.policy, policyText: report.base.policyText(),
                    timeline: outcome.timeline))
        }
        try report.finish(
            report: text, verdict: result.verdict, evidenceError: outcome.evidenceError, destination: destination)
    }
}
