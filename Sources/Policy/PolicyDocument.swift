import Yams

/// Turns policy text into a `Yams.Node` tree (every node carries its mark), mapping YAML
/// errors to `PolicyError`s with code `.syntax`.
enum PolicyDocument {
    static func compose(_ yaml: String, path: String) throws(PolicyError) -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, yaml: yaml, path: path)
        } catch {
            throw PolicyError(code: .syntax, path: path, message: "\(error)")
        }
    }

    private static func syntaxError(_ error: YamlError, yaml: String, path: String) -> PolicyError {
        func located(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> PolicyError {
            var message = "YAML syntax error: \(problem)"
            if let context {
                if !context.text.hasPrefix("while") {
                    // "expected a single document in the stream" + "but found another document"
                    message = "YAML syntax error: \(context.text), \(problem)"
                } else if context.mark.line != mark.line || context.mark.column != mark.column {
                    message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
                }
            }
            if character(at: mark, in: yaml) == "\t" {
                message += "; YAML does not allow tabs for indentation"
            }
            return PolicyError(code: .syntax, path: path, line: mark.line, column: mark.column, message: message)
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return located(mark, problem, context)
        case let .reader(problem, offset, _, _):
            var line: Int?, column: Int?
            if let offset {
                let prefix = yaml.prefix(offset)
                line = prefix.filter { $0 == "\n" || $0 == "\r\n" }.count + 1
                column = prefix.split(separator: "\n", omittingEmptySubsequences: false).last.map { $0.unicodeScalars.count + 1 }
            }
            return PolicyError(code: .syntax, path: path, line: line, column: column,
                               message: "YAML syntax error: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return duplicateKeyError(yaml: yaml, path: path, name: duplicates.first ?? "?", firstMark: context.mark)
        default:
            return PolicyError(code: .syntax, path: path, message: "YAML error: \(error)")
        }
    }

    /// The character at a 1-based line and column (in Unicode scalars), if there is one.
    private static func character(at mark: Mark, in yaml: String) -> Unicode.Scalar? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        guard mark.column >= 1, mark.column <= scalars.count else { return nil }
        return scalars[mark.column - 1]
    }

    /// Yams rejects duplicate keys but only marks the first occurrence and gives no key path.
    /// To point at the second occurrence instead, rename the first one in a copy of the text,
    /// compose again, and find the mapping holding the renamed key.
    private static func duplicateKeyError(yaml: String, path: String, name: String, firstMark: Mark) -> PolicyError {
        var fallback = PolicyError(code: .syntax, path: path, line: firstMark.line, column: firstMark.column,
                                   message: "duplicate key \"\(name)\"")
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        var insertions: [(line: Int, column: Int, length: Int)] = []
        var mark = firstMark
        var root: Node?
        for attempt in 0..<16 {
            let sentinel = "__lanekeeper_duplicate_\(attempt)__"
            guard mark.line >= 1, mark.line <= lines.count else { return fallback }
            var scalars = Array(lines[mark.line - 1].unicodeScalars)
            guard mark.column >= 1, mark.column <= scalars.count else { return fallback }
            scalars.insert(contentsOf: sentinel.unicodeScalars, at: mark.column - 1)
            var line = String.UnicodeScalarView()
            line.append(contentsOf: scalars)
            lines[mark.line - 1] = String(line)
            insertions.append((mark.line, mark.column, sentinel.unicodeScalars.count))
            do {
                root = try Yams.compose(yaml: lines.joined(separator: "\n"))
                break
            } catch let YamlError.duplicatedKeysInMapping(_, context) {
                mark = context.mark
            } catch {
                return fallback
            }
        }
        guard let root else { return fallback }

        func original(_ text: String) -> String {
            var text = text
            while text.hasPrefix("__lanekeeper_duplicate_"), let end = text.range(of: "__", range:
                text.index(text.startIndex, offsetBy: 23)..<text.endIndex) {
                text = String(text[end.upperBound...])
            }
            return text
        }
        func originalMark(_ mark: Mark) -> (Int, Int) {
            var column = mark.column
            for insertion in insertions.reversed() where insertion.line == mark.line && column > insertion.column {
                column -= insertion.length
            }
            return (mark.line, column)
        }
        let firstSentinel = "__lanekeeper_duplicate_0__"
        func search(_ node: Node, _ keyPath: String) -> PolicyError? {
            switch node {
            case let .mapping(mapping):
                let pairs = Array(mapping)
                if let first = pairs.firstIndex(where: { $0.key.scalar?.string.hasPrefix(firstSentinel) == true }) {
                    for pair in pairs[(first + 1)...] {
                        guard let keyText = pair.key.scalar?.string, original(keyText) == name,
                            let keyMark = pair.key.mark
                        else { continue }
                        let (line, column) = originalMark(keyMark)
                        return PolicyError(code: .syntax, path: path, line: line, column: column,
                                           key: joinKey(keyPath, name),
                                           message: "duplicate key \"\(name)\" (first given at line \(firstMark.line))")
                    }
                }
                for pair in pairs {
                    let keyName = original(pair.key.scalar?.string ?? "?")
                    if let found = search(pair.value, joinKey(keyPath, keyName)) { return found }
                }
            case let .sequence(sequence):
                for (index, element) in sequence.enumerated() {
                    if let found = search(element, "\(keyPath)[\(index)]") { return found }
                }
            default:
                break
            }
            return nil
        }
        if let found = search(root, "") { return found }
        fallback.message += " (first given at line \(firstMark.line))"
        return fallback
    }
}
