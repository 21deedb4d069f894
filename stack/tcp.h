/* TCP: the entry points the rest of the stack calls. */
#ifndef TOYSOCK_TCP_H
#define TOYSOCK_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct stack;

int tcp_init(struct stack *stack);
void tcp_destroy(struct stack *stack);
void tcp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *seg, size_t len);
/* An ICMP or local error about a segment we sent (payload: its TCP header,
 * at least 8 bytes); mtu is the next-hop MTU for "fragmentation needed". */
void tcp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err, unsigned mtu);

#endif
