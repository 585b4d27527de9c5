import Report

/// The audit's reports: text for a person, JSON (version 1) for a machine.
public enum AuditReport {
    public static let version = 1

    public static func text(_ result: AuditResult) -> String {
        let headline: String
        switch result.verdict {
        case .pass: headline = "PASS: this host keeps storage off its management network"
        case .fail: headline = "FAIL: this host would send storage over the management network or break separation"
        case .inconclusive: headline = "INCONCLUSIVE: lanekeeper could not see enough of this host to decide"
        }
        var out = "lanekeeper audit \(headline)\n"
        for reason in result.reasons { out += "  - \(reason)\n" }

        out += "\nInterfaces\n"
        var rows = [["INTERFACE", "KIND", "MASTER", "LOWER", "STATE", "ADDRESSES", "NETWORK"]]
        for interface in result.interfaces {
            var kind = interface.kind ?? "-"
            if let vlan = interface.vlanID { kind += " \(vlan)" }
            let network = interface.network.map { name in
                interface.membership.map { $0 == "named in the policy" ? name : "\(name) (\($0))" } ?? name
            } ?? "-"
            rows.append([interface.name, kind, interface.master ?? "-", dash(interface.lowers.joined(separator: ",")),
                         interface.operState, dash(interface.addresses.joined(separator: " ")), network])
        }
        out += TextReport.table(rows, rightAligned: [])

        out += "\nStorage targets\n"
        if result.targets.isEmpty {
            out += "  (none)\n"
        } else {
            var targetRows = [["TARGET", "SOURCE", "INTERFACE", "SOURCE ADDRESS", "GATEWAY", "NETWORK"]]
            for target in result.targets {
                targetRows.append([
                    target.address.description, target.source.rawValue, target.interface ?? target.noRoute.map { "no route: \($0)" } ?? "-",
                    target.sourceAddress?.description ?? "-", target.gateway?.description ?? "-", target.network ?? "-",
                ])
            }
            out += TextReport.table(targetRows, rightAligned: [])
        }
        out += allowedSection(result)
        if !result.warnings.isEmpty {
            out += "\nWarnings\n"
            for warning in result.warnings { out += "  - \(warning)\n" }
        }
        return out
    }

    /// The targets `allow` excuses on management, each with where it was found and the entry.
    static func allowedSection(_ result: AuditResult) -> String {
        let allowed = result.allowed
        guard !allowed.isEmpty else { return "" }
        var out = "\nAllowed on management (the policy's allow; not failed)\n"
        for target in allowed {
            out += "  - \(target.address) (\(target.source.rawValue)" + (target.detail.map { " \($0)" } ?? "") + ") via "
                + (target.interface ?? "-") + ": \(target.allowedBy ?? "-")\n"
        }
        return out
    }

    private static func dash(_ text: String) -> String { text.isEmpty ? "-" : text }

    public static func json(_ result: AuditResult, policyPath: String? = nil) -> String {
        document(result, policyPath: policyPath).serialized() + "\n"
    }

    public static func document(_ result: AuditResult, policyPath: String? = nil) -> JSONValue {
        func optional(_ value: CustomStringConvertible?) -> JSONValue { value.map { .string($0.description) } ?? .null }
        var members: [(String, JSONValue)] = [
            ("version", .int(version)),
            ("tool", .string("lanekeeper audit")),
            ("verdict", .string(result.verdict.rawValue)),
            ("reasons", .array(result.reasons.map(JSONValue.string))),
            ("warnings", .array(result.warnings.map(JSONValue.string))),
        ]
        if let policyPath { members.append(("policy", .string(policyPath))) }
        members += [
            ("interfaces", .array(result.interfaces.map { interface in
                .object([
                    ("name", .string(interface.name)),
                    ("kind", optional(interface.kind)),
                    ("vlan", interface.vlanID.map { .int(Int($0)) } ?? .null),
                    ("master", optional(interface.master)),
                    ("lower", .array(interface.lowers.map(JSONValue.string))),
                    ("operstate", .string(interface.operState)),
                    ("addresses", .array(interface.addresses.map(JSONValue.string))),
                    ("network", optional(interface.network)),
                    ("membership", optional(interface.membership)),
                ])
            })),
            ("targets", .array(result.targets.map { target in
                .object([
                    ("address", .string(target.address.description)),
                    ("source", .string(target.source.rawValue)),
                    ("detail", optional(target.detail)),
                    ("interface", optional(target.interface)),
                    ("source_address", optional(target.sourceAddress)),
                    ("gateway", optional(target.gateway)),
                    ("table", target.table.map { .int(Int($0)) } ?? .null),
                    ("network", optional(target.network)),
                    ("no_route", optional(target.noRoute)),
                    ("allowed_by", optional(target.allowedBy)),
                    ("switch_exit", target.switchExit.map { exit in
                        .object([
                            ("bridge", .string(exit.bridge)),
                            ("vlan", exit.vlan.map { .int(Int($0)) } ?? .null),
                            ("ports", .array(exit.ports.map { port in
                                .object([
                                    ("name", .string(port.name)),
                                    ("interfaces", .array(port.interfaces.map(JSONValue.string))),
                                    ("tag", port.tag.map { .int(Int($0)) } ?? .null),
                                ])
                            })),
                        ])
                    } ?? .null),
                ])
            })),
            ("allowed", .array(result.allowed.map { target in
                .object([
                    ("address", .string(target.address.description)),
                    ("source", .string(target.source.rawValue)),
                    ("detail", optional(target.detail)),
                    ("interface", optional(target.interface)),
                    ("network", optional(target.network)),
                    ("allow", optional(target.allowedBy)),
                ])
            })),
            ("violations", .array(result.violations.map { violation in
                .object([
                    ("rule", .string(violation.rule)),
                    ("message", .string(violation.message)),
                    ("target", optional(violation.target)),
                    ("interface", optional(violation.interface)),
                    ("source", optional(violation.source?.rawValue)),
                ])
            })),
        ]
        return .object(members)
    }
}
