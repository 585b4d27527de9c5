import Foundation

/// The package root (this file is Tests/AuditTests/Support.swift).
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
}()

/// Tests/AuditTests/Fixtures/NAME.
func fixture(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/AuditTests/Fixtures/\(name)").path
}
