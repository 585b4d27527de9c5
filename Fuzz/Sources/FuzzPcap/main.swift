import FuzzSupport

/// Classic pcap files (any of the four magics), read from memory by `PcapFileReader`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPcap(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    readCapture(fuzzInput(start, count), format: .pcap)
}

@_cdecl("FuzzPcap_main")
public func fuzzPcapMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzPcap)
}
