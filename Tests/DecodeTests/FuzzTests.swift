import Decode
import Frames
import TestSupport
import Testing

/// Pseudo-random bytes through every link type: no trap, and every range the decoder
/// reports lies inside the buffer.
@Suite struct FuzzTests {
    static let linkTypes: [LinkType] = [
        .ethernet, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6, .null, .loop, LinkType(rawValue: 147),
    ]

    /// Decodes into a buffer allocated at exactly the frame's length.
    static func check(_ buffer: UnsafeMutableRawBufferPointer, count: Int, linkType: LinkType, into packet: inout DecodedPacket) {
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        PacketDecoder().decode(bytes, linkType: linkType, into: &packet)
        // Plain checks first (cheap); #expect only on failure, to keep 200k iterations fast.
        let sane =
            packet.payloadOffset >= 0 && packet.payloadLength >= 0 && packet.payloadOffset <= count
            && packet.payloadLength <= count - packet.payloadOffset && packet.vlanCount <= 8
            && (!packet.hasPorts || packet.ipProtocol == 6 || packet.ipProtocol == 17)
            && (packet.payloadOffset == 0 || packet.hasPorts)
            && (packet.tunnel == .none
                ? packet.outerIPVersion == 0 && packet.tunnelID == 0
                : packet.ipVersion != 0 && packet.outerIPVersion != 0
                    && (packet.outerIPProtocol == 17 || packet.outerIPProtocol == 47))
        if !sane {
            expectSane(packet, count: count)
        }
    }

    @Test func randomBuffers() {
        var generator = SplitMix64(seed: 0x6C61_6E65_6B65_6570)  // "lanekeep"
        var packet = DecodedPacket()
        let capacity = 256
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { storage.deallocate() }
        for iteration in 0..<200_000 {
            let linkType = Self.linkTypes[iteration % Self.linkTypes.count]
            let count = Int.random(in: 0...capacity, using: &generator)
            // Fill 8 bytes at a time.
            var index = 0
            while index < count {
                var word = generator.next()
                for _ in 0..<8 where index < count {
                    storage[index] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    index += 1
                }
            }
            // Copy into an exactly-sized allocation so any over-read leaves the buffer.
            let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
            if count > 0 {
                exact.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<count]))
            }
            Self.check(exact, count: count, linkType: linkType, into: &packet)
            exact.deallocate()
        }
    }

    /// Changes 1 to 4 random bytes of `frame`, and sometimes cuts it short.
    static func mutate(_ frame: inout [UInt8], using generator: inout SplitMix64) {
        let mutations = Int.random(in: 1...4, using: &generator)
        for _ in 0..<mutations {
            let at = Int.random(in: 0..<frame.count, using: &generator)
            frame[at] = UInt8.random(in: 0...255, using: &generator)
        }
        if Bool.random(using: &generator) {
            frame.removeLast(Int.random(in: 0...frame.count, using: &generator))
        }
    }

    /// Random mutations of the golden frames reach much deeper than random bytes: a few
    /// bytes changed, and sometimes the frame cut short.
    @Test func mutatedGoldenFrames() {
        var generator = SplitMix64(seed: 2049)
        var packet = DecodedPacket()
        var deepDecodes = 0
        for iteration in 0..<100_000 {
            let sample = GoldenFrames.all[iteration % GoldenFrames.all.count]
            var frame = sample.bytes
            Self.mutate(&frame, using: &generator)
            let count = frame.count
            frame.withUnsafeMutableBytes { Self.check($0, count: count, linkType: sample.linkType, into: &packet) }
            if packet.hasPorts { deepDecodes += 1 }
        }
        // The mutations must not all be caught at the first layer, or the test proves little.
        #expect(deepDecodes > 20_000)
    }

    /// The same for the tunnelled frames, nested ones included; half of the time the
    /// mutations land only in what the tunnel carries, so that the inner decode is reached.
    @Test func mutatedTunnelFrames() {
        var generator = SplitMix64(seed: 4789)
        var packet = DecodedPacket()
        var tunnelled = 0
        var innerPorts = 0
        for iteration in 0..<100_000 {
            let seed = TunnelFrames.fuzzSeeds[iteration % TunnelFrames.fuzzSeeds.count]
            var frame = seed.bytes
            if Bool.random(using: &generator) {
                Self.mutate(&frame, using: &generator)
            } else {
                // Keep the outer headers (the first 50 bytes reach every tunnel header), mutate the rest.
                var tail = Array(frame[50...])
                Self.mutate(&tail, using: &generator)
                frame = Array(frame[..<50]) + tail
            }
            let count = frame.count
            frame.withUnsafeMutableBytes { Self.check($0, count: count, linkType: seed.linkType, into: &packet) }
            if packet.tunnel != .none {
                tunnelled += 1
                if packet.hasPorts { innerPorts += 1 }
            }
        }
        #expect(tunnelled > 25_000)
        #expect(innerPorts > 15_000)
    }
}
