/* Writes frames to a pcap file that tcpdump and tshark read. */
#ifndef TOYSOCK_CAPTURE_H
#define TOYSOCK_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct capture;

/* linktype is 1 (Ethernet) or 101 (raw IP, for loopback). */
struct capture *capture_open(const char *path, int linktype, char *err, size_t errlen);
/* Appends one frame stamped with the wall clock. Errors are counted, not
 * fatal. */
void capture_write(struct capture *cap, const uint8_t *frame, size_t len);
void capture_close(struct capture *cap);

#endif
