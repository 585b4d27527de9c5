/// A JSON document with keys kept in the order they were written, so that reports read
/// the same way every time (and diff cleanly).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// A number with a fraction, written as Swift's shortest exact decimal (null when not finite).
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// An array whose elements are made one at a time as it is written, each let go before
    /// the next is made: a report's violations (a million of them on a flooded management
    /// network) are never all held as values at once, only as the text they become.
    case elements(count: Int, element: @Sendable (Int) -> JSONValue)
    case object([(String, JSONValue)])

    /// `.elements` over `items`, each made by `transform` when it is written.
    public static func lazyArray<Item: Sendable>(_ items: [Item], _ transform: @escaping @Sendable (Item) -> JSONValue) -> JSONValue {
        .elements(count: items.count) { transform(items[$0]) }
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.serialized() == rhs.serialized()
    }

    /// Serialises with two-space indentation (or compactly).
    public func serialized(pretty: Bool = true) -> String {
        var out = ""
        write(into: &out, indent: pretty ? 0 : -1)
        return out
    }

    /// Two spaces per level, made once for the levels a report has.
    private static let paddings = (0..<16).map { String(repeating: "  ", count: $0) }
    private static func padding(_ level: Int) -> String {
        level < paddings.count ? paddings[level] : String(repeating: "  ", count: level)
    }

    private static func writeArray(count: Int, _ element: (Int) -> JSONValue, into out: inout String, indent: Int) {
        if count == 0 {
            out += "[]"
            return
        }
        let pretty = indent >= 0
        let newline = pretty ? "\n" : ""
        let pad = pretty ? Self.padding(indent + 1) : ""
        out += "[" + newline
        for index in 0..<count {
            out += pad
            element(index).write(into: &out, indent: pretty ? indent + 1 : -1)
            out += (index + 1 < count ? "," : "") + newline
        }
        out += (pretty ? Self.padding(indent) : "") + "]"
    }

    private func write(into out: inout String, indent: Int) {
        let pretty = indent >= 0
        let pad = pretty ? Self.padding(indent + 1) : ""
        let closePad = pretty ? Self.padding(indent) : ""
        let newline = pretty ? "\n" : ""
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .number(let value): out += value.isFinite ? String(value) : "null"
        case .string(let value): Self.writeString(value, into: &out)
        case .array(let items):
            Self.writeArray(count: items.count, { items[$0] }, into: &out, indent: indent)
        case .elements(let count, let element):
            Self.writeArray(count: count, element, into: &out, indent: indent)
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{" + newline
            for (index, (key, value)) in members.enumerated() {
                out += pad
                Self.writeString(key, into: &out)
                out += pretty ? ": " : ":"
                value.write(into: &out, indent: pretty ? indent + 1 : -1)
                out += (index + 1 < members.count ? "," : "") + newline
            }
            out += closePad + "}"
        }
    }

    /// RFC 8259 string escaping: quotes, backslash and every control character.
    private static func writeString(_ value: String, into out: inout String) {
        out += "\""
        // Most strings (names, addresses, services) need no escape: appended whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F || $0 == 0xE2 }) {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
