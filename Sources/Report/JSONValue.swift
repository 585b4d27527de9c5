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
        ReportWriter.text { write(into: &$0, pretty: pretty) }
    }

    /// Writes the document into `out` as it goes (`serialized` is this into memory).
    public func write(into out: inout ReportWriter, pretty: Bool = true) {
        write(into: &out, indent: pretty ? 0 : -1)
    }

    /// Two spaces per level, made once for the levels a report has.
    private static let paddings = (0..<16).map { Array(repeating: UInt8(ascii: " "), count: 2 * $0) }

    private static func pad(_ level: Int, into out: inout ReportWriter) {
        if level < paddings.count {
            out.append(paddings[level])
        } else {
            for _ in 0..<level { out.append("  ") }
        }
    }

    private static func writeArray(count: Int, _ element: (Int) -> JSONValue, into out: inout ReportWriter, indent: Int) {
        if count == 0 {
            out.append("[]")
            return
        }
        let pretty = indent >= 0
        out.append(pretty ? "[\n" : "[")
        for index in 0..<count {
            // The sink failed (a full disk): the rest would go nowhere.
            if out.failed { return }
            if pretty { pad(indent + 1, into: &out) }
            element(index).write(into: &out, indent: pretty ? indent + 1 : -1)
            if index + 1 < count { out.append(",") }
            if pretty { out.append("\n") }
        }
        if pretty { pad(indent, into: &out) }
        out.append("]")
    }

    private func write(into out: inout ReportWriter, indent: Int) {
        let pretty = indent >= 0
        switch self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .int(let value): out.append(String(value))
        case .number(let value): out.append(value.isFinite ? String(value) : "null")
        case .string(let value): Self.writeString(value, into: &out)
        case .array(let items):
            Self.writeArray(count: items.count, { items[$0] }, into: &out, indent: indent)
        case .elements(let count, let element):
            Self.writeArray(count: count, element, into: &out, indent: indent)
        case .object(let members):
            if members.isEmpty {
                out.append("{}")
                return
            }
            out.append(pretty ? "{\n" : "{")
            for (index, (key, value)) in members.enumerated() {
                if pretty { Self.pad(indent + 1, into: &out) }
                Self.writeString(key, into: &out)
                out.append(pretty ? ": " : ":")
                value.write(into: &out, indent: pretty ? indent + 1 : -1)
                if index + 1 < members.count { out.append(",") }
                if pretty { out.append("\n") }
            }
            if pretty { Self.pad(indent, into: &out) }
            out.append("}")
        }
    }

    /// RFC 8259 string escaping: quotes, backslash and every control character (and DEL,
    /// U+2028 and U+2029, which some JavaScript readers choke on).
    private static func writeString(_ value: String, into out: inout ReportWriter) {
        out.append("\"")
        var value = value
        value.withUTF8 { bytes in
            // Most strings (names, addresses, services) need no escape: copied whole.
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F || $0 == 0xE2 }) {
                out.append(bytes)
                return
            }
            for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
                switch scalar {
                case "\"": out.append("\\\"")
                case "\\": out.append("\\\\")
                case "\n": out.append("\\n")
                case "\r": out.append("\\r")
                case "\t": out.append("\\t")
                case _ where scalar.value < 0x20 || scalar.value == 0x7f || scalar.value == 0x2028 || scalar.value == 0x2029:
                    let hex = String(scalar.value, radix: 16)
                    out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                default: out.append(String(scalar))
                }
            }
        }
        out.append("\"")
    }
}
