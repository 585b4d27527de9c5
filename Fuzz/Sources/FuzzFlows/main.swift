import FuzzSupport

/// A sequence of TCP/UDP packets with arbitrary payloads through one `FlowTracker`: the
/// RPC, portmapper, iSCSI and signature recognisers (see `trackFlows`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFlows(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    trackFlows(fuzzInput(start, count))
}

@_cdecl("FuzzFlows_main")
public func fuzzFlowsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzFlows)
}
