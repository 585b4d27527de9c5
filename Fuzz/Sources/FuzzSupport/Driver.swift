/// The entry point every fuzz target shares.
///
/// SwiftPM links an executable with `--defsym main=<Target>_main` (so tests can import
/// it), which with `-parse-as-library` leaves libFuzzer's own `main` out; so each target
/// defines `<Target>_main` as a call to this, which hands the arguments and the target's
/// `LLVMFuzzerTestOneInput` to libFuzzer's documented driver.
public typealias FuzzCallback = @convention(c) (UnsafeRawPointer?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback
) -> CInt

/// Runs libFuzzer with the command line and `callback` as the target.
public func runFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ callback: FuzzCallback
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}

/// The input as a buffer (libFuzzer passes a null pointer for the empty input).
@inline(__always)
public func fuzzInput(_ start: UnsafeRawPointer?, _ count: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: count > 0 ? start : nil, count: count)
}

/// Stops the run with a message: an invariant the code under test promises was broken.
/// (A trap, so libFuzzer saves the input as a crash.)
public func violated(_ message: String) -> Never {
    fatalError("invariant broken: \(message)")
}
