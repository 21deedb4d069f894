/* Unit tests for ICMPv4 messages (RFC 792): echo round trips against known
 * bytes, every truncated length, the checksum over odd lengths, and every
 * single-bit corruption rejected. */
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

/* Reference checksum: word by word with the end-around carry each step. */
static uint16_t ref_checksum(const uint8_t *data, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i += 2) {
        uint32_t word = (uint32_t)data[i] << 8;
        if (i + 1 < len)
            word |= data[i + 1];
        sum += word;
        if (sum > 0xffff)
            sum = (sum & 0xffff) + 1;
    }
    return (uint16_t)~sum;
}

static enum wire_err parse_exact(const uint8_t *buf, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    struct icmp_repr r;
    enum wire_err e = icmp_parse(copy, len, &r);
    free(copy);
    return e;
}

static const uint8_t PING_DATA[] = "abcdefghijklmnopqrstuvwabcdefghi"; /* 32 bytes + NUL */

static void test_echo_known_bytes(void **state)
{
    /* Echo request, id 1, seq 1, no data: 0800 0000 0001 0001 sums to 0802,
     * so the checksum is f7fd. */
    struct icmp_repr r = {.type = ICMP_ECHO_REQUEST, .code = 0, .rest = 0x00010001};
    uint8_t buf[ICMP_HDR_LEN + 4];
    memset(buf, 0x99, sizeof buf);
    icmp_emit(&r, buf);
    static const uint8_t want[ICMP_HDR_LEN] = {0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01};
    assert_memory_equal(buf, want, ICMP_HDR_LEN);
    for (size_t i = ICMP_HDR_LEN; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0x99);
}

static void test_echo_round_trip(void **state)
{
    struct icmp_repr r = {.type = ICMP_ECHO_REQUEST, .code = 0, .rest = 0x12340007,
                          .data = PING_DATA, .data_len = 32};
    uint8_t buf[ICMP_HDR_LEN + 32];
    icmp_emit(&r, buf);
    assert_int_equal(buf[0], ICMP_ECHO_REQUEST);
    assert_int_equal(buf[1], 0);
    assert_int_equal(be32_get(buf + 4), 0x12340007);
    assert_memory_equal(buf + ICMP_HDR_LEN, PING_DATA, 32);
    /* The checksum field holds the reference checksum of the message. */
    uint16_t sent = be16_get(buf + 2);
    be16_put(buf + 2, 0);
    assert_int_equal(sent, ref_checksum(buf, sizeof buf));
    be16_put(buf + 2, sent);

    struct icmp_repr p;
    assert_int_equal(icmp_parse(buf, sizeof buf, &p), WIRE_OK);
    assert_int_equal(p.type, ICMP_ECHO_REQUEST);
    assert_int_equal(p.code, 0);
    assert_int_equal(p.rest, 0x12340007);
    assert_int_equal(p.rest >> 16, 0x1234); /* id */
    assert_int_equal(p.rest & 0xffff, 7);   /* seq */
    assert_ptr_equal(p.data, buf + ICMP_HDR_LEN);
    assert_int_equal(p.data_len, 32);

    /* The reply: the same message with type 0 echoes back. */
    struct icmp_repr reply = p;
    reply.type = ICMP_ECHO_REPLY;
    uint8_t out[ICMP_HDR_LEN + 32];
    icmp_emit(&reply, out);
    struct icmp_repr q;
    assert_int_equal(icmp_parse(out, sizeof out, &q), WIRE_OK);
    assert_int_equal(q.type, ICMP_ECHO_REPLY);
    assert_int_equal(q.rest, 0x12340007);
    assert_memory_equal(q.data, PING_DATA, 32);
    /* Only the type changed, so the checksum moved by exactly 0x0800. */
    assert_int_equal(be16_get(out + 2), (uint16_t)(sent + 0x0800 + (sent + 0x0800 > 0xffff)));
}

static void test_emit_in_place(void **state)
{
    /* The data may already sit where the header's payload goes. */
    uint8_t buf[ICMP_HDR_LEN + 32];
    memcpy(buf + ICMP_HDR_LEN, PING_DATA, 32);
    struct icmp_repr r = {.type = ICMP_ECHO_REPLY, .rest = 0xabcd0001,
                          .data = buf + ICMP_HDR_LEN, .data_len = 32};
    icmp_emit(&r, buf);
    assert_memory_equal(buf + ICMP_HDR_LEN, PING_DATA, 32);
    struct icmp_repr p;
    assert_int_equal(icmp_parse(buf, sizeof buf, &p), WIRE_OK);
    assert_int_equal(p.rest, 0xabcd0001);
}

static void test_other_types(void **state)
{
    /* Fragmentation needed, next-hop MTU 1400 in the low 16 bits, quoting
     * an IPv4 header and 8 bytes. */
    uint8_t quote[28];
    for (size_t i = 0; i < sizeof quote; i++)
        quote[i] = (uint8_t)(0x45 + i);
    struct icmp_repr r = {.type = ICMP_DEST_UNREACH, .code = ICMP_UNREACH_FRAG_NEEDED,
                          .rest = 1400, .data = quote, .data_len = sizeof quote};
    uint8_t buf[ICMP_HDR_LEN + sizeof quote];
    icmp_emit(&r, buf);
    assert_int_equal(be16_get(buf + 6), 1400);
    assert_int_equal(be16_get(buf + 4), 0);
    struct icmp_repr p;
    assert_int_equal(icmp_parse(buf, sizeof buf, &p), WIRE_OK);
    assert_int_equal(p.type, ICMP_DEST_UNREACH);
    assert_int_equal(p.code, ICMP_UNREACH_FRAG_NEEDED);
    assert_int_equal(p.rest & 0xffff, 1400);
    assert_memory_equal(p.data, quote, sizeof quote);

    /* Types and codes are data to the parser: any value parses. */
    for (int type = 0; type < 256; type += 5) {
        for (int code = 0; code < 256; code += 51) {
            struct icmp_repr t = {.type = (uint8_t)type, .code = (uint8_t)code,
                                  .rest = 0xffffffffu};
            uint8_t m[ICMP_HDR_LEN];
            icmp_emit(&t, m);
            assert_int_equal(icmp_parse(m, sizeof m, &p), WIRE_OK);
            assert_int_equal(p.type, type);
            assert_int_equal(p.code, code);
            assert_int_equal(p.rest, 0xffffffffu);
            assert_int_equal(p.data_len, 0);
        }
    }
}

static void test_every_truncation(void **state)
{
    struct icmp_repr r = {.type = ICMP_ECHO_REQUEST, .rest = 0x00010001};
    uint8_t buf[ICMP_HDR_LEN];
    icmp_emit(&r, buf);
    for (size_t len = 0; len < ICMP_HDR_LEN; len++)
        assert_int_equal(parse_exact(buf, len), WIRE_TRUNCATED);
    assert_int_equal(parse_exact(buf, ICMP_HDR_LEN), WIRE_OK);

    /* A message with data cut anywhere fails: the checksum covers it all. */
    uint8_t full[ICMP_HDR_LEN + 32];
    struct icmp_repr d = {.type = ICMP_ECHO_REQUEST, .rest = 0x00010002, .data = PING_DATA,
                          .data_len = 32};
    icmp_emit(&d, full);
    for (size_t len = ICMP_HDR_LEN; len < sizeof full; len++) {
        enum wire_err e = parse_exact(full, len);
        /* Dropping a trailing zero word could keep the sum; this data has none. */
        assert_int_equal(e, WIRE_BAD_CHECKSUM);
    }
}

/* Every data length from 0 to 300, odd ones included, round trips; the
 * odd last byte is covered by the checksum. */
static void test_odd_lengths(void **state)
{
    uint8_t data[300], buf[ICMP_HDR_LEN + 300];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (uint8_t)(x | 1); /* never zero, so a flipped byte shows */
    }
    for (size_t n = 0; n <= sizeof data; n++) {
        struct icmp_repr r = {.type = ICMP_ECHO_REPLY, .rest = (uint32_t)n, .data = data,
                              .data_len = n};
        icmp_emit(&r, buf);
        size_t len = ICMP_HDR_LEN + n;
        uint16_t sent = be16_get(buf + 2);
        be16_put(buf + 2, 0);
        assert_int_equal(sent, ref_checksum(buf, len));
        be16_put(buf + 2, sent);

        struct icmp_repr p;
        assert_int_equal(icmp_parse(buf, len, &p), WIRE_OK);
        assert_int_equal(p.data_len, n);
        assert_int_equal(p.rest, n);
        if (n > 0) {
            assert_memory_equal(p.data, data, n);
            /* Corrupt the last byte (the odd one when n is odd). */
            buf[len - 1] ^= 0x40;
            assert_int_equal(parse_exact(buf, len), WIRE_BAD_CHECKSUM);
            buf[len - 1] ^= 0x40;
            assert_int_equal(parse_exact(buf, len), WIRE_OK);
        }
    }
}

static void test_bad_checksum(void **state)
{
    for (size_t n = 31; n <= 32; n++) {
        struct icmp_repr r = {.type = ICMP_ECHO_REQUEST, .rest = 0x42420001, .data = PING_DATA,
                              .data_len = n};
        uint8_t buf[ICMP_HDR_LEN + 32];
        size_t len = ICMP_HDR_LEN + n;
        icmp_emit(&r, buf);
        /* Every single bit of every byte, checksum field included. */
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1u << bit);
                if (parse_exact(buf, len) != WIRE_BAD_CHECKSUM)
                    fail_msg("len %zu byte %zu bit %d accepted", len, i, bit);
                buf[i] ^= (uint8_t)(1u << bit);
            }
        }
        assert_int_equal(parse_exact(buf, len), WIRE_OK);
        /* Checksum field zeroed, and inverted. */
        uint16_t sent = be16_get(buf + 2);
        be16_put(buf + 2, 0);
        assert_int_equal(parse_exact(buf, len), WIRE_BAD_CHECKSUM);
        be16_put(buf + 2, (uint16_t)~sent);
        assert_int_equal(parse_exact(buf, len), WIRE_BAD_CHECKSUM);
    }
    /* All zeros is not a valid message: its checksum would be ffff. */
    static const uint8_t zeros[ICMP_HDR_LEN];
    assert_int_equal(parse_exact(zeros, sizeof zeros), WIRE_BAD_CHECKSUM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_known_bytes),
        cmocka_unit_test(test_echo_round_trip),
        cmocka_unit_test(test_emit_in_place),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_odd_lengths),
        cmocka_unit_test(test_bad_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
