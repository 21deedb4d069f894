/* IPv4 header (RFC 791): validation, emission, address text forms. */
#include <stdio.h>
#include <string.h>

#include "be.h"
#include "checksum.h"
#include "wire.h"

enum wire_err ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *out)
{
    if (len < IPV4_HDR_MIN)
        return WIRE_TRUNCATED;
    if (buf[0] >> 4 != 4)
        return WIRE_BAD_VERSION;
    size_t hdr_len = (size_t)(buf[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_MIN)
        return WIRE_BAD_HDR_LEN;
    if (hdr_len > len)
        return WIRE_TRUNCATED;
    uint16_t total_len = be16_get(buf + 2);
    if (total_len < hdr_len)
        return WIRE_BAD_TOTAL_LEN;
    if (total_len > len)
        return WIRE_TRUNCATED;
    if (csum_finish(csum_add(0, buf, hdr_len)) != 0)
        return WIRE_BAD_CHECKSUM;

    out->hdr_len = (uint8_t)hdr_len;
    out->tos = buf[1];
    out->total_len = total_len;
    out->id = be16_get(buf + 4);
    uint16_t frag = be16_get(buf + 6);
    if (frag & 0x8000) /* the reserved flag must be zero */
        return WIRE_BAD_FIELD;
    out->dont_fragment = (frag & IPV4_FLAG_DF) != 0;
    out->more_fragments = (frag & IPV4_FLAG_MF) != 0;
    out->frag_offset = (uint16_t)((frag & IPV4_FRAG_OFFSET_MASK) * 8);
    out->ttl = buf[8];
    out->proto = buf[9];
    out->src = be32_get(buf + 12);
    out->dst = be32_get(buf + 16);
    out->options = hdr_len > IPV4_HDR_MIN ? buf + IPV4_HDR_MIN : NULL;
    out->options_len = (uint8_t)(hdr_len - IPV4_HDR_MIN);

    /* A fragment whose end would pass the largest datagram is malformed. */
    if ((size_t)out->frag_offset + (total_len - hdr_len) > IPV4_MAX_DATAGRAM - hdr_len)
        return WIRE_BAD_TOTAL_LEN;
    /* No host sends from a multicast, class E or limited-broadcast address. */
    if ((out->src >> 28) >= 0xe)
        return WIRE_BAD_ADDRESS;

    /* Options must be well formed even though we act on none of them. */
    const uint8_t *opt = out->options;
    size_t left = out->options_len;
    while (left > 0) {
        uint8_t type = opt[0];
        if (type == 0) /* end of option list */
            break;
        if (type == 1) { /* no-operation */
            opt++;
            left--;
            continue;
        }
        if (left < 2 || opt[1] < 2 || opt[1] > left)
            return WIRE_BAD_OPTION;
        left -= opt[1];
        opt += opt[1];
    }
    return WIRE_OK;
}

void ipv4_emit(const struct ipv4_repr *repr, uint8_t *buf)
{
    buf[0] = 0x45;
    buf[1] = repr->tos;
    be16_put(buf + 2, repr->total_len);
    be16_put(buf + 4, repr->id);
    uint16_t frag = (uint16_t)(repr->frag_offset / 8);
    if (repr->dont_fragment)
        frag |= IPV4_FLAG_DF;
    if (repr->more_fragments)
        frag |= IPV4_FLAG_MF;
    be16_put(buf + 6, frag);
    buf[8] = repr->ttl;
    buf[9] = repr->proto;
    be16_put(buf + 10, 0);
    be32_put(buf + 12, repr->src);
    be32_put(buf + 16, repr->dst);
    be16_put(buf + 10, csum_finish(csum_add(0, buf, IPV4_HDR_MIN)));
}

void ipv4_fmt(uint32_t addr, char *out, size_t outlen)
{
    snprintf(out, outlen, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
             addr & 0xff);
}

bool ipv4_addr_parse(const char *text, uint32_t *addr)
{
    uint32_t value = 0;
    const char *p = text;
    for (int part = 0; part < 4; part++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned octet = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            /* "010" is octal to inet_aton and refused by inet_pton: refuse
             * a leading zero rather than guess. */
            if (digits == 1 && octet == 0)
                return false;
            octet = octet * 10 + (unsigned)(*p - '0');
            if (++digits > 3 || octet > 255)
                return false;
            p++;
        }
        value = value << 8 | octet;
        if (part < 3) {
            if (*p != '.')
                return false;
            p++;
        }
    }
    if (*p != '\0')
        return false;
    *addr = value;
    return true;
}
