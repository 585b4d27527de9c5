import Foundation

/// A packet's bytes filled with a recognisable pattern.
func payload(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
}
