/* ARP packets for IPv4 over Ethernet (RFC 826). */
#include <string.h>

#include "be.h"
#include "wire.h"

enum wire_err arp_parse(const uint8_t *buf, size_t len, struct arp_repr *out)
{
    if (len < ARP_PKT_LEN)
        return WIRE_TRUNCATED;
    /* Hardware Ethernet (1), protocol IPv4, address lengths 6 and 4. */
    if (be16_get(buf) != 1 || be16_get(buf + 2) != ETHERTYPE_IPV4 || buf[4] != 6 ||
        buf[5] != 4)
        return WIRE_UNSUPPORTED;
    out->op = be16_get(buf + 6);
    if (out->op != ARP_OP_REQUEST && out->op != ARP_OP_REPLY)
        return WIRE_UNSUPPORTED;
    memcpy(out->sha, buf + 8, ETHER_ADDR_LEN);
    out->spa = be32_get(buf + 14);
    memcpy(out->tha, buf + 18, ETHER_ADDR_LEN);
    out->tpa = be32_get(buf + 24);
    return WIRE_OK;
}

void arp_emit(const struct arp_repr *repr, uint8_t *buf)
{
    be16_put(buf, 1);
    be16_put(buf + 2, ETHERTYPE_IPV4);
    buf[4] = 6;
    buf[5] = 4;
    be16_put(buf + 6, repr->op);
    memcpy(buf + 8, repr->sha, ETHER_ADDR_LEN);
    be32_put(buf + 14, repr->spa);
    memcpy(buf + 18, repr->tha, ETHER_ADDR_LEN);
    be32_put(buf + 24, repr->tpa);
}
