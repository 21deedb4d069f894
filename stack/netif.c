/* Interfaces: registration, the transmit and receive paths through capture
 * and impairment, and the frame filter for the link. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"
#include "capture.h"
#include "ether.h"
#include "impair.h"
#include "ipv4.h"
#include "netif.h"
#include "route.h"
#include "stack.h"

struct netif *netif_create(struct stack *stack, const char *name, enum netif_kind kind,
                           const struct driver_ops *ops, void *driver, int fd)
{
    if (stack->netif_count == STACK_MAX_NETIFS)
        return NULL;
    struct netif *netif = calloc(1, sizeof(*netif));
    if (netif == NULL)
        return NULL;
    netif->stack = stack;
    strncpy(netif->name, name, sizeof(netif->name) - 1);
    netif->kind = kind;
    /* Loopback: the largest datagram IPv4 can carry. */
    netif->mtu = kind == NETIF_LOOPBACK ? IPV4_MAX_DATAGRAM : 1500;
    netif->ops = ops;
    netif->driver = driver;
    netif->fd = fd;
    netif->up = true;
    if (kind == NETIF_ETHERNET) {
        netif->arp = arp_cache_create(netif);
        if (netif->arp == NULL) {
            free(netif);
            return NULL;
        }
    }
    stack->netifs[stack->netif_count++] = netif;
    return netif;
}

void netif_destroy(struct netif *netif)
{
    struct stack *stack = netif->stack;
    route_remove_netif(stack, netif);
    for (unsigned i = 0; i < stack->netif_count; i++) {
        if (stack->netifs[i] == netif) {
            stack->netifs[i] = stack->netifs[--stack->netif_count];
            break;
        }
    }
    if (stack->link == netif)
        stack->link = NULL;
    if (stack->loopback == netif)
        stack->loopback = NULL;
    if (netif->impair)
        impair_destroy(netif->impair);
    if (netif->capture)
        capture_close(netif->capture);
    if (netif->arp)
        arp_cache_destroy(netif->arp);
    if (netif->ops && netif->ops->close)
        netif->ops->close(netif);
    free(netif);
}

void netif_set_addr(struct netif *netif, uint32_t addr, uint8_t prefix_len)
{
    netif->addr = addr;
    netif->prefix_len = prefix_len;
}

uint32_t netif_netmask(const struct netif *netif)
{
    return prefix_to_mask(netif->prefix_len);
}

bool netif_is_broadcast(const struct netif *netif, uint32_t addr)
{
    if (netif->addr == 0 || netif->prefix_len >= 31)
        return false;
    uint32_t mask = netif_netmask(netif);
    return (addr & mask) == (netif->addr & mask) && (addr | mask) == 0xffffffffu;
}

bool netif_mcast_joined(const struct netif *netif, const uint8_t mac[ETHER_ADDR_LEN])
{
    for (unsigned i = 0; i < netif->mcast_count; i++)
        if (memcmp(netif->mcast[i], mac, ETHER_ADDR_LEN) == 0)
            return true;
    return false;
}

void netif_driver_send(struct netif *netif, const uint8_t *frame, size_t len)
{
    struct stack *stack = netif->stack;
    /* Captured here, after impairment: the file shows what the link
     * carried, not what impairment dropped. */
    if (netif->capture)
        capture_write(netif->capture, frame, len);
    int rc = netif->ops->send(netif, frame, len);
    if (rc < 0) {
        STAT_INC(stack, link_tx_errors);
        LOG_DEBUG(stack, "%s: send failed: %s", netif->name, strerror(-rc));
        return;
    }
    STAT_INC(stack, link_tx_frames);
    STAT_ADD(stack, link_tx_bytes, len);
}

void netif_transmit(struct netif *netif, struct pkt *pkt)
{
    if (netif->impair)
        impair_frame(netif->impair, IMPAIR_TX, pkt->data, pkt->len);
    else
        netif_driver_send(netif, pkt->data, pkt->len);
    pkt_free(pkt);
}

void netif_deliver(struct netif *netif, const uint8_t *frame, size_t len)
{
    if (netif->capture)
        capture_write(netif->capture, frame, len);
    if (netif->kind == NETIF_LOOPBACK)
        ipv4_input(netif, frame, len, false);
    else
        ether_input(netif, frame, len);
}

unsigned netif_poll(struct netif *netif, unsigned budget)
{
    struct stack *stack = netif->stack;
    unsigned frames = 0;
    while (frames < budget) {
        ssize_t n = netif->ops->recv(netif, stack->rx_buf, sizeof(stack->rx_buf));
        if (n == 0 || n == -EAGAIN)
            break;
        if (n < 0) {
            STAT_INC(stack, link_rx_errors);
            LOG_DEBUG(stack, "%s: receive failed: %s", netif->name, strerror((int)-n));
            break;
        }
        frames++;
        STAT_INC(stack, link_rx_frames);
        STAT_ADD(stack, link_rx_bytes, (uint64_t)n);
        if (netif->impair)
            impair_frame(netif->impair, IMPAIR_RX, stack->rx_buf, (size_t)n);
        else
            netif_deliver(netif, stack->rx_buf, (size_t)n);
    }
    return frames;
}
