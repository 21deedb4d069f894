/* Longest-prefix-match routing over a small fixed table. */
#include <errno.h>

#include "route.h"
#include "stack.h"

uint32_t prefix_to_mask(uint8_t prefix_len)
{
    return prefix_len == 0 ? 0 : prefix_len >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_len);
}

int route_add(struct stack *stack, uint32_t dst, uint8_t prefix_len, uint32_t gateway,
              struct netif *netif)
{
    struct route_table *table = &stack->routes;
    uint32_t mask = prefix_to_mask(prefix_len);
    for (unsigned i = 0; i < table->count; i++) {
        const struct route *r = &table->routes[i];
        if (r->dst == (dst & mask) && r->prefix_len == prefix_len)
            return -EEXIST;
    }
    if (table->count == ROUTE_MAX)
        return -ENOSPC;
    table->routes[table->count++] = (struct route){
        .dst = dst & mask, .prefix_len = prefix_len, .gateway = gateway, .netif = netif};
    return 0;
}

void route_remove_netif(struct stack *stack, struct netif *netif)
{
    struct route_table *table = &stack->routes;
    unsigned kept = 0;
    for (unsigned i = 0; i < table->count; i++)
        if (table->routes[i].netif != netif)
            table->routes[kept++] = table->routes[i];
    table->count = kept;
}

const struct route *route_lookup(const struct stack *stack, uint32_t dst)
{
    const struct route *best = NULL;
    for (unsigned i = 0; i < stack->routes.count; i++) {
        const struct route *r = &stack->routes.routes[i];
        if ((dst & prefix_to_mask(r->prefix_len)) != r->dst)
            continue;
        if (best == NULL || r->prefix_len > best->prefix_len)
            best = r;
    }
    return best;
}
