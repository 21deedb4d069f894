/* Unit tests for UDP over IPv4 (RFC 768): round trips with the
 * pseudo-header checksum, the zero checksum in both directions, the length
 * field against the bytes, corruption, and destination port zero. */
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

#define SRC 0x0a000001u /* 10.0.0.1 */
#define DST 0x0a000002u /* 10.0.0.2 */

/* Reference: the pseudo-header and datagram laid out in one buffer, summed
 * word by word with the end-around carry each step. */
static uint16_t ref_udp_checksum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t len)
{
    uint8_t *all = calloc(1, 12 + len + 1);
    assert_non_null(all);
    be32_put(all, src);
    be32_put(all + 4, dst);
    all[9] = IP_PROTO_UDP;
    be16_put(all + 10, (uint16_t)len);
    memcpy(all + 12, udp, len);
    uint32_t sum = 0;
    for (size_t i = 0; i < 12 + len; i += 2) {
        sum += (uint32_t)all[i] << 8 | all[i + 1]; /* all[12 + len] is the zero pad */
        if (sum > 0xffff)
            sum = (sum & 0xffff) + 1;
    }
    free(all);
    return (uint16_t)~sum;
}

static enum wire_err parse_exact(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    struct udp_repr r;
    enum wire_err e = udp_parse_ipv4(copy, len, src, dst, &r);
    free(copy);
    return e;
}

static const uint8_t HELLO[] = "hello, world"; /* 12 bytes + NUL */

static void test_round_trip(void **state)
{
    struct udp_repr r = {.src_port = 1234, .dst_port = 53, .payload = HELLO, .payload_len = 12};
    uint8_t buf[UDP_HDR_LEN + 12 + 4];
    memset(buf, 0x3c, sizeof buf);
    udp_emit_ipv4(&r, SRC, DST, buf);
    assert_int_equal(be16_get(buf), 1234);
    assert_int_equal(be16_get(buf + 2), 53);
    assert_int_equal(be16_get(buf + 4), 20);
    assert_memory_equal(buf + UDP_HDR_LEN, HELLO, 12);
    for (size_t i = 20; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0x3c);

    uint16_t sent = be16_get(buf + 6);
    be16_put(buf + 6, 0);
    assert_int_equal(sent, ref_udp_checksum(SRC, DST, buf, 20));
    be16_put(buf + 6, sent);

    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(buf, 20, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.src_port, 1234);
    assert_int_equal(p.dst_port, 53);
    assert_ptr_equal(p.payload, buf + UDP_HDR_LEN);
    assert_int_equal(p.payload_len, 12);
}

/* The pseudo-header is part of the sum: other addresses fail it. */
static void test_pseudo_header_covered(void **state)
{
    struct udp_repr r = {.src_port = 5000, .dst_port = 5001, .payload = HELLO, .payload_len = 12};
    uint8_t buf[UDP_HDR_LEN + 12];
    udp_emit_ipv4(&r, SRC, DST, buf);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_OK);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC + 1, DST), WIRE_BAD_CHECKSUM);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST + 0x100), WIRE_BAD_CHECKSUM);
    assert_int_equal(parse_exact(buf, sizeof buf, 0, DST), WIRE_BAD_CHECKSUM);
    /* Swapping source and destination sums the same: addition commutes. */
    assert_int_equal(parse_exact(buf, sizeof buf, DST, SRC), WIRE_OK);
}

/* Every payload length to 300, odd ones included, against the reference. */
static void test_odd_lengths(void **state)
{
    uint8_t payload[300], buf[UDP_HDR_LEN + 300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 31 + 7) | 0x80;
    for (size_t n = 0; n <= sizeof payload; n++) {
        struct udp_repr r = {.src_port = (uint16_t)(n + 1), .dst_port = 9, .payload = payload,
                             .payload_len = n};
        uint32_t src = 0xc0000200u + (uint32_t)n, dst = 0xc6336400u ^ (uint32_t)n;
        udp_emit_ipv4(&r, src, dst, buf);
        size_t len = UDP_HDR_LEN + n;
        uint16_t sent = be16_get(buf + 6);
        be16_put(buf + 6, 0);
        uint16_t want = ref_udp_checksum(src, dst, buf, len);
        assert_int_equal(sent, want == 0 ? 0xffff : want);
        be16_put(buf + 6, sent);

        struct udp_repr p;
        assert_int_equal(udp_parse_ipv4(buf, len, src, dst, &p), WIRE_OK);
        assert_int_equal(p.payload_len, n);
        assert_int_equal(p.src_port, n + 1);
        if (n > 0) {
            assert_memory_equal(p.payload, payload, n);
            buf[len - 1] ^= 0x01; /* the odd byte when n is odd */
            assert_int_equal(parse_exact(buf, len, src, dst), WIRE_BAD_CHECKSUM);
        }
    }
}

static void test_emit_in_place(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 12];
    memcpy(buf + UDP_HDR_LEN, HELLO, 12);
    struct udp_repr r = {.src_port = 7, .dst_port = 7, .payload = buf + UDP_HDR_LEN,
                         .payload_len = 12};
    udp_emit_ipv4(&r, SRC, DST, buf);
    assert_memory_equal(buf + UDP_HDR_LEN, HELLO, 12);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_OK);
}

/* Zero in the checksum field means the sender computed none. */
static void test_zero_checksum_accepted(void **state)
{
    struct udp_repr r = {.src_port = 68, .dst_port = 67, .payload = HELLO, .payload_len = 12};
    uint8_t buf[UDP_HDR_LEN + 12];
    udp_emit_ipv4(&r, SRC, DST, buf);
    be16_put(buf + 6, 0);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_OK);
    /* Even with the payload and addresses changed: nothing is checked. */
    buf[UDP_HDR_LEN] ^= 0xff;
    assert_int_equal(parse_exact(buf, sizeof buf, 0x01020304, 0x05060708), WIRE_OK);
    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(buf, sizeof buf, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.src_port, 68);
    assert_int_equal(p.dst_port, 67);
    assert_int_equal(p.payload_len, 12);
}

/* A checksum that computes to zero goes out as ffff, which verifies. */
static void test_computed_zero_sent_as_ffff(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 2] = {0};
    be16_put(buf, 1234);
    be16_put(buf + 2, 4321);
    be16_put(buf + 4, sizeof buf);
    /* Folded sum of everything but the payload word... */
    uint32_t s0 = csum_add(csum_pseudo_ipv4(SRC, DST, IP_PROTO_UDP, sizeof buf), buf,
                           UDP_HDR_LEN);
    uint16_t folded = (uint16_t)~csum_finish(s0);
    /* ...and a payload word that brings it to ffff, whose complement is 0. */
    uint8_t payload[2];
    be16_put(payload, (uint16_t)(0xffff - folded));

    struct udp_repr r = {.src_port = 1234, .dst_port = 4321, .payload = payload,
                         .payload_len = 2};
    uint8_t out[UDP_HDR_LEN + 2];
    udp_emit_ipv4(&r, SRC, DST, out);
    be16_put(buf + 6, 0);
    memcpy(buf + UDP_HDR_LEN, payload, 2);
    assert_int_equal(csum_finish(csum_add(csum_pseudo_ipv4(SRC, DST, IP_PROTO_UDP, sizeof buf),
                                          buf, sizeof buf)),
                     0);
    assert_int_equal(be16_get(out + 6), 0xffff);
    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(out, sizeof out, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.payload_len, 2);
    assert_memory_equal(p.payload, payload, 2);
    /* With other addresses ffff is simply a wrong checksum. */
    assert_int_equal(parse_exact(out, sizeof out, SRC, DST + 1), WIRE_BAD_CHECKSUM);
}

static void test_truncated_header(void **state)
{
    struct udp_repr r = {.src_port = 1, .dst_port = 2};
    uint8_t buf[UDP_HDR_LEN];
    udp_emit_ipv4(&r, SRC, DST, buf);
    for (size_t len = 0; len < UDP_HDR_LEN; len++)
        assert_int_equal(parse_exact(buf, len, SRC, DST), WIRE_TRUNCATED);
    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(buf, UDP_HDR_LEN, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.payload_len, 0);
}

static void test_length_below_header(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 12];
    for (uint16_t ulen = 0; ulen < UDP_HDR_LEN; ulen++) {
        struct udp_repr r = {.src_port = 1, .dst_port = 2, .payload = HELLO, .payload_len = 12};
        udp_emit_ipv4(&r, SRC, DST, buf);
        be16_put(buf + 4, ulen);
        assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_BAD_TOTAL_LEN);
        be16_put(buf + 6, 0); /* with or without a checksum */
        assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_BAD_TOTAL_LEN);
    }
}

static void test_length_beyond_bytes(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 12];
    struct udp_repr r = {.src_port = 1, .dst_port = 2, .payload = HELLO, .payload_len = 12};
    for (uint32_t ulen = sizeof buf + 1; ulen <= 0xffff; ulen++) {
        udp_emit_ipv4(&r, SRC, DST, buf);
        be16_put(buf + 4, (uint16_t)ulen);
        struct udp_repr p;
        assert_int_equal(udp_parse_ipv4(buf, sizeof buf, SRC, DST, &p), WIRE_TRUNCATED);
    }
    /* The bytes cut short under a correct length field, every length. */
    udp_emit_ipv4(&r, SRC, DST, buf);
    for (size_t len = UDP_HDR_LEN; len < sizeof buf; len++)
        assert_int_equal(parse_exact(buf, len, SRC, DST), WIRE_TRUNCATED);
    /* And with no checksum to fail first. */
    be16_put(buf + 6, 0);
    for (size_t len = UDP_HDR_LEN; len < sizeof buf; len++)
        assert_int_equal(parse_exact(buf, len, SRC, DST), WIRE_TRUNCATED);
}

/* Bytes past the length field (IP or link padding) are not the datagram's:
 * not in the payload and not in the checksum. */
static void test_trailing_bytes_ignored(void **state)
{
    uint8_t buf[64];
    struct udp_repr r = {.src_port = 1000, .dst_port = 2000, .payload = HELLO, .payload_len = 5};
    for (size_t extra = 0; extra <= 64 - 13; extra++) {
        memset(buf, (int)(0xa0 + extra), sizeof buf);
        udp_emit_ipv4(&r, SRC, DST, buf);
        assert_int_equal(be16_get(buf + 4), 13);
        struct udp_repr p;
        assert_int_equal(udp_parse_ipv4(buf, 13 + extra, SRC, DST, &p), WIRE_OK);
        assert_int_equal(p.payload_len, 5);
        assert_memory_equal(p.payload, "hello", 5);
        assert_int_equal(parse_exact(buf, 13 + extra, SRC, DST), WIRE_OK);
    }
}

static void test_bad_checksum(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 12];
    struct udp_repr r = {.src_port = 40000, .dst_port = 53, .payload = HELLO, .payload_len = 12};
    for (size_t i = 0; i < sizeof buf; i++) {
        for (int bit = 0; bit < 8; bit++) {
            udp_emit_ipv4(&r, SRC, DST, buf);
            buf[i] ^= (uint8_t)(1u << bit);
            enum wire_err e = parse_exact(buf, sizeof buf, SRC, DST);
            if (i >= 6 && i <= 7 && be16_get(buf + 6) == 0) {
                assert_int_equal(e, WIRE_OK); /* became "no checksum" */
                continue;
            }
            if (e == WIRE_OK)
                fail_msg("byte %zu bit %d accepted", i, bit);
            if (i != 4 && i != 5) /* length changes may fail earlier */
                assert_int_equal(e, WIRE_BAD_CHECKSUM);
        }
    }
    /* The checksum field inverted. */
    udp_emit_ipv4(&r, SRC, DST, buf);
    be16_put(buf + 6, (uint16_t)~be16_get(buf + 6));
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_BAD_CHECKSUM);
}

static void test_dst_port_zero(void **state)
{
    uint8_t buf[UDP_HDR_LEN + 12];
    struct udp_repr r = {.src_port = 1234, .dst_port = 0, .payload = HELLO, .payload_len = 12};
    udp_emit_ipv4(&r, SRC, DST, buf);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_BAD_FIELD);
    be16_put(buf + 6, 0);
    assert_int_equal(parse_exact(buf, sizeof buf, SRC, DST), WIRE_BAD_FIELD);
    /* Source port zero ("no reply expected") is allowed. */
    struct udp_repr s = {.src_port = 0, .dst_port = 9, .payload = HELLO, .payload_len = 12};
    udp_emit_ipv4(&s, SRC, DST, buf);
    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(buf, sizeof buf, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.src_port, 0);
    /* Port 65535 both ways. */
    struct udp_repr m = {.src_port = 0xffff, .dst_port = 0xffff};
    udp_emit_ipv4(&m, SRC, DST, buf);
    assert_int_equal(udp_parse_ipv4(buf, UDP_HDR_LEN, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.src_port, 0xffff);
    assert_int_equal(p.dst_port, 0xffff);
}

/* The largest datagram: length field 65535. */
static void test_largest(void **state)
{
    size_t n = 0xffff - UDP_HDR_LEN;
    uint8_t *payload = malloc(n), *buf = malloc(0xffff);
    assert_non_null(payload);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i ^ (i >> 8));
    struct udp_repr r = {.src_port = 1, .dst_port = 2, .payload = payload, .payload_len = n};
    udp_emit_ipv4(&r, SRC, DST, buf);
    assert_int_equal(be16_get(buf + 4), 0xffff);
    struct udp_repr p;
    assert_int_equal(udp_parse_ipv4(buf, 0xffff, SRC, DST, &p), WIRE_OK);
    assert_int_equal(p.payload_len, n);
    assert_memory_equal(p.payload, payload, n);
    free(payload);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_pseudo_header_covered),
        cmocka_unit_test(test_odd_lengths),
        cmocka_unit_test(test_emit_in_place),
        cmocka_unit_test(test_zero_checksum_accepted),
        cmocka_unit_test(test_computed_zero_sent_as_ffff),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_length_below_header),
        cmocka_unit_test(test_length_beyond_bytes),
        cmocka_unit_test(test_trailing_bytes_ignored),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_dst_port_zero),
        cmocka_unit_test(test_largest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
