/* UDP input: validate, then (no sockets yet) answer port unreachable. */
#include "icmp.h"
#include "stack.h"
#include "udp.h"

void udp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
               bool broadcast)
{
    struct udp_repr udp;
    enum wire_err err = udp_parse_ipv4(data, len, ip->src, ip->dst, &udp);
    if (err == WIRE_BAD_CHECKSUM) {
        STAT_INC(stack, udp_rx_bad_checksum);
        return;
    }
    if (err != WIRE_OK) {
        STAT_INC(stack, udp_rx_malformed);
        return;
    }
    STAT_INC(stack, udp_rx_datagrams);
    STAT_INC(stack, udp_rx_no_port);
    icmp_send_error(stack, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, ip, data, len, broadcast);
}

void udp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err)
{
    (void)stack;
    (void)orig;
    (void)payload;
    (void)payload_len;
    (void)err;
}
