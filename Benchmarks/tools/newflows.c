/* newflows: sends UDP datagrams that each start a new flow, as a port scan, a DNS-heavy
 * tenant or a SYN flood does on a management network: the worst case for a flow table.
 *
 *   newflows DESTINATION COUNT [STORAGE_EVERY]
 *
 * Sends COUNT datagrams of 32 bytes to DESTINATION (an IPv4 address) from a raw socket, so
 * that the source port can vary: datagram i goes from port 1024 + i % 50000 to port
 * 1024 + (i / 50000) % 50000 (2.5 billion distinct pairs), except that every STORAGE_EVERY-th
 * (0: none) goes to port 2049 (NFS), so that a verifier has storage to find among the flood.
 * Prints how many it sent and how many were storage. Root (CAP_NET_RAW) only; scripts/bench-live
 * runs it inside its own network namespaces, to a documentation address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct udp { uint16_t source, destination, length, checksum; };

int main(int argc, char **argv) {
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: newflows DESTINATION COUNT [STORAGE_EVERY]\n");
		return 64;
	}
	struct sockaddr_in to = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "newflows: %s is not an IPv4 address\n", argv[1]);
		return 64;
	}
	char *end;
	long long count = strtoll(argv[2], &end, 10);
	long long every = argc == 4 ? strtoll(argv[3], &end, 10) : 0;
	if (count < 0 || every < 0) {
		fprintf(stderr, "newflows: COUNT and STORAGE_EVERY must not be negative\n");
		return 64;
	}
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (s < 0) {
		fprintf(stderr, "newflows: raw socket: %s\n", strerror(errno));
		return 77;
	}
	unsigned char datagram[sizeof(struct udp) + 24];
	memset(datagram, 'f', sizeof datagram);
	struct udp *header = (struct udp *)datagram;
	long long storage = 0;
	for (long long i = 0; i < count; i++) {
		uint16_t source = 1024 + i % 50000, destination = 1024 + (i / 50000) % 50000;
		if (every && i % every == 0) {
			destination = 2049;
			storage++;
		}
		header->source = htons(source);
		header->destination = htons(destination);
		header->length = htons(sizeof datagram);
		header->checksum = 0;
		while (sendto(s, datagram, sizeof datagram, 0, (struct sockaddr *)&to, sizeof to) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				fprintf(stderr, "newflows: sendto: %s\n", strerror(errno));
				return 1;
			}
		}
	}
	printf("%lld sent, %lld storage\n", count, storage);
	return 0;
}
