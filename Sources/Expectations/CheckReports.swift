import Report

/// Renders `lanekeeper check` results.
public enum CheckReports {
    /// One line per case, then a summary.
    public static func text(_ cases: [CaseResult]) -> String {
        var out = ""
        for item in cases {
            let status = item.error != nil ? "ERROR" : (item.passed ? "ok   " : "FAIL ")
            var line = "\(status) \(item.name)"
            if let verdict = item.verdict {
                line += "  \(verdict.rawValue)"
                let counts = item.storagePackets.map { "\($0.network) \($0.packets)" }.joined(separator: ", ")
                if !counts.isEmpty { line += " (storage packets: \(counts))" }
            }
            out += line + "\n"
            for failure in item.failures { out += "      \(failure)\n" }
            if let error = item.error { out += "      \(error)\n" }
        }
        let failed = cases.filter { !$0.passed }.count
        out += "\n\(cases.count - failed) of \(cases.count) captures match their expectations"
            + (failed > 0 ? "; \(failed) \(failed == 1 ? "does" : "do") not\n" : "\n")
        return out
    }

    /// One self-contained HTML page (see `HTML`): a banner saying whether every case matched,
    /// then a row per case with its verdict, storage packets per network and what did not match.
    public static func html(_ cases: [CaseResult], title: String = "lanekeeper check") -> String {
        let failed = cases.filter { !$0.passed }.count
        let headline = "\(cases.count - failed) of \(cases.count) captures match their expectations"
        var reasons = cases.filter { !$0.passed }.map { "\($0.name): " + ($0.error.map { [$0] } ?? $0.failures).joined(separator: "; ") }
        if reasons.count > 20 { reasons = Array(reasons.prefix(20)) + ["… and \(failed - 20) more"] }
        var body = HTML.banner(failed == 0 ? .pass : .fail, headline: headline, reasons: reasons)
        let rows = cases.map { item in
            let status = item.error != nil ? "ERROR" : (item.passed ? "ok" : "FAIL")
            let what = item.error.map { [$0] } ?? item.failures
            return HTML.Row(
                [
                    status, item.name, item.description ?? "", item.verdict?.rawValue ?? "–",
                    item.storagePackets.map { "\($0.network) \($0.packets)" }.joined(separator: ", "),
                    what.joined(separator: "\n"),
                ], class: item.passed ? "good" : "bad")
        }
        body += HTML.section(
            "Cases", id: "cases",
            HTML.table(
                header: ["Result", "Case", "Description", "Verdict", "Storage packets", "What did not match"], rows: rows,
                class: "cases"))
        body += "<footer>\(HTML.escape(title)) · lanekeeper HTML report</footer>\n"
        return HTML.page(title: "\(title): \(failed == 0 ? "pass" : "fail")", body: body)
    }

    /// JUnit XML, as Jenkins, GitLab and GitHub Actions read it: one test suite, a test case
    /// per expectation, `<failure>` for a mismatch and `<error>` for a case that could not run.
    public static func junit(_ cases: [CaseResult], suiteName: String = "lanekeeper check") -> String {
        let failures = cases.filter { $0.error == nil && !$0.failures.isEmpty }.count
        let errors = cases.filter { $0.error != nil }.count
        let total = cases.reduce(0.0) { $0 + $1.seconds }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(xml(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" "
            + "errors=\"\(errors)\" time=\"\(seconds(total))\">\n"
        out += "  <testsuite name=\"\(xml(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" "
            + "errors=\"\(errors)\" skipped=\"0\" time=\"\(seconds(total))\">\n"
        for item in cases {
            let (classname, name) = split(item.name)
            out += "    <testcase classname=\"\(xml(classname))\" name=\"\(xml(name))\" file=\"\(xml(item.path))\" "
                + "time=\"\(seconds(item.seconds))\">\n"
            if let error = item.error {
                out += "      <error message=\"\(xml(error))\" type=\"unusable\">\(xml(error))</error>\n"
            } else if !item.failures.isEmpty {
                let message = item.failures.joined(separator: "; ")
                out += "      <failure message=\"\(xml(message))\" type=\"mismatch\">"
                    + "\(xml(item.failures.joined(separator: "\n")))</failure>\n"
            }
            var output = item.description.map { $0 + "\n" } ?? ""
            if let verdict = item.verdict {
                output += "verdict: \(verdict.rawValue)\n"
                for (network, packets) in item.storagePackets { output += "storage_packets.\(network): \(packets)\n" }
            }
            if !output.isEmpty { out += "      <system-out>\(xml(output))</system-out>\n" }
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    /// `clean/pcapng` -> (`clean`, `pcapng`); a name without a directory has classname `captures`.
    static func split(_ name: String) -> (String, String) {
        guard let slash = name.lastIndex(of: "/") else { return ("captures", name) }
        let directory = name[..<slash].replacingOccurrences(of: "/", with: ".")
        return (directory, String(name[name.index(after: slash)...]))
    }

    static func seconds(_ value: Double) -> String {
        let millis = Int((value * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
    static func xml(_ text: String) -> String {
        HTML.escape(text, whitespaceAsReferences: true)
    }
}
