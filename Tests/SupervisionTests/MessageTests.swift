import Foundation
import Pipeline
import Testing

@testable import Supervision

/// One of every message, in each direction, with values that exercise every field.
let everyRequest: [Request] = [
    .create(path: "/tmp/r.json", replace: true, staging: .hidden),
    .create(path: "évidence.pcapng", replace: false, staging: .partial),
    .write(handle: 7, bytes: [0, 1, 2, 255]),
    .write(handle: 1, bytes: []),
    .truncate(handle: 2, length: 1 << 40),
    .commit(handle: 3),
    .abandon(handle: 4, keep: true),
    .remove(path: "/var/lib/lk/lanekeeper-evidence-x-w000001.pcapng"),
    .prune(directory: "/d", prefix: "p-", suffix: ".json", keep: 100),
    .ready(interfaces: ["mgmt0", "stor0"], user: "nobody"),
    .ready(interfaces: [], user: ""),
    .capturesEnded,
    .result(verdict: 2),
]

let everyReply: [Reply] = [
    .ok,
    .handle(9, inPlace: false),
    .handle(UInt32.max, inPlace: true),
    .failure(path: "/full/r.json", operation: "write", detail: "No space left on device (ENOSPC)", errno: 28, length: 4096),
    .pruned(["/d/a", "/d/b"]),
    .pruned([]),
]

let everyControl: [Control] = [
    .stop(reason: .signal, signal: 2, command: nil),
    .stop(reason: .commandExited, signal: 0, command: CommandOutcome(argv: ["./test.sh", "--junit", "out.xml"], exitStatus: 3)),
    .stop(reason: .duration, signal: 0, command: CommandOutcome(argv: ["sleep", "60"], signal: 15, note: "ended by lanekeeper")),
    .stop(reason: .capturesEnded, signal: 0, command: CommandOutcome(argv: ["x"])),
    .reload,
]

/// Every message framed, with how to decode it back.
let everyMessage: [(bytes: [UInt8], decode: @Sendable (UInt8, ArraySlice<UInt8>) throws -> Bool)] =
    everyRequest.map { request in (request.encoded(), { try Request.decode(kind: $0, payload: $1) == request }) }
    + everyReply.map { reply in (reply.encoded(), { try Reply.decode(kind: $0, payload: $1) == reply }) }
    + everyControl.map { control in (control.encoded(), { try Control.decode(kind: $0, payload: $1) == control }) }

@Suite struct MessageFormatTests {
    @Test func goldenBytes() {
        // kind 1, length 15: text "r.json" (u32 6 + bytes), replace 0, staging 1.
        #expect(
            Request.create(path: "r.json", replace: false, staging: .hidden).encoded()
                == [1, 0, 0, 0, 12, 0, 0, 0, 6, 0x72, 0x2e, 0x6a, 0x73, 0x6f, 0x6e, 0, 1])
        #expect(Request.write(handle: 0x0102_0304, bytes: [0xAA]).encoded() == [2, 0, 0, 0, 9, 1, 2, 3, 4, 0, 0, 0, 1, 0xAA])
        #expect(Request.result(verdict: 1).encoded() == [10, 0, 0, 0, 1, 1])
        #expect(Request.capturesEnded.encoded() == [9, 0, 0, 0, 0])
        #expect(Reply.ok.encoded() == [128, 0, 0, 0, 0])
        #expect(Reply.handle(5, inPlace: true).encoded() == [129, 0, 0, 0, 5, 0, 0, 0, 5, 1])
        #expect(Control.reload.encoded() == [65, 0, 0, 0, 0])
        #expect(Control.stop(reason: .signal, signal: 15, command: nil).encoded() == [64, 0, 0, 0, 6, 1, 0, 0, 0, 15, 0])
        let raw: [UInt8] = [1, 2, 3]
        #expect(raw.withUnsafeBytes { Request.encodedWrite(handle: 9, $0) } == Request.write(handle: 9, bytes: raw).encoded())
    }

    @Test func everyMessageReadsBackAsItWasWritten() throws {
        for message in everyMessage {
            var framer = MessageFramer()
            framer.append(message.bytes)
            let framed = try #require(try framer.next())
            #expect(try message.decode(framed.kind, framed.payload))
            #expect(try framer.next() == nil)
            try framer.finish()
        }
    }

    @Test func manyMessagesInOneStreamAndOneByteAtATime() throws {
        let stream = everyMessage.flatMap(\.bytes)
        var framer = MessageFramer()
        var index = 0
        for byte in stream {
            framer.append([byte])
            while let framed = try framer.next() {
                #expect(try everyMessage[index].decode(framed.kind, framed.payload))
                index += 1
            }
        }
        #expect(index == everyMessage.count)
        try framer.finish()
    }

    /// Every proper prefix of a message is "more bytes needed", and a stream that ends there
    /// is truncated, never a message and never a trap.
    @Test func everyPrefixIsIncompleteAndEndingThereIsTruncated() throws {
        for message in everyMessage {
            for cut in 1..<message.bytes.count {
                var framer = MessageFramer()
                framer.append(Array(message.bytes[..<cut]))
                #expect(try framer.next() == nil)
                #expect(throws: MessageError.self) { try framer.finish() }
                do {
                    try framer.finish()
                } catch {
                    #expect(error.code == .truncated)
                }
            }
        }
    }

    /// A payload cut short but framed as whole (its length field says so): every field
    /// reader checks before reading.
    @Test func payloadsCutShortButFramedAsWholeAreMalformed() {
        for message in everyMessage where message.bytes.count > Message.headerLength {
            let kind = message.bytes[0]
            let payload = Array(message.bytes[Message.headerLength...])
            for cut in 0..<payload.count {
                #expect(throws: MessageError.self) { _ = try message.decode(kind, payload[..<cut]) }
            }
            // A byte more than the fields need.
            #expect(throws: MessageError.self) { _ = try message.decode(kind, ArraySlice(payload + [0])) }
        }
    }

    @Test func lengthsThatLie() throws {
        // A header claiming more than the maximum is refused before any of it is read.
        var framer = MessageFramer()
        framer.append([2, 0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: MessageError.self) { _ = try framer.next() }
        do { _ = try framer.next() } catch { #expect(error.code == .tooLong) }
        var exact = MessageFramer()
        let most = Message.maximumPayload
        exact.append([2, UInt8(most >> 24), UInt8((most >> 16) & 0xFF), UInt8((most >> 8) & 0xFF), UInt8(most & 0xFF)])
        #expect(try exact.next() == nil)  // allowed: waits for the bytes

        // A text or byte string whose length runs past the payload.
        let text: [UInt8] = [0xFF, 0xFF, 0xFF, 0xF0, 0x61]
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 6, payload: ArraySlice(text)) }
        let write: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 9, 1, 2]
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 2, payload: ArraySlice(write)) }
        // A list count far beyond what the bytes could hold.
        let list: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF] + [0, 0, 0, 0]
        do {
            _ = try Request.decode(kind: 8, payload: ArraySlice(list))
            Issue.record("a list of 4 billion texts in 4 bytes was accepted")
        } catch {
            #expect(error.code == .malformed)
        }
    }

    @Test func valuesOutOfRange() {
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 10, payload: [3]) }  // verdict
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 5, payload: [0, 0, 0, 1, 2]) }  // flag 2
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 1, payload: [0, 0, 0, 0, 0, 9]) }  // staging 9
        #expect(throws: MessageError.self) { _ = try Control.decode(kind: 64, payload: [9, 0, 0, 0, 0, 0]) }  // reason 9
        #expect(throws: MessageError.self) { _ = try Request.decode(kind: 6, payload: [0, 0, 0, 2, 0xC3, 0x28]) }  // not UTF-8
    }

    @Test func kindsThatAreNotMessagesOfThatDirection() {
        for kind in UInt8.min...UInt8.max {
            if !(1...10).contains(kind) {
                do {
                    _ = try Request.decode(kind: kind, payload: [])
                    Issue.record("kind \(kind) read as a request")
                } catch {
                    #expect(error.code == .unknownKind)
                }
            }
            if !(128...131).contains(kind) { #expect(throws: MessageError.self) { _ = try Reply.decode(kind: kind, payload: []) } }
            if !(64...65).contains(kind) { #expect(throws: MessageError.self) { _ = try Control.decode(kind: kind, payload: []) } }
        }
    }

    /// Random payloads for every kind: decoded or refused, never a trap or a hang.
    @Test func randomPayloadsNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let kind = UInt8.random(in: 0...255, using: &generator)
            let count = Int.random(in: 0...40, using: &generator)
            let payload = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? Request.decode(kind: kind, payload: ArraySlice(payload))
            _ = try? Reply.decode(kind: kind, payload: ArraySlice(payload))
            _ = try? Control.decode(kind: kind, payload: ArraySlice(payload))
            var framer = MessageFramer()
            framer.append([kind] + payload)
            while (try? framer.next()) != nil {}
        }
    }
}
