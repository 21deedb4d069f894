/* TCP wire format: emit/parse round trips, header length limits, and the
 * parser's refusal of every malformed or truncated segment we can forge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/tcp_wire.h"

#define SRC_ADDR 0x0a000001u /* 10.0.0.1 */
#define DST_ADDR 0xc0a80102u /* 192.168.1.2 */
#define SEG_MAX 2048

/* ---- helpers ---- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
    /* xorshift64* */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(struct rng *g, uint32_t n)
{
    return (uint32_t)(rng_next(g) % n);
}

/* Recomputes the checksum of a segment of len bytes (len >= 18). */
static void fix_csum(uint8_t *seg, size_t len)
{
    be16_put(seg + 16, 0);
    uint32_t sum = csum_pseudo_ipv4(SRC_ADDR, DST_ADDR, IP_PROTO_TCP, (uint16_t)len);
    be16_put(seg + 16, csum_finish(csum_add(sum, seg, len)));
}

/* Parses a heap copy of exactly len bytes, so that the sanitizers catch any
 * read past the end. On success out->payload is mapped back into seg. */
static enum wire_err parse_exact(const uint8_t *seg, size_t len, struct tcp_repr *out)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, seg, len);
    struct tcp_repr r;
    enum wire_err err = tcp_parse_ipv4(copy, len, SRC_ADDR, DST_ADDR, &r);
    if (err == WIRE_OK) {
        assert_true(r.payload >= copy && r.payload <= copy + len);
        assert_int_equal(r.payload + r.payload_len - copy, len);
        r.payload = seg + (r.payload - copy);
        if (out != NULL)
            *out = r;
    }
    free(copy);
    return err;
}

static struct tcp_repr base_repr(void)
{
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = 40000;
    r.dst_port = 80;
    r.seq = 0x11223344;
    r.ack = 0xfedcba98;
    r.flags = TCP_ACK;
    r.window = 29200;
    return r;
}

static struct tcp_repr syn_all_options(void)
{
    struct tcp_repr r = base_repr();
    r.flags = TCP_SYN;
    r.ack = 0;
    r.window = 65535;
    r.has_mss = true;
    r.mss = 1460;
    r.sack_permitted = true;
    r.has_timestamps = true;
    r.ts_val = 0xdeadbeef;
    r.ts_ecr = 0;
    r.has_wscale = true;
    r.wscale = 7;
    return r;
}

static size_t emit(const struct tcp_repr *r, uint8_t *buf)
{
    size_t len = tcp_hdr_len(r) + r->payload_len;
    assert_true(len <= SEG_MAX);
    tcp_emit_ipv4(r, SRC_ADDR, DST_ADDR, buf);
    return len;
}

/* Everything the emitter sends must come back; SACK blocks beyond what fits
 * are expected to be dropped from the end. */
static void assert_same_repr(const struct tcp_repr *want, const struct tcp_repr *got)
{
    assert_int_equal(got->src_port, want->src_port);
    assert_int_equal(got->dst_port, want->dst_port);
    assert_int_equal(got->seq, want->seq);
    assert_int_equal(got->ack, want->ack);
    assert_int_equal(got->flags, want->flags);
    assert_int_equal(got->window, want->window);
    assert_int_equal(got->urgent, want->urgent);
    assert_int_equal(got->has_mss, want->has_mss);
    if (want->has_mss)
        assert_int_equal(got->mss, want->mss);
    assert_int_equal(got->has_wscale, want->has_wscale);
    if (want->has_wscale)
        assert_int_equal(got->wscale, want->wscale > 14 ? 14 : want->wscale);
    assert_int_equal(got->sack_permitted, want->sack_permitted);
    assert_int_equal(got->has_timestamps, want->has_timestamps);
    if (want->has_timestamps) {
        assert_int_equal(got->ts_val, want->ts_val);
        assert_int_equal(got->ts_ecr, want->ts_ecr);
    }
    unsigned n = tcp_sack_emit_count(want);
    assert_int_equal(got->sack_count, n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(got->sack[i].left, want->sack[i].left);
        assert_int_equal(got->sack[i].right, want->sack[i].right);
    }
    assert_int_equal(got->hdr_len, tcp_hdr_len(want));
    assert_int_equal(got->payload_len, want->payload_len);
    if (want->payload_len > 0)
        assert_memory_equal(got->payload, want->payload, want->payload_len);
}

static void roundtrip(const struct tcp_repr *r)
{
    uint8_t buf[SEG_MAX];
    size_t len = emit(r, buf);
    struct tcp_repr got;
    assert_int_equal(parse_exact(buf, len, &got), WIRE_OK);
    assert_ptr_equal(got.payload, buf + tcp_hdr_len(r));
    assert_same_repr(r, &got);
}

/* A raw segment with the given option bytes (a multiple of 4) and payload
 * of payload_len bytes, with a valid checksum. */
static size_t raw_segment(uint8_t *buf, const uint8_t *opts, size_t optlen, size_t payload_len)
{
    assert_int_equal(optlen % 4, 0);
    assert_true(optlen <= 40);
    memset(buf, 0, TCP_HDR_MIN);
    be16_put(buf, 1234);
    be16_put(buf + 2, 80);
    be32_put(buf + 4, 1000);
    be32_put(buf + 8, 2000);
    buf[12] = (uint8_t)((TCP_HDR_MIN + optlen) / 4 << 4);
    buf[13] = TCP_ACK;
    be16_put(buf + 14, 1024);
    if (optlen > 0)
        memcpy(buf + TCP_HDR_MIN, opts, optlen);
    for (size_t i = 0; i < payload_len; i++)
        buf[TCP_HDR_MIN + optlen + i] = (uint8_t)(i * 7 + 3);
    size_t len = TCP_HDR_MIN + optlen + payload_len;
    fix_csum(buf, len);
    return len;
}

static enum wire_err parse_opts(const uint8_t *opts, size_t optlen, struct tcp_repr *out)
{
    uint8_t buf[SEG_MAX];
    size_t len = raw_segment(buf, opts, optlen, 5);
    struct tcp_repr r;
    enum wire_err err = parse_exact(buf, len, &r);
    if (err == WIRE_OK && out != NULL) {
        r.payload = NULL; /* buf goes out of scope */
        *out = r;
    }
    return err;
}

/* ---- round trips ---- */

static void test_roundtrip_syn_all_options(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    assert_int_equal(tcp_hdr_len(&r), 40);
    roundtrip(&r);

    /* The exact bytes: MSS, SACK-permitted + timestamps, NOP + wscale. */
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    assert_int_equal(len, 40);
    static const uint8_t want_opts[20] = {
        2, 4, 0x05, 0xb4,                       /* MSS 1460 */
        4, 2, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, /* sackOK, TS */
        1, 3, 3, 7,                             /* NOP, wscale 7 */
    };
    assert_memory_equal(buf + 20, want_opts, sizeof(want_opts));
    assert_int_equal(buf[12], 10 << 4);
    assert_int_equal(buf[13], TCP_SYN);

    /* SYN-ACK with the same options and an ECN setup. */
    r.flags = TCP_SYN | TCP_ACK | TCP_ECE;
    r.ack = 0x01020304;
    r.ts_ecr = 0xdeadbeef;
    r.ts_val = 0x12345678;
    roundtrip(&r);
}

static void test_roundtrip_data_segments(void **state)
{
    (void)state;
    static uint8_t payload[1460];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31 + 17);
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 99, 536, 1459, 1460};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct tcp_repr r = base_repr();
        r.flags = TCP_ACK | TCP_PSH;
        r.payload = payload;
        r.payload_len = sizes[i];
        roundtrip(&r);
        r.has_timestamps = true;
        r.ts_val = 1000 + (uint32_t)i;
        r.ts_ecr = 999;
        roundtrip(&r);
        r.flags = TCP_ACK | TCP_FIN | TCP_URG;
        r.urgent = (uint16_t)sizes[i];
        roundtrip(&r);
    }

    /* Extreme field values. */
    struct tcp_repr r = base_repr();
    r.src_port = 0xffff;
    r.dst_port = 1;
    r.seq = 0xffffffff;
    r.ack = 0xffffffff;
    r.flags = 0xff;
    r.window = 0xffff;
    r.urgent = 0xffff;
    r.payload = payload;
    r.payload_len = 3;
    roundtrip(&r);
    r.seq = 0;
    r.ack = 0;
    r.flags = 0;
    r.window = 0;
    r.urgent = 0;
    roundtrip(&r);
}

static void test_roundtrip_sack_blocks(void **state)
{
    (void)state;
    static const uint8_t data[10] = "0123456789";
    for (unsigned n = 1; n <= 4; n++) {
        struct tcp_repr r = base_repr();
        r.payload = data;
        r.payload_len = sizeof(data);
        r.sack_count = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
            /* Blocks straddling the wrap too. */
            r.sack[i].left = 0xfffff000u + i * 0x1000u;
            r.sack[i].right = r.sack[i].left + 500;
        }
        assert_int_equal(tcp_sack_emit_count(&r), n);
        assert_int_equal(tcp_hdr_len(&r), 20 + 4 + 8 * n);
        roundtrip(&r);

        /* With timestamps (the common case) only three blocks fit. */
        r.has_timestamps = true;
        r.ts_val = 5;
        r.ts_ecr = 6;
        assert_int_equal(tcp_sack_emit_count(&r), n < 3 ? n : 3);
        assert_true(tcp_hdr_len(&r) <= TCP_HDR_MAX);
        roundtrip(&r);
    }

    /* The exact bytes of one block without timestamps. */
    struct tcp_repr r = base_repr();
    r.sack_count = 1;
    r.sack[0].left = 0x01020304;
    r.sack[0].right = 0x05060708;
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    static const uint8_t want[12] = {1, 1, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(len, 32);
    assert_memory_equal(buf + 20, want, sizeof(want));
}

static void test_roundtrip_all_option_combinations(void **state)
{
    (void)state;
    static const uint8_t data[3] = {0xaa, 0xbb, 0xcc};
    for (unsigned mask = 0; mask < 16; mask++) {
        for (unsigned n = 0; n <= 4; n++) {
            struct tcp_repr r = base_repr();
            r.has_mss = mask & 1;
            r.mss = 536;
            r.sack_permitted = (mask & 2) != 0;
            r.has_timestamps = (mask & 4) != 0;
            r.ts_val = 0x80000000u;
            r.ts_ecr = 0x7fffffffu;
            r.has_wscale = (mask & 8) != 0;
            r.wscale = 14;
            r.sack_count = (uint8_t)n;
            for (unsigned i = 0; i < n; i++) {
                r.sack[i].left = 100 * i;
                r.sack[i].right = 100 * i + 50;
            }
            r.payload = data;
            r.payload_len = mask % 4;

            size_t hl = tcp_hdr_len(&r);
            assert_true(hl >= TCP_HDR_MIN && hl <= TCP_HDR_MAX);
            assert_int_equal(hl % 4, 0);
            unsigned sent = tcp_sack_emit_count(&r);
            assert_true(sent <= n);
            /* At least two blocks always fit; fewer only when more don't. */
            assert_true(sent == n || sent >= 2);
            if (sent < n)
                assert_true(hl + 8 > TCP_HDR_MAX);
            roundtrip(&r);
        }
    }
}

static void test_hdr_len_limits(void **state)
{
    (void)state;
    struct tcp_repr r = base_repr();
    assert_int_equal(tcp_hdr_len(&r), 20);
    r.has_mss = true;
    assert_int_equal(tcp_hdr_len(&r), 24);
    r.sack_permitted = true;
    assert_int_equal(tcp_hdr_len(&r), 28);
    r.has_timestamps = true;
    assert_int_equal(tcp_hdr_len(&r), 36); /* sackOK shares the TS word */
    r.has_wscale = true;
    assert_int_equal(tcp_hdr_len(&r), 40);

    /* Everything plus four SACK blocks: two blocks fit, header is full. */
    r.sack_count = 4;
    for (unsigned i = 0; i < 4; i++) {
        r.sack[i].left = i;
        r.sack[i].right = i + 1;
    }
    assert_int_equal(tcp_sack_emit_count(&r), 2);
    assert_int_equal(tcp_hdr_len(&r), 60);
    roundtrip(&r);

    /* Only SACK: all four blocks. */
    struct tcp_repr s = base_repr();
    s.sack_count = 4;
    assert_int_equal(tcp_sack_emit_count(&s), 4);
    assert_int_equal(tcp_hdr_len(&s), 56);

    /* A count past the array is treated as the array. */
    s.sack_count = 200;
    assert_int_equal(tcp_sack_emit_count(&s), 4);
    assert_int_equal(tcp_hdr_len(&s), 56);

    /* TS + wscale + four blocks: two fit; TS alone leaves room for three. */
    s.sack_count = 4;
    s.has_timestamps = true;
    s.has_wscale = true;
    assert_int_equal(tcp_sack_emit_count(&s), 2);
    s.has_wscale = false;
    assert_int_equal(tcp_sack_emit_count(&s), 3);
    assert_int_equal(tcp_hdr_len(&s), 60);
    roundtrip(&s);
}

static void test_emit_payload_overlap(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    r.flags = TCP_ACK | TCP_PSH;
    size_t hl = tcp_hdr_len(&r);
    static const char text[] = "payload already in place";
    size_t plen = sizeof(text) - 1;

    /* Payload already where it belongs: the zero-copy case. */
    uint8_t buf[SEG_MAX];
    memcpy(buf + hl, text, plen);
    r.payload = buf + hl;
    r.payload_len = plen;
    tcp_emit_ipv4(&r, SRC_ADDR, DST_ADDR, buf);
    struct tcp_repr got;
    assert_int_equal(parse_exact(buf, hl + plen, &got), WIRE_OK);
    assert_int_equal(got.payload_len, plen);
    assert_memory_equal(got.payload, text, plen);

    /* Payload at the start of the buffer, where the header goes. */
    memset(buf, 0, sizeof(buf));
    memcpy(buf, text, plen);
    r.payload = buf;
    tcp_emit_ipv4(&r, SRC_ADDR, DST_ADDR, buf);
    assert_int_equal(parse_exact(buf, hl + plen, &got), WIRE_OK);
    assert_memory_equal(got.payload, text, plen);

    /* A long payload a few bytes in, overlapping its own destination: it
     * must arrive intact (memmove, not memcpy). */
    static uint8_t want[300];
    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)(i * 13 + 1);
    for (size_t at = 0; at <= hl * 2; at += 4) {
        memset(buf, 0, sizeof(buf));
        memcpy(buf + at, want, sizeof(want));
        r.payload = buf + at;
        r.payload_len = sizeof(want);
        tcp_emit_ipv4(&r, SRC_ADDR, DST_ADDR, buf);
        assert_int_equal(parse_exact(buf, hl + sizeof(want), &got), WIRE_OK);
        assert_memory_equal(got.payload, want, sizeof(want));
    }
}

static void test_emit_header_only(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    r.sack_count = 1;
    r.sack[0].left = 7;
    r.sack[0].right = 9;
    uint8_t full[SEG_MAX], hdr[SEG_MAX];
    memset(hdr, 0x5a, sizeof(hdr));
    size_t len = emit(&r, full);
    size_t hl = tcp_hdr_len(&r);
    assert_int_equal(len, hl);
    tcp_emit_header_ipv4(&r, hdr);
    assert_int_equal(be16_get(hdr + 16), 0);
    assert_memory_equal(hdr, full, 16);
    assert_memory_equal(hdr + 18, full + 18, hl - 18);
    assert_int_equal(hdr[hl], 0x5a); /* nothing written past the header */
    fix_csum(hdr, hl);
    assert_memory_equal(hdr, full, hl);
}

/* ---- length and data offset ---- */

static void test_truncation_every_length(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    r.flags = TCP_ACK | TCP_PSH;
    r.sack_count = 2;
    r.sack[0].left = 1;
    r.sack[0].right = 2;
    r.sack[1].left = 3;
    r.sack[1].right = 4;
    static const uint8_t data[37] = "thirty-seven bytes of segment payload";
    r.payload = data;
    r.payload_len = sizeof(data);
    uint8_t buf[SEG_MAX];
    size_t full = emit(&r, buf);
    size_t hl = tcp_hdr_len(&r);
    assert_int_equal(hl, 60);
    assert_int_equal(parse_exact(buf, full, NULL), WIRE_OK);

    for (size_t len = 0; len < full; len++) {
        enum wire_err err = parse_exact(buf, len, NULL);
        if (len < hl)
            assert_int_equal(err, WIRE_TRUNCATED);
        else
            assert_int_equal(err, WIRE_BAD_CHECKSUM);
    }

    /* With the checksum repaired for each length, only lengths that cut the
     * header fail; shorter payloads are fine. */
    for (size_t len = 18; len < full; len++) {
        uint8_t cut[SEG_MAX];
        memcpy(cut, buf, len);
        fix_csum(cut, len);
        struct tcp_repr got;
        enum wire_err err = parse_exact(cut, len, &got);
        if (len < hl) {
            assert_int_equal(err, WIRE_TRUNCATED);
        } else {
            assert_int_equal(err, WIRE_OK);
            assert_int_equal(got.payload_len, len - hl);
            assert_int_equal(got.sack_count, 2);
        }
    }
}

static void test_data_offset_below_five(void **state)
{
    (void)state;
    uint8_t buf[SEG_MAX];
    for (size_t plen = 0; plen <= 40; plen += 40) {
        size_t len = raw_segment(buf, NULL, 0, plen);
        for (uint8_t off = 0; off < 5; off++) {
            /* The reserved low bits must not change the verdict. */
            buf[12] = (uint8_t)(off << 4 | (off & 0x0f));
            fix_csum(buf, len);
            assert_int_equal(parse_exact(buf, len, NULL), WIRE_BAD_HDR_LEN);
        }
    }
}

static void test_data_offset_beyond_segment(void **state)
{
    (void)state;
    uint8_t buf[SEG_MAX];
    /* A bare 20-byte header claiming options. */
    size_t len = raw_segment(buf, NULL, 0, 0);
    for (unsigned off = 6; off <= 15; off++) {
        buf[12] = (uint8_t)(off << 4);
        fix_csum(buf, len);
        assert_int_equal(parse_exact(buf, len, NULL), WIRE_TRUNCATED);
    }
    /* 20 + 11 bytes: offsets 8..15 overrun, 5..7 do not. */
    len = raw_segment(buf, NULL, 0, 11);
    for (unsigned off = 5; off <= 15; off++) {
        memset(buf + 20, TCP_OPT_NOP, 11);
        buf[12] = (uint8_t)(off << 4);
        fix_csum(buf, len);
        struct tcp_repr got;
        enum wire_err err = parse_exact(buf, len, &got);
        if (off * 4 > len) {
            assert_int_equal(err, WIRE_TRUNCATED);
        } else {
            assert_int_equal(err, WIRE_OK);
            assert_int_equal(got.hdr_len, off * 4);
            assert_int_equal(got.payload_len, len - off * 4);
        }
    }
}

static void test_oversized_segment(void **state)
{
    (void)state;
    /* 65536 bytes cannot be described by the pseudo-header. */
    size_t len = 65536;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    raw_segment(buf, NULL, 0, 0);
    struct tcp_repr r;
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR, DST_ADDR, &r), WIRE_BAD_TOTAL_LEN);
    /* The largest describable segment is fine. */
    fix_csum(buf, 65535);
    assert_int_equal(tcp_parse_ipv4(buf, 65535, SRC_ADDR, DST_ADDR, &r), WIRE_OK);
    assert_int_equal(r.payload_len, 65535 - 20);
    free(buf);
}

/* ---- checksum ---- */

static void test_checksum_every_byte_flip(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    r.flags = TCP_ACK;
    static const uint8_t data[33] = "an odd-length payload of 33 bytes";
    r.payload = data;
    r.payload_len = sizeof(data);
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_OK);

    for (size_t i = 0; i < len; i++) {
        uint8_t saved = buf[i];
        buf[i] ^= 0xff;
        enum wire_err err = parse_exact(buf, len, NULL);
        /* Byte 12 holds the data offset: 0xa0 becomes 0x5f (offset 5). */
        assert_int_equal(err, WIRE_BAD_CHECKSUM);
        for (unsigned bit = 0; bit < 8; bit++) {
            buf[i] = (uint8_t)(saved ^ (1u << bit));
            err = parse_exact(buf, len, NULL);
            assert_int_not_equal(err, WIRE_OK);
            if (i != 12)
                assert_int_equal(err, WIRE_BAD_CHECKSUM);
        }
        buf[i] = saved;
    }
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_OK);
}

static void test_checksum_pseudo_header(void **state)
{
    (void)state;
    struct tcp_repr r = base_repr();
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    struct tcp_repr got;
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR, DST_ADDR, &got), WIRE_OK);
    /* The pseudo-header sum is symmetric in its addresses, so swapping them
     * goes unnoticed; any other change is caught. */
    assert_int_equal(tcp_parse_ipv4(buf, len, DST_ADDR, SRC_ADDR, &got), WIRE_OK);
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR + 1, DST_ADDR, &got), WIRE_BAD_CHECKSUM);
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR, DST_ADDR ^ 0x100, &got),
                     WIRE_BAD_CHECKSUM);
    assert_int_equal(tcp_parse_ipv4(buf, len, 0, 0, &got), WIRE_BAD_CHECKSUM);

    /* A zero checksum field is not "no checksum" in TCP. */
    be16_put(buf + 16, 0);
    if (csum_finish(csum_add(csum_pseudo_ipv4(SRC_ADDR, DST_ADDR, IP_PROTO_TCP,
                                              (uint16_t)len), buf, len)) != 0)
        assert_int_equal(parse_exact(buf, len, NULL), WIRE_BAD_CHECKSUM);
}

/* ---- fields the parser must reject or leave alone ---- */

static void test_zero_ports(void **state)
{
    (void)state;
    struct tcp_repr r = base_repr();
    uint8_t buf[SEG_MAX];
    r.src_port = 0;
    size_t len = emit(&r, buf);
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_BAD_FIELD);
    r.src_port = 1;
    r.dst_port = 0;
    len = emit(&r, buf);
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_BAD_FIELD);
    r.dst_port = 1;
    len = emit(&r, buf);
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_OK);
}

static void test_every_flag_combination_accepted(void **state)
{
    (void)state;
    /* SYN+FIN, SYN+RST, all flags... are protocol logic's to judge. */
    for (unsigned flags = 0; flags < 256; flags++) {
        struct tcp_repr r = base_repr();
        r.flags = (uint8_t)flags;
        r.urgent = (uint16_t)(flags * 257);
        roundtrip(&r);
    }
}

static void test_reserved_bits_ignored(void **state)
{
    (void)state;
    uint8_t buf[SEG_MAX];
    size_t len = raw_segment(buf, NULL, 0, 3);
    buf[12] |= 0x0f;
    fix_csum(buf, len);
    struct tcp_repr got;
    assert_int_equal(parse_exact(buf, len, &got), WIRE_OK);
    assert_int_equal(got.hdr_len, 20);
    assert_int_equal(got.flags, TCP_ACK);
}

static void test_error_leaves_output_untouched(void **state)
{
    (void)state;
    struct tcp_repr r = base_repr();
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    buf[5] ^= 1;
    struct tcp_repr out;
    memset(&out, 0xa5, sizeof(out));
    struct tcp_repr before = out;
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR, DST_ADDR, &out), WIRE_BAD_CHECKSUM);
    assert_memory_equal(&out, &before, sizeof(out));
    static const uint8_t bad_opt[4] = {TCP_OPT_MSS, 3, 0, 0};
    len = raw_segment(buf, bad_opt, sizeof(bad_opt), 0);
    assert_int_equal(tcp_parse_ipv4(buf, len, SRC_ADDR, DST_ADDR, &out), WIRE_BAD_OPTION);
    assert_memory_equal(&out, &before, sizeof(out));
}

/* ---- options ---- */

static void test_option_length_zero_and_one(void **state)
{
    (void)state;
    static const uint8_t kinds[] = {TCP_OPT_MSS, TCP_OPT_WSCALE, TCP_OPT_SACK_PERM,
                                    TCP_OPT_SACK, TCP_OPT_TIMESTAMP, 6, 19, 29, 30,
                                    34, 253, 254, 255};
    for (size_t k = 0; k < sizeof(kinds); k++) {
        for (uint8_t olen = 0; olen < 2; olen++) {
            /* At the start, and after a valid option. */
            uint8_t opts[8] = {kinds[k], olen, 0, 0, TCP_OPT_EOL, 0, 0, 0};
            assert_int_equal(parse_opts(opts, 4, NULL), WIRE_BAD_OPTION);
            uint8_t later[8] = {TCP_OPT_MSS, 4, 1, 0, kinds[k], olen, 0, 0};
            assert_int_equal(parse_opts(later, 8, NULL), WIRE_BAD_OPTION);
        }
    }
}

static void test_option_overrun(void **state)
{
    (void)state;
    /* An unknown option whose length passes the header. */
    static const uint8_t unknown[4] = {99, 5, 0, 0};
    assert_int_equal(parse_opts(unknown, 4, NULL), WIRE_BAD_OPTION);
    static const uint8_t unknown_far[8] = {1, 1, 99, 255, 0, 0, 0, 0};
    assert_int_equal(parse_opts(unknown_far, 8, NULL), WIRE_BAD_OPTION);
    /* A well-formed MSS that starts too late to fit. */
    static const uint8_t mss_late[4] = {1, 1, TCP_OPT_MSS, 4};
    assert_int_equal(parse_opts(mss_late, 4, NULL), WIRE_BAD_OPTION);
    /* Timestamps that need 10 bytes in an 8-byte option area. */
    static const uint8_t ts_short[8] = {TCP_OPT_TIMESTAMP, 10, 0, 0, 0, 0, 0, 0};
    assert_int_equal(parse_opts(ts_short, 8, NULL), WIRE_BAD_OPTION);
    /* A kind byte as the last header byte, with no room for its length. */
    static const uint8_t kinds[] = {TCP_OPT_MSS, TCP_OPT_WSCALE, TCP_OPT_SACK_PERM,
                                    TCP_OPT_SACK, TCP_OPT_TIMESTAMP, 99};
    for (size_t k = 0; k < sizeof(kinds); k++) {
        uint8_t last[4] = {1, 1, 1, kinds[k]};
        assert_int_equal(parse_opts(last, 4, NULL), WIRE_BAD_OPTION);
    }
    /* Exactly filling the option area is fine. */
    static const uint8_t exact[4] = {99, 4, 0, 0};
    assert_int_equal(parse_opts(exact, 4, NULL), WIRE_OK);
    uint8_t big[40];
    memset(big, 0, sizeof(big));
    big[0] = 99;
    big[1] = 40;
    assert_int_equal(parse_opts(big, 40, NULL), WIRE_OK);
    big[1] = 41;
    assert_int_equal(parse_opts(big, 40, NULL), WIRE_BAD_OPTION);
    /* The payload never counts as option space. */
    uint8_t buf[SEG_MAX];
    size_t len = raw_segment(buf, unknown, 4, 20);
    assert_int_equal(parse_exact(buf, len, NULL), WIRE_BAD_OPTION);
}

static void test_wrong_known_option_lengths(void **state)
{
    (void)state;
    struct {
        uint8_t kind;
        uint8_t good;
    } known[] = {
        {TCP_OPT_MSS, 4},
        {TCP_OPT_WSCALE, 3},
        {TCP_OPT_SACK_PERM, 2},
        {TCP_OPT_TIMESTAMP, 10},
    };
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        for (uint8_t olen = 2; olen <= 40; olen++) {
            uint8_t opts[40];
            memset(opts, 0, sizeof(opts));
            opts[0] = known[k].kind;
            opts[1] = olen;
            struct tcp_repr got;
            enum wire_err err = parse_opts(opts, 40, &got);
            if (olen == known[k].good)
                assert_int_equal(err, WIRE_OK);
            else
                assert_int_equal(err, WIRE_BAD_OPTION);
        }
    }
    /* SACK: 2 + 8n with n in 1..4. */
    for (uint8_t olen = 2; olen <= 40; olen++) {
        uint8_t opts[40];
        memset(opts, 0, sizeof(opts));
        opts[0] = TCP_OPT_SACK;
        opts[1] = olen;
        struct tcp_repr got;
        enum wire_err err = parse_opts(opts, 40, &got);
        if (olen >= 10 && (olen - 2) % 8 == 0) {
            assert_int_equal(err, WIRE_OK);
            assert_int_equal(got.sack_count, (olen - 2) / 8);
        } else {
            assert_int_equal(err, WIRE_BAD_OPTION);
        }
    }
}

static void test_options_parsed_values(void **state)
{
    (void)state;
    /* A Linux-style SYN option block, laid out by hand. */
    static const uint8_t opts[20] = {
        2, 4, 0x23, 0x28,                   /* MSS 9000 */
        4, 2,                               /* sackOK */
        8, 10, 0, 0, 0, 1, 0x80, 0, 0, 0,   /* TS 1, 0x80000000 */
        1, 3, 3, 9,                         /* NOP, wscale 9 */
    };
    struct tcp_repr got;
    assert_int_equal(parse_opts(opts, sizeof(opts), &got), WIRE_OK);
    assert_true(got.has_mss);
    assert_int_equal(got.mss, 9000);
    assert_true(got.sack_permitted);
    assert_true(got.has_timestamps);
    assert_int_equal(got.ts_val, 1);
    assert_int_equal(got.ts_ecr, 0x80000000u);
    assert_true(got.has_wscale);
    assert_int_equal(got.wscale, 9);
    assert_int_equal(got.sack_count, 0);
    assert_int_equal(got.hdr_len, 40);
    assert_int_equal(got.payload_len, 5);

    /* SACK blocks, unaligned and without NOPs. */
    static const uint8_t sack[20] = {
        5, 18, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
    };
    assert_int_equal(parse_opts(sack, sizeof(sack), &got), WIRE_OK);
    assert_int_equal(got.sack_count, 2);
    assert_int_equal(got.sack[0].left, 0xfffffff0u);
    assert_int_equal(got.sack[0].right, 0x10);
    assert_int_equal(got.sack[1].left, 0x100);
    assert_int_equal(got.sack[1].right, 0x200);
    assert_false(got.has_mss || got.has_wscale || got.sack_permitted || got.has_timestamps);
}

static void test_unknown_options_skipped(void **state)
{
    (void)state;
    /* Fast Open cookie (34), MPTCP (30), experimental (254), then MSS. */
    static const uint8_t opts[24] = {
        34, 10, 1, 2, 3, 4, 5, 6, 7, 8,
        30, 4, 0xff, 0xff,
        254, 6, 0xf9, 0x89, 0, 0,
        2, 4, 0x05, 0x78,
    };
    struct tcp_repr got;
    assert_int_equal(parse_opts(opts, sizeof(opts), &got), WIRE_OK);
    assert_true(got.has_mss);
    assert_int_equal(got.mss, 1400);
    /* An unknown option of the minimum length 2. */
    static const uint8_t two[4] = {200, 2, 1, 0};
    assert_int_equal(parse_opts(two, sizeof(two), NULL), WIRE_OK);
    /* Skipping lands on a window scale that overruns: still checked. */
    static const uint8_t then_bad[4] = {200, 2, TCP_OPT_WSCALE, 3};
    assert_int_equal(parse_opts(then_bad, sizeof(then_bad), NULL), WIRE_BAD_OPTION);
}

static void test_eol_and_nop(void **state)
{
    (void)state;
    /* Whatever follows EOL is padding, even bytes that would be invalid. */
    static const uint8_t eol_first[8] = {TCP_OPT_EOL, TCP_OPT_MSS, 0, 0xff, 99, 1, 7, 7};
    struct tcp_repr got;
    assert_int_equal(parse_opts(eol_first, sizeof(eol_first), &got), WIRE_OK);
    assert_false(got.has_mss);
    static const uint8_t mss_then_eol[8] = {2, 4, 1, 0, 0, 2, 4, 9};
    assert_int_equal(parse_opts(mss_then_eol, sizeof(mss_then_eol), &got), WIRE_OK);
    assert_true(got.has_mss);
    assert_int_equal(got.mss, 256);
    /* A header full of NOPs. */
    uint8_t nops[40];
    memset(nops, TCP_OPT_NOP, sizeof(nops));
    assert_int_equal(parse_opts(nops, sizeof(nops), &got), WIRE_OK);
    assert_int_equal(got.hdr_len, 60);
    assert_false(got.has_mss || got.has_wscale || got.sack_permitted || got.has_timestamps);
    /* NOPs in odd places between options. */
    static const uint8_t odd[12] = {1, 3, 3, 2, 1, 1, 1, 4, 2, 1, 0, 0};
    assert_int_equal(parse_opts(odd, sizeof(odd), &got), WIRE_OK);
    assert_true(got.has_wscale);
    assert_int_equal(got.wscale, 2);
    assert_true(got.sack_permitted);
}

static void test_duplicate_option_last_wins(void **state)
{
    (void)state;
    static const uint8_t opts[8] = {2, 4, 0, 100, 2, 4, 0, 200};
    struct tcp_repr got;
    assert_int_equal(parse_opts(opts, sizeof(opts), &got), WIRE_OK);
    assert_int_equal(got.mss, 200);
}

static void test_wscale_clamped(void **state)
{
    (void)state;
    for (unsigned ws = 0; ws < 256; ws++) {
        uint8_t opts[4] = {TCP_OPT_NOP, TCP_OPT_WSCALE, 3, (uint8_t)ws};
        struct tcp_repr got;
        assert_int_equal(parse_opts(opts, sizeof(opts), &got), WIRE_OK);
        assert_true(got.has_wscale);
        assert_int_equal(got.wscale, ws > 14 ? 14 : ws);
    }
    /* The emitter sends what it is given; the parser clamps it. */
    struct tcp_repr r = syn_all_options();
    r.wscale = 15;
    uint8_t buf[SEG_MAX];
    size_t len = emit(&r, buf);
    assert_int_equal(buf[39], 15);
    struct tcp_repr got;
    assert_int_equal(parse_exact(buf, len, &got), WIRE_OK);
    assert_int_equal(got.wscale, 14);
}

/* ---- text form ---- */

static void test_fmt(void **state)
{
    (void)state;
    struct tcp_repr r = syn_all_options();
    r.flags = TCP_SYN | TCP_ACK;
    r.seq = 1000;
    r.ack = 2001;
    r.ts_val = 7;
    r.ts_ecr = 3;
    char line[256];
    int n = tcp_fmt(&r, line, sizeof(line));
    assert_string_equal(line, "40000 > 80 [SA] seq=1000 ack=2001 win=65535 len=0 "
                              "<mss 1460,sackOK,ts 7:3,ws 7>");
    assert_int_equal(n, strlen(line));

    struct tcp_repr d = base_repr();
    d.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_URG;
    d.seq = 5;
    d.ack = 6;
    d.window = 100;
    d.urgent = 3;
    d.payload_len = 12;
    d.sack_count = 2;
    d.sack[0].left = 10;
    d.sack[0].right = 20;
    d.sack[1].left = 30;
    d.sack[1].right = 40;
    n = tcp_fmt(&d, line, sizeof(line));
    assert_string_equal(line, "40000 > 80 [FPAU] seq=5 ack=6 win=100 len=12 urg=3 "
                              "<sack 10-20 30-40>");
    assert_int_equal(n, strlen(line));

    struct tcp_repr z = base_repr();
    z.flags = 0;
    z.seq = 0;
    tcp_fmt(&z, line, sizeof(line));
    assert_string_equal(line, "40000 > 80 [-] seq=0 win=29200 len=0");
    z.flags = 0xff;
    tcp_fmt(&z, line, sizeof(line));
    assert_non_null(strstr(line, "[FSRPAUEC]"));

    /* Cut to fit, always terminated, and the full length reported. */
    int full = tcp_fmt(&r, line, sizeof(line));
    for (size_t cap = 1; cap < (size_t)full + 2; cap++) {
        char small[256];
        memset(small, 'x', sizeof(small));
        int m = tcp_fmt(&r, small, cap);
        assert_int_equal(m, full);
        size_t want = cap - 1 < (size_t)full ? cap - 1 : (size_t)full;
        assert_int_equal(strlen(small), want);
        assert_memory_equal(small, line, want);
        assert_int_equal(small[cap], 'x');
    }
    assert_int_equal(tcp_fmt(&r, NULL, 0), full);
}

/* ---- robustness ---- */

static void check_parsed_invariants(const uint8_t *buf, size_t len, const struct tcp_repr *r)
{
    assert_true(r->hdr_len >= TCP_HDR_MIN && r->hdr_len <= TCP_HDR_MAX);
    assert_int_equal(r->hdr_len % 4, 0);
    assert_true(r->hdr_len <= len);
    assert_ptr_equal(r->payload, buf + r->hdr_len);
    assert_int_equal(r->payload_len, len - r->hdr_len);
    assert_true(r->wscale <= TCP_WSCALE_MAX);
    assert_true(r->sack_count <= TCP_SACK_MAX_BLOCKS);
    assert_true(r->src_port != 0 && r->dst_port != 0);

    /* Whatever parses re-emits to something that parses the same. */
    uint8_t again[SEG_MAX];
    size_t len2 = emit(r, again);
    struct tcp_repr r2;
    assert_int_equal(parse_exact(again, len2, &r2), WIRE_OK);
    assert_same_repr(r, &r2);
}

static void test_random_garbage(void **state)
{
    (void)state;
    struct rng g = {0x9e3779b97f4a7c15ull};
    unsigned ok = 0;
    uint8_t buf[SEG_MAX];
    for (unsigned iter = 0; iter < 100000; iter++) {
        size_t len = rng_below(&g, 120);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng_next(&g);
        struct tcp_repr r;
        if (parse_exact(buf, len, &r) == WIRE_OK) {
            ok++;
            check_parsed_invariants(buf, len, &r);
        }
    }
    /* Random bytes almost never carry a valid checksum. */
    assert_true(ok < 100);
}

static void test_random_options(void **state)
{
    (void)state;
    /* Garbage with a plausible header and a repaired checksum, so that the
     * option walker sees it; biased towards option kinds we know. */
    static const uint8_t kinds[] = {0, 1, 2, 3, 4, 5, 8, 30, 34, 254};
    struct rng g = {12345};
    unsigned ok = 0;
    uint8_t buf[SEG_MAX];
    for (unsigned iter = 0; iter < 100000; iter++) {
        size_t len = TCP_HDR_MIN + rng_below(&g, 60);
        for (size_t i = 0; i < len; i++) {
            uint32_t pick = rng_below(&g, 4);
            if (pick == 0)
                buf[i] = kinds[rng_below(&g, sizeof(kinds))];
            else if (pick == 1)
                buf[i] = (uint8_t)rng_below(&g, 12);
            else
                buf[i] = (uint8_t)rng_next(&g);
        }
        be16_put(buf, (uint16_t)(1 + rng_below(&g, 0xffff)));
        be16_put(buf + 2, (uint16_t)(1 + rng_below(&g, 0xffff)));
        if (rng_below(&g, 8) != 0) { /* mostly a data offset that fits */
            uint32_t max_off = len / 4 < 15 ? (uint32_t)(len / 4) : 15;
            uint32_t off = 5 + rng_below(&g, max_off - 4);
            buf[12] = (uint8_t)(off << 4 | (buf[12] & 0x0fu));
        }
        fix_csum(buf, len);
        struct tcp_repr r;
        enum wire_err err = parse_exact(buf, len, &r);
        if (err == WIRE_OK) {
            ok++;
            check_parsed_invariants(buf, len, &r);
        } else {
            assert_true(err == WIRE_BAD_OPTION || err == WIRE_BAD_HDR_LEN ||
                        err == WIRE_TRUNCATED);
        }
    }
    /* Both outcomes must be well represented for this to test anything. */
    assert_true(ok > 10000);
    assert_true(ok < 90000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_syn_all_options),
        cmocka_unit_test(test_roundtrip_data_segments),
        cmocka_unit_test(test_roundtrip_sack_blocks),
        cmocka_unit_test(test_roundtrip_all_option_combinations),
        cmocka_unit_test(test_hdr_len_limits),
        cmocka_unit_test(test_emit_payload_overlap),
        cmocka_unit_test(test_emit_header_only),
        cmocka_unit_test(test_truncation_every_length),
        cmocka_unit_test(test_data_offset_below_five),
        cmocka_unit_test(test_data_offset_beyond_segment),
        cmocka_unit_test(test_oversized_segment),
        cmocka_unit_test(test_checksum_every_byte_flip),
        cmocka_unit_test(test_checksum_pseudo_header),
        cmocka_unit_test(test_zero_ports),
        cmocka_unit_test(test_every_flag_combination_accepted),
        cmocka_unit_test(test_reserved_bits_ignored),
        cmocka_unit_test(test_error_leaves_output_untouched),
        cmocka_unit_test(test_option_length_zero_and_one),
        cmocka_unit_test(test_option_overrun),
        cmocka_unit_test(test_wrong_known_option_lengths),
        cmocka_unit_test(test_options_parsed_values),
        cmocka_unit_test(test_unknown_options_skipped),
        cmocka_unit_test(test_eol_and_nop),
        cmocka_unit_test(test_duplicate_option_last_wins),
        cmocka_unit_test(test_wscale_clamped),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_random_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
