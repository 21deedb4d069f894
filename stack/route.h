/* The IPv4 routing table: connected routes and a default gateway, looked
 * up by longest prefix. */
#ifndef TOYSOCK_ROUTE_H
#define TOYSOCK_ROUTE_H

#include <stdint.h>

struct stack;
struct netif;

#define ROUTE_MAX 16

struct route {
    uint32_t dst; /* network, host order */
    uint8_t prefix_len;
    uint32_t gateway; /* 0: directly connected */
    struct netif *netif;
};

struct route_table {
    struct route routes[ROUTE_MAX];
    unsigned count;
};

/* Returns 0, -EEXIST for a duplicate, -ENOSPC when the table is full. */
int route_add(struct stack *stack, uint32_t dst, uint8_t prefix_len, uint32_t gateway,
              struct netif *netif);
void route_remove_netif(struct stack *stack, struct netif *netif);
/* The most specific route to dst, or NULL. */
const struct route *route_lookup(const struct stack *stack, uint32_t dst);
uint32_t prefix_to_mask(uint8_t prefix_len);

#endif
