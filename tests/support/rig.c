/* The one-stack test rig (rig.h): a stack under test and a vwire peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "driver.h"
#include "netif.h"
#include "rig.h"
#include "route.h"
#include "stack.h"
#include "wire/wire.h"

const uint8_t rig_our_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t rig_peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t rig_bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const uint8_t rig_zero_mac[6];

uint8_t rig_rx[STACK_RX_BUF];

struct rig *rig_create(uint64_t seed_s, uint64_t seed_p, uint32_t gateway, unsigned flags)
{
    struct rig *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->s = stack_create(NULL, seed_s);
    r->p = stack_create(NULL, seed_p);
    assert_non_null(r->s);
    assert_non_null(r->p);
    r->s->log_fd = -1;
    r->p->log_fd = -1;
    assert_int_equal(vwire_open_pair(r->s, r->p, &r->n, &r->pn), 0);
    assert_int_equal(stack_configure_netif(r->s, r->n, RIG_OUR_IP, 24, gateway), 0);
    if (flags & RIG_LOOPBACK) {
        /* The loopback interface, as stack_attach_configured makes it. */
        struct netif *lo = loopback_open(r->s);
        assert_non_null(lo);
        netif_set_addr(lo, 0x7f000001u, 8);
        assert_int_equal(route_add(r->s, 0x7f000000u, 8, 0, lo), 0);
        r->s->loopback = lo;
    }
    rig_run(r, RIG_T0);
    if (flags & RIG_LEARN_PEER)
        rig_learn_peer(r);
    return r;
}

void rig_destroy(struct rig *r)
{
    stack_destroy(r->s);
    stack_destroy(r->p);
    free(r);
}

int rig_teardown(void **state)
{
    rig_destroy(*state);
    return 0;
}

void rig_run(struct rig *r, uint64_t now)
{
    r->now = now;
    stack_run(r->s, now);
}

void rig_deliver(struct rig *r, const uint8_t *frame, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, frame, len);
    netif_deliver(r->n, copy, len);
    free(copy);
}

size_t rig_recv(struct rig *r)
{
    ssize_t n = r->pn->ops->recv(r->pn, rig_rx, sizeof(rig_rx));
    assert_true(n >= 0);
    return (size_t)n;
}

unsigned rig_drain(struct rig *r)
{
    unsigned n = 0;
    while (rig_recv(r) > 0)
        n++;
    return n;
}

size_t rig_expect_ipv4(struct rig *r, const uint8_t eth_dst[6], struct ipv4_repr *ip)
{
    size_t len = rig_recv(r);
    assert_true(len > ETHER_HDR_LEN);
    struct ether_repr eth;
    assert_int_equal(ether_parse(rig_rx, len, &eth), WIRE_OK);
    assert_int_equal(eth.ethertype, ETHERTYPE_IPV4);
    assert_memory_equal(eth.dst, eth_dst, 6);
    assert_memory_equal(eth.src, rig_our_mac, 6);
    assert_int_equal(ipv4_parse(rig_rx + ETHER_HDR_LEN, len - ETHER_HDR_LEN, ip), WIRE_OK);
    return len;
}

void rig_send_arp(struct rig *r, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6],
                  uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
    uint8_t f[ETHER_HDR_LEN + ARP_PKT_LEN];
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memcpy(eth.dst, eth_dst, 6);
    memcpy(eth.src, sha, 6);
    ether_emit(&eth, f);
    struct arp_repr arp = {.op = op, .spa = spa, .tpa = tpa};
    memcpy(arp.sha, sha, 6);
    memcpy(arp.tha, tha, 6);
    arp_emit(&arp, f + ETHER_HDR_LEN);
    rig_deliver(r, f, sizeof(f));
}

void rig_learn_peer(struct rig *r)
{
    rig_send_arp(r, rig_bcast_mac, ARP_OP_REQUEST, rig_peer_mac, RIG_PEER_IP, rig_zero_mac,
                 RIG_OUR_IP);
    assert_int_equal(rig_drain(r), 1);
}
