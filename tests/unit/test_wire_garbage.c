/* Garbage in, no crash out: a seeded loop feeds random lengths of random
 * bytes to every wire parser, each in a heap buffer of exactly that length
 * so that the ASan build catches any read past the end. A share of the
 * inputs is shaped to pass the early checks (version, lengths, checksum) so
 * the deeper code runs too. Whatever a parser accepts must satisfy the
 * invariants its representation promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

#define ITERATIONS 200000
#define MAX_LEN 2000
#define SEED 0x9e3779b97f4a7c15u

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng_next(s) % n);
}

static void rng_fill(uint64_t *s, uint8_t *buf, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = rng_next(s);
        memcpy(buf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = rng_next(s);
        memcpy(buf + i, &v, len - i);
    }
}

/* ---- shaping: make random bytes look enough like a header to get past
 * the first checks ---- */

static void shape_ipv4(uint64_t *s, uint8_t *buf, size_t len)
{
    if (len < 1)
        return;
    size_t ihl = rng_below(s, 4) == 0 ? rng_below(s, 16) : 5 + rng_below(s, 11);
    buf[0] = (uint8_t)(0x40 | ihl);
    if (len < IPV4_HDR_MIN)
        return;
    /* Mostly a total length that fits, sometimes anything. */
    uint16_t tl = rng_below(s, 8) == 0 ? (uint16_t)rng_next(s)
                                       : (uint16_t)(ihl * 4 + rng_below(s, (uint32_t)len + 1));
    be16_put(buf + 2, tl);
    if (rng_below(s, 2))
        buf[6] &= 0x7f; /* clear the reserved flag */
    if (rng_below(s, 2))
        buf[6] &= 0xe0; /* and the offset high bits */
    if (rng_below(s, 2))
        buf[12] &= 0xdf; /* a unicast-looking source */
    /* Options drawn from the interesting kinds: EOL, NOP, short lengths. */
    for (size_t i = IPV4_HDR_MIN; i < ihl * 4 && i < len; i++) {
        switch (rng_below(s, 6)) {
        case 0: buf[i] = 0; break;
        case 1: buf[i] = 1; break;
        case 2: buf[i] = (uint8_t)rng_below(s, 6); break;
        default: break;
        }
    }
    if (ihl * 4 <= len && ihl >= 5 && rng_below(s, 8) != 0) {
        be16_put(buf + 10, 0);
        be16_put(buf + 10, csum_finish(csum_add(0, buf, ihl * 4)));
    }
}

static void shape_udp(uint64_t *s, uint8_t *buf, size_t len, uint32_t src, uint32_t dst)
{
    if (len < UDP_HDR_LEN)
        return;
    uint16_t ulen = rng_below(s, 8) == 0 ? (uint16_t)rng_next(s)
                                         : (uint16_t)rng_below(s, (uint32_t)len + 9);
    be16_put(buf + 4, ulen);
    switch (rng_below(s, 3)) {
    case 0: be16_put(buf + 6, 0); break;
    case 1:
        if (ulen >= UDP_HDR_LEN && ulen <= len) {
            be16_put(buf + 6, 0);
            uint16_t c = csum_finish(csum_add(csum_pseudo_ipv4(src, dst, IP_PROTO_UDP, ulen),
                                              buf, ulen));
            be16_put(buf + 6, c);
        }
        break;
    default: break;
    }
}

static void shape_icmp(uint8_t *buf, size_t len)
{
    if (len < ICMP_HDR_LEN)
        return;
    be16_put(buf + 2, 0);
    be16_put(buf + 2, csum_finish(csum_add(0, buf, len)));
}

static void shape_arp(uint64_t *s, uint8_t *buf, size_t len)
{
    if (len < ARP_PKT_LEN)
        return;
    static const uint8_t fixed[6] = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04};
    memcpy(buf, fixed, sizeof fixed);
    be16_put(buf + 6, (uint16_t)rng_below(s, 4));
}

/* ---- one input through every parser ---- */

struct counts {
    unsigned long ok[5];
};

static void check_ether(const uint8_t *buf, size_t len, struct counts *c)
{
    struct ether_repr r;
    enum wire_err e = ether_parse(buf, len, &r);
    assert_in_range(e, WIRE_OK, WIRE_UNSUPPORTED);
    if (e != WIRE_OK)
        return;
    c->ok[0]++;
    assert_true(len >= ETHER_HDR_LEN);
    assert_true(r.ethertype >= 0x0600);
    uint8_t out[ETHER_HDR_LEN];
    ether_emit(&r, out);
    assert_memory_equal(out, buf, ETHER_HDR_LEN);
}

static void check_arp(const uint8_t *buf, size_t len, struct counts *c)
{
    struct arp_repr r;
    enum wire_err e = arp_parse(buf, len, &r);
    assert_in_range(e, WIRE_OK, WIRE_UNSUPPORTED);
    if (e != WIRE_OK)
        return;
    c->ok[1]++;
    assert_true(len >= ARP_PKT_LEN);
    assert_true(r.op == ARP_OP_REQUEST || r.op == ARP_OP_REPLY);
    uint8_t out[ARP_PKT_LEN];
    arp_emit(&r, out);
    assert_memory_equal(out, buf, ARP_PKT_LEN);
}

static void check_ipv4(const uint8_t *buf, size_t len, struct counts *c)
{
    struct ipv4_repr r;
    enum wire_err e = ipv4_parse(buf, len, &r);
    assert_in_range(e, WIRE_OK, WIRE_UNSUPPORTED);
    if (e != WIRE_OK)
        return;
    c->ok[2]++;
    assert_true(r.hdr_len >= IPV4_HDR_MIN && r.hdr_len <= IPV4_HDR_MAX);
    assert_int_equal(r.hdr_len % 4, 0);
    assert_true(r.hdr_len <= r.total_len);
    assert_true(r.total_len <= len);
    assert_int_equal(r.options_len, r.hdr_len - IPV4_HDR_MIN);
    if (r.options_len > 0)
        assert_ptr_equal(r.options, buf + IPV4_HDR_MIN);
    else
        assert_null(r.options);
    assert_true(r.src >> 28 < 0xe);
    assert_true((size_t)r.frag_offset + r.total_len <= IPV4_MAX_DATAGRAM);
    assert_int_equal(csum_finish(csum_add(0, buf, r.hdr_len)), 0);
    /* Emitting what was parsed gives back the header, checksum aside (0000
     * and ffff are the same one's complement value). */
    if (r.hdr_len == IPV4_HDR_MIN) {
        uint8_t out[IPV4_HDR_MIN];
        ipv4_emit(&r, out);
        assert_memory_equal(out, buf, 10);
        assert_memory_equal(out + 12, buf + 12, 8);
        assert_int_equal(csum_finish(csum_add(0, out, IPV4_HDR_MIN)), 0);
    }
}

static void check_icmp(const uint8_t *buf, size_t len, struct counts *c)
{
    struct icmp_repr r;
    enum wire_err e = icmp_parse(buf, len, &r);
    assert_in_range(e, WIRE_OK, WIRE_UNSUPPORTED);
    if (e != WIRE_OK)
        return;
    c->ok[3]++;
    assert_true(len >= ICMP_HDR_LEN);
    assert_ptr_equal(r.data, buf + ICMP_HDR_LEN);
    assert_int_equal(r.data_len, len - ICMP_HDR_LEN);
    assert_int_equal(r.type, buf[0]);
    assert_int_equal(r.code, buf[1]);
}

static void check_udp(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                      struct counts *c)
{
    struct udp_repr r;
    enum wire_err e = udp_parse_ipv4(buf, len, src, dst, &r);
    assert_in_range(e, WIRE_OK, WIRE_UNSUPPORTED);
    if (e != WIRE_OK)
        return;
    c->ok[4]++;
    assert_true(len >= UDP_HDR_LEN);
    assert_ptr_equal(r.payload, buf + UDP_HDR_LEN);
    assert_true(UDP_HDR_LEN + r.payload_len <= len);
    assert_int_equal(UDP_HDR_LEN + r.payload_len, be16_get(buf + 4));
    assert_int_not_equal(r.dst_port, 0);
}

static void test_garbage_parsers(void **state)
{
    uint64_t seed = SEED;
    struct counts c = {{0}};
    for (long it = 0; it < ITERATIONS; it++) {
        size_t len = rng_below(&seed, MAX_LEN + 1);
        /* Half the time a short one: the edges live below 100 bytes. */
        if (rng_below(&seed, 2))
            len %= 100;
        uint8_t *buf = malloc(len);
        if (len > 0)
            assert_non_null(buf);
        rng_fill(&seed, buf, len);
        uint32_t src = (uint32_t)rng_next(&seed), dst = (uint32_t)rng_next(&seed);

        switch (rng_below(&seed, 8)) {
        case 0: shape_ipv4(&seed, buf, len); break;
        case 1: shape_udp(&seed, buf, len, src, dst); break;
        case 2: shape_icmp(buf, len); break;
        case 3: shape_arp(&seed, buf, len); break;
        default: break; /* raw garbage */
        }

        check_ether(buf, len, &c);
        check_arp(buf, len, &c);
        check_ipv4(buf, len, &c);
        check_icmp(buf, len, &c);
        check_udp(buf, len, src, dst, &c);
        /* The same bytes as an Ethernet payload, as the stack sees them. */
        if (len >= ETHER_HDR_LEN) {
            check_arp(buf + ETHER_HDR_LEN, len - ETHER_HDR_LEN, &c);
            check_ipv4(buf + ETHER_HDR_LEN, len - ETHER_HDR_LEN, &c);
        }
        free(buf);
    }
    print_message("accepted: ether %lu, arp %lu, ipv4 %lu, icmp %lu, udp %lu\n", c.ok[0],
                  c.ok[1], c.ok[2], c.ok[3], c.ok[4]);
    /* The shaping did its job: every parser accepted some inputs, so the
     * code past its early checks was run. */
    for (int i = 0; i < 5; i++) {
        if (c.ok[i] < 100)
            fail_msg("parser %d accepted only %lu inputs", i, c.ok[i]);
    }
}

/* Random text, biased to the characters the address parsers care about. */
static void random_text(uint64_t *s, char *out, size_t cap)
{
    static const char alphabet[] = "0123456789abcdefABCDEF:.:.:. -x";
    size_t n = rng_below(s, (uint32_t)cap);
    int mode = (int)rng_below(s, 4);
    for (size_t i = 0; i < n; i++) {
        if (mode == 0)
            out[i] = (char)(1 + rng_below(s, 255));
        else
            out[i] = alphabet[rng_below(s, sizeof alphabet - 1)];
    }
    out[n] = '\0';
}

/* Shapes text into something close to a valid address, then damages it a
 * little, so that near misses get tried. */
static void near_miss_text(uint64_t *s, char *out, size_t cap, bool mac)
{
    if (mac) {
        uint8_t m[ETHER_ADDR_LEN];
        rng_fill(s, m, sizeof m);
        ether_fmt(m, out, cap);
    } else {
        ipv4_fmt((uint32_t)rng_next(s), out, cap);
    }
    size_t n = strlen(out);
    int edits = (int)rng_below(s, 3);
    for (int k = 0; k < edits && n > 0; k++) {
        size_t at = rng_below(s, (uint32_t)n);
        switch (rng_below(s, 3)) {
        case 0: out[at] = "0123456789af:. "[rng_below(s, 15)]; break;
        case 1: /* delete */
            memmove(out + at, out + at + 1, n - at);
            n--;
            break;
        default: /* insert */
            if (n + 1 < cap) {
                memmove(out + at + 1, out + at, n - at + 1);
                out[at] = "0123456789.:"[rng_below(s, 12)];
                n++;
            }
            break;
        }
    }
}

static void test_garbage_text(void **state)
{
    uint64_t seed = SEED ^ 0x5555;
    unsigned long ip_ok = 0, mac_ok = 0;
    for (long it = 0; it < ITERATIONS; it++) {
        char text[48];
        int kind = (int)rng_below(&seed, 3);
        if (kind == 0)
            random_text(&seed, text, sizeof text - 1);
        else
            near_miss_text(&seed, text, sizeof text - 1, kind == 1);

        /* Exactly the bytes of the string on the heap. */
        size_t n = strlen(text);
        char *copy = malloc(n + 1);
        assert_non_null(copy);
        memcpy(copy, text, n + 1);

        uint32_t addr = 0;
        if (ipv4_addr_parse(copy, &addr)) {
            /* Only the canonical form is accepted. */
            char back[16];
            ipv4_fmt(addr, back, sizeof back);
            assert_string_equal(back, copy);
            ip_ok++;
        }
        uint8_t mac[ETHER_ADDR_LEN];
        if (ether_addr_parse(copy, mac)) {
            char back[18];
            ether_fmt(mac, back, sizeof back);
            assert_int_equal(strcasecmp(back, copy), 0);
            mac_ok++;
        }
        free(copy);
    }
    print_message("accepted: ipv4 text %lu, mac text %lu\n", ip_ok, mac_ok);
    assert_true(ip_ok > 100);
    assert_true(mac_ok > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_parsers),
        cmocka_unit_test(test_garbage_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
