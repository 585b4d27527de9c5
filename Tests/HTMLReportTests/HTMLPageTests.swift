import Capture
import TestSupport
import Foundation
import Frames
import Testing

/// Debian's headless Chromium, which `scripts/install-deps --test` installs.
let chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Where the tests leave their screenshots, to be looked at (`LK_SCREENSHOTS`, or a
/// directory under the temporary directory).
let screenshotDirectory: String = {
    let directory = ProcessInfo.processInfo.environment["LK_SCREENSHOTS"]
        ?? NSTemporaryDirectory() + "lanekeeper-html-screenshots"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}()


func lanekeeper(_ arguments: [String]) throws -> Run {
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build lanekeeper first (swift build)")
    return try run(binary, arguments)
}

/// What headless Chromium made of a page.
struct LoadedPage {
    /// The DOM after loading, serialised.
    var dom: String
    /// Messages the page logged to the console (CSP violations included).
    var consoleMessages: [String]
    /// Requests the page made for anything but itself (from Chromium's net log).
    var requests: [String]
}

/// Loads `path` in headless Chromium with name resolution disabled, dumps its DOM, collects
/// console messages and the page's network requests, and takes a screenshot to `screenshot`.
func load(_ path: String, screenshot: String) throws -> LoadedPage {
    let chromium = URL(fileURLWithPath: try #require(chromiumPath))
    let profile = temporaryPath("profile")
    let netLog = temporaryPath("netlog.json")
    defer {
        try? FileManager.default.removeItem(atPath: profile)
        try? FileManager.default.removeItem(atPath: netLog)
    }
    let common = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--user-data-dir=\(profile)", "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    let url = URL(fileURLWithPath: path).absoluteString
    let dump = try run(
        chromium, common + ["--enable-logging=stderr", "--v=0", "--log-net-log=\(netLog)", "--dump-dom", url])
    try #require(dump.status == 0, "chromium failed: \(dump.stderr)")
    let shot = try run(chromium, common + ["--screenshot=\(screenshot)", "--window-size=1280,2000", url])
    try #require(shot.status == 0, "chromium screenshot failed: \(shot.stderr)")

    let console = dump.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
    // A request the page made carries the page's (file://) network isolation key; Chromium's
    // own background requests do not.
    var requests: [String] = []
    let log = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: netLog))) as? [String: Any]
    for case let event as [String: Any] in log?["events"] as? [Any] ?? [] {
        guard let params = event["params"] as? [String: Any], let requested = params["url"] as? String,
            let key = params["network_isolation_key"] as? String, key.contains("file://")
        else { continue }
        if !requested.hasPrefix("file:") && !requested.hasPrefix("data:") { requests.append(requested) }
    }
    return LoadedPage(dom: dump.stdout, consoleMessages: console, requests: requests)
}

/// The rows of the table with class `name` in a dumped DOM.
func rows(of table: String, in dom: String) -> [Substring] {
    guard let start = dom.range(of: "<table class=\"\(table)\">"),
        let end = dom.range(of: "</table>", range: start.upperBound..<dom.endIndex),
        let body = dom.range(of: "<tbody>", range: start.upperBound..<end.lowerBound)
    else { return [] }
    return dom[body.upperBound..<end.lowerBound].split(separator: "<tr").dropFirst().map { $0 }
}

/// Everything a page lanekeeper writes must hold: no way to fetch anything, and nothing the
/// browser complained about or fetched when it loaded it.
func expectLoadsCleanly(_ html: String, _ page: LoadedPage) {
    #expect(page.consoleMessages.isEmpty, "\(page.consoleMessages)")
    #expect(page.requests.isEmpty, "\(page.requests)")
    #expect(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        + "style-src 'unsafe-inline'; img-src data:\">"))
    for reference in ["http://", "https://", "src=", "href=", "url(", "@import", "<script", "<link", "<iframe"] {
        #expect(!html.contains(reference), "the page contains \(reference)")
    }
}

@Suite(
    .serialized,
    .enabled(if: chromiumPath != nil, "chromium is not installed (scripts/install-deps --test installs it); page tests skipped"))
struct HTMLPageTests {
    func replayPage(_ name: String, expectStatus: Int32) throws -> (html: String, page: LoadedPage, json: [String: Any]) {
        let output = temporaryPath("\(name).html")
        let report = temporaryPath("\(name).json")
        defer {
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: report)
        }
        let arguments = ["--policy", "captures/\(name)/policy.yaml", "captures/\(name)/host.pcapng"]
        let result = try lanekeeper(["replay", "--format", "html", "--output", output] + arguments)
        #expect(result.status == expectStatus, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        let json = try lanekeeper(["replay", "--format", "json", "--output", report] + arguments)
        #expect(json.status == expectStatus)
        let html = try String(contentsOfFile: output, encoding: .utf8)
        let page = try load(output, screenshot: screenshotDirectory + "/replay-\(name).png")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        return (html, page, document)
    }

    @Test func cleanCapturePassesOnAPageThatLoadsCleanly() throws {
        let (html, page, _) = try replayPage("clean", expectStatus: 0)
        expectLoadsCleanly(html, page)
        #expect(page.dom.contains("<h1 id=\"verdict\">PASS: storage traffic stayed off the management network</h1>"))
        #expect(rows(of: "flows violations", in: page.dom).isEmpty)
        // A timeline per network, and the policy as written.
        #expect(page.dom.components(separatedBy: "<svg class=\"timeline\"").count - 1 == 2)
        #expect(page.dom.contains("expect_storage_traffic: true"))
    }

    @Test func leakingCaptureFailsWithARowPerViolation() throws {
        let (html, page, json) = try replayPage("leak-address", expectStatus: 1)
        expectLoadsCleanly(html, page)
        #expect(page.dom.contains("<h1 id=\"verdict\">FAIL: storage traffic crossed the management network</h1>"))
        let violations = try #require(json["violations"] as? [[String: Any]])
        #expect(!violations.isEmpty)
        let shown = rows(of: "flows violations", in: page.dom)
        #expect(shown.count == violations.count)
        for violation in violations {
            let client = try #require(violation["client"] as? String)
            #expect(shown.contains { $0.contains(">\(client)<") }, "no row for \(client)")
        }
        // The violating flows are marked on the management network's timeline.
        #expect(page.dom.components(separatedBy: "<rect class=\"mark\"").count - 1 == violations.count)
    }

    @Test func markupInAnInterfaceNameIsShownAsText() throws {
        let evil = "<script>alert(1)</script><b>x</b>"
        // The leaking capture's management interface, renamed.
        let capture = temporaryPath("evil.pcapng")
        let policy = temporaryPath("evil.yaml")
        let output = temporaryPath("evil.html")
        defer {
            for path in [capture, policy, output] { try? FileManager.default.removeItem(atPath: path) }
        }
        let writer = try PcapngWriter(path: capture)
        var source = try CaptureFile.open(path: "\(packageRoot.path)/captures/leak-address/mgmt0.pcap")
        var failure: OutputWriteError?
        _ = source.read { frame in
            do throws(OutputWriteError) {
                try writer.write(frame, interfaceName: evil)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try writer.close()
        try """
            version: 1
            networks:
              management:
                interfaces: ["\(evil)"]
                subnets: [198.51.100.0/24]
              storage:
                interfaces: [stor0]
                subnets: [203.0.113.0/24]
            """.write(toFile: policy, atomically: true, encoding: .utf8)

        let result = try lanekeeper(["replay", "--policy", policy, "--format", "html", "--output", output, capture])
        #expect(result.status == 1, "\(result.stderr)")
        let html = try String(contentsOfFile: output, encoding: .utf8)
        let page = try load(output, screenshot: screenshotDirectory + "/replay-markup.png")
        expectLoadsCleanly(html, page)
        #expect(!page.dom.contains("<script"))
        #expect(!page.dom.contains("<b>"))
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"
        #expect(page.dom.contains(">\(escaped)<"))
        #expect(rows(of: "flows violations", in: page.dom).allSatisfy { $0.contains(escaped) })
    }

    @Test func checkPageListsEveryCase() throws {
        let output = temporaryPath("check.html")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try lanekeeper(["check", "captures", "--format", "html", "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        let expectations = try FileManager.default.subpathsOfDirectory(atPath: packageRoot.path + "/captures")
            .filter { $0.hasSuffix(".expect.yaml") }
        let html = try String(contentsOfFile: output, encoding: .utf8)
        let page = try load(output, screenshot: screenshotDirectory + "/check.png")
        expectLoadsCleanly(html, page)
        #expect(page.dom.contains("\(expectations.count) of \(expectations.count) captures match their expectations"))
        #expect(rows(of: "cases", in: page.dom).count == expectations.count)
    }
}
