#!/usr/bin/env python3
"""Management-peer services and noise for the lanekeeper lab.

  peer.py serve ADDR [ADDR6]   run in the mpeer netns: HTTP on 8080 (static
                               files), a line-echo TCP service on 8250 (the
                               CloudStack agent port) and a tiny DNS-like UDP
                               responder on 53; runs until SIGTERM/SIGINT.
  peer.py noise ADDR [BIGUDP]  run in the host netns: one round of ordinary
                               management traffic towards ADDR (TCP 8250,
                               UDP 53, ICMP echo).  With BIGUDP=N also send
                               one N-byte UDP datagram to port 9999 (it is
                               IP-fragmented: non-storage fragments).
"""
import os, signal, socket, struct, sys, threading, time
import http.server, socketserver


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(addrs):
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    threads = []
    for a in addrs:
        class H(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            address_family = fam(a)
            daemon_threads = True
            allow_reuse_address = True

        httpd = S((a, 8080), H)
        threads.append(threading.Thread(target=httpd.serve_forever, daemon=True))

        class EH(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    self.wfile.write(b"ack " + line)

        class ES(socketserver.ThreadingTCPServer):
            address_family = fam(a)
            daemon_threads = True
            allow_reuse_address = True

        agent = ES((a, 8250), EH)
        threads.append(threading.Thread(target=agent.serve_forever, daemon=True))

        u = socket.socket(fam(a), socket.SOCK_DGRAM)
        u.bind((a, 53))

        def dns(sock=u):
            while True:
                data, peer = sock.recvfrom(4096)
                if len(data) >= 12:
                    # echo the question back as a response with no answers
                    sock.sendto(data[:2] + b"\x81\x83" + data[4:], peer)
        threads.append(threading.Thread(target=dns, daemon=True))
        big = socket.socket(fam(a), socket.SOCK_DGRAM)
        big.bind((a, 9999))  # sink for the fragmented non-storage datagrams
        threads.append(threading.Thread(target=lambda s=big: [s.recvfrom(65535) for _ in iter(int, 1)], daemon=True))
    for t in threads:
        t.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    print("peer: serving", addrs, flush=True)
    stop.wait()


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(addr):
    if fam(addr) == socket.AF_INET:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        hdr = struct.pack("!BBHHH", 8, 0, 0, os.getpid() & 0xFFFF, 1)
        payload = b"lanekeeper-lab-ping" * 2
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), os.getpid() & 0xFFFF, 1) + payload
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        pkt = struct.pack("!BBHHH", 128, 0, 0, os.getpid() & 0xFFFF, 1) + b"lanekeeper-lab-ping" * 2
    s.settimeout(2)
    s.sendto(pkt, (addr, 0))
    s.recvfrom(2048)


def noise(addr, big=0):
    f = fam(addr)
    c = socket.create_connection((addr, 8250), timeout=5)
    c.sendall(b"ping agent\n")
    if not c.recv(100).startswith(b"ack"):
        raise SystemExit("agent echo failed")
    c.close()
    u = socket.socket(f, socket.SOCK_DGRAM)
    u.settimeout(3)
    q = struct.pack("!HHHHHH", os.getpid() & 0xFFFF, 0x0100, 1, 0, 0, 0) + b"\x03mgmt\x07example\x00\x00\x01\x00\x01"
    u.sendto(q, (addr, 53))
    r, _ = u.recvfrom(4096)
    if r[:2] != q[:2]:
        raise SystemExit("dns answer mismatch")
    if big:
        u.sendto(b"N" * big, (addr, 9999))
    ping(addr)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2:])
    elif sys.argv[1] == "noise":
        noise(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        raise SystemExit(__doc__)
