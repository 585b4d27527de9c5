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
            indexes, named with --ifindex. Frames a switch mirrored with ERSPAN are judged on the interface \
            --erspan names for their session (else on the interface the copy arrived on).
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
            "Attribute frames mirrored by an ERSPAN session to the interface it mirrors (repeatable), "
                + "e.g. --erspan 5=eth1.", valueName: "SESSION=NAME"))
    var erspan: [String] = []

    @OptionGroup var flowBound: FlowBoundOptions

    @Argument(help: ArgumentHelp("Capture files.", valueName: "CAPTURE"))
    var captures: [String] = []

    func validate() throws {
        if captures.isEmpty {
            throw ValidationError("give at least one CAPTURE (PATH or INTERFACE=PATH)")
        }
        _ = try ifindexNames()
        _ = try erspanNames()
    }

    func ifindexNames() throws -> [Int32: String] {
        try Self.names(
            ifindex, option: "--ifindex", expected: "N=NAME with N a positive interface index, e.g. 3=eth1"
        ) { Int32($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    func erspanNames() throws -> [UInt16: String] {
        try Self.names(
            erspan, option: "--erspan", expected: "SESSION=NAME with SESSION an ERSPAN session ID from 0 to 1023, e.g. 5=eth1"
        ) { UInt16($0).flatMap { $0 <= 1023 ? $0 : nil } }
    }

    /// The names `KEY=NAME` entries of `option` give, each key once (or twice with the same name).
    static func names<Key: Hashable & CustomStringConvertible>(
        _ entries: [String], option: String, expected: String, key: (Substring) -> Key?
    ) throws -> [Key: String] {
        var names: [Key: String] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let index = key(parts[0]), !parts[1].isEmpty else {
                throw ValidationError("\(option) \(entry): expected \(expected)")
            }
            if let existing = names[index], existing != String(parts[1]) {
                throw ValidationError("\(option) \(index) is given twice (\(existing) and \(parts[1]))")
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
            ifindexNames: try ifindexNames(), erspanNames: try erspanNames(), evidencePath: report.evidence,
            timeline: report.format == .html)
        configuration.replaceExisting = report.force
        configuration.maxFlows = flowBound.maxFlows
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
        let write: (inout ReportWriter) -> Void
        switch report.format {
        case .text: write = { TextReport.write(result, into: &$0) }
        case .json: write = { [policy = report.policy] in JSONReport.write(result, policyPath: policy, into: &$0) }
        case .html:
            // The page embeds its charts and is bounded on its own: made whole, then written.
            let page = HTMLReport.render(
                result,
                HTMLReportContext(
                    title: "lanekeeper replay", policyPath: report.policy, policyText: report.base.policyText(),
                    timeline: outcome.timeline))
            write = { $0.append(page) }
        }
        try report.finish(
            report: write, verdict: result.verdict, evidenceError: outcome.evidenceError, destination: destination)
    }
}
