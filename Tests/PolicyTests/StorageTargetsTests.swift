import Decode
import Policy
import Testing

/// `storage_targets`: the storage servers `lanekeeper audit` checks the routes to.
@Suite struct StorageTargetsTests {
    private let header = "version: 1\nnetworks:\n  management: {interfaces: [eth0]}\n"

    @Test func readsAddressesInFileOrder() throws {
        let policy = try Policy.parse(header + "storage_targets: [203.0.113.20, \"2001:db8::20\", 192.0.2.5]\n",
                                      path: "policy.yaml")
        #expect(policy.storageTargets.map(\.description) == ["203.0.113.20", "2001:db8::20", "192.0.2.5"])
    }

    @Test func isOptional() throws {
        #expect(try Policy.parse(header, path: "policy.yaml").storageTargets.isEmpty)
    }

    @Test(arguments: [
        ("storage_targets: 203.0.113.20\n", 4, 18, "storage_targets",
         "expected a list of IP addresses, found the string \"203.0.113.20\" (write [203.0.113.20])"),
        ("storage_targets: [203.0.113.0/24]\n", 4, 19, "storage_targets[0]",
         "\"203.0.113.0/24\" is not an IPv4 or IPv6 address (a single address, not a prefix)"),
        ("storage_targets: [nfs.example]\n", 4, 19, "storage_targets[0]",
         "\"nfs.example\" is not an IPv4 or IPv6 address"),
        ("storage_targets:\n  - 203.0.113.20\n  - 203.0.113.20\n", 6, 5, "storage_targets[1]",
         "203.0.113.20 is already listed (line 5)"),
        ("storage_targets: [[1]]\n", 4, 19, "storage_targets[0]", "expected an IP address, found a list"),
    ])
    func rejects(_ text: String, _ line: Int, _ column: Int, _ key: String, _ message: String) {
        #expect {
            try Policy.parse(header + text, path: "policy.yaml")
        } throws: { error in
            guard let error = error as? PolicyError else { return false }
            return error.code == .invalid && error.line == line && error.column == column && error.key == key
                && error.message == message
        }
    }
}
