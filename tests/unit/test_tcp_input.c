/* Unit tests for TCP input: one real stack, a scripted peer. Segments are
 * forged (Ethernet + IPv4 + TCP) and delivered to the stack's netif; what
 * the stack answers is read back from the other end of a virtual wire and
 * parsed. Covers the malformed cases (counted drops, no answer), RFC 9293
 * §3.10.7 answers (RST to a closed port, unacceptable ACKs), RFC 5961
 * (challenge ACKs and their rate limit), urgent data, SYN cookies, and a
 * few state-machine paths, plus SipHash-2-4 test vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "driver.h"
#include "netif.h"
#include "stack.h"
#include "tcp.h"
#include "tcp_priv.h"
#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/tcp_wire.h"
#include "wire/wire.h"

#define US 0xc0000202u   /* 192.0.2.2: the stack under test */
#define PEER 0xc0000201u /* 192.0.2.1: the scripted peer */
#define PEER_PORT 40000
#define PORT 80
#define PEER_ISS 1000000u
#define T0 1000000ull

struct env {
    struct stack *s;
    struct stack *other; /* owns the peer end of the wire; never run */
    struct netif *na, *nb;
    uint64_t now;
    /* The last segment read back. */
    struct tcp_repr got;
    uint8_t got_payload[2048];
    /* An owner that records events. */
    unsigned events;
    struct tcp_pcb *listener;
};

static void owner_cb(struct tcp_pcb *pcb, void *owner, unsigned events)
{
    (void)pcb;
    struct env *e = owner;
    e->events |= events;
}

/* ---- Frames ---- */

static void deliver_tcp_bytes(struct env *e, const uint8_t *tcp, size_t len)
{
    static uint8_t f[2200];
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, e->na->mac, ETHER_ADDR_LEN);
    memcpy(eth.src, e->nb->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, f);
    struct ipv4_repr ip = {.hdr_len = IPV4_HDR_MIN,
                           .total_len = (uint16_t)(IPV4_HDR_MIN + len),
                           .id = 7,
                           .ttl = 64,
                           .proto = IP_PROTO_TCP,
                           .src = PEER,
                           .dst = US};
    ipv4_emit(&ip, f + ETHER_HDR_LEN);
    memcpy(f + ETHER_HDR_LEN + IPV4_HDR_MIN, tcp, len);
    netif_deliver(e->na, f, ETHER_HDR_LEN + IPV4_HDR_MIN + len);
}

static void inject(struct env *e, const struct tcp_repr *r)
{
    static uint8_t seg[2048];
    struct tcp_repr c = *r;
    size_t hdr = tcp_hdr_len(&c);
    if (c.payload_len > 0)
        memcpy(seg + hdr, c.payload, c.payload_len);
    c.payload = seg + hdr;
    tcp_emit_ipv4(&c, PEER, US, seg);
    deliver_tcp_bytes(e, seg, hdr + c.payload_len);
}

/* Rewrites the checksum of a raw segment (after a test broke a field). */
static void fix_checksum(uint8_t *seg, size_t len)
{
    be16_put(seg + 16, 0);
    uint32_t sum = csum_pseudo_ipv4(PEER, US, IP_PROTO_TCP, (uint16_t)len);
    be16_put(seg + 16, csum_finish(csum_add(sum, seg, len)));
}

/* The stack refreshes its ARP entry for the peer now and then (and
 * forgets it after a minute): the scripted peer answers. */
static void answer_arp(struct env *e, const uint8_t *data, size_t len)
{
    struct arp_repr req;
    if (arp_parse(data, len, &req) != WIRE_OK || req.op != ARP_OP_REQUEST || req.tpa != PEER)
        return;
    static uint8_t f[64];
    memset(f, 0, sizeof(f));
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memcpy(eth.dst, e->na->mac, ETHER_ADDR_LEN);
    memcpy(eth.src, e->nb->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, f);
    struct arp_repr rep = {.op = ARP_OP_REPLY, .spa = PEER, .tpa = US};
    memcpy(rep.sha, e->nb->mac, ETHER_ADDR_LEN);
    memcpy(rep.tha, e->na->mac, ETHER_ADDR_LEN);
    arp_emit(&rep, f + ETHER_HDR_LEN);
    netif_deliver(e->na, f, 60);
}

/* Reads the stack's next TCP segment (ARP is skipped); false if none. */
static bool recv_tcp(struct env *e)
{
    static uint8_t f[STACK_RX_BUF];
    for (;;) {
        ssize_t n = e->nb->ops->recv(e->nb, f, sizeof(f));
        if (n <= 0)
            return false;
        struct ether_repr eth;
        if (ether_parse(f, (size_t)n, &eth) != WIRE_OK)
            continue;
        if (eth.ethertype == ETHERTYPE_ARP) {
            answer_arp(e, f + ETHER_HDR_LEN, (size_t)n - ETHER_HDR_LEN);
            continue;
        }
        if (eth.ethertype != ETHERTYPE_IPV4)
            continue;
        struct ipv4_repr ip;
        if (ipv4_parse(f + ETHER_HDR_LEN, (size_t)n - ETHER_HDR_LEN, &ip) != WIRE_OK ||
            ip.proto != IP_PROTO_TCP)
            continue;
        const uint8_t *seg = f + ETHER_HDR_LEN + ip.hdr_len;
        size_t len = ip.total_len - ip.hdr_len;
        assert_int_equal(ip.src, US);
        assert_int_equal(ip.dst, PEER);
        assert_true(ip.dont_fragment);
        assert_int_equal(tcp_parse_ipv4(seg, len, ip.src, ip.dst, &e->got), WIRE_OK);
        assert_true(e->got.payload_len <= sizeof(e->got_payload));
        memcpy(e->got_payload, e->got.payload, e->got.payload_len);
        e->got.payload = e->got_payload;
        return true;
    }
}

static void expect_nothing(struct env *e)
{
    assert_false(recv_tcp(e));
}

static void drain(struct env *e)
{
    while (recv_tcp(e))
        ;
}

static void advance(struct env *e, uint64_t us)
{
    e->now += us;
    stack_run(e->s, e->now);
}

/* ---- Setup ---- */

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->s = stack_create(NULL, 42);
    e->other = stack_create(NULL, 43);
    assert_non_null(e->s);
    assert_non_null(e->other);
    e->s->log_fd = -1;
    e->other->log_fd = -1;
    assert_int_equal(vwire_open_pair(e->s, e->other, &e->na, &e->nb), 0);
    assert_int_equal(stack_configure_netif(e->s, e->na, US, 24, 0), 0);
    e->now = T0;
    stack_run(e->s, e->now);
    /* An ARP request from the peer: the stack learns its MAC (RFC 826)
     * and answers; the answer is drained. */
    static uint8_t f[64];
    memset(f, 0, sizeof(f));
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memset(eth.dst, 0xff, ETHER_ADDR_LEN);
    memcpy(eth.src, e->nb->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, f);
    struct arp_repr arp = {.op = ARP_OP_REQUEST, .spa = PEER, .tpa = US};
    memcpy(arp.sha, e->nb->mac, ETHER_ADDR_LEN);
    arp_emit(&arp, f + ETHER_HDR_LEN);
    netif_deliver(e->na, f, 60);
    drain(e);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    stack_destroy(e->s);
    stack_destroy(e->other);
    free(e);
    return 0;
}

static struct tcp_repr seg_base(uint8_t flags, uint32_t seq, uint32_t ack)
{
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = PEER_PORT;
    r.dst_port = PORT;
    r.flags = flags;
    r.seq = seq;
    r.ack = ack;
    r.window = 65535;
    return r;
}

static uint64_t stat_of(struct env *e, const char *name)
{
    for (unsigned i = 0; i < stack_stats_count(); i++)
        if (strcmp(stack_stats_name(i), name) == 0)
            return stack_stats_value(&e->s->stats, i);
    fail_msg("no counter %s", name);
    return 0;
}

static void listen_on(struct env *e, int backlog)
{
    e->listener = tcp_pcb_new(e->s);
    assert_non_null(e->listener);
    tcp_set_owner(e->listener, owner_cb, e);
    assert_int_equal(tcp_bind(e->listener, 0, PORT, false), 0);
    assert_int_equal(tcp_listen(e->listener, backlog), 0);
}

/* A passive open by the peer; returns the accepted connection. Our ISS is
 * in *iss. With opts the SYN carries MSS, SACK-permitted, no timestamps. */
static struct tcp_pcb *open_passive(struct env *e, uint32_t *iss)
{
    listen_on(e, 8);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.has_mss = true;
    syn.mss = 1460;
    syn.sack_permitted = true;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    *iss = e->got.seq;
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, *iss + 1);
    inject(e, &ack);
    expect_nothing(e);
    struct tcp_pcb *c = tcp_accept(e->listener);
    assert_non_null(c);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    tcp_set_owner(c, owner_cb, e);
    e->events = 0;
    return c;
}

/* ---- SipHash ---- */

static void test_siphash_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64];
    for (unsigned i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (unsigned i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    /* From the SipHash paper's reference vectors (vectors.h). */
    assert_true(tcp_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(tcp_siphash(key, msg, 1) == 0x74f839c593dc67fdull);
    assert_true(tcp_siphash(key, msg, 8) == 0x93f5f5799a932462ull);
    assert_true(tcp_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
    assert_true(tcp_siphash(key, msg, 63) == 0x958a324ceb064572ull);
}

/* ---- Malformed segments: counted, dropped, never answered ---- */

static void make_raw_syn(uint8_t *seg, size_t *len)
{
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.payload = NULL;
    tcp_emit_ipv4(&syn, PEER, US, seg);
    *len = tcp_hdr_len(&syn);
}

static void test_malformed_data_offset(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    uint8_t seg[64];
    size_t len;
    /* Data offset 4 (< 5), checksum valid. */
    make_raw_syn(seg, &len);
    seg[12] = 4 << 4;
    fix_checksum(seg, len);
    deliver_tcp_bytes(e, seg, len);
    assert_int_equal(stat_of(e, "tcp_rx_malformed"), 1);
    expect_nothing(e);
    /* Data offset 15 (60 bytes) in a 20-byte segment. */
    make_raw_syn(seg, &len);
    seg[12] = 15 << 4;
    fix_checksum(seg, len);
    deliver_tcp_bytes(e, seg, len);
    assert_int_equal(stat_of(e, "tcp_rx_malformed"), 2);
    expect_nothing(e);
    assert_int_equal(tcp_pcb_count(e->s), 1); /* only the listener */
}

static void test_malformed_options(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    static const uint8_t bad_opts[][4] = {
        {TCP_OPT_MSS, 0, 0, 0},                     /* length 0 */
        {TCP_OPT_MSS, 1, 0, 0},                     /* length 1 */
        {TCP_OPT_NOP, 99, 5, 1},                    /* unknown kind 99 running past the header */
        {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_MSS, 4}, /* MSS overrunning */
    };
    for (unsigned i = 0; i < 4; i++) {
        uint8_t seg[64];
        size_t len;
        make_raw_syn(seg, &len);
        memcpy(seg + 20, bad_opts[i], 4);
        seg[12] = 6 << 4; /* 24-byte header */
        len = 24;
        fix_checksum(seg, len);
        deliver_tcp_bytes(e, seg, len);
        assert_int_equal(stat_of(e, "tcp_rx_malformed"), i + 1);
        expect_nothing(e);
    }
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

static void test_bad_checksum(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    uint8_t seg[64];
    size_t len;
    make_raw_syn(seg, &len);
    seg[16] ^= 0x55;
    deliver_tcp_bytes(e, seg, len);
    assert_int_equal(stat_of(e, "tcp_rx_bad_checksum"), 1);
    assert_int_equal(stat_of(e, "tcp_rx_malformed"), 0);
    expect_nothing(e);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

static void test_syn_fin_and_syn_rst_dropped(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_repr r = seg_base(TCP_SYN | TCP_FIN, PEER_ISS, 0);
    inject(e, &r);
    expect_nothing(e);
    r = seg_base(TCP_SYN | TCP_RST, PEER_ISS, 0);
    inject(e, &r);
    expect_nothing(e);
    /* Also to a closed port: no RST either. */
    r = seg_base(TCP_SYN | TCP_FIN, PEER_ISS, 0);
    r.dst_port = 81;
    inject(e, &r);
    expect_nothing(e);
    assert_int_equal(stat_of(e, "tcp_rx_bad_flags"), 3);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

/* ---- RFC 9293 §3.10.7.1: no connection ---- */

static void test_rst_to_closed_port(void **state)
{
    struct env *e = *state;
    /* No ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN count. */
    struct tcp_repr r = seg_base(TCP_SYN, 5000, 0);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST | TCP_ACK);
    assert_int_equal(e->got.seq, 0);
    assert_int_equal(e->got.ack, 5001);
    assert_int_equal(e->got.src_port, PORT);
    assert_int_equal(e->got.dst_port, PEER_PORT);
    uint8_t data[10] = {0};
    r = seg_base(TCP_FIN | TCP_PSH, 7000, 0);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, 7011);
    /* With ACK: <SEQ=SEG.ACK><CTL=RST>. */
    r = seg_base(TCP_ACK, 5000, 123456);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST);
    assert_int_equal(e->got.seq, 123456);
    /* Never an RST for an RST. */
    r = seg_base(TCP_RST | TCP_ACK, 5000, 123456);
    inject(e, &r);
    expect_nothing(e);
    assert_int_equal(stat_of(e, "tcp_rx_no_socket"), 4);
}

/* ---- LISTEN and SYN-RECEIVED ---- */

static void test_listen_ack_gets_rst(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_repr r = seg_base(TCP_ACK, 5000, 777);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST);
    assert_int_equal(e->got.seq, 777);
    r = seg_base(TCP_RST, 5000, 0);
    inject(e, &r);
    expect_nothing(e);
}

static void test_syn_received_unacceptable_ack(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    inject(e, &syn);
    assert_true(recv_tcp(e));
    uint32_t iss = e->got.seq;
    assert_int_equal(tcp_pcb_count(e->s), 2);
    /* An ACK that does not acknowledge our SYN: <SEQ=SEG.ACK><CTL=RST>. */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1000);
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST);
    assert_int_equal(e->got.seq, iss + 1000);
    assert_int_equal(stat_of(e, "tcp_drop_unacceptable"), 1);
    /* The embryo survives and completes with the right ACK. */
    ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    inject(e, &ack);
    expect_nothing(e);
    assert_non_null(tcp_accept(e->listener));
}

static void test_syn_received_retransmits_synack(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    inject(e, &syn);
    assert_true(recv_tcp(e));
    uint32_t iss = e->got.seq;
    /* The peer's SYN again: our SYN-ACK was lost. */
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(e->got.seq, iss);
    /* The timer: 1 s, 2 s, 4 s, 8 s, 16 s, then the embryo goes. */
    uint64_t t = 1000000;
    for (unsigned i = 0; i < TCP_SYNACK_RETRIES; i++) {
        advance(e, t);
        assert_true(recv_tcp(e));
        assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
        t *= 2;
    }
    advance(e, t);
    expect_nothing(e);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

static void test_accept_queue_full_drops_ack(void **state)
{
    struct env *e = *state;
    listen_on(e, 0); /* holds one connection (backlog + 1, as Linux) */
    uint32_t iss[3];
    for (unsigned i = 0; i < 2; i++) {
        struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
        syn.src_port = (uint16_t)(PEER_PORT + i);
        inject(e, &syn);
        assert_true(recv_tcp(e));
        iss[i] = e->got.seq;
    }
    for (unsigned i = 0; i < 2; i++) {
        struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss[i] + 1);
        ack.src_port = (uint16_t)(PEER_PORT + i);
        inject(e, &ack);
        expect_nothing(e);
    }
    assert_int_equal(stat_of(e, "tcp_drop_accept_queue_full"), 1);
    /* A full accept queue also drops new SYNs (Linux's ListenOverflows). */
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.src_port = PEER_PORT + 2;
    inject(e, &syn);
    expect_nothing(e);
    assert_int_equal(stat_of(e, "tcp_drop_accept_queue_full"), 2);
    assert_non_null(tcp_accept(e->listener));
    assert_null(tcp_accept(e->listener));
    /* Room again: the dropped ACK's connection completes when the peer
     * answers the retransmitted SYN-ACK. */
    advance(e, 1000000);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(e->got.dst_port, PEER_PORT + 1);
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss[1] + 1);
    ack.src_port = PEER_PORT + 1;
    inject(e, &ack);
    assert_non_null(tcp_accept(e->listener));
}

/* ---- ESTABLISHED ---- */

static void test_established_unacceptable_ack(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    /* ACK of data never sent: an ACK back, the segment's data dropped. */
    uint8_t data[5] = {1, 2, 3, 4, 5};
    struct tcp_repr r = seg_base(TCP_ACK | TCP_PSH, PEER_ISS + 1, iss + 100);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_int_equal(tcp_recv_available(c), 0);
    /* An ACK older than snd_una - max window (RFC 5961 §5.2). */
    r = seg_base(TCP_ACK | TCP_PSH, PEER_ISS + 1, iss - 200000);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_int_equal(tcp_recv_available(c), 0);
    assert_int_equal(stat_of(e, "tcp_drop_unacceptable"), 2);
    /* An acceptable one delivers. */
    r = seg_base(TCP_ACK | TCP_PSH, PEER_ISS + 1, iss + 1);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    assert_int_equal(tcp_recv_available(c), 5);
    assert_true(e->events & TCP_EV_READABLE);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
}

static void test_urgent_pointer_past_data(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    uint8_t data[10];
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)('a' + i);
    struct tcp_repr r = seg_base(TCP_ACK | TCP_URG, PEER_ISS + 1, iss + 1);
    r.urgent = 5000; /* far beyond the segment */
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    /* RFC 6093: the urgent byte stays inline; everything is delivered. */
    uint8_t out[32];
    assert_int_equal(tcp_recv(c, out, sizeof(out)), sizeof(data));
    assert_memory_equal(out, data, sizeof(data));
    /* A second URG segment with a pointer inside the data, too. */
    r = seg_base(TCP_ACK | TCP_URG, PEER_ISS + 11, iss + 1);
    r.urgent = 1;
    r.payload = data;
    r.payload_len = 3;
    inject(e, &r);
    assert_int_equal(tcp_recv(c, out, sizeof(out)), 3);
    /* The data was acknowledged (two segments: at once). */
    advance(e, TCP_DELACK_US);
    bool acked = false;
    while (recv_tcp(e))
        if (e->got.ack == PEER_ISS + 14)
            acked = true;
    assert_true(acked);
}

static void test_rst_in_window_challenge(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    /* In the window but not at rcv_nxt: a challenge ACK, no reset. */
    struct tcp_repr r = seg_base(TCP_RST, PEER_ISS + 1 + 100, 0);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    assert_int_equal(stat_of(e, "tcp_challenge_acks"), 1);
    /* Outside the window: silently dropped. */
    r = seg_base(TCP_RST, PEER_ISS + 1 + 10000000, 0);
    inject(e, &r);
    expect_nothing(e);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    /* Exactly at rcv_nxt: reset, ECONNRESET, nothing sent. */
    r = seg_base(TCP_RST, PEER_ISS + 1, 0);
    inject(e, &r);
    expect_nothing(e);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), ECONNRESET);
    assert_true(e->events & TCP_EV_CLOSED);
    assert_int_equal(tcp_send(c, "x", 1), -ECONNRESET);
    tcp_close(c);
}

static void test_syn_in_established_challenge(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    struct tcp_repr r = seg_base(TCP_SYN, PEER_ISS + 50, 0);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    /* An old SYN (outside the window) also draws an ACK, not a reset. */
    r = seg_base(TCP_SYN, PEER_ISS - 5000, 0);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
}

static void test_challenge_ack_rate_limit(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    unsigned acks = 0;
    for (unsigned i = 0; i < 25; i++) {
        struct tcp_repr r = seg_base(TCP_RST, PEER_ISS + 1 + 10 + i, 0);
        inject(e, &r);
        while (recv_tcp(e))
            acks++;
    }
    assert_int_equal(acks, TCP_CHALLENGE_ACKS_PER_S);
    assert_int_equal(stat_of(e, "tcp_challenge_ack_limited"), 25 - TCP_CHALLENGE_ACKS_PER_S);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    /* A second later the budget is back. */
    advance(e, 1000000);
    drain(e);
    struct tcp_repr r = seg_base(TCP_RST, PEER_ISS + 1 + 10, 0);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
}

static void test_out_of_order_sack(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    uint8_t data[100];
    memset(data, 'x', sizeof(data));
    /* A hole of 100 bytes, then 100 bytes: an immediate duplicate ACK with
     * one SACK block naming them. */
    struct tcp_repr r = seg_base(TCP_ACK, PEER_ISS + 101, iss + 1);
    r.payload = data;
    r.payload_len = 100;
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_int_equal(e->got.sack_count, 1);
    assert_int_equal(e->got.sack[0].left, PEER_ISS + 101);
    assert_int_equal(e->got.sack[0].right, PEER_ISS + 201);
    assert_int_equal(tcp_recv_available(c), 0);
    /* Another island further on: it comes first. */
    r.seq = PEER_ISS + 301;
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.sack_count, 2);
    assert_int_equal(e->got.sack[0].left, PEER_ISS + 301);
    assert_int_equal(e->got.sack[1].left, PEER_ISS + 101);
    /* Filling the first hole: an immediate ACK up to the next hole. */
    r.seq = PEER_ISS + 1;
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, PEER_ISS + 201);
    assert_int_equal(e->got.sack_count, 1);
    assert_int_equal(tcp_recv_available(c), 200);
}

static void test_zero_window_and_probe(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_options o = *tcp_get_options(e->listener);
    o.rcvbuf = 4096;
    assert_int_equal(tcp_set_options(e->listener, &o), 0);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.has_mss = true;
    syn.mss = 1000;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.window, 4096);
    uint32_t iss = e->got.seq;
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    inject(e, &ack);
    struct tcp_pcb *c = tcp_accept(e->listener);
    assert_non_null(c);
    /* Fill the window exactly. */
    static uint8_t data[1100];
    uint32_t seq = PEER_ISS + 1;
    for (unsigned i = 0; i < 4; i++) {
        struct tcp_repr r = seg_base(TCP_ACK, seq, iss + 1);
        r.payload = data;
        r.payload_len = i < 3 ? 1000 : 1096;
        inject(e, &r);
        seq += (uint32_t)r.payload_len;
    }
    advance(e, TCP_DELACK_US);
    uint16_t last_win = 1;
    while (recv_tcp(e))
        last_win = e->got.window;
    assert_int_equal(last_win, 0);
    /* A byte beyond the zero window: ACKed, not taken. */
    struct tcp_repr probe = seg_base(TCP_ACK, seq, iss + 1);
    probe.payload = data;
    probe.payload_len = 1;
    inject(e, &probe);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, seq);
    assert_int_equal(e->got.window, 0);
    assert_int_equal(tcp_recv_available(c), 4096);
    /* Reading opens the window and sends an update. */
    static uint8_t out[4096];
    assert_int_equal(tcp_recv(c, out, sizeof(out)), 4096);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, seq);
    assert_int_equal(e->got.window, 4096);
}

static void test_data_after_close_gets_rst(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    tcp_close(c);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_FIN | TCP_ACK);
    uint8_t data[4] = {0};
    struct tcp_repr r = seg_base(TCP_ACK, PEER_ISS + 1, iss + 2);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_true(e->got.flags & TCP_RST);
    assert_int_equal(stat_of(e, "tcp_drop_after_close"), 1);
    assert_int_equal(tcp_pcb_count(e->s), 1); /* freed: only the listener */
}

static void test_close_unread_data_sends_rst(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    uint8_t data[4] = {0};
    struct tcp_repr r = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    drain(e);
    tcp_close(c);
    assert_true(recv_tcp(e));
    assert_true(e->got.flags & TCP_RST);
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

static void test_timewait_fin_retransmit(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    assert_int_equal(tcp_shutdown_write(c), 0);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_FIN | TCP_ACK);
    /* The peer acks our FIN and sends its own. */
    struct tcp_repr r = seg_base(TCP_ACK | TCP_FIN, PEER_ISS + 1, iss + 2);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.ack, PEER_ISS + 2);
    assert_int_equal(tcp_get_state(c), TCP_TIME_WAIT);
    assert_true(e->events & TCP_EV_CLOSED);
    assert_true(tcp_recv_eof(c));
    /* Its FIN again: ACKed again. */
    advance(e, 1000000);
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.ack, PEER_ISS + 2);
    tcp_close(c);
    /* 2MSL later the tuple is gone. */
    advance(e, (uint64_t)e->s->cfg.tcp_timewait_ms * 1000);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

/* ---- SYN-SENT ---- */

static struct tcp_pcb *connect_out(struct env *e, uint32_t *iss)
{
    struct tcp_pcb *c = tcp_pcb_new(e->s);
    tcp_set_owner(c, owner_cb, e);
    assert_int_equal(tcp_connect(c, PEER, PEER_PORT), 0);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_SYN);
    assert_true(e->got.has_mss);
    assert_int_equal(e->got.mss, 1460);
    assert_true(e->got.has_wscale);
    assert_true(e->got.sack_permitted);
    assert_true(e->got.has_timestamps);
    assert_true(e->got.src_port >= TCP_EPHEMERAL_MIN && e->got.src_port <= TCP_EPHEMERAL_MAX);
    *iss = e->got.seq;
    return c;
}

static void test_syn_sent_rst_refused(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = connect_out(e, &iss);
    uint16_t lport = e->got.src_port;
    /* An RST without an acceptable ACK is dropped. */
    struct tcp_repr r = seg_base(TCP_RST | TCP_ACK, 0, iss + 5);
    r.src_port = PEER_PORT;
    r.dst_port = lport;
    inject(e, &r);
    /* ... and the bad ACK draws no RST (never for an RST). */
    expect_nothing(e);
    assert_int_equal(tcp_get_state(c), TCP_SYN_SENT);
    r.ack = iss + 1;
    inject(e, &r);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), ECONNREFUSED);
    assert_true(e->events & TCP_EV_CLOSED);
    tcp_close(c);
    assert_int_equal(tcp_pcb_count(e->s), 0);
}

static void test_syn_sent_bad_ack_gets_rst(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = connect_out(e, &iss);
    uint16_t lport = e->got.src_port;
    struct tcp_repr r = seg_base(TCP_SYN | TCP_ACK, 9000, iss + 77);
    r.src_port = PEER_PORT;
    r.dst_port = lport;
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST);
    assert_int_equal(e->got.seq, iss + 77);
    assert_int_equal(tcp_get_state(c), TCP_SYN_SENT);
    /* The right SYN-ACK completes the open. */
    r.ack = iss + 1;
    r.has_mss = true;
    r.mss = 1000;
    inject(e, &r);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.ack, 9001);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    assert_true(e->events & TCP_EV_CONNECTED);
    struct toysock_tcp_info ti;
    tcp_get_info(c, &ti);
    assert_int_equal(ti.snd_mss, 1000);
    assert_int_equal(ti.options, 0); /* the peer offered none */
    tcp_abort(c);
    assert_true(recv_tcp(e));
    assert_true(e->got.flags & TCP_RST);
}

static void test_syn_retries_then_etimedout(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_options o;
    struct tcp_pcb *c = tcp_pcb_new(e->s);
    tcp_set_owner(c, owner_cb, e);
    o = *tcp_get_options(c);
    o.syn_retries = 2;
    assert_int_equal(tcp_set_options(c, &o), 0);
    assert_int_equal(tcp_connect(c, PEER, PEER_PORT), 0);
    assert_true(recv_tcp(e));
    iss = e->got.seq;
    advance(e, 1000000);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, iss);
    advance(e, 2000000);
    assert_true(recv_tcp(e));
    advance(e, 4000000);
    expect_nothing(e);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), ETIMEDOUT);
    tcp_close(c);
}

/* ---- SYN cookies ---- */

static void test_syn_cookies(void **state)
{
    struct env *e = *state;
    listen_on(e, 1); /* the SYN queue holds TCP_SYNQ_MIN embryos */
    for (unsigned i = 0; i < TCP_SYNQ_MIN; i++) {
        struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
        syn.src_port = (uint16_t)(20000 + i);
        inject(e, &syn);
        assert_true(recv_tcp(e));
    }
    assert_int_equal(stat_of(e, "tcp_syncookies_sent"), 0);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.has_mss = true;
    syn.mss = 1460;
    syn.has_timestamps = true;
    syn.ts_val = 5555;
    syn.has_wscale = true;
    syn.wscale = 7;
    syn.sack_permitted = true;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_int_equal(stat_of(e, "tcp_syncookies_sent"), 1);
    assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
    assert_true(e->got.has_timestamps);
    assert_true(e->got.has_wscale);
    assert_true(e->got.sack_permitted);
    uint32_t cookie = e->got.seq;
    uint32_t tsval = e->got.ts_val;
    assert_int_equal(tcp_pcb_count(e->s), 1 + TCP_SYNQ_MIN); /* no state kept */
    /* A forged ACK with a wrong cookie: RST. */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, cookie + 1 + 8);
    ack.has_timestamps = true;
    ack.ts_val = 5556;
    ack.ts_ecr = tsval;
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_RST);
    assert_int_equal(stat_of(e, "tcp_syncookies_failed"), 1);
    /* The real one: a connection with the options restored. */
    ack.ack = cookie + 1;
    inject(e, &ack);
    assert_int_equal(stat_of(e, "tcp_syncookies_ok"), 1);
    struct tcp_pcb *c = tcp_accept(e->listener);
    assert_non_null(c);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    struct toysock_tcp_info ti;
    tcp_get_info(c, &ti);
    assert_int_equal(ti.options, 1 | 2 | 4);
    assert_int_equal(ti.snd_wscale, 7);
    assert_int_equal(ti.snd_mss, 1460 - 12);
    /* Data flows both ways. */
    assert_int_equal(tcp_send(c, "hello", 5), 5);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.payload_len, 5);
    assert_int_equal(e->got.seq, cookie + 1);
}

/* ---- ICMP errors ---- */

static void test_icmp_unreachable_aborts_connect(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = connect_out(e, &iss);
    uint8_t quote[8];
    be16_put(quote, e->got.src_port);
    be16_put(quote + 2, PEER_PORT);
    be32_put(quote + 4, iss);
    struct ipv4_repr orig = {.src = US, .dst = PEER, .proto = IP_PROTO_TCP};
    /* A quote with a sequence number not in flight is ignored (RFC 5927). */
    be32_put(quote + 4, iss + 5000);
    tcp_error_input(e->s, &orig, quote, sizeof(quote), EHOSTUNREACH, 0);
    assert_int_equal(tcp_get_state(c), TCP_SYN_SENT);
    be32_put(quote + 4, iss);
    tcp_error_input(e->s, &orig, quote, sizeof(quote), EHOSTUNREACH, 0);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), EHOSTUNREACH);
    tcp_close(c);
}

static void test_frag_needed_lowers_mss(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    static uint8_t big[3000];
    assert_int_equal(tcp_send(c, big, sizeof(big)), (long)sizeof(big));
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.payload_len, 1460);
    drain(e);
    uint8_t quote[8];
    be16_put(quote, PORT);
    be16_put(quote + 2, PEER_PORT);
    be32_put(quote + 4, iss + 1);
    struct ipv4_repr orig = {.src = US, .dst = PEER, .proto = IP_PROTO_TCP};
    tcp_error_input(e->s, &orig, quote, sizeof(quote), EMSGSIZE, 1000);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(e->got.payload_len, 960);
    struct toysock_tcp_info ti;
    tcp_get_info(c, &ti);
    assert_int_equal(ti.snd_mss, 960);
}

/* ---- Simultaneous open, flow control, timers, recovery ---- */

static void test_simultaneous_open(void **state)
{
    struct env *e = *state;
    struct tcp_pcb *c = tcp_pcb_new(e->s);
    tcp_set_owner(c, owner_cb, e);
    assert_int_equal(tcp_bind(c, 0, 5000, false), 0);
    assert_int_equal(tcp_connect(c, PEER, 6000), 0);
    assert_true(recv_tcp(e));
    uint32_t iss = e->got.seq;
    /* The peer's SYN crosses ours. */
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.src_port = 6000;
    syn.dst_port = 5000;
    syn.has_mss = true;
    syn.mss = 1200;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(e->got.seq, iss);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
    assert_false(e->got.has_wscale); /* the peer offered none */
    assert_int_equal(tcp_get_state(c), TCP_SYN_RECEIVED);
    /* And its SYN-ACK crosses ours: established. */
    struct tcp_repr sa = seg_base(TCP_SYN | TCP_ACK, PEER_ISS, iss + 1);
    sa.src_port = 6000;
    sa.dst_port = 5000;
    inject(e, &sa);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    assert_true(e->events & TCP_EV_CONNECTED);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_ACK);
    assert_int_equal(e->got.ack, PEER_ISS + 1);
}

/* Established by a passive open with the peer's window in the final ACK. */
static struct tcp_pcb *open_with_window(struct env *e, uint32_t *iss, uint16_t window)
{
    listen_on(e, 8);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.has_mss = true;
    syn.mss = 1000;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    *iss = e->got.seq;
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, *iss + 1);
    ack.window = window;
    inject(e, &ack);
    struct tcp_pcb *c = tcp_accept(e->listener);
    assert_non_null(c);
    tcp_set_owner(c, owner_cb, e);
    return c;
}

static void test_persist_probes(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 0);
    assert_int_equal(tcp_send(c, "abcdef", 6), 6);
    expect_nothing(e); /* the window is closed */
    /* Probes: one before snd_una, no data, with backoff. */
    uint64_t waited = 0;
    unsigned probes = 0;
    uint64_t last_gap = 0, since = 0;
    while (probes < 4 && waited < 60000000) {
        advance(e, 10000);
        waited += 10000;
        since += 10000;
        if (recv_tcp(e)) {
            assert_int_equal(e->got.seq, iss);
            assert_int_equal(e->got.payload_len, 0);
            if (probes > 0)
                assert_true(since > last_gap);
            last_gap = since;
            since = 0;
            probes++;
            /* The peer answers: still closed. */
            struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
            ack.window = 0;
            inject(e, &ack);
            expect_nothing(e);
        }
    }
    assert_int_equal(probes, 4);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    /* The window opens: the data goes. */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    ack.window = 1000;
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(e->got.payload_len, 6);
}

static void test_keepalive(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    struct tcp_options o = *tcp_get_options(c);
    o.keepalive = true;
    o.keepidle_s = 10;
    o.keepintvl_s = 2;
    o.keepcnt = 3;
    assert_int_equal(tcp_set_options(c, &o), 0);
    advance(e, 9000000);
    expect_nothing(e);
    advance(e, 1000000);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, iss); /* snd_una - 1 */
    assert_int_equal(e->got.payload_len, 0);
    /* Answered: idle again. */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    inject(e, &ack);
    advance(e, 2000000);
    expect_nothing(e);
    advance(e, 8000000);
    assert_true(recv_tcp(e));
    /* Never answered: keepcnt probes, then RST and ETIMEDOUT. */
    for (unsigned i = 1; i < 3; i++) {
        advance(e, 2000000);
        assert_true(recv_tcp(e));
        assert_int_equal(e->got.flags, TCP_ACK);
    }
    advance(e, 2000000);
    assert_true(recv_tcp(e));
    assert_true(e->got.flags & TCP_RST);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), ETIMEDOUT);
}

static void test_retransmit_limit(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    assert_int_equal(tcp_send(c, "data", 4), 4);
    assert_true(recv_tcp(e));
    /* An ICMP soft error meanwhile: it is what the timeout reports. */
    uint8_t quote[8];
    be16_put(quote, PORT);
    be16_put(quote + 2, PEER_PORT);
    be32_put(quote + 4, iss + 1);
    struct ipv4_repr orig = {.src = US, .dst = PEER, .proto = IP_PROTO_TCP};
    tcp_error_input(e->s, &orig, quote, sizeof(quote), EHOSTUNREACH, 0);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    unsigned rexmits = 0;
    uint64_t last = e->now, prev_gap = 0;
    for (unsigned step = 0; step < 20000 && tcp_get_state(c) != TCP_CLOSED; step++) {
        advance(e, 100000);
        while (recv_tcp(e)) {
            assert_int_equal(e->got.seq, iss + 1);
            uint64_t gap = e->now - last;
            assert_true(gap >= prev_gap); /* exponential backoff, capped */
            assert_true(gap <= TCP_RTO_MAX_US + 100000);
            prev_gap = gap;
            last = e->now;
            rexmits++;
        }
    }
    assert_int_equal(rexmits, TCP_RETRIES2);
    assert_int_equal(tcp_get_state(c), TCP_CLOSED);
    assert_int_equal(tcp_error(c), EHOSTUNREACH);
}

/* Sends n full segments and returns the first segment's sequence number. */
static uint32_t send_segments(struct env *e, struct tcp_pcb *c, unsigned n, uint32_t mss)
{
    static uint8_t buf[20000];
    assert_true(n * mss <= sizeof(buf));
    assert_int_equal(tcp_send(c, buf, n * mss), (long)(n * mss));
    uint32_t first = 0;
    for (unsigned i = 0; i < n; i++) {
        assert_true(recv_tcp(e));
        assert_int_equal(e->got.payload_len, mss);
        if (i == 0)
            first = e->got.seq;
    }
    return first;
}

static void test_fast_retransmit_newreno(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    uint32_t s = send_segments(e, c, 6, 1000);
    /* Segment 1 lost: duplicate ACKs for it. Limited transmit (RFC 3042)
     * has nothing new to send; the third triggers the retransmission. */
    for (unsigned i = 0; i < 3; i++) {
        struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, s);
        inject(e, &ack);
        if (i < 2)
            expect_nothing(e);
    }
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, s);
    assert_int_equal(e->got.payload_len, 1000);
    assert_int_equal(stat_of(e, "tcp_fast_retransmits"), 1);
    struct toysock_tcp_info ti;
    tcp_get_info(c, &ti);
    assert_int_equal(ti.ca_state, 3);
    /* A partial ACK (RFC 6582): the next hole goes at once. */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, s + 2000);
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, s + 2000);
    /* The full ACK ends recovery. */
    ack.ack = s + 6000;
    inject(e, &ack);
    tcp_get_info(c, &ti);
    assert_int_equal(ti.ca_state, 0);
    assert_int_equal(ti.unacked, 0);
}

static void test_sack_recovery(void **state)
{
    struct env *e = *state;
    listen_on(e, 8);
    struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
    syn.has_mss = true;
    syn.mss = 1000;
    syn.sack_permitted = true;
    inject(e, &syn);
    assert_true(recv_tcp(e));
    assert_true(e->got.sack_permitted);
    uint32_t iss = e->got.seq;
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
    inject(e, &ack);
    struct tcp_pcb *c = tcp_accept(e->listener);
    assert_non_null(c);
    uint32_t s = send_segments(e, c, 8, 1000);
    /* Segments 1 and 3 lost; SACKs for 2 and 4..8 arrive. */
    struct tcp_repr d = seg_base(TCP_ACK, PEER_ISS + 1, s);
    d.sack_count = 1;
    d.sack[0].left = s + 1000;
    d.sack[0].right = s + 2000;
    inject(e, &d);
    expect_nothing(e);
    d.sack_count = 2;
    d.sack[0].left = s + 3000;
    d.sack[0].right = s + 5000;
    d.sack[1].left = s + 1000;
    d.sack[1].right = s + 2000;
    inject(e, &d);
    d.sack[0].right = s + 6000;
    inject(e, &d);
    /* Three SACKed segments above the first hole: it is lost (IsLost),
     * and so is the second hole: both are retransmitted. */
    bool first = false, third = false;
    while (recv_tcp(e)) {
        if (e->got.seq == s && e->got.payload_len == 1000)
            first = true;
        if (e->got.seq == s + 2000 && e->got.payload_len == 1000)
            third = true;
        assert_false(e->got.seq == s + 1000); /* SACKed: never resent */
    }
    assert_true(first);
    assert_true(third);
    assert_int_equal(stat_of(e, "tcp_fast_retransmits"), 1);
}

static void test_nagle(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    assert_int_equal(tcp_send(c, "0123456789", 10), 10);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.payload_len, 10);
    /* Small data while some is unacked: held (RFC 9293 §3.7.4). */
    assert_int_equal(tcp_send(c, "abc", 3), 3);
    expect_nothing(e);
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 11);
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.payload_len, 3);
    /* TCP_NODELAY: small segments go at once. */
    struct tcp_options o = *tcp_get_options(c);
    o.nodelay = true;
    assert_int_equal(tcp_set_options(c, &o), 0);
    assert_int_equal(tcp_send(c, "x", 1), 1);
    assert_true(recv_tcp(e));
    assert_int_equal(tcp_send(c, "y", 1), 1);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.payload_len, 1);
}

static void test_linger_zero_rst(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    struct tcp_options o = *tcp_get_options(c);
    o.linger_zero = true;
    assert_int_equal(tcp_set_options(c, &o), 0);
    tcp_close(c);
    assert_true(recv_tcp(e));
    assert_true(e->got.flags & TCP_RST);
    assert_int_equal(e->got.seq, iss + 1);
    assert_int_equal(tcp_pcb_count(e->s), 1);
}

static void test_half_close(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    assert_int_equal(tcp_shutdown_write(c), 0);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.flags, TCP_FIN | TCP_ACK);
    assert_int_equal(tcp_send(c, "x", 1), -EPIPE);
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 2);
    inject(e, &ack);
    assert_int_equal(tcp_get_state(c), TCP_FIN_WAIT_2);
    /* The peer keeps talking: we keep receiving. */
    uint8_t data[100];
    memset(data, 'q', sizeof(data));
    struct tcp_repr r = seg_base(TCP_ACK | TCP_PSH, PEER_ISS + 1, iss + 2);
    r.payload = data;
    r.payload_len = sizeof(data);
    inject(e, &r);
    uint8_t out[200];
    assert_int_equal(tcp_recv(c, out, sizeof(out)), 100);
    assert_false(tcp_recv_eof(c));
    r = seg_base(TCP_ACK | TCP_FIN, PEER_ISS + 101, iss + 2);
    inject(e, &r);
    assert_true(tcp_recv_eof(c));
    assert_int_equal(tcp_get_state(c), TCP_TIME_WAIT);
    drain(e);
}

static void test_ooo_ranges_bounded(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_passive(e, &iss);
    uint8_t b = 'z';
    /* Islands of one byte, every other byte: the assembler keeps
     * TCP_RANGES_MAX of them, then drops (and counts) the rest. */
    for (unsigned i = 0; i < TCP_RANGES_MAX + 5; i++) {
        struct tcp_repr r = seg_base(TCP_ACK, PEER_ISS + 1 + 2 + 2 * i, iss + 1);
        r.payload = &b;
        r.payload_len = 1;
        inject(e, &r);
    }
    drain(e);
    assert_int_equal(stat_of(e, "tcp_drop_ooo_full"), 5);
    assert_int_equal(tcp_recv_available(c), 0);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
}

static void test_ephemeral_ports(void **state)
{
    struct env *e = *state;
    uint16_t ports[40];
    unsigned sequential = 0;
    for (unsigned i = 0; i < 40; i++) {
        struct tcp_pcb *c = tcp_pcb_new(e->s);
        assert_int_equal(tcp_connect(c, PEER, (uint16_t)(1000 + i)), 0);
        uint32_t a;
        tcp_local_endpoint(c, &a, &ports[i]);
        assert_int_equal(a, US);
        assert_true(ports[i] >= TCP_EPHEMERAL_MIN && ports[i] <= TCP_EPHEMERAL_MAX);
        if (i > 0 && ports[i] == ports[i - 1] + 1)
            sequential++;
    }
    /* RFC 6056 algorithm 3: the start depends on the destination, so
     * consecutive connects to different ports are not consecutive. */
    assert_true(sequential < 10);
    drain(e);
}

static void test_timewait_bounded(void **state)
{
    struct env *e = *state;
    listen_on(e, 64);
    unsigned n = TCP_MAX_TIMEWAIT + 3;
    for (unsigned i = 0; i < n; i++) {
        uint16_t sport = (uint16_t)(1024 + i);
        struct tcp_repr syn = seg_base(TCP_SYN, PEER_ISS, 0);
        syn.src_port = sport;
        inject(e, &syn);
        assert_true(recv_tcp(e));
        uint32_t iss = e->got.seq;
        struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, iss + 1);
        ack.src_port = sport;
        inject(e, &ack);
        struct tcp_pcb *c = tcp_accept(e->listener);
        assert_non_null(c);
        tcp_close(c); /* FIN */
        assert_true(recv_tcp(e));
        struct tcp_repr fin = seg_base(TCP_ACK | TCP_FIN, PEER_ISS + 1, iss + 2);
        fin.src_port = sport;
        inject(e, &fin);
        assert_true(recv_tcp(e)); /* the ACK of its FIN: we are in TIME-WAIT */
    }
    assert_int_equal(tcp_pcb_count(e->s), 1 + TCP_MAX_TIMEWAIT);
    assert_int_equal(stat_of(e, "tcp_timewait_recycled"), 3);
}

static void test_shrunk_window_not_timed_out(void **state)
{
    struct env *e = *state;
    uint32_t iss;
    struct tcp_pcb *c = open_with_window(e, &iss, 65535);
    uint32_t s = send_segments(e, c, 4, 1000);
    /* The peer takes the first segment and shrinks its window to zero
     * under the other three (RFC 9293 discourages it; it happens). */
    struct tcp_repr ack = seg_base(TCP_ACK, PEER_ISS + 1, s + 1000);
    ack.window = 0;
    inject(e, &ack);
    /* Every timeout now probes; the peer answers each with window 0: far
     * more than TCP_RETRIES2 timeouts, and the connection lives on. */
    unsigned probes = 0;
    for (unsigned step = 0; step < 40000 && probes < TCP_RETRIES2 + 5; step++) {
        advance(e, 100000);
        while (recv_tcp(e)) {
            probes++;
            inject(e, &ack);
        }
    }
    assert_int_equal(probes, TCP_RETRIES2 + 5);
    assert_int_equal(tcp_get_state(c), TCP_ESTABLISHED);
    drain(e);
    /* The window opens: the data goes again. */
    ack.window = 8000;
    inject(e, &ack);
    assert_true(recv_tcp(e));
    assert_int_equal(e->got.seq, s + 1000);
    assert_int_equal(e->got.payload_len, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
#define T(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)
        T(test_malformed_data_offset),
        T(test_malformed_options),
        T(test_bad_checksum),
        T(test_syn_fin_and_syn_rst_dropped),
        T(test_rst_to_closed_port),
        T(test_listen_ack_gets_rst),
        T(test_syn_received_unacceptable_ack),
        T(test_syn_received_retransmits_synack),
        T(test_accept_queue_full_drops_ack),
        T(test_established_unacceptable_ack),
        T(test_urgent_pointer_past_data),
        T(test_rst_in_window_challenge),
        T(test_syn_in_established_challenge),
        T(test_challenge_ack_rate_limit),
        T(test_out_of_order_sack),
        T(test_zero_window_and_probe),
        T(test_data_after_close_gets_rst),
        T(test_close_unread_data_sends_rst),
        T(test_timewait_fin_retransmit),
        T(test_syn_sent_rst_refused),
        T(test_syn_sent_bad_ack_gets_rst),
        T(test_syn_retries_then_etimedout),
        T(test_syn_cookies),
        T(test_icmp_unreachable_aborts_connect),
        T(test_frag_needed_lowers_mss),
        T(test_simultaneous_open),
        T(test_persist_probes),
        T(test_keepalive),
        T(test_retransmit_limit),
        T(test_fast_retransmit_newreno),
        T(test_sack_recovery),
        T(test_nagle),
        T(test_linger_zero_rst),
        T(test_half_close),
        T(test_ooo_ranges_bounded),
        T(test_ephemeral_ports),
        T(test_timewait_bounded),
        T(test_shrunk_window_not_timed_out),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
