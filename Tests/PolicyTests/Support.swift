import Foundation

/// File helpers for the tests.
enum FileManagerShim {
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "lanekeeper-policy-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
