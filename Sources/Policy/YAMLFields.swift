import Yams

/// Reading typed values out of a composed YAML tree, each failure a `PolicyError` that names
/// the file, line, column and dotted key. The policy reader uses it, and so does every other
/// lanekeeper file format written in YAML (capture expectations).
public protocol YAMLFieldReading {
    /// The file being read, for error messages.
    var path: String { get }
}

/// Turns YAML text into a node tree whose nodes carry their marks (line, column);
/// a syntax error becomes a `PolicyError` with code `.syntax` naming the line.
public func composeYAML(_ yaml: String, path: String) throws(PolicyError) -> Node? {
    try PolicyDocument.compose(yaml, path: path)
}

/// `parent.child`, or `child` at the top.
public func joinKey(_ parent: String, _ child: String) -> String {
    parent.isEmpty ? child : "\(parent).\(child)"
}

public struct MappingEntry {
    public var name: String
    public var keyNode: Node
    public var value: Node
    /// The dotted key path of this entry.
    public var path: String
}

public struct MappingView {
    public var entries: [MappingEntry] = []
    public subscript(name: String) -> MappingEntry? { entries.first { $0.name == name } }
}

extension YAMLFieldReading {
    /// The node as a mapping with scalar keys; when `allowed` is given, any other key is an error.
    public func mapping(_ node: Node, key: String, allowed: [String]?, expected: String) throws(PolicyError) -> MappingView {
        guard case let .mapping(mapping) = node else {
            throw fail(node, key, "expected \(expected), found \(Self.describe(node))")
        }
        var view = MappingView()
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else {
                throw fail(keyNode, key, "keys must be plain names, found \(Self.describe(keyNode))")
            }
            let name = scalar.string
            let path = joinKey(key, name)
            if let allowed, !allowed.contains(name) {
                throw fail(keyNode, path, "unknown key \"\(name)\"\(Self.hint(name, allowed)) "
                    + "(expected \(allowed.joined(separator: ", ")))")
            }
            if let earlier = view[name] {
                // Yams lets `1:` and `"1":` through as different keys; to us they are the same.
                throw PolicyError(code: .syntax, path: self.path, line: keyNode.mark?.line, column: keyNode.mark?.column,
                                  key: path, message: "duplicate key \"\(name)\" (first given at line \(earlier.keyNode.mark?.line ?? 0))")
            }
            view.entries.append(MappingEntry(name: name, keyNode: keyNode, value: value, path: path))
        }
        return view
    }

    public func list(_ node: Node, key: String, of what: String) throws(PolicyError) -> [Node] {
        guard case let .sequence(sequence) = node else {
            let hint = Self.isNull(node) ? " (write [] for none)" : node.scalar != nil ? " (write [\(node.scalar!.string)])" : ""
            throw fail(node, key, "expected a list of \(what), found \(Self.describe(node))\(hint)")
        }
        return Array(sequence)
    }

    public func string(_ node: Node, key: String, what: String) throws(PolicyError) -> String {
        guard case let .scalar(scalar) = node, !Self.isNull(node) else {
            throw fail(node, key, "expected \(what), found \(Self.describe(node))")
        }
        guard !scalar.string.isEmpty else { throw fail(node, key, "expected \(what), found an empty string") }
        return scalar.string
    }

    /// A decimal integer written as a plain YAML number (`42`, not `"42"`, `0x2a` or `042`).
    public func integer(_ node: Node, key: String) throws(PolicyError) -> Int {
        guard case let .scalar(scalar) = node, Self.tagName(node) == .int else {
            throw fail(node, key, "expected an integer, found \(Self.describe(node))")
        }
        let text = scalar.string
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), text == "0" || !text.hasPrefix("0") else {
            throw fail(node, key, "expected a decimal integer, found \(text)")
        }
        guard let value = Int(text) else { throw fail(node, key, "the number \(text) is too large") }
        return value
    }

    public func boolean(_ node: Node, key: String) throws(PolicyError) -> Bool {
        guard case let .scalar(scalar) = node, Self.tagName(node) == .bool, let value = Bool.construct(from: scalar) else {
            throw fail(node, key, "expected true or false, found \(Self.describe(node))")
        }
        return value
    }

    public func prefix(_ node: Node, key: String) throws(PolicyError) -> IPPrefix {
        let text = try string(node, key: key, what: "a CIDR prefix")
        do {
            return try IPPrefix(parsing: text)
        } catch {
            throw fail(node, key, error.description)
        }
    }

    public func fail(_ node: Node, _ key: String, _ message: String) -> PolicyError {
        PolicyError(code: .invalid, path: path, line: node.mark?.line, column: node.mark?.column,
                    key: key.isEmpty ? nil : key, message: message)
    }

    /// The node's resolved tag (`tag:yaml.org,2002:int`, ...).
    public static func tagName(_ node: Node) -> Tag.Name {
        Tag.Name(rawValue: node.tag.rawValue)
    }

    public static func isNull(_ node: Node) -> Bool {
        node.scalar != nil && Self.tagName(node) == .null
    }

    /// How a node reads in "found ..." messages.
    public static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            switch Self.tagName(node) {
            case .null: return "nothing (null)"
            case .bool: return "the boolean \(scalar.string)"
            case .int, .float: return "the number \(scalar.string)"
            default: return "the string \"\(scalar.string)\""
            }
        }
    }

    // MARK: - Suggestions

    /// `; did you mean "x"?` for the closest candidate within reach, else nothing.
    public static func hint(_ word: String, _ candidates: [String]) -> String {
        let lower = word.lowercased().replacingOccurrences(of: "-", with: "_")
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            var distance = editDistance(lower, candidate)
            if candidate.hasPrefix(lower) && lower.count >= 4 || lower.hasPrefix(candidate) && candidate.count >= 4 {
                distance = min(distance, 1)
            }
            let reach = max(1, min(3, candidate.count / 3))
            if distance <= reach && (best == nil || distance < best!.distance) { best = (candidate, distance) }
        }
        return best.map { "; did you mean \"\($0.candidate)\"?" } ?? ""
    }

    /// Edit distance over Unicode scalars, counting an adjacent transposition (`nsf` for
    /// `nfs`) as one edit (optimal string alignment).
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
