/* IPv4 reassembly: fragments are held per datagram, in offset order, under
 * a count and memory bound and a time limit. Overlapping fragments discard
 * the whole datagram (as RFC 5722 does for IPv6): overlap is how fragment
 * attacks hide data from filters. An exact duplicate is only ignored. */
#include <stdlib.h>
#include <string.h>

#include "icmp.h"
#include "ipv4.h"
#include "stack.h"

struct fragment {
    uint16_t offset;
    uint16_t len;
    uint8_t *data;
};

struct datagram {
    struct timer timer; /* first: the timer callback casts back */
    struct reass *reass;
    bool in_use;
    uint32_t src, dst;
    uint16_t id;
    uint8_t proto;
    bool have_last;
    uint32_t total; /* payload bytes, known once the last fragment came */
    uint32_t held;
    struct ipv4_repr first_hdr; /* from the fragment at offset 0 */
    bool have_first;
    uint8_t first_bytes[8]; /* its first payload bytes, for ICMP time exceeded */
    unsigned count;
    struct fragment frags[REASS_MAX_FRAGMENTS];
};

struct reass {
    struct stack *stack;
    size_t memory;
    struct datagram datagrams[REASS_MAX_DATAGRAMS];
    uint8_t out[IPV4_MAX_DATAGRAM];
};

static void datagram_timeout(struct stack *stack, struct timer *timer);

struct reass *reass_create(struct stack *stack)
{
    struct reass *reass = calloc(1, sizeof(*reass));
    if (reass == NULL)
        return NULL;
    reass->stack = stack;
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS; i++) {
        timer_init(&reass->datagrams[i].timer, datagram_timeout);
        reass->datagrams[i].reass = reass;
    }
    return reass;
}

static void datagram_release(struct datagram *dg)
{
    struct reass *reass = dg->reass;
    timer_cancel(reass->stack, &dg->timer);
    for (unsigned i = 0; i < dg->count; i++)
        free(dg->frags[i].data);
    reass->memory -= dg->held;
    dg->held = 0;
    dg->count = 0;
    dg->in_use = false;
}

void reass_destroy(struct reass *reass)
{
    if (reass == NULL)
        return;
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS; i++)
        if (reass->datagrams[i].in_use)
            datagram_release(&reass->datagrams[i]);
    free(reass);
}

static void datagram_timeout(struct stack *stack, struct timer *timer)
{
    struct datagram *dg = (struct datagram *)timer;
    STAT_INC(stack, ipv4_reass_drop_timeout);
    /* RFC 792: time exceeded in reassembly, only if fragment zero came.
     * Never about a datagram to a broadcast address (RFC 1122 3.2.2), which
     * would also go out with that broadcast address as its source: we only
     * reassemble datagrams for one of our addresses or a broadcast one, so
     * "not ours" means broadcast. */
    if (dg->have_first)
        icmp_send_error(stack, ICMP_TIME_EXCEEDED, 1, 0, &dg->first_hdr, dg->first_bytes,
                        sizeof(dg->first_bytes), !stack_is_local_addr(stack, dg->dst));
    datagram_release(dg);
}

static struct datagram *datagram_find(struct reass *reass, const struct ipv4_repr *ip)
{
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS; i++) {
        struct datagram *dg = &reass->datagrams[i];
        if (dg->in_use && dg->src == ip->src && dg->dst == ip->dst && dg->id == ip->id &&
            dg->proto == ip->proto)
            return dg;
    }
    return NULL;
}

static struct datagram *datagram_oldest(struct reass *reass)
{
    struct datagram *oldest = NULL;
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS; i++) {
        struct datagram *dg = &reass->datagrams[i];
        if (dg->in_use && (oldest == NULL || dg->timer.deadline_us < oldest->timer.deadline_us))
            oldest = dg;
    }
    return oldest;
}

static struct datagram *datagram_new(struct reass *reass, const struct ipv4_repr *ip)
{
    struct stack *stack = reass->stack;
    struct datagram *dg = NULL;
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS && dg == NULL; i++)
        if (!reass->datagrams[i].in_use)
            dg = &reass->datagrams[i];
    if (dg == NULL) {
        /* Full: the oldest incomplete datagram makes room. */
        dg = datagram_oldest(reass);
        STAT_INC(stack, ipv4_reass_drop_too_many);
        datagram_release(dg);
    }
    dg->in_use = true;
    dg->src = ip->src;
    dg->dst = ip->dst;
    dg->id = ip->id;
    dg->proto = ip->proto;
    dg->have_last = false;
    dg->have_first = false;
    dg->total = 0;
    dg->held = 0;
    dg->count = 0;
    timer_arm(stack, &dg->timer, stack->now_us + REASS_TIMEOUT_US);
    return dg;
}

bool reass_add(struct reass *reass, const struct ipv4_repr *ip, const uint8_t *payload,
               size_t payload_len, struct ipv4_repr *out_ip, const uint8_t **out,
               size_t *out_len)
{
    struct stack *stack = reass->stack;
    uint32_t start = ip->frag_offset;
    uint32_t end = start + (uint32_t)payload_len;
    /* Every fragment but the last carries a multiple of 8 bytes, and no
     * fragment is empty. */
    if (payload_len == 0 || (ip->more_fragments && payload_len % 8 != 0) ||
        end > IPV4_MAX_DATAGRAM - IPV4_HDR_MIN) {
        STAT_INC(stack, ipv4_reass_drop_bad);
        return false;
    }
    struct datagram *dg = datagram_find(reass, ip);
    if (dg == NULL)
        dg = datagram_new(reass, ip);

    if (!ip->more_fragments) {
        if (dg->have_last && dg->total != end) {
            STAT_INC(stack, ipv4_reass_drop_bad);
            datagram_release(dg);
            return false;
        }
        dg->have_last = true;
        dg->total = end;
        if (dg->count > 0 &&
            (uint32_t)dg->frags[dg->count - 1].offset + dg->frags[dg->count - 1].len > end) {
            STAT_INC(stack, ipv4_reass_drop_bad);
            datagram_release(dg);
            return false;
        }
    }
    if (dg->have_last && end > dg->total) {
        STAT_INC(stack, ipv4_reass_drop_bad);
        datagram_release(dg);
        return false;
    }
    /* Find the insertion point; check both neighbours for overlap. */
    unsigned pos = 0;
    while (pos < dg->count && dg->frags[pos].offset < start)
        pos++;
    if (pos < dg->count && dg->frags[pos].offset == start && dg->frags[pos].len == payload_len) {
        STAT_INC(stack, ipv4_reass_drop_duplicate);
        return false;
    }
    if ((pos > 0 && (uint32_t)dg->frags[pos - 1].offset + dg->frags[pos - 1].len > start) ||
        (pos < dg->count && dg->frags[pos].offset < end)) {
        STAT_INC(stack, ipv4_reass_drop_overlap);
        datagram_release(dg);
        return false;
    }
    if (dg->count == REASS_MAX_FRAGMENTS) {
        STAT_INC(stack, ipv4_reass_drop_too_many);
        datagram_release(dg);
        return false;
    }
    while (reass->memory + payload_len > REASS_MEMORY_LIMIT) {
        struct datagram *oldest = datagram_oldest(reass);
        STAT_INC(stack, ipv4_reass_drop_memory);
        if (oldest == dg) {
            datagram_release(dg);
            return false;
        }
        datagram_release(oldest);
    }
    uint8_t *copy = malloc(payload_len);
    if (copy == NULL) {
        STAT_INC(stack, ipv4_reass_drop_memory);
        datagram_release(dg);
        return false;
    }
    memcpy(copy, payload, payload_len);
    memmove(&dg->frags[pos + 1], &dg->frags[pos], (dg->count - pos) * sizeof(dg->frags[0]));
    dg->frags[pos] = (struct fragment){.offset = (uint16_t)start, .len = (uint16_t)payload_len,
                                       .data = copy};
    dg->count++;
    dg->held += (uint32_t)payload_len;
    reass->memory += payload_len;
    if (start == 0) {
        dg->have_first = true;
        dg->first_hdr = *ip;
        dg->first_hdr.options = NULL;
        dg->first_hdr.options_len = 0;
        memset(dg->first_bytes, 0, sizeof(dg->first_bytes));
        memcpy(dg->first_bytes, payload, payload_len < 8 ? payload_len : 8);
    }

    /* Without overlaps, full coverage is exactly "held == total". */
    if (!dg->have_last || dg->held != dg->total)
        return false;
    size_t off = 0;
    for (unsigned i = 0; i < dg->count; i++) {
        memcpy(reass->out + off, dg->frags[i].data, dg->frags[i].len);
        off += dg->frags[i].len;
    }
    *out_ip = dg->first_hdr;
    out_ip->more_fragments = false;
    out_ip->frag_offset = 0;
    out_ip->total_len = (uint16_t)(IPV4_HDR_MIN + off);
    out_ip->hdr_len = IPV4_HDR_MIN;
    *out = reass->out;
    *out_len = off;
    datagram_release(dg);
    return true;
}

unsigned reass_pending(const struct reass *reass)
{
    unsigned n = 0;
    for (unsigned i = 0; i < REASS_MAX_DATAGRAMS; i++)
        n += reass->datagrams[i].in_use;
    return n;
}

size_t reass_memory(const struct reass *reass)
{
    return reass->memory;
}
