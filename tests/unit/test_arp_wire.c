/* Unit tests for ARP over Ethernet/IPv4 (RFC 826): requests and replies
 * against hand-written bytes, every truncated length, and each fixed field
 * (hardware type, protocol type, address lengths, opcode) set wrong. */
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

static const uint8_t MAC_A[ETHER_ADDR_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t MAC_B[ETHER_ADDR_LEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t MAC_ZERO[ETHER_ADDR_LEN] = {0};

/* who-has 10.0.0.2 tell 10.0.0.1, from MAC_A */
static const uint8_t REQUEST[ARP_PKT_LEN] = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,             /* eth, ipv4, 6, 4, req */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x0a, 0x00, 0x00, 0x01, /* sha, spa */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, /* tha, tpa */
};

/* 10.0.0.2 is-at MAC_B, to MAC_A at 10.0.0.1 */
static const uint8_t REPLY[ARP_PKT_LEN] = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x02,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x0a, 0x00, 0x00, 0x01,
};

static void test_request_round_trip(void **state)
{
    struct arp_repr r = {.op = ARP_OP_REQUEST, .spa = 0x0a000001, .tpa = 0x0a000002};
    memcpy(r.sha, MAC_A, ETHER_ADDR_LEN);
    memcpy(r.tha, MAC_ZERO, ETHER_ADDR_LEN);
    uint8_t buf[ARP_PKT_LEN + 4];
    memset(buf, 0xcc, sizeof buf);
    arp_emit(&r, buf);
    assert_memory_equal(buf, REQUEST, ARP_PKT_LEN);
    for (size_t i = ARP_PKT_LEN; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xcc);

    struct arp_repr p;
    memset(&p, 0xee, sizeof p);
    assert_int_equal(arp_parse(buf, ARP_PKT_LEN, &p), WIRE_OK);
    assert_int_equal(p.op, ARP_OP_REQUEST);
    assert_memory_equal(p.sha, MAC_A, ETHER_ADDR_LEN);
    assert_memory_equal(p.tha, MAC_ZERO, ETHER_ADDR_LEN);
    assert_int_equal(p.spa, 0x0a000001);
    assert_int_equal(p.tpa, 0x0a000002);
}

static void test_reply_round_trip(void **state)
{
    struct arp_repr p;
    assert_int_equal(arp_parse(REPLY, sizeof REPLY, &p), WIRE_OK);
    assert_int_equal(p.op, ARP_OP_REPLY);
    assert_memory_equal(p.sha, MAC_B, ETHER_ADDR_LEN);
    assert_memory_equal(p.tha, MAC_A, ETHER_ADDR_LEN);
    assert_int_equal(p.spa, 0x0a000002);
    assert_int_equal(p.tpa, 0x0a000001);

    uint8_t buf[ARP_PKT_LEN];
    arp_emit(&p, buf);
    assert_memory_equal(buf, REPLY, ARP_PKT_LEN);
}

/* Addresses at their extremes survive the round trip unchanged. */
static void test_round_trip_extremes(void **state)
{
    static const uint32_t addrs[] = {0, 1, 0x7f000001, 0x80000000u, 0xfffffffeu, 0xffffffffu};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        struct arp_repr r = {.op = (uint16_t)(i % 2 ? ARP_OP_REPLY : ARP_OP_REQUEST),
                             .spa = addrs[i],
                             .tpa = ~addrs[i]};
        memset(r.sha, (int)(0x11 * i), ETHER_ADDR_LEN);
        memset(r.tha, 0xff, ETHER_ADDR_LEN);
        uint8_t buf[ARP_PKT_LEN];
        arp_emit(&r, buf);
        struct arp_repr p;
        assert_int_equal(arp_parse(buf, sizeof buf, &p), WIRE_OK);
        assert_int_equal(p.op, r.op);
        assert_int_equal(p.spa, r.spa);
        assert_int_equal(p.tpa, r.tpa);
        assert_memory_equal(p.sha, r.sha, ETHER_ADDR_LEN);
        assert_memory_equal(p.tha, r.tha, ETHER_ADDR_LEN);
    }
}

static void test_every_truncation(void **state)
{
    for (size_t len = 0; len < ARP_PKT_LEN; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, REQUEST, len);
        struct arp_repr p;
        assert_int_equal(arp_parse(copy, len, &p), WIRE_TRUNCATED);
        free(copy);
    }
}

/* Ethernet pads a 28-byte ARP packet to 46 bytes: the padding is ignored. */
static void test_padding_accepted(void **state)
{
    uint8_t frame[46];
    memset(frame, 0x5a, sizeof frame);
    memcpy(frame, REPLY, ARP_PKT_LEN);
    struct arp_repr p;
    assert_int_equal(arp_parse(frame, sizeof frame, &p), WIRE_OK);
    assert_int_equal(p.op, ARP_OP_REPLY);
    assert_int_equal(p.tpa, 0x0a000001);
}

static enum wire_err parse_with_u16(size_t off, uint16_t v)
{
    uint8_t buf[ARP_PKT_LEN];
    memcpy(buf, REQUEST, sizeof buf);
    be16_put(buf + off, v);
    struct arp_repr p;
    return arp_parse(buf, sizeof buf, &p);
}

static enum wire_err parse_with_u8(size_t off, uint8_t v)
{
    uint8_t buf[ARP_PKT_LEN];
    memcpy(buf, REQUEST, sizeof buf);
    buf[off] = v;
    struct arp_repr p;
    return arp_parse(buf, sizeof buf, &p);
}

static void test_wrong_htype(void **state)
{
    /* 0, IEEE 802 (6), byte-swapped Ethernet, and every other value. */
    assert_int_equal(parse_with_u16(0, 0), WIRE_UNSUPPORTED);
    assert_int_equal(parse_with_u16(0, 6), WIRE_UNSUPPORTED);
    assert_int_equal(parse_with_u16(0, 0x0100), WIRE_UNSUPPORTED);
    for (uint32_t v = 0; v <= 0xffff; v++) {
        enum wire_err e = parse_with_u16(0, (uint16_t)v);
        assert_int_equal(e, v == 1 ? WIRE_OK : WIRE_UNSUPPORTED);
    }
}

static void test_wrong_ptype(void **state)
{
    assert_int_equal(parse_with_u16(2, ETHERTYPE_IPV6), WIRE_UNSUPPORTED);
    assert_int_equal(parse_with_u16(2, ETHERTYPE_ARP), WIRE_UNSUPPORTED);
    assert_int_equal(parse_with_u16(2, 0x0008), WIRE_UNSUPPORTED);
    for (uint32_t v = 0; v <= 0xffff; v++) {
        enum wire_err e = parse_with_u16(2, (uint16_t)v);
        assert_int_equal(e, v == ETHERTYPE_IPV4 ? WIRE_OK : WIRE_UNSUPPORTED);
    }
}

static void test_wrong_hlen(void **state)
{
    for (int v = 0; v < 256; v++)
        assert_int_equal(parse_with_u8(4, (uint8_t)v), v == 6 ? WIRE_OK : WIRE_UNSUPPORTED);
}

static void test_wrong_plen(void **state)
{
    for (int v = 0; v < 256; v++)
        assert_int_equal(parse_with_u8(5, (uint8_t)v), v == 4 ? WIRE_OK : WIRE_UNSUPPORTED);
}

static void test_wrong_op(void **state)
{
    /* 0, RARP request/reply (3, 4), InARP (8, 9), byte-swapped, and all. */
    static const uint16_t bad[] = {0, 3, 4, 8, 9, 0x0100, 0x0200, 0xffff};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_with_u16(6, bad[i]), WIRE_UNSUPPORTED);
    for (uint32_t v = 0; v <= 0xffff; v++) {
        enum wire_err e = parse_with_u16(6, (uint16_t)v);
        bool ok = v == ARP_OP_REQUEST || v == ARP_OP_REPLY;
        assert_int_equal(e, ok ? WIRE_OK : WIRE_UNSUPPORTED);
    }
}

/* The address fields are data: any bytes there parse. */
static void test_address_bytes_are_free(void **state)
{
    for (size_t off = 8; off < ARP_PKT_LEN; off++) {
        for (int v = 0; v < 256; v += 17) {
            uint8_t buf[ARP_PKT_LEN];
            memcpy(buf, REPLY, sizeof buf);
            buf[off] = (uint8_t)v;
            struct arp_repr p;
            assert_int_equal(arp_parse(buf, sizeof buf, &p), WIRE_OK);
            uint8_t back[ARP_PKT_LEN];
            arp_emit(&p, back);
            assert_memory_equal(back, buf, ARP_PKT_LEN);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_round_trip_extremes),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_padding_accepted),
        cmocka_unit_test(test_wrong_htype),
        cmocka_unit_test(test_wrong_ptype),
        cmocka_unit_test(test_wrong_hlen),
        cmocka_unit_test(test_wrong_plen),
        cmocka_unit_test(test_wrong_op),
        cmocka_unit_test(test_address_bytes_are_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
