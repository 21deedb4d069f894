/* SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
 * SYN-ACK's sequence number carries what the connection needs, and the
 * returning ACK proves it. Nothing is stored per SYN.
 *
 * The cookie (our ISS), 32 bits:
 *   bits 31..3  the top 29 bits of SipHash-2-4(cookie_key; local and remote
 *               address and port, the peer's ISN, the time counter, the MSS
 *               index)
 *   bit  2      the counter's low bit: which of the two counters it used
 *   bits 1..0   an index into mss_table (the largest entry not above the
 *               peer's MSS)
 * The counter ticks every 64 s; a cookie is honoured with the current
 * counter or the one before, so it lives between 64 and 128 s.
 *
 * Options: window scaling and SACK cannot live in the 32 bits. When the SYN
 * carried timestamps, our SYN-ACK's TSval keeps them in its low 5 bits (as
 * Linux does): 4 bits of the peer's window shift (15: none) and 1 bit of
 * SACK-permitted; the ACK's TSecr brings them back. Without timestamps the
 * cookie's connection has neither window scaling nor SACK (and its SYN-ACK
 * offers neither). */
#include "tcp_priv.h"

#define COOKIE_PERIOD_US (64ull * 1000000)
#define COOKIE_TS_BITS 5
#define COOKIE_TS_MASK ((1u << COOKIE_TS_BITS) - 1)
#define COOKIE_WS_NONE 15u
#define COOKIE_SACK_BIT 0x10u

/* MSS values worth encoding (Linux's msstab): the minimum, tunnels/VPNs,
 * PPPoE-ish and plain Ethernet. */
static const uint16_t mss_table[4] = {536, 1300, 1440, 1460};

static uint32_t cookie_mac(struct stack *stack, const struct ipv4_repr *ip, uint16_t sport,
                           uint16_t dport, uint32_t peer_isn, uint64_t counter, unsigned idx)
{
    uint8_t b[24];
    uint32_t words[4] = {ip->dst, ip->src, ((uint32_t)dport << 16) | sport, peer_isn};
    for (unsigned w = 0; w < 4; w++)
        for (unsigned i = 0; i < 4; i++)
            b[w * 4 + i] = (uint8_t)(words[w] >> (24 - 8 * i));
    for (unsigned i = 0; i < 7; i++)
        b[16 + i] = (uint8_t)(counter >> (8 * i));
    b[23] = (uint8_t)idx;
    return (uint32_t)tcp_siphash(stack->tcp->cookie_key, b, sizeof(b));
}

uint32_t tcp_cookie_make(struct stack *stack, const struct ipv4_repr *ip,
                         const struct tcp_repr *syn, uint16_t *mss)
{
    uint16_t peer = syn->has_mss && syn->mss != 0 ? syn->mss : TCP_DEFAULT_MSS;
    unsigned idx = 0;
    for (unsigned i = 0; i < 4; i++)
        if (mss_table[i] <= peer)
            idx = i;
    *mss = mss_table[idx];
    uint64_t counter = stack->now_us / COOKIE_PERIOD_US;
    uint32_t mac = cookie_mac(stack, ip, syn->src_port, syn->dst_port, syn->seq, counter, idx);
    return (mac & ~7u) | (uint32_t)((counter & 1) << 2) | idx;
}

bool tcp_cookie_check(struct stack *stack, const struct ipv4_repr *ip, const struct tcp_repr *ack,
                      uint16_t *mss)
{
    uint32_t cookie = ack->ack - 1;
    unsigned idx = cookie & 3;
    uint64_t counter = stack->now_us / COOKIE_PERIOD_US;
    if ((counter & 1) != ((cookie >> 2) & 1)) {
        if (counter == 0)
            return false;
        counter--; /* the previous period's cookie */
    }
    uint32_t mac = cookie_mac(stack, ip, ack->src_port, ack->dst_port, ack->seq - 1, counter, idx);
    if ((mac & ~7u) != (cookie & ~7u))
        return false;
    *mss = mss_table[idx];
    return true;
}

uint32_t tcp_cookie_ts_encode(uint32_t ts_now, const struct tcp_repr *syn)
{
    uint32_t bits = syn->has_wscale ? syn->wscale : COOKIE_WS_NONE;
    if (syn->sack_permitted)
        bits |= COOKIE_SACK_BIT;
    uint32_t ts = (ts_now & ~COOKIE_TS_MASK) | bits;
    /* Never ahead of the clock the connection will use afterwards. */
    if (seq_gt(ts, ts_now))
        ts -= 1u << COOKIE_TS_BITS;
    return ts;
}

void tcp_cookie_ts_decode(uint32_t ts_ecr, bool *sack, int *wscale)
{
    uint32_t ws = ts_ecr & 0xf;
    *sack = (ts_ecr & COOKIE_SACK_BIT) != 0;
    *wscale = ws == COOKIE_WS_NONE ? -1 : (int)(ws > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : ws);
}
