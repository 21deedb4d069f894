/* Ethernet II header and MAC address text forms. */
#include <stdio.h>
#include <string.h>

#include "be.h"
#include "wire.h"

const char *wire_err_name(enum wire_err err)
{
    switch (err) {
    case WIRE_OK: return "ok";
    case WIRE_TRUNCATED: return "truncated";
    case WIRE_BAD_VERSION: return "bad version";
    case WIRE_BAD_HDR_LEN: return "bad header length";
    case WIRE_BAD_TOTAL_LEN: return "bad total length";
    case WIRE_BAD_CHECKSUM: return "bad checksum";
    case WIRE_BAD_ADDRESS: return "bad address";
    case WIRE_BAD_OPTION: return "bad option";
    case WIRE_BAD_FIELD: return "bad field";
    case WIRE_UNSUPPORTED: return "unsupported";
    }
    return "unknown";
}

enum wire_err ether_parse(const uint8_t *buf, size_t len, struct ether_repr *out)
{
    if (len < ETHER_HDR_LEN)
        return WIRE_TRUNCATED;
    memcpy(out->dst, buf, ETHER_ADDR_LEN);
    memcpy(out->src, buf + 6, ETHER_ADDR_LEN);
    out->ethertype = be16_get(buf + 12);
    /* 802.3 length fields (<= 1500) are not Ethernet II. */
    if (out->ethertype < 0x0600)
        return WIRE_UNSUPPORTED;
    return WIRE_OK;
}

void ether_emit(const struct ether_repr *repr, uint8_t *buf)
{
    memcpy(buf, repr->dst, ETHER_ADDR_LEN);
    memcpy(buf + 6, repr->src, ETHER_ADDR_LEN);
    be16_put(buf + 12, repr->ethertype);
}

bool ether_is_broadcast(const uint8_t mac[ETHER_ADDR_LEN])
{
    static const uint8_t bcast[ETHER_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    return memcmp(mac, bcast, ETHER_ADDR_LEN) == 0;
}

bool ether_is_multicast(const uint8_t mac[ETHER_ADDR_LEN])
{
    return (mac[0] & 1) != 0 && !ether_is_broadcast(mac);
}

void ether_fmt(const uint8_t mac[ETHER_ADDR_LEN], char *out, size_t outlen)
{
    snprintf(out, outlen, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool ether_addr_parse(const char *text, uint8_t mac[ETHER_ADDR_LEN])
{
    /* Parse into a copy so that a rejected text leaves mac untouched. */
    uint8_t tmp[ETHER_ADDR_LEN];
    if (strlen(text) != 17)
        return false;
    for (int i = 0; i < ETHER_ADDR_LEN; i++) {
        const char *p = text + i * 3;
        int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
        if (hi < 0 || lo < 0)
            return false;
        if (i < ETHER_ADDR_LEN - 1 && p[2] != ':')
            return false;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(mac, tmp, ETHER_ADDR_LEN);
    return true;
}
