/* Ethernet II input filter and output framing. */
#include <string.h>

#include "arp.h"
#include "ether.h"
#include "ipv4.h"
#include "netif.h"
#include "stack.h"

void ether_input(struct netif *netif, const uint8_t *frame, size_t len)
{
    struct stack *stack = netif->stack;
    struct ether_repr eth;
    enum wire_err err = ether_parse(frame, len, &eth);
    if (err == WIRE_UNSUPPORTED) {
        STAT_INC(stack, ether_drop_unknown_type);
        return;
    }
    if (err != WIRE_OK) {
        STAT_INC(stack, ether_rx_malformed);
        return;
    }
    bool broadcast = ether_is_broadcast(eth.dst);
    bool for_us = memcmp(eth.dst, netif->mac, ETHER_ADDR_LEN) == 0 || broadcast ||
                  (ether_is_multicast(eth.dst) && netif_mcast_joined(netif, eth.dst));
    if (!for_us) {
        STAT_INC(stack, ether_drop_not_for_us);
        return;
    }
    /* Our own frames looped back by a bridge or a promiscuous capture. */
    if (memcmp(eth.src, netif->mac, ETHER_ADDR_LEN) == 0) {
        STAT_INC(stack, ether_drop_own_source);
        return;
    }
    const uint8_t *payload = frame + ETHER_HDR_LEN;
    size_t payload_len = len - ETHER_HDR_LEN;
    switch (eth.ethertype) {
    case ETHERTYPE_ARP:
        arp_input(netif, payload, payload_len);
        break;
    case ETHERTYPE_IPV4:
        ipv4_input(netif, payload, payload_len, broadcast);
        break;
    default:
        STAT_INC(stack, ether_drop_unknown_type);
        break;
    }
}

void ether_output(struct netif *netif, struct pkt *pkt, const uint8_t dst[ETHER_ADDR_LEN],
                  uint16_t ethertype)
{
    struct ether_repr eth = {.ethertype = ethertype};
    memcpy(eth.dst, dst, ETHER_ADDR_LEN);
    memcpy(eth.src, netif->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, pkt_push(pkt, ETHER_HDR_LEN));
    netif_transmit(netif, pkt);
}
