/* TCP send and receive rings: wraparound in every operation, reassembly of
 * out-of-order segments (merging, duplicates, overlaps, window cut, the
 * range bound), SACK ranges across the 2^32 wrap, and a seeded shuffle of
 * 1000 segments checked byte for byte and against a bitmap model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_buf.h"
#include "wire/tcp_seq.h"

struct rng {
    uint64_t s;
};

static uint32_t rng_u32(struct rng *g)
{
    /* xorshift64* */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return (uint32_t)((g->s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform enough in [lo, hi]. */
static uint32_t rng_range(struct rng *g, uint32_t lo, uint32_t hi)
{
    return lo + rng_u32(g) % (hi - lo + 1);
}

/* The byte at stream position i: not periodic in any small power of two,
 * so a byte landing at a wrong place shows. */
static uint8_t stream_byte(size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return (uint8_t)((x >> 13) ^ (x >> 24) ^ i);
}

static void fill_stream(uint8_t *out, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = stream_byte(from + i);
}

static void assert_stream(const uint8_t *got, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (got[i] != stream_byte(from + i))
            fail_msg("byte %zu: got %u want %u", from + i, got[i], stream_byte(from + i));
}

/* The receive buffer's invariants: ranges sorted, non-empty, disjoint, not
 * touching, not starting at 0, inside the window. */
static void assert_rcv_invariants(const struct tcp_rcvbuf *b)
{
    assert_true(b->ready <= b->cap);
    assert_true(b->head < b->cap);
    assert_true(b->range_count <= TCP_RANGES_MAX);
    for (unsigned i = 0; i < b->range_count; i++) {
        assert_true(b->ranges[i].start < b->ranges[i].end);
        assert_true(b->ranges[i].end <= b->cap - b->ready);
        if (i == 0)
            assert_true(b->ranges[i].start > 0);
        else
            assert_true(b->ranges[i - 1].end < b->ranges[i].start);
    }
}

/* ---- Send buffer ---- */

static void test_sndbuf_init_errors(void **state)
{
    (void)state;
    struct tcp_sndbuf b;
    assert_int_equal(tcp_sndbuf_init(&b, 0), -EINVAL);
    assert_null(b.data);
    assert_int_equal(tcp_sndbuf_init(&b, TCP_BUF_MAX + 1), -EINVAL);
    tcp_sndbuf_free(&b); /* freeing a failed init is harmless */
    assert_int_equal(tcp_sndbuf_init(&b, 1), 0);
    tcp_sndbuf_free(&b);
    tcp_sndbuf_free(&b); /* and twice */
    struct tcp_rcvbuf r;
    assert_int_equal(tcp_rcvbuf_init(&r, 0), -EINVAL);
    assert_int_equal(tcp_rcvbuf_init(&r, TCP_BUF_MAX + 1), -EINVAL);
    tcp_rcvbuf_free(&r);
}

static void test_sndbuf_fill_and_drain(void **state)
{
    (void)state;
    struct tcp_sndbuf b;
    uint8_t in[100], out[100];
    fill_stream(in, 0, sizeof(in));
    assert_int_equal(tcp_sndbuf_init(&b, 64), 0);
    assert_int_equal(tcp_sndbuf_space(&b), 64);
    assert_int_equal(tcp_sndbuf_append(&b, in, 40), 40);
    assert_int_equal(tcp_sndbuf_append(&b, in + 40, 60), 24); /* only 24 fit */
    assert_int_equal(tcp_sndbuf_space(&b), 0);
    assert_int_equal(tcp_sndbuf_append(&b, in, 1), 0);
    assert_int_equal(b.len, 64);
    tcp_sndbuf_peek(&b, 0, out, 64);
    assert_stream(out, 0, 64);
    tcp_sndbuf_peek(&b, 63, out, 1);
    assert_stream(out, 63, 1);
    tcp_sndbuf_peek(&b, 64, out, 0); /* empty peek at the end */
    tcp_sndbuf_consume(&b, 64);
    assert_int_equal(b.len, 0);
    assert_int_equal(tcp_sndbuf_space(&b), 64);
    assert_int_equal(tcp_sndbuf_append(&b, in, 0), 0);
    tcp_sndbuf_free(&b);
}

static void test_sndbuf_wrap(void **state)
{
    (void)state;
    struct tcp_sndbuf b;
    uint8_t in[32], out[32];
    assert_int_equal(tcp_sndbuf_init(&b, 10), 0);
    fill_stream(in, 0, 7);
    assert_int_equal(tcp_sndbuf_append(&b, in, 7), 7);
    tcp_sndbuf_consume(&b, 5); /* head at 5, 2 bytes left: stream 5..6 */
    fill_stream(in, 7, 8);
    assert_int_equal(tcp_sndbuf_append(&b, in, 8), 8); /* append wraps */
    assert_int_equal(b.len, 10);
    /* Peek across the end from every offset and length. */
    for (size_t off = 0; off <= 10; off++) {
        for (size_t len = 0; off + len <= 10; len++) {
            memset(out, 0, sizeof(out));
            tcp_sndbuf_peek(&b, off, out, len);
            assert_stream(out, 5 + off, len);
        }
    }
    tcp_sndbuf_consume(&b, 7); /* consume wraps the head */
    assert_true(b.head < b.cap);
    tcp_sndbuf_peek(&b, 0, out, 3);
    assert_stream(out, 12, 3);
    tcp_sndbuf_free(&b);
}

static void test_sndbuf_random_model(void **state)
{
    (void)state;
    struct rng g = {0x5eed5eedu};
    struct tcp_sndbuf b;
    uint8_t tmp[300];
    size_t una = 0, end = 0; /* stream positions held: [una, end) */
    assert_int_equal(tcp_sndbuf_init(&b, 257), 0);
    for (int step = 0; step < 20000; step++) {
        switch (rng_u32(&g) % 3) {
        case 0: {
            size_t want = rng_range(&g, 0, 300);
            fill_stream(tmp, end, want);
            size_t took = tcp_sndbuf_append(&b, tmp, want);
            size_t space = 257 - (end - una);
            assert_int_equal(took, want < space ? want : space);
            end += took;
            break;
        }
        case 1: {
            if (end == una)
                break;
            size_t off = rng_range(&g, 0, (uint32_t)(end - una));
            size_t len = rng_range(&g, 0, (uint32_t)(end - una - off));
            tcp_sndbuf_peek(&b, off, tmp, len);
            assert_stream(tmp, una + off, len);
            break;
        }
        default: {
            size_t n = rng_range(&g, 0, (uint32_t)(end - una));
            tcp_sndbuf_consume(&b, n);
            una += n;
            break;
        }
        }
        assert_int_equal(b.len, end - una);
        assert_int_equal(tcp_sndbuf_space(&b), 257 - (end - una));
    }
    assert_true(end > 100000); /* the ring went round many times */
    tcp_sndbuf_free(&b);
}

/* ---- Receive buffer ---- */

static void test_rcvbuf_in_order(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[64], out[64];
    assert_int_equal(tcp_rcvbuf_init(&b, 16), 0);
    assert_int_equal(tcp_rcvbuf_window(&b), 16);
    fill_stream(in, 0, 12);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 12), 12);
    assert_int_equal(b.ready, 12);
    assert_int_equal(tcp_rcvbuf_window(&b), 4);
    assert_false(tcp_rcvbuf_has_gaps(&b));
    assert_int_equal(tcp_rcvbuf_read(&b, out, 10), 10);
    assert_stream(out, 0, 10);
    /* head 10, ready 2: the next write wraps. */
    fill_stream(in, 12, 14);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 14), 14);
    assert_int_equal(tcp_rcvbuf_window(&b), 0);
    /* Nothing fits now. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 1), 0);
    /* Peek and read wrap. */
    assert_int_equal(tcp_rcvbuf_peek(&b, out, 64), 16);
    assert_stream(out, 10, 16);
    assert_int_equal(b.ready, 16);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 5), 5);
    assert_stream(out, 10, 5);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 64), 11);
    assert_stream(out, 15, 11);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 64), 0);
    assert_int_equal(tcp_rcvbuf_peek(&b, out, 64), 0);
    /* A read with no destination discards. */
    fill_stream(in, 26, 3);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 3), 3);
    assert_int_equal(tcp_rcvbuf_read(&b, NULL, 2), 2);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 8), 1);
    assert_stream(out, 28, 1);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_read_to_ring_end(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[32], out[32];
    assert_int_equal(tcp_rcvbuf_init(&b, 16), 0);
    fill_stream(in, 0, 32);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 16), 16);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 16), 16); /* ends exactly at the end */
    assert_int_equal(b.head, 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 3, in + 19, 13), 0); /* fills to the end */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in + 16, 3), 16);
    assert_int_equal(tcp_rcvbuf_window(&b), 0);
    assert_int_equal(tcp_rcvbuf_read(&b, out + 16, 16), 16);
    assert_int_equal(b.head, 0);
    assert_stream(out, 0, 32);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_out_of_order_wraps(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[64], out[64];
    assert_int_equal(tcp_rcvbuf_init(&b, 16), 0);
    fill_stream(in, 0, 12);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 12), 12);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 12), 12);
    /* head 12, ready 0. Stream position 12 is rcv_nxt. Out-of-order data
     * at offset 6..12 lands at ring positions 2..7 (wrapped). */
    fill_stream(in, 18, 6);
    assert_int_equal(tcp_rcvbuf_write(&b, 6, in, 6), 0);
    assert_true(tcp_rcvbuf_has_gaps(&b));
    assert_int_equal(b.range_count, 1);
    assert_int_equal(b.ranges[0].start, 6);
    assert_int_equal(b.ranges[0].end, 12);
    /* Fill the hole across the ring's end: 0..6 at positions 12..15,0..1. */
    fill_stream(in, 12, 6);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 6), 12);
    assert_false(tcp_rcvbuf_has_gaps(&b));
    assert_int_equal(tcp_rcvbuf_peek(&b, out, 64), 12);
    assert_stream(out, 12, 12);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 64), 12);
    assert_stream(out, 12, 12);
    assert_rcv_invariants(&b);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_merge_neighbours(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[200], out[200];
    fill_stream(in, 0, sizeof(in));
    assert_int_equal(tcp_rcvbuf_init(&b, 200), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 10, in + 10, 10), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 40, in + 40, 10), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 70, in + 70, 10), 0);
    assert_int_equal(b.range_count, 3);
    /* Touching on the right merges: [10,20) + [20,25). */
    assert_int_equal(tcp_rcvbuf_write(&b, 20, in + 20, 5), 0);
    assert_int_equal(b.range_count, 3);
    assert_int_equal(b.ranges[0].end, 25);
    /* Touching on the left merges: [35,40) + [40,50). */
    assert_int_equal(tcp_rcvbuf_write(&b, 35, in + 35, 5), 0);
    assert_int_equal(b.range_count, 3);
    assert_int_equal(b.ranges[1].start, 35);
    /* Touching both sides bridges: [25,35) joins [10,25) and [35,50). */
    assert_int_equal(tcp_rcvbuf_write(&b, 25, in + 25, 10), 0);
    assert_int_equal(b.range_count, 2);
    assert_int_equal(b.ranges[0].start, 10);
    assert_int_equal(b.ranges[0].end, 50);
    /* One write spanning several ranges and gaps: [5,90). */
    assert_int_equal(tcp_rcvbuf_write(&b, 5, in + 5, 85), 0);
    assert_int_equal(b.range_count, 1);
    assert_int_equal(b.ranges[0].start, 5);
    assert_int_equal(b.ranges[0].end, 90);
    /* In the middle of nothing: a new range after it. */
    assert_int_equal(tcp_rcvbuf_write(&b, 100, in + 100, 10), 0);
    assert_int_equal(b.range_count, 2);
    /* Offset 0 reaches [5,90) but not [100,110). */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 5), 90);
    assert_int_equal(b.range_count, 1);
    assert_int_equal(b.ranges[0].start, 10); /* rebased on the new rcv_nxt */
    assert_int_equal(b.ranges[0].end, 20);
    assert_int_equal(tcp_rcvbuf_window(&b), 110);
    assert_rcv_invariants(&b);
    /* Touching the range from offset 0 takes it in too. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in + 90, 10), 20);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 200), 110);
    assert_stream(out, 0, 110);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_duplicates_and_overlaps(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[100], junk[100], out[100];
    fill_stream(in, 0, sizeof(in));
    memset(junk, 0xee, sizeof(junk));
    assert_int_equal(tcp_rcvbuf_init(&b, 100), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 20, in + 20, 20), 0);
    /* Exact duplicate: no change. */
    assert_int_equal(tcp_rcvbuf_write(&b, 20, in + 20, 20), 0);
    assert_int_equal(b.range_count, 1);
    /* Contained duplicate with different bytes: the held bytes are kept. */
    assert_int_equal(tcp_rcvbuf_write(&b, 25, junk, 10), 0);
    /* Overlap on both sides: only the new bytes come from this write. */
    memcpy(junk + 5, in + 15, 5);   /* new: 15..19 */
    memcpy(junk + 30, in + 40, 10); /* new: 40..49 */
    assert_int_equal(tcp_rcvbuf_write(&b, 10, junk, 40), 0);
    assert_int_equal(b.range_count, 1);
    assert_int_equal(b.ranges[0].start, 10);
    assert_int_equal(b.ranges[0].end, 50);
    /* The gap [10,15) got junk from that write, as nothing was held there:
     * overwrite-free means first come, so the stream is wrong there. Fill
     * [0,10) and check that [15,50) is the true stream. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 10), 50);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 100), 50);
    assert_stream(out, 0, 10);
    assert_memory_equal(out + 10, junk, 5);
    assert_stream(out + 15, 15, 35);
    /* An in-order write overlapping queued data only adds what is new. */
    assert_int_equal(tcp_rcvbuf_write(&b, 10, in + 60, 10), 0); /* [10,20) */
    memcpy(junk, in + 50, 20);
    memset(junk + 10, 0xee, 10); /* the overlap carries other bytes */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, junk, 20), 20);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 100), 20);
    assert_stream(out, 50, 10);
    assert_stream(out + 10, 60, 10);
    assert_rcv_invariants(&b);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_window_cut(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[200], out[200];
    fill_stream(in, 0, sizeof(in));
    assert_int_equal(tcp_rcvbuf_init(&b, 100), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 60), 60); /* unread */
    assert_int_equal(tcp_rcvbuf_window(&b), 40);
    /* Offset 30, 20 bytes: only 10 fit. */
    assert_int_equal(tcp_rcvbuf_write(&b, 30, in + 90, 20), 0);
    assert_int_equal(b.range_count, 1);
    assert_int_equal(b.ranges[0].start, 30);
    assert_int_equal(b.ranges[0].end, 40);
    /* Wholly beyond: nothing stored. */
    assert_int_equal(tcp_rcvbuf_write(&b, 40, in + 100, 10), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 1000000, in, 10), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, SIZE_MAX, in, 10), 0);
    assert_int_equal(b.range_count, 1);
    /* An in-order write longer than the window is cut at it too. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in + 60, 100), 40);
    assert_int_equal(tcp_rcvbuf_window(&b), 0);
    assert_false(tcp_rcvbuf_has_gaps(&b));
    assert_int_equal(tcp_rcvbuf_read(&b, out, 200), 100);
    assert_stream(out, 0, 100);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_range_bound(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[1000], out[1000];
    fill_stream(in, 0, sizeof(in));
    assert_int_equal(tcp_rcvbuf_init(&b, 1000), 0);
    /* TCP_RANGES_MAX ranges [10k+5, 10k+10). */
    for (unsigned k = 0; k < TCP_RANGES_MAX; k++)
        assert_int_equal(tcp_rcvbuf_write(&b, 10 * k + 5, in + 10 * k + 5, 5), 0);
    assert_int_equal(b.range_count, TCP_RANGES_MAX);

    size_t head = b.head, ready = b.ready;
    struct tcp_range ranges[TCP_RANGES_MAX];
    memcpy(ranges, b.ranges, sizeof(ranges));
    uint8_t *snapshot = malloc(b.cap);
    assert_non_null(snapshot);
    memcpy(snapshot, b.data, b.cap);
    /* One more disjoint range, above and between: refused, nothing moved
     * (not even the ring bytes). */
    size_t offs[] = {500, 10 * TCP_RANGES_MAX + 1, 1, 11};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        size_t len = offs[i] < 10 * TCP_RANGES_MAX ? 3 : 10;
        assert_int_equal(tcp_rcvbuf_write(&b, offs[i], in + offs[i], len), -1);
        assert_int_equal(b.head, head);
        assert_int_equal(b.ready, ready);
        assert_int_equal(b.range_count, TCP_RANGES_MAX);
        assert_memory_equal(b.ranges, ranges, sizeof(ranges));
        assert_memory_equal(b.data, snapshot, b.cap);
    }
    free(snapshot);

    /* Writes that need no new slot still work: extending a range... */
    assert_int_equal(tcp_rcvbuf_write(&b, 10 * TCP_RANGES_MAX, in + 10 * TCP_RANGES_MAX, 7), 0);
    assert_int_equal(b.range_count, TCP_RANGES_MAX);
    /* ...bridging two (the count drops)... */
    assert_int_equal(tcp_rcvbuf_write(&b, 10, in + 10, 5), 0);
    assert_int_equal(b.range_count, TCP_RANGES_MAX - 1);
    /* ...so a new one fits again... */
    assert_int_equal(tcp_rcvbuf_write(&b, 500, in + 500, 5), 0);
    assert_int_equal(b.range_count, TCP_RANGES_MAX);
    /* ...and data at rcv_nxt that reaches no range needs no slot. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in, 2), 2);
    assert_int_equal(b.range_count, TCP_RANGES_MAX);
    assert_int_equal(b.ranges[0].start, 3);
    assert_rcv_invariants(&b);
    /* Fill all holes below 500 in order: everything up to 327 + the rest. */
    assert_int_equal(tcp_rcvbuf_write(&b, 0, in + 2, 3), 3 + 15);
    for (unsigned k = 2; k < TCP_RANGES_MAX; k++) {
        size_t rcv_nxt = 10 * k;
        long got = tcp_rcvbuf_write(&b, 0, in + rcv_nxt, 5);
        assert_int_equal(got, k + 1 < TCP_RANGES_MAX ? 10 : 17);
    }
    assert_int_equal(b.range_count, 1);
    assert_int_equal(tcp_rcvbuf_read(&b, out, 1000), 10 * TCP_RANGES_MAX + 7);
    assert_stream(out, 0, 10 * TCP_RANGES_MAX + 7);
    tcp_rcvbuf_free(&b);
}

static void test_rcvbuf_ranges_as_sequence_numbers(void **state)
{
    (void)state;
    struct tcp_rcvbuf b;
    uint8_t in[100];
    uint32_t lefts[4], rights[4];
    fill_stream(in, 0, sizeof(in));
    assert_int_equal(tcp_rcvbuf_init(&b, 100), 0);
    assert_int_equal(tcp_rcvbuf_ranges(&b, 0, lefts, rights, 4), 0);
    assert_int_equal(tcp_rcvbuf_write(&b, 8, in, 8), 0);   /* [8,16) */
    assert_int_equal(tcp_rcvbuf_write(&b, 20, in, 20), 0); /* [20,40) */
    assert_int_equal(tcp_rcvbuf_write(&b, 50, in, 1), 0);  /* [50,51) */
    uint32_t rcv_nxt = 0xfffffff0u;
    assert_int_equal(tcp_rcvbuf_ranges(&b, rcv_nxt, lefts, rights, 4), 3);
    assert_int_equal(lefts[0], 0xfffffff8u);
    assert_int_equal(rights[0], 0x00000000u); /* ends exactly at the wrap */
    assert_int_equal(lefts[1], 0x00000004u);
    assert_int_equal(rights[1], 0x00000018u);
    assert_int_equal(lefts[2], 0x00000022u);
    assert_int_equal(rights[2], 0x00000023u);
    for (unsigned i = 0; i < 3; i++) {
        assert_true(seq_lt(rcv_nxt, lefts[i]));
        assert_true(seq_lt(lefts[i], rights[i]));
        if (i > 0)
            assert_true(seq_lt(rights[i - 1], lefts[i]));
    }
    /* max cuts the list, keeping sequence order. */
    assert_int_equal(tcp_rcvbuf_ranges(&b, rcv_nxt, lefts, rights, 2), 2);
    assert_int_equal(lefts[1], 0x00000004u);
    assert_int_equal(tcp_rcvbuf_ranges(&b, rcv_nxt, lefts, rights, 0), 0);
    tcp_rcvbuf_free(&b);
}

/* ---- Seeded shuffle against a bitmap model ---- */

#define SHUF_SEGMENTS 1000
#define SHUF_CAP (64 * 1024)

struct model {
    uint8_t *held;  /* per stream byte: 1 once the buffer holds it */
    size_t rcv_nxt; /* stream position of the end of the in-order data */
    size_t total;
    unsigned refused; /* writes that hit the range bound */
};

/* Runs of held bytes in [from, to), as offsets from `from`. */
static unsigned model_runs(const struct model *m, size_t from, size_t to, struct tcp_range *out,
                           unsigned max)
{
    unsigned n = 0;
    size_t pos = from;
    while (pos < to) {
        const uint8_t *one = memchr(m->held + pos, 1, to - pos);
        if (one == NULL)
            break;
        size_t s = (size_t)(one - m->held);
        const uint8_t *zero = memchr(m->held + s, 0, to - s);
        size_t e = zero == NULL ? to : (size_t)(zero - m->held);
        if (n < max) {
            out[n].start = (uint32_t)(s - from);
            out[n].end = (uint32_t)(e - from);
        }
        n++;
        pos = e;
    }
    return n;
}

static void assert_matches_model(const struct tcp_rcvbuf *b, const struct model *m)
{
    struct tcp_range want[TCP_RANGES_MAX + 1];
    size_t win_end = m->rcv_nxt + (b->cap - b->ready);
    if (win_end > m->total)
        win_end = m->total;
    unsigned n = model_runs(m, m->rcv_nxt, win_end, want, TCP_RANGES_MAX + 1);
    assert_int_equal(b->range_count, n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(b->ranges[i].start, want[i].start);
        assert_int_equal(b->ranges[i].end, want[i].end);
    }
    assert_rcv_invariants(b);
}

/* Delivers [start, end) of the stream the way the TCP input path would:
 * trims what is below rcv_nxt, writes the rest, and checks the result
 * against the model. */
static void shuffle_deliver(struct tcp_rcvbuf *b, struct model *m, size_t start, size_t end)
{
    uint8_t seg[2048];
    if (end > m->total)
        end = m->total;
    if (end <= m->rcv_nxt || start >= end)
        return; /* an old duplicate */
    if (start < m->rcv_nxt)
        start = m->rcv_nxt;
    size_t len = end - start, offset = start - m->rcv_nxt;
    fill_stream(seg, start, len);

    /* What the model expects: the stored part is cut at the window. */
    size_t win = b->cap - b->ready;
    size_t keep_end = offset >= win ? start : (len > win - offset ? m->rcv_nxt + win : end);
    uint8_t saved[2048];
    memcpy(saved, m->held + start, keep_end - start);
    memset(m->held + start, 1, keep_end - start);
    struct tcp_range scratch[1];
    size_t win_end = m->rcv_nxt + win < m->total ? m->rcv_nxt + win : m->total;
    unsigned runs = model_runs(m, m->rcv_nxt, win_end, scratch, 0);
    bool starts_in_order = m->held[m->rcv_nxt] == 1;
    bool refuse = runs - (starts_in_order ? 1 : 0) > TCP_RANGES_MAX;
    long want = 0;
    if (refuse) {
        memcpy(m->held + start, saved, keep_end - start);
        want = -1;
        m->refused++;
    } else if (starts_in_order) {
        const uint8_t *zero = memchr(m->held + m->rcv_nxt, 0, m->total - m->rcv_nxt);
        size_t next = zero == NULL ? m->total : (size_t)(zero - m->held);
        want = (long)(next - m->rcv_nxt);
    }

    long got = tcp_rcvbuf_write(b, offset, seg, len);
    assert_int_equal(got, want);
    if (got > 0)
        m->rcv_nxt += (size_t)got;
    assert_int_equal(b->ready <= b->cap, 1);
    assert_matches_model(b, m);
}

/* One seeded run: SHUF_SEGMENTS segments of 1..max_seg bytes. Returns how
 * many writes hit the range bound. */
static unsigned shuffle_run(uint64_t seed, uint32_t max_seg)
{
    struct rng g = {seed};
    size_t bounds[SHUF_SEGMENTS + 1];
    bounds[0] = 0;
    for (unsigned i = 1; i <= SHUF_SEGMENTS; i++)
        bounds[i] = bounds[i - 1] + rng_range(&g, 1, max_seg);
    struct model m = {.total = bounds[SHUF_SEGMENTS]};
    m.held = calloc(m.total + 1, 1);
    assert_non_null(m.held);
    uint8_t *got = malloc(m.total);
    assert_non_null(got);
    size_t read_pos = 0;

    struct tcp_rcvbuf b;
    assert_int_equal(tcp_rcvbuf_init(&b, SHUF_CAP), 0);
    unsigned order[SHUF_SEGMENTS];
    unsigned rounds = 0;
    while (read_pos < m.total) {
        /* The sender (re)sends every segment not yet acknowledged that
         * starts inside the window it was offered, in a shuffled order,
         * losing some and duplicating some. */
        size_t win_end = m.rcv_nxt + (b.cap - b.ready);
        unsigned n = 0;
        for (unsigned i = 0; i < SHUF_SEGMENTS; i++)
            if (bounds[i + 1] > m.rcv_nxt && bounds[i] < win_end)
                order[n++] = i;
        for (unsigned i = n; i > 1; i--) {
            unsigned j = rng_u32(&g) % i;
            unsigned t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (unsigned k = 0; k < n; k++) {
            unsigned i = order[k];
            if (rng_u32(&g) % 10 == 0)
                continue; /* lost */
            shuffle_deliver(&b, &m, bounds[i], bounds[i + 1]);
            if (rng_u32(&g) % 8 == 0) /* a duplicate, or an overlapping
                                         resegmented retransmission */
                shuffle_deliver(&b, &m, bounds[i] + rng_range(&g, 0, max_seg / 4),
                                bounds[i + 1] + rng_range(&g, 0, max_seg / 4));
            /* The reader drains now and then, a random amount. */
            if (rng_u32(&g) % 4 == 0) {
                size_t want = rng_range(&g, 0, 8000);
                if (want > m.total - read_pos)
                    want = m.total - read_pos;
                size_t r = tcp_rcvbuf_read(&b, got + read_pos, want);
                assert_true(r <= want);
                read_pos += r;
                assert_matches_model(&b, &m);
            }
        }
        size_t r = tcp_rcvbuf_read(&b, got + read_pos, rng_range(&g, 0, SHUF_CAP));
        read_pos += r;
        rounds++;
        assert_true(rounds < 100000);
    }
    print_message("seed %llx: %u rounds, %zu bytes, %u writes refused\n", (unsigned long long)seed,
                  rounds, m.total, m.refused);
    assert_int_equal(m.rcv_nxt, m.total);
    assert_int_equal(read_pos, m.total);
    assert_stream(got, 0, m.total);
    assert_false(tcp_rcvbuf_has_gaps(&b));
    assert_int_equal(b.ready, 0);
    tcp_rcvbuf_free(&b);
    free(got);
    free(m.held);
    return m.refused;
}

static void test_rcvbuf_shuffled_segments(void **state)
{
    (void)state;
    unsigned refused = 0;
    refused += shuffle_run(0xc0ffee1234ull, 700);
    refused += shuffle_run(0x0123456789ull, 1460);
    refused += shuffle_run(0xfeedfacecafeull, 200);
    refused += shuffle_run(0x77ull, 3);
    assert_true(refused > 0); /* the range bound was exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sndbuf_init_errors),
        cmocka_unit_test(test_sndbuf_fill_and_drain),
        cmocka_unit_test(test_sndbuf_wrap),
        cmocka_unit_test(test_sndbuf_random_model),
        cmocka_unit_test(test_rcvbuf_in_order),
        cmocka_unit_test(test_rcvbuf_read_to_ring_end),
        cmocka_unit_test(test_rcvbuf_out_of_order_wraps),
        cmocka_unit_test(test_rcvbuf_merge_neighbours),
        cmocka_unit_test(test_rcvbuf_duplicates_and_overlaps),
        cmocka_unit_test(test_rcvbuf_window_cut),
        cmocka_unit_test(test_rcvbuf_range_bound),
        cmocka_unit_test(test_rcvbuf_ranges_as_sequence_numbers),
        cmocka_unit_test(test_rcvbuf_shuffled_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
