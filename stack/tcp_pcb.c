/* TCP connection blocks: allocation and freeing, the three lookup tables
 * (4-tuple, listeners, bindings), ephemeral ports (RFC 6056 algorithm 3),
 * initial sequence numbers (RFC 6528), timestamp offsets (RFC 7323 §5.4)
 * and the bounded TIME_WAIT population. The keyed hash behind all of them
 * is SipHash-2-4, so a peer can neither predict an ISN nor aim many
 * connections at one hash bucket.
 *
 *   tcp_pcb_alloc() / tcp_pcb_free()
 *   tcp_conn_lookup() -> conn_bucket() -> tcp_siphash()
 *   tcp_port_pick_connect() -> port_usable_for_connect()
 *   tcp_timewait_enter() -> tcp_timewait_kill() of the oldest */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_priv.h"

/* ---- SipHash-2-4 (Aumasson and Bernstein) ---- */

static uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void sip_compress(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t tcp_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    struct sip_state s = {
        .v0 = 0x736f6d6570736575ull ^ k0,
        .v1 = 0x646f72616e646f6dull ^ k1,
        .v2 = 0x6c7967656e657261ull ^ k0,
        .v3 = 0x7465646279746573ull ^ k1,
    };
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8)
        sip_compress(&s, load_le64(in + i));
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)in[whole + i] << (8 * i);
    sip_compress(&s, last);
    s.v2 ^= 0xff;
    for (unsigned i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* The 4-tuple as hash input: addresses and ports in a fixed byte order. */
static uint64_t tuple_hash(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                           uint16_t rport)
{
    uint8_t b[12];
    for (unsigned i = 0; i < 4; i++) {
        b[i] = (uint8_t)(laddr >> (24 - 8 * i));
        b[4 + i] = (uint8_t)(raddr >> (24 - 8 * i));
    }
    b[8] = (uint8_t)(lport >> 8);
    b[9] = (uint8_t)lport;
    b[10] = (uint8_t)(rport >> 8);
    b[11] = (uint8_t)rport;
    return tcp_siphash(key, b, sizeof(b));
}

/* ---- Lists ---- */

static void hlist_add(struct tcp_hnode **head, struct tcp_hnode *n)
{
    n->next = *head;
    if (*head != NULL)
        (*head)->pprev = &n->next;
    *head = n;
    n->pprev = head;
}

static void hlist_del(struct tcp_hnode *n)
{
    *n->pprev = n->next;
    if (n->next != NULL)
        n->next->pprev = n->pprev;
    n->next = NULL;
    n->pprev = NULL;
}

void tcp_queue_init(struct tcp_queue *q)
{
    q->head.next = q->head.prev = &q->head;
    q->len = 0;
}

void tcp_queue_push(struct tcp_queue *q, struct tcp_dnode *n)
{
    n->prev = q->head.prev;
    n->next = &q->head;
    q->head.prev->next = n;
    q->head.prev = n;
    q->len++;
}

void tcp_queue_remove(struct tcp_queue *q, struct tcp_dnode *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
    q->len--;
}

struct tcp_dnode *tcp_queue_first(const struct tcp_queue *q)
{
    return q->len == 0 ? NULL : q->head.next;
}

/* ---- Allocation ---- */

struct tcp_pcb *tcp_pcb_alloc(struct stack *stack)
{
    struct tcp_stack *ts = stack->tcp;
    if (ts->pcb_count >= TCP_MAX_PCBS)
        return NULL;
    struct tcp_pcb *pcb = calloc(1, sizeof(*pcb));
    if (pcb == NULL)
        return NULL;
    pcb->stack = stack;
    pcb->state = TCP_CLOSED;
    tcp_options_default(&pcb->opts);
    tcp_queue_init(&pcb->synq);
    tcp_queue_init(&pcb->acceptq);
    tcp_timers_init(pcb);
    pcb->rto_us = (uint32_t)TCP_RTO_INITIAL_US;
    pcb->peer_mss = TCP_DEFAULT_MSS;
    pcb->rcv_mss = TCP_DEFAULT_MSS;
    /* all_node is a queue member of ts->all, kept as a plain dlist. */
    struct tcp_dnode *head = &ts->all;
    pcb->all_node.prev = head->prev;
    pcb->all_node.next = head;
    head->prev->next = &pcb->all_node;
    head->prev = &pcb->all_node;
    ts->pcb_count++;
    return pcb;
}

void tcp_pcb_free(struct tcp_pcb *pcb)
{
    struct stack *stack = pcb->stack;
    tcp_timers_cancel(pcb);
    timer_cancel(stack, &pcb->t_kick);
    if (pcb->in_timewait_list) {
        tcp_queue_remove(&stack->tcp->timewait, &pcb->q_node);
        pcb->in_timewait_list = false;
    }
    if (pcb->listener != NULL)
        tcp_child_unlink(pcb);
    if (pcb->flags & TF_HASHED)
        tcp_conn_hash_remove(pcb);
    if (pcb->flags & TF_LISTEN_HASHED)
        tcp_listen_hash_remove(pcb);
    if (pcb->flags & TF_BOUND)
        tcp_bind_remove(pcb);
    tcp_sndbuf_free(&pcb->snd);
    tcp_rcvbuf_free(&pcb->rcv);
    pcb->all_node.prev->next = pcb->all_node.next;
    pcb->all_node.next->prev = pcb->all_node.prev;
    stack->tcp->pcb_count--;
    free(pcb);
}

/* ---- The 4-tuple table ---- */

static struct tcp_hnode **conn_bucket(struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
                                      uint32_t raddr, uint16_t rport)
{
    uint64_t h = tuple_hash(ts->hash_key, laddr, lport, raddr, rport);
    return &ts->conn_hash[h & (TCP_CONN_BUCKETS - 1)];
}

void tcp_conn_hash_insert(struct tcp_pcb *pcb)
{
    struct tcp_stack *ts = pcb->stack->tcp;
    hlist_add(conn_bucket(ts, pcb->local_addr, pcb->local_port, pcb->remote_addr, pcb->remote_port),
              &pcb->conn_node);
    pcb->flags |= TF_HASHED;
}

void tcp_conn_hash_remove(struct tcp_pcb *pcb)
{
    if (!(pcb->flags & TF_HASHED))
        return;
    hlist_del(&pcb->conn_node);
    pcb->flags &= ~TF_HASHED;
}

struct tcp_pcb *tcp_conn_lookup(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                uint16_t rport)
{
    struct tcp_hnode **b = conn_bucket(stack->tcp, laddr, lport, raddr, rport);
    for (struct tcp_hnode *n = *b; n != NULL; n = n->next) {
        struct tcp_pcb *pcb = TCP_CONTAINER(n, struct tcp_pcb, conn_node);
        if (pcb->local_port == lport && pcb->remote_port == rport && pcb->local_addr == laddr &&
            pcb->remote_addr == raddr)
            return pcb;
    }
    return NULL;
}

/* ---- Listeners ---- */

void tcp_listen_hash_insert(struct tcp_pcb *pcb)
{
    struct tcp_stack *ts = pcb->stack->tcp;
    hlist_add(&ts->listen_hash[pcb->local_port & (TCP_BIND_BUCKETS - 1)], &pcb->listen_node);
    pcb->flags |= TF_LISTEN_HASHED;
}

void tcp_listen_hash_remove(struct tcp_pcb *pcb)
{
    if (!(pcb->flags & TF_LISTEN_HASHED))
        return;
    hlist_del(&pcb->listen_node);
    pcb->flags &= ~TF_LISTEN_HASHED;
}

struct tcp_pcb *tcp_listener_lookup(struct stack *stack, uint32_t laddr, uint16_t lport)
{
    struct tcp_pcb *wildcard = NULL;
    struct tcp_hnode *n = stack->tcp->listen_hash[lport & (TCP_BIND_BUCKETS - 1)];
    for (; n != NULL; n = n->next) {
        struct tcp_pcb *pcb = TCP_CONTAINER(n, struct tcp_pcb, listen_node);
        if (pcb->local_port != lport)
            continue;
        if (pcb->local_addr == laddr)
            return pcb; /* the most specific binding wins */
        if (pcb->local_addr == 0)
            wildcard = pcb;
    }
    return wildcard;
}

/* ---- Bindings ---- */

static struct tcp_hnode **bind_bucket(struct tcp_stack *ts, uint16_t port)
{
    return &ts->bind_hash[port & (TCP_BIND_BUCKETS - 1)];
}

void tcp_bind_insert(struct tcp_pcb *pcb)
{
    hlist_add(bind_bucket(pcb->stack->tcp, pcb->local_port), &pcb->bind_node);
    pcb->flags |= TF_BOUND;
}

void tcp_bind_remove(struct tcp_pcb *pcb)
{
    if (!(pcb->flags & TF_BOUND))
        return;
    hlist_del(&pcb->bind_node);
    pcb->flags &= ~TF_BOUND;
}

static bool addrs_overlap(uint32_t a, uint32_t b)
{
    return a == 0 || b == 0 || a == b;
}

/* Linux's rule: two bindings of one port on overlapping addresses
 * conflict, unless both asked for SO_REUSEADDR and the other is not
 * listening. Connected children and TIME_WAIT keep their listener's flag. */
int tcp_bind_check(struct stack *stack, const struct tcp_pcb *self, uint32_t addr, uint16_t port,
                   bool reuse)
{
    for (struct tcp_hnode *n = *bind_bucket(stack->tcp, port); n != NULL; n = n->next) {
        const struct tcp_pcb *q = TCP_CONTAINER(n, struct tcp_pcb, bind_node);
        if (q == self || q->local_port != port || !addrs_overlap(addr, q->local_addr))
            continue;
        if (reuse && (q->flags & TF_REUSEADDR) && q->state != TCP_LISTEN)
            continue;
        return -EADDRINUSE;
    }
    return 0;
}

/* Only one listener per port and address, whatever SO_REUSEADDR says. */
int tcp_listen_check(struct stack *stack, const struct tcp_pcb *self)
{
    uint16_t port = self->local_port;
    for (struct tcp_hnode *n = *bind_bucket(stack->tcp, port); n != NULL; n = n->next) {
        const struct tcp_pcb *q = TCP_CONTAINER(n, struct tcp_pcb, bind_node);
        if (q != self && q->local_port == port && q->state == TCP_LISTEN &&
            addrs_overlap(self->local_addr, q->local_addr))
            return -EADDRINUSE;
    }
    return 0;
}

static bool port_free_for_bind(struct stack *stack, uint16_t port)
{
    for (struct tcp_hnode *n = *bind_bucket(stack->tcp, port); n != NULL; n = n->next)
        if (TCP_CONTAINER(n, struct tcp_pcb, bind_node)->local_port == port)
            return false;
    return true;
}

/* A connect may share a port with other connects' ports (distinct
 * 4-tuples), never with a port someone bound or listens on. */
static bool port_usable_for_connect(struct stack *stack, const struct tcp_pcb *pcb, uint16_t port)
{
    for (struct tcp_hnode *n = *bind_bucket(stack->tcp, port); n != NULL; n = n->next) {
        const struct tcp_pcb *q = TCP_CONTAINER(n, struct tcp_pcb, bind_node);
        if (q->local_port != port || !addrs_overlap(pcb->local_addr, q->local_addr))
            continue;
        if (!(q->flags & TF_PORT_AUTO))
            return false;
        if (q->remote_addr == pcb->remote_addr && q->remote_port == pcb->remote_port)
            return false;
    }
    return true;
}

#define EPHEMERAL_COUNT (TCP_EPHEMERAL_MAX - TCP_EPHEMERAL_MIN + 1)

/* RFC 6056 §3.3.3 (algorithm 3, "simple hash-based"): the search starts at
 * an offset F(local, remote, secret) so that the ports of one destination
 * are not predictable from another's, and next_ephemeral moves on by one
 * per attempt. */
static uint32_t port_offset(struct stack *stack, uint32_t laddr, uint32_t raddr, uint16_t rport)
{
    return (uint32_t)tuple_hash(stack->tcp->port_key, laddr, 0, raddr, rport);
}

int tcp_port_pick_bind(struct stack *stack, struct tcp_pcb *pcb, uint32_t addr)
{
    struct tcp_stack *ts = stack->tcp;
    uint32_t offset = port_offset(stack, addr, 0, 0);
    for (uint32_t tries = 0; tries < EPHEMERAL_COUNT; tries++) {
        uint16_t port =
            (uint16_t)(TCP_EPHEMERAL_MIN + (offset + ts->port_next++) % EPHEMERAL_COUNT);
        if (port_free_for_bind(stack, port)) {
            pcb->local_port = port;
            return 0;
        }
    }
    return -EADDRINUSE;
}

int tcp_port_pick_connect(struct stack *stack, struct tcp_pcb *pcb)
{
    struct tcp_stack *ts = stack->tcp;
    uint32_t offset = port_offset(stack, pcb->local_addr, pcb->remote_addr, pcb->remote_port);
    for (uint32_t tries = 0; tries < EPHEMERAL_COUNT; tries++) {
        uint16_t port =
            (uint16_t)(TCP_EPHEMERAL_MIN + (offset + ts->port_next++) % EPHEMERAL_COUNT);
        if (port_usable_for_connect(stack, pcb, port)) {
            pcb->local_port = port;
            return 0;
        }
    }
    return -EADDRNOTAVAIL; /* what Linux says when the range is exhausted */
}

/* ---- Sequence numbers and timestamps ---- */

/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4 µs timer, F a keyed hash (SipHash here). */
uint32_t tcp_isn(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                 uint16_t rport)
{
    uint32_t m = (uint32_t)(stack->now_us >> 2);
    return m + (uint32_t)tuple_hash(stack->tcp->isn_key, laddr, lport, raddr, rport);
}

/* RFC 7323 §5.4: a per-connection random offset for the timestamp clock,
 * derived from the 4-tuple so that a SYN cookie's connection finds the
 * same offset without state. */
uint32_t tcp_ts_offset(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                       uint16_t rport)
{
    return (uint32_t)tuple_hash(stack->tcp->ts_key, laddr, lport, raddr, rport);
}

/* ---- TIME_WAIT ---- */

void tcp_timewait_enter(struct tcp_pcb *pcb)
{
    struct tcp_stack *ts = pcb->stack->tcp;
    pcb->state = TCP_TIME_WAIT;
    pcb->tw_start_us = pcb->stack->now_us;
    tcp_timers_cancel(pcb);
    pcb->flags &= ~(TF_DELACK | TF_PERSIST | TF_WND_PROBE | TF_FORCE_ONE);
    /* Everything we sent is acknowledged; unread data stays only while an
     * owner may still read it. */
    tcp_sndbuf_free(&pcb->snd);
    if (!pcb->user_held || pcb->rcv.ready == 0)
        tcp_rcvbuf_free(&pcb->rcv);
    tcp_timewait_arm(pcb);
    /* The connection is over for its owner (as Linux's socket goes to
     * CLOSE while a timewait sock keeps the tuple). */
    tcp_event_post_closed(pcb);
    tcp_queue_push(&ts->timewait, &pcb->q_node);
    pcb->in_timewait_list = true;
    /* Bounded: the oldest gives way (as Linux's tcp_max_tw_buckets, which
     * drops instead of keeping; recycling keeps the newest protected). */
    while (ts->timewait.len > TCP_MAX_TIMEWAIT) {
        struct tcp_pcb *old = TCP_CONTAINER(tcp_queue_first(&ts->timewait), struct tcp_pcb, q_node);
        STAT_INC(pcb->stack, tcp_timewait_recycled);
        tcp_timewait_kill(old);
        tcp_pcb_release(old);
    }
}

void tcp_timewait_kill(struct tcp_pcb *pcb)
{
    if (pcb->in_timewait_list) {
        tcp_queue_remove(&pcb->stack->tcp->timewait, &pcb->q_node);
        pcb->in_timewait_list = false;
    }
    tcp_set_closed(pcb, 0);
}
