private typealias F = FrameBuilder

/// DRBD packets, built from the layouts in LINBIT's drbd-headers `drbd_protocol.h` and
/// `linux/drbd.h` at commit 32c2e607f3c496453ba2213440c66cbbeec98197 (the headers of LINBIT/drbd
/// 7d3945b1d1fb89ef4d99f6269adf62f4702bf9c9), and the handshake in that drbd's
/// `drbd_transport_tcp.c` (`dtt_send_first_packet`) and `drbd_receiver.c` (`drbd_send_features`).
/// Synthesized: this kernel has no drbd module, so no real DRBD connection could be captured.
public enum DRBDPackets {
    public static let magic80: UInt32 = 0x8374_0267  // DRBD_MAGIC
    public static let magic100: UInt32 = 0x8620_ec20  // DRBD_MAGIC_100

    /// `struct p_header80`: magic, command, length of what follows.
    public static func h80(command: UInt16, length: UInt16) -> [UInt8] {
        F.be32(magic80) + F.be16(command) + F.be16(length)
    }

    /// `struct p_header100`: magic, volume, command, length, pad.
    public static func h100(volume: UInt16, command: UInt16, length: UInt32, pad: UInt32 = 0) -> [UInt8] {
        F.be32(magic100) + F.be16(volume) + F.be16(command) + F.be32(length) + F.be32(pad)
    }

    /// The first packet on a new socket: P_INITIAL_DATA (0xfff2) or P_INITIAL_META (0xfff1).
    public static let initialData = h80(command: 0xfff2, length: 0)
    public static let initialMeta = h80(command: 0xfff1, length: 0)

    /// `struct p_connection_features` (72 bytes): protocol_min, feature_flags, protocol_max,
    /// sender_node_id, receiver_node_id, _pad, reserved[6].
    public static func features(minimum: UInt32 = 86, flags: UInt32 = 0x3ff, maximum: UInt32 = 124) -> [UInt8] {
        F.be32(minimum) + F.be32(flags) + F.be32(maximum) + F.be32(1) + F.be32(0) + F.be32(0)
            + [UInt8](repeating: 0, count: 48)
    }

    /// P_CONNECTION_FEATURES (0xfffe) in DRBD 9's default first header (h80, since
    /// drbd_protocol_version_min is 86) and in h100 (volume -1).
    public static let features80 = h80(command: 0xfffe, length: 72) + features()
    public static let features100 = h100(volume: 0xffff, command: 0xfffe, length: 72) + features()

    /// A P_DATA (0x00) header on volume 0 with 4 KiB behind it (`struct p_data` and the block).
    public static let data100 = h100(volume: 0, command: 0x00, length: 24 + 4096) + [UInt8](repeating: 0, count: 24)
    /// A P_PING (0x13) on the meta socket: a header alone.
    public static let ping100 = h100(volume: 0, command: 0x13, length: 0)
}
