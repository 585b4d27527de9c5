import Check
import Foundation
import Pipeline
import Policy

/// One expectation held against a replay.
public struct CaseResult: Sendable {
    /// The case's name: the expectation's path under the checked directory, without `.expect.yaml`.
    public var name: String
    public var path: String
    public var description: String?
    /// What did not match (empty when the case passed).
    public var failures: [String]
    /// Set when the case could not run at all (a bad expectation, policy or capture).
    public var error: String?
    public var verdict: Verdict?
    public var storagePackets: [(network: String, packets: Int)]
    public var seconds: Double

    public var passed: Bool { failures.isEmpty && error == nil }
}

/// `lanekeeper check`: replays every capture under a directory against its expectation.
public enum CheckRun {
    /// Every `*.expect.yaml` under `root` (recursively, sorted), or `root` itself when it is one.
    public static func expectationFiles(under root: String) throws(PolicyError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw PolicyError(code: .notFound, path: root, message: "no such file or directory")
        }
        guard isDirectory.boolValue else { return [root] }
        guard let enumerator = FileManager.default.enumerator(atPath: root) else {
            throw PolicyError(code: .unreadable, path: root, message: "cannot list the directory")
        }
        let base = root.hasSuffix("/") ? root : root + "/"
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.hasSuffix(Expectation.suffix) { files.append(base + relative) }
        }
        return files.sorted()
    }

    /// Runs one expectation file.
    public static func run(file: String, root: String) -> CaseResult {
        let start = ContinuousClock.now
        var name = file
        let base = root.hasSuffix("/") ? root : root + "/"
        if name.hasPrefix(base) {
            name.removeFirst(base.count)
        } else if let slash = name.lastIndex(of: "/") {
            name = String(name[name.index(after: slash)...])
        }
        if name.hasSuffix(Expectation.suffix) { name.removeLast(Expectation.suffix.count) }
        var result = CaseResult(name: name, path: file, failures: [], storagePackets: [], seconds: 0)
        defer {
            let elapsed = ContinuousClock.now - start
            result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        do {
            let expectation = try Expectation.load(path: file)
            result.description = expectation.description
            let policy = try Policy.load(path: expectation.policyPath)
            let outcome = try Replay.run(
                ReplayConfiguration(
                    policy: policy, inputs: expectation.captures, ifindexNames: expectation.ifindexNames,
                    erspanNames: expectation.erspanNames))
            let got = outcome.result
            result.verdict = got.verdict
            result.storagePackets = got.networks.map { ($0.name, $0.storagePackets) }
            if got.verdict != expectation.verdict {
                let why = got.reasons.isEmpty ? "" : " (" + got.reasons.joined(separator: "; ") + ")"
                result.failures.append("verdict: expected \(expectation.verdict.rawValue), got \(got.verdict.rawValue)\(why)")
            }
            for (network, packets) in expectation.storagePackets {
                guard let summary = got.networks.first(where: { $0.name == network }) else {
                    result.failures.append("storage_packets.\(network): the policy has no network \"\(network)\"")
                    continue
                }
                if summary.storagePackets != packets {
                    result.failures.append(
                        "storage_packets.\(network): expected \(packets), got \(summary.storagePackets)")
                }
            }
            if let violations = expectation.violations, violations != got.violations.count {
                result.failures.append("violations: expected \(violations), got \(got.violations.count)")
            }
        } catch let error as PolicyError {
            result.error = error.description
        } catch let error as ReplayError {
            result.error = error.description
        } catch {
            result.error = "\(error)"
        }
        return result
    }
}
