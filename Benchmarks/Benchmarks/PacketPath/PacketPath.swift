import Benchmark
import Pipeline
import Policy

// Per-packet cost of lanekeeper's hot path: decode -> place -> flow tracking -> recognition,
// through `PacketPath` (the replay's reading step without the file reading), and the check
// that ends a replay. In the steady state (every place and flow already known) one
// iteration is 10 passes over `batch` packets, so per-packet figures are the iteration's
// divided by 10,000; it must not allocate: its malloc count is the framework's own (the
// "empty measurement" benchmark shows how many that is), with no tolerance at all.

let batch = 1_000

let policyText = """
    version: 1
    networks:
      management:
        interfaces: [mgmt0]
        subnets: [198.51.100.0/24]
      storage:
        interfaces: [stor0]
        vlans: [42]
        subnets: [203.0.113.0/24, "2001:db8::/32"]
    """

/// The same tolerance at every percentile (the threshold check compares p90, among others).
func everywhere<T>(_ value: T) -> [BenchmarkResult.Percentile: T] {
    [.p0: value, .p25: value, .p50: value, .p75: value, .p90: value, .p99: value, .p100: value]
}

let benchmarks: @Sendable () -> Void = {
    /// Malloc counts must not move at all; time moves with the machine's load (a shared
    /// 2-core box, where a run can take 2-3 times another), so only a slowdown past four
    /// times the recorded time fails.
    // No peakMemoryResident here: its sampling allocates now and then inside the measured region.
    let steadyState = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 5_000,
        thresholds: [
            .mallocCountTotal: .init(absolute: everywhere(0)),
            .wallClock: .init(relative: everywhere(300.0)),
            .throughput: .init(relative: everywhere(75.0)),
        ])

    let policy = try! Policy.parse(policyText, path: "benchmark.yaml")

    // What the framework itself allocates around a measured region: the floor of the others.
    Benchmark(
        "EmptyMeasurement",
        configuration: .init(
            metrics: [.mallocCountTotal], maxDuration: .seconds(1),
            thresholds: [.mallocCountTotal: .init(absolute: everywhere(0))])
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(benchmark) }
        benchmark.stopMeasurement()
    }

    // Names without spaces: package-benchmark reads a threshold file by the name as it is.
    for (name, large) in [("SmallFrames", false), ("MTUFrames", true)] {
        Benchmark("DecodeClassify\(name)KnownFlows-x10000", configuration: steadyState) { benchmark in
            let traffic = Traffic(packets: batch, flows: 256, large: large)
            var path = PacketPath(policy: policy, interfaces: Traffic.interfaces)
            // Learn every place and flow first: what is measured is the steady state.
            traffic.forEach { blackHole(path.ingest($0)) }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                for _ in 0..<10 { traffic.forEach { blackHole(path.ingest($0)) } }
            }
            benchmark.stopMeasurement()
            blackHole(path.liveFlows)
        }
    }

    Benchmark(
        "DecodeClassifyFlowChurn8192Over1024-x1000",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal],
            warmupIterations: 5, maxDuration: .seconds(2), maxIterations: 2_000,
            thresholds: [
                .mallocCountTotal: .init(relative: everywhere(25.0)),
                .wallClock: .init(relative: everywhere(300.0)),
            ])
    ) { benchmark in
        let traffic = Traffic(packets: 16 * batch, flows: 8_192, large: false, seed: 11)
        var path = PacketPath(policy: policy, interfaces: Traffic.interfaces, maxFlows: 1_024)
        traffic.forEach { blackHole(path.ingest($0)) }
        benchmark.startMeasurement()
        for iteration in benchmark.scaledIterations {
            // Each iteration a different thousand packets of the 16,000, round and round.
            let first = (iteration % 16) * batch
            traffic.forEach(first..<(first + batch)) { blackHole(path.ingest($0)) }
        }
        benchmark.stopMeasurement()
        precondition(path.liveFlows <= 1_024)
    }

    Benchmark(
        "CheckAfter16000Packets",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal],
            warmupIterations: 3, maxDuration: .seconds(2), maxIterations: 500,
            thresholds: [
                .mallocCountTotal: .init(relative: everywhere(25.0)),
                .wallClock: .init(relative: everywhere(300.0)),
            ])
    ) { benchmark in
        let traffic = Traffic(packets: 16 * batch, flows: 2_048, large: false, seed: 13)
        var path = PacketPath(policy: policy, interfaces: Traffic.interfaces)
        traffic.forEach { blackHole(path.ingest($0)) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(path.check())
        }
        benchmark.stopMeasurement()
    }
}
