/* UDP. Until UDP sockets exist every datagram for us draws a rate-limited
 * ICMP port unreachable (DESIGN §7). */
#ifndef TOYSOCK_UDP_H
#define TOYSOCK_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct stack;

void udp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
               bool broadcast);
void udp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err);

#endif
