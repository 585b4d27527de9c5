import Decode
import Policy
import Testing

/// The management/storage overlap check: the pair it reports is the one a comparison of
/// every pair would report (the overlap whose later subnet comes first, with the first
/// subnet of the other role it overlaps), and a policy with tens of thousands of subnets is
/// read in one pass rather than by comparing every pair.
@Suite struct OverlapTests {
    struct Listed {
        var management: Bool
        var prefix: IPPrefix
        var line: Int
    }

    /// A policy listing `subnets` one per line (management first, then storage), and where
    /// each one is.
    static func policy(_ subnets: [(management: Bool, prefix: IPPrefix)]) -> (yaml: String, listed: [Listed]) {
        var yaml = "version: 1\nnetworks:\n"
        var listed: [Listed] = []
        var line = 3
        for (role, isManagement) in [("management", true), ("storage", false)] {
            let none = !subnets.contains { $0.management == isManagement }
            yaml += "  \(role):\n    interfaces: [\(role)0]\n    subnets:\(none ? " []" : "")\n"
            line += 3
            for subnet in subnets where subnet.management == isManagement {
                yaml += "      - \"\(subnet.prefix)\"\n"
                listed.append(Listed(management: isManagement, prefix: subnet.prefix, line: line))
                line += 1
            }
        }
        return (yaml, listed)
    }

    /// What comparing every pair reports: (later, earlier) by line, the later as early as possible.
    static func reference(_ listed: [Listed]) -> (later: Listed, earlier: Listed)? {
        var best: (later: Listed, earlier: Listed)?
        for m in listed where m.management {
            for s in listed where !s.management && m.prefix.overlaps(s.prefix) {
                let pair = s.line > m.line ? (s, m) : (m, s)
                if best == nil || pair.0.line < best!.later.line { best = pair }
            }
        }
        return best
    }

    @Test func randomPoliciesReportThePairEveryComparisonWould() throws {
        var state: UInt64 = 0x5EED_0F_0FE7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var overlapping = 0
        for _ in 0..<400 {
            var subnets: [(management: Bool, prefix: IPPrefix)] = []
            for _ in 0..<Int(next() % 12 + 1) {
                // A small space (10.0.0.0/12 and 2001:db8::/44) so that overlaps are common.
                let length = Int(next() % 9) + 12
                let prefix: IPPrefix
                if next() % 4 == 0 {
                    let address = IPAddress(ipv6High: 0x2001_0DB8_0000_0000 | (next() % 16) << 16, low: 0)
                    prefix = try #require(IPPrefix(network: address, length: length + 32))
                } else {
                    let address = IPAddress(ipv4: 0x0A00_0000 | UInt32(next() % 4096) << 8)
                    prefix = try #require(IPPrefix(network: address, length: length))
                }
                subnets.append((next() % 2 == 0, prefix))
            }
            // One network's list may not hold the same prefix twice.
            var seen: Set<String> = []
            subnets = subnets.filter { seen.insert("\($0.management) \($0.prefix)").inserted }
            guard subnets.contains(where: \.management) else { continue }
            let (yaml, listed) = Self.policy(subnets)
            let expected = Self.reference(listed)
            do {
                _ = try Policy.parse(yaml, path: "p.yaml")
                #expect(expected == nil, "accepted, but \(expected.map { "\($0.later.prefix) overlaps \($0.earlier.prefix)" } ?? "")")
            } catch {
                let pair = try #require(expected, "rejected without an overlap: \(error)\n\(yaml)")
                overlapping += 1
                let later = pair.later.management ? "management" : "storage"
                let earlier = pair.earlier.management ? "management" : "storage"
                #expect(error.line == pair.later.line, "\(error)\n\(yaml)")
                #expect(error.message == "\(later) subnet \(pair.later.prefix) overlaps \(earlier) subnet "
                    + "\(pair.earlier.prefix) (line \(pair.earlier.line)); storage and management networks must not share addresses",
                    "\(yaml)")
            }
        }
        #expect(overlapping > 50, "the sample should hold many overlapping policies")
    }

    /// 20,000 management and 20,000 storage subnets, apart, then one storage subnet inside a
    /// management one at the very end.
    @Test func tensOfThousandsOfSubnetsAreReadWhole() throws {
        var subnets: [(management: Bool, prefix: IPPrefix)] = []
        for index in 0..<20_000 {
            subnets.append((true, try #require(IPPrefix(network: IPAddress(ipv4: 0x0A00_0000 | UInt32(index) << 8), length: 24))))
            subnets.append((false, try #require(IPPrefix(network: IPAddress(ipv4: 0xAC10_0000 | UInt32(index) << 8), length: 24))))
        }
        let apart = Self.policy(subnets)
        let policy = try Policy.parse(apart.yaml, path: "p.yaml")
        #expect(policy.networks.map(\.subnets.count) == [20_000, 20_000])

        subnets.append((false, try #require(IPPrefix("10.0.77.128/25"))))
        let (yaml, listed) = Self.policy(subnets)
        do {
            _ = try Policy.parse(yaml, path: "p.yaml")
            Issue.record("the overlap at the end was accepted")
        } catch {
            #expect(error.line == listed.last?.line)
            #expect(error.key == "networks.storage.subnets[20000]")
            #expect(error.message.hasPrefix("storage subnet 10.0.77.128/25 overlaps management subnet 10.0.77.0/24 (line \(6 + 77))"))
        }
    }
}
