/* The simulator harness: two stacks on a virtual wire and a virtual clock,
 * a recording tap with a scripted filter, frame forging, and connections
 * that produce and verify seeded byte streams.
 *
 * sim_run_until() -> sim_settle() [stack_run(A), stack_run(B), sim_pump()
 * until nothing moves at this instant] -> jump the clock to the earliest
 * deadline -> again, until the predicate holds. Frames leave a stack through
 * netif->ops->send, which the tap (sim_tap_send) replaces: parse -> record
 * -> filter -> the vwire's own send. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver.h"
#include "impair.h"
#include "netif.h"
#include "sim.h"
#include "wire/tcp_seq.h"

/* Turns at one instant before we call it a storm (an ACK war, say). */
#define SIM_SETTLE_MAX_ROUNDS 1000000u
/* Clock jumps in one run before we give up. */
#define SIM_MAX_STEPS 20000000u
/* Bytes moved per tcp_send / tcp_recv call by the pump. */
#define SIM_IO_CHUNK 65536u
/* Frames printed when a run fails. */
#define SIM_DUMP_FRAMES 40u

struct sim_tap {
    struct driver_ops ops; /* first: netif->ops points here */
    const struct driver_ops *orig;
    struct sim *sim;
    enum sim_side side;
};

struct sim {
    struct stack *stack[2];
    struct netif *netif[2];
    struct sim_tap tap[2];
    uint64_t now_us;

    struct sim_frame *ring; /* SIM_RING_FRAMES records, by index modulo */
    uint64_t next_index;
    bool recording;
    uint64_t tx_frames; /* frames through the tap, injected ones too */
    struct sim_frame last_tcp[2];
    bool has_last_tcp[2];
    uint32_t hi_seq[2];
    uint32_t last_ack[2];

    sim_filter_fn filter;
    void *filter_ctx;
    bool block_tcp[2];
    bool block_all[2];

    struct sim_conn **conns; /* every conn ever wrapped, freed with the sim */
    unsigned nconns;
    unsigned conns_cap;
    bool in_pump;
    uint8_t io_buf[SIM_IO_CHUNK];
    uint8_t cmp_buf[SIM_IO_CHUNK];
};

static const uint8_t sim_broadcast_mac[ETHER_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- small things ------------------------------------------------------- */

const char *sim_side_name(enum sim_side side)
{
    return side == SIM_A ? "A" : "B";
}

uint32_t sim_addr(enum sim_side side)
{
    return side == SIM_A ? SIM_ADDR_A : SIM_ADDR_B;
}

const char *sim_rc_name(enum sim_rc rc)
{
    switch (rc) {
    case SIM_OK: return "ok";
    case SIM_TIMEOUT: return "timeout";
    case SIM_DEADLOCK: return "deadlock";
    case SIM_STORM: return "storm";
    case SIM_STUCK: return "stuck";
    }
    return "?";
}

uint32_t sim_seg_len(const struct sim_frame *f)
{
    uint32_t n = (uint32_t)f->tcp.payload_len;
    if (f->tcp.flags & TCP_SYN)
        n++;
    if (f->tcp.flags & TCP_FIN)
        n++;
    return n;
}

struct stack *sim_stack(struct sim *sim, enum sim_side side)
{
    return sim->stack[side];
}

struct netif *sim_netif(struct sim *sim, enum sim_side side)
{
    return sim->netif[side];
}

const uint8_t *sim_mac(struct sim *sim, enum sim_side side)
{
    return sim->netif[side]->mac;
}

uint64_t sim_now(const struct sim *sim)
{
    return sim->now_us;
}

void sim_options_defaults(struct sim_options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < 2; i++) {
        toysock_config_defaults(&o->cfg[i]);
        strcpy(o->cfg[i].driver, "vwire");
        o->cfg[i].addr = sim_addr((enum sim_side)i);
        o->cfg[i].prefix_len = SIM_PREFIX;
    }
    o->seed[SIM_A] = 0x5eed0000000000a1ull;
    o->seed[SIM_B] = 0x5eed0000000000b2ull;
    o->impair = NULL;
}

/* ---- the tap ------------------------------------------------------------ */

static void sim_parse_frame(const uint8_t *frame, size_t len, struct sim_frame *f)
{
    f->frame_len = len;
    f->kind = SIM_FRAME_BAD;
    struct ether_repr eth;
    if (ether_parse(frame, len, &eth) != WIRE_OK)
        return;
    memcpy(f->eth_src, eth.src, ETHER_ADDR_LEN);
    memcpy(f->eth_dst, eth.dst, ETHER_ADDR_LEN);
    const uint8_t *p = frame + ETHER_HDR_LEN;
    size_t plen = len - ETHER_HDR_LEN;
    if (eth.ethertype == ETHERTYPE_ARP) {
        if (arp_parse(p, plen, &f->arp) == WIRE_OK)
            f->kind = SIM_FRAME_ARP;
        return;
    }
    if (eth.ethertype != ETHERTYPE_IPV4) {
        f->kind = SIM_FRAME_OTHER;
        return;
    }
    struct ipv4_repr ip;
    if (ipv4_parse(p, plen, &ip) != WIRE_OK)
        return;
    f->ip_src = ip.src;
    f->ip_dst = ip.dst;
    f->ip_proto = ip.proto;
    if (ip.proto != IP_PROTO_TCP || ip.more_fragments || ip.frag_offset != 0) {
        f->kind = SIM_FRAME_IP;
        return;
    }
    struct tcp_repr tcp;
    memset(&tcp, 0, sizeof(tcp));
    if (tcp_parse_ipv4(p + ip.hdr_len, (size_t)ip.total_len - ip.hdr_len, ip.src, ip.dst, &tcp) !=
        WIRE_OK)
        return;
    tcp.payload = NULL;
    f->tcp = tcp;
    f->kind = SIM_FRAME_TCP;
}

static bool sim_is_bulk_data(const struct sim_frame *f)
{
    return f->kind == SIM_FRAME_TCP && f->tcp.payload_len > 0 &&
           (f->tcp.flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0;
}

/* Fills f for a frame entering the wire at `from` (index and time set). */
static void sim_frame_begin(struct sim *sim, struct sim_frame *f, enum sim_side from, bool injected,
                            const uint8_t *frame, size_t len)
{
    memset(f, 0, sizeof(*f));
    f->index = sim->next_index++;
    f->t_us = sim->now_us;
    f->from = from;
    f->injected = injected;
    sim_parse_frame(frame, len, f);
    sim->tx_frames++;
}

static void sim_frame_store(struct sim *sim, const struct sim_frame *f)
{
    if (f->kind == SIM_FRAME_TCP && !f->injected) {
        sim->last_tcp[f->from] = *f;
        sim->has_last_tcp[f->from] = true;
        uint32_t end = f->tcp.seq + sim_seg_len(f);
        if ((f->tcp.flags & TCP_SYN) || seq_gt(end, sim->hi_seq[f->from]))
            sim->hi_seq[f->from] = end;
        if (f->tcp.flags & TCP_ACK)
            sim->last_ack[f->from] = f->tcp.ack;
    }
    if (!sim->recording && sim_is_bulk_data(f))
        return;
    sim->ring[f->index % SIM_RING_FRAMES] = *f;
}

static int sim_tap_send(struct netif *netif, const uint8_t *frame, size_t len)
{
    const struct sim_tap *tap = (const struct sim_tap *)(const void *)netif->ops;
    struct sim *sim = tap->sim;
    struct sim_frame f;
    sim_frame_begin(sim, &f, tap->side, false, frame, len);
    bool drop = sim->block_all[tap->side] || (sim->block_tcp[tap->side] && f.kind == SIM_FRAME_TCP);
    if (!drop && sim->filter != NULL)
        drop = sim->filter(sim, &f, frame, len, sim->filter_ctx) == SIM_DROP;
    f.dropped = drop;
    sim_frame_store(sim, &f);
    if (drop)
        return 0; /* it left the stack; the wire lost it */
    return tap->orig->send(netif, frame, len);
}

static void sim_tap_install(struct sim *sim, enum sim_side side)
{
    struct netif *netif = sim->netif[side];
    struct sim_tap *tap = &sim->tap[side];
    tap->ops = *netif->ops;
    tap->orig = netif->ops;
    tap->sim = sim;
    tap->side = side;
    tap->ops.send = sim_tap_send;
    netif->ops = &tap->ops;
}

void sim_set_filter(struct sim *sim, sim_filter_fn fn, void *ctx)
{
    sim->filter = fn;
    sim->filter_ctx = ctx;
}

void sim_block_tcp(struct sim *sim, enum sim_side side, bool on)
{
    sim->block_tcp[side] = on;
}

void sim_block_all(struct sim *sim, enum sim_side side, bool on)
{
    sim->block_all[side] = on;
}

void sim_set_recording(struct sim *sim, bool on)
{
    sim->recording = on;
}

/* ---- frames ------------------------------------------------------------- */

uint64_t sim_frame_mark(const struct sim *sim)
{
    return sim->next_index;
}

const struct sim_frame *sim_frame_get(const struct sim *sim, uint64_t index)
{
    if (index >= sim->next_index)
        return NULL;
    const struct sim_frame *f = &sim->ring[index % SIM_RING_FRAMES];
    return f->index == index ? f : NULL;
}

static uint64_t sim_ring_first(const struct sim *sim)
{
    return sim->next_index > SIM_RING_FRAMES ? sim->next_index - SIM_RING_FRAMES : 0;
}

static bool sim_tcp_match(const struct sim_frame *f, int side, uint8_t all, uint8_t none)
{
    return f->kind == SIM_FRAME_TCP && (side == SIM_ANY || (int)f->from == side) &&
           (f->tcp.flags & all) == all && (f->tcp.flags & none) == 0;
}

const struct sim_frame *sim_next_tcp(const struct sim *sim, uint64_t *cursor, int side,
                                     uint8_t flags_all, uint8_t flags_none)
{
    uint64_t i = *cursor;
    if (i < sim_ring_first(sim))
        i = sim_ring_first(sim);
    for (; i < sim->next_index; i++) {
        const struct sim_frame *f = sim_frame_get(sim, i);
        if (f != NULL && sim_tcp_match(f, side, flags_all, flags_none)) {
            *cursor = i + 1;
            return f;
        }
    }
    *cursor = i;
    return NULL;
}

unsigned sim_count_tcp(const struct sim *sim, uint64_t from, int side, uint8_t flags_all,
                       uint8_t flags_none)
{
    unsigned n = 0;
    uint64_t cur = from;
    while (sim_next_tcp(sim, &cur, side, flags_all, flags_none) != NULL)
        n++;
    return n;
}

const struct sim_frame *sim_last_tcp(const struct sim *sim, int side)
{
    if (side == SIM_ANY) {
        const struct sim_frame *a = sim_last_tcp(sim, SIM_A);
        const struct sim_frame *b = sim_last_tcp(sim, SIM_B);
        if (a == NULL || b == NULL)
            return a != NULL ? a : b;
        return a->index > b->index ? a : b;
    }
    return sim->has_last_tcp[side] ? &sim->last_tcp[side] : NULL;
}

uint32_t sim_snd_nxt(const struct sim *sim, enum sim_side side)
{
    return sim->hi_seq[side];
}

uint32_t sim_last_ack(const struct sim *sim, enum sim_side side)
{
    return sim->last_ack[side];
}

void sim_reply_repr(const struct sim_frame *f, struct tcp_repr *out)
{
    memset(out, 0, sizeof(*out));
    out->src_port = f->tcp.dst_port;
    out->dst_port = f->tcp.src_port;
    out->seq = f->tcp.ack;
    out->ack = f->tcp.seq + sim_seg_len(f);
    out->flags = TCP_ACK;
    out->window = 65535;
}

int sim_frame_fmt(const struct sim_frame *f, char *out, size_t outlen)
{
    char what[256];
    char a[16], b[16];
    switch (f->kind) {
    case SIM_FRAME_TCP: tcp_fmt(&f->tcp, what, sizeof(what)); break;
    case SIM_FRAME_ARP:
        ipv4_fmt(f->arp.spa, a, sizeof(a));
        ipv4_fmt(f->arp.tpa, b, sizeof(b));
        snprintf(what, sizeof(what), "ARP %s %s -> %s",
                 f->arp.op == ARP_OP_REQUEST ? "request" : "reply", a, b);
        break;
    case SIM_FRAME_IP:
        ipv4_fmt(f->ip_src, a, sizeof(a));
        ipv4_fmt(f->ip_dst, b, sizeof(b));
        snprintf(what, sizeof(what), "IPv4 proto %u %s -> %s", f->ip_proto, a, b);
        break;
    case SIM_FRAME_BAD: snprintf(what, sizeof(what), "unparsable frame"); break;
    case SIM_FRAME_OTHER: snprintf(what, sizeof(what), "other ethertype"); break;
    }
    return snprintf(out, outlen, "#%" PRIu64 " t=%" PRIu64 ".%06" PRIu64 " %s>%s %s (%zu B)%s%s",
                    f->index, f->t_us / 1000000, f->t_us % 1000000, sim_side_name(f->from),
                    sim_side_name(sim_other(f->from)), what, f->frame_len,
                    f->injected ? " [injected]" : "", f->dropped ? " [dropped]" : "");
}

void sim_dump_frames(const struct sim *sim, FILE *out, uint64_t from, unsigned max)
{
    uint64_t first = from;
    if (first < sim_ring_first(sim))
        first = sim_ring_first(sim);
    if (sim->next_index - first > max)
        first = sim->next_index - max;
    char line[512];
    for (uint64_t i = first; i < sim->next_index; i++) {
        const struct sim_frame *f = sim_frame_get(sim, i);
        if (f == NULL)
            continue;
        sim_frame_fmt(f, line, sizeof(line));
        fprintf(out, "  %s\n", line);
    }
}

/* ---- forging ------------------------------------------------------------ */

int sim_inject_frame(struct sim *sim, enum sim_side to, const uint8_t *frame, size_t len)
{
    enum sim_side from = sim_other(to);
    struct sim_frame f;
    sim_frame_begin(sim, &f, from, true, frame, len);
    sim_frame_store(sim, &f);
    return sim->tap[from].orig->send(sim->netif[from], frame, len);
}

int sim_inject_tcp(struct sim *sim, enum sim_side to, uint32_t src_ip, const uint8_t *src_mac,
                   const struct tcp_repr *r)
{
    size_t tl = tcp_hdr_len(r);
    size_t total = ETHER_HDR_LEN + IPV4_HDR_MIN + tl + r->payload_len;
    if (IPV4_HDR_MIN + tl + r->payload_len > IPV4_MAX_DATAGRAM)
        return -EMSGSIZE;
    uint8_t *buf = calloc(1, total);
    if (buf == NULL)
        return -ENOMEM;
    uint32_t dst_ip = sim_addr(to);
    tcp_emit_ipv4(r, src_ip, dst_ip, buf + ETHER_HDR_LEN + IPV4_HDR_MIN);
    struct ipv4_repr ip = {
        .hdr_len = IPV4_HDR_MIN,
        .total_len = (uint16_t)(IPV4_HDR_MIN + tl + r->payload_len),
        .id = (uint16_t)(sim->next_index * 7919u),
        .dont_fragment = true,
        .ttl = 64,
        .proto = IP_PROTO_TCP,
        .src = src_ip,
        .dst = dst_ip,
    };
    ipv4_emit(&ip, buf + ETHER_HDR_LEN);
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, sim->netif[to]->mac, ETHER_ADDR_LEN);
    memcpy(eth.src, src_mac != NULL ? src_mac : sim->netif[sim_other(to)]->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, buf);
    int rc = sim_inject_frame(sim, to, buf, total);
    free(buf);
    return rc;
}

int sim_inject_arp_request(struct sim *sim, enum sim_side to, uint32_t src_ip,
                           const uint8_t *src_mac)
{
    uint8_t buf[ETHER_HDR_LEN + ARP_PKT_LEN];
    const uint8_t *mac = src_mac != NULL ? src_mac : sim->netif[sim_other(to)]->mac;
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memcpy(eth.dst, sim_broadcast_mac, ETHER_ADDR_LEN);
    memcpy(eth.src, mac, ETHER_ADDR_LEN);
    ether_emit(&eth, buf);
    struct arp_repr arp = {.op = ARP_OP_REQUEST, .spa = src_ip, .tpa = sim_addr(to)};
    memcpy(arp.sha, mac, ETHER_ADDR_LEN);
    arp_emit(&arp, buf + ETHER_HDR_LEN);
    return sim_inject_frame(sim, to, buf, sizeof(buf));
}

/* ---- lifetime ----------------------------------------------------------- */

static enum toysock_log_level sim_log_level_from_env(enum toysock_log_level dflt)
{
    const char *v = getenv("TOYSOCK_SIM_LOG");
    if (v == NULL || *v == '\0')
        return dflt;
    static const char *names[] = {"error", "warn", "info", "debug", "trace"};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(v, names[i]) == 0)
            return (enum toysock_log_level)i;
    return dflt;
}

struct sim *sim_create(const struct sim_options *o)
{
    struct sim_options dflt;
    if (o == NULL) {
        sim_options_defaults(&dflt);
        o = &dflt;
    }
    struct sim *sim = calloc(1, sizeof(*sim));
    if (sim == NULL)
        return NULL;
    sim->ring = calloc(SIM_RING_FRAMES, sizeof(*sim->ring));
    if (sim->ring == NULL) {
        free(sim);
        return NULL;
    }
    sim->ring[0].index = UINT64_MAX; /* so that index 0 is not found before it is written */
    sim->recording = true;
    sim->now_us = SIM_T0_US;
    for (int i = 0; i < 2; i++) {
        sim->stack[i] = stack_create(&o->cfg[i], o->seed[i]);
        if (sim->stack[i] == NULL) {
            fprintf(stderr, "sim: stack_create failed\n");
            sim_destroy(sim);
            return NULL;
        }
        sim->stack[i]->log_level = sim_log_level_from_env(o->cfg[i].log_level);
        sim->stack[i]->now_us = sim->now_us;
    }
    if (vwire_open_pair(sim->stack[SIM_A], sim->stack[SIM_B], &sim->netif[SIM_A],
                        &sim->netif[SIM_B]) < 0) {
        fprintf(stderr, "sim: vwire_open_pair failed\n");
        sim_destroy(sim);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        int rc = stack_configure_netif(sim->stack[i], sim->netif[i], sim_addr((enum sim_side)i),
                                       SIM_PREFIX, 0);
        if (rc < 0) {
            fprintf(stderr, "sim: stack_configure_netif: %s\n", strerror(-rc));
            sim_destroy(sim);
            return NULL;
        }
        sim_tap_install(sim, (enum sim_side)i);
    }
    if (o->impair != NULL && o->impair[0] != '\0') {
        char err[160];
        struct impair *imp =
            impair_create(sim->stack[SIM_A], sim->netif[SIM_A], o->impair, err, sizeof(err));
        if (imp == NULL) {
            fprintf(stderr, "sim: impairment '%s': %s\n", o->impair, err);
            sim_destroy(sim);
            return NULL;
        }
        sim->netif[SIM_A]->impair = imp;
    }
    return sim;
}

void sim_destroy(struct sim *sim)
{
    if (sim == NULL)
        return;
    /* The stacks first: they free their pcbs (and may still call owners,
     * which live in the conns until below). */
    for (int i = 0; i < 2; i++)
        if (sim->stack[i] != NULL)
            stack_destroy(sim->stack[i]);
    for (unsigned i = 0; i < sim->nconns; i++)
        free(sim->conns[i]);
    free(sim->conns);
    free(sim->ring);
    free(sim);
}

/* ---- the byte stream ----------------------------------------------------- */

static uint64_t sim_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Byte o of a stream is byte o % 8 (little-endian) of the 64-bit word
 * sim_mix(key ^ (o / 8) * K): random access, so producer and consumer need
 * no shared state. */
void sim_stream_fill(uint64_t seed, uint64_t offset, uint8_t *buf, size_t len)
{
    const uint64_t key = sim_mix(seed);
    const uint64_t k = 0xd1342543de82ef95ull;
    size_t i = 0;
    /* A partial first word. */
    while (i < len && ((offset + i) & 7) != 0) {
        uint64_t o = offset + i;
        buf[i] = (uint8_t)(sim_mix(key ^ (o >> 3) * k) >> (8 * (o & 7)));
        i++;
    }
    /* Whole words. */
    uint64_t word_index = (offset + i) >> 3;
    for (; i + 8 <= len; i += 8, word_index++) {
        uint64_t x = (key ^ word_index * k) + 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
        for (unsigned b = 0; b < 8; b++)
            buf[i + b] = (uint8_t)(x >> (8 * b));
    }
    /* A partial last word. */
    for (; i < len; i++) {
        uint64_t o = offset + i;
        buf[i] = (uint8_t)(sim_mix(key ^ (o >> 3) * k) >> (8 * (o & 7)));
    }
}

void sim_stream_digest(uint64_t seed, uint64_t total, uint8_t out[SHA256_DIGEST_LEN])
{
    static uint8_t buf[SIM_IO_CHUNK];
    struct sha256 ctx;
    sha256_init(&ctx);
    for (uint64_t off = 0; off < total;) {
        size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
        sim_stream_fill(seed, off, buf, n);
        sha256_update(&ctx, buf, n);
        off += n;
    }
    sha256_final(&ctx, out);
}

/* ---- connections --------------------------------------------------------- */

static void sim_conn_pump(struct sim_conn *c);

static void sim_conn_event(struct tcp_pcb *pcb, void *owner, unsigned events)
{
    struct sim_conn *c = owner;
    struct sim *sim = c->sim;
    c->events |= events;
    c->last_events = events;
    c->event_calls++;
    if ((events & TCP_EV_CONNECTED) && !c->connected) {
        c->connected = true;
        c->connected_at_us = sim->now_us;
    }
    if (events & TCP_EV_CLOSED) {
        /* Read what is left before we stop touching the pcb. */
        if (!sim->in_pump)
            sim_conn_pump(c);
        c->closed = true;
        c->error = tcp_error(pcb);
        c->closed_at_us = sim->now_us;
        return;
    }
    if (!sim->in_pump)
        sim_conn_pump(c);
}

static struct sim_conn *sim_conn_wrap(struct sim *sim, enum sim_side side, struct tcp_pcb *pcb)
{
    if (sim->nconns == SIM_MAX_CONNS) {
        fprintf(stderr, "sim: more than %u connections\n", SIM_MAX_CONNS);
        return NULL;
    }
    if (sim->nconns == sim->conns_cap) {
        unsigned cap = sim->conns_cap ? 2 * sim->conns_cap : 64;
        struct sim_conn **conns = realloc(sim->conns, cap * sizeof(*conns));
        if (conns == NULL)
            return NULL;
        sim->conns = conns;
        sim->conns_cap = cap;
    }
    struct sim_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->sim = sim;
    c->side = side;
    c->pcb = pcb;
    c->id = sim->nconns;
    c->auto_accept = true;
    c->tx.chunk = SIM_IO_CHUNK;
    c->rx.expected = UINT64_MAX;
    sim->conns[sim->nconns++] = c;
    tcp_set_owner(pcb, sim_conn_event, c);
    return c;
}

struct sim_conn *sim_conn_new(struct sim *sim, enum sim_side side)
{
    struct tcp_pcb *pcb = tcp_pcb_new(sim->stack[side]);
    if (pcb == NULL) {
        fprintf(stderr, "sim: tcp_pcb_new failed on %s\n", sim_side_name(side));
        return NULL;
    }
    struct sim_conn *c = sim_conn_wrap(sim, side, pcb);
    if (c == NULL)
        tcp_abort(pcb);
    return c;
}

/* Calls into the stack from outside a turn use the sim's clock. */
static void sim_sync_clock(struct sim *sim, enum sim_side side)
{
    sim->stack[side]->now_us = sim->now_us;
}

int sim_conn_connect(struct sim_conn *c, uint32_t addr, uint16_t port)
{
    sim_sync_clock(c->sim, c->side);
    return tcp_connect(c->pcb, addr, port);
}

int sim_conn_listen(struct sim_conn *c, uint16_t port, int backlog)
{
    sim_sync_clock(c->sim, c->side);
    int rc = tcp_bind(c->pcb, 0, port, true);
    if (rc < 0)
        return rc;
    rc = tcp_listen(c->pcb, backlog);
    if (rc == 0)
        c->listener = true;
    return rc;
}

struct sim_conn *sim_listen(struct sim *sim, enum sim_side side, uint16_t port, int backlog)
{
    struct sim_conn *c = sim_conn_new(sim, side);
    if (c == NULL)
        return NULL;
    int rc = sim_conn_listen(c, port, backlog);
    if (rc < 0) {
        fprintf(stderr, "sim: listen on %s:%u: %s\n", sim_side_name(side), port, strerror(-rc));
        sim_conn_abort(c);
        return NULL;
    }
    return c;
}

struct sim_conn *sim_connect(struct sim *sim, enum sim_side side, uint32_t addr, uint16_t port)
{
    struct sim_conn *c = sim_conn_new(sim, side);
    if (c == NULL)
        return NULL;
    int rc = sim_conn_connect(c, addr, port);
    if (rc < 0) {
        fprintf(stderr, "sim: connect from %s to port %u: %s\n", sim_side_name(side), port,
                strerror(-rc));
        sim_conn_abort(c);
        return NULL;
    }
    return c;
}

static void sim_listener_accept(struct sim_conn *l)
{
    struct tcp_pcb *p;
    while (l->acceptq_len < SIM_ACCEPTQ_MAX && (p = tcp_accept(l->pcb)) != NULL) {
        struct sim_conn *c = sim_conn_wrap(l->sim, l->side, p);
        if (c == NULL) {
            tcp_abort(p);
            return;
        }
        c->parent = l;
        c->connected = true;
        c->connected_at_us = l->sim->now_us;
        l->acceptq[l->acceptq_len++] = c;
        l->accepted_total++;
    }
}

struct sim_conn *sim_accept(struct sim_conn *listener)
{
    if (listener->pcb != NULL && !listener->closed)
        sim_listener_accept(listener);
    if (listener->acceptq_len == 0)
        return NULL;
    struct sim_conn *c = listener->acceptq[0];
    listener->acceptq_len--;
    memmove(listener->acceptq, listener->acceptq + 1,
            listener->acceptq_len * sizeof(listener->acceptq[0]));
    return c;
}

void sim_conn_close(struct sim_conn *c)
{
    if (c->pcb == NULL)
        return;
    sim_sync_clock(c->sim, c->side);
    tcp_close(c->pcb);
    c->pcb = NULL;
}

void sim_conn_abort(struct sim_conn *c)
{
    if (c->pcb == NULL)
        return;
    sim_sync_clock(c->sim, c->side);
    tcp_abort(c->pcb);
    c->pcb = NULL;
}

enum tcp_state sim_conn_state(const struct sim_conn *c)
{
    if (c->pcb == NULL)
        return TCP_CLOSED;
    return tcp_get_state(c->pcb);
}

struct open_pair_ctx {
    struct sim_conn *client;
    struct sim_conn *listener;
};

static bool sim_pred_pair_open(struct sim *sim, void *ctx)
{
    (void)sim;
    struct open_pair_ctx *p = ctx;
    return (p->client->connected && p->listener->acceptq_len > 0) || p->client->closed;
}

enum sim_rc sim_open_pair(struct sim *sim, uint16_t port, struct sim_conn **client,
                          struct sim_conn **server)
{
    *client = NULL;
    *server = NULL;
    struct sim_conn *l = sim_listen(sim, SIM_B, port, 64);
    if (l == NULL)
        return SIM_DEADLOCK;
    struct sim_conn *c = sim_connect(sim, SIM_A, SIM_ADDR_B, port);
    if (c == NULL)
        return SIM_DEADLOCK;
    struct open_pair_ctx ctx = {c, l};
    enum sim_rc rc =
        sim_run_until_desc(sim, sim_pred_pair_open, &ctx, 60000000ull, "the handshake to complete");
    if (rc != SIM_OK)
        return rc;
    if (c->closed) {
        fprintf(stderr, "sim: connect failed: %s\n", strerror(c->error));
        return SIM_DEADLOCK;
    }
    *client = c;
    *server = sim_accept(l);
    return *server != NULL ? SIM_OK : SIM_DEADLOCK;
}

void sim_send_stream(struct sim_conn *c, uint64_t total, uint64_t seed, bool shutdown_when_done)
{
    c->tx.active = true;
    c->tx.seed = seed;
    c->tx.total = total;
    c->tx.sent = 0;
    c->tx.shutdown_when_done = shutdown_when_done;
    c->tx.shut = false;
    c->tx.digest_done = false;
    c->tx.send_error = 0;
    sha256_init(&c->tx.sha);
}

void sim_recv_stream(struct sim_conn *c, uint64_t expected, uint64_t seed, bool need_eof)
{
    c->rx.active = true;
    c->rx.seed = seed;
    c->rx.expected = expected;
    c->rx.need_eof = need_eof;
    c->rx.received = 0;
    c->rx.mismatch = false;
    c->rx.digest_done = false;
    sha256_init(&c->rx.sha);
}

void sim_recv_pause(struct sim_conn *c, bool paused)
{
    c->rx.paused = paused;
}

bool sim_rx_complete(const struct sim_conn *c)
{
    return c->rx.active && c->rx.received == c->rx.expected && !c->rx.mismatch &&
           (!c->rx.need_eof || c->rx.eof);
}

static void sim_conn_produce(struct sim_conn *c)
{
    struct sim *sim = c->sim;
    while (c->tx.sent < c->tx.total) {
        /* Generate only what the send buffer takes now. */
        size_t space = tcp_send_space(c->pcb);
        if (space == 0)
            break;
        uint64_t left = c->tx.total - c->tx.sent;
        size_t n = c->tx.chunk < sizeof(sim->io_buf) ? c->tx.chunk : sizeof(sim->io_buf);
        if (left < n)
            n = (size_t)left;
        if (space < n)
            n = space;
        sim_stream_fill(c->tx.seed, c->tx.sent, sim->io_buf, n);
        long rc = tcp_send(c->pcb, sim->io_buf, n);
        if (rc < 0) {
            c->tx.send_error = (int)rc;
            return;
        }
        if (rc == 0)
            break;
        sha256_update(&c->tx.sha, sim->io_buf, (size_t)rc);
        c->tx.sent += (uint64_t)rc;
    }
    if (c->tx.sent == c->tx.total && !c->tx.digest_done) {
        sha256_final(&c->tx.sha, c->tx.digest);
        c->tx.digest_done = true;
    }
    if (c->tx.sent == c->tx.total && c->tx.shutdown_when_done && !c->tx.shut) {
        c->tx.shut = true;
        int rc = tcp_shutdown_write(c->pcb);
        if (rc < 0)
            c->tx.send_error = rc;
    }
}

static void sim_conn_consume(struct sim_conn *c)
{
    struct sim *sim = c->sim;
    for (;;) {
        size_t n = tcp_recv(c->pcb, sim->io_buf, sizeof(sim->io_buf));
        if (n == 0)
            break;
        if (!c->rx.mismatch) {
            sim_stream_fill(c->rx.seed, c->rx.received, sim->cmp_buf, n);
            if (memcmp(sim->io_buf, sim->cmp_buf, n) != 0) {
                size_t i = 0;
                while (sim->io_buf[i] == sim->cmp_buf[i])
                    i++;
                c->rx.mismatch = true;
                c->rx.first_mismatch = c->rx.received + i;
                fprintf(stderr,
                        "sim: conn %u (%s) received a wrong byte at offset %" PRIu64
                        " (got 0x%02x, want 0x%02x) at t=%" PRIu64 " us\n",
                        c->id, sim_side_name(c->side), c->rx.first_mismatch, sim->io_buf[i],
                        sim->cmp_buf[i], sim->now_us);
            }
        }
        if (!c->rx.digest_done)
            sha256_update(&c->rx.sha, sim->io_buf, n);
        c->rx.received += n;
        if (c->rx.received > c->rx.expected && !c->rx.mismatch) {
            c->rx.mismatch = true;
            c->rx.first_mismatch = c->rx.expected;
            fprintf(stderr, "sim: conn %u (%s) received more than the %" PRIu64 " bytes sent\n",
                    c->id, sim_side_name(c->side), c->rx.expected);
        }
    }
    if (!c->rx.eof && tcp_recv_eof(c->pcb)) {
        c->rx.eof = true;
        c->rx.eof_at_us = sim->now_us;
    }
    if (!c->rx.digest_done && (c->rx.received == c->rx.expected || c->rx.eof)) {
        sha256_final(&c->rx.sha, c->rx.digest);
        c->rx.digest_done = true;
    }
}

static void sim_conn_pump(struct sim_conn *c)
{
    if (c->pcb == NULL || c->closed)
        return;
    struct sim *sim = c->sim;
    bool outer = !sim->in_pump;
    sim->in_pump = true;
    sim_sync_clock(sim, c->side);
    if (c->listener) {
        if (c->auto_accept)
            sim_listener_accept(c);
    } else {
        if (c->tx.active && c->tx.send_error == 0)
            sim_conn_produce(c);
        if (c->rx.active && !c->rx.paused)
            sim_conn_consume(c);
    }
    if (outer)
        sim->in_pump = false;
}

void sim_pump(struct sim *sim)
{
    /* Accepting appends conns: walk by index. */
    for (unsigned i = 0; i < sim->nconns; i++)
        sim_conn_pump(sim->conns[i]);
}

bool sim_pred_connected(struct sim *sim, void *conn)
{
    (void)sim;
    const struct sim_conn *c = conn;
    return c->connected || c->closed;
}

bool sim_pred_closed(struct sim *sim, void *conn)
{
    (void)sim;
    return ((const struct sim_conn *)conn)->closed;
}

bool sim_pred_rx_eof(struct sim *sim, void *conn)
{
    (void)sim;
    const struct sim_conn *c = conn;
    return c->rx.eof || c->closed;
}

bool sim_pred_streams_done(struct sim *sim, void *ctx)
{
    (void)ctx;
    bool any = false;
    for (unsigned i = 0; i < sim->nconns; i++) {
        const struct sim_conn *c = sim->conns[i];
        if (!c->rx.active)
            continue;
        any = true;
        if (c->rx.mismatch)
            return true; /* no point going on: the test will fail on it */
        if (!sim_rx_complete(c)) {
            if (c->closed)
                return true; /* it cannot complete any more */
            return false;
        }
    }
    return any;
}

void sim_dump_conns(struct sim *sim, FILE *out)
{
    for (unsigned i = 0; i < sim->nconns; i++) {
        const struct sim_conn *c = sim->conns[i];
        fprintf(out, "  conn %u on %s: %s%s events=0x%x%s", c->id, sim_side_name(c->side),
                c->pcb != NULL ? tcp_state_name(tcp_get_state(c->pcb)) : "(released)",
                c->listener ? " listener" : "", c->events, c->closed ? " closed" : "");
        if (c->closed)
            fprintf(out, " error=%d (%s)", c->error, c->error ? strerror(c->error) : "none");
        if (c->tx.active)
            fprintf(out, " tx=%" PRIu64 "/%" PRIu64 "%s", c->tx.sent, c->tx.total,
                    c->tx.shut ? "+FIN" : "");
        if (c->rx.active)
            fprintf(out, " rx=%" PRIu64 "/%" PRIu64 "%s%s%s", c->rx.received, c->rx.expected,
                    c->rx.eof ? "+EOF" : "", c->rx.paused ? " paused" : "",
                    c->rx.mismatch ? " MISMATCH" : "");
        if (c->pcb != NULL && !c->listener) {
            struct toysock_tcp_info ti;
            tcp_get_info(c->pcb, &ti);
            fprintf(out,
                    " [rto=%u cwnd=%u ssthresh=%u unacked=%u snd_wnd=%u rcv_wnd=%u "
                    "retrans=%u]",
                    ti.rto, ti.snd_cwnd, ti.snd_ssthresh, ti.unacked, ti.snd_wnd, ti.rcv_wnd,
                    ti.total_retrans);
        }
        fputc('\n', out);
    }
}

/* ---- running ------------------------------------------------------------- */

static uint64_t sim_next_deadline(const struct sim *sim)
{
    uint64_t a = timer_next_deadline(&sim->stack[SIM_A]->timers);
    uint64_t b = timer_next_deadline(&sim->stack[SIM_B]->timers);
    return a < b ? a : b;
}

enum sim_rc sim_settle(struct sim *sim)
{
    uint64_t now = sim->now_us;
    for (unsigned round = 0; round < SIM_SETTLE_MAX_ROUNDS; round++) {
        uint64_t tx0 = sim->tx_frames;
        uint64_t ra = stack_run(sim->stack[SIM_A], now);
        uint64_t rb = stack_run(sim->stack[SIM_B], now);
        sim_pump(sim);
        if (sim->tx_frames == tx0 && ra > now && rb > now && sim_next_deadline(sim) > now)
            return SIM_OK;
    }
    return SIM_STORM;
}

static void sim_report(struct sim *sim, enum sim_rc rc, const char *desc, uint64_t start_us)
{
    fprintf(stderr,
            "sim: %s at t=%" PRIu64 ".%06" PRIu64 " s (after %" PRIu64
            " us of virtual time) waiting for %s\n",
            sim_rc_name(rc), sim->now_us / 1000000, sim->now_us % 1000000, sim->now_us - start_us,
            desc != NULL ? desc : "the end of the run");
    if (rc == SIM_DEADLOCK)
        fprintf(stderr, "sim: no timer is armed on either stack and the wire is idle: "
                        "nothing can happen any more\n");
    if (rc == SIM_STORM)
        fprintf(stderr, "sim: the stacks kept sending at one instant for %u turns\n",
                SIM_SETTLE_MAX_ROUNDS);
    sim_dump_conns(sim, stderr);
    fprintf(stderr, "sim: last frames:\n");
    sim_dump_frames(sim, stderr, 0, SIM_DUMP_FRAMES);
}

static enum sim_rc sim_run_core(struct sim *sim, sim_pred_fn pred, void *ctx, uint64_t max_us,
                                bool idle_ok, const char *desc)
{
    uint64_t start = sim->now_us;
    uint64_t end = max_us > UINT64_MAX - start ? UINT64_MAX : start + max_us;
    for (uint64_t step = 0;; step++) {
        enum sim_rc rc = sim_settle(sim);
        if (rc != SIM_OK) {
            sim_report(sim, rc, desc, start);
            return rc;
        }
        if (pred != NULL && pred(sim, ctx))
            return SIM_OK;
        uint64_t next = sim_next_deadline(sim);
        if (next == TIME_NEVER && !idle_ok) {
            sim_report(sim, SIM_DEADLOCK, desc, start);
            return SIM_DEADLOCK;
        }
        if (next > end) {
            sim->now_us = end;
            rc = sim_settle(sim);
            if (rc != SIM_OK) {
                sim_report(sim, rc, desc, start);
                return rc;
            }
            if (pred != NULL && pred(sim, ctx))
                return SIM_OK;
            if (idle_ok)
                return SIM_OK;
            sim_report(sim, SIM_TIMEOUT, desc, start);
            return SIM_TIMEOUT;
        }
        if (step >= SIM_MAX_STEPS) {
            sim_report(sim, SIM_STUCK, desc, start);
            return SIM_STUCK;
        }
        sim->now_us = next > sim->now_us ? next : sim->now_us + 1;
    }
}

enum sim_rc sim_run_until_desc(struct sim *sim, sim_pred_fn pred, void *ctx,
                               uint64_t max_virtual_us, const char *desc)
{
    return sim_run_core(sim, pred, ctx, max_virtual_us, false, desc);
}

enum sim_rc sim_run_for(struct sim *sim, uint64_t us)
{
    return sim_run_core(sim, NULL, NULL, us, true, NULL);
}

/* ---- a whole transfer ----------------------------------------------------- */

static bool sim_transfer_fail(struct sim_transfer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool sim_transfer_fail(struct sim_transfer *t, const char *fmt, ...)
{
    if (t->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->why, sizeof(t->why), fmt, ap);
        va_end(ap);
        fprintf(stderr, "sim transfer (impair '%s', seed %" PRIu64 "): %s\n",
                t->impair != NULL ? t->impair : "", t->seed, t->why);
    }
    return false;
}

static bool sim_transfer_check_stream(struct sim_transfer *t, const char *dir,
                                      const struct sim_conn *tx, const struct sim_conn *rx,
                                      uint64_t bytes, uint64_t seed)
{
    if (bytes == 0)
        return true;
    if (rx->rx.mismatch)
        return sim_transfer_fail(t, "%s: wrong byte at offset %" PRIu64, dir,
                                 rx->rx.first_mismatch);
    if (tx->tx.sent != bytes)
        return sim_transfer_fail(t, "%s: only %" PRIu64 " of %" PRIu64 " bytes were sent", dir,
                                 tx->tx.sent, bytes);
    if (rx->rx.received != bytes)
        return sim_transfer_fail(t, "%s: %" PRIu64 " of %" PRIu64 " bytes were received", dir,
                                 rx->rx.received, bytes);
    if (!rx->rx.eof)
        return sim_transfer_fail(t, "%s: all bytes arrived but no EOF", dir);
    uint8_t want[SHA256_DIGEST_LEN];
    sim_stream_digest(seed, bytes, want);
    if (memcmp(tx->tx.digest, want, sizeof(want)) != 0 ||
        memcmp(rx->rx.digest, want, sizeof(want)) != 0) {
        char a[65], b[65];
        sha256_hex(want, a);
        sha256_hex(rx->rx.digest, b);
        return sim_transfer_fail(t, "%s: SHA-256 differs: sent %s, received %s", dir, a, b);
    }
    return true;
}

static bool sim_pred_conns_closed(struct sim *sim, void *ctx)
{
    (void)ctx;
    return tcp_pcb_count(sim->stack[SIM_A]) == 0 && tcp_pcb_count(sim->stack[SIM_B]) == 1;
}

bool sim_transfer_run(struct sim_transfer *t)
{
    t->why[0] = '\0';
    t->rc = SIM_OK;
    struct sim_options o;
    sim_options_defaults(&o);
    o.impair = t->impair;
    o.seed[SIM_A] ^= sim_mix(t->seed);
    o.seed[SIM_B] ^= sim_mix(t->seed + 1);
    struct sim *sim = sim_create(&o);
    if (sim == NULL)
        return sim_transfer_fail(t, "could not create the simulator");
    struct sim_conn *a, *b;
    uint64_t start = sim->now_us;
    bool ok = true;
    t->rc = sim_open_pair(sim, 5001, &a, &b);
    if (t->rc != SIM_OK) {
        ok = sim_transfer_fail(t, "handshake: %s", sim_rc_name(t->rc));
        goto out;
    }
    sim_set_recording(sim, false);
    uint64_t seed_ab = sim_mix(t->seed * 2 + 1), seed_ba = sim_mix(t->seed * 2 + 2);
    if (t->bytes_ab > 0) {
        sim_send_stream(a, t->bytes_ab, seed_ab, true);
        sim_recv_stream(b, t->bytes_ab, seed_ab, true);
    }
    if (t->bytes_ba > 0) {
        sim_send_stream(b, t->bytes_ba, seed_ba, true);
        sim_recv_stream(a, t->bytes_ba, seed_ba, true);
    }
    uint64_t max = t->max_virtual_us != 0 ? t->max_virtual_us : 3600ull * 1000000;
    t->rc = sim_run_until_desc(sim, sim_pred_streams_done, NULL, max, "both streams to arrive");
    t->virtual_us = sim->now_us - start;
    if (a->pcb != NULL)
        tcp_get_info(a->pcb, &t->info_a);
    if (b->pcb != NULL)
        tcp_get_info(b->pcb, &t->info_b);
    if (t->rc != SIM_OK) {
        ok = sim_transfer_fail(t, "transfer: %s", sim_rc_name(t->rc));
        goto out;
    }
    ok = sim_transfer_check_stream(t, "A->B", a, b, t->bytes_ab, seed_ab) &&
         sim_transfer_check_stream(t, "B->A", b, a, t->bytes_ba, seed_ba);
    if (!ok || t->skip_close)
        goto out;
    /* Both ends have sent FIN (with the data) and read the peer's: close and
     * wait out TIME_WAIT; only the listener may remain. */
    sim_conn_close(a);
    sim_conn_close(b);
    uint64_t tw = (uint64_t)sim->stack[SIM_A]->cfg.tcp_timewait_ms * 1000;
    t->rc = sim_run_until_desc(sim, sim_pred_conns_closed, NULL, 2 * tw + 600ull * 1000000,
                               "every connection to be gone after close");
    if (t->rc != SIM_OK)
        ok = sim_transfer_fail(t, "close: %s (pcbs left: A %u, B %u)", sim_rc_name(t->rc),
                               tcp_pcb_count(sim->stack[SIM_A]), tcp_pcb_count(sim->stack[SIM_B]));
out:
    t->stats_a = sim->stack[SIM_A]->stats;
    t->stats_b = sim->stack[SIM_B]->stats;
    sim_destroy(sim);
    return ok;
}
