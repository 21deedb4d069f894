/* TCP byte buffers. Both are rings of a fixed capacity chosen at creation,
 * so a connection's memory is set by its options, never by the peer.
 *
 * The receive ring also holds out-of-order data: a segment inside the
 * window is written straight to its place after the in-order bytes, and a
 * small bounded list of filled ranges (an "assembler") records what has
 * arrived. Insertion costs O(TCP_RANGES_MAX), independent of how many
 * segments are queued. */
#ifndef TOYSOCK_TCP_BUF_H
#define TOYSOCK_TCP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest capacity either ring accepts: the largest window TCP can offer
 * (RFC 7323 §2.3), so offsets always fit 32 bits. */
#define TCP_BUF_MAX ((size_t)1 << 30)

/* ---- Send buffer: bytes from snd_una onwards ---- */
struct tcp_sndbuf {
    uint8_t *data;
    size_t cap;
    size_t head; /* index of the byte at snd_una */
    size_t len;  /* bytes held: unacknowledged + not yet sent */
};

/* Returns 0, -EINVAL (cap 0 or above TCP_BUF_MAX) or -ENOMEM. */
int tcp_sndbuf_init(struct tcp_sndbuf *buf, size_t cap);
/* Safe on a zeroed or already freed buffer. */
void tcp_sndbuf_free(struct tcp_sndbuf *buf);
/* Appends up to len bytes; returns how many fit. */
size_t tcp_sndbuf_append(struct tcp_sndbuf *buf, const void *data, size_t len);
/* Copies len bytes starting offset bytes after snd_una into out; the
 * caller guarantees offset + len <= buf->len. */
void tcp_sndbuf_peek(const struct tcp_sndbuf *buf, size_t offset, void *out, size_t len);
/* Drops n acknowledged bytes from the front (n <= len). */
void tcp_sndbuf_consume(struct tcp_sndbuf *buf, size_t n);
size_t tcp_sndbuf_space(const struct tcp_sndbuf *buf);

/* ---- Receive buffer with reassembly ---- */
#define TCP_RANGES_MAX 32

struct tcp_range {
    uint32_t start; /* offset from the first byte past the in-order data */
    uint32_t end;   /* exclusive */
};

struct tcp_rcvbuf {
    uint8_t *data;
    size_t cap;
    size_t head;  /* index of the first unread in-order byte */
    size_t ready; /* in-order bytes the owner has not read */
    /* Out-of-order ranges, sorted, disjoint, not touching, relative to the
     * end of the in-order data. */
    struct tcp_range ranges[TCP_RANGES_MAX];
    unsigned range_count;
};

/* Returns 0, -EINVAL (cap 0 or above TCP_BUF_MAX) or -ENOMEM. */
int tcp_rcvbuf_init(struct tcp_rcvbuf *buf, size_t cap);
/* Safe on a zeroed or already freed buffer. */
void tcp_rcvbuf_free(struct tcp_rcvbuf *buf);
/* Free space: what the window may offer (cap - ready; out-of-order bytes
 * sit inside it). */
size_t tcp_rcvbuf_window(const struct tcp_rcvbuf *buf);
/* Stores len bytes at offset bytes past the in-order data (offset 0 is
 * rcv_nxt; the caller trims bytes before rcv_nxt). Bytes beyond the window
 * (offset + len > cap - ready) are cut off; bytes already held are kept,
 * only the missing ones are copied. Returns how many bytes became in-order
 * (by how much rcv_nxt advances: the segment's own bytes plus every
 * queued range it reached), 0 when the data was queued out of order or
 * fell wholly outside the window, or -1 when the segment was dropped,
 * leaving the buffer unchanged, because it would need more than
 * TCP_RANGES_MAX ranges. */
long tcp_rcvbuf_write(struct tcp_rcvbuf *buf, size_t offset, const void *data, size_t len);
/* Copies up to len in-order bytes out and frees their space; out may be
 * NULL to discard them. Returns how many. */
size_t tcp_rcvbuf_read(struct tcp_rcvbuf *buf, void *out, size_t len);
/* Like read, without consuming (out must not be NULL). */
size_t tcp_rcvbuf_peek(const struct tcp_rcvbuf *buf, void *out, size_t len);
/* Out-of-order ranges as sequence numbers (for SACK blocks), given
 * rcv_nxt: fills up to max [lefts[i], rights[i]) pairs, modulo 2^32, in
 * sequence order, and returns how many. Putting the most recently changed
 * block first (RFC 2018 §4) is the caller's job. */
unsigned tcp_rcvbuf_ranges(const struct tcp_rcvbuf *buf, uint32_t rcv_nxt, uint32_t *lefts,
                           uint32_t *rights, unsigned max);
bool tcp_rcvbuf_has_gaps(const struct tcp_rcvbuf *buf);

#endif
