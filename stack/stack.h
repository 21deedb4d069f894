/* The stack instance: every piece of protocol state lives here, so two
 * stacks can run in one process (the simulator does). Only the thread that
 * owns a stack touches it; nothing here takes a lock.
 *
 * stack_run() is the whole sans-IO core: it reads what the drivers have,
 * runs expired timers at the time it is given, and returns the next
 * deadline. The event loop (loop.c) and the simulator both drive it. */
#ifndef TOYSOCK_STACK_H
#define TOYSOCK_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "netif.h"
#include "rng.h"
#include "route.h"
#include "stats.h"
#include "timer.h"
#include "toysock/toysock.h"

#define STACK_MAX_NETIFS 4
/* Largest frame a driver hands us: a 64 KiB GSO super-frame and headers. */
#define STACK_RX_BUF 65600

struct reass;
struct icmp_state;
struct udp_state;
struct tcp_stack; /* the TCP module's state: pcb tables, secrets */
struct ctl_state;
struct sock_table;

struct ipv4_state {
    uint16_t next_id;
    struct reass *reass;
};

struct stack {
    struct toysock_config cfg;
    uint64_t now_us; /* the clock, sampled once per turn */
    struct stack_stats stats;
    struct timer_heap timers;
    struct rng rng;
    int log_fd;
    enum toysock_log_level log_level;

    struct netif *netifs[STACK_MAX_NETIFS];
    unsigned netif_count;
    struct netif *link;     /* the configured link */
    struct netif *loopback; /* 127.0.0.0/8 */
    struct route_table routes;

    struct ipv4_state ipv4;
    struct icmp_state *icmp;
    struct udp_state *udp;
    struct tcp_stack *tcp;
    struct ctl_state *ctl; /* requests waiting on the stack; NULL in the simulator */
    struct sock_table *socks; /* sockets bridged to programs; NULL in the simulator */

    uint8_t rx_buf[STACK_RX_BUF];
};

/* Creates a stack with no links. cfg may be NULL for defaults. seed 0 seeds
 * from the OS; tests pass a fixed seed. Returns NULL on exhaustion. */
struct stack *stack_create(const struct toysock_config *cfg, uint64_t seed);
/* Closes every link and frees all state. */
void stack_destroy(struct stack *stack);
/* Attaches the link named by cfg (tap or pcap) plus loopback, the
 * connected route and the default route, capture and impairment. */
int stack_attach_configured(struct stack *stack, char *err, size_t errlen);
/* Sets up an interface that a test created (vwire) with an address and a
 * connected route. */
int stack_configure_netif(struct stack *stack, struct netif *netif, uint32_t addr,
                          uint8_t prefix_len, uint32_t gateway);
/* One turn: input from every netif (bounded), expired timers, at now_us.
 * Returns the next timer deadline (TIME_NEVER if none). */
uint64_t stack_run(struct stack *stack, uint64_t now_us);
/* True when addr is one of the stack's own unicast addresses. */
bool stack_is_local_addr(const struct stack *stack, uint32_t addr);

#endif
