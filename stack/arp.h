/* ARP (RFC 826) for one Ethernet interface: a cache with expiry and
 * refresh, and a bounded queue of datagrams waiting for resolution. */
#ifndef TOYSOCK_ARP_H
#define TOYSOCK_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

struct netif;
struct arp_cache;

#define ARP_CACHE_SIZE 64
#define ARP_QUEUE_PER_ENTRY 64 /* a 64 KiB datagram in 1500-byte fragments is 45 */
#define ARP_QUEUE_TOTAL 256
#define ARP_RETRIES 3
#define ARP_RETRY_US 1000000ull
/* An entry is trusted this long after its last confirmation, then
 * refreshed by a unicast request while still in use. */
#define ARP_REACHABLE_US 30000000ull
/* An entry not confirmed for this long is removed. */
#define ARP_EXPIRE_US 60000000ull

struct arp_cache *arp_cache_create(struct netif *netif);
void arp_cache_destroy(struct arp_cache *cache);

void arp_input(struct netif *netif, const uint8_t *data, size_t len);
/* Sends an IPv4 datagram (at pkt->data) to nexthop: at once when its MAC is
 * known, else after resolution. If resolution fails, the sender learns of
 * it through ipv4_report_local_error (EHOSTUNREACH). Consumes pkt. */
void arp_output_ipv4(struct netif *netif, struct pkt *pkt, uint32_t nexthop);
/* Gratuitous ARP for the interface's address. */
void arp_announce(struct netif *netif);
/* 0 and the MAC when ip is resolved; -ENOENT otherwise. */
int arp_cache_lookup(const struct arp_cache *cache, uint32_t ip, uint8_t mac[6]);
/* Entries in use (resolved or pending). */
unsigned arp_cache_count(const struct arp_cache *cache);

#endif
