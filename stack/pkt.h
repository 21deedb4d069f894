/* Packet buffers for output: one allocation with headroom, so each layer
 * pushes its header in front of the payload without a copy. Input does not
 * use them: received frames are parsed in place from the driver's buffer. */
#ifndef TOYSOCK_PKT_H
#define TOYSOCK_PKT_H

#include <stddef.h>
#include <stdint.h>

/* Room for a virtio-net header, Ethernet, IPv4 with options and TCP with
 * options, rounded up. */
#define PKT_HEADROOM 192

struct pkt {
    uint8_t *data; /* first byte of the current layer */
    size_t len;    /* bytes from data to the end */
    size_t cap;    /* bytes in storage */
    uint8_t storage[];
};

/* A buffer with len bytes of payload space after PKT_HEADROOM. NULL when
 * memory is exhausted. */
struct pkt *pkt_alloc(size_t len);
/* A copy of bytes with the usual headroom. */
struct pkt *pkt_from(const uint8_t *bytes, size_t len);
/* Prepends n bytes and returns them; the caller guarantees headroom. */
uint8_t *pkt_push(struct pkt *pkt, size_t n);
/* Removes n bytes from the front. */
void pkt_pull(struct pkt *pkt, size_t n);
/* Drops bytes past len. */
void pkt_trim(struct pkt *pkt, size_t len);
size_t pkt_headroom(const struct pkt *pkt);
void pkt_free(struct pkt *pkt);

#endif
