import TestSupport
import Foundation

/// Tests/AuditTests/Fixtures/NAME.
func fixture(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/AuditTests/Fixtures/\(name)").path
}
