/* Unit tests for ICMPv4 on one stack: echo replies mirror the request,
 * broadcast echoes are ignored, echoes to our own address go over
 * loopback, our own echoes complete, time out, and learn of ICMP errors
 * about them (and only about them), and malformed messages are counted.
 * Frames are forged into the stack's vwire netif and read from the far
 * end of the wire (a second stack that never runs). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "icmp.h"
#include "ipv4.h"
#include "netif.h"
#include "rig.h"
#include "stack.h"
#include "wire/be.h"
#include "wire/wire.h"

static int setup(void **state)
{
    /* The peer's MAC is known (it asked for ours). */
    *state = rig_create(301, 302, RIG_PEER_IP, RIG_LOOPBACK | RIG_LEARN_PEER);
    return 0;
}

/* An IPv4 datagram from src to dst carrying an ICMP message, as a frame
 * to eth_dst; returns its length. */
static size_t build_icmp_frame(uint8_t *f, const uint8_t eth_dst[6], uint32_t src, uint32_t dst,
                               uint8_t type, uint8_t code, uint32_t rest, const uint8_t *data,
                               size_t len)
{
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, eth_dst, 6);
    memcpy(eth.src, rig_peer_mac, 6);
    ether_emit(&eth, f);
    struct ipv4_repr ip = {.hdr_len = IPV4_HDR_MIN,
                           .total_len = (uint16_t)(IPV4_HDR_MIN + ICMP_HDR_LEN + len),
                           .id = 0x4242,
                           .ttl = 64,
                           .proto = IP_PROTO_ICMP,
                           .src = src,
                           .dst = dst};
    ipv4_emit(&ip, f + ETHER_HDR_LEN);
    struct icmp_repr msg = {.type = type, .code = code, .rest = rest, .data = data,
                            .data_len = len};
    icmp_emit(&msg, f + ETHER_HDR_LEN + IPV4_HDR_MIN);
    return ETHER_HDR_LEN + IPV4_HDR_MIN + ICMP_HDR_LEN + len;
}

/* Reads the next frame: IPv4 carrying ICMP, to the peer's MAC. */
static void expect_icmp(struct rig *r, struct ipv4_repr *ip, struct icmp_repr *icmp)
{
    rig_expect_ipv4(r, rig_peer_mac, ip);
    assert_int_equal(ip->proto, IP_PROTO_ICMP);
    assert_int_equal(icmp_parse(rig_rx + ETHER_HDR_LEN + ip->hdr_len,
                                (size_t)ip->total_len - ip->hdr_len, icmp),
                     WIRE_OK);
}

/* Echo outcomes, by cookie. */
#define MAX_ECHO (ICMP_MAX_ECHO_WAITERS + 16)
static struct {
    unsigned calls;
    int result;
    uint64_t rtt;
} echo[MAX_ECHO];

static void echo_done(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    (void)stack;
    assert_true(cookie < MAX_ECHO);
    echo[cookie].calls++;
    echo[cookie].result = result;
    echo[cookie].rtt = rtt_us;
}

/* ---- answering echoes ---- */

static void test_echo_reply_mirrors(void **state)
{
    struct rig *r = *state;
    static const size_t lens[] = {0, 1, 7, 55, 56, 333, 1472};
    static const uint32_t rests[] = {0x12340007u, 0, 0xffffffffu, 0x00010002u, 0xabcd0100u,
                                     0x7fff8000u, 0xbeef0001u};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t data[1472], f[1600];
        for (size_t k = 0; k < lens[i]; k++)
            data[k] = (uint8_t)(k * 13 + i);
        /* A non-zero code in the request: the reply's code is still 0. */
        size_t len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REQUEST,
                                      (uint8_t)(i == 3 ? 5 : 0), rests[i], data, lens[i]);
        rig_deliver(r, f, len);
        struct ipv4_repr ip;
        struct icmp_repr icmp;
        expect_icmp(r, &ip, &icmp);
        assert_int_equal(ip.src, RIG_OUR_IP);
        assert_int_equal(ip.dst, RIG_PEER_IP);
        assert_int_equal(ip.ttl, IPV4_DEFAULT_TTL);
        assert_false(ip.more_fragments);
        assert_int_equal(ip.frag_offset, 0);
        assert_int_equal(icmp.type, ICMP_ECHO_REPLY);
        assert_int_equal(icmp.code, 0);
        assert_int_equal(icmp.rest, rests[i]);
        assert_int_equal(icmp.data_len, lens[i]);
        if (lens[i] > 0)
            assert_memory_equal(icmp.data, data, lens[i]);
        assert_int_equal(rig_recv(r), 0);
    }
    assert_int_equal(r->s->stats.icmp_rx_echo_request, 7);
    assert_int_equal(r->s->stats.icmp_tx_echo_reply, 7);
}

static void test_broadcast_echo_ignored(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    size_t len = build_icmp_frame(f, rig_bcast_mac, RIG_PEER_IP, RIG_BCAST_IP, ICMP_ECHO_REQUEST, 0,
                                  1, NULL, 0);
    rig_deliver(r, f, len);
    len = build_icmp_frame(f, rig_bcast_mac, RIG_PEER_IP, 0xffffffffu, ICMP_ECHO_REQUEST, 0, 2,
                           NULL, 0);
    rig_deliver(r, f, len);
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_BCAST_IP, ICMP_ECHO_REQUEST, 0, 3, NULL,
                           0);
    rig_deliver(r, f, len);
    /* Our own address, sent as a link-layer broadcast. */
    len = build_icmp_frame(f, rig_bcast_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REQUEST, 0, 4, NULL,
                           0);
    rig_deliver(r, f, len);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.icmp_rx_echo_request, 4);
    assert_int_equal(r->s->stats.icmp_tx_echo_reply, 0);
    /* Multicast is not for us at all. */
    len = build_icmp_frame(f, rig_bcast_mac, RIG_PEER_IP, 0xe0000001u, ICMP_ECHO_REQUEST, 0, 5,
                           NULL, 0);
    rig_deliver(r, f, len);
    assert_int_equal(r->s->stats.icmp_rx_echo_request, 4);
    assert_int_equal(rig_recv(r), 0);
}

static void test_echo_over_loopback(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    /* Our own link address, 127.0.0.1 and another 127/8 address. */
    assert_int_equal(icmp_echo_start(r->s, RIG_OUR_IP, 1, 56, 1000000, echo_done, 0), 0);
    assert_int_equal(icmp_echo_start(r->s, 0x7f000001u, 2, 56, 1000000, echo_done, 1), 0);
    assert_int_equal(icmp_echo_start(r->s, 0x7f010203u, 3, 0, 1000000, echo_done, 2), 0);
    /* Large: no fragmentation on loopback, but it is still the whole echo. */
    assert_int_equal(icmp_echo_start(r->s, RIG_OUR_IP, 4, 8000, 1000000, echo_done, 3), 0);
    assert_int_equal(icmp_echo_start(r->s, RIG_OUR_IP, 5, 65507, 1000000, echo_done, 4), 0);
    rig_run(r, r->now);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(echo[i].calls, 1);
        assert_int_equal(echo[i].result, 0);
        assert_int_equal(echo[i].rtt, 0);
    }
    /* Nothing went onto the link. */
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.ipv4_tx_fragments, 0);
    assert_int_equal(r->s->stats.icmp_rx_echo_request, 5);
    assert_int_equal(r->s->stats.icmp_rx_echo_reply, 5);
    rig_run(r, r->now + 2000000);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(echo[i].calls, 1);
}

/* ---- our echoes ---- */

/* Starts an echo to dst and returns the frame that carried it (in f). */
static size_t start_and_capture(struct rig *r, uint32_t dst, uint16_t seq, size_t len,
                                uint64_t cookie, uint8_t *f)
{
    assert_int_equal(icmp_echo_start(r->s, dst, seq, len, 5000000, echo_done, cookie), 0);
    size_t n = rig_recv(r);
    assert_true(n > ETHER_HDR_LEN + IPV4_HDR_MIN + ICMP_HDR_LEN);
    memcpy(f, rig_rx, n);
    return n;
}

/* An ICMP error from src about the datagram in frame sent, quoting its
 * header and quote_len bytes of its payload. */
static void deliver_error(struct rig *r, uint32_t src, uint8_t type, uint8_t code,
                          const uint8_t *sent, size_t quote_len)
{
    const uint8_t *ip = sent + ETHER_HDR_LEN;
    size_t hdr_len = (size_t)(ip[0] & 0x0f) * 4;
    uint8_t quote[IPV4_HDR_MAX + 576];
    assert_true(hdr_len + quote_len <= sizeof(quote));
    memcpy(quote, ip, hdr_len + quote_len);
    uint8_t f[1024];
    size_t len = build_icmp_frame(f, rig_our_mac, src, RIG_OUR_IP, type, code, 0, quote,
                                  hdr_len + quote_len);
    rig_deliver(r, f, len);
}

static void test_errors_reach_waiter(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    static const struct {
        uint8_t type, code;
        int err;
    } cases[] = {
        {ICMP_DEST_UNREACH, ICMP_UNREACH_NET, -ENETUNREACH},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, -EHOSTUNREACH},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, -ENOPROTOOPT},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, -ECONNREFUSED},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_FRAG_NEEDED, -EMSGSIZE},
        {ICMP_DEST_UNREACH, 13, -EHOSTUNREACH}, /* administratively prohibited */
        {ICMP_TIME_EXCEEDED, 0, -EHOSTUNREACH},
    };
    uint8_t sent[1600];
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        start_and_capture(r, RIG_PEER_IP, (uint16_t)(10 + i), 56, i, sent);
        deliver_error(r, RIG_PEER_IP, cases[i].type, cases[i].code, sent, 8);
        assert_int_equal(echo[i].calls, 1);
        assert_int_equal(echo[i].result, cases[i].err);
    }
    /* From a router, about an echo to a host beyond it, quoting all of
     * the datagram (as RFC 1812 routers do). */
    start_and_capture(r, RIG_FAR_IP, 30, 100, 20, sent);
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, sent, ICMP_HDR_LEN + 100);
    assert_int_equal(echo[20].calls, 1);
    assert_int_equal(echo[20].result, -EHOSTUNREACH);
    /* Nothing more comes later: the waiters are gone. */
    rig_run(r, r->now + 10000000);
    for (unsigned i = 0; i <= 20; i++)
        assert_true(echo[i].calls <= 1);
    assert_int_equal(rig_recv(r), 0);
}

static void test_errors_not_ours_ignored(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    uint8_t sent[1600], other[1600];
    size_t n = start_and_capture(r, RIG_PEER_IP, 40, 56, 0, sent);
    /* About another sequence number. */
    memcpy(other, sent, n);
    other[ETHER_HDR_LEN + IPV4_HDR_MIN + 7] ^= 1;
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    /* About a datagram from someone else. */
    memcpy(other, sent, n);
    be32_put(other + ETHER_HDR_LEN + 12, 0xc0000209u);
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    /* About one to another destination. */
    memcpy(other, sent, n);
    be32_put(other + ETHER_HDR_LEN + 16, 0xc0000209u);
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    /* Quotes too short to hold a header and 8 bytes, or not IPv4. */
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, sent, 7);
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, sent, 0);
    uint8_t f[128];
    size_t len =
        build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_DEST_UNREACH, 1, 0, NULL, 0);
    rig_deliver(r, f, len);
    memcpy(other, sent, n);
    other[ETHER_HDR_LEN] = 0x65;
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    memcpy(other, sent, n);
    other[ETHER_HDR_LEN] = 0x44;
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    /* A quoted header claiming options it does not quote. */
    memcpy(other, sent, n);
    other[ETHER_HDR_LEN] = 0x4f;
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, other, 8);
    assert_int_equal(echo[0].calls, 0);
    assert_int_equal(r->s->stats.icmp_rx_dest_unreach, 9);
    assert_int_equal(rig_recv(r), 0);
    /* So the echo times out, once. */
    rig_run(r, r->now + 5000000);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, -ETIMEDOUT);
    /* A late error or reply changes nothing. */
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, sent, 8);
    assert_int_equal(echo[0].calls, 1);
}

static void test_error_about_later_fragment_ignored(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    /* An 8000-byte echo leaves in fragments; keep the first and the third. */
    assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, 50, 8000, 5000000, echo_done, 0), 0);
    uint8_t first[1600], third[1600];
    size_t n0 = rig_recv(r);
    memcpy(first, rig_rx, n0);
    assert_true(rig_recv(r) > 0);
    size_t n2 = rig_recv(r);
    memcpy(third, rig_rx, n2);
    rig_drain(r);
    assert_int_equal(be16_get(third + ETHER_HDR_LEN + 6) & IPV4_FRAG_OFFSET_MASK, 2960 / 8);
    /* An error quoting the third fragment, whose first payload bytes look
     * like our echo header: they are data, not an ICMP header. */
    uint8_t forged[1600];
    memcpy(forged, third, n2);
    memcpy(forged + ETHER_HDR_LEN + IPV4_HDR_MIN, first + ETHER_HDR_LEN + IPV4_HDR_MIN, 8);
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, forged, 8);
    assert_int_equal(echo[0].calls, 0);
    /* About the first fragment: that one counts. */
    deliver_error(r, RIG_PEER_IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, first, 8);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, -EHOSTUNREACH);
}

static void test_echo_reply_matching(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    uint8_t sent[1600];
    start_and_capture(r, RIG_PEER_IP, 60, 16, 0, sent);
    const uint8_t *icmp = sent + ETHER_HDR_LEN + IPV4_HDR_MIN;
    uint32_t rest = be32_get(icmp + 4);
    rig_run(r, r->now + 1234);
    uint8_t f[256];
    /* From the wrong address, with the wrong id, with the wrong seq. */
    size_t len = build_icmp_frame(f, rig_our_mac, 0xc0000209u, RIG_OUR_IP, ICMP_ECHO_REPLY, 0, rest,
                                  icmp + 8, 16);
    rig_deliver(r, f, len);
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REPLY, 0,
                           rest ^ 0x10000u, icmp + 8, 16);
    rig_deliver(r, f, len);
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REPLY, 0, rest ^ 1,
                           icmp + 8, 16);
    rig_deliver(r, f, len);
    /* A request with our id and seq is a request, not our reply. */
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REQUEST, 0, rest,
                           icmp + 8, 16);
    rig_deliver(r, f, len);
    assert_int_equal(rig_drain(r), 1); /* which we answer */
    assert_int_equal(echo[0].calls, 0);
    /* The right one, with the round trip measured on the stack's clock. */
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REPLY, 0, rest,
                           icmp + 8, 16);
    rig_deliver(r, f, len);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, 0);
    assert_int_equal(echo[0].rtt, 1234);
    /* A duplicate is ignored. */
    rig_deliver(r, f, len);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(r->s->stats.icmp_rx_echo_reply, 5);
    rig_run(r, r->now + 10000000);
    assert_int_equal(echo[0].calls, 1);
}

static void test_echo_timeout(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    uint64_t start = r->now;
    assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, 70, 8, 2000000, echo_done, 0), 0);
    assert_int_equal(rig_drain(r), 1);
    rig_run(r, start + 1999999);
    assert_int_equal(echo[0].calls, 0);
    rig_run(r, start + 2000000);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, -ETIMEDOUT);
    rig_run(r, start + 9000000);
    assert_int_equal(echo[0].calls, 1);
}

static void test_echo_limits(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++)
        assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, (uint16_t)i, 8, 1000000, echo_done, i),
                         0);
    assert_int_equal(
        icmp_echo_start(r->s, RIG_PEER_IP, 999, 8, 1000000, echo_done, ICMP_MAX_ECHO_WAITERS + 1),
        -EAGAIN);
    assert_int_equal(rig_drain(r), ICMP_MAX_ECHO_WAITERS);
    rig_run(r, r->now + 1000000);
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++)
        assert_int_equal(echo[i].result, -ETIMEDOUT);
    assert_int_equal(echo[ICMP_MAX_ECHO_WAITERS + 1].calls, 0);
    /* Room again; and a payload past the largest datagram is refused. */
    assert_int_equal(
        icmp_echo_start(r->s, RIG_PEER_IP, 1000, 8, 1000000, echo_done, ICMP_MAX_ECHO_WAITERS + 2),
        0);
    assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, 1001, 65508, 1000000, echo_done,
                                     ICMP_MAX_ECHO_WAITERS + 3),
                     -EMSGSIZE);
}

/* ---- malformed and other messages ---- */

static void test_malformed_counted(void **state)
{
    struct rig *r = *state;
    uint8_t f[256];
    size_t len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REQUEST, 0,
                                  0x10001u, NULL, 0);
    /* Shorter than an ICMP header: cut the IP datagram, fix its length. */
    for (size_t icmp_len = 0; icmp_len < ICMP_HDR_LEN; icmp_len++) {
        uint8_t g[64];
        memcpy(g, f, len);
        struct ipv4_repr ip;
        assert_int_equal(ipv4_parse(g + ETHER_HDR_LEN, len - ETHER_HDR_LEN, &ip), WIRE_OK);
        ip.total_len = (uint16_t)(IPV4_HDR_MIN + icmp_len);
        ipv4_emit(&ip, g + ETHER_HDR_LEN);
        rig_deliver(r, g, ETHER_HDR_LEN + IPV4_HDR_MIN + icmp_len);
    }
    assert_int_equal(r->s->stats.icmp_rx_malformed, ICMP_HDR_LEN);
    /* A bad checksum, on an echo and on an error. */
    uint8_t data[40] = {0x45};
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_ECHO_REQUEST, 0, 0x10001u,
                           data, 40);
    f[len - 1] ^= 0x20;
    rig_deliver(r, f, len);
    len = build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, ICMP_DEST_UNREACH, 1, 0, data,
                           28);
    f[ETHER_HDR_LEN + IPV4_HDR_MIN + 2] ^= 1;
    rig_deliver(r, f, len);
    assert_int_equal(r->s->stats.icmp_rx_malformed, ICMP_HDR_LEN + 2);
    assert_int_equal(r->s->stats.icmp_rx_total, ICMP_HDR_LEN + 2);
    assert_int_equal(r->s->stats.icmp_rx_echo_request, 0);
    assert_int_equal(rig_recv(r), 0);
}

static void test_other_types(void **state)
{
    struct rig *r = *state;
    uint8_t f[128], data[12] = {0};
    /* Timestamp request, redirect, router advertisement, type 255. */
    static const uint8_t types[] = {13, 5, 9, 255};
    for (size_t i = 0; i < sizeof(types); i++) {
        size_t len =
            build_icmp_frame(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, types[i], 0, 0, data, 12);
        rig_deliver(r, f, len);
    }
    assert_int_equal(r->s->stats.icmp_rx_other, 4);
    assert_int_equal(rig_recv(r), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, rig_teardown)
    const struct CMUnitTest tests[] = {
        T(test_echo_reply_mirrors),
        T(test_broadcast_echo_ignored),
        T(test_echo_over_loopback),
        T(test_errors_reach_waiter),
        T(test_errors_not_ours_ignored),
        T(test_error_about_later_fragment_ignored),
        T(test_echo_reply_matching),
        T(test_echo_timeout),
        T(test_echo_limits),
        T(test_malformed_counted),
        T(test_other_types),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
