/* IPv4 input and output.
 *
 * ipv4_input() -> validate -> filter by destination -> reass_add() for
 * fragments -> deliver(): icmp_input | udp_input | tcp_input.
 * ipv4_output() -> route -> fragment to MTU -> arp_output_ipv4() or the
 * loopback interface. */
#include <errno.h>
#include <string.h>

#include "arp.h"
#include "icmp.h"
#include "ipv4.h"
#include "netif.h"
#include "stack.h"
#include "tcp.h"
#include "udp.h"
#include "wire/be.h"

static void count_parse_error(struct stack *stack, enum wire_err err)
{
    switch (err) {
    case WIRE_TRUNCATED: STAT_INC(stack, ipv4_rx_truncated); break;
    case WIRE_BAD_VERSION: STAT_INC(stack, ipv4_rx_bad_version); break;
    case WIRE_BAD_HDR_LEN: STAT_INC(stack, ipv4_rx_bad_hdr_len); break;
    case WIRE_BAD_TOTAL_LEN: STAT_INC(stack, ipv4_rx_bad_total_len); break;
    case WIRE_BAD_CHECKSUM: STAT_INC(stack, ipv4_rx_bad_checksum); break;
    case WIRE_BAD_ADDRESS: STAT_INC(stack, ipv4_rx_bad_source); break;
    case WIRE_BAD_OPTION: STAT_INC(stack, ipv4_rx_bad_options); break;
    default: STAT_INC(stack, ipv4_rx_bad_field); break;
    }
}

static bool is_loopback_addr(uint32_t addr)
{
    return addr >> 24 == 127;
}

static bool is_multicast_addr(uint32_t addr)
{
    return addr >> 28 == 0xe;
}

bool stack_is_local_addr(const struct stack *stack, uint32_t addr)
{
    if (addr == 0)
        return false;
    if (is_loopback_addr(addr))
        return stack->loopback != NULL;
    for (unsigned i = 0; i < stack->netif_count; i++)
        if (stack->netifs[i]->addr == addr)
            return true;
    return false;
}

static void deliver(struct netif *netif, const struct ipv4_repr *ip, const uint8_t *payload,
                    size_t len, bool broadcast)
{
    struct stack *stack = netif->stack;
    switch (ip->proto) {
    case IP_PROTO_ICMP:
        icmp_input(stack, ip, payload, len, broadcast);
        break;
    case IP_PROTO_UDP:
        udp_input(stack, ip, payload, len, broadcast);
        break;
    case IP_PROTO_TCP:
        if (broadcast) /* TCP is unicast only (RFC 9293 §3.9.1) */
            STAT_INC(stack, ipv4_drop_not_for_us);
        else
            tcp_input(stack, ip, payload, len);
        break;
    default:
        STAT_INC(stack, ipv4_drop_unknown_proto);
        icmp_send_error(stack, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, ip, payload, len,
                        broadcast);
        break;
    }
}

void ipv4_input(struct netif *netif, const uint8_t *data, size_t len, bool link_broadcast)
{
    struct stack *stack = netif->stack;
    struct ipv4_repr ip;
    enum wire_err err = ipv4_parse(data, len, &ip);
    if (err != WIRE_OK) {
        count_parse_error(stack, err);
        return;
    }
    STAT_INC(stack, ipv4_rx_packets);

    /* Martians: an unspecified, loopback or our own source on a real link. */
    if (netif->kind != NETIF_LOOPBACK &&
        (ip.src == 0 || is_loopback_addr(ip.src) || ip.src == netif->addr ||
         netif_is_broadcast(netif, ip.src))) {
        STAT_INC(stack, ipv4_rx_bad_source);
        return;
    }
    bool broadcast = link_broadcast || ip.dst == 0xffffffffu || netif_is_broadcast(netif, ip.dst);
    bool for_us;
    if (netif->kind == NETIF_LOOPBACK)
        for_us = stack_is_local_addr(stack, ip.dst);
    else
        for_us = (netif->addr != 0 && ip.dst == netif->addr) || ip.dst == 0xffffffffu ||
                 netif_is_broadcast(netif, ip.dst);
    if (!for_us || is_multicast_addr(ip.dst)) {
        STAT_INC(stack, ipv4_drop_not_for_us);
        return;
    }

    const uint8_t *payload = data + ip.hdr_len;
    size_t payload_len = (size_t)ip.total_len - ip.hdr_len;
    if (ip.more_fragments || ip.frag_offset != 0) {
        STAT_INC(stack, ipv4_rx_fragments);
        struct ipv4_repr whole;
        const uint8_t *assembled;
        size_t assembled_len;
        if (!reass_add(stack->ipv4.reass, &ip, payload, payload_len, &whole, &assembled,
                       &assembled_len))
            return;
        STAT_INC(stack, ipv4_rx_reassembled);
        deliver(netif, &whole, assembled, assembled_len, broadcast);
        return;
    }
    deliver(netif, &ip, payload, payload_len, broadcast);
}

struct next_hop {
    struct netif *netif;
    uint32_t addr; /* the neighbour to send to */
    uint32_t src;
};

static int route_next_hop(const struct stack *stack, uint32_t dst, struct next_hop *hop)
{
    /* Our own addresses are reached through loopback, as in Linux. */
    if (stack->loopback != NULL && (is_loopback_addr(dst) || stack_is_local_addr(stack, dst))) {
        hop->netif = stack->loopback;
        hop->addr = dst;
        hop->src = is_loopback_addr(dst) ? stack->loopback->addr : dst;
        return 0;
    }
    if (dst == 0xffffffffu && stack->link != NULL) {
        hop->netif = stack->link;
        hop->addr = dst;
        hop->src = stack->link->addr;
        return 0;
    }
    const struct route *route = route_lookup(stack, dst);
    if (route == NULL)
        return -ENETUNREACH;
    hop->netif = route->netif;
    hop->addr = route->gateway ? route->gateway : dst;
    hop->src = route->netif->addr;
    return 0;
}

uint32_t ipv4_source_for(const struct stack *stack, uint32_t dst)
{
    struct next_hop hop;
    return route_next_hop(stack, dst, &hop) == 0 ? hop.src : 0;
}

unsigned ipv4_mtu_for(const struct stack *stack, uint32_t dst)
{
    struct next_hop hop;
    return route_next_hop(stack, dst, &hop) == 0 ? hop.netif->mtu : 0;
}

static void send_datagram(struct next_hop *hop, struct pkt *pkt)
{
    STAT_INC(hop->netif->stack, ipv4_tx_packets);
    if (hop->netif->kind == NETIF_LOOPBACK)
        netif_transmit(hop->netif, pkt);
    else
        arp_output_ipv4(hop->netif, pkt, hop->addr);
}

int ipv4_output(struct stack *stack, struct pkt *pkt, uint8_t proto, uint32_t src, uint32_t dst,
                const struct ipv4_tx_opts *opts)
{
    struct next_hop hop;
    int rc = route_next_hop(stack, dst, &hop);
    if (rc < 0) {
        STAT_INC(stack, ipv4_tx_no_route);
        pkt_free(pkt);
        return rc;
    }
    struct ipv4_repr ip = {
        .hdr_len = IPV4_HDR_MIN,
        .tos = opts ? opts->tos : 0,
        .id = stack->ipv4.next_id++,
        .dont_fragment = opts ? opts->dont_fragment : false,
        .ttl = opts && opts->ttl ? opts->ttl : IPV4_DEFAULT_TTL,
        .proto = proto,
        .src = src ? src : hop.src,
        .dst = dst,
    };
    size_t payload_len = pkt->len;
    if (payload_len > IPV4_MAX_DATAGRAM - IPV4_HDR_MIN) {
        pkt_free(pkt);
        return -EMSGSIZE;
    }
    unsigned mtu = hop.netif->mtu;
    if (IPV4_HDR_MIN + payload_len <= mtu) {
        ip.total_len = (uint16_t)(IPV4_HDR_MIN + payload_len);
        ipv4_emit(&ip, pkt_push(pkt, IPV4_HDR_MIN));
        send_datagram(&hop, pkt);
        return 0;
    }
    if (ip.dont_fragment) {
        STAT_INC(stack, ipv4_tx_drop_df);
        pkt_free(pkt);
        return -EMSGSIZE;
    }
    /* Every fragment but the last carries a multiple of 8 bytes. */
    size_t chunk = ((mtu - IPV4_HDR_MIN) / 8) * 8;
    for (size_t off = 0; off < payload_len; off += chunk) {
        size_t n = payload_len - off < chunk ? payload_len - off : chunk;
        struct pkt *frag = pkt_from(pkt->data + off, n);
        if (frag == NULL) {
            pkt_free(pkt);
            return -ENOBUFS;
        }
        ip.frag_offset = (uint16_t)off;
        ip.more_fragments = off + n < payload_len;
        ip.total_len = (uint16_t)(IPV4_HDR_MIN + n);
        ipv4_emit(&ip, pkt_push(frag, IPV4_HDR_MIN));
        STAT_INC(stack, ipv4_tx_fragments);
        send_datagram(&hop, frag);
    }
    pkt_free(pkt);
    return 0;
}

void ipv4_deliver_error(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                        size_t payload_len, int err, unsigned mtu)
{
    switch (orig->proto) {
    case IP_PROTO_ICMP:
        icmp_error_input(stack, orig, payload, payload_len, err);
        break;
    case IP_PROTO_UDP:
        udp_error_input(stack, orig, payload, payload_len, err);
        break;
    case IP_PROTO_TCP:
        tcp_error_input(stack, orig, payload, payload_len, err, mtu);
        break;
    default:
        break;
    }
}

void ipv4_report_local_error(struct stack *stack, const uint8_t *data, size_t len, int err)
{
    /* Our own datagram: the header is well formed, but check anyway. */
    if (len < IPV4_HDR_MIN || (data[0] >> 4) != 4)
        return;
    size_t hdr_len = (size_t)(data[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_MIN || hdr_len > len)
        return;
    struct ipv4_repr ip = {
        .hdr_len = (uint8_t)hdr_len,
        .proto = data[9],
        .src = be32_get(data + 12),
        .dst = be32_get(data + 16),
        .frag_offset = (uint16_t)((be16_get(data + 6) & IPV4_FRAG_OFFSET_MASK) * 8),
    };
    /* Only the first fragment carries the transport header. */
    if (ip.frag_offset != 0)
        return;
    ipv4_deliver_error(stack, &ip, data + hdr_len, len - hdr_len, err, 0);
}
