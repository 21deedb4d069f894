/* The one-stack rig shared by the ARP, ICMP and IPv4 unit tests: a stack
 * under test joined by a vwire to a second stack that never runs, so that
 * frames can be forged into the stack's netif and what it sends can be read
 * from the far end of the wire.
 *
 *   stack s 192.0.2.2/24 (MAC 02:00:00:00:00:01) <-- vwire --> pn (…:02)
 *
 * The peer 192.0.2.1 sits behind pn and is also the usual gateway. Every
 * function fails the running cmocka test on a broken expectation. */
#ifndef TOYSOCK_TEST_RIG_H
#define TOYSOCK_TEST_RIG_H

#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define RIG_OUR_IP 0xc0000202u   /* 192.0.2.2 */
#define RIG_PEER_IP 0xc0000201u  /* 192.0.2.1, the gateway */
#define RIG_BCAST_IP 0xc00002ffu /* 192.0.2.255 */
#define RIG_FAR_IP 0xc6336407u   /* 198.51.100.7, off the link */
#define RIG_T0 1000000ull        /* the clock when the rig is made */

extern const uint8_t rig_our_mac[6];
extern const uint8_t rig_peer_mac[6];
extern const uint8_t rig_bcast_mac[6];
extern const uint8_t rig_zero_mac[6];

/* Where rig_recv puts the frame it reads. */
extern uint8_t rig_rx[STACK_RX_BUF];

struct ipv4_repr;
struct netif;

struct rig {
    struct stack *s;  /* the stack under test */
    struct stack *p;  /* the far end of the wire; never run */
    struct netif *n;  /* s's interface */
    struct netif *pn; /* where s's frames arrive */
    uint64_t now;
};

/* rig_create flags. */
#define RIG_LOOPBACK 1u   /* add the loopback interface, as stack_attach_configured does */
#define RIG_LEARN_PEER 2u /* teach s the peer's MAC (rig_learn_peer) */

/* Creates both stacks (seeded seed_s and seed_p, log_fd -1), opens the
 * vwire pair, configures s as RIG_OUR_IP/24 with gateway (0 for none),
 * adds what flags ask for and runs s once at RIG_T0. */
struct rig *rig_create(uint64_t seed_s, uint64_t seed_p, uint32_t gateway, unsigned flags);
void rig_destroy(struct rig *r);
/* A cmocka teardown for a rig in *state. */
int rig_teardown(void **state);

/* Moves the clock to now and runs s. */
void rig_run(struct rig *r, uint64_t now);
/* Delivers a copy of exactly len bytes, so ASan sees any overread. */
void rig_deliver(struct rig *r, const uint8_t *frame, size_t len);
/* The next frame the stack sent, read into rig_rx, or 0. */
size_t rig_recv(struct rig *r);
/* Reads and discards every frame the stack sent; returns how many. */
unsigned rig_drain(struct rig *r);

/* Reads the next frame and requires it to be IPv4 from our MAC to eth_dst;
 * parses the IP header into *ip. Returns the frame's length. */
size_t rig_expect_ipv4(struct rig *r, const uint8_t eth_dst[6], struct ipv4_repr *ip);

/* Forges an ARP message from sha and delivers it. */
void rig_send_arp(struct rig *r, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6],
                  uint32_t spa, const uint8_t tha[6], uint32_t tpa);
/* The peer asks for us: the stack learns its MAC (and answers; the answer
 * is drained). */
void rig_learn_peer(struct rig *r);

#endif
