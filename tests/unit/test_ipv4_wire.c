/* Unit tests for the IPv4 header (RFC 791): round trips, every truncated
 * length, each field that the parser validates set wrong one at a time,
 * the option list walk, fragment bounds, and the address text forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

#define SRC 0xc0a80001u /* 192.168.0.1 */
#define DST 0xc0a800c7u /* 192.168.0.199 */

/* The router-alert option padded out with NOPs and an end-of-list: 8 bytes. */
static const uint8_t OPTS8[] = {0x01, 0x01, 0x94, 0x04, 0x00, 0x00, 0x00, 0x00};

static void fix_checksum(uint8_t *buf)
{
    size_t hl = (size_t)(buf[0] & 0x0f) * 4;
    be16_put(buf + 10, 0);
    be16_put(buf + 10, csum_finish(csum_add(0, buf, hl)));
}

/* Writes a valid datagram: a header of 20 + optlen bytes, then payload_len
 * bytes of payload. Returns the total length. */
static size_t build(uint8_t *buf, const uint8_t *opts, size_t optlen, size_t payload_len)
{
    size_t hl = IPV4_HDR_MIN + optlen;
    size_t total = hl + payload_len;
    buf[0] = (uint8_t)(0x40 | hl / 4);
    buf[1] = 0x10;
    be16_put(buf + 2, (uint16_t)total);
    be16_put(buf + 4, 0x1c46);
    be16_put(buf + 6, IPV4_FLAG_DF);
    buf[8] = 64;
    buf[9] = IP_PROTO_UDP;
    be32_put(buf + 12, SRC);
    be32_put(buf + 16, DST);
    if (optlen > 0)
        memcpy(buf + IPV4_HDR_MIN, opts, optlen);
    for (size_t i = hl; i < total; i++)
        buf[i] = (uint8_t)(i * 7);
    fix_checksum(buf);
    return total;
}

/* Parses a heap copy of exactly len bytes so that ASan sees any over-read. */
static enum wire_err parse_exact(const uint8_t *buf, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    struct ipv4_repr r;
    enum wire_err e = ipv4_parse(copy, len, &r);
    free(copy);
    return e;
}

/* ---- round trips ---- */

static const uint8_t KNOWN[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                  0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

static void test_parse_known(void **state)
{
    uint8_t buf[0x73] = {0};
    memcpy(buf, KNOWN, sizeof KNOWN);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(buf, sizeof buf, &r), WIRE_OK);
    assert_int_equal(r.hdr_len, 20);
    assert_int_equal(r.tos, 0);
    assert_int_equal(r.total_len, 0x73);
    assert_int_equal(r.id, 0);
    assert_true(r.dont_fragment);
    assert_false(r.more_fragments);
    assert_int_equal(r.frag_offset, 0);
    assert_int_equal(r.ttl, 64);
    assert_int_equal(r.proto, IP_PROTO_UDP);
    assert_int_equal(r.src, SRC);
    assert_int_equal(r.dst, DST);
    assert_null(r.options);
    assert_int_equal(r.options_len, 0);
}

static void test_emit_known(void **state)
{
    struct ipv4_repr r = {.hdr_len = 20, .total_len = 0x73, .dont_fragment = true, .ttl = 64,
                          .proto = IP_PROTO_UDP, .src = SRC, .dst = DST};
    uint8_t buf[24];
    memset(buf, 0xbb, sizeof buf);
    ipv4_emit(&r, buf);
    assert_memory_equal(buf, KNOWN, sizeof KNOWN);
    for (size_t i = IPV4_HDR_MIN; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xbb);
}

static void test_round_trip(void **state)
{
    static const struct ipv4_repr cases[] = {
        {.tos = 0, .total_len = 20, .id = 1, .ttl = 1, .proto = IP_PROTO_ICMP,
         .src = 0x0a000001, .dst = 0x0a000002},
        {.tos = 0xb8, .total_len = 1500, .id = 0xffff, .dont_fragment = true, .ttl = 255,
         .proto = IP_PROTO_TCP, .src = 0, .dst = 0xffffffffu},
        {.total_len = 576, .id = 0x1234, .more_fragments = true, .frag_offset = 1480, .ttl = 64,
         .proto = IP_PROTO_UDP, .src = 0xdfffffffu, .dst = 0xe0000001u},
        {.total_len = 100, .id = 7, .frag_offset = 2960, .ttl = 3, .proto = 0xff,
         .src = 0x7f000001, .dst = 0x7f000001},
        {.total_len = 28, .dont_fragment = true, .more_fragments = true, .frag_offset = 8,
         .ttl = 0, .proto = 0, .src = 0x01020304, .dst = 0x05060708},
        {.total_len = 20, .more_fragments = true, .frag_offset = 65512, .proto = 17,
         .src = 0x0a000001, .dst = 0x0a000002},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ipv4_repr *c = &cases[i];
        uint8_t *buf = calloc(1, c->total_len);
        assert_non_null(buf);
        ipv4_emit(c, buf);
        assert_int_equal(csum_finish(csum_add(0, buf, IPV4_HDR_MIN)), 0);
        struct ipv4_repr r;
        assert_int_equal(ipv4_parse(buf, c->total_len, &r), WIRE_OK);
        assert_int_equal(r.hdr_len, 20);
        assert_int_equal(r.tos, c->tos);
        assert_int_equal(r.total_len, c->total_len);
        assert_int_equal(r.id, c->id);
        assert_int_equal(r.dont_fragment, c->dont_fragment);
        assert_int_equal(r.more_fragments, c->more_fragments);
        assert_int_equal(r.frag_offset, c->frag_offset);
        assert_int_equal(r.ttl, c->ttl);
        assert_int_equal(r.proto, c->proto);
        assert_int_equal(r.src, c->src);
        assert_int_equal(r.dst, c->dst);
        assert_null(r.options);
        assert_int_equal(r.options_len, 0);
        /* Parse then emit gives back the same header bytes. */
        uint8_t again[IPV4_HDR_MIN];
        ipv4_emit(&r, again);
        assert_memory_equal(again, buf, IPV4_HDR_MIN);
        free(buf);
    }
}

/* ipv4_emit writes a plain 20-byte header even if repr carries options. */
static void test_emit_ignores_options(void **state)
{
    struct ipv4_repr r = {.hdr_len = 28, .total_len = 40, .ttl = 9, .proto = IP_PROTO_TCP,
                          .src = SRC, .dst = DST, .options = OPTS8, .options_len = 8};
    uint8_t buf[28];
    memset(buf, 0x77, sizeof buf);
    ipv4_emit(&r, buf);
    assert_int_equal(buf[0], 0x45);
    assert_int_equal(csum_finish(csum_add(0, buf, IPV4_HDR_MIN)), 0);
    for (size_t i = IPV4_HDR_MIN; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0x77);
}

static void test_parse_with_options(void **state)
{
    uint8_t buf[80];
    size_t total = build(buf, OPTS8, sizeof OPTS8, 12);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(buf, total, &r), WIRE_OK);
    assert_int_equal(r.hdr_len, 28);
    assert_int_equal(r.total_len, 40);
    assert_ptr_equal(r.options, buf + IPV4_HDR_MIN);
    assert_int_equal(r.options_len, 8);
    assert_int_equal(r.tos, 0x10);
    assert_int_equal(r.id, 0x1c46);

    /* The longest header: 40 bytes of options. */
    uint8_t opts40[40];
    memset(opts40, 0x01, sizeof opts40);
    total = build(buf, opts40, sizeof opts40, 0);
    assert_int_equal(ipv4_parse(buf, total, &r), WIRE_OK);
    assert_int_equal(r.hdr_len, IPV4_HDR_MAX);
    assert_int_equal(r.options_len, 40);
    assert_ptr_equal(r.options, buf + IPV4_HDR_MIN);
}

/* ---- lengths ---- */

static void test_every_truncation(void **state)
{
    uint8_t buf[64];
    size_t total = build(buf, OPTS8, sizeof OPTS8, 30);
    assert_int_equal(total, 58);
    for (size_t len = 0; len < total; len++)
        assert_int_equal(parse_exact(buf, len), WIRE_TRUNCATED);
    assert_int_equal(parse_exact(buf, total), WIRE_OK);
}

static void test_bad_version(void **state)
{
    uint8_t buf[40];
    for (int v = 0; v < 16; v++) {
        size_t total = build(buf, NULL, 0, 20);
        buf[0] = (uint8_t)(v << 4 | 5);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), v == 4 ? WIRE_OK : WIRE_BAD_VERSION);
    }
    /* Version 6 in a buffer too short for any IPv4 header is still short. */
    buf[0] = 0x60;
    assert_int_equal(parse_exact(buf, 19), WIRE_TRUNCATED);
}

static void test_ihl_below_five(void **state)
{
    uint8_t buf[40];
    for (int ihl = 0; ihl < 5; ihl++) {
        size_t total = build(buf, NULL, 0, 20);
        buf[0] = (uint8_t)(0x40 | ihl);
        fix_checksum(buf); /* sums 0..ihl*4 bytes: whatever it is, IHL is checked first */
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_HDR_LEN);
    }
}

/* IHL says more header than there are bytes. */
static void test_ihl_past_bytes(void **state)
{
    uint8_t buf[IPV4_HDR_MAX];
    memset(buf, 0x01, sizeof buf); /* NOP options wherever the header reaches */
    for (int ihl = 6; ihl <= 15; ihl++) {
        build(buf, NULL, 0, 0);
        buf[0] = (uint8_t)(0x40 | ihl);
        be16_put(buf + 2, (uint16_t)(ihl * 4));
        for (size_t i = IPV4_HDR_MIN; i < (size_t)ihl * 4; i++)
            buf[i] = 0x01;
        fix_checksum(buf);
        for (size_t len = IPV4_HDR_MIN; len < (size_t)ihl * 4; len++)
            assert_int_equal(parse_exact(buf, len), WIRE_TRUNCATED);
        assert_int_equal(parse_exact(buf, (size_t)ihl * 4), WIRE_OK);
    }
}

static void test_total_len_below_header(void **state)
{
    uint8_t buf[64];
    for (uint16_t tl = 0; tl < 28; tl++) {
        size_t total = build(buf, OPTS8, sizeof OPTS8, 30);
        be16_put(buf + 2, tl);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_TOTAL_LEN);
    }
    /* Without options, 0..19. */
    for (uint16_t tl = 0; tl < 20; tl++) {
        size_t total = build(buf, NULL, 0, 30);
        be16_put(buf + 2, tl);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_TOTAL_LEN);
    }
    /* Exactly the header: an empty datagram is fine. */
    size_t total = build(buf, OPTS8, sizeof OPTS8, 0);
    assert_int_equal(parse_exact(buf, total), WIRE_OK);
}

/* A length field larger than the frame: the datagram was cut short. */
static void test_total_len_beyond_frame(void **state)
{
    uint8_t buf[64];
    size_t total = build(buf, OPTS8, sizeof OPTS8, 30);
    struct ipv4_repr r;
    for (uint32_t tl = (uint32_t)total + 1; tl <= 0xffff; tl++) {
        be16_put(buf + 2, (uint16_t)tl);
        fix_checksum(buf);
        assert_int_equal(ipv4_parse(buf, total, &r), WIRE_TRUNCATED);
    }
    be16_put(buf + 2, (uint16_t)(total + 1));
    fix_checksum(buf);
    assert_int_equal(parse_exact(buf, total), WIRE_TRUNCATED);
}

/* Ethernet pads short frames: bytes past total_len are not the datagram's. */
static void test_link_padding(void **state)
{
    uint8_t frame[46];
    memset(frame, 0xee, sizeof frame);
    size_t total = build(frame, NULL, 0, 8); /* 28 bytes, e.g. an ICMP echo */
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(frame, sizeof frame, &r), WIRE_OK);
    assert_int_equal(r.total_len, total);
    assert_int_equal(r.hdr_len, 20);

    /* Any amount of padding, with any content. */
    uint8_t big[1600];
    for (size_t pad = 0; pad < 1500; pad += 37) {
        total = build(big, OPTS8, sizeof OPTS8, 10);
        memset(big + total, (int)pad, pad);
        assert_int_equal(parse_exact(big, total + pad), WIRE_OK);
        assert_int_equal(ipv4_parse(big, total + pad, &r), WIRE_OK);
        assert_int_equal(r.total_len, total);
    }
}

/* ---- checksum ---- */

static void test_bad_checksum_each_byte(void **state)
{
    uint8_t buf[64];
    size_t total = build(buf, OPTS8, sizeof OPTS8, 30);
    size_t hl = 28;
    for (size_t i = 0; i < hl; i++) {
        for (int mask = 1; mask <= 0xff; mask++) {
            /* Every single bit, and the whole byte. */
            if ((mask & (mask - 1)) != 0 && mask != 0xff)
                continue;
            build(buf, OPTS8, sizeof OPTS8, 30);
            buf[i] ^= (uint8_t)mask;
            enum wire_err e = parse_exact(buf, total);
            if (e == WIRE_OK)
                fail_msg("byte %zu ^ 0x%02x accepted", i, mask);
            /* Version/IHL and total length are checked before the sum. */
            if (i != 0 && i != 2 && i != 3)
                assert_int_equal(e, WIRE_BAD_CHECKSUM);
        }
    }
    /* The payload is not covered by the header checksum. */
    for (size_t i = hl; i < total; i++) {
        build(buf, OPTS8, sizeof OPTS8, 30);
        buf[i] ^= 0xff;
        assert_int_equal(parse_exact(buf, total), WIRE_OK);
    }
    /* A zero checksum field is not "no checksum" in IPv4. */
    build(buf, OPTS8, sizeof OPTS8, 30);
    if (be16_get(buf + 10) != 0) {
        be16_put(buf + 10, 0);
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_CHECKSUM);
    }
}

/* ---- options ---- */

static enum wire_err parse_opts(const uint8_t *opts, size_t optlen)
{
    uint8_t buf[IPV4_HDR_MAX + 8];
    size_t total = build(buf, opts, optlen, 8);
    return parse_exact(buf, total);
}

static void test_options_good(void **state)
{
    static const uint8_t nops[] = {0x01, 0x01, 0x01, 0x01};
    static const uint8_t eol_then_junk[] = {0x00, 0xff, 0x00, 0x07};
    static const uint8_t nop_eol_junk[] = {0x01, 0x00, 0x44, 0x44};
    static const uint8_t ra[] = {0x94, 0x04, 0x00, 0x00};
    static const uint8_t min_len[] = {0x94, 0x02, 0x01, 0x00};
    static const uint8_t two[] = {0x94, 0x04, 0x00, 0x00, 0x88, 0x04, 0x12, 0x34};
    static const uint8_t ra_then_pad[] = {0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00};
    assert_int_equal(parse_opts(nops, sizeof nops), WIRE_OK);
    assert_int_equal(parse_opts(eol_then_junk, sizeof eol_then_junk), WIRE_OK);
    assert_int_equal(parse_opts(nop_eol_junk, sizeof nop_eol_junk), WIRE_OK);
    assert_int_equal(parse_opts(ra, sizeof ra), WIRE_OK);
    assert_int_equal(parse_opts(min_len, sizeof min_len), WIRE_OK);
    assert_int_equal(parse_opts(two, sizeof two), WIRE_OK);
    assert_int_equal(parse_opts(ra_then_pad, sizeof ra_then_pad), WIRE_OK);
    assert_int_equal(parse_opts(OPTS8, sizeof OPTS8), WIRE_OK);

    /* Record route filling all 40 bytes: 07 27 04 then nine addresses, EOL. */
    uint8_t rr[40] = {0x07, 39, 4};
    rr[39] = 0x00;
    assert_int_equal(parse_opts(rr, sizeof rr), WIRE_OK);
    /* One option exactly 40 bytes long. */
    rr[1] = 40;
    assert_int_equal(parse_opts(rr, sizeof rr), WIRE_OK);
}

static void test_options_bad(void **state)
{
    static const uint8_t len0[] = {0x94, 0x00, 0x00, 0x00};
    static const uint8_t len1[] = {0x94, 0x01, 0x00, 0x00};
    static const uint8_t over[] = {0x94, 0x05, 0x00, 0x00};
    static const uint8_t over_max[] = {0x94, 0xff, 0x00, 0x00};
    static const uint8_t type_last[] = {0x01, 0x01, 0x01, 0x94};
    static const uint8_t over_after_nop[] = {0x01, 0x94, 0x04, 0x00};
    static const uint8_t second_over[] = {0x94, 0x04, 0x00, 0x00, 0x88, 0x05, 0x00, 0x00};
    static const uint8_t second_len0[] = {0x94, 0x04, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00};
    static const uint8_t second_len1[] = {0x01, 0x01, 0x01, 0x01, 0x44, 0x01, 0x00, 0x00};
    assert_int_equal(parse_opts(len0, sizeof len0), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(len1, sizeof len1), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(over, sizeof over), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(over_max, sizeof over_max), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(type_last, sizeof type_last), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(over_after_nop, sizeof over_after_nop), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(second_over, sizeof second_over), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(second_len0, sizeof second_len0), WIRE_BAD_OPTION);
    assert_int_equal(parse_opts(second_len1, sizeof second_len1), WIRE_BAD_OPTION);

    /* A 40-byte option list whose only option claims 41 bytes. */
    uint8_t rr[40] = {0x07, 41, 4};
    assert_int_equal(parse_opts(rr, sizeof rr), WIRE_BAD_OPTION);
}

/* One option at the start of a 12-byte list, NOPs after it: every length
 * from 0 to 255. Lengths 2..12 fit, the others do not. */
static void test_options_every_length(void **state)
{
    for (int olen = 0; olen < 256; olen++) {
        uint8_t opts[12];
        memset(opts, 0x01, sizeof opts);
        opts[0] = 0x83;
        opts[1] = (uint8_t)olen;
        enum wire_err want = olen >= 2 && olen <= 12 ? WIRE_OK : WIRE_BAD_OPTION;
        assert_int_equal(parse_opts(opts, sizeof opts), want);
    }
    /* The same at the last two bytes: only a length of exactly 2 fits. */
    for (int olen = 0; olen < 256; olen++) {
        uint8_t opts[12];
        memset(opts, 0x01, sizeof opts);
        opts[10] = 0x83;
        opts[11] = (uint8_t)olen;
        assert_int_equal(parse_opts(opts, sizeof opts), olen == 2 ? WIRE_OK : WIRE_BAD_OPTION);
    }
}

/* ---- fields ---- */

static void test_reserved_flag(void **state)
{
    uint8_t buf[40];
    static const uint16_t frags[] = {0x8000, 0x8000 | IPV4_FLAG_DF, 0x8000 | IPV4_FLAG_MF | 1,
                                     0xffff & ~IPV4_FRAG_OFFSET_MASK};
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        size_t total = build(buf, NULL, 0, 8);
        be16_put(buf + 6, frags[i]);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_FIELD);
    }
}

static void test_source_address(void **state)
{
    static const uint32_t bad[] = {
        0xe0000001u, /* 224.0.0.1 */
        0xe00000fbu, /* 224.0.0.251 */
        0xefffffffu, /* 239.255.255.255 */
        0xf0000001u, /* 240.0.0.1, class E */
        0xfffffffeu,
        0xffffffffu, /* limited broadcast */
    };
    uint8_t buf[40];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t total = build(buf, NULL, 0, 8);
        be32_put(buf + 12, bad[i]);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), WIRE_BAD_ADDRESS);
    }
    static const uint32_t good[] = {0, 0x7f000001, 0x0a0000ff, 0xdfffffffu, 0xc0a80001u};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t total = build(buf, NULL, 0, 8);
        be32_put(buf + 12, good[i]);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), WIRE_OK);
    }
    /* Every first octet: 224 and up is refused. */
    for (uint32_t a = 0; a < 256; a++) {
        size_t total = build(buf, NULL, 0, 8);
        be32_put(buf + 12, a << 24 | 0x010203);
        fix_checksum(buf);
        assert_int_equal(parse_exact(buf, total), a >= 224 ? WIRE_BAD_ADDRESS : WIRE_OK);
    }
    /* Multicast and broadcast destinations are fine. */
    static const uint32_t dsts[] = {0xe0000001u, 0xffffffffu, 0xf0000001u};
    for (size_t i = 0; i < sizeof dsts / sizeof dsts[0]; i++) {
        size_t total = build(buf, NULL, 0, 8);
        be32_put(buf + 16, dsts[i]);
        fix_checksum(buf);
        struct ipv4_repr r;
        assert_int_equal(ipv4_parse(buf, total, &r), WIRE_OK);
        assert_int_equal(r.dst, dsts[i]);
    }
}

static enum wire_err parse_frag(uint16_t frag, const uint8_t *opts, size_t optlen,
                                size_t payload, struct ipv4_repr *out)
{
    uint8_t buf[IPV4_HDR_MAX + 64];
    size_t total = build(buf, opts, optlen, payload);
    be16_put(buf + 6, frag);
    fix_checksum(buf);
    return ipv4_parse(buf, total, out);
}

/* A fragment may not reach past the largest datagram (the ping of death). */
static void test_fragment_bounds(void **state)
{
    struct ipv4_repr r;
    /* 65512 + 3 + 20 = 65535 fits; one more byte does not. */
    assert_int_equal(parse_frag(65512 / 8, NULL, 0, 3, &r), WIRE_OK);
    assert_int_equal(r.frag_offset, 65512);
    assert_int_equal(parse_frag(65512 / 8, NULL, 0, 4, &r), WIRE_BAD_TOTAL_LEN);
    assert_int_equal(parse_frag(IPV4_FLAG_MF | 65512 / 8, NULL, 0, 4, &r), WIRE_BAD_TOTAL_LEN);
    /* The largest offset leaves no room at all. */
    assert_int_equal(parse_frag(IPV4_FRAG_OFFSET_MASK, NULL, 0, 0, &r), WIRE_BAD_TOTAL_LEN);
    /* With 8 bytes of options: 65504 + 3 + 28 = 65535. */
    assert_int_equal(parse_frag(65504 / 8, OPTS8, sizeof OPTS8, 3, &r), WIRE_OK);
    assert_int_equal(parse_frag(65504 / 8, OPTS8, sizeof OPTS8, 4, &r), WIRE_BAD_TOTAL_LEN);

    for (uint16_t off = 8000; off <= IPV4_FRAG_OFFSET_MASK; off++) {
        for (size_t payload = 0; payload <= 40; payload++) {
            bool fits = (size_t)off * 8 + payload + IPV4_HDR_MIN <= IPV4_MAX_DATAGRAM;
            enum wire_err e = parse_frag((uint16_t)(IPV4_FLAG_MF | off), NULL, 0, payload, &r);
            assert_int_equal(e, fits ? WIRE_OK : WIRE_BAD_TOTAL_LEN);
        }
    }
}

/* An unfragmented datagram of the largest size is fine. */
static void test_largest_datagram(void **state)
{
    uint8_t *buf = malloc(IPV4_MAX_DATAGRAM);
    assert_non_null(buf);
    size_t total = build(buf, NULL, 0, IPV4_MAX_DATAGRAM - IPV4_HDR_MIN);
    assert_int_equal(total, IPV4_MAX_DATAGRAM);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(buf, total, &r), WIRE_OK);
    assert_int_equal(r.total_len, IPV4_MAX_DATAGRAM);
    free(buf);
}

static void test_flags_decoding(void **state)
{
    static const struct {
        uint16_t field;
        bool df, mf;
        uint16_t offset;
    } cases[] = {
        {0x0000, false, false, 0},
        {0x4000, true, false, 0},
        {0x2000, false, true, 0},
        {0x6000, true, true, 0},
        {0x2001, false, true, 8},
        {0x00b9, false, false, 1480},
        {0x20b9, false, true, 1480},
        {0x0172, false, false, 2960},
        {0x1000, false, false, 32768},
        {0x3000, false, true, 32768},
        {0x5555, true, false, 0x1555 * 8},
        {0x1ffc, false, false, 0x1ffc * 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ipv4_repr r;
        assert_int_equal(parse_frag(cases[i].field, NULL, 0, 0, &r), WIRE_OK);
        assert_int_equal(r.dont_fragment, cases[i].df);
        assert_int_equal(r.more_fragments, cases[i].mf);
        assert_int_equal(r.frag_offset, cases[i].offset);

        /* And emit puts the same bits back. */
        uint8_t out[IPV4_HDR_MIN];
        ipv4_emit(&r, out);
        assert_int_equal(be16_get(out + 6), cases[i].field);
    }
}

/* ---- address text ---- */

static void test_addr_parse_good(void **state)
{
    static const struct {
        const char *text;
        uint32_t addr;
    } cases[] = {
        {"0.0.0.0", 0},
        {"255.255.255.255", 0xffffffffu},
        {"1.2.3.4", 0x01020304},
        {"10.0.0.1", 0x0a000001},
        {"192.168.0.199", 0xc0a800c7u},
        {"127.0.0.1", 0x7f000001},
        {"100.20.3.0", 0x64140300},
        {"9.99.199.249", 0x0963c7f9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t a = 0xdeadbeefu;
        if (!ipv4_addr_parse(cases[i].text, &a))
            fail_msg("refused \"%s\"", cases[i].text);
        assert_int_equal(a, cases[i].addr);
    }
}

static void test_addr_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        ".",
        "...",
        "1",
        "1.2",
        "1.2.3",
        "1.2.3.",
        "256.1.1.1",
        "1.256.1.1",
        "1.1.256.1",
        "1.1.1.256",
        "999.1.1.1",
        "1000.1.1.1",
        "1.2.3.4.",
        "1.2.3.4.5",
        "01234.1.1.1",
        "0001.1.1.1",
        "01.2.3.4", /* leading zeros: octal to inet_aton */
        "1.2.3.04",
        "010.0.0.1",
        "00.0.0.0",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4\n",
        "1..2.3",
        ".1.2.3",
        "1.2..3.4",
        "-1.2.3.4",
        "+1.2.3.4",
        "1.2.3.-4",
        "a.b.c.d",
        "1.2.3.4a",
        "0x1.2.3.4",
        "1.2.3.0x4",
        "1,2,3,4",
        "1.2.3 .4",
        "1:2:3:4",
        "::1",
        "4294967295",
        "1.2.3.4/24",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t a = 0xdeadbeefu;
        if (ipv4_addr_parse(bad[i], &a))
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(a, 0xdeadbeefu);
    }
}

static void test_fmt(void **state)
{
    char out[16];
    ipv4_fmt(0, out, sizeof out);
    assert_string_equal(out, "0.0.0.0");
    ipv4_fmt(0xffffffffu, out, sizeof out);
    assert_string_equal(out, "255.255.255.255");
    ipv4_fmt(SRC, out, sizeof out);
    assert_string_equal(out, "192.168.0.1");
    ipv4_fmt(0x0a000102, out, sizeof out);
    assert_string_equal(out, "10.0.1.2");

    char small[8];
    memset(small, 'x', sizeof small);
    ipv4_fmt(0xffffffffu, small, 5);
    assert_string_equal(small, "255.");
    assert_int_equal(small[5], 'x');
}

/* fmt then parse gives the address back, and parse accepts only the text
 * fmt would write. */
static void test_fmt_parse_round_trip(void **state)
{
    uint64_t x = 0x1234567890abcdefu;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t addr = (uint32_t)x;
        if (i < 256)
            addr = (uint32_t)i * 0x01010101u; /* each octet value, all positions */
        char text[16];
        ipv4_fmt(addr, text, sizeof text);
        uint32_t back = 0;
        assert_true(ipv4_addr_parse(text, &back));
        assert_int_equal(back, addr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_emit_known),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_emit_ignores_options),
        cmocka_unit_test(test_parse_with_options),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_ihl_below_five),
        cmocka_unit_test(test_ihl_past_bytes),
        cmocka_unit_test(test_total_len_below_header),
        cmocka_unit_test(test_total_len_beyond_frame),
        cmocka_unit_test(test_link_padding),
        cmocka_unit_test(test_bad_checksum_each_byte),
        cmocka_unit_test(test_options_good),
        cmocka_unit_test(test_options_bad),
        cmocka_unit_test(test_options_every_length),
        cmocka_unit_test(test_reserved_flag),
        cmocka_unit_test(test_source_address),
        cmocka_unit_test(test_fragment_bounds),
        cmocka_unit_test(test_largest_datagram),
        cmocka_unit_test(test_flags_decoding),
        cmocka_unit_test(test_addr_parse_good),
        cmocka_unit_test(test_addr_parse_bad),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_fmt_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
