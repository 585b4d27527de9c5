#ifndef LANEKEEPER_CPCAP_SHIM_H
#define LANEKEEPER_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
