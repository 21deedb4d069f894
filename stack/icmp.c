/* ICMPv4: echo replies, errors with a token-bucket rate limit, received
 * errors routed to the transport they are about, and echo requests for the
 * native API. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icmp.h"
#include "ipv4.h"
#include "stack.h"
#include "wire/be.h"

struct echo_waiter {
    struct timer timer; /* first: the callback casts back */
    bool in_use;
    uint32_t dst;
    uint16_t id;
    uint16_t seq;
    uint64_t sent_us;
    icmp_echo_done done;
    uint64_t cookie;
};

struct icmp_state {
    /* Token bucket for errors, in micro-tokens to stay integral. */
    uint64_t tokens;
    uint64_t refilled_us;
    uint16_t echo_id; /* identifier for our echo requests */
    struct echo_waiter waiters[ICMP_MAX_ECHO_WAITERS];
};

#define TOKEN 1000000ull

static void echo_timeout(struct stack *stack, struct timer *timer);

int icmp_init(struct stack *stack)
{
    struct icmp_state *icmp = calloc(1, sizeof(*icmp));
    if (icmp == NULL)
        return -ENOMEM;
    icmp->tokens = ICMP_RATE_BURST * TOKEN;
    icmp->refilled_us = stack->now_us;
    icmp->echo_id = (uint16_t)rng_next(&stack->rng);
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++)
        timer_init(&icmp->waiters[i].timer, echo_timeout);
    stack->icmp = icmp;
    return 0;
}

void icmp_destroy(struct stack *stack)
{
    struct icmp_state *icmp = stack->icmp;
    if (icmp == NULL)
        return;
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++)
        timer_cancel(stack, &icmp->waiters[i].timer);
    free(icmp);
    stack->icmp = NULL;
}

static bool rate_allow(struct stack *stack)
{
    struct icmp_state *icmp = stack->icmp;
    uint64_t elapsed = stack->now_us - icmp->refilled_us;
    icmp->refilled_us = stack->now_us;
    icmp->tokens += elapsed * ICMP_RATE_PER_SEC; /* micro-tokens per µs */
    if (icmp->tokens > ICMP_RATE_BURST * TOKEN)
        icmp->tokens = ICMP_RATE_BURST * TOKEN;
    if (icmp->tokens < TOKEN)
        return false;
    icmp->tokens -= TOKEN;
    return true;
}

static void send_message(struct stack *stack, const struct icmp_repr *msg, uint32_t src,
                         uint32_t dst)
{
    struct pkt *pkt = pkt_alloc(ICMP_HDR_LEN + msg->data_len);
    if (pkt == NULL)
        return;
    icmp_emit(msg, pkt->data);
    ipv4_output(stack, pkt, IP_PROTO_ICMP, src, dst, NULL);
}

void icmp_send_error(struct stack *stack, uint8_t type, uint8_t code, uint32_t rest,
                     const struct ipv4_repr *ip, const uint8_t *payload, size_t payload_len,
                     bool broadcast)
{
    if (broadcast || ip->src == 0 || (ip->dst >> 28) == 0xe || ip->frag_offset != 0) {
        STAT_INC(stack, icmp_drop_no_error_about);
        return;
    }
    if (ip->proto == IP_PROTO_ICMP) {
        /* Only informational messages (echo) may draw an error. */
        uint8_t inner_type = payload_len > 0 ? payload[0] : 0xff;
        if (inner_type != ICMP_ECHO_REQUEST && inner_type != ICMP_ECHO_REPLY) {
            STAT_INC(stack, icmp_drop_no_error_about);
            return;
        }
    }
    if (!rate_allow(stack)) {
        STAT_INC(stack, icmp_drop_rate_limited);
        return;
    }
    /* The quoted header is re-emitted without options: enough for the
     * sender to match the datagram. */
    uint8_t quote[IPV4_HDR_MIN + 8];
    struct ipv4_repr quoted = *ip;
    ipv4_emit(&quoted, quote);
    size_t n = payload_len < 8 ? payload_len : 8;
    memcpy(quote + IPV4_HDR_MIN, payload, n);
    struct icmp_repr msg = {
        .type = type, .code = code, .rest = rest, .data = quote, .data_len = IPV4_HDR_MIN + n};
    if (type == ICMP_DEST_UNREACH)
        STAT_INC(stack, icmp_tx_dest_unreach);
    send_message(stack, &msg, ip->dst, ip->src);
}

static int errno_for_unreach(uint8_t code)
{
    switch (code) {
    case ICMP_UNREACH_NET: return ENETUNREACH;
    case ICMP_UNREACH_PROTOCOL: return ENOPROTOOPT;
    case ICMP_UNREACH_PORT: return ECONNREFUSED;
    case ICMP_UNREACH_FRAG_NEEDED: return EMSGSIZE;
    default: return EHOSTUNREACH;
    }
}

/* An ICMP error quotes our datagram: parse the quote leniently (it may be
 * truncated) and hand it to the transport. */
static void error_received(struct stack *stack, const struct icmp_repr *msg, int err)
{
    const uint8_t *q = msg->data;
    size_t len = msg->data_len;
    if (len < IPV4_HDR_MIN || (q[0] >> 4) != 4)
        return;
    size_t hdr_len = (size_t)(q[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_MIN || hdr_len + 8 > len)
        return;
    uint16_t frag = be16_get(q + 6);
    /* Only the first fragment's quote holds the transport header; the
     * bytes quoted from a later one are data, which a transport must not
     * read as its ports or sequence numbers. */
    if ((frag & IPV4_FRAG_OFFSET_MASK) != 0)
        return;
    struct ipv4_repr orig = {
        .hdr_len = (uint8_t)hdr_len,
        .total_len = be16_get(q + 2),
        .id = be16_get(q + 4),
        .dont_fragment = (frag & IPV4_FLAG_DF) != 0,
        .more_fragments = (frag & IPV4_FLAG_MF) != 0,
        .proto = q[9],
        .src = be32_get(q + 12),
        .dst = be32_get(q + 16),
    };
    /* Only errors about datagrams we sent count. */
    if (!stack_is_local_addr(stack, orig.src))
        return;
    unsigned mtu = msg->type == ICMP_DEST_UNREACH && msg->code == ICMP_UNREACH_FRAG_NEEDED
                       ? (unsigned)(msg->rest & 0xffff)
                       : 0;
    ipv4_deliver_error(stack, &orig, q + hdr_len, len - hdr_len, err, mtu);
}

static void echo_finish(struct stack *stack, struct echo_waiter *w, int result)
{
    timer_cancel(stack, &w->timer);
    w->in_use = false;
    w->done(stack, w->cookie, result, result == 0 ? stack->now_us - w->sent_us : 0);
}

static void echo_reply_received(struct stack *stack, const struct ipv4_repr *ip,
                                const struct icmp_repr *msg)
{
    struct icmp_state *icmp = stack->icmp;
    uint16_t id = (uint16_t)(msg->rest >> 16), seq = (uint16_t)msg->rest;
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++) {
        struct echo_waiter *w = &icmp->waiters[i];
        if (w->in_use && w->id == id && w->seq == seq && w->dst == ip->src) {
            echo_finish(stack, w, 0);
            return;
        }
    }
}

void icmp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
                bool broadcast)
{
    STAT_INC(stack, icmp_rx_total);
    struct icmp_repr msg;
    if (icmp_parse(data, len, &msg) != WIRE_OK) {
        STAT_INC(stack, icmp_rx_malformed);
        return;
    }
    switch (msg.type) {
    case ICMP_ECHO_REQUEST: {
        STAT_INC(stack, icmp_rx_echo_request);
        /* Like Linux's default icmp_echo_ignore_broadcasts. */
        if (broadcast)
            return;
        struct icmp_repr reply = msg;
        reply.type = ICMP_ECHO_REPLY;
        reply.code = 0;
        STAT_INC(stack, icmp_tx_echo_reply);
        send_message(stack, &reply, ip->dst, ip->src);
        break;
    }
    case ICMP_ECHO_REPLY:
        STAT_INC(stack, icmp_rx_echo_reply);
        echo_reply_received(stack, ip, &msg);
        break;
    case ICMP_DEST_UNREACH:
        STAT_INC(stack, icmp_rx_dest_unreach);
        error_received(stack, &msg, errno_for_unreach(msg.code));
        break;
    case ICMP_TIME_EXCEEDED:
        STAT_INC(stack, icmp_rx_other);
        error_received(stack, &msg, EHOSTUNREACH);
        break;
    default:
        STAT_INC(stack, icmp_rx_other);
        break;
    }
}

static void echo_timeout(struct stack *stack, struct timer *timer)
{
    struct echo_waiter *w = (struct echo_waiter *)timer;
    w->in_use = false;
    w->done(stack, w->cookie, -ETIMEDOUT, 0);
}

int icmp_echo_start(struct stack *stack, uint32_t dst, uint16_t seq, size_t payload_len,
                    uint64_t timeout_us, icmp_echo_done done, uint64_t cookie)
{
    struct icmp_state *icmp = stack->icmp;
    if (payload_len > IPV4_MAX_DATAGRAM - IPV4_HDR_MIN - ICMP_HDR_LEN)
        return -EMSGSIZE;
    struct echo_waiter *w = NULL;
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS && w == NULL; i++)
        if (!icmp->waiters[i].in_use)
            w = &icmp->waiters[i];
    if (w == NULL)
        return -EAGAIN;
    struct pkt *pkt = pkt_alloc(ICMP_HDR_LEN + payload_len);
    if (pkt == NULL)
        return -ENOBUFS;
    /* A counting pattern, so a corrupted echo is visible in a capture. */
    uint8_t *payload = pkt->data + ICMP_HDR_LEN;
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)i;
    struct icmp_repr msg = {.type = ICMP_ECHO_REQUEST,
                            .rest = (uint32_t)icmp->echo_id << 16 | seq,
                            .data = payload,
                            .data_len = payload_len};
    icmp_emit(&msg, pkt->data);
    w->in_use = true;
    w->dst = dst;
    w->id = icmp->echo_id;
    w->seq = seq;
    w->sent_us = stack->now_us;
    w->done = done;
    w->cookie = cookie;
    timer_arm(stack, &w->timer, stack->now_us + timeout_us);
    STAT_INC(stack, icmp_tx_echo_request);
    int rc = ipv4_output(stack, pkt, IP_PROTO_ICMP, 0, dst, NULL);
    if (rc < 0 && w->in_use) {
        timer_cancel(stack, &w->timer);
        w->in_use = false;
        return rc;
    }
    return 0;
}

void icmp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                      size_t payload_len, int err)
{
    /* Our echo requests: the quote holds type, code, checksum, id, seq. */
    if (payload_len < ICMP_HDR_LEN || payload[0] != ICMP_ECHO_REQUEST)
        return;
    struct icmp_state *icmp = stack->icmp;
    uint16_t id = be16_get(payload + 4), seq = be16_get(payload + 6);
    for (unsigned i = 0; i < ICMP_MAX_ECHO_WAITERS; i++) {
        struct echo_waiter *w = &icmp->waiters[i];
        if (w->in_use && w->id == id && w->seq == seq && w->dst == orig->dst) {
            echo_finish(stack, w, -err);
            return;
        }
    }
}
