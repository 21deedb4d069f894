/* The stack instance: creation, the configured link, one turn of work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arp.h"
#include "capture.h"
#include "driver.h"
#include "icmp.h"
#include "impair.h"
#include "ipv4.h"
#include "stack.h"
#include "tcp.h"
#include "udp.h"

/* Frames read from one interface per turn, so one busy link cannot starve
 * timers and the control channel. */
#define NETIF_POLL_BUDGET 256

struct stack *stack_create(const struct toysock_config *cfg, uint64_t seed)
{
    struct stack *stack = calloc(1, sizeof(*stack));
    if (stack == NULL)
        return NULL;
    if (cfg != NULL)
        stack->cfg = *cfg;
    else
        toysock_config_defaults(&stack->cfg);
    stack->log_fd = STDERR_FILENO;
    stack->log_level = stack->cfg.log_level;
    if (seed == 0)
        rng_os_bytes(&seed, sizeof(seed));
    rng_seed(&stack->rng, seed);
    stack->ipv4.next_id = (uint16_t)rng_next(&stack->rng);
    stack->ipv4.reass = reass_create(stack);
    if (stack->ipv4.reass == NULL || icmp_init(stack) < 0 || udp_init(stack) < 0 ||
        tcp_init(stack) < 0) {
        stack_destroy(stack);
        return NULL;
    }
    return stack;
}

void stack_destroy(struct stack *stack)
{
    if (stack == NULL)
        return;
    while (stack->netif_count > 0)
        netif_destroy(stack->netifs[stack->netif_count - 1]);
    tcp_destroy(stack);
    udp_destroy(stack);
    icmp_destroy(stack);
    reass_destroy(stack->ipv4.reass);
    timer_heap_free(&stack->timers);
    free(stack);
}

int stack_configure_netif(struct stack *stack, struct netif *netif, uint32_t addr,
                          uint8_t prefix_len, uint32_t gateway)
{
    netif_set_addr(netif, addr, prefix_len);
    int rc = route_add(stack, addr, prefix_len, 0, netif);
    if (rc < 0 && rc != -EEXIST)
        return rc;
    if (gateway != 0) {
        rc = route_add(stack, 0, 0, gateway, netif);
        if (rc < 0 && rc != -EEXIST)
            return rc;
    }
    if (stack->link == NULL && netif->kind == NETIF_ETHERNET)
        stack->link = netif;
    return 0;
}

int stack_attach_configured(struct stack *stack, char *err, size_t errlen)
{
    const struct toysock_config *cfg = &stack->cfg;
    struct netif *link = NULL;
    int rc;
    if (strcmp(cfg->driver, "tap") == 0)
        rc = tap_open(stack, cfg->iface, &link, err, errlen);
    else if (strcmp(cfg->driver, "pcap") == 0)
        rc = pcap_driver_open(stack, cfg->iface, cfg->mac, &link, err, errlen);
    else {
        snprintf(err, errlen, "TOYSOCK_DRIVER: unknown driver '%s' (use tap or pcap)",
                 cfg->driver);
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    memcpy(link->mac, cfg->mac, ETHER_ADDR_LEN);
    link->mtu = cfg->mtu;
    rc = stack_configure_netif(stack, link, cfg->addr, cfg->prefix_len, cfg->gateway);
    if (rc < 0) {
        snprintf(err, errlen, "routes for %s: %s", link->name, strerror(-rc));
        return rc;
    }
    if (cfg->pcap_path[0] != '\0') {
        link->capture = capture_open(cfg->pcap_path, 1, err, errlen);
        if (link->capture == NULL)
            return -EINVAL;
    }
    if (cfg->impair[0] != '\0') {
        char why[160];
        link->impair = impair_create(stack, link, cfg->impair, why, sizeof(why));
        if (link->impair == NULL) {
            snprintf(err, errlen, "TOYSOCK_IMPAIR: %s", why);
            return -EINVAL;
        }
    }
    struct netif *lo = loopback_open(stack);
    if (lo == NULL) {
        snprintf(err, errlen, "loopback interface: out of memory");
        return -ENOMEM;
    }
    netif_set_addr(lo, 0x7f000001u, 8);
    route_add(stack, 0x7f000000u, 8, 0, lo);
    stack->loopback = lo;
    arp_announce(link);
    return 0;
}

/* Interfaces without an fd (loopback, vwire) cannot wake the event loop,
 * so frames the turn itself queued on them are taken before it ends. */
static bool poll_fdless(struct stack *stack)
{
    bool busy = false;
    for (unsigned i = 0; i < stack->netif_count; i++)
        if (stack->netifs[i]->fd < 0 &&
            netif_poll(stack->netifs[i], NETIF_POLL_BUDGET) == NETIF_POLL_BUDGET)
            busy = true;
    return busy;
}

uint64_t stack_run(struct stack *stack, uint64_t now_us)
{
    stack->now_us = now_us;
    bool busy = false;
    for (unsigned i = 0; i < stack->netif_count; i++)
        if (netif_poll(stack->netifs[i], NETIF_POLL_BUDGET) == NETIF_POLL_BUDGET)
            busy = true;
    timer_run_expired(stack, now_us);
    if (poll_fdless(stack))
        busy = true;
    return busy ? now_us : timer_next_deadline(&stack->timers);
}
