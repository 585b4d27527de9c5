import FuzzSupport

/// pcapng files, read from memory by `PcapngReader`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPcapng(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    readCapture(fuzzInput(start, count), format: .pcapng)
}

@_cdecl("FuzzPcapng_main")
public func fuzzPcapngMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzPcapng)
}
