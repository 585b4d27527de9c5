/*
 * gen-capture: writes deterministic, realistic captures for lanekeeper's benchmarks.
 *
 *   gen-capture -m mix|small -f pcap|pcapng -o FILE [-b BYTES] [-n PACKETS] [-s SEED] [-F FLOWS]
 *
 * mix   MTU-sized NFS (TCP 2049, RPC record marking, WRITE calls and READ replies) and
 *       iSCSI (TCP 3260, SCSI Data-In/Out PDUs) segments on the storage interface, with
 *       management noise (ssh, HTTP, DNS, ARP, ICMP) on the management interface, some
 *       802.1Q tags (VLAN 42 on storage), ~5% IPv6, NFSv3 over UDP as IPv4 fragments, and
 *       ~50,000 flows (-F sets another number). Default ~2 GB.
 * small 64-128 byte frames (TCP ACKs, DNS, small RPCs) over the same flows. Default 20M frames.
 *
 * pcapng files carry two interfaces, mgmt0 and stor0; pcap files carry one link and every
 * frame (name the file on the command line as you wish). Same seed, same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static FILE *out;
static int pcapng;
static uint64_t now_ns = 1795000000ULL * 1000000000ULL; /* 2026-11-18 */
static uint64_t bytes_written, packets_written;

static void put(const void *p, size_t n) {
    if (fwrite(p, 1, n, out) != n) { perror("write"); exit(1); }
    bytes_written += n;
}
static void le32(uint32_t v) { put(&v, 4); } /* little-endian hosts only (x86_64, arm64) */
static void le16(uint16_t v) { put(&v, 2); }

static void file_header(void) {
    if (!pcapng) {
        le32(0xa1b2c3d4); le16(2); le16(4); le32(0); le32(0); le32(262144); le32(1);
        return;
    }
    /* SHB */
    le32(0x0A0D0D0A); le32(28); le32(0x1A2B3C4D); le16(1); le16(0);
    uint64_t unknown = (uint64_t)-1; put(&unknown, 8); le32(28);
    /* Two IDBs: mgmt0 (0), stor0 (1), Ethernet, if_tsresol 9 (ns). */
    const char *names[2] = {"mgmt0", "stor0"};
    for (int i = 0; i < 2; i++) {
        uint32_t len = 20 + 4 + 8 + 4 + 4 + 4; /* hdr + if_name(5->8) + tsresol(1->4) + end */
        le32(1); le32(len); le16(1); le16(0); le32(262144);
        le16(2); le16(5); char name[8] = {0}; memcpy(name, names[i], 5); put(name, 8);
        le16(9); le16(1); uint8_t res[4] = {9, 0, 0, 0}; put(res, 4);
        le16(0); le16(0);
        le32(len);
    }
}

static void write_frame(int iface, const uint8_t *frame, uint32_t len) {
    static uint8_t padded_frame[64];
    if (len < 64) { /* Ethernet pads to 60 bytes + 4 of FCS: small-frame files are 64-128 bytes */
        memcpy(padded_frame, frame, len);
        memset(padded_frame + len, 0, 64 - len);
        frame = padded_frame;
        len = 64;
    }
    now_ns += 200 + rnd() % 2000;
    if (!pcapng) {
        le32((uint32_t)(now_ns / 1000000000ULL)); le32((uint32_t)((now_ns / 1000) % 1000000));
        le32(len); le32(len); put(frame, len);
    } else {
        uint32_t padded = (len + 3) & ~3u, block = 32 + padded;
        le32(6); le32(block); le32((uint32_t)iface);
        le32((uint32_t)(now_ns >> 32)); le32((uint32_t)now_ns); le32(len); le32(len);
        put(frame, len);
        static const uint8_t zero[4];
        put(zero, padded - len);
        le32(block);
    }
    packets_written++;
}

/* ---------- frame building ---------- */
static uint8_t buf[9000];
static void be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

struct flow {
    int iface, v6, vlan, udp;
    uint16_t cport, sport;
    uint32_t caddr, saddr; /* low 32 bits; v4 in 198.51.100/24 or 203.0.113/24, v6 in 2001:db8:: */
    int kind;              /* 0 nfs, 1 iscsi, 2 ssh, 3 http, 4 dns */
    uint32_t seq, xid;
};

/* Ethernet (+ optional tag) + IP + TCP/UDP headers; returns the payload offset. */
static int headers(const struct flow *f, int to_server, int proto, int payload, uint16_t ipid, int frag_off, int more) {
    int o = 0;
    memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12); o = 12;
    if (f->vlan) { be16(buf + o, 0x8100); be16(buf + o + 2, (uint16_t)f->vlan); o += 4; }
    int l4 = proto == 6 ? 20 : 8;
    if (frag_off > 0) l4 = 0;
    uint32_t src = to_server ? f->caddr : f->saddr, dst = to_server ? f->saddr : f->caddr;
    if (!f->v6) {
        be16(buf + o, 0x0800); o += 2;
        uint8_t *ip = buf + o;
        ip[0] = 0x45; ip[1] = 0; be16(ip + 2, (uint16_t)(20 + l4 + payload)); be16(ip + 4, ipid);
        be16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | (frag_off / 8))); ip[8] = 64; ip[9] = (uint8_t)proto;
        be16(ip + 10, 0); be32(ip + 12, src); be32(ip + 16, dst); o += 20;
    } else {
        be16(buf + o, 0x86dd); o += 2;
        uint8_t *ip = buf + o;
        be32(ip, 0x60000000); be16(ip + 4, (uint16_t)(l4 + payload)); ip[6] = (uint8_t)proto; ip[7] = 64;
        memset(ip + 8, 0, 32);
        be32(ip + 8, 0x20010db8); be32(ip + 20, src); be32(ip + 24, 0x20010db8); be32(ip + 36, dst); o += 40;
    }
    if (l4 == 0) return o;
    uint16_t sp = to_server ? f->cport : f->sport, dp = to_server ? f->sport : f->cport;
    be16(buf + o, sp); be16(buf + o + 2, dp);
    if (proto == 6) {
        be32(buf + o + 4, f->seq); be32(buf + o + 8, f->seq ^ 0x5a5a); buf[o + 12] = 0x50;
        buf[o + 13] = payload ? 0x18 : 0x10; be16(buf + o + 14, 65535); be32(buf + o + 16, 0);
    } else {
        be16(buf + o + 4, (uint16_t)(8 + payload)); be16(buf + o + 6, 0);
    }
    return o + l4;
}

static void rpc_header(uint8_t *p, int tcp, uint32_t len, uint32_t xid, int call) {
    int o = 0;
    if (tcp) { be32(p, 0x80000000u | (len - 4)); o = 4; }
    be32(p + o, xid); be32(p + o + 4, call ? 0 : 1);
    if (call) {
        be32(p + o + 8, 2); be32(p + o + 12, 100003); be32(p + o + 16, 3); be32(p + o + 20, 7 /* WRITE */);
        be32(p + o + 24, 1); be32(p + o + 28, 20); memset(p + o + 32, 0, 20); be32(p + o + 52, 0); be32(p + o + 56, 0);
    } else {
        be32(p + o + 8, 0); be32(p + o + 12, 0); be32(p + o + 16, 0); be32(p + o + 20, 0);
    }
}

static void fill(uint8_t *p, int n) { for (int i = 0; i < n; i++) p[i] = (uint8_t)(i * 31 + 7); }

/* One packet of flow f. big: MTU-sized data when the protocol carries data. */
static void emit(struct flow *f, int big) {
    int to_server = (rnd() & 1) != 0;
    int payload, o;
    f->seq += 1448;
    switch (f->kind) {
    case 0: /* NFS */
        if (f->udp) {
            /* NFSv3 over UDP: an 8 KiB WRITE as IPv4 fragments. */
            int total = 8 + (big ? 8192 : 64), sent = 0;
            uint16_t id = (uint16_t)rnd();
            static uint8_t dgram[9000];
            be16(dgram, f->cport); be16(dgram + 2, f->sport); be16(dgram + 4, (uint16_t)total); be16(dgram + 6, 0);
            rpc_header(dgram + 8, 0, (uint32_t)(total - 8), f->xid++, 1); fill(dgram + 68, total - 68);
            while (sent < total) {
                int chunk = total - sent > 1480 ? 1480 : total - sent;
                o = headers(f, 1, 17, chunk - (sent == 0 ? 8 : 0), id, sent, sent + chunk < total);
                if (sent == 0) { memcpy(buf + o - 8, dgram, (size_t)chunk); o += chunk - 8; }
                else { memcpy(buf + o, dgram + sent, (size_t)chunk); o += chunk; }
                write_frame(f->iface, buf, (uint32_t)o);
                sent += chunk;
            }
            return;
        }
        /* MTU-sized WRITE calls and their data / replies; in small mode ACKs and small RPCs
         * (a 64-byte call with AUTH_UNIX credentials, a 28-byte accepted reply). */
        payload = big ? 1448 : 0;
        if (!big && (rnd() % 4 == 0)) payload = to_server ? 64 : 28;
        o = headers(f, to_server, 6, payload, (uint16_t)rnd(), 0, 0);
        if (payload > 0) {
            int header = to_server ? 64 : 28;
            rpc_header(buf + o, 1, (uint32_t)payload, f->xid++, to_server);
            fill(buf + o + header, payload - header);
        }
        write_frame(f->iface, buf, (uint32_t)(o + payload));
        return;
    case 1: /* iSCSI Data-Out (0x05) / Data-In (0x25) PDUs */
        payload = big ? 1448 : (rnd() % 3 == 0 ? 48 : 0);
        o = headers(f, to_server, 6, payload, (uint16_t)rnd(), 0, 0);
        if (payload >= 48) {
            memset(buf + o, 0, 48); buf[o] = to_server ? 0x05 : 0x25; buf[o + 1] = 0x80;
            buf[o + 5] = 0; be16(buf + o + 6, (uint16_t)(payload - 48)); be32(buf + o + 16, f->xid++);
            fill(buf + o + 48, payload - 48);
        }
        write_frame(f->iface, buf, (uint32_t)(o + payload));
        return;
    case 2: /* ssh */
        payload = 36 + (int)(rnd() % (big ? 400 : 20));
        o = headers(f, to_server, 6, payload, (uint16_t)rnd(), 0, 0); fill(buf + o, payload);
        write_frame(f->iface, buf, (uint32_t)(o + payload));
        return;
    case 3: /* HTTP */
        payload = big ? (to_server ? 80 : 1200) : 40;
        o = headers(f, to_server, 6, payload, (uint16_t)rnd(), 0, 0);
        {
            static const char get[] = "GET /client/api?command=listHosts HTTP/1.1\r\nHost: mgmt\r\n\r\n";
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
            const char *text = to_server ? get : ok;
            size_t n = strlen(text);
            if (n > (size_t)payload) n = (size_t)payload;
            memcpy(buf + o, text, n);
            fill(buf + o + n, payload - (int)n);
        }
        write_frame(f->iface, buf, (uint32_t)(o + payload));
        return;
    default: { /* DNS, with the odd ARP and ICMP echo */
        uint64_t r = rnd() % 10;
        if (r == 0) { /* ARP request */
            static const uint8_t arp[42] = {0xff,0xff,0xff,0xff,0xff,0xff,2,0,0,0,0,1,0x08,0x06,0,1,8,0,6,4,0,1,2,0,0,0,0,1,198,51,100,10,0,0,0,0,0,0,198,51,100,1};
            write_frame(f->iface, arp, sizeof arp);
            return;
        }
        if (r == 1 && !f->v6) { /* ICMP echo */
            o = headers(f, to_server, 1, 56 - 8, (uint16_t)rnd(), 0, 0);
            o -= 0; buf[o - 8] = 8; buf[o - 7] = 0; fill(buf + o, 48);
            write_frame(f->iface, buf, (uint32_t)(o + 48));
            return;
        }
        /* A query for mgmt.example A, or its answer (a compressed name, one address). */
        static const uint8_t question[18] = {4, 'm', 'g', 'm', 't', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
        static const uint8_t answer[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 198, 51, 100, 53};
        payload = 12 + 18 + (to_server ? 0 : 16);
        o = headers(f, to_server, 17, payload, (uint16_t)rnd(), 0, 0);
        memset(buf + o, 0, 12);
        be16(buf + o, (uint16_t)f->xid++); be16(buf + o + 2, to_server ? 0x0100 : 0x8180);
        be16(buf + o + 4, 1); be16(buf + o + 6, to_server ? 0 : 1);
        memcpy(buf + o + 12, question, sizeof question);
        if (!to_server) memcpy(buf + o + 30, answer, sizeof answer);
        write_frame(f->iface, buf, (uint32_t)(o + payload));
        return;
    }
    }
}

int main(int argc, char **argv) {
    const char *mode = "mix", *format = "pcap", *path = NULL;
    uint64_t target_bytes = 0, target_packets = 0, seed = 42;
    int c;
    uint64_t nflows = 50000;
    while ((c = getopt(argc, argv, "m:f:o:b:n:s:F:")) != -1) {
        switch (c) {
        case 'm': mode = optarg; break;
        case 'f': format = optarg; break;
        case 'o': path = optarg; break;
        case 'b': target_bytes = strtoull(optarg, NULL, 10); break;
        case 'n': target_packets = strtoull(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'F': nflows = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: gen-capture -m mix|small -f pcap|pcapng -o FILE [-b BYTES] [-n PACKETS] [-s SEED] [-F FLOWS]\n");
            return 64;
        }
    }
    if (nflows < 1 || nflows > 10000000) { fprintf(stderr, "gen-capture: -F takes 1 to 10000000 flows\n"); return 64; }
    int small = strcmp(mode, "small") == 0;
    if (!path || (!small && strcmp(mode, "mix")) || (strcmp(format, "pcap") && strcmp(format, "pcapng"))) {
        fprintf(stderr, "usage: gen-capture -m mix|small -f pcap|pcapng -o FILE [-b BYTES] [-n PACKETS] [-s SEED]\n");
        return 64;
    }
    if (!target_bytes && !target_packets) {
        if (small) target_packets = 20000000ULL; else target_bytes = 2000000000ULL;
    }
    pcapng = strcmp(format, "pcapng") == 0;
    rng_state = seed;
    out = fopen(path, "wb");
    if (!out) { perror(path); return 73; }
    static char iobuf[1 << 20];
    setvbuf(out, iobuf, _IOFBF, sizeof iobuf);
    file_header();

    const uint64_t NFLOWS = nflows;
    struct flow *flows = calloc(NFLOWS, sizeof *flows);
    if (!flows) { perror("calloc"); return 71; }
    for (uint64_t i = 0; i < NFLOWS; i++) {
        struct flow *f = &flows[i];
        uint64_t r = rnd() % 100;
        f->kind = r < 40 ? 0 : r < 70 ? 1 : r < 80 ? 2 : r < 90 ? 3 : 4;
        int storage = f->kind <= 1;
        f->iface = storage ? 1 : 0;
        f->v6 = rnd() % 100 < 5;
        f->vlan = storage && rnd() % 10 == 0 ? 42 : 0;
        f->udp = f->kind == 0 && !f->v6 && rnd() % 20 == 0;
        f->cport = (uint16_t)(32768 + rnd() % 28000);
        /* Spread clients over the subnet so that many flows stay distinct. */
        f->sport = f->kind == 0 ? 2049 : f->kind == 1 ? 3260 : f->kind == 2 ? 22 : f->kind == 3 ? 80 : 53;
        uint32_t host = (uint32_t)(1 + rnd() % 250);
        f->caddr = storage ? (203u << 24 | 0u << 16 | 113u << 8 | 10u) : (198u << 24 | 51u << 16 | 100u << 8 | 10u);
        f->saddr = storage ? (203u << 24 | 0u << 16 | 113u << 8 | host) : (198u << 24 | 51u << 16 | 100u << 8 | host);
        f->seq = (uint32_t)rnd(); f->xid = (uint32_t)rnd();
    }
    while ((target_bytes && bytes_written < target_bytes) || (target_packets && packets_written < target_packets)) {
        /* Bursts: a flow sends a few packets in a row, as real traffic does. */
        struct flow *f = &flows[rnd() % NFLOWS];
        int burst = 1 + (int)(rnd() % 8);
        for (int i = 0; i < burst; i++) emit(f, !small);
    }
    if (fclose(out) != 0) { perror(path); return 74; }
    fprintf(stderr, "%s: %llu packets, %llu bytes\n", path, (unsigned long long)packets_written,
            (unsigned long long)bytes_written);
    return 0;
}
