/* TCP send and receive rings. Both are fixed-capacity byte rings allocated
 * once at init; nothing here allocates afterwards.
 *
 * The receive ring doubles as the reassembly queue (RFC 9293 §3.10.7.4,
 * "segment text"): a segment that arrives ahead of rcv_nxt is copied to
 * its final place in the ring, and a sorted list of at most TCP_RANGES_MAX
 * filled ranges, relative to the end of the in-order data, records which
 * bytes are there. A write at offset 0 then moves rcv_nxt over every range
 * it now reaches. Every call costs O(len + TCP_RANGES_MAX).
 *
 *   tcp_rcvbuf_write() -> rcv_put() per gap not yet held
 *                      -> rcv_advance() (data at rcv_nxt) or rcv_merge()
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_buf.h"

/* Ring position off bytes after head; needs head < cap and off <= cap. */
static size_t ring_index(size_t cap, size_t head, size_t off)
{
    size_t i = head + off;
    return i >= cap ? i - cap : i;
}

/* Copies n bytes into the ring starting at position at, wrapping once. */
static void ring_put(uint8_t *ring, size_t cap, size_t at, const uint8_t *src, size_t n)
{
    size_t first = cap - at;
    if (first > n)
        first = n;
    if (first > 0)
        memcpy(ring + at, src, first);
    if (n > first)
        memcpy(ring, src + first, n - first);
}

/* Copies n bytes out of the ring starting at position at, wrapping once. */
static void ring_get(const uint8_t *ring, size_t cap, size_t at, uint8_t *dst, size_t n)
{
    size_t first = cap - at;
    if (first > n)
        first = n;
    if (first > 0)
        memcpy(dst, ring + at, first);
    if (n > first)
        memcpy(dst + first, ring, n - first);
}

static uint8_t *ring_alloc(size_t cap, int *err)
{
    if (cap == 0 || cap > TCP_BUF_MAX) {
        *err = -EINVAL;
        return NULL;
    }
    uint8_t *data = malloc(cap);
    *err = data == NULL ? -ENOMEM : 0;
    return data;
}

/* ---- Send buffer ---- */

int tcp_sndbuf_init(struct tcp_sndbuf *buf, size_t cap)
{
    int err;
    memset(buf, 0, sizeof(*buf));
    buf->data = ring_alloc(cap, &err);
    if (buf->data != NULL)
        buf->cap = cap;
    return err;
}

void tcp_sndbuf_free(struct tcp_sndbuf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

size_t tcp_sndbuf_append(struct tcp_sndbuf *buf, const void *data, size_t len)
{
    size_t space = buf->cap - buf->len;
    if (len > space)
        len = space;
    if (len == 0)
        return 0;
    ring_put(buf->data, buf->cap, ring_index(buf->cap, buf->head, buf->len), data, len);
    buf->len += len;
    return len;
}

void tcp_sndbuf_peek(const struct tcp_sndbuf *buf, size_t offset, void *out, size_t len)
{
    assert(offset <= buf->len && len <= buf->len - offset);
    if (len == 0)
        return;
    ring_get(buf->data, buf->cap, ring_index(buf->cap, buf->head, offset), out, len);
}

void tcp_sndbuf_consume(struct tcp_sndbuf *buf, size_t n)
{
    assert(n <= buf->len);
    if (n > buf->len)
        n = buf->len;
    buf->len -= n;
    buf->head = buf->len == 0 ? 0 : ring_index(buf->cap, buf->head, n);
}

size_t tcp_sndbuf_space(const struct tcp_sndbuf *buf)
{
    return buf->cap - buf->len;
}

/* ---- Receive buffer with reassembly ---- */

int tcp_rcvbuf_init(struct tcp_rcvbuf *buf, size_t cap)
{
    int err;
    memset(buf, 0, sizeof(*buf));
    buf->data = ring_alloc(cap, &err);
    if (buf->data != NULL)
        buf->cap = cap;
    return err;
}

void tcp_rcvbuf_free(struct tcp_rcvbuf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

size_t tcp_rcvbuf_window(const struct tcp_rcvbuf *buf)
{
    return buf->cap - buf->ready;
}

/* Copies [start, end) of src (src[0] is offset s) into the ring at its
 * place past the in-order data. */
static void rcv_put(struct tcp_rcvbuf *buf, uint32_t s, uint32_t start, uint32_t end,
                    const uint8_t *src)
{
    if (end <= start)
        return;
    size_t at = ring_index(buf->cap, buf->head, buf->ready + start);
    ring_put(buf->data, buf->cap, at, src + (start - s), end - start);
}

/* Replaces ranges[lo, hi) (possibly empty) with the single range [s, e). */
static void rcv_merge(struct tcp_rcvbuf *buf, unsigned lo, unsigned hi, uint32_t s, uint32_t e)
{
    struct tcp_range *r = buf->ranges;
    unsigned n = buf->range_count;
    if (hi == lo) {
        memmove(&r[lo + 1], &r[lo], (n - lo) * sizeof(*r));
        buf->range_count = n + 1;
    } else if (hi - lo > 1) {
        memmove(&r[lo + 1], &r[hi], (n - hi) * sizeof(*r));
        buf->range_count = n - (hi - lo - 1);
    }
    r[lo].start = s;
    r[lo].end = e;
}

/* The data now reaches offset 0: the in-order bytes grow by adv, which
 * swallows ranges[0, hi); the remaining ranges are rebased onto the new
 * rcv_nxt. */
static void rcv_advance(struct tcp_rcvbuf *buf, unsigned hi, uint32_t adv)
{
    struct tcp_range *r = buf->ranges;
    unsigned n = buf->range_count - hi;
    for (unsigned i = 0; i < n; i++) {
        r[i].start = r[hi + i].start - adv;
        r[i].end = r[hi + i].end - adv;
    }
    buf->range_count = n;
    buf->ready += adv;
}

long tcp_rcvbuf_write(struct tcp_rcvbuf *buf, size_t offset, const void *data, size_t len)
{
    size_t win = buf->cap - buf->ready;
    if (len == 0 || offset >= win)
        return 0;
    if (len > win - offset)
        len = win - offset; /* beyond the window: cut */

    /* cap <= TCP_BUF_MAX, so offsets inside the window fit 32 bits. */
    uint32_t s = (uint32_t)offset, e = (uint32_t)(offset + len);
    const struct tcp_range *r = buf->ranges;
    unsigned n = buf->range_count;

    /* Ranges [lo, hi) overlap or touch [s, e): they merge with it. */
    unsigned lo = 0;
    while (lo < n && r[lo].end < s)
        lo++;
    unsigned hi = lo;
    while (hi < n && r[hi].start <= e)
        hi++;

    /* A new range is needed only when nothing merges and the data does
     * not extend the in-order bytes. Refuse before touching anything. */
    if (lo == hi && s != 0 && n == TCP_RANGES_MAX)
        return -1;

    /* Copy only the gaps: bytes already held are kept as they are. */
    const uint8_t *src = data;
    uint32_t cursor = s;
    for (unsigned i = lo; i < hi; i++) {
        rcv_put(buf, s, cursor, r[i].start < e ? r[i].start : e, src);
        if (r[i].end > cursor)
            cursor = r[i].end;
    }
    rcv_put(buf, s, cursor, e, src);

    uint32_t ms = s, me = e;
    if (lo < hi) {
        if (r[lo].start < ms)
            ms = r[lo].start;
        if (r[hi - 1].end > me)
            me = r[hi - 1].end;
    }
    if (ms == 0) {
        /* Ranges never start at 0, so this was a write at rcv_nxt (lo is
         * 0): it and every range it reaches become in-order. */
        rcv_advance(buf, hi, me);
        return (long)me;
    }
    rcv_merge(buf, lo, hi, ms, me);
    return 0;
}

size_t tcp_rcvbuf_peek(const struct tcp_rcvbuf *buf, void *out, size_t len)
{
    if (len > buf->ready)
        len = buf->ready;
    if (len > 0)
        ring_get(buf->data, buf->cap, buf->head, out, len);
    return len;
}

size_t tcp_rcvbuf_read(struct tcp_rcvbuf *buf, void *out, size_t len)
{
    if (len > buf->ready)
        len = buf->ready;
    if (len == 0)
        return 0;
    if (out != NULL)
        ring_get(buf->data, buf->cap, buf->head, out, len);
    /* Ranges are relative to the end of the in-order data, which a read
     * does not move: only head and ready change. */
    buf->head = ring_index(buf->cap, buf->head, len);
    buf->ready -= len;
    return len;
}

unsigned tcp_rcvbuf_ranges(const struct tcp_rcvbuf *buf, uint32_t rcv_nxt, uint32_t *lefts,
                           uint32_t *rights, unsigned max)
{
    unsigned n = buf->range_count < max ? buf->range_count : max;
    for (unsigned i = 0; i < n; i++) {
        lefts[i] = rcv_nxt + buf->ranges[i].start; /* modulo 2^32 */
        rights[i] = rcv_nxt + buf->ranges[i].end;
    }
    return n;
}

bool tcp_rcvbuf_has_gaps(const struct tcp_rcvbuf *buf)
{
    return buf->range_count > 0;
}
