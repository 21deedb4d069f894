/* Unit tests for the Ethernet II header and MAC address text forms: round
 * trips, every truncated length, 802.3 length fields, the group-address
 * predicates, and the text parser fed good and bad input. */
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

static const uint8_t MAC_A[ETHER_ADDR_LEN] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};
static const uint8_t MAC_B[ETHER_ADDR_LEN] = {0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e};
static const uint8_t MAC_BCAST[ETHER_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void test_emit_bytes(void **state)
{
    struct ether_repr r;
    memcpy(r.dst, MAC_B, ETHER_ADDR_LEN);
    memcpy(r.src, MAC_A, ETHER_ADDR_LEN);
    r.ethertype = ETHERTYPE_IPV4;
    uint8_t buf[ETHER_HDR_LEN + 2];
    memset(buf, 0xaa, sizeof buf);
    ether_emit(&r, buf);
    static const uint8_t want[ETHER_HDR_LEN] = {0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x02,
                                                0x00, 0x5e, 0x10, 0x20, 0x30, 0x08, 0x00};
    assert_memory_equal(buf, want, ETHER_HDR_LEN);
    /* Exactly ETHER_HDR_LEN bytes are written. */
    assert_int_equal(buf[ETHER_HDR_LEN], 0xaa);
    assert_int_equal(buf[ETHER_HDR_LEN + 1], 0xaa);
}

static void test_round_trip(void **state)
{
    static const uint16_t types[] = {ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6, 0x0600,
                                     0x88cc, 0xffff};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct ether_repr r, p;
        memcpy(r.dst, MAC_BCAST, ETHER_ADDR_LEN);
        memcpy(r.src, MAC_A, ETHER_ADDR_LEN);
        r.ethertype = types[i];
        uint8_t buf[ETHER_HDR_LEN];
        ether_emit(&r, buf);
        memset(&p, 0, sizeof p);
        assert_int_equal(ether_parse(buf, sizeof buf, &p), WIRE_OK);
        assert_memory_equal(p.dst, r.dst, ETHER_ADDR_LEN);
        assert_memory_equal(p.src, r.src, ETHER_ADDR_LEN);
        assert_int_equal(p.ethertype, types[i]);
    }
}

/* A minimum-size frame with payload parses; the payload is not the header's. */
static void test_parse_with_payload(void **state)
{
    uint8_t frame[60];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t)i;
    be16_put(frame + 12, ETHERTYPE_ARP);
    struct ether_repr p;
    assert_int_equal(ether_parse(frame, sizeof frame, &p), WIRE_OK);
    assert_memory_equal(p.dst, frame, 6);
    assert_memory_equal(p.src, frame + 6, 6);
    assert_int_equal(p.ethertype, ETHERTYPE_ARP);
}

static void test_every_truncation(void **state)
{
    uint8_t frame[ETHER_HDR_LEN];
    struct ether_repr r;
    memcpy(r.dst, MAC_B, ETHER_ADDR_LEN);
    memcpy(r.src, MAC_A, ETHER_ADDR_LEN);
    r.ethertype = ETHERTYPE_IPV4;
    ether_emit(&r, frame);
    for (size_t len = 0; len < ETHER_HDR_LEN; len++) {
        /* A heap copy of exactly len bytes, so ASan sees any over-read. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, frame, len);
        struct ether_repr p;
        assert_int_equal(ether_parse(copy, len, &p), WIRE_TRUNCATED);
        free(copy);
    }
    struct ether_repr p;
    assert_int_equal(ether_parse(frame, ETHER_HDR_LEN, &p), WIRE_OK);
}

/* Values up to 1500 are 802.3 lengths, 1501..1535 are undefined: neither is
 * an Ethernet II type. */
static void test_8023_length_field(void **state)
{
    uint8_t frame[ETHER_HDR_LEN] = {0};
    struct ether_repr p;
    for (uint32_t t = 0; t <= 0xffff; t++) {
        be16_put(frame + 12, (uint16_t)t);
        enum wire_err e = ether_parse(frame, sizeof frame, &p);
        if (t < 0x0600)
            assert_int_equal(e, WIRE_UNSUPPORTED);
        else
            assert_int_equal(e, WIRE_OK);
    }
}

static void test_broadcast_predicate(void **state)
{
    assert_true(ether_is_broadcast(MAC_BCAST));
    assert_false(ether_is_broadcast(MAC_A));
    assert_false(ether_is_broadcast(MAC_B));
    static const uint8_t zero[ETHER_ADDR_LEN] = {0};
    assert_false(ether_is_broadcast(zero));
    /* One byte short of all ones, at each position. */
    for (int i = 0; i < ETHER_ADDR_LEN; i++) {
        uint8_t m[ETHER_ADDR_LEN];
        memcpy(m, MAC_BCAST, ETHER_ADDR_LEN);
        m[i] = 0xfe;
        assert_false(ether_is_broadcast(m));
        m[i] = 0x7f;
        assert_false(ether_is_broadcast(m));
    }
}

static void test_multicast_predicate(void **state)
{
    static const uint8_t ipv4_mc[ETHER_ADDR_LEN] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t ipv6_mc[ETHER_ADDR_LEN] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
    static const uint8_t stp[ETHER_ADDR_LEN] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00};
    static const uint8_t zero[ETHER_ADDR_LEN] = {0};
    static const uint8_t group_rest_ones[ETHER_ADDR_LEN] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_true(ether_is_multicast(ipv4_mc));
    assert_true(ether_is_multicast(ipv6_mc));
    assert_true(ether_is_multicast(stp));
    assert_true(ether_is_multicast(group_rest_ones));
    assert_false(ether_is_multicast(MAC_A)); /* locally administered unicast */
    assert_false(ether_is_multicast(MAC_B));
    assert_false(ether_is_multicast(zero));
    /* Broadcast is its own class: not reported as multicast. */
    assert_false(ether_is_multicast(MAC_BCAST));

    /* The group bit alone decides, apart from broadcast. */
    for (int b0 = 0; b0 < 256; b0++) {
        uint8_t m[ETHER_ADDR_LEN] = {(uint8_t)b0, 0x12, 0x34, 0x56, 0x78, 0x9a};
        assert_int_equal(ether_is_multicast(m), (b0 & 1) != 0);
        assert_false(ether_is_broadcast(m));
    }
}

static void test_fmt(void **state)
{
    char out[18];
    ether_fmt(MAC_B, out, sizeof out);
    assert_string_equal(out, "00:1a:2b:3c:4d:5e");
    ether_fmt(MAC_BCAST, out, sizeof out);
    assert_string_equal(out, "ff:ff:ff:ff:ff:ff");
    static const uint8_t zero[ETHER_ADDR_LEN] = {0};
    ether_fmt(zero, out, sizeof out);
    assert_string_equal(out, "00:00:00:00:00:00");

    /* A short buffer gets a terminated prefix and nothing past its end. */
    char small[8];
    memset(small, 'x', sizeof small);
    ether_fmt(MAC_B, small, 6);
    assert_string_equal(small, "00:1a");
    assert_int_equal(small[6], 'x');
    assert_int_equal(small[7], 'x');
}

static void test_parse_good(void **state)
{
    uint8_t mac[ETHER_ADDR_LEN];
    assert_true(ether_addr_parse("00:1a:2b:3c:4d:5e", mac));
    assert_memory_equal(mac, MAC_B, ETHER_ADDR_LEN);
    assert_true(ether_addr_parse("00:1A:2B:3C:4D:5E", mac));
    assert_memory_equal(mac, MAC_B, ETHER_ADDR_LEN);
    assert_true(ether_addr_parse("00:1a:2B:3c:4D:5e", mac));
    assert_memory_equal(mac, MAC_B, ETHER_ADDR_LEN);
    assert_true(ether_addr_parse("ff:ff:ff:ff:ff:ff", mac));
    assert_true(ether_is_broadcast(mac));
    assert_true(ether_addr_parse("00:00:00:00:00:00", mac));
    static const uint8_t zero[ETHER_ADDR_LEN] = {0};
    assert_memory_equal(mac, zero, ETHER_ADDR_LEN);
    assert_true(ether_addr_parse("09:af:AF:90:0a:a0", mac));
    static const uint8_t edge[ETHER_ADDR_LEN] = {0x09, 0xaf, 0xaf, 0x90, 0x0a, 0xa0};
    assert_memory_equal(mac, edge, ETHER_ADDR_LEN);
}

static void test_fmt_parse_round_trip(void **state)
{
    uint64_t seed = 0xe7e7;
    for (int i = 0; i < 5000; i++) {
        uint8_t m[ETHER_ADDR_LEN], back[ETHER_ADDR_LEN];
        uint64_t v = rng_next(&seed);
        for (int j = 0; j < ETHER_ADDR_LEN; j++)
            m[j] = (uint8_t)(v >> (8 * j));
        char text[18];
        ether_fmt(m, text, sizeof text);
        assert_int_equal(strlen(text), 17);
        assert_true(ether_addr_parse(text, back));
        assert_memory_equal(m, back, ETHER_ADDR_LEN);
    }
}

static void test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        ":",
        "0",
        "00:11:22:33:44",
        "00:11:22:33:44:5",
        "00:11:22:33:44:",
        "00:11:22:33:44:55:",
        "00:11:22:33:44:55:66",
        "00:11:22:33:44:555",
        "00:11:22:33:44:55 ",
        " 00:11:22:33:44:55",
        "00:11:22:33:44:55\n",
        "0g:11:22:33:44:55",
        "00:11:22:33:44:5g",
        "00:11:22:3x:44:55",
        "zz:zz:zz:zz:zz:zz",
        "00:11:22:33:44:-5",
        "00:11:22:33:44:+5",
        "0x:11:22:33:44:55",
        "00-11-22-33-44-55",
        "00.11.22.33.44.55",
        "00 11 22 33 44 55",
        "00:11-22:33:44:55",
        "00:11:22:33:44-55",
        "00:11:22:33:44::5",
        "0:011:22:33:44:55",
        "000:11:22:33:44:5",
        "::00:11:22:33:445",
        "001122334455",
        "0011.2233.4455",
        "0:1:2:3:4:5",
        "00:11:22:33:44:5:",
        "00:11:22:33:4\x00:55",
        "\xff\xff:11:22:33:44:55",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t mac[ETHER_ADDR_LEN];
        memset(mac, 0xa5, sizeof mac);
        if (ether_addr_parse(bad[i], mac))
            fail_msg("accepted \"%s\"", bad[i]);
        /* A rejected text leaves the output untouched. */
        for (int j = 0; j < ETHER_ADDR_LEN; j++)
            assert_int_equal(mac[j], 0xa5);
    }
}

/* Every single character of a good address replaced by every other byte:
 * accepted only when the result is still hex in the hex places. */
static void test_parse_each_character(void **state)
{
    const char *good = "01:23:45:67:89:ab";
    for (int pos = 0; pos < 17; pos++) {
        for (int c = 1; c < 256; c++) {
            char text[18];
            memcpy(text, good, sizeof text);
            text[pos] = (char)c;
            bool is_sep = pos % 3 == 2;
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            bool want = is_sep ? c == ':' : hex;
            uint8_t mac[ETHER_ADDR_LEN];
            if (ether_addr_parse(text, mac) != want)
                fail_msg("\"%s\": want %d", text, want);
        }
    }
}

static void test_wire_err_names(void **state)
{
    for (int e = WIRE_OK; e <= WIRE_UNSUPPORTED; e++) {
        const char *name = wire_err_name((enum wire_err)e);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_string_not_equal(name, "unknown");
        for (int f = WIRE_OK; f < e; f++)
            assert_string_not_equal(name, wire_err_name((enum wire_err)f));
    }
    assert_string_equal(wire_err_name(WIRE_OK), "ok");
    assert_string_equal(wire_err_name(WIRE_TRUNCATED), "truncated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emit_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_with_payload),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_8023_length_field),
        cmocka_unit_test(test_broadcast_predicate),
        cmocka_unit_test(test_multicast_predicate),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_fmt_parse_round_trip),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_each_character),
        cmocka_unit_test(test_wire_err_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
