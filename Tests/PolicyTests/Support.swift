import Foundation

/// Writes `text` to `path` (UTF-8, atomically).
func writeText(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}
