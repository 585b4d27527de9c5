import Capture
import Check
import Pipeline
import Prometheus
import Synchronization

/// The metrics of a continuous watch, in the Prometheus text exposition format (served by
/// `MetricsServer` and written by `write(to:)` for node_exporter's textfile collector).
///
/// Counters grow by each closed window's counts (so they move once per interval), except
/// `lanekeeper_violations_total` and `lanekeeper_violating_flows`, which move as soon as a
/// violation is first seen. Every method may be called from any thread.
public final class WatchMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let policyInfo = Mutex<Gauge?>(nil)

    /// Metric names and their help, one place.
    enum Name: String, CaseIterable {
        case interfacePackets = "lanekeeper_interface_packets_total"
        case interfaceStoragePackets = "lanekeeper_interface_storage_packets_total"
        case networkPackets = "lanekeeper_network_packets_total"
        case networkStoragePackets = "lanekeeper_network_storage_packets_total"
        case violationPackets = "lanekeeper_violation_packets_total"
        case violations = "lanekeeper_violations_total"
        case violatingFlows = "lanekeeper_violating_flows"
        case unconfirmedFlows = "lanekeeper_unconfirmed_flows"
        case transitFlows = "lanekeeper_transit_flows"
        case dropped = "lanekeeper_dropped_packets_total"
        case captureUp = "lanekeeper_capture_up"
        case verdict = "lanekeeper_verdict"
        case windows = "lanekeeper_windows_total"
        case windowEnd = "lanekeeper_last_window_end_timestamp_seconds"
        case policyInfo = "lanekeeper_policy_info"
        case reloads = "lanekeeper_policy_reloads_total"

        var descriptor: MetricNameDescriptor {
            MetricNameDescriptor(metricName: rawValue, unitName: "", helpText: help)
        }

        var help: String {
            switch self {
            case .interfacePackets: "Packets read on the interface."
            case .interfaceStoragePackets: "Storage packets read on the interface, by storage protocol."
            case .networkPackets: "Packets seen in the policy network (unassigned: in none)."
            case .networkStoragePackets: "Storage packets seen in the policy network, by storage protocol."
            case .violationPackets: "Packets of storage flows in the management network that no allow entry covers."
            case .violations: "Storage flows in the management network that no allow entry covers, counted when first seen."
            case .violatingFlows:
                "Violating flows in the last closed window, plus those first seen since (0 when storage stays off management)."
            case .unconfirmedFlows:
                "Flows in the management network known as storage only by a port range in the last closed window "
                    + "(they make its verdict inconclusive)."
            case .transitFlows:
                "Storage flows in the management network between addresses not in host_addresses in the last closed "
                    + "window (another machine's, bridged through the host; not violations)."
            case .dropped: "Packets dropped before lanekeeper could read them (kernel buffer or interface)."
            case .captureUp: "1 while the interface is captured without problems, 0 when it could not be opened or was lost."
            case .verdict: "1 for the verdict of the last closed window, 0 for the others."
            case .windows: "Windows closed."
            case .windowEnd: "When the last window closed (Unix time)."
            case .policyInfo: "The policy in force: its file's SHA-256 (as sha256sum prints it) and path."
            case .reloads: "Policy reloads on SIGHUP, by result (loaded, or rejected and the old policy kept)."
            }
        }
    }

    /// - Parameter interfaces: the watched interfaces, whose counters start at 0.
    public init(interfaces: [String]) {
        for interface in interfaces {
            counter(.interfacePackets, [("interface", interface)]).increment(by: Int64(0))
            counter(.dropped, [("interface", interface)]).increment(by: Int64(0))
        }
        for verdict in [Verdict.pass, .fail, .inconclusive] {
            gauge(.verdict, [("verdict", verdict.rawValue)]).set(to: 0)
        }
        gauge(.violatingFlows).set(to: 0)
        gauge(.unconfirmedFlows).set(to: 0)
        gauge(.transitFlows).set(to: 0)
        counter(.windows).increment(by: Int64(0))
        for result in ["loaded", "rejected"] {
            counter(.reloads, [("result", result)]).increment(by: Int64(0))
        }
    }

    /// The policy now in force (at start, and after each reload).
    public func policy(path: String, sha256: String) {
        policyInfo.withLock { current in
            if let current { registry.unregisterGauge(current) }
            let info = gauge(.policyInfo, [("sha256", sha256), ("path", path)])
            info.set(to: 1)
            current = info
        }
    }

    /// A reload: `loaded`, or rejected (the old policy stays).
    public func reload(loaded: Bool) {
        counter(.reloads, [("result", loaded ? "loaded" : "rejected")]).increment()
    }

    /// A violation first seen (on a reading thread).
    public func seen(_ violation: LiveViolation) {
        counter(
            .violations,
            [("interface", violation.row.interface), ("network", violation.row.network), ("protocol", violation.row.protocolName)]
        ).increment()
        gauge(.violatingFlows).increment()
    }

    /// Adds a closed window's counts and sets the gauges to its verdict.
    public func record(_ window: ContinuousWindow) {
        let result = window.outcome.result
        for interface in result.interfaces {
            counter(.interfacePackets, [("interface", interface.label)]).increment(by: Int64(interface.packets))
            for tally in interface.byProtocol where tally.packets > 0 {
                counter(.interfaceStoragePackets, [("interface", interface.label), ("protocol", tally.protocolName)])
                    .increment(by: Int64(tally.packets))
            }
        }
        for network in result.networks {
            counter(.networkPackets, [("network", network.name), ("role", network.role)]).increment(by: Int64(network.packets))
            for tally in network.byProtocol where tally.packets > 0 {
                counter(.networkStoragePackets, [("network", network.name), ("role", network.role), ("protocol", tally.protocolName)])
                    .increment(by: Int64(tally.packets))
            }
        }
        let unassigned = result.interfaces.reduce(0) { $0 + $1.packets } - result.networks.reduce(0) { $0 + $1.packets }
        if unassigned > 0 {
            counter(.networkPackets, [("network", "unassigned"), ("role", "none")]).increment(by: Int64(unassigned))
        }
        for violation in result.violations {
            counter(
                .violationPackets,
                [("interface", violation.interface), ("network", violation.network), ("protocol", violation.protocolName)]
            ).increment(by: Int64(violation.packets))
        }
        gauge(.violatingFlows).set(to: Double(result.violations.count))
        gauge(.unconfirmedFlows).set(to: Double(result.unconfirmed.count))
        gauge(.transitFlows).set(to: Double(result.transit.count))
        for capture in window.outcome.interfaces {
            counter(.dropped, [("interface", capture.name)]).increment(by: Int64(capture.statistics.dropped))
            gauge(.captureUp, [("interface", capture.name)]).set(to: capture.opened && capture.problems.isEmpty ? 1 : 0)
        }
        for verdict in [Verdict.pass, .fail, .inconclusive] {
            gauge(.verdict, [("verdict", verdict.rawValue)]).set(to: result.verdict == verdict ? 1 : 0)
        }
        counter(.windows).increment()
        gauge(.windowEnd).set(to: Double(window.end.nanoseconds) / 1e9)
    }

    /// The exposition text.
    public func text() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// Writes the exposition text to `path` atomically (a hidden temporary file beside it,
    /// renamed over it), for node_exporter's textfile collector (name it `*.prom`).
    public func write(to path: String, files: any OutputFiles = LocalFiles()) throws(OutputWriteError) {
        let file = try files.create(path: path, replace: true, staging: .hidden)
        try file.write(text())
        try file.commit()
    }

    private func counter(_ name: Name, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: name.descriptor, labels: labels)
    }

    private func gauge(_ name: Name, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: name.descriptor, labels: labels)
    }
}
