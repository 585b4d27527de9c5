/// Why a policy could not be loaded, with the place in the file that is at fault.
///
/// `description` reads like a compiler diagnostic:
/// `policy.yaml:7:15: networks.storage.subnets[1]: "203.0.113.0/33" is not a CIDR prefix (prefix length 33 > 32)`.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, so that a command line can choose its exit status.
    public enum Code: Sendable, Hashable {
        /// The file does not exist (sysexits `EX_NOINPUT`, 66).
        case notFound
        /// The file exists but could not be read.
        case unreadable
        /// The text is not well-formed YAML (including duplicate keys in a mapping).
        case syntax
        /// The YAML is well-formed but is not a valid policy.
        case invalid
    }

    public var code: Code
    /// The policy file's path as given to `Policy.load` or `Policy.parse`.
    public var path: String
    /// 1-based line of the offending text, when known.
    public var line: Int?
    /// 1-based column (in Unicode scalars) of the offending text, when known.
    public var column: Int?
    /// Where in the policy the problem is, as a dotted path: `networks.storage.subnets[1]`.
    public var key: String?
    /// What is wrong, as a sentence without the location.
    public var message: String

    public init(code: Code, path: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = path
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if let key, !key.isEmpty { text += "\(key): " }
        return text + message
    }
}
