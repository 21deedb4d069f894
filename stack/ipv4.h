/* IPv4: input validation and local delivery, routing and fragmentation on
 * output, reassembly, and the dispatch of errors to the transports. */
#ifndef TOYSOCK_IPV4_H
#define TOYSOCK_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"
#include "wire/wire.h"

struct stack;
struct netif;

#define IPV4_DEFAULT_TTL 64

void ipv4_input(struct netif *netif, const uint8_t *data, size_t len, bool link_broadcast);

struct ipv4_tx_opts {
    uint8_t tos;
    uint8_t ttl; /* 0: IPV4_DEFAULT_TTL */
    bool dont_fragment;
};

/* Sends the transport payload at pkt->data from src (0: the route's
 * address) to dst, fragmenting to the route's MTU. Consumes pkt. Returns 0,
 * -ENETUNREACH (no route), -EMSGSIZE (too big with DF), -ENOBUFS. */
int ipv4_output(struct stack *stack, struct pkt *pkt, uint8_t proto, uint32_t src, uint32_t dst,
                const struct ipv4_tx_opts *opts);
/* The source address the stack would use towards dst, 0 if unroutable. */
uint32_t ipv4_source_for(const struct stack *stack, uint32_t dst);
/* The MTU of the route towards dst, 0 if unroutable. */
unsigned ipv4_mtu_for(const struct stack *stack, uint32_t dst);

/* A datagram the stack sent (at data, IP header first) could not be
 * delivered for a local reason (err: EHOSTUNREACH, ENOBUFS): tell the
 * transport that sent it, as an ICMP error would. */
void ipv4_report_local_error(struct stack *stack, const uint8_t *data, size_t len, int err);
/* Routes an error about one of our datagrams (its header in orig, with
 * at least 8 bytes of its payload) to the transport that sent it. mtu is
 * the next-hop MTU for "fragmentation needed", else 0. */
void ipv4_deliver_error(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                        size_t payload_len, int err, unsigned mtu);

/* Reassembly (ipv4_reass.c). */
#define REASS_MAX_DATAGRAMS 32
#define REASS_MAX_FRAGMENTS 128 /* a 64 KiB datagram over a 576-byte MTU is 119 */
#define REASS_MEMORY_LIMIT (1u << 20)
#define REASS_TIMEOUT_US 30000000ull

struct reass *reass_create(struct stack *stack);
void reass_destroy(struct reass *reass);
/* Adds a fragment (ip parsed from the datagram, payload its data). When it
 * completes the datagram, returns true with the whole payload in out and
 * out_len (valid until the next call), and out_ip describing it. */
bool reass_add(struct reass *reass, const struct ipv4_repr *ip, const uint8_t *payload,
               size_t payload_len, struct ipv4_repr *out_ip, const uint8_t **out,
               size_t *out_len);
/* Datagrams being reassembled and the bytes they hold. */
unsigned reass_pending(const struct reass *reass);
size_t reass_memory(const struct reass *reass);

#endif
