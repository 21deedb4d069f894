/* ICMPv4: echo (answering, and sending for the native API's ping), and
 * rate-limited errors. */
#ifndef TOYSOCK_ICMP_H
#define TOYSOCK_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct stack;

/* Errors: at most ICMP_RATE_PER_SEC a second with bursts of ICMP_RATE_BURST
 * (the kernel's icmp_msgs_per_sec and icmp_msgs_burst). */
#define ICMP_RATE_PER_SEC 1000
#define ICMP_RATE_BURST 50
#define ICMP_MAX_ECHO_WAITERS 256

int icmp_init(struct stack *stack);
void icmp_destroy(struct stack *stack);

void icmp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
                bool broadcast);
/* Sends an ICMP error (type, code, rest-of-header word) about a datagram we
 * received (its header ip and its payload), quoting the header and the
 * first 8 payload bytes. Never about an ICMP error, a broadcast or
 * multicast, a non-first fragment, or an unspecified source (RFC 1122
 * §3.2.2). Rate limited. */
void icmp_send_error(struct stack *stack, uint8_t type, uint8_t code, uint32_t rest,
                     const struct ipv4_repr *ip, const uint8_t *payload, size_t payload_len,
                     bool broadcast);

/* Called once per echo started: result 0 with the round trip, or
 * -ETIMEDOUT, -EHOSTUNREACH, -ENETUNREACH. */
typedef void (*icmp_echo_done)(struct stack *stack, uint64_t cookie, int result,
                               uint64_t rtt_us);
/* Sends an echo request and reports its outcome through done. Returns 0,
 * or -EAGAIN when too many echoes are outstanding, or a send error (then
 * done is not called). */
int icmp_echo_start(struct stack *stack, uint32_t dst, uint16_t seq, size_t payload_len,
                    uint64_t timeout_us, icmp_echo_done done, uint64_t cookie);
/* An error arrived about one of our ICMP messages. */
void icmp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                      size_t payload_len, int err);

#endif
