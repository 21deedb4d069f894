/* Unit tests for IPv4 input, output, reassembly and routing on one stack:
 * forged frames are delivered to its vwire netif and what it sends is read
 * from the far end of the wire (a second stack that never runs).
 *
 * Input: every malformed datagram is dropped with its own counter and
 * never answered; not-for-us is dropped; unknown protocols and UDP draw
 * (rate-limited) ICMP errors, but never about ICMP errors, broadcasts or
 * non-first fragments. Output: large datagrams leave as fragments that
 * reassemble. Reassembly: any order, duplicates, overlaps, the 65535-byte
 * limit, the timeout with its ICMP, and the bounds under a flood. Routing:
 * connected, gateway, none. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arp.h"
#include "icmp.h"
#include "ipv4.h"
#include "netif.h"
#include "rig.h"
#include "stack.h"
#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

/* The rig, with the far end run once too; learn teaches s the peer's MAC. */
static struct rig *rig_new(uint32_t gateway, bool learn)
{
    struct rig *r = rig_create(201, 202, gateway, 0);
    stack_run(r->p, r->now);
    if (learn)
        rig_learn_peer(r);
    return r;
}

static int setup(void **state)
{
    *state = rig_new(RIG_PEER_IP, true);
    return 0;
}

static int setup_no_gateway(void **state)
{
    *state = rig_new(0, true);
    return 0;
}

static int setup_unresolved(void **state)
{
    *state = rig_new(RIG_PEER_IP, false);
    return 0;
}

/* ---- forging ---- */

/* A header template from the peer to us. */
static struct ipv4_repr ip_tmpl(uint8_t proto, uint32_t src, uint32_t dst, uint16_t id)
{
    return (struct ipv4_repr){.hdr_len = IPV4_HDR_MIN, .id = id, .ttl = 64, .proto = proto,
                              .src = src, .dst = dst};
}

/* Ethernet + 20-byte IPv4 header + payload into f; returns the length. */
static size_t build_ip(uint8_t *f, const uint8_t eth_dst[6], struct ipv4_repr ip,
                       const uint8_t *payload, size_t len)
{
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, eth_dst, 6);
    memcpy(eth.src, rig_peer_mac, 6);
    ether_emit(&eth, f);
    ip.hdr_len = IPV4_HDR_MIN;
    ip.total_len = (uint16_t)(IPV4_HDR_MIN + len);
    ipv4_emit(&ip, f + ETHER_HDR_LEN);
    if (len > 0)
        memcpy(f + ETHER_HDR_LEN + IPV4_HDR_MIN, payload, len);
    return ETHER_HDR_LEN + IPV4_HDR_MIN + len;
}

static size_t build_udp(uint8_t *f, const uint8_t eth_dst[6], uint32_t src, uint32_t dst,
                        uint16_t id, uint16_t dport, size_t data_len)
{
    uint8_t data[512], seg[UDP_HDR_LEN + 512];
    assert_true(data_len <= sizeof(data));
    for (size_t i = 0; i < data_len; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    struct udp_repr udp = {.src_port = 5555, .dst_port = dport, .payload = data,
                           .payload_len = data_len};
    udp_emit_ipv4(&udp, src, dst, seg);
    return build_ip(f, eth_dst, ip_tmpl(IP_PROTO_UDP, src, dst, id), seg, UDP_HDR_LEN + data_len);
}

/* An ICMP message into out; returns its length. */
static size_t build_icmp(uint8_t *out, uint8_t type, uint8_t code, uint32_t rest,
                         const uint8_t *data, size_t len)
{
    struct icmp_repr msg = {.type = type, .code = code, .rest = rest, .data = data,
                            .data_len = len};
    icmp_emit(&msg, out);
    return ICMP_HDR_LEN + len;
}

/* Recomputes the IPv4 header checksum of the datagram in frame f. */
static void fix_ip_checksum(uint8_t *f)
{
    uint8_t *ip = f + ETHER_HDR_LEN;
    size_t hdr_len = (size_t)(ip[0] & 0x0f) * 4;
    be16_put(ip + 10, 0);
    be16_put(ip + 10, csum_finish(csum_add(0, ip, hdr_len)));
}

/* ---- counters ---- */

/* Checks that between before and now exactly the named counters changed,
 * by the given amounts. Arguments: name, delta, ..., NULL. */
static void check_delta(const struct stack_stats *before, const struct stack_stats *after, ...)
{
    unsigned n = stack_stats_count();
    uint64_t want[256];
    assert_true(n <= 256);
    for (unsigned i = 0; i < n; i++)
        want[i] = stack_stats_value(before, i);
    va_list ap;
    va_start(ap, after);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        uint64_t delta = va_arg(ap, uint64_t);
        unsigned i;
        for (i = 0; i < n; i++)
            if (strcmp(stack_stats_name(i), name) == 0)
                break;
        assert_true(i < n);
        want[i] += delta;
    }
    va_end(ap);
    for (unsigned i = 0; i < n; i++) {
        uint64_t got = stack_stats_value(after, i);
        if (got != want[i])
            fail_msg("counter %s is %llu, expected %llu", stack_stats_name(i),
                     (unsigned long long)got, (unsigned long long)want[i]);
    }
}

#define D(x) ((uint64_t)(x))

/* ---- reading what the stack sent ---- */

/* Reads the next frame: an IPv4 datagram to the peer's MAC. */
static void expect_ip(struct rig *r, struct ipv4_repr *ip, const uint8_t **payload,
                      size_t *len)
{
    rig_expect_ipv4(r, rig_peer_mac, ip);
    *payload = rig_rx + ETHER_HDR_LEN + ip->hdr_len;
    *len = (size_t)ip->total_len - ip->hdr_len;
}

/* Reads the next frame: an ICMP error of type/code to the peer; checks its
 * quote against the datagram in sent (a frame we delivered). */
static void expect_icmp_error(struct rig *r, uint8_t type, uint8_t code, const uint8_t *sent)
{
    struct ipv4_repr ip;
    const uint8_t *payload;
    size_t len;
    expect_ip(r, &ip, &payload, &len);
    assert_int_equal(ip.proto, IP_PROTO_ICMP);
    assert_int_equal(ip.src, RIG_OUR_IP);
    assert_int_equal(ip.dst, RIG_PEER_IP);
    struct icmp_repr icmp;
    assert_int_equal(icmp_parse(payload, len, &icmp), WIRE_OK);
    assert_int_equal(icmp.type, type);
    assert_int_equal(icmp.code, code);
    /* The quote: the original header and the first 8 payload bytes. */
    assert_int_equal(icmp.data_len, IPV4_HDR_MIN + 8);
    if (sent != NULL) {
        const uint8_t *orig = sent + ETHER_HDR_LEN;
        size_t hdr_len = (size_t)(orig[0] & 0x0f) * 4;
        assert_memory_equal(icmp.data + 2, orig + 2, 8);  /* length, id, frag */
        assert_int_equal(icmp.data[9], orig[9]);           /* protocol */
        assert_memory_equal(icmp.data + 12, orig + 12, 8); /* addresses */
        assert_memory_equal(icmp.data + IPV4_HDR_MIN, orig + hdr_len, 8);
    }
}

/* ---- fragments ---- */

struct frame {
    uint8_t *data;
    size_t len;
};

/* Splits payload into fragments of chunk bytes (the last may be shorter)
 * as frames to our MAC; returns how many. */
static unsigned make_fragments(struct ipv4_repr tmpl, const uint8_t *payload, size_t len,
                               size_t chunk, struct frame *out, unsigned max)
{
    unsigned n = 0;
    for (size_t off = 0; off < len; off += chunk) {
        assert_true(n < max);
        size_t m = len - off < chunk ? len - off : chunk;
        struct ipv4_repr ip = tmpl;
        ip.frag_offset = (uint16_t)off;
        ip.more_fragments = off + m < len;
        out[n].data = malloc(ETHER_HDR_LEN + IPV4_HDR_MIN + m);
        assert_non_null(out[n].data);
        out[n].len = build_ip(out[n].data, rig_our_mac, ip, payload + off, m);
        n++;
    }
    return n;
}

static void free_frames(struct frame *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(f[i].data);
}

/* A fragment with explicit offset, MF and length, of an echo "datagram"
 * whose bytes are a pattern. */
static void deliver_fragment(struct rig *r, uint8_t proto, uint32_t dst, uint16_t id,
                             size_t offset, size_t len, bool mf, const uint8_t eth_dst[6])
{
    static uint8_t f[ETHER_HDR_LEN + IPV4_MAX_DATAGRAM];
    static uint8_t data[IPV4_MAX_DATAGRAM];
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(offset + i);
    struct ipv4_repr ip = ip_tmpl(proto, RIG_PEER_IP, dst, id);
    ip.frag_offset = (uint16_t)offset;
    ip.more_fragments = mf;
    size_t n = build_ip(f, eth_dst, ip, data, len);
    rig_deliver(r, f, n);
}

/* Reads frames the stack sent until one datagram is whole (reassembling
 * fragments with a reass of the far stack); returns its payload length. */
static size_t collect_datagram(struct rig *r, struct reass *ra, struct ipv4_repr *out_ip,
                               uint8_t *out, unsigned *frames)
{
    *frames = 0;
    for (;;) {
        struct ipv4_repr ip;
        const uint8_t *payload;
        size_t len;
        expect_ip(r, &ip, &payload, &len);
        (*frames)++;
        assert_true(ETHER_HDR_LEN + (size_t)ip.total_len <= ETHER_HDR_LEN + r->n->mtu);
        if (!ip.more_fragments && ip.frag_offset == 0) {
            *out_ip = ip;
            memcpy(out, payload, len);
            return len;
        }
        const uint8_t *whole;
        size_t whole_len;
        if (reass_add(ra, &ip, payload, len, out_ip, &whole, &whole_len)) {
            memcpy(out, whole, whole_len);
            return whole_len;
        }
    }
}

/* Echo outcomes, by cookie. */
#define MAX_ECHO 64
static struct {
    unsigned calls;
    int result;
} echo[MAX_ECHO];

static void echo_done(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    (void)stack;
    (void)rtt_us;
    assert_true(cookie < MAX_ECHO);
    echo[cookie].calls++;
    echo[cookie].result = result;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* ======================================================================
 * Malformed input
 * ====================================================================== */

static void test_truncations(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    /* A UDP datagram for us, and one with a 4-byte option. */
    size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 1, 9, 20);
    for (size_t cut = 0; cut < len; cut++) {
        struct stack_stats before = r->s->stats;
        rig_deliver(r, f, cut);
        if (cut < ETHER_HDR_LEN)
            check_delta(&before, &r->s->stats, "ether_rx_malformed", D(1), NULL);
        else
            check_delta(&before, &r->s->stats, "ipv4_rx_truncated", D(1), NULL);
    }
    uint8_t g[128];
    memcpy(g, f, ETHER_HDR_LEN);
    g[ETHER_HDR_LEN] = 0x46;
    memcpy(g + ETHER_HDR_LEN + 1, f + ETHER_HDR_LEN + 1, 19);
    be16_put(g + ETHER_HDR_LEN + 2, (uint16_t)(len - ETHER_HDR_LEN + 4));
    static const uint8_t opt[4] = {0x94, 0x04, 0x00, 0x00}; /* router alert */
    memcpy(g + ETHER_HDR_LEN + 20, opt, 4);
    memcpy(g + ETHER_HDR_LEN + 24, f + ETHER_HDR_LEN + 20, len - ETHER_HDR_LEN - 20);
    fix_ip_checksum(g);
    size_t glen = len + 4;
    for (size_t cut = ETHER_HDR_LEN; cut < glen; cut++) {
        struct stack_stats before = r->s->stats;
        rig_deliver(r, g, cut);
        check_delta(&before, &r->s->stats, "ipv4_rx_truncated", D(1), NULL);
    }
    assert_int_equal(rig_recv(r), 0);
    /* The whole ones are fine: each draws a port unreachable. */
    rig_deliver(r, f, len);
    expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, f);
    rig_deliver(r, g, glen);
    expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, g);
    assert_int_equal(rig_recv(r), 0);
}

/* One mutation of a good datagram and the counter it must bump. */
struct mutation {
    const char *what;
    size_t off; /* in the IP header */
    uint8_t value;
    bool fix_checksum;
    const char *counter;
    bool parsed; /* passes the parser (ipv4_rx_packets counts it) */
};

static void test_bad_headers(void **state)
{
    struct rig *r = *state;
    uint8_t good[128];
    size_t len = build_udp(good, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 2, 9, 20);
    const struct mutation muts[] = {
        {"version 6", 0, 0x65, true, "ipv4_rx_bad_version", false},
        {"version 0", 0, 0x05, true, "ipv4_rx_bad_version", false},
        {"version 15", 0, 0xf5, false, "ipv4_rx_bad_version", false},
        {"IHL 4", 0, 0x44, false, "ipv4_rx_bad_hdr_len", false},
        {"IHL 0", 0, 0x40, false, "ipv4_rx_bad_hdr_len", false},
        {"IHL 15 past the frame", 0, 0x4f, false, "ipv4_rx_truncated", false},
        {"total length 19", 3, 19, true, "ipv4_rx_bad_total_len", false},
        {"total length 0", 3, 0, true, "ipv4_rx_bad_total_len", false},
        {"total length past the frame", 3, 49, true, "ipv4_rx_truncated", false},
        {"total length 0xff..", 2, 0xff, true, "ipv4_rx_truncated", false},
        {"bad checksum", 10, 0x00, false, "ipv4_rx_bad_checksum", false},
        {"bad checksum 2", 8, 63, false, "ipv4_rx_bad_checksum", false},
        {"reserved flag", 6, 0x80, true, "ipv4_rx_bad_field", false},
        {"source multicast", 12, 224, true, "ipv4_rx_bad_source", false},
        {"source 239/8", 12, 239, true, "ipv4_rx_bad_source", false},
        {"source class E", 12, 240, true, "ipv4_rx_bad_source", false},
        {"source loopback", 12, 127, true, "ipv4_rx_bad_source", true},
    };
    for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
        uint8_t f[128];
        memcpy(f, good, len);
        uint8_t *ip = f + ETHER_HDR_LEN;
        ip[muts[i].off] = muts[i].value;
        if (muts[i].off == 10) /* make sure the checksum really is wrong */
            ip[10] ^= 0x5a, ip[11] ^= 0xa5;
        if (muts[i].fix_checksum)
            fix_ip_checksum(f);
        struct stack_stats before = r->s->stats;
        rig_deliver(r, f, len);
        if (muts[i].parsed)
            check_delta(&before, &r->s->stats, muts[i].counter, D(1), "ipv4_rx_packets", D(1),
                        NULL);
        else
            check_delta(&before, &r->s->stats, muts[i].counter, D(1), NULL);
    }
    /* Whole-address sources: limited broadcast, our subnet's broadcast, our
     * own address, unspecified, 127.0.0.1. */
    const uint32_t bad_src[] = {0xffffffffu, RIG_BCAST_IP, RIG_OUR_IP, 0, 0x7f000001u, 0xe00000fbu};
    for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
        uint8_t f[128];
        memcpy(f, good, len);
        be32_put(f + ETHER_HDR_LEN + 12, bad_src[i]);
        fix_ip_checksum(f);
        struct stack_stats before = r->s->stats;
        rig_deliver(r, f, len);
        /* The parser refuses group and limited-broadcast sources; the rest
         * are martians for this link. */
        bool parsed = bad_src[i] >> 28 < 0xe;
        check_delta(&before, &r->s->stats, "ipv4_rx_bad_source", D(1), "ipv4_rx_packets",
                    D(parsed ? 1 : 0), NULL);
    }
    assert_int_equal(rig_recv(r), 0);
}

/* A UDP datagram to us with the given option bytes (a multiple of 4). */
static size_t build_with_options(uint8_t *f, const uint8_t *opts, size_t opts_len)
{
    uint8_t plain[128];
    size_t len = build_udp(plain, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 3, 9, 12);
    memcpy(f, plain, ETHER_HDR_LEN + IPV4_HDR_MIN);
    uint8_t *ip = f + ETHER_HDR_LEN;
    ip[0] = (uint8_t)(0x40 | (IPV4_HDR_MIN + opts_len) / 4);
    be16_put(ip + 2, (uint16_t)(len - ETHER_HDR_LEN + opts_len));
    memcpy(ip + IPV4_HDR_MIN, opts, opts_len);
    memcpy(ip + IPV4_HDR_MIN + opts_len, plain + ETHER_HDR_LEN + IPV4_HDR_MIN,
           len - ETHER_HDR_LEN - IPV4_HDR_MIN);
    fix_ip_checksum(f);
    return len + opts_len;
}

static void test_options(void **state)
{
    struct rig *r = *state;
    static const struct {
        uint8_t bytes[8];
        size_t len;
        bool ok;
    } cases[] = {
        {{0x07, 0x08, 0x04, 0x00}, 4, false},             /* record route overruns */
        {{0x44, 0x01, 0x00, 0x00}, 4, false},             /* length 1 */
        {{0x44, 0x00, 0x00, 0x00}, 4, false},             /* length 0 */
        {{0x01, 0x01, 0x01, 0x83}, 4, false},             /* no room for the length */
        {{0x83, 0x07, 0, 0, 0, 0, 0, 0x44}, 8, false},    /* second option cut */
        {{0x01, 0x01, 0x01, 0x00}, 4, true},              /* NOPs, end of list */
        {{0x00, 0xff, 0xff, 0xff}, 4, true},              /* end, then anything */
        {{0x94, 0x04, 0x00, 0x00}, 4, true},              /* router alert */
        {{0x83, 0x07, 0x04, 0, 0, 0, 0, 0x00}, 8, true},  /* loose source route */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t f[160];
        size_t len = build_with_options(f, cases[i].bytes, cases[i].len);
        struct stack_stats before = r->s->stats;
        rig_deliver(r, f, len);
        if (cases[i].ok) {
            check_delta(&before, &r->s->stats, "ipv4_rx_packets", D(1), "udp_rx_datagrams", D(1),
                        "udp_rx_no_port", D(1), "icmp_tx_dest_unreach", D(1), "ipv4_tx_packets",
                        D(1), "link_tx_frames", D(1), "link_tx_bytes", D(70), NULL);
            expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, f);
        } else {
            check_delta(&before, &r->s->stats, "ipv4_rx_bad_options", D(1), NULL);
        }
        assert_int_equal(rig_recv(r), 0);
    }
}

static void test_not_for_us(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    size_t len;
    struct stack_stats before;
    const uint32_t dsts[] = {0xc0000263u, RIG_FAR_IP, 0x7f000001u, 0xe0000001u, 0, RIG_PEER_IP};
    for (size_t i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
        len = build_udp(f, i == 3 ? rig_bcast_mac : rig_our_mac, RIG_PEER_IP, dsts[i], 4, 9, 8);
        before = r->s->stats;
        rig_deliver(r, f, len);
        check_delta(&before, &r->s->stats, "ipv4_rx_packets", D(1), "ipv4_drop_not_for_us", D(1),
                    NULL);
    }
    /* Link-level: another unicast MAC, a group we did not join, our own
     * MAC as the source, 802.3 and IPv6 frames. */
    static const uint8_t other[6] = {0x02, 0x99, 0, 0, 0, 1};
    static const uint8_t group[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
    len = build_udp(f, other, RIG_PEER_IP, RIG_OUR_IP, 5, 9, 8);
    before = r->s->stats;
    rig_deliver(r, f, len);
    len = build_udp(f, group, RIG_PEER_IP, RIG_OUR_IP, 5, 9, 8);
    rig_deliver(r, f, len);
    check_delta(&before, &r->s->stats, "ether_drop_not_for_us", D(2), NULL);
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 5, 9, 8);
    memcpy(f + 6, rig_our_mac, 6);
    before = r->s->stats;
    rig_deliver(r, f, len);
    check_delta(&before, &r->s->stats, "ether_drop_own_source", D(1), NULL);
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 5, 9, 8);
    be16_put(f + 12, 0x0040);
    before = r->s->stats;
    rig_deliver(r, f, len);
    be16_put(f + 12, ETHERTYPE_IPV6);
    rig_deliver(r, f, len);
    check_delta(&before, &r->s->stats, "ether_drop_unknown_type", D(2), NULL);
    assert_int_equal(rig_recv(r), 0);
}

static void test_padding_ignored(void **state)
{
    struct rig *r = *state;
    uint8_t f[200];
    size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 6, 9, 2);
    memset(f + len, 0xee, 40); /* link padding, not part of the datagram */
    rig_deliver(r, f, len + 40);
    expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, f);
    assert_int_equal(r->s->stats.udp_rx_datagrams, 1);
}

/* ======================================================================
 * ICMP errors we send
 * ====================================================================== */

static void test_unknown_protocol(void **state)
{
    struct rig *r = *state;
    uint8_t data[40], f[128];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(0xa0 + i);
    size_t len =
        build_ip(f, rig_our_mac, ip_tmpl(253, RIG_PEER_IP, RIG_OUR_IP, 77), data, sizeof(data));
    struct stack_stats before = r->s->stats;
    rig_deliver(r, f, len);
    expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, f);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.ipv4_drop_unknown_proto - before.ipv4_drop_unknown_proto, 1);
    assert_int_equal(r->s->stats.icmp_tx_dest_unreach - before.icmp_tx_dest_unreach, 1);
    /* Empty payload: the quote is the header alone plus nothing. */
    len = build_ip(f, rig_our_mac, ip_tmpl(132, RIG_PEER_IP, RIG_OUR_IP, 78), NULL, 0);
    rig_deliver(r, f, len);
    struct ipv4_repr ip;
    const uint8_t *payload;
    size_t plen;
    expect_ip(r, &ip, &payload, &plen);
    struct icmp_repr icmp;
    assert_int_equal(icmp_parse(payload, plen, &icmp), WIRE_OK);
    assert_int_equal(icmp.code, ICMP_UNREACH_PROTOCOL);
    assert_int_equal(icmp.data_len, IPV4_HDR_MIN);
}

static void test_udp_port_unreachable_rate_limited(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    struct stack_stats before = r->s->stats;
    unsigned sent = 0;
    for (unsigned i = 0; i < ICMP_RATE_BURST + 20; i++) {
        size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, (uint16_t)(100 + i), 9, 4);
        rig_deliver(r, f, len);
        while (rig_recv(r) > 0)
            sent++;
    }
    assert_int_equal(sent, ICMP_RATE_BURST);
    assert_int_equal(r->s->stats.udp_rx_no_port - before.udp_rx_no_port, ICMP_RATE_BURST + 20);
    assert_int_equal(r->s->stats.icmp_drop_rate_limited - before.icmp_drop_rate_limited, 20);
    assert_int_equal(r->s->stats.icmp_tx_dest_unreach - before.icmp_tx_dest_unreach,
                     ICMP_RATE_BURST);
    /* Refill: ICMP_RATE_PER_SEC, i.e. one per millisecond here. */
    uint64_t per_token = 1000000 / ICMP_RATE_PER_SEC;
    rig_run(r, r->now + per_token);
    for (unsigned i = 0; i < 2; i++) {
        size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 500, 9, 4);
        rig_deliver(r, f, len);
    }
    assert_int_equal(rig_drain(r), 1);
    rig_run(r, r->now + 10 * per_token);
    for (unsigned i = 0; i < 15; i++) {
        size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 501, 9, 4);
        rig_deliver(r, f, len);
    }
    assert_int_equal(rig_drain(r), 10);
    /* A quiet spell refills only up to the burst. */
    rig_run(r, r->now + 1000000);
    for (unsigned i = 0; i < 2 * ICMP_RATE_BURST; i++) {
        size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 502, 9, 4);
        rig_deliver(r, f, len);
    }
    assert_int_equal(rig_drain(r), ICMP_RATE_BURST);
}

static void test_udp_malformed(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    size_t len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 7, 9, 10);
    uint8_t *udp = f + ETHER_HDR_LEN + IPV4_HDR_MIN;
    struct stack_stats before = r->s->stats;
    udp[6] ^= 0xff; /* checksum */
    rig_deliver(r, f, len);
    check_delta(&before, &r->s->stats, "ipv4_rx_packets", D(1), "udp_rx_bad_checksum", D(1),
                NULL);
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 7, 9, 10);
    be16_put(udp + 4, 30); /* UDP length past the IP payload */
    before = r->s->stats;
    rig_deliver(r, f, len);
    be16_put(udp + 4, 7); /* shorter than its header */
    rig_deliver(r, f, len);
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 7, 0, 10); /* port 0 */
    rig_deliver(r, f, len);
    /* Shorter than a UDP header. */
    uint8_t three[3] = {1, 2, 3};
    len = build_ip(f, rig_our_mac, ip_tmpl(IP_PROTO_UDP, RIG_PEER_IP, RIG_OUR_IP, 8), three, 3);
    rig_deliver(r, f, len);
    check_delta(&before, &r->s->stats, "ipv4_rx_packets", D(4), "udp_rx_malformed", D(4), NULL);
    assert_int_equal(rig_recv(r), 0);
    /* No checksum (0) is allowed over IPv4. */
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_OUR_IP, 9, 9, 10);
    be16_put(udp + 6, 0);
    rig_deliver(r, f, len);
    expect_icmp_error(r, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, f);
}

static void test_no_error_about_broadcast(void **state)
{
    struct rig *r = *state;
    uint8_t f[128];
    struct stack_stats before = r->s->stats;
    size_t len = build_udp(f, rig_bcast_mac, RIG_PEER_IP, RIG_BCAST_IP, 10, 9, 4);
    rig_deliver(r, f, len);
    len = build_udp(f, rig_bcast_mac, RIG_PEER_IP, 0xffffffffu, 11, 9, 4);
    rig_deliver(r, f, len);
    len = build_udp(f, rig_our_mac, RIG_PEER_IP, RIG_BCAST_IP, 12, 9, 4);
    rig_deliver(r, f, len);
    /* Our unicast address in a link-layer broadcast. */
    len = build_udp(f, rig_bcast_mac, RIG_PEER_IP, RIG_OUR_IP, 13, 9, 4);
    rig_deliver(r, f, len);
    uint8_t data[8] = {0};
    len = build_ip(f, rig_bcast_mac, ip_tmpl(253, RIG_PEER_IP, RIG_BCAST_IP, 14), data, 8);
    rig_deliver(r, f, len);
    /* Nothing sent; every one counted as nobody's. (UDP may decide before
     * asking ICMP; at least the unicast-in-link-broadcast and the unknown
     * protocol reach icmp_send_error and are refused there.) */
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.icmp_tx_dest_unreach, before.icmp_tx_dest_unreach);
    assert_true(r->s->stats.icmp_drop_no_error_about - before.icmp_drop_no_error_about >= 2);
    assert_int_equal(r->s->stats.udp_rx_no_port - before.udp_rx_no_port, 4);
    assert_int_equal(r->s->stats.ipv4_drop_unknown_proto - before.ipv4_drop_unknown_proto, 1);
}

static void test_no_error_about_icmp_errors(void **state)
{
    struct rig *r = *state;
    /* Straight to icmp_send_error: a datagram carrying an ICMP error. */
    uint8_t msg[64];
    uint8_t quote[28] = {0x45};
    size_t mlen = build_icmp(msg, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, quote, sizeof(quote));
    struct ipv4_repr ip = ip_tmpl(IP_PROTO_ICMP, RIG_PEER_IP, RIG_OUR_IP, 20);
    ip.total_len = (uint16_t)(IPV4_HDR_MIN + mlen);
    struct stack_stats before = r->s->stats;
    icmp_send_error(r->s, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, &ip, msg, mlen, false);
    mlen = build_icmp(msg, ICMP_TIME_EXCEEDED, 0, 0, quote, sizeof(quote));
    icmp_send_error(r->s, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, &ip, msg, mlen, false);
    /* An ICMP message too short to tell its type counts as an error too. */
    icmp_send_error(r->s, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, &ip, msg, 0, false);
    check_delta(&before, &r->s->stats, "icmp_drop_no_error_about", D(3), NULL);
    assert_int_equal(rig_recv(r), 0);
    /* About an echo request, an error is fine. */
    mlen = build_icmp(msg, ICMP_ECHO_REQUEST, 0, 0x00010001u, NULL, 0);
    icmp_send_error(r->s, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, &ip, msg, mlen, false);
    assert_int_equal(rig_drain(r), 1);

    /* Through reassembly: fragment 0 of an ICMP error times out; no time
     * exceeded about it. */
    uint8_t big[64];
    memset(big, 0, sizeof(big));
    mlen = build_icmp(big, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, quote, 24);
    uint8_t f[128];
    struct ipv4_repr frag = ip_tmpl(IP_PROTO_ICMP, RIG_PEER_IP, RIG_OUR_IP, 21);
    frag.more_fragments = true;
    size_t len = build_ip(f, rig_our_mac, frag, big, 32);
    before = r->s->stats;
    rig_deliver(r, f, len);
    rig_run(r, r->now + REASS_TIMEOUT_US);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.ipv4_reass_drop_timeout - before.ipv4_reass_drop_timeout, 1);
    assert_int_equal(r->s->stats.icmp_drop_no_error_about - before.icmp_drop_no_error_about, 1);
}

static void test_no_error_about_non_first_fragment(void **state)
{
    struct rig *r = *state;
    uint8_t data[16] = {0};
    struct ipv4_repr ip = ip_tmpl(IP_PROTO_UDP, RIG_PEER_IP, RIG_OUR_IP, 30);
    ip.frag_offset = 1480;
    ip.total_len = IPV4_HDR_MIN + 16;
    struct stack_stats before = r->s->stats;
    icmp_send_error(r->s, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, &ip, data, 16, false);
    check_delta(&before, &r->s->stats, "icmp_drop_no_error_about", D(1), NULL);
    /* Through reassembly: only later fragments came; the timeout sends
     * nothing (RFC 792: only if fragment zero was received). */
    deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, 31, 1480, 1480, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, 31, 4440, 100, false, rig_our_mac);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
    rig_run(r, r->now + REASS_TIMEOUT_US);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    assert_int_equal(r->s->stats.ipv4_reass_drop_timeout, 1);
    assert_int_equal(rig_recv(r), 0);
}

/* ======================================================================
 * Fragmentation on output
 * ====================================================================== */

static void test_fragmentation_output(void **state)
{
    struct rig *r = *state;
    memset(echo, 0, sizeof(echo));
    enum { DATA = 8000 };
    assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, 42, DATA, 5000000, echo_done, 0), 0);
    /* Read the fragments: each fits the MTU, offsets are contiguous
     * multiples of 8, MF on all but the last, one id. */
    struct frame frags[16];
    unsigned n = 0;
    size_t expect_off = 0;
    uint16_t id = 0;
    size_t got;
    while ((got = rig_recv(r)) > 0) {
        assert_true(n < 16);
        assert_true(got <= ETHER_HDR_LEN + r->n->mtu);
        struct ipv4_repr ip;
        assert_int_equal(ipv4_parse(rig_rx + ETHER_HDR_LEN, got - ETHER_HDR_LEN, &ip), WIRE_OK);
        assert_int_equal(ip.src, RIG_OUR_IP);
        assert_int_equal(ip.dst, RIG_PEER_IP);
        assert_int_equal(ip.proto, IP_PROTO_ICMP);
        assert_false(ip.dont_fragment);
        if (n == 0)
            id = ip.id;
        assert_int_equal(ip.id, id);
        assert_int_equal(ip.frag_offset, expect_off);
        assert_int_equal(ip.frag_offset % 8, 0);
        size_t plen = (size_t)ip.total_len - ip.hdr_len;
        expect_off += plen;
        assert_int_equal(ip.more_fragments, expect_off < ICMP_HDR_LEN + DATA);
        if (ip.more_fragments)
            assert_int_equal(ip.total_len, 1500);
        frags[n].data = malloc(got);
        assert_non_null(frags[n].data);
        memcpy(frags[n].data, rig_rx, got);
        frags[n].len = got;
        n++;
    }
    assert_int_equal(n, (ICMP_HDR_LEN + DATA + 1479) / 1480);
    assert_int_equal(expect_off, ICMP_HDR_LEN + DATA);
    assert_int_equal(r->s->stats.ipv4_tx_fragments, n);

    /* They reassemble (in a shuffled order) into the echo request. */
    struct reass *ra = reass_create(r->p);
    assert_non_null(ra);
    unsigned order[16];
    for (unsigned i = 0; i < n; i++)
        order[i] = i;
    for (unsigned i = n - 1; i > 0; i--) {
        unsigned j = rnd(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    static uint8_t whole[IPV4_MAX_DATAGRAM];
    size_t whole_len = 0;
    struct ipv4_repr wip;
    for (unsigned k = 0; k < n; k++) {
        struct frame *fr = &frags[order[k]];
        struct ipv4_repr ip;
        assert_int_equal(ipv4_parse(fr->data + ETHER_HDR_LEN, fr->len - ETHER_HDR_LEN, &ip),
                         WIRE_OK);
        const uint8_t *out;
        bool done = reass_add(ra, &ip, fr->data + ETHER_HDR_LEN + ip.hdr_len,
                              (size_t)ip.total_len - ip.hdr_len, &wip, &out, &whole_len);
        assert_int_equal(done, k == n - 1);
        if (done)
            memcpy(whole, out, whole_len);
    }
    reass_destroy(ra);
    assert_int_equal(whole_len, ICMP_HDR_LEN + DATA);
    struct icmp_repr icmp;
    assert_int_equal(icmp_parse(whole, whole_len, &icmp), WIRE_OK);
    assert_int_equal(icmp.type, ICMP_ECHO_REQUEST);
    assert_int_equal(icmp.rest & 0xffff, 42);
    for (size_t i = 0; i < DATA; i++)
        assert_int_equal(icmp.data[i], (uint8_t)i);

    /* The reply comes back fragmented too, in reverse order: the echo
     * completes. */
    static uint8_t reply[ICMP_HDR_LEN + DATA];
    size_t rlen = build_icmp(reply, ICMP_ECHO_REPLY, 0, icmp.rest, icmp.data, DATA);
    struct frame back[16];
    unsigned m = make_fragments(ip_tmpl(IP_PROTO_ICMP, RIG_PEER_IP, RIG_OUR_IP, 999), reply, rlen,
                                1480, back, 16);
    for (unsigned i = m; i-- > 0;)
        rig_deliver(r, back[i].data, back[i].len);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, 0);
    assert_int_equal(r->s->stats.ipv4_rx_reassembled, 1);
    free_frames(back, m);
    free_frames(frags, n);

    /* With DF, too big is refused. */
    struct pkt *pkt = pkt_alloc(2000);
    memset(pkt->data, 0, 2000);
    struct ipv4_tx_opts df = {.dont_fragment = true};
    assert_int_equal(ipv4_output(r->s, pkt, IP_PROTO_UDP, 0, RIG_PEER_IP, &df), -EMSGSIZE);
    assert_int_equal(r->s->stats.ipv4_tx_drop_df, 1);
    /* Past the largest datagram, refused. */
    pkt = pkt_alloc(IPV4_MAX_DATAGRAM - IPV4_HDR_MIN + 1);
    assert_int_equal(ipv4_output(r->s, pkt, IP_PROTO_UDP, 0, RIG_PEER_IP, NULL), -EMSGSIZE);
    assert_int_equal(rig_recv(r), 0);
}

/* ======================================================================
 * Reassembly
 * ====================================================================== */

/* Delivers an echo request of data_len bytes from the peer as fragments of
 * chunk bytes in the given order (NULL: in order), and checks the echo
 * reply that comes back, reassembling it. */
static void echo_in_fragments(struct rig *r, uint16_t id, size_t data_len, size_t chunk,
                              const unsigned *order, bool dup)
{
    static uint8_t req[IPV4_MAX_DATAGRAM];
    static uint8_t data[IPV4_MAX_DATAGRAM];
    for (size_t i = 0; i < data_len; i++)
        data[i] = (uint8_t)(i * 31 + id);
    size_t len = build_icmp(req, ICMP_ECHO_REQUEST, 0, (uint32_t)id << 16 | 7, data, data_len);
    struct frame *f = calloc(64, sizeof(*f));
    assert_non_null(f);
    unsigned n =
        make_fragments(ip_tmpl(IP_PROTO_ICMP, RIG_PEER_IP, RIG_OUR_IP, id), req, len, chunk, f, 64);
    uint64_t reassembled = r->s->stats.ipv4_rx_reassembled;
    unsigned pending = reass_pending(r->s->ipv4.reass);
    size_t memory = reass_memory(r->s->ipv4.reass);
    for (unsigned k = 0; k < n; k++) {
        unsigned i = order ? order[k] : k;
        assert_true(i < n);
        rig_deliver(r, f[i].data, f[i].len);
        if (dup && k + 1 < n)
            rig_deliver(r, f[i].data, f[i].len);
    }
    free_frames(f, n);
    free(f);
    /* Complete: nothing of it is held any more. */
    assert_int_equal(r->s->stats.ipv4_rx_reassembled, reassembled + 1);
    assert_int_equal(reass_pending(r->s->ipv4.reass), pending);
    assert_int_equal(reass_memory(r->s->ipv4.reass), memory);

    struct reass *ra = reass_create(r->p);
    assert_non_null(ra);
    static uint8_t got[IPV4_MAX_DATAGRAM];
    struct ipv4_repr ip;
    unsigned frames;
    size_t glen = collect_datagram(r, ra, &ip, got, &frames);
    reass_destroy(ra);
    assert_int_equal(frames, (len + 1479) / 1480);
    assert_int_equal(glen, len);
    assert_int_equal(ip.src, RIG_OUR_IP);
    assert_int_equal(ip.dst, RIG_PEER_IP);
    struct icmp_repr icmp;
    assert_int_equal(icmp_parse(got, glen, &icmp), WIRE_OK);
    assert_int_equal(icmp.type, ICMP_ECHO_REPLY);
    assert_int_equal(icmp.rest, (uint32_t)id << 16 | 7);
    assert_int_equal(icmp.data_len, data_len);
    assert_memory_equal(icmp.data, data, data_len);
    assert_int_equal(rig_recv(r), 0);
}

static void test_reass_in_order(void **state)
{
    struct rig *r = *state;
    echo_in_fragments(r, 100, 5000, 1480, NULL, false);
    /* Small pieces: 3008 bytes in 56 fragments of 56 bytes (the limit is
     * REASS_MAX_FRAGMENTS). */
    echo_in_fragments(r, 101, 3000, 56, NULL, false);
}

static void test_reass_reverse_and_random(void **state)
{
    struct rig *r = *state;
    unsigned order[64];
    /* 6000 bytes in 512-byte pieces: 12 fragments. */
    unsigned n = (6000 + ICMP_HDR_LEN + 511) / 512;
    for (unsigned i = 0; i < n; i++)
        order[i] = n - 1 - i;
    echo_in_fragments(r, 200, 6000, 512, order, false);
    for (unsigned round = 0; round < 20; round++) {
        for (unsigned i = 0; i < n; i++)
            order[i] = i;
        for (unsigned i = n - 1; i > 0; i--) {
            unsigned j = rnd(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        echo_in_fragments(r, (uint16_t)(201 + round), 6000, 512, order, false);
    }
}

static void test_reass_duplicates(void **state)
{
    struct rig *r = *state;
    uint64_t dups = r->s->stats.ipv4_reass_drop_duplicate;
    echo_in_fragments(r, 300, 4000, 1024, NULL, true);
    /* Every fragment but the last was sent twice. */
    assert_int_equal(r->s->stats.ipv4_reass_drop_duplicate - dups, 3);
    unsigned order[4] = {3, 1, 2, 0};
    echo_in_fragments(r, 301, 4000, 1024, order, true);
    assert_int_equal(r->s->stats.ipv4_reass_drop_duplicate - dups, 6);
}

static void test_reass_largest(void **state)
{
    struct rig *r = *state;
    /* The largest echo: 65507 bytes of data, 65515 of ICMP. */
    echo_in_fragments(r, 400, IPV4_MAX_DATAGRAM - IPV4_HDR_MIN - ICMP_HDR_LEN, 1480, NULL, false);
    /* One byte more cannot exist: the last fragment would pass 65535. */
    struct stack_stats before = r->s->stats;
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 401, 65512, 4, false, rig_our_mac);
    check_delta(&before, &r->s->stats, "ipv4_rx_bad_total_len", D(1), NULL);
    before = r->s->stats;
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 401, 65528, 16, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 401, 65528, 8, false, rig_our_mac);
    check_delta(&before, &r->s->stats, "ipv4_rx_bad_total_len", D(2), NULL);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    /* Exactly at the limit is a valid fragment (held, not complete). */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 402, 65512, 3, false, rig_our_mac);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
}

static void test_reass_overlap(void **state)
{
    struct rig *r = *state;
    struct stack_stats before = r->s->stats;
    /* The second fragment starts inside the first. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 500, 0, 1480, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 500, 1472, 1480, true, rig_our_mac);
    assert_int_equal(r->s->stats.ipv4_reass_drop_overlap - before.ipv4_reass_drop_overlap, 1);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    assert_int_equal(reass_memory(r->s->ipv4.reass), 0);
    /* What follows starts a new datagram that never completes. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 500, 2952, 100, false, rig_our_mac);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
    assert_int_equal(r->s->stats.ipv4_rx_reassembled, before.ipv4_rx_reassembled);

    /* A later fragment covering an earlier one entirely. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 501, 8, 8, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 501, 0, 24, true, rig_our_mac);
    /* Same offset, different length. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 502, 0, 16, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 502, 0, 8, true, rig_our_mac);
    /* Overlapping the one after it. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 503, 16, 16, false, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 503, 8, 16, true, rig_our_mac);
    assert_int_equal(r->s->stats.ipv4_reass_drop_overlap - before.ipv4_reass_drop_overlap, 4);
    /* Two different ends. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 504, 16, 16, false, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 504, 16, 24, false, rig_our_mac);
    /* A fragment past a known end, and an end before a held fragment. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 505, 16, 16, false, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 505, 32, 8, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 506, 64, 8, true, rig_our_mac);
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 506, 8, 16, false, rig_our_mac);
    /* MF with a length that is not a multiple of 8. */
    deliver_fragment(r, IP_PROTO_ICMP, RIG_OUR_IP, 507, 0, 12, true, rig_our_mac);
    assert_int_equal(r->s->stats.ipv4_reass_drop_bad - before.ipv4_reass_drop_bad, 4);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1); /* only id 500's tail */
    assert_int_equal(r->s->stats.ipv4_rx_reassembled, before.ipv4_rx_reassembled);
    assert_int_equal(rig_recv(r), 0);
}

static void test_reass_timeout(void **state)
{
    struct rig *r = *state;
    /* Fragment 0 of an echo request: time exceeded after the timeout. */
    static uint8_t req[3000];
    uint8_t data[2992];
    memset(data, 0x5c, sizeof(data));
    size_t len = build_icmp(req, ICMP_ECHO_REQUEST, 0, 0x12340001u, data, sizeof(data));
    struct frame f[4];
    unsigned n =
        make_fragments(ip_tmpl(IP_PROTO_ICMP, RIG_PEER_IP, RIG_OUR_IP, 600), req, len, 1480, f, 4);
    assert_int_equal(n, 3);
    uint64_t start = r->now;
    rig_deliver(r, f[0].data, f[0].len);
    rig_deliver(r, f[2].data, f[2].len);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
    assert_int_equal(reass_memory(r->s->ipv4.reass), 1480 + (len - 2960));
    rig_run(r, start + REASS_TIMEOUT_US - 1);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
    assert_int_equal(rig_recv(r), 0);
    /* The missing fragment, too late. */
    rig_run(r, start + REASS_TIMEOUT_US);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    assert_int_equal(reass_memory(r->s->ipv4.reass), 0);
    assert_int_equal(r->s->stats.ipv4_reass_drop_timeout, 1);
    expect_icmp_error(r, ICMP_TIME_EXCEEDED, 1, f[0].data);
    assert_int_equal(rig_recv(r), 0);
    rig_deliver(r, f[1].data, f[1].len);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 1);
    assert_int_equal(r->s->stats.ipv4_rx_reassembled, 0);
    free_frames(f, n);
}

static void test_reass_timeout_broadcast(void **state)
{
    struct rig *r = *state;
    /* Fragment 0 of a datagram to a broadcast address: no time exceeded
     * about it (RFC 1122 3.2.2), and none sent from a broadcast source. */
    deliver_fragment(r, IP_PROTO_UDP, RIG_BCAST_IP, 700, 0, 64, true, rig_bcast_mac);
    deliver_fragment(r, IP_PROTO_UDP, 0xffffffffu, 701, 0, 64, true, rig_bcast_mac);
    deliver_fragment(r, IP_PROTO_UDP, RIG_BCAST_IP, 702, 0, 64, true, rig_our_mac);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 3);
    rig_run(r, r->now + REASS_TIMEOUT_US);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    assert_int_equal(r->s->stats.ipv4_reass_drop_timeout, 3);
    assert_int_equal(rig_recv(r), 0);
}

static void test_reass_flood_bounds(void **state)
{
    struct rig *r = *state;
    /* Many incomplete datagrams: never more than REASS_MAX_DATAGRAMS held,
     * the oldest gives way, and memory stays under its bound. */
    enum { FLOOD = 1000 };
    for (unsigned i = 0; i < FLOOD; i++) {
        rig_run(r, r->now + 1);
        deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, (uint16_t)(1000 + i), 0, 1480, true,
                         rig_our_mac);
        assert_true(reass_pending(r->s->ipv4.reass) <= REASS_MAX_DATAGRAMS);
        assert_true(reass_memory(r->s->ipv4.reass) <= REASS_MEMORY_LIMIT);
    }
    assert_int_equal(reass_pending(r->s->ipv4.reass), REASS_MAX_DATAGRAMS);
    assert_int_equal(reass_memory(r->s->ipv4.reass), REASS_MAX_DATAGRAMS * 1480);
    assert_int_equal(r->s->stats.ipv4_reass_drop_too_many, FLOOD - REASS_MAX_DATAGRAMS);

    /* Jumbo fragments (a link may carry them) fill each datagram up to the
     * largest size: memory still within bound. */
    for (unsigned i = 0; i < 3 * REASS_MAX_DATAGRAMS; i++) {
        rig_run(r, r->now + 1);
        uint16_t id = (uint16_t)(3000 + i);
        deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, id, 0, 32000, true, rig_our_mac);
        deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, id, 32000, 33000, true, rig_our_mac);
        deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, id, 65000, 504, true, rig_our_mac);
        assert_true(reass_pending(r->s->ipv4.reass) <= REASS_MAX_DATAGRAMS);
        assert_true(reass_memory(r->s->ipv4.reass) <= REASS_MEMORY_LIMIT);
    }
    /* Per datagram, at most REASS_MAX_FRAGMENTS pieces. */
    uint64_t too_many = r->s->stats.ipv4_reass_drop_too_many;
    for (unsigned i = 0; i <= REASS_MAX_FRAGMENTS; i++)
        deliver_fragment(r, IP_PROTO_UDP, RIG_OUR_IP, 5000, (size_t)i * 16, 8, true, rig_our_mac);
    /* The datagram is dropped when it passes the limit (and, when the
     * table was full, one more eviction made room for it). */
    assert_true(r->s->stats.ipv4_reass_drop_too_many - too_many >= 1);
    assert_true(r->s->stats.ipv4_reass_drop_too_many - too_many <= 2);
    assert_true(reass_pending(r->s->ipv4.reass) <= REASS_MAX_DATAGRAMS);

    /* After the flood, a real datagram still gets through. */
    echo_in_fragments(r, 6000, 3000, 1480, NULL, false);
    /* And everything times out in the end, with memory back to zero. */
    rig_run(r, r->now + REASS_TIMEOUT_US + 1);
    assert_int_equal(reass_pending(r->s->ipv4.reass), 0);
    assert_int_equal(reass_memory(r->s->ipv4.reass), 0);
}

/* ======================================================================
 * Routing
 * ====================================================================== */

static void expect_arp_request(struct rig *r, uint32_t target)
{
    size_t n = rig_recv(r);
    assert_true(n >= ETHER_HDR_LEN + ARP_PKT_LEN);
    struct ether_repr eth;
    struct arp_repr arp;
    assert_int_equal(ether_parse(rig_rx, n, &eth), WIRE_OK);
    assert_int_equal(eth.ethertype, ETHERTYPE_ARP);
    assert_memory_equal(eth.dst, rig_bcast_mac, 6);
    assert_int_equal(arp_parse(rig_rx + ETHER_HDR_LEN, n - ETHER_HDR_LEN, &arp), WIRE_OK);
    assert_int_equal(arp.op, ARP_OP_REQUEST);
    assert_int_equal(arp.tpa, target);
}

static void test_route_connected_and_gateway(void **state)
{
    struct rig *r = *state; /* unresolved, with a gateway */
    memset(echo, 0, sizeof(echo));
    assert_int_equal(ipv4_source_for(r->s, RIG_FAR_IP), RIG_OUR_IP);
    assert_int_equal(ipv4_mtu_for(r->s, RIG_FAR_IP), 1500);
    assert_int_equal(ipv4_source_for(r->s, 0xc0000232u), RIG_OUR_IP);
    /* On the link: resolve the destination itself. */
    assert_int_equal(icmp_echo_start(r->s, 0xc0000232u, 1, 8, 5000000, echo_done, 0), 0);
    expect_arp_request(r, 0xc0000232u);
    /* Off the link: resolve the gateway, send to its MAC. */
    assert_int_equal(icmp_echo_start(r->s, RIG_FAR_IP, 2, 8, 5000000, echo_done, 1), 0);
    expect_arp_request(r, RIG_PEER_IP);
    assert_int_equal(rig_recv(r), 0);
    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, rig_our_mac, RIG_OUR_IP);
    struct ipv4_repr ip;
    const uint8_t *payload;
    size_t len;
    expect_ip(r, &ip, &payload, &len); /* to rig_peer_mac: checked by expect_ip */
    assert_int_equal(ip.dst, RIG_FAR_IP);
    assert_int_equal(ip.src, RIG_OUR_IP);
    assert_int_equal(rig_recv(r), 0);
    /* The subnet broadcast goes to the broadcast MAC, without ARP. */
    struct pkt *pkt = pkt_alloc(UDP_HDR_LEN);
    struct udp_repr udp = {.src_port = 1, .dst_port = 2};
    udp_emit_ipv4(&udp, RIG_OUR_IP, RIG_BCAST_IP, pkt->data);
    assert_int_equal(ipv4_output(r->s, pkt, IP_PROTO_UDP, 0, RIG_BCAST_IP, NULL), 0);
    size_t n = rig_recv(r);
    assert_true(n > 0);
    assert_memory_equal(rig_rx, rig_bcast_mac, 6);
}

static void test_route_none(void **state)
{
    struct rig *r = *state; /* no gateway */
    memset(echo, 0, sizeof(echo));
    assert_int_equal(ipv4_source_for(r->s, RIG_FAR_IP), 0);
    assert_int_equal(ipv4_mtu_for(r->s, RIG_FAR_IP), 0);
    struct stack_stats before = r->s->stats;
    assert_int_equal(icmp_echo_start(r->s, RIG_FAR_IP, 1, 8, 5000000, echo_done, 0), -ENETUNREACH);
    assert_int_equal(r->s->stats.ipv4_tx_no_route - before.ipv4_tx_no_route, 1);
    struct pkt *pkt = pkt_alloc(8);
    memset(pkt->data, 0, 8);
    assert_int_equal(ipv4_output(r->s, pkt, IP_PROTO_UDP, 0, RIG_FAR_IP, NULL), -ENETUNREACH);
    assert_int_equal(rig_recv(r), 0);
    /* The waiter was released: no late callback. */
    rig_run(r, r->now + 10000000);
    assert_int_equal(echo[0].calls, 0);
    /* The link itself is still reachable. */
    assert_int_equal(icmp_echo_start(r->s, RIG_PEER_IP, 2, 8, 5000000, echo_done, 1), 0);
    assert_true(rig_recv(r) > 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, rig_teardown)
    const struct CMUnitTest tests[] = {
        T(test_truncations),
        T(test_bad_headers),
        T(test_options),
        T(test_not_for_us),
        T(test_padding_ignored),
        T(test_unknown_protocol),
        T(test_udp_port_unreachable_rate_limited),
        T(test_udp_malformed),
        T(test_no_error_about_broadcast),
        T(test_no_error_about_icmp_errors),
        T(test_no_error_about_non_first_fragment),
        T(test_fragmentation_output),
        T(test_reass_in_order),
        T(test_reass_reverse_and_random),
        T(test_reass_duplicates),
        T(test_reass_largest),
        T(test_reass_overlap),
        T(test_reass_timeout),
        T(test_reass_timeout_broadcast),
        T(test_reass_flood_bounds),
        cmocka_unit_test_setup_teardown(test_route_connected_and_gateway, setup_unresolved,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_route_none, setup_no_gateway, rig_teardown),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
