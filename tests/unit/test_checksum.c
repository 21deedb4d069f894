/* Unit tests for the Internet checksum (RFC 1071): known answers, odd
 * lengths, carries, incremental sums against one-shot sums, and the IPv4
 * pseudo-header, each checked against a slow reference written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

/* A deterministic generator so that every run sees the same bytes. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void rng_fill(uint64_t *s, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rng_next(s);
}

/* The reference: one's complement addition word by word, the end-around
 * carry folded back at every step, then complemented. */
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

static uint16_t one_shot(const uint8_t *data, size_t len)
{
    return csum_finish(csum_add(0, data, len));
}

/* RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2. */
static void test_rfc1071_example(void **state)
{
    static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint32_t sum = csum_add(0, data, sizeof data);
    /* The running sum is unfolded: 2ddf0 folds to ddf2. */
    assert_int_equal(sum, 0x2ddf0);
    assert_int_equal(csum_finish(sum), (uint16_t)~0xddf2);
    assert_int_equal(csum_finish(sum), 0x220d);
    assert_int_equal(ref_checksum(data, sizeof data), 0x220d);
}

/* RFC 1071 §2(B): summing byte-swapped words gives the byte-swapped sum. */
static void test_rfc1071_byte_order_independence(void **state)
{
    uint64_t seed = 0x1071;
    for (size_t len = 0; len <= 64; len += 2) {
        uint8_t data[64], swapped[64];
        rng_fill(&seed, data, len);
        for (size_t i = 0; i < len; i += 2) {
            swapped[i] = data[i + 1];
            swapped[i + 1] = data[i];
        }
        uint16_t a = one_shot(data, len);
        uint16_t b = one_shot(swapped, len);
        assert_int_equal(a, (uint16_t)(b << 8 | b >> 8));
    }
}

/* The classic IPv4 header example: its checksum is b861. */
static void test_ipv4_header_known_answer(void **state)
{
    uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(one_shot(hdr, sizeof hdr), 0xb861);
    /* With the checksum in place, the header sums to zero. */
    be16_put(hdr + 10, 0xb861);
    assert_int_equal(one_shot(hdr, sizeof hdr), 0);
}

static void test_empty_and_zeros(void **state)
{
    static const uint8_t zeros[64];
    assert_int_equal(csum_add(0, zeros, 0), 0);
    assert_int_equal(csum_add(0x1234, zeros, 0), 0x1234);
    assert_int_equal(one_shot(zeros, 0), 0xffff);
    for (size_t len = 0; len <= sizeof zeros; len++)
        assert_int_equal(one_shot(zeros, len), 0xffff);
}

static void test_odd_lengths(void **state)
{
    /* A trailing byte is the high half of a word padded with zero. */
    static const uint8_t one[] = {0x01};
    assert_int_equal(csum_add(0, one, 1), 0x0100);
    assert_int_equal(one_shot(one, 1), 0xfeff);
    static const uint8_t three[] = {0x01, 0x02, 0x03};
    assert_int_equal(csum_add(0, three, 3), 0x0102 + 0x0300);
    assert_int_equal(one_shot(three, 3), 0xfbfd);
    static const uint8_t ff[] = {0xff};
    assert_int_equal(one_shot(ff, 1), 0x00ff);

    /* Every length up to 300, odd and even, against the reference. */
    uint64_t seed = 0xabcdef;
    uint8_t data[300];
    for (int round = 0; round < 20; round++) {
        rng_fill(&seed, data, sizeof data);
        for (size_t len = 0; len <= sizeof data; len++)
            assert_int_equal(one_shot(data, len), ref_checksum(data, len));
    }
}

/* Adding a zero byte at the end of an odd buffer changes nothing. */
static void test_odd_length_equals_zero_padding(void **state)
{
    uint64_t seed = 77;
    uint8_t data[102];
    for (size_t len = 1; len < 100; len += 2) {
        rng_fill(&seed, data, len);
        data[len] = 0;
        assert_int_equal(one_shot(data, len), one_shot(data, len + 1));
        assert_int_equal(csum_add(0, data, len), csum_add(0, data, len + 1));
    }
}

static void test_carries_fold(void **state)
{
    /* ffff + ffff = 1fffe, folded fffe + 1 = ffff, complemented 0. */
    static const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(one_shot(ones, sizeof ones), 0);
    static const uint8_t carry[] = {0xff, 0xff, 0x00, 0x01};
    assert_int_equal(one_shot(carry, sizeof carry), 0xfffe);

    assert_int_equal(csum_finish(0), 0xffff);
    assert_int_equal(csum_finish(0xffff), 0);
    assert_int_equal(csum_finish(0x10000), 0xfffe);
    assert_int_equal(csum_finish(0x1fffe), 0);
    assert_int_equal(csum_finish(0xffffffffu), 0);
    assert_int_equal(csum_finish(0xfffeffffu), 0x0001);
    assert_int_equal(csum_finish(0x0001fffe), 0);

    /* A running sum near the 32-bit limit keeps its carry. */
    static const uint8_t w[] = {0x00, 0x02};
    uint32_t s = csum_add(0xffffffffu, w, sizeof w);
    assert_int_equal(csum_finish(s), csum_finish(0xffffu + 0xffffu + 2u));
    assert_int_equal(csum_finish(s), (uint16_t)~0x0002);
}

/* A megabyte of 0xff: the sum passes 32 bits of words and must still fold. */
static void test_large_buffer(void **state)
{
    static uint8_t big[1 << 20];
    memset(big, 0xff, sizeof big);
    assert_int_equal(one_shot(big, sizeof big), 0);
    assert_int_equal(one_shot(big, sizeof big - 1), 0x00ff);
    uint64_t seed = 4242;
    rng_fill(&seed, big, sizeof big);
    assert_int_equal(one_shot(big, sizeof big), ref_checksum(big, sizeof big));
    assert_int_equal(one_shot(big, sizeof big - 3), ref_checksum(big, sizeof big - 3));
}

/* Summing in pieces (every even split, odd tail last) equals one shot. */
static void test_incremental_equals_one_shot(void **state)
{
    uint64_t seed = 99;
    uint8_t data[257];
    rng_fill(&seed, data, sizeof data);
    for (size_t len = 0; len <= sizeof data; len++) {
        uint16_t whole = one_shot(data, len);
        for (size_t cut = 0; cut <= len; cut += 2) {
            uint32_t s = csum_add(0, data, cut);
            s = csum_add(s, data + cut, len - cut);
            assert_int_equal(csum_finish(s), whole);
        }
    }
    /* Three pieces, the last one odd. */
    for (size_t a = 0; a <= 40; a += 2) {
        for (size_t b = a; b <= 80; b += 2) {
            uint32_t s = csum_add(0, data, a);
            s = csum_add(s, data + a, b - a);
            s = csum_add(s, data + b, 101 - b);
            assert_int_equal(csum_finish(s), one_shot(data, 101));
        }
    }
    /* Two-byte pieces one at a time. */
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < sizeof data; i += 2)
        s = csum_add(s, data + i, 2);
    s = csum_add(s, data + sizeof data - 1, 1);
    assert_int_equal(csum_finish(s), one_shot(data, sizeof data));
}

/* Writing the checksum into the data makes the whole sum verify as zero. */
static void test_checksum_verifies(void **state)
{
    uint64_t seed = 5;
    uint8_t data[128];
    for (size_t len = 4; len <= sizeof data; len++) {
        rng_fill(&seed, data, len);
        be16_put(data + 2, 0);
        be16_put(data + 2, one_shot(data, len));
        assert_int_equal(one_shot(data, len), 0);
    }
}

/* The pseudo-header built by hand: src, dst, zero, proto, length. */
static uint32_t pseudo_by_hand(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint8_t ph[12];
    be32_put(ph, src);
    be32_put(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    be16_put(ph + 10, len);
    return csum_add(0, ph, sizeof ph);
}

static void test_pseudo_header(void **state)
{
    static const struct {
        uint32_t src, dst;
        uint8_t proto;
        uint16_t len;
    } cases[] = {
        {0x0a000001, 0x0a000002, IP_PROTO_UDP, 13},
        {0xc0a80001, 0xc0a800c7, IP_PROTO_TCP, 20},
        {0, 0, 0, 0},
        {0xffffffffu, 0xffffffffu, 0xff, 0xffff},
        {0x7f000001, 0x7f000001, IP_PROTO_ICMP, 8},
        {0xfffe0001, 0x0001fffe, IP_PROTO_UDP, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t a = csum_pseudo_ipv4(cases[i].src, cases[i].dst, cases[i].proto, cases[i].len);
        uint32_t b = pseudo_by_hand(cases[i].src, cases[i].dst, cases[i].proto, cases[i].len);
        assert_int_equal(csum_finish(a), csum_finish(b));
    }
    /* Known answer: 10.0.0.1 -> 10.0.0.2, UDP, length 13:
     * 0a00+0001+0a00+0002+0011+000d = 1421. */
    assert_int_equal(csum_finish(csum_pseudo_ipv4(0x0a000001, 0x0a000002, 17, 13)),
                     (uint16_t)~0x1421);

    uint64_t seed = 31337;
    for (int i = 0; i < 10000; i++) {
        uint32_t src = (uint32_t)rng_next(&seed), dst = (uint32_t)rng_next(&seed);
        uint8_t proto = (uint8_t)rng_next(&seed);
        uint16_t len = (uint16_t)rng_next(&seed);
        assert_int_equal(csum_finish(csum_pseudo_ipv4(src, dst, proto, len)),
                         csum_finish(pseudo_by_hand(src, dst, proto, len)));
    }
}

/* The pseudo-header sum is a starting point for csum_add: a UDP datagram
 * summed after it equals one buffer with the pseudo-header in front. */
static void test_pseudo_header_chained(void **state)
{
    uint64_t seed = 8;
    uint8_t joined[12 + 41];
    for (size_t len = 8; len <= 41; len++) {
        uint32_t src = (uint32_t)rng_next(&seed), dst = (uint32_t)rng_next(&seed);
        be32_put(joined, src);
        be32_put(joined + 4, dst);
        joined[8] = 0;
        joined[9] = IP_PROTO_UDP;
        be16_put(joined + 10, (uint16_t)len);
        rng_fill(&seed, joined + 12, len);
        uint32_t s = csum_add(csum_pseudo_ipv4(src, dst, IP_PROTO_UDP, (uint16_t)len),
                              joined + 12, len);
        assert_int_equal(csum_finish(s), one_shot(joined, 12 + len));
        assert_int_equal(csum_finish(s), ref_checksum(joined, 12 + len));
    }
}

static void test_be_accessors(void **state)
{
    uint8_t b[4] = {0};
    be16_put(b, 0x1234);
    assert_int_equal(b[0], 0x12);
    assert_int_equal(b[1], 0x34);
    assert_int_equal(be16_get(b), 0x1234);
    be32_put(b, 0xdeadbeefu);
    assert_int_equal(b[0], 0xde);
    assert_int_equal(b[3], 0xef);
    assert_int_equal(be32_get(b), 0xdeadbeefu);
    be32_put(b, 0xffffffffu);
    assert_int_equal(be32_get(b), 0xffffffffu);
    assert_int_equal(be16_get(b), 0xffff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1071_example),
        cmocka_unit_test(test_rfc1071_byte_order_independence),
        cmocka_unit_test(test_ipv4_header_known_answer),
        cmocka_unit_test(test_empty_and_zeros),
        cmocka_unit_test(test_odd_lengths),
        cmocka_unit_test(test_odd_length_equals_zero_padding),
        cmocka_unit_test(test_carries_fold),
        cmocka_unit_test(test_large_buffer),
        cmocka_unit_test(test_incremental_equals_one_shot),
        cmocka_unit_test(test_checksum_verifies),
        cmocka_unit_test(test_pseudo_header),
        cmocka_unit_test(test_pseudo_header_chained),
        cmocka_unit_test(test_be_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
