import Decode
import FuzzSupport

/// One frame: the first byte picks the link type (every one the decoder knows, and one it
/// does not), the rest is the frame, decoded from an exactly-sized copy.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecode(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)
    guard let first = input.first else { return -1 }
    var packet = DecodedPacket()
    decodeFrame(
        UnsafeRawBufferPointer(rebasing: input.dropFirst()),
        linkType: fuzzLinkTypes[Int(first) % fuzzLinkTypes.count], into: &packet)
    return 0
}

@_cdecl("FuzzDecode_main")
public func fuzzDecodeMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzDecode)
}
