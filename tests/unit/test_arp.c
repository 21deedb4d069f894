/* Unit tests for ARP (RFC 826) on one stack: frames are forged and
 * delivered to its vwire netif, and what it sends is read from the other
 * end of the wire (a second stack that never runs). Covers answering,
 * learning, the merge rule, poisoning attempts, resolution with its
 * bounded queue, retries and failure, expiry and refresh, and the
 * gratuitous announcement. */
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
#include "wire/wire.h"

#define HOST_IP 0xc000020au /* 192.0.2.10 */

static const uint8_t host_mac[6] = {0x02, 0xaa, 0, 0, 0, 0x0a};
static const uint8_t other_mac[6] = {0x02, 0xbb, 0, 0, 0, 0x0b};

static int setup(void **state)
{
    struct rig *r = rig_create(101, 102, RIG_PEER_IP, 0);
    assert_memory_equal(r->n->mac, rig_our_mac, 6);
    assert_memory_equal(r->pn->mac, rig_peer_mac, 6);
    *state = r;
    return 0;
}

/* Reads the next frame and requires it to be ARP. */
static void expect_arp(struct rig *r, struct ether_repr *eth, struct arp_repr *arp)
{
    size_t len = rig_recv(r);
    assert_true(len >= ETHER_HDR_LEN + ARP_PKT_LEN);
    assert_int_equal(ether_parse(rig_rx, len, eth), WIRE_OK);
    assert_int_equal(eth->ethertype, ETHERTYPE_ARP);
    assert_int_equal(arp_parse(rig_rx + ETHER_HDR_LEN, len - ETHER_HDR_LEN, arp), WIRE_OK);
}

/* A broadcast request from us for ip. */
static void expect_request(struct rig *r, uint32_t ip, const uint8_t eth_dst[6])
{
    struct ether_repr eth;
    struct arp_repr arp;
    expect_arp(r, &eth, &arp);
    assert_memory_equal(eth.dst, eth_dst, 6);
    assert_memory_equal(eth.src, rig_our_mac, 6);
    assert_int_equal(arp.op, ARP_OP_REQUEST);
    assert_memory_equal(arp.sha, rig_our_mac, 6);
    assert_int_equal(arp.spa, RIG_OUR_IP);
    assert_memory_equal(arp.tha, rig_zero_mac, 6);
    assert_int_equal(arp.tpa, ip);
}

static bool cached(struct rig *r, uint32_t ip, const uint8_t mac[6])
{
    uint8_t got[6];
    if (arp_cache_lookup(r->n->arp, ip, got) < 0)
        return false;
    return mac == NULL || memcmp(got, mac, 6) == 0;
}

/* Echo outcomes, by cookie. */
#define MAX_ECHO 256
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

static void echo_reset(void)
{
    memset(echo, 0, sizeof(echo));
}

static void start_echo(struct rig *r, uint32_t dst, uint16_t seq, size_t len, uint64_t cookie)
{
    assert_int_equal(icmp_echo_start(r->s, dst, seq, len, 10000000, echo_done, cookie), 0);
}

/* ---- answering and learning ---- */

static void test_answers_request(void **state)
{
    struct rig *r = *state;
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    struct ether_repr eth;
    struct arp_repr arp;
    expect_arp(r, &eth, &arp);
    assert_memory_equal(eth.dst, host_mac, 6);
    assert_memory_equal(eth.src, rig_our_mac, 6);
    assert_int_equal(arp.op, ARP_OP_REPLY);
    assert_memory_equal(arp.sha, rig_our_mac, 6);
    assert_int_equal(arp.spa, RIG_OUR_IP);
    assert_memory_equal(arp.tha, host_mac, 6);
    assert_int_equal(arp.tpa, HOST_IP);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.arp_rx_request, 1);
    assert_int_equal(r->s->stats.arp_tx_reply, 1);
    /* The asker was learned (RFC 826: it will talk to us next). */
    assert_true(cached(r, HOST_IP, host_mac));
    assert_int_equal(arp_cache_count(r->n->arp), 1);

    /* A unicast request to our MAC is answered too, and ARP padded to the
     * Ethernet minimum (60 bytes) is fine. */
    uint8_t f[60] = {0};
    struct ether_repr e = {.ethertype = ETHERTYPE_ARP};
    memcpy(e.dst, rig_our_mac, 6);
    memcpy(e.src, other_mac, 6);
    ether_emit(&e, f);
    struct arp_repr a = {.op = ARP_OP_REQUEST, .spa = 0xc0000214u, .tpa = RIG_OUR_IP};
    memcpy(a.sha, other_mac, 6);
    arp_emit(&a, f + ETHER_HDR_LEN);
    rig_deliver(r, f, sizeof(f));
    expect_arp(r, &eth, &arp);
    assert_memory_equal(eth.dst, other_mac, 6);
    assert_int_equal(arp.tpa, 0xc0000214u);
    assert_int_equal(arp_cache_count(r->n->arp), 2);
}

static void test_ignores_other_targets(void **state)
{
    struct rig *r = *state;
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, 0xc0000263u);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, RIG_PEER_IP);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    assert_int_equal(r->s->stats.arp_drop_not_for_us, 2);
    assert_int_equal(r->s->stats.arp_tx_reply, 0);
}

static void test_no_entry_from_unsolicited_reply(void **state)
{
    struct rig *r = *state;
    /* To us, broadcast, gratuitous (spa == tpa), and for someone else. */
    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, host_mac, HOST_IP, rig_our_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, host_mac, HOST_IP, rig_bcast_mac, HOST_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, other_mac, 0xc0000263u);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    assert_false(cached(r, HOST_IP, NULL));
    assert_int_equal(r->s->stats.arp_drop_unsolicited, 3);
    assert_int_equal(rig_recv(r), 0);
    /* A gratuitous request from an unknown host creates nothing either. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, HOST_IP);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    assert_int_equal(rig_recv(r), 0);
}

static void test_merge_updates_entry(void **state)
{
    struct rig *r = *state;
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    assert_int_equal(rig_drain(r), 1);
    assert_true(cached(r, HOST_IP, host_mac));
    /* A gratuitous request with a new MAC updates it (not for us: no reply). */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, other_mac, HOST_IP, rig_zero_mac, HOST_IP);
    assert_true(cached(r, HOST_IP, other_mac));
    assert_int_equal(rig_recv(r), 0);
    /* So does a reply meant for someone else. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, host_mac, HOST_IP, rig_peer_mac, RIG_PEER_IP);
    assert_true(cached(r, HOST_IP, host_mac));
    /* And a request for us with a new MAC: updated, and answered there. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, other_mac, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    assert_true(cached(r, HOST_IP, other_mac));
    struct ether_repr eth;
    struct arp_repr arp;
    expect_arp(r, &eth, &arp);
    assert_memory_equal(eth.dst, other_mac, 6);
    assert_memory_equal(arp.tha, other_mac, 6);
    assert_int_equal(arp_cache_count(r->n->arp), 1);
    /* The update is a confirmation: the entry lives ARP_EXPIRE_US from it. */
    rig_run(r, RIG_T0 + ARP_EXPIRE_US / 2);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, other_mac, HOST_IP, rig_zero_mac, HOST_IP);
    rig_run(r, RIG_T0 + ARP_EXPIRE_US + 1);
    assert_true(cached(r, HOST_IP, other_mac));
    rig_run(r, RIG_T0 + ARP_EXPIRE_US / 2 + ARP_EXPIRE_US);
    assert_false(cached(r, HOST_IP, NULL));
}

static void test_rejects_bad_senders(void **state)
{
    struct rig *r = *state;
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t odd_group[6] = {0x03, 0x11, 0x22, 0x33, 0x44, 0x55};
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, mcast, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, odd_group, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, rig_bcast_mac, HOST_IP, rig_zero_mac,
                 RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, rig_zero_mac, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    /* Our own address as the sender: a conflict or a spoof. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, RIG_OUR_IP, rig_zero_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, host_mac, RIG_OUR_IP, rig_our_mac, RIG_OUR_IP);
    /* Multicast, class E and limited-broadcast sender addresses. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, 0xe0000001u, rig_zero_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, 0xf0000001u, rig_zero_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, 0xffffffffu, rig_zero_mac, RIG_OUR_IP);
    assert_int_equal(r->s->stats.arp_drop_bad_sender, 9);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    assert_false(cached(r, RIG_OUR_IP, NULL));

    /* Nor may a bad sender overwrite an entry we hold. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, HOST_IP, rig_zero_mac, RIG_OUR_IP);
    assert_int_equal(rig_drain(r), 1);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, mcast, HOST_IP, rig_our_mac, RIG_OUR_IP);
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REPLY, rig_zero_mac, HOST_IP, rig_our_mac, RIG_OUR_IP);
    assert_true(cached(r, HOST_IP, host_mac));
}

static void test_malformed(void **state)
{
    struct rig *r = *state;
    uint8_t f[ETHER_HDR_LEN + ARP_PKT_LEN];
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memcpy(eth.dst, rig_bcast_mac, 6);
    memcpy(eth.src, host_mac, 6);
    ether_emit(&eth, f);
    struct arp_repr arp = {.op = ARP_OP_REQUEST, .spa = HOST_IP, .tpa = RIG_OUR_IP};
    memcpy(arp.sha, host_mac, 6);
    arp_emit(&arp, f + ETHER_HDR_LEN);
    /* Every truncation of the ARP part. */
    for (size_t len = ETHER_HDR_LEN; len < sizeof(f); len++)
        rig_deliver(r, f, len);
    assert_int_equal(r->s->stats.arp_rx_malformed, ARP_PKT_LEN);
    /* Wrong hardware type, protocol, lengths, operation. */
    static const size_t offs[] = {1, 3, 4, 5, 7};
    static const uint8_t vals[] = {6, 0xdd, 8, 16, 3};
    for (size_t i = 0; i < 5; i++) {
        uint8_t g[sizeof(f)];
        memcpy(g, f, sizeof(f));
        g[ETHER_HDR_LEN + offs[i]] = vals[i];
        rig_deliver(r, g, sizeof(g));
    }
    assert_int_equal(r->s->stats.arp_rx_malformed, ARP_PKT_LEN + 5);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    /* The intact packet still works. */
    rig_deliver(r, f, sizeof(f));
    assert_int_equal(rig_drain(r), 1);
}

static void test_probe_answered_not_learned(void **state)
{
    struct rig *r = *state;
    /* RFC 5227 probe: sender address 0. Answer it, learn nothing. */
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, host_mac, 0, rig_zero_mac, RIG_OUR_IP);
    struct ether_repr eth;
    struct arp_repr arp;
    expect_arp(r, &eth, &arp);
    assert_int_equal(arp.op, ARP_OP_REPLY);
    assert_memory_equal(eth.dst, host_mac, 6);
    assert_int_equal(arp.spa, RIG_OUR_IP);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
}

/* ---- resolution ---- */

static void test_resolution(void **state)
{
    struct rig *r = *state;
    echo_reset();
    start_echo(r, RIG_PEER_IP, 1, 56, 0);
    /* A broadcast request first, and nothing else. */
    expect_request(r, RIG_PEER_IP, rig_bcast_mac);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(arp_cache_count(r->n->arp), 1); /* pending */
    assert_false(cached(r, RIG_PEER_IP, NULL));
    /* A second datagram meanwhile does not send a second request. */
    start_echo(r, RIG_PEER_IP, 2, 56, 1);
    assert_int_equal(rig_recv(r), 0);

    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, rig_our_mac, RIG_OUR_IP);
    assert_true(cached(r, RIG_PEER_IP, rig_peer_mac));
    /* The queued datagrams leave in order, to the resolved MAC. */
    for (uint16_t seq = 1; seq <= 2; seq++) {
        struct ipv4_repr ip;
        rig_expect_ipv4(r, rig_peer_mac, &ip);
        assert_int_equal(ip.proto, IP_PROTO_ICMP);
        assert_int_equal(ip.src, RIG_OUR_IP);
        assert_int_equal(ip.dst, RIG_PEER_IP);
        struct icmp_repr icmp;
        assert_int_equal(icmp_parse(rig_rx + ETHER_HDR_LEN + ip.hdr_len, ip.total_len - ip.hdr_len,
                                    &icmp),
                         WIRE_OK);
        assert_int_equal(icmp.type, ICMP_ECHO_REQUEST);
        assert_int_equal(icmp.rest & 0xffff, seq);
    }
    assert_int_equal(rig_recv(r), 0);
    /* Now resolved: the next datagram goes at once. */
    start_echo(r, RIG_PEER_IP, 3, 56, 2);
    struct ipv4_repr ip;
    rig_expect_ipv4(r, rig_peer_mac, &ip);
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.arp_tx_request, 1);
    /* The retry timer is gone: no request later. */
    rig_run(r, RIG_T0 + 5 * ARP_RETRY_US);
    assert_int_equal(rig_recv(r), 0);
}

static void test_queue_per_entry_bound(void **state)
{
    struct rig *r = *state;
    echo_reset();
    unsigned n = ARP_QUEUE_PER_ENTRY + 3;
    for (unsigned i = 0; i < n; i++)
        start_echo(r, RIG_PEER_IP, (uint16_t)i, 32, i);
    expect_request(r, RIG_PEER_IP, rig_bcast_mac);
    assert_int_equal(r->s->stats.arp_queue_drop_full, 3);
    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, rig_our_mac, RIG_OUR_IP);
    /* The oldest gave way: the last ARP_QUEUE_PER_ENTRY leave, in order. */
    for (unsigned i = n - ARP_QUEUE_PER_ENTRY; i < n; i++) {
        struct ipv4_repr ip;
        rig_expect_ipv4(r, rig_peer_mac, &ip);
        struct icmp_repr icmp;
        assert_int_equal(icmp_parse(rig_rx + ETHER_HDR_LEN + ip.hdr_len, ip.total_len - ip.hdr_len,
                                    &icmp),
                         WIRE_OK);
        assert_int_equal(icmp.rest & 0xffff, i);
    }
    assert_int_equal(rig_recv(r), 0);
}

/* A UDP datagram from the stack to dst, straight through ipv4_output. */
static void send_udp(struct rig *r, uint32_t dst, uint16_t port)
{
    struct pkt *pkt = pkt_alloc(UDP_HDR_LEN + 4);
    assert_non_null(pkt);
    static const uint8_t data[4] = {1, 2, 3, 4};
    struct udp_repr udp = {.src_port = 40000, .dst_port = port, .payload = data,
                           .payload_len = 4};
    udp_emit_ipv4(&udp, RIG_OUR_IP, dst, pkt->data);
    assert_int_equal(ipv4_output(r->s, pkt, IP_PROTO_UDP, 0, dst, NULL), 0);
}

static void test_queue_total_bound(void **state)
{
    struct rig *r = *state;
    unsigned hosts = ARP_QUEUE_TOTAL / ARP_QUEUE_PER_ENTRY + 1;
    for (unsigned h = 0; h < hosts; h++)
        for (unsigned i = 0; i < ARP_QUEUE_PER_ENTRY; i++)
            send_udp(r, 0xc0000264u + h, (uint16_t)(1000 + i));
    for (unsigned h = 0; h < hosts; h++)
        expect_request(r, 0xc0000264u + h, rig_bcast_mac);
    assert_int_equal(rig_recv(r), 0);
    /* The last host found the total full: its datagrams were dropped. */
    assert_int_equal(r->s->stats.arp_queue_drop_full, ARP_QUEUE_PER_ENTRY);
    /* More for a host with a queue: its oldest gives way, the total holds. */
    send_udp(r, 0xc0000264u, 2000);
    assert_int_equal(r->s->stats.arp_queue_drop_full, ARP_QUEUE_PER_ENTRY + 1);
    unsigned sent = 0;
    for (unsigned h = 0; h < hosts; h++) {
        uint8_t mac[6] = {0x02, 0xcc, 0, 0, 0, (uint8_t)h};
        rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, mac, 0xc0000264u + h, rig_our_mac, RIG_OUR_IP);
        unsigned frames = rig_drain(r);
        assert_int_equal(frames, h == hosts - 1 ? 0 : ARP_QUEUE_PER_ENTRY);
        sent += frames;
    }
    assert_int_equal(sent, ARP_QUEUE_TOTAL);
    /* The queue space is back: a new host queues again. */
    send_udp(r, 0xc0000201u, 3000);
    expect_request(r, 0xc0000201u, rig_bcast_mac);
    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, rig_our_mac, RIG_OUR_IP);
    assert_int_equal(rig_drain(r), 1);
}

static void test_retries_then_failure(void **state)
{
    struct rig *r = *state;
    echo_reset();
    uint32_t nobody = 0xc000024du; /* 192.0.2.77 */
    start_echo(r, nobody, 1, 56, 0);
    start_echo(r, nobody, 2, 8000, 1); /* fragmented: reported once */
    expect_request(r, nobody, rig_bcast_mac);
    assert_int_equal(rig_recv(r), 0);
    rig_run(r, RIG_T0 + ARP_RETRY_US - 1);
    assert_int_equal(rig_recv(r), 0);
    rig_run(r, RIG_T0 + ARP_RETRY_US);
    expect_request(r, nobody, rig_bcast_mac);
    rig_run(r, RIG_T0 + 2 * ARP_RETRY_US - 1);
    assert_int_equal(rig_recv(r), 0);
    rig_run(r, RIG_T0 + 2 * ARP_RETRY_US);
    expect_request(r, nobody, rig_bcast_mac);
    assert_int_equal(echo[0].calls, 0);
    rig_run(r, RIG_T0 + 3 * ARP_RETRY_US - 1);
    assert_int_equal(echo[0].calls, 0);
    rig_run(r, RIG_T0 + 3 * ARP_RETRY_US);
    /* Three requests, then failure: no fourth request, the senders hear
     * EHOSTUNREACH, the entry is gone. */
    assert_int_equal(rig_recv(r), 0);
    assert_int_equal(r->s->stats.arp_tx_request, ARP_RETRIES);
    assert_int_equal(r->s->stats.arp_resolve_failed, 1);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[0].result, -EHOSTUNREACH);
    assert_int_equal(echo[1].calls, 1);
    assert_int_equal(echo[1].result, -EHOSTUNREACH);
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    /* The echo timeout later reports nothing more. */
    rig_run(r, RIG_T0 + 20000000);
    assert_int_equal(echo[0].calls, 1);
    assert_int_equal(echo[1].calls, 1);
    assert_int_equal(rig_recv(r), 0);
}

/* A sender that tries again from inside its failure callback. */
static unsigned retry_calls;

static void echo_retry(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    (void)rtt_us;
    retry_calls++;
    assert_int_equal(result, -EHOSTUNREACH);
    if (retry_calls <= ARP_QUEUE_PER_ENTRY)
        assert_int_equal(icmp_echo_start(stack, 0xc000024du, (uint16_t)(100 + retry_calls), 16,
                                         10000000, echo_retry, cookie),
                         0);
}

static void test_resend_from_failure_callback(void **state)
{
    struct rig *r = *state;
    retry_calls = 0;
    for (unsigned i = 0; i < ARP_QUEUE_PER_ENTRY; i++)
        assert_int_equal(icmp_echo_start(r->s, 0xc000024du, (uint16_t)i, 16, 10000000,
                                         echo_retry, i),
                         0);
    for (unsigned i = 1; i <= ARP_RETRIES; i++)
        rig_run(r, RIG_T0 + i * ARP_RETRY_US);
    /* Each queued datagram failed once; each retry starts a new
     * resolution, which is pending, not failed at once. */
    assert_int_equal(retry_calls, ARP_QUEUE_PER_ENTRY);
    assert_int_equal(arp_cache_count(r->n->arp), 1);
    assert_int_equal(r->s->stats.arp_resolve_failed, 1);
    for (unsigned i = 1; i <= ARP_RETRIES; i++)
        rig_run(r, RIG_T0 + (ARP_RETRIES + i) * ARP_RETRY_US);
    assert_int_equal(retry_calls, 2 * ARP_QUEUE_PER_ENTRY);
    assert_int_equal(r->s->stats.arp_resolve_failed, 2);
}

/* ---- expiry and refresh ---- */

static void learn_peer(struct rig *r)
{
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, rig_peer_mac, RIG_PEER_IP, rig_zero_mac,
                 RIG_OUR_IP);
    assert_int_equal(rig_drain(r), 1);
    assert_true(cached(r, RIG_PEER_IP, rig_peer_mac));
}

static void test_expiry(void **state)
{
    struct rig *r = *state;
    learn_peer(r);
    rig_run(r, RIG_T0 + ARP_EXPIRE_US - 1);
    assert_true(cached(r, RIG_PEER_IP, rig_peer_mac));
    rig_run(r, RIG_T0 + ARP_EXPIRE_US);
    assert_false(cached(r, RIG_PEER_IP, NULL));
    assert_int_equal(arp_cache_count(r->n->arp), 0);
    /* Unused, it was never refreshed. */
    assert_int_equal(r->s->stats.arp_tx_request, 0);
    assert_int_equal(rig_recv(r), 0);
    /* Traffic now resolves it again from scratch. */
    echo_reset();
    start_echo(r, RIG_PEER_IP, 1, 8, 0);
    expect_request(r, RIG_PEER_IP, rig_bcast_mac);
}

static void test_refresh_when_in_use(void **state)
{
    struct rig *r = *state;
    echo_reset();
    learn_peer(r);
    /* Within the reachable time: no request. */
    rig_run(r, RIG_T0 + ARP_REACHABLE_US);
    start_echo(r, RIG_PEER_IP, 1, 8, 0);
    struct ipv4_repr ip;
    rig_expect_ipv4(r, rig_peer_mac, &ip);
    assert_int_equal(rig_recv(r), 0);
    /* Past it: a unicast request to the cached MAC, the datagram still goes
     * at once, and at most one request a second. */
    rig_run(r, RIG_T0 + ARP_REACHABLE_US + 1);
    start_echo(r, RIG_PEER_IP, 2, 8, 1);
    expect_request(r, RIG_PEER_IP, rig_peer_mac);
    rig_expect_ipv4(r, rig_peer_mac, &ip);
    start_echo(r, RIG_PEER_IP, 3, 8, 2);
    rig_expect_ipv4(r, rig_peer_mac, &ip);
    assert_int_equal(rig_recv(r), 0);
    rig_run(r, RIG_T0 + ARP_REACHABLE_US + 2 + ARP_RETRY_US);
    start_echo(r, RIG_PEER_IP, 4, 8, 3);
    expect_request(r, RIG_PEER_IP, rig_peer_mac);
    rig_expect_ipv4(r, rig_peer_mac, &ip);
    /* The peer answers: confirmed, it lives on past the first expiry. */
    uint64_t confirmed = r->now;
    rig_send_arp(r, rig_our_mac, ARP_OP_REPLY, rig_peer_mac, RIG_PEER_IP, rig_our_mac, RIG_OUR_IP);
    rig_run(r, RIG_T0 + ARP_EXPIRE_US + 1);
    assert_true(cached(r, RIG_PEER_IP, rig_peer_mac));
    rig_run(r, confirmed + ARP_EXPIRE_US);
    assert_false(cached(r, RIG_PEER_IP, NULL));
}

static void test_refresh_unanswered_expires(void **state)
{
    struct rig *r = *state;
    echo_reset();
    learn_peer(r);
    rig_run(r, RIG_T0 + ARP_REACHABLE_US + 1);
    start_echo(r, RIG_PEER_IP, 1, 8, 0);
    expect_request(r, RIG_PEER_IP, rig_peer_mac);
    assert_int_equal(rig_drain(r), 1);
    /* Nobody answers: the entry goes at its expiry, in use or not. */
    rig_run(r, RIG_T0 + ARP_EXPIRE_US);
    assert_false(cached(r, RIG_PEER_IP, NULL));
}

/* ---- announcement ---- */

static void test_gratuitous_announce(void **state)
{
    struct rig *r = *state;
    arp_announce(r->n);
    struct ether_repr eth;
    struct arp_repr arp;
    expect_arp(r, &eth, &arp);
    assert_memory_equal(eth.dst, rig_bcast_mac, 6);
    assert_memory_equal(eth.src, rig_our_mac, 6);
    assert_int_equal(arp.op, ARP_OP_REQUEST);
    assert_memory_equal(arp.sha, rig_our_mac, 6);
    assert_int_equal(arp.spa, RIG_OUR_IP);
    assert_int_equal(arp.tpa, RIG_OUR_IP);
    assert_memory_equal(arp.tha, rig_zero_mac, 6);
    assert_int_equal(r->s->stats.arp_tx_gratuitous, 1);
    assert_int_equal(rig_recv(r), 0);
    /* No address yet: nothing to announce. */
    uint32_t addr = r->n->addr;
    r->n->addr = 0;
    arp_announce(r->n);
    assert_int_equal(rig_recv(r), 0);
    r->n->addr = addr;
}

/* Many hosts: the cache holds ARP_CACHE_SIZE, evicting the least recently
 * confirmed resolved entry, never a pending one. */
static void test_cache_full(void **state)
{
    struct rig *r = *state;
    for (unsigned i = 0; i < ARP_CACHE_SIZE + 10; i++) {
        rig_run(r, RIG_T0 + i);
        uint8_t mac[6] = {0x02, 0xdd, 0, 0, 0, (uint8_t)i};
        rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, mac, 0xc0000280u + i, rig_zero_mac,
                     RIG_OUR_IP);
    }
    assert_int_equal(rig_drain(r), ARP_CACHE_SIZE + 10);
    assert_int_equal(arp_cache_count(r->n->arp), ARP_CACHE_SIZE);
    assert_int_equal(r->s->stats.arp_cache_full, 10);
    for (unsigned i = 0; i < 10; i++)
        assert_false(cached(r, 0xc0000280u + i, NULL));
    for (unsigned i = 10; i < ARP_CACHE_SIZE + 10; i++)
        assert_true(cached(r, 0xc0000280u + i, NULL));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, rig_teardown)
    const struct CMUnitTest tests[] = {
        T(test_answers_request),
        T(test_ignores_other_targets),
        T(test_no_entry_from_unsolicited_reply),
        T(test_merge_updates_entry),
        T(test_rejects_bad_senders),
        T(test_malformed),
        T(test_probe_answered_not_learned),
        T(test_resolution),
        T(test_queue_per_entry_bound),
        T(test_queue_total_bound),
        T(test_retries_then_failure),
        T(test_resend_from_failure_callback),
        T(test_expiry),
        T(test_refresh_when_in_use),
        T(test_refresh_unanswered_expires),
        T(test_gratuitous_announce),
        T(test_cache_full),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
