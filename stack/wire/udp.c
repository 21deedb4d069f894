/* UDP datagrams over IPv4 (RFC 768). */
#include <string.h>

#include "be.h"
#include "checksum.h"
#include "wire.h"

enum wire_err udp_parse_ipv4(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                             struct udp_repr *out)
{
    if (len < UDP_HDR_LEN)
        return WIRE_TRUNCATED;
    uint16_t udp_len = be16_get(buf + 4);
    if (udp_len < UDP_HDR_LEN)
        return WIRE_BAD_TOTAL_LEN;
    if (udp_len > len)
        return WIRE_TRUNCATED;
    if (be16_get(buf + 6) != 0) {
        uint32_t sum = csum_pseudo_ipv4(src, dst, IP_PROTO_UDP, udp_len);
        if (csum_finish(csum_add(sum, buf, udp_len)) != 0)
            return WIRE_BAD_CHECKSUM;
    }
    out->src_port = be16_get(buf);
    out->dst_port = be16_get(buf + 2);
    if (out->dst_port == 0)
        return WIRE_BAD_FIELD;
    out->payload = buf + UDP_HDR_LEN;
    out->payload_len = udp_len - UDP_HDR_LEN;
    return WIRE_OK;
}

void udp_emit_ipv4(const struct udp_repr *repr, uint32_t src, uint32_t dst, uint8_t *buf)
{
    uint16_t udp_len = (uint16_t)(UDP_HDR_LEN + repr->payload_len);
    be16_put(buf, repr->src_port);
    be16_put(buf + 2, repr->dst_port);
    be16_put(buf + 4, udp_len);
    be16_put(buf + 6, 0);
    if (repr->payload_len > 0)
        memmove(buf + UDP_HDR_LEN, repr->payload, repr->payload_len);
    uint16_t sum = csum_finish(csum_add(csum_pseudo_ipv4(src, dst, IP_PROTO_UDP, udp_len), buf,
                                        udp_len));
    /* A computed zero is sent as all ones: zero means "no checksum". */
    be16_put(buf + 6, sum == 0 ? 0xffff : sum);
}
