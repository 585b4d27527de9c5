import Check
import Pipeline
import Policy
import Yams

/// What a sample capture is expected to produce: the contract `lanekeeper check` holds a
/// replay to. One file per case, named `NAME.expect.yaml`; paths in it are relative to it.
///
/// ```yaml
/// description: clean host, dumpcap multi-interface pcapng   # optional, one line
/// policy: policy.yaml
/// captures: [host.pcapng]              # each PATH or INTERFACE=PATH
/// ifindex: {2: mgmt0, 3: stor0}        # optional, names SLL2 interface indexes
/// erspan: {5: mgmt0}                   # optional, names the interfaces ERSPAN sessions mirror
/// verdict: pass                        # pass | fail | inconclusive
/// storage_packets: {management: 0, storage: 1234}   # optional, per network
/// violations: 3                        # optional, the number of violating flows
/// ```
public struct Expectation: Sendable {
    /// The expectation file.
    public var path: String
    public var description: String?
    /// The policy's path (resolved against the expectation's directory).
    public var policyPath: String
    /// The captures, paths resolved.
    public var captures: [ReplayInput]
    public var ifindexNames: [Int32: String]
    public var erspanNames: [UInt16: String]
    public var verdict: Verdict
    /// Expected storage packets per network, in file order.
    public var storagePackets: [(network: String, packets: Int)]
    public var violations: Int?

    public static let suffix = ".expect.yaml"

    /// Reads and validates an expectation file.
    public static func load(path: String) throws(PolicyError) -> Expectation {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PolicyError(code: .unreadable, path: path, message: "cannot read the expectation file")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(PolicyError) -> Expectation {
        try ExpectationReader(path: path).read(composeYAML(text, path: path))
    }
}

struct ExpectationReader: YAMLFieldReading {
    let path: String

    static let keys = [
        "description", "policy", "captures", "ifindex", "erspan", "verdict", "storage_packets", "violations",
    ]

    var directory: String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }

    func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : directory + relative
    }

    func read(_ root: Node?) throws(PolicyError) -> Expectation {
        guard let root else {
            throw PolicyError(code: .invalid, path: path, message: "the expectation file is empty")
        }
        let top = try mapping(root, key: "", allowed: Self.keys, expected: "a mapping with keys policy, captures, verdict, ...")
        func required(_ key: String) throws(PolicyError) -> MappingEntry {
            guard let entry = top[key] else {
                throw fail(root, key, "the required key \"\(key)\" is missing")
            }
            return entry
        }
        let description = try top["description"].map { entry throws(PolicyError) in
            try string(entry.value, key: "description", what: "a one-line description")
        }
        let policyEntry = try required("policy")
        let policyPath = resolve(try string(policyEntry.value, key: "policy", what: "the policy's path"))

        let captureEntry = try required("captures")
        var captures: [ReplayInput] = []
        for (index, node) in try list(captureEntry.value, key: "captures", of: "captures (PATH or INTERFACE=PATH)").enumerated() {
            let text = try string(node, key: "captures[\(index)]", what: "a capture (PATH or INTERFACE=PATH)")
            var input = ReplayInput(argument: text)
            input.path = resolve(input.path)
            captures.append(input)
        }
        if captures.isEmpty { throw fail(captureEntry.value, "captures", "list at least one capture") }

        var ifindexNames: [Int32: String] = [:]
        if let entry = top["ifindex"] {
            let names = try mapping(entry.value, key: "ifindex", allowed: nil, expected: "a mapping of interface index to name")
            for item in names.entries {
                guard let index = Int32(item.name), index > 0 else {
                    throw fail(item.keyNode, item.path, "\"\(item.name)\" is not an interface index (a positive integer)")
                }
                ifindexNames[index] = try string(item.value, key: item.path, what: "an interface name")
            }
        }

        var erspanNames: [UInt16: String] = [:]
        if let entry = top["erspan"] {
            let names = try mapping(entry.value, key: "erspan", allowed: nil, expected: "a mapping of ERSPAN session to name")
            for item in names.entries {
                guard let session = UInt16(item.name), session <= 1023 else {
                    throw fail(item.keyNode, item.path, "\"\(item.name)\" is not an ERSPAN session ID (0 to 1023)")
                }
                erspanNames[session] = try string(item.value, key: item.path, what: "an interface name")
            }
        }

        let verdictEntry = try required("verdict")
        let verdictText = try string(verdictEntry.value, key: "verdict", what: "pass, fail or inconclusive")
        guard let verdict = Verdict(rawValue: verdictText) else {
            throw fail(verdictEntry.value, "verdict", "\"\(verdictText)\" is not a verdict (pass, fail or inconclusive)")
        }

        var storagePackets: [(network: String, packets: Int)] = []
        if let entry = top["storage_packets"] {
            let counts = try mapping(entry.value, key: "storage_packets", allowed: nil, expected: "a mapping of network to packets")
            for item in counts.entries {
                storagePackets.append((item.name, try integer(item.value, key: item.path)))
            }
        }
        let violations = try top["violations"].map { entry throws(PolicyError) in try integer(entry.value, key: "violations") }
        return Expectation(
            path: path, description: description, policyPath: policyPath, captures: captures,
            ifindexNames: ifindexNames, erspanNames: erspanNames, verdict: verdict, storagePackets: storagePackets, violations: violations)
    }
}
