/* ICMPv4 messages (RFC 792). */
#include <string.h>

#include "be.h"
#include "checksum.h"
#include "wire.h"

enum wire_err icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *out)
{
    if (len < ICMP_HDR_LEN)
        return WIRE_TRUNCATED;
    if (csum_finish(csum_add(0, buf, len)) != 0)
        return WIRE_BAD_CHECKSUM;
    out->type = buf[0];
    out->code = buf[1];
    out->rest = be32_get(buf + 4);
    out->data = buf + ICMP_HDR_LEN;
    out->data_len = len - ICMP_HDR_LEN;
    return WIRE_OK;
}

void icmp_emit(const struct icmp_repr *repr, uint8_t *buf)
{
    buf[0] = repr->type;
    buf[1] = repr->code;
    be16_put(buf + 2, 0);
    be32_put(buf + 4, repr->rest);
    if (repr->data_len > 0)
        memmove(buf + ICMP_HDR_LEN, repr->data, repr->data_len);
    be16_put(buf + 2, csum_finish(csum_add(0, buf, ICMP_HDR_LEN + repr->data_len)));
}
