/// One captured frame as a source hands it on: where and when it was seen, how to read
/// its first header, and its bytes.
///
/// `bytes` is borrowed from the reader's buffer and is valid only for the duration of the
/// callback that receives the frame. Copy what you need to keep; never store the pointer.
public struct Frame {
    /// The interface the frame was seen on, as an index into the source's `interfaces`
    /// table (always 0 for classic pcap, whose one interface has no name); `nil` when the
    /// source has no interface table at all.
    public var interface: Int?
    /// When the frame was captured.
    public var timestamp: Timestamp
    /// How to decode `bytes`.
    public var linkType: LinkType
    /// The frame's length on the wire (may exceed `bytes.count` when the snaplen cut it).
    public var wireLength: Int
    /// The captured bytes; valid only inside the callback.
    public var bytes: UnsafeRawBufferPointer
    /// The byte offset of this frame's record in its file, for messages and evidence.
    public var fileOffset: Int64

    @inlinable
    public init(
        interface: Int?, timestamp: Timestamp, linkType: LinkType, wireLength: Int,
        bytes: UnsafeRawBufferPointer, fileOffset: Int64
    ) {
        self.interface = interface
        self.timestamp = timestamp
        self.linkType = linkType
        self.wireLength = wireLength
        self.bytes = bytes
        self.fileOffset = fileOffset
    }

    /// True when the capture kept fewer bytes than were on the wire.
    public var isTruncated: Bool { bytes.count < wireLength }
}

/// A frame as a batch holds it (`FrameSource.read(into:)`): the same facts as `Frame`, laid
/// out flat (no optional, the bytes as a pointer and a count), so that a reader writes it
/// straight into a batch's memory and a batch is read without unwrapping.
public struct FrameRecord {
    public var timestamp: Timestamp
    public var linkType: LinkType
    public var wireLength: Int
    /// `Frame.interface`, or -1 for none.
    public var interface: Int
    public var fileOffset: Int64
    /// The captured bytes: `length` of them.
    public var bytes: UnsafeRawPointer
    public var length: Int

    @inlinable
    public init(
        timestamp: Timestamp, linkType: LinkType, wireLength: Int, interface: Int, fileOffset: Int64,
        bytes: UnsafeRawPointer, length: Int
    ) {
        self.timestamp = timestamp
        self.linkType = linkType
        self.wireLength = wireLength
        self.interface = interface
        self.fileOffset = fileOffset
        self.bytes = bytes
        self.length = length
    }

    /// `frame`'s record, its bytes at `bytes` (where they were, or a copy).
    @inlinable
    public init(_ frame: Frame, bytes: UnsafeRawPointer) {
        timestamp = frame.timestamp
        linkType = frame.linkType
        wireLength = frame.wireLength
        interface = frame.interface ?? -1
        fileOffset = frame.fileOffset
        self.bytes = bytes
        length = frame.bytes.count
    }

    /// This record at file offset `offset`.
    @inlinable
    public func placed(at offset: Int64) -> FrameRecord {
        var record = self
        record.fileOffset = offset
        return record
    }

    /// The frame this record describes.
    @inlinable
    public var frame: Frame {
        Frame(
            interface: interface < 0 ? nil : interface, timestamp: timestamp, linkType: linkType,
            wireLength: wireLength, bytes: UnsafeRawBufferPointer(start: bytes, count: length), fileOffset: fileOffset)
    }
}

/// An interface a capture source describes (a pcapng Interface Description Block, or the
/// single implicit interface of a classic pcap file).
public struct CaptureInterface: Hashable, Sendable {
    /// The interface's name (`if_name`), if the capture recorded one.
    public var name: String?
    /// Its description (`if_description`), if any.
    public var description: String?
    public var linkType: LinkType
    /// Maximum bytes captured per frame; 0 means unlimited.
    public var snapLength: UInt32

    public init(name: String?, description: String? = nil, linkType: LinkType, snapLength: UInt32) {
        self.name = name
        self.description = description
        self.linkType = linkType
        self.snapLength = snapLength
    }
}

/// How reading a capture source ended.
public enum SourceEnd: Sendable, Equatable {
    /// The file ended cleanly after a whole record.
    case endOfFile
    /// The file ends in the middle of a record (a capture that was killed). Everything
    /// before `offset` was read.
    case cutShort(offset: Int64, detail: String)
    /// The file is damaged at `offset` (an impossible block or record length, a bad
    /// block type where a header was expected). Reading stopped there.
    case corrupt(offset: Int64, detail: String)
}
