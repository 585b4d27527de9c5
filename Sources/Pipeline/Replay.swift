import Capture
import Check
import Decode
import Flows
import Frames
import Policy

/// One capture to replay: a path, and optionally the interface a single-interface file was
/// taken on (`INTERFACE=PATH` on the command line).
public struct ReplayInput: Sendable, Equatable {
    public var path: String
    public var interfaceName: String?

    public init(path: String, interfaceName: String? = nil) {
        self.path = path
        self.interfaceName = interfaceName
    }

    /// Parses `PATH` or `INTERFACE=PATH`. A `=` is taken as the separator only when the part
    /// before it looks like an interface name (no `/`), so paths containing `=` still work.
    public init(argument: String) {
        if let equals = argument.firstIndex(of: "="), equals != argument.startIndex {
            let name = argument[..<equals]
            if !name.contains("/") && name.count <= 64 {
                self.init(path: String(argument[argument.index(after: equals)...]), interfaceName: String(name))
                return
            }
        }
        self.init(path: argument)
    }
}

/// Everything a replay needs.
public struct ReplayConfiguration: Sendable {
    public var policy: Policy
    public var inputs: [ReplayInput]
    /// SLL2 interface index -> name (`--ifindex 3=eth1`).
    public var ifindexNames: [Int32: String]
    /// ERSPAN session -> the interface it mirrors (`--erspan 5=eth1`).
    public var erspanNames: [UInt16: String]
    /// The inputs, `--ifindex` and `--erspan` names, as resolution names interfaces.
    public var sourceNames: SourceNames {
        SourceNames(inputs: inputs, ifindexNames: ifindexNames, erspanNames: erspanNames)
    }
    /// Where to write every packet of every violating flow, if anywhere.
    public var evidencePath: String?
    /// Whether to build the report's timeline (a second pass over the captures).
    public var timeline: Bool
    /// The bound on live flows (`--max-flows`): beyond it the least recently seen are finished.
    public var maxFlows = FlowTracker.defaultMaxFlows
    public static let defaultMaxFlows = FlowTracker.defaultMaxFlows
    /// Whether to read ahead in batches (the result is the same either way; see
    /// `ReadAhead`): on a second thread while this one classifies when the process may use two
    /// processors, else in turn on this one. On unless the environment sets
    /// `LANEKEEPER_READ_AHEAD=0` (frame by frame; for benchmarks and tests comparing them).
    public var readAhead = ReadAhead.enabledByEnvironment
    /// Whether the read-ahead reads on a second thread (else in batches in turn on this
    /// one): so when the process may run on two processors or more.
    public var readAheadThreads = ReadAhead.hasTwoProcessors
    /// Whether an existing evidence file (or `FILE.partial`) may be replaced (`--force`).
    public var replaceExisting = false

    public init(
        policy: Policy, inputs: [ReplayInput], ifindexNames: [Int32: String] = [:], erspanNames: [UInt16: String] = [:],
        evidencePath: String? = nil, timeline: Bool = false
    ) {
        self.policy = policy
        self.inputs = inputs
        self.ifindexNames = ifindexNames
        self.erspanNames = erspanNames
        self.evidencePath = evidencePath
        self.timeline = timeline
    }
}

/// A replay that could not be done at all.
public struct ReplayError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable {
        /// A capture does not exist.
        case notFound
        /// A capture cannot be read as a capture.
        case unusableInput
        /// The evidence file could not be written.
        case evidence
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}

/// Replays saved captures through the pipeline: source -> frame -> decode -> flows -> check.
public enum Replay {
    /// Replays every input and judges it against the policy.
    /// - Throws: `ReplayError` when a capture is missing or unusable; nothing is judged then.
    ///   An evidence file that cannot be written is reported in the outcome instead, so the
    ///   verdict is never lost.
    public static func run(_ configuration: ReplayConfiguration) throws(ReplayError) -> ReplayOutcome {
        let checker = Checker(policy: configuration.policy)
        var engine = Engine(table: configuration.policy.protocolTable, maxFlows: configuration.maxFlows)
        if configuration.readAhead {
            try ReadAhead.read(configuration.inputs, into: &engine, threads: configuration.readAheadThreads)
        } else {
            for (index, input) in configuration.inputs.enumerated() {
                try engine.read(input, sourceIndex: index)
            }
        }
        let resolved = engine.resolve(names: configuration.sourceNames, checker: checker)
        let result = checker.check(resolved.observation)
        var outcome = ReplayOutcome(result: result)
        if let evidencePath = configuration.evidencePath {
            let violating = Set(result.violations.map(\.flow))
            let rawFlows = resolved.rawFlowOwner.rawFlows(ownedByAnyOf: violating)
            // Storage flows summarised beyond --max-flows count as violations in a management network.
            let management = resolved.segmentOfPlace.map { segment in
                configuration.policy.isManagement(resolved.observation.segments[segment].network)
            }
            let summarised = resolved.summarisedStorage
            do {
                outcome.evidencePackets = try Evidence.write(
                    to: evidencePath, replace: configuration.replaceExisting, inputs: configuration.inputs, places: engine.places,
                    table: configuration.policy.protocolTable,
                    isEvidence: { rawFlows.contains($0) || (summarised.contains($0) && management[Int($1)]) },
                    interfaceOfPlace: resolved.interfaceOfPlace, interfaces: resolved.observation.interfaces,
                    maxFlows: configuration.maxFlows)
            } catch {
                outcome.evidenceError = error.description
            }
        }
        if configuration.timeline {
            let observation = resolved.observation
            outcome.timeline = TimelinePass.build(
                inputs: configuration.inputs, places: engine.places, table: configuration.policy.protocolTable,
                networkOfPlace: resolved.segmentOfPlace.map { observation.segments[$0].network },
                isStorage: { resolved.rawFlowOwner[$0] >= 0 ? observation.flows[resolved.rawFlowOwner[$0]].isStorage : resolved.summarisedStorage.contains($0) },
                networks: configuration.policy.networks.count, maxFlows: configuration.maxFlows)
        }
        return outcome
    }
}

/// A replay's result, and what became of the evidence file.
public struct ReplayOutcome: Sendable {
    public var result: CheckResult
    /// Packets written to the evidence file.
    public var evidencePackets: Int = 0
    /// Why the evidence file could not be written, if it could not (the verdict stands).
    public var evidenceError: String?
    /// Bytes over time per network, when the configuration asked for it (nil also when a
    /// capture could not be read a second time).
    public var timeline: Timeline?

    public init(result: CheckResult) {
        self.result = result
    }
}

