/* ARP: answer requests for our address, resolve next hops with a bounded
 * pending queue, keep a cache that expires and refreshes.
 *
 * arp_input() -> learn/answer;  arp_output_ipv4() -> entry_lookup ->
 * send now | queue + request;  entry_timer() -> retry | fail | refresh |
 * expire. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"
#include "ether.h"
#include "ipv4.h"
#include "netif.h"
#include "stack.h"

enum entry_state { ENTRY_FREE, ENTRY_INCOMPLETE, ENTRY_RESOLVED };

struct arp_entry {
    struct timer timer; /* first: entry_from_timer relies on it */
    struct arp_cache *cache;
    enum entry_state state;
    uint32_t ip;
    uint8_t mac[ETHER_ADDR_LEN];
    unsigned requests_sent;
    uint64_t confirmed_us;
    uint64_t refresh_sent_us;
    struct pkt *queue[ARP_QUEUE_PER_ENTRY];
    unsigned queued;
};

struct arp_cache {
    struct netif *netif;
    unsigned queued_total;
    struct arp_entry entries[ARP_CACHE_SIZE];
};

static const uint8_t zero_mac[ETHER_ADDR_LEN];
static const uint8_t broadcast_mac[ETHER_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void entry_timer(struct stack *stack, struct timer *timer);

struct arp_cache *arp_cache_create(struct netif *netif)
{
    struct arp_cache *cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return NULL;
    cache->netif = netif;
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
        timer_init(&cache->entries[i].timer, entry_timer);
        cache->entries[i].cache = cache;
    }
    return cache;
}

/* Frees the entry, then tells the senders of its queued datagrams. The
 * queue is taken off the entry and the entry freed first: a sender may
 * send again from inside the report (to the same address, even), and that
 * must find a consistent cache, not a half-freed entry whose queue is
 * being walked. */
static void entry_free(struct arp_entry *entry, bool report)
{
    struct stack *stack = entry->cache->netif->stack;
    struct pkt *queue[ARP_QUEUE_PER_ENTRY];
    unsigned n = entry->queued;
    memcpy(queue, entry->queue, n * sizeof(queue[0]));
    timer_cancel(stack, &entry->timer);
    entry->cache->queued_total -= n;
    entry->queued = 0;
    entry->state = ENTRY_FREE;
    for (unsigned i = 0; i < n; i++) {
        if (report)
            ipv4_report_local_error(stack, queue[i]->data, queue[i]->len, EHOSTUNREACH);
        pkt_free(queue[i]);
    }
}

void arp_cache_destroy(struct arp_cache *cache)
{
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
        if (cache->entries[i].state != ENTRY_FREE)
            entry_free(&cache->entries[i], false);
    free(cache);
}

static struct arp_entry *entry_find(struct arp_cache *cache, uint32_t ip)
{
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
        if (cache->entries[i].state != ENTRY_FREE && cache->entries[i].ip == ip)
            return &cache->entries[i];
    return NULL;
}

/* A free slot, or else the resolved entry confirmed longest ago. Pending
 * entries are never evicted: their senders are waiting. */
static struct arp_entry *entry_alloc(struct arp_cache *cache, uint32_t ip)
{
    struct arp_entry *victim = NULL;
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
        struct arp_entry *e = &cache->entries[i];
        if (e->state == ENTRY_FREE) {
            victim = e;
            break;
        }
        if (e->state == ENTRY_RESOLVED &&
            (victim == NULL || e->confirmed_us < victim->confirmed_us))
            victim = e;
    }
    if (victim == NULL)
        return NULL;
    if (victim->state != ENTRY_FREE) {
        STAT_INC(cache->netif->stack, arp_cache_full);
        entry_free(victim, false);
    }
    victim->ip = ip;
    victim->requests_sent = 0;
    victim->queued = 0;
    victim->confirmed_us = 0;
    victim->refresh_sent_us = 0;
    return victim;
}

static void arp_send(struct netif *netif, uint16_t op, const uint8_t dst_mac[ETHER_ADDR_LEN],
                     const uint8_t tha[ETHER_ADDR_LEN], uint32_t tpa, uint32_t spa)
{
    struct pkt *pkt = pkt_alloc(ARP_PKT_LEN);
    if (pkt == NULL)
        return;
    struct arp_repr arp = {.op = op, .spa = spa, .tpa = tpa};
    memcpy(arp.sha, netif->mac, ETHER_ADDR_LEN);
    memcpy(arp.tha, tha, ETHER_ADDR_LEN);
    arp_emit(&arp, pkt->data);
    ether_output(netif, pkt, dst_mac, ETHERTYPE_ARP);
}

static void send_request(struct netif *netif, uint32_t ip, const uint8_t *unicast_mac)
{
    STAT_INC(netif->stack, arp_tx_request);
    arp_send(netif, ARP_OP_REQUEST, unicast_mac ? unicast_mac : broadcast_mac, zero_mac, ip,
             netif->addr);
}

void arp_announce(struct netif *netif)
{
    if (netif->addr == 0)
        return;
    STAT_INC(netif->stack, arp_tx_gratuitous);
    arp_send(netif, ARP_OP_REQUEST, broadcast_mac, zero_mac, netif->addr, netif->addr);
}

static void entry_flush(struct arp_entry *entry)
{
    struct netif *netif = entry->cache->netif;
    unsigned n = entry->queued;
    entry->cache->queued_total -= n;
    entry->queued = 0;
    for (unsigned i = 0; i < n; i++)
        ether_output(netif, entry->queue[i], entry->mac, ETHERTYPE_IPV4);
}

static void entry_confirm(struct arp_entry *entry, const uint8_t mac[ETHER_ADDR_LEN])
{
    struct stack *stack = entry->cache->netif->stack;
    memcpy(entry->mac, mac, ETHER_ADDR_LEN);
    entry->state = ENTRY_RESOLVED;
    entry->confirmed_us = stack->now_us;
    entry->requests_sent = 0;
    timer_arm(stack, &entry->timer, stack->now_us + ARP_EXPIRE_US);
    entry_flush(entry);
}

static void entry_timer(struct stack *stack, struct timer *timer)
{
    struct arp_entry *entry = (struct arp_entry *)timer;
    struct netif *netif = entry->cache->netif;
    if (entry->state == ENTRY_RESOLVED) {
        /* Not confirmed within ARP_EXPIRE_US: forget it. */
        entry_free(entry, false);
        return;
    }
    if (entry->requests_sent >= ARP_RETRIES) {
        char ip[16];
        ipv4_fmt(entry->ip, ip, sizeof(ip));
        LOG_DEBUG(stack, "%s: no ARP answer from %s", netif->name, ip);
        STAT_INC(stack, arp_resolve_failed);
        entry_free(entry, true);
        return;
    }
    entry->requests_sent++;
    send_request(netif, entry->ip, NULL);
    timer_arm(stack, &entry->timer, stack->now_us + ARP_RETRY_US);
}

void arp_output_ipv4(struct netif *netif, struct pkt *pkt, uint32_t nexthop)
{
    struct stack *stack = netif->stack;
    struct arp_cache *cache = netif->arp;
    if (nexthop == 0xffffffffu || netif_is_broadcast(netif, nexthop)) {
        ether_output(netif, pkt, broadcast_mac, ETHERTYPE_IPV4);
        return;
    }
    struct arp_entry *entry = entry_find(cache, nexthop);
    if (entry != NULL && entry->state == ENTRY_RESOLVED) {
        /* Past its reachable time an entry in use is reconfirmed by a
         * unicast request (at most once a second) before it expires. */
        if (stack->now_us - entry->confirmed_us > ARP_REACHABLE_US &&
            stack->now_us - entry->refresh_sent_us > ARP_RETRY_US) {
            entry->refresh_sent_us = stack->now_us;
            send_request(netif, nexthop, entry->mac);
        }
        ether_output(netif, pkt, entry->mac, ETHERTYPE_IPV4);
        return;
    }
    if (entry == NULL) {
        entry = entry_alloc(cache, nexthop);
        if (entry == NULL) {
            STAT_INC(stack, arp_queue_drop_full);
            ipv4_report_local_error(stack, pkt->data, pkt->len, ENOBUFS);
            pkt_free(pkt);
            return;
        }
        entry->state = ENTRY_INCOMPLETE;
        entry->requests_sent = 1;
        send_request(netif, nexthop, NULL);
        timer_arm(stack, &entry->timer, stack->now_us + ARP_RETRY_US);
    }
    if (entry->queued == ARP_QUEUE_PER_ENTRY || cache->queued_total >= ARP_QUEUE_TOTAL) {
        /* Like the kernel's unresolved queue: the oldest waiter gives way. */
        STAT_INC(stack, arp_queue_drop_full);
        if (entry->queued == 0) {
            pkt_free(pkt);
            return;
        }
        struct pkt *oldest = entry->queue[0];
        memmove(entry->queue, entry->queue + 1, (entry->queued - 1) * sizeof(entry->queue[0]));
        entry->queue[entry->queued - 1] = pkt;
        pkt_free(oldest);
        return;
    }
    entry->queue[entry->queued++] = pkt;
    cache->queued_total++;
}

void arp_input(struct netif *netif, const uint8_t *data, size_t len)
{
    struct stack *stack = netif->stack;
    struct arp_repr arp;
    if (arp_parse(data, len, &arp) != WIRE_OK) {
        STAT_INC(stack, arp_rx_malformed);
        return;
    }
    if (arp.op == ARP_OP_REQUEST)
        STAT_INC(stack, arp_rx_request);
    else
        STAT_INC(stack, arp_rx_reply);
    /* A sender claiming a group MAC, or our own address, is lying or
     * misconfigured; learning from it would poison the cache. */
    if ((arp.sha[0] & 1) != 0 || memcmp(arp.sha, zero_mac, ETHER_ADDR_LEN) == 0 ||
        (arp.spa != 0 && arp.spa == netif->addr) || (arp.spa >> 28) >= 0xe) {
        STAT_INC(stack, arp_drop_bad_sender);
        return;
    }
    bool for_us = netif->addr != 0 && arp.tpa == netif->addr;
    struct arp_entry *entry = arp.spa != 0 ? entry_find(netif->arp, arp.spa) : NULL;

    /* RFC 826 merge: an entry we already hold is updated by any packet from
     * its owner. */
    if (entry != NULL)
        entry_confirm(entry, arp.sha);
    else if (for_us && arp.op == ARP_OP_REQUEST && arp.spa != 0) {
        /* The asker will talk to us next; learn it as RFC 826 says. */
        entry = entry_alloc(netif->arp, arp.spa);
        if (entry != NULL)
            entry_confirm(entry, arp.sha);
    } else if (arp.op == ARP_OP_REPLY) {
        /* Never create entries from unsolicited replies. */
        STAT_INC(stack, arp_drop_unsolicited);
        return;
    }

    if (!for_us) {
        if (entry == NULL)
            STAT_INC(stack, arp_drop_not_for_us);
        return;
    }
    if (arp.op == ARP_OP_REQUEST) {
        STAT_INC(stack, arp_tx_reply);
        arp_send(netif, ARP_OP_REPLY, arp.sha, arp.sha, arp.spa, netif->addr);
    }
}

int arp_cache_lookup(const struct arp_cache *cache, uint32_t ip, uint8_t mac[6])
{
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
        const struct arp_entry *e = &cache->entries[i];
        if (e->state == ENTRY_RESOLVED && e->ip == ip) {
            memcpy(mac, e->mac, ETHER_ADDR_LEN);
            return 0;
        }
    }
    return -ENOENT;
}

unsigned arp_cache_count(const struct arp_cache *cache)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
        n += cache->entries[i].state != ENTRY_FREE;
    return n;
}
