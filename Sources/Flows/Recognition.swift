/// How strong the evidence is that a flow is storage: what a report shows beside each flow
/// and what decides whether a management flow fails the check (docs/evidence.md).
public enum Evidence: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Only a port inside a range some storage service uses (Ceph OSDs' 6800-7300), which
    /// other software uses too: a management flow known only so makes the verdict
    /// inconclusive, never a fail.
    case portRange = 1
    /// A port only that protocol's servers use (2049, 3260, ...), a port the policy gave
    /// the protocol, or a port a portmapper reply or an NFSv4 SETCLIENTID in the capture
    /// handed out.
    case wellKnownPort = 2
    /// A protocol message parsed with several fields valid together.
    case content = 3

    public static func < (a: Evidence, b: Evidence) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .portRange: "port range"
        case .wellKnownPort: "well-known port"
        case .content: "content"
        }
    }
}

/// How a flow was recognised as storage, from a guess to a certainty. Reports show it so a
/// user can tell a port match from a decoded protocol.
public enum Recognition: Sendable, Hashable, CustomStringConvertible {
    /// One end is on a port inside one of the service's port ranges (and on no well-known port).
    case portRange(UInt16)
    /// One end is on a well-known (or policy-given) port of the service.
    case port(UInt16)
    /// A portmapper/rpcbind reply in the capture said the service listens on this port.
    case portmapperMapping(port: UInt16)
    /// An NFSv4.0 SETCLIENTID in the capture named this address and port as the client's
    /// callback address: the server connects back to it.
    case callbackAddress(port: UInt16)
    /// A payload signature of the service (banner, header layout).
    case signature(Signature)
    /// An ONC RPC call to one of the service's programs (RPC version, message type,
    /// program, version, procedure and credentials all valid).
    case rpcCall(program: UInt32, version: UInt32)
    /// The reply (matched by xid and connection) to such a call seen elsewhere, e.g. on
    /// another interface when requests and replies take different routes.
    case rpcReply(program: UInt32, version: UInt32)

    /// Higher is more certain; a flow keeps its most certain recognition.
    var strength: Int {
        switch self {
        case .portRange: 1
        case .port: 2
        case .portmapperMapping, .callbackAddress: 3
        case .signature: 4
        case .rpcCall, .rpcReply: 5
        }
    }

    /// The level of evidence this recognition is.
    public var evidence: Evidence {
        switch self {
        case .portRange: .portRange
        case .port, .portmapperMapping, .callbackAddress: .wellKnownPort
        case .signature, .rpcCall, .rpcReply: .content
        }
    }

    public var description: String {
        switch self {
        case .portRange(let port): "port \(port)"
        case .port(let port): "port \(port)"
        case .portmapperMapping(let port): "portmapper mapping to port \(port)"
        case .callbackAddress(let port): "nfsv4.0 callback address port \(port)"
        case .signature(let signature): signature.rawValue
        case .rpcCall(let program, let version): "rpc program \(program) v\(version)"
        case .rpcReply(let program, let version): "rpc reply to program \(program) v\(version)"
        }
    }
}

/// Reads big-endian XDR words from untrusted bytes. Once a read runs past the end the cursor
/// is poisoned: every later read returns 0 and `failed` stays set (Zeek's XDR style), so a
/// parser checks once, at the end, instead of after every field.
struct XDRCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    private(set) var failed = false

    init(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.failed = offset < 0 || offset > bytes.count
    }

    var remaining: Int { failed ? 0 : bytes.count - offset }

    @inline(__always)
    mutating func u32() -> UInt32 {
        guard !failed, bytes.count - offset >= 4 else {
            failed = true
            return 0
        }
        // In bounds: offset + 4 <= count was checked just above.
        let value = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        offset += 4
        return value
    }

    /// Skips variable-length opaque data (a length word, then the bytes padded to 4).
    /// - Returns: the unpadded length, or nil when it exceeds `maximum` (the cursor fails).
    @discardableResult
    mutating func skipOpaque(maximum: Int) -> Int? {
        let length = Int(u32())
        guard !failed, length <= maximum else {
            failed = true
            return nil
        }
        let padded = (length + 3) & ~3
        guard padded <= bytes.count - offset else {
            failed = true
            return nil
        }
        offset += padded
        return length
    }

    /// Reads an XDR string of at most `maximum` bytes (ASCII expected; others are replaced).
    mutating func string(maximum: Int) -> String? {
        let start = offset + 4
        guard let length = skipOpaque(maximum: maximum) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
    }
}

/// ONC RPC (RFC 5531) message recognition. A call is accepted only when the RPC version, the
/// message type, the program, its version and procedure, and the credential and verifier
/// flavours and lengths are all plausible together, as Wireshark and nDPI do.
enum RPC {
    static let portmapper: UInt32 = 100_000
    static let nfs: UInt32 = 100_003

    struct Call {
        var xid: UInt32
        var program: UInt32
        var version: UInt32
        var procedure: UInt32
        /// Offset of the procedure's arguments, when the credentials and verifier were complete.
        var argumentsOffset: Int?
    }

    struct Reply {
        var xid: UInt32
        /// Offset of the result, for an accepted, successful reply whose verifier was complete.
        var resultOffset: Int?
    }

    enum Message {
        case call(Call)
        case reply(Reply)
    }

    /// Parses the start of `payload` as an RPC message: over TCP behind a record mark
    /// (RFC 5531 §11), over UDP bare.
    /// `alsoAccept(program, version, procedure)` admits a call to a program `plausible`
    /// does not know (an NFSv4.0 callback program a client chose).
    static func parse(
        _ payload: UnsafeRawBufferPointer, recordMarked: Bool,
        alsoAccept: (UInt32, UInt32, UInt32) -> Bool = { _, _, _ in false }
    ) -> Message? {
        var cursor = XDRCursor(payload)
        if recordMarked {
            let mark = cursor.u32()
            let length = mark & 0x7fff_ffff
            guard !cursor.failed, length >= 24, length <= 1 << 26 else { return nil }
        }
        let xid = cursor.u32()
        let type = cursor.u32()
        guard !cursor.failed else { return nil }
        switch type {
        case 0:
            let rpcVersion = cursor.u32()
            let program = cursor.u32()
            let version = cursor.u32()
            let procedure = cursor.u32()
            guard !cursor.failed, rpcVersion == 2,
                plausible(program: program, version: version, procedure: procedure)
                    || alsoAccept(program, version, procedure)
            else { return nil }
            // Credentials must be present and sane; the verifier may be cut by the snaplen.
            guard skipAuth(&cursor, needComplete: true) else { return nil }
            let verifierOK = skipAuth(&cursor, needComplete: false)
            return .call(Call(
                xid: xid, program: program, version: version, procedure: procedure,
                argumentsOffset: verifierOK && !cursor.failed ? cursor.offset : nil))
        case 1:
            let replyStatus = cursor.u32()
            guard !cursor.failed, replyStatus <= 1 else { return nil }
            guard replyStatus == 0, skipAuth(&cursor, needComplete: true) else {
                return .reply(Reply(xid: xid, resultOffset: nil))
            }
            let acceptStatus = cursor.u32()
            guard !cursor.failed, acceptStatus <= 5 else { return nil }
            return .reply(Reply(xid: xid, resultOffset: acceptStatus == 0 ? cursor.offset : nil))
        default:
            return nil
        }
    }

    /// Skips an opaque_auth (flavour + body of at most 400 bytes, RFC 5531 §8.2).
    private static func skipAuth(_ cursor: inout XDRCursor, needComplete: Bool) -> Bool {
        let flavor = cursor.u32()
        guard !cursor.failed else { return !needComplete }
        // AUTH_NONE, AUTH_SYS, AUTH_SHORT, AUTH_DH, RPCSEC_GSS, AUTH_TLS.
        guard [0, 1, 2, 3, 6, 7].contains(flavor) else { return false }
        let before = cursor.remaining
        if cursor.skipOpaque(maximum: 400) == nil {
            // Too long is wrong; cut short is acceptable only when the caller allows it.
            return !needComplete && before < 4 + 400 + 3
        }
        return true
    }

    /// Programs lanekeeper knows, with the versions and procedures each defines.
    static func plausible(program: UInt32, version: UInt32, procedure: UInt32) -> Bool {
        switch program {
        case 100_000:  // portmapper / rpcbind
            switch version {
            case 2: return procedure <= 5
            case 3: return procedure <= 8
            case 4: return procedure <= 12
            default: return false
            }
        case 100_003:  // NFS
            switch version {
            case 2: return procedure <= 17
            case 3: return procedure <= 21
            case 4: return procedure <= 1
            default: return false
            }
        case 100_005: return (1...3).contains(version) && procedure <= 7  // MOUNT
        case 100_021: return (1...4).contains(version) && procedure <= 23  // NLM
        case 100_024: return version == 1 && procedure <= 6  // NSM
        case 100_227: return (2...3).contains(version) && procedure <= 4  // NFS ACL
        default:
            return ProtocolTable.glusterPrograms.contains(program) && (1...500).contains(version) && procedure <= 100
        }
    }
}

/// Payload signatures, each checking several fields together.
enum Signatures {
    static func matches(_ signature: Signature, _ p: UnsafeRawBufferPointer) -> Bool {
        switch signature {
        case .iscsiLogin: return iscsiLogin(p)
        case .cephV1:
            // "ceph v027" (the v1 messenger's banner): its first eight bytes as one word, then the ninth.
            return p.count >= 9 && firstWord(p) == 0x6365_7068_2076_3032 && p[8] == 0x37
        case .cephV2:
            // "ceph v2\n" (the v2 messenger's banner).
            return p.count >= 8 && firstWord(p) == 0x6365_7068_2076_320a
        case .smb2:
            // NetBIOS session message (type 0, 24-bit length >= 64), then the SMB2 header:
            // protocol id \xfeSMB and StructureSize 64 (RFC 1002; MS-SMB2 §2.2.1).
            guard p.count >= 10, p[0] == 0 else { return false }
            let length = Int(p[1]) << 16 | Int(p[2]) << 8 | Int(p[3])
            return length >= 64 && p[4] == 0xfe && p[5] == 0x53 && p[6] == 0x4d && p[7] == 0x42
                && p[8] == 64 && p[9] == 0
        case .nvmeTCP:
            // ICReq (type 0) or ICResp (type 1): flags 0, HLEN 128, PDO 0, PLEN 128, PFV 0.
            guard p.count >= 10 else { return false }
            return p[0] <= 1 && p[1] == 0 && p[2] == 128 && p[3] == 0
                && p[4] == 128 && p[5] == 0 && p[6] == 0 && p[7] == 0 && p[8] == 0 && p[9] == 0
        case .isns: return isns(p)
        case .drbd: return drbd(p)
        }
    }

    /// DRBD's packet headers (LINBIT drbd-headers `drbd_protocol.h` and `linux/drbd.h` at
    /// 32c2e607f3c4, the headers of drbd 7d3945b1d1fb), big-endian:
    ///
    ///     h80:  magic 0x83740267 (u32), command (u16), length (u16)
    ///     h100: magic 0x8620ec20 (u32), volume (u16), command (u16), length (u32), pad 0 (u32)
    ///
    /// Accepted, each with every field consistent:
    /// - a connection's first packet (`dtt_send_first_packet`, drbd_transport_tcp.c): h80,
    ///   P_INITIAL_DATA (0xfff2) or P_INITIAL_META (0xfff1), length 0;
    /// - the feature negotiation (`drbd_send_features`, drbd_receiver.c), sent in the header of
    ///   the lowest protocol the sender accepts, so h80 or h100 (volume 0xffff): command
    ///   P_CONNECTION_FEATURES (0xfffe), length 72 (`struct p_connection_features`), then
    ///   protocol_min from 86 and a protocol_max of 0 or from protocol_min, both below 256;
    /// - any later h100 header: pad 0, a command `enum drbd_packet` defines (0x00-0x59 but for
    ///   the reserved 0x25, 0x26 and the gap 0x37-0x3f), a length of at most 16 MiB.
    ///
    /// h95 (a 16-bit magic, old DRBD 8 data packets) is not accepted: too little to go on.
    static func drbd(_ p: UnsafeRawBufferPointer) -> Bool {
        guard p.count >= 8 else { return false }
        let magic = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
        let features: UInt16 = 0xfffe
        let featuresLength = 72
        switch magic {
        case 0x8374_0267:
            let command = UInt16(p[4]) << 8 | UInt16(p[5])
            let length = Int(p[6]) << 8 | Int(p[7])
            if command == 0xfff1 || command == 0xfff2 { return length == 0 }
            return command == features && length == featuresLength && drbdFeatures(p, at: 8)
        case 0x8620_ec20:
            guard p.count >= 16 else { return false }
            let volume = UInt16(p[4]) << 8 | UInt16(p[5])
            let command = UInt16(p[6]) << 8 | UInt16(p[7])
            let length = Int(p[8]) << 24 | Int(p[9]) << 16 | Int(p[10]) << 8 | Int(p[11])
            guard p[12] == 0, p[13] == 0, p[14] == 0, p[15] == 0 else { return false }
            if command == features {
                return volume == 0xffff && length == featuresLength && drbdFeatures(p, at: 16)
            }
            let known = command <= 0x59 && command != 0x25 && command != 0x26 && !(0x37...0x3f).contains(command)
            return known && length <= 1 << 24
        default:
            return false
        }
    }

    /// `struct p_connection_features`' protocol_min and protocol_max, when the packet holds
    /// them: DRBD 8.3's lowest protocol is 86; nothing has reached 256.
    private static func drbdFeatures(_ p: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var cursor = XDRCursor(p, at: offset)
        let minimum = cursor.u32()
        _ = cursor.u32()  // feature_flags
        let maximum = cursor.u32()
        guard !cursor.failed else { return false }
        return (86..<256).contains(minimum) && (maximum == 0 || (minimum...255).contains(maximum))
    }

    /// An iSNSP PDU (RFC 4171 §5.1, §5.5, §6.4), every header field and the first attribute
    /// consistent: version 1; a function id defined for a request (0x0001-0x0013) or a
    /// response (0x8001-0x8013); flags with the reserved bits clear, the first-PDU bit set and
    /// exactly one sender bit, the client's on a request and the server's on a response; a
    /// payload length that is a multiple of 4 and that the packet holds exactly (what a UDP
    /// datagram or a TCP segment of one small message carries; a segment of 1,200 bytes or
    /// more may end mid-PDU); a response's status code defined; and the first attribute's
    /// tag and length (a multiple of 4) inside the payload. Version 1 and a small function id
    /// alone match LDP, TDP, STUN and SOME/IP.
    static func isns(_ p: UnsafeRawBufferPointer) -> Bool {
        let header = 12
        guard p.count >= header, p[0] == 0, p[1] == 1 else { return false }
        let function = UInt16(p[2]) << 8 | UInt16(p[3])
        let length = Int(p[4]) << 8 | Int(p[5])
        let flags = UInt16(p[6]) << 8 | UInt16(p[7])
        let isResponse = function & 0x8000 != 0
        guard (1...0x13).contains(function & 0x7fff), length % 4 == 0 else { return false }
        let client: UInt16 = 0x8000, server: UInt16 = 0x4000, firstPDU: UInt16 = 0x0400, reserved: UInt16 = 0x03ff
        guard flags & reserved == 0, flags & firstPDU != 0, flags & (client | server) == (isResponse ? server : client)
        else { return false }
        guard p.count == header + length || (p.count >= 1200 && p.count < header + length) else { return false }
        var cursor = XDRCursor(p, at: header)
        if isResponse {
            // Status codes 0-27 are defined (RFC 4171 §6.4); an error response may carry nothing more.
            let status = cursor.u32()
            guard length >= 4, !cursor.failed, status <= 27 else { return false }
            if length == 4 { return true }
        }
        // The first attribute: a tag among those RFC 4171 §6.1 assigns or reserves for
        // vendors (below 4096), and a length that fits.
        let tag = cursor.u32()
        let attributeLength = Int(cursor.u32())
        guard !cursor.failed, tag < 4096, attributeLength % 4 == 0 else { return false }
        return attributeLength <= header + length - cursor.offset
    }

    /// The first eight bytes, big-endian. `p` holds at least eight.
    @inline(__always)
    private static func firstWord(_ p: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: p.loadUnaligned(as: UInt64.self))
    }

    static let iscsiKeys: [[UInt8]] = ["InitiatorName=", "TargetName=", "SessionType="].map { Array($0.utf8) }

    /// An iSCSI Login request (opcode 0x03) or response (0x23): the Basic Header Segment's
    /// reserved bits clear, version fields 0, stages valid, a text data segment, and the
    /// text carrying one of the login keys (RFC 7143 §11.12, §11.13).
    static func iscsiLogin(_ p: UnsafeRawBufferPointer) -> Bool {
        guard p.count > 48 else { return false }
        let opcode = p[0] & 0x3f
        guard opcode == 0x03 || opcode == 0x23, p[0] & 0x80 == 0 else { return false }
        let flags = p[1]
        let currentStage = (flags >> 2) & 0x03
        let nextStage = flags & 0x03
        guard flags & 0x30 == 0, currentStage != 2, nextStage != 2, p[2] == 0, p[3] == 0 else { return false }
        let dataLength = Int(p[5]) << 16 | Int(p[6]) << 8 | Int(p[7])
        let dataStart = 48 + Int(p[4]) * 4
        guard dataLength > 0, dataStart < p.count else { return false }
        let end = min(p.count, dataStart + dataLength)
        // Keys start the data segment or follow a NUL separator.
        var index = dataStart
        while index < end {
            if index == dataStart || p[index - 1] == 0 {
                for key in iscsiKeys where end - index >= key.count {
                    var match = true
                    for (k, byte) in key.enumerated() where p[index + k] != byte {
                        match = false
                        break
                    }
                    if match { return true }
                }
            }
            index += 1
        }
        return false
    }
}
