/* TCP placeholder until the TCP module lands: segments are counted and
 * dropped. */
#include "stack.h"
#include "tcp.h"

int tcp_init(struct stack *stack)
{
    (void)stack;
    return 0;
}

void tcp_destroy(struct stack *stack)
{
    (void)stack;
}

void tcp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *seg, size_t len)
{
    (void)ip;
    (void)seg;
    (void)len;
    STAT_INC(stack, tcp_rx_no_socket);
}

void tcp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err, unsigned mtu)
{
    (void)stack;
    (void)orig;
    (void)payload;
    (void)payload_len;
    (void)err;
    (void)mtu;
}
