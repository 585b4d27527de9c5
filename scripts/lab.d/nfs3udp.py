#!/usr/bin/env python3
"""Minimal NFSv3-over-UDP client for the lanekeeper lab.

libnfs (4.0.0) only speaks NFS over TCP (its UDP code is for portmapper
discovery), so this speaks ONC RPC over UDP itself:
  portmapper/rpcbind on UDP 111 (PMAP v2 GETPORT for IPv4, RPCB v3 GETADDR
  for IPv6) -> MOUNT v3 MNT over UDP -> NFSv3 CREATE, WRITE (FILE_SYNC),
  READ over UDP in CHUNK-byte datagrams, which IP fragments at MTU 1500.
Data read back is compared with what was written; exits non-zero on error.

--mount-only speaks only the MOUNT protocol (program 100005 v3), straight to
PORT (no portmapper), over UDP and then over TCP (record marking): NULL,
EXPORT, MNT, DUMP, UMNT -- what a client that already knows the MOUNT port
sends.

usage: nfs3udp.py SERVER EXPORT FILENAME CHUNK COUNT
       nfs3udp.py --mount-only SERVER EXPORT PORT
"""
import os, socket, struct, sys, time

PMAP, MOUNT, NFS = 100000, 100005, 100003


class XDR:
    def __init__(self, data=b""):
        self.b, self.i = data, 0

    # packing
    @staticmethod
    def u32(v): return struct.pack("!I", v)
    @staticmethod
    def u64(v): return struct.pack("!Q", v)

    @staticmethod
    def opaque(d):
        return struct.pack("!I", len(d)) + d + b"\0" * ((4 - len(d) % 4) % 4)

    @staticmethod
    def string(s): return XDR.opaque(s.encode())

    # unpacking
    def gu32(self):
        v = struct.unpack_from("!I", self.b, self.i)[0]
        self.i += 4
        return v

    def gu64(self):
        v = struct.unpack_from("!Q", self.b, self.i)[0]
        self.i += 8
        return v

    def gopaque(self):
        n = self.gu32()
        d = self.b[self.i:self.i + n]
        self.i += n + (4 - n % 4) % 4
        return d

    def skip(self, n): self.i += n

    def post_op_attr(self):
        if self.gu32():
            self.skip(84)

    def wcc_data(self):
        if self.gu32():
            self.skip(24)
        self.post_op_attr()


class RPC:
    def __init__(self, server, port, tcp=False):
        fam = socket.AF_INET6 if ":" in server else socket.AF_INET
        self.tcp = tcp
        self.s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        self.s.settimeout(2.0)
        self.s.connect((server, port))
        self.xid = (os.getpid() << 16) ^ int(time.time())

    def send(self, msg):
        if self.tcp:  # one record, one fragment: last-fragment bit + length
            msg = struct.pack("!I", 0x80000000 | len(msg)) + msg
        if self.tcp:
            self.s.sendall(msg)
        else:
            self.s.send(msg)

    def recv(self):
        if not self.tcp:
            return self.s.recv(65536)
        data, last = b"", False
        while not last:
            mark = struct.unpack("!I", self.exact(4))[0]
            last = bool(mark & 0x80000000)
            data += self.exact(mark & 0x7FFFFFFF)
        return data

    def exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise SystemExit("rpc over tcp: connection closed")
            b += chunk
        return b

    def call(self, prog, vers, proc, args):
        self.xid = (self.xid + 1) & 0xFFFFFFFF
        cred = XDR.u32(0) + XDR.string("lk-host") + XDR.u32(0) + XDR.u32(0) + XDR.u32(0)
        msg = (XDR.u32(self.xid) + XDR.u32(0) + XDR.u32(2) + XDR.u32(prog) + XDR.u32(vers) + XDR.u32(proc)
               + XDR.u32(1) + XDR.opaque(cred) + XDR.u32(0) + XDR.u32(0) + args)
        for attempt in range(4):
            self.send(msg)
            try:
                while True:
                    data = self.recv()
                    x = XDR(data)
                    if x.gu32() == self.xid:
                        break
            except socket.timeout:
                continue
            if x.gu32() != 1 or x.gu32() != 0:
                raise SystemExit("rpc %d/%d/%d: denied" % (prog, vers, proc))
            x.gu32(); x.gopaque()  # verifier
            st = x.gu32()
            if st != 0:
                raise SystemExit("rpc %d/%d/%d: accept_stat %d" % (prog, vers, proc, st))
            return x
        raise SystemExit("rpc %d/%d/%d: no reply" % (prog, vers, proc))


def getport(server, prog, vers):
    r = RPC(server, 111)
    if ":" in server:  # rpcbind v3 GETADDR, universal address "h.h.h.p1.p2"
        args = XDR.u32(prog) + XDR.u32(vers) + XDR.string("udp6") + XDR.string("") + XDR.string("")
        ua = r.call(PMAP, 3, 3, args).gopaque().decode()
        if not ua:
            raise SystemExit("rpcbind: program %d v%d not registered on udp6" % (prog, vers))
        p = ua.split(".")
        return int(p[-2]) * 256 + int(p[-1])
    port = r.call(PMAP, 2, 3, XDR.u32(prog) + XDR.u32(vers) + XDR.u32(17) + XDR.u32(0)).gu32()
    if not port:
        raise SystemExit("portmap: program %d v%d not registered on udp" % (prog, vers))
    return port


def nfs_ok(x, what):
    st = x.gu32()
    if st != 0:
        raise SystemExit("NFS3 %s failed: status %d" % (what, st))
    return x


def mount_only(server, export, port):
    """MOUNT v3 straight to `port`, over UDP then TCP; no portmapper."""
    for tcp in (False, True):
        r = RPC(server, port, tcp)
        r.call(MOUNT, 3, 0, b"")  # NULL
        x = r.call(MOUNT, 3, 5, b"")  # EXPORT: a list of (dir, groups)
        dirs = []
        while x.gu32():
            dirs.append(x.gopaque().decode())
            while x.gu32():
                x.gopaque()
        if export not in dirs:
            raise SystemExit("MOUNT3 EXPORT does not list %s: %s" % (export, dirs))
        m = r.call(MOUNT, 3, 1, XDR.string(export))  # MNT
        if m.gu32() != 0:
            raise SystemExit("MOUNT3 MNT %s failed" % export)
        root = m.gopaque()
        r.call(MOUNT, 3, 2, b"")  # DUMP
        r.call(MOUNT, 3, 3, XDR.string(export))  # UMNT
        r.s.close()
        print("nfs3udp: MOUNT v3 to %s:%d over %s: EXPORT lists %s, MNT gave a %d-byte root handle"
              % (server, port, "TCP" if tcp else "UDP", export, len(root)))


def main():
    if sys.argv[1] == "--mount-only":
        mount_only(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    server, export, name, chunk, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    mport = getport(server, MOUNT, 3)
    nport = getport(server, NFS, 3)
    m = RPC(server, mport).call(MOUNT, 3, 1, XDR.string(export))
    if m.gu32() != 0:
        raise SystemExit("MOUNT3 MNT %s failed" % export)
    root = m.gopaque()
    nfs = RPC(server, nport)
    # CREATE name UNCHECKED, mode 0644, size 0
    sattr = XDR.u32(1) + XDR.u32(0o644) + XDR.u32(0) + XDR.u32(0) + XDR.u32(1) + XDR.u64(0) + XDR.u32(0) + XDR.u32(0)
    x = nfs_ok(nfs.call(NFS, 3, 8, XDR.opaque(root) + XDR.string(name) + XDR.u32(0) + sattr), "CREATE")
    if not x.gu32():
        raise SystemExit("CREATE returned no file handle")
    fh = x.gopaque()
    data = os.urandom(chunk * count)
    for i in range(count):
        piece = data[i * chunk:(i + 1) * chunk]
        x = nfs_ok(nfs.call(NFS, 3, 7, XDR.opaque(fh) + XDR.u64(i * chunk) + XDR.u32(len(piece)) + XDR.u32(2) + XDR.opaque(piece)), "WRITE")
        x.wcc_data()
        n = x.gu32()
        if n != len(piece):
            raise SystemExit("short WRITE: %d of %d" % (n, len(piece)))
    back = b""
    for i in range(count):
        x = nfs_ok(nfs.call(NFS, 3, 6, XDR.opaque(fh) + XDR.u64(i * chunk) + XDR.u32(chunk)), "READ")
        x.post_op_attr()
        n = x.gu32(); x.gu32()
        d = x.gopaque()
        if len(d) != n:
            raise SystemExit("READ length mismatch")
        back += d
    if back != data:
        raise SystemExit("NFSv3/UDP: data read back differs (%d vs %d bytes)" % (len(back), len(data)))
    print("nfs3udp: %s:%s/%s wrote+read %d x %d bytes over UDP (mount port %d, nfs port %d)"
          % (server, export, name, count, chunk, mport, nport))


if __name__ == "__main__":
    main()
