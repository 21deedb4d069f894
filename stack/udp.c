/* UDP sockets: binding, demultiplexing, bounded receive queues, sending.
 *
 * udp_input() -> udp_parse_ipv4() -> broadcast? deliver_broadcast()
 *                                  : lookup_unicast() -> enqueue()
 *                                    | none: ICMP port unreachable
 *             -> flush_events() (owner callbacks run last)
 * udp_sendto() -> autobind() -> udp_emit_ipv4() -> ipv4_output()
 * udp_error_input() -> lookup_unicast() -> connected? pending error
 *
 * Three hash tables, all chained through intrusive nodes in the pcb:
 * - ports: every bound socket by local port; bind conflicts, ephemeral
 *   probing and broadcast delivery walk one chain.
 * - conns: fully connected sockets by a keyed hash of the 4-tuple; an exact
 *   match is the best possible score, so unicast lookup tries it first.
 * - wild: every other bound socket by local port; scored like Linux's
 *   udp4_lib_lookup (bound address +4, peer address +4, peer port +4).
 * New sockets go to the head of their chains, so among equals the most
 * recently bound wins, as in Linux; SO_REUSEPORT equals are balanced by a
 * hash of the 4-tuple. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icmp.h"
#include "ipv4.h"
#include "netif.h"
#include "pkt.h"
#include "rng.h"
#include "stack.h"
#include "udp.h"
#include "wire/be.h"

#define UDP_PORT_BUCKETS 4096u /* powers of two */
#define UDP_CONN_BUCKETS 4096u

#define ADDR_BROADCAST 0xffffffffu

/* An intrusive chain node (the kernel's hlist): unlinking needs no head. */
struct hnode {
    struct hnode *next;
    struct hnode **pprev; /* NULL when not linked */
};

#define PCB_OF(node, member)                                                                       \
    ((struct udp_pcb *)(void *)((char *)(node)-offsetof(struct udp_pcb, member)))

struct udp_dgram {
    struct udp_dgram *next;
    uint32_t src; /* sender */
    uint32_t dst; /* the address it was sent to */
    uint16_t sport;
    size_t len;
    uint8_t data[];
};

struct udp_pcb {
    struct stack *stack;
    struct hnode all_node;    /* udp_state.all */
    struct hnode port_node;   /* udp_state.ports, while bound */
    struct hnode lookup_node; /* udp_state.conns or .wild, while bound */
    struct hnode event_node;  /* udp_state.events, while events are pending */
    bool in_conns;            /* lookup_node is in conns (else wild) */

    uint32_t local_addr;  /* receive address: bound, or set by connect (rcv_saddr) */
    uint32_t src_addr;    /* source for sending, 0: the route's (saddr) */
    uint16_t local_port;  /* 0: unbound */
    uint32_t remote_addr; /* connected peer, 0: none */
    uint16_t remote_port;
    bool connected;
    bool addr_locked; /* bind() chose the address (SOCK_BINDADDR_LOCK) */
    bool port_locked; /* bind() chose the port (SOCK_BINDPORT_LOCK) */
    bool reuseaddr;
    bool reuseport;
    bool broadcast;
    uint8_t ttl, tos;

    int error;               /* pending error, positive errno */
    unsigned pending_events; /* not yet passed to the owner */
    udp_event_fn fn;
    void *owner;

    struct udp_dgram *head, *tail;
    size_t q_charge;  /* payload + UDP_DGRAM_OVERHEAD per datagram */
    size_t q_payload; /* payload bytes */
    size_t q_count;
    size_t rcvbuf;
};

struct udp_state {
    struct hnode *ports[UDP_PORT_BUCKETS];
    struct hnode *wild[UDP_PORT_BUCKETS];
    struct hnode *conns[UDP_CONN_BUCKETS];
    struct hnode *all;
    struct hnode *events; /* sockets with events to deliver */
    unsigned count;
    uint64_t hash_key[2];
};

/* ---- Chains ---- */

static void hnode_add(struct hnode **head, struct hnode *n)
{
    n->next = *head;
    if (*head != NULL)
        (*head)->pprev = &n->next;
    *head = n;
    n->pprev = head;
}

static void hnode_del(struct hnode *n)
{
    if (n->pprev == NULL)
        return;
    *n->pprev = n->next;
    if (n->next != NULL)
        n->next->pprev = n->pprev;
    n->next = NULL;
    n->pprev = NULL;
}

static bool hnode_linked(const struct hnode *n)
{
    return n->pprev != NULL;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint32_t tuple_hash(const struct udp_state *u, uint32_t laddr, uint16_t lport,
                           uint32_t raddr, uint16_t rport)
{
    uint64_t a = ((uint64_t)laddr << 32 | raddr) ^ u->hash_key[0];
    uint64_t b = ((uint64_t)lport << 16 | rport) ^ u->hash_key[1];
    return (uint32_t)mix64(a ^ mix64(b));
}

static unsigned port_bucket(uint16_t port)
{
    return port & (UDP_PORT_BUCKETS - 1);
}

/* A connected socket whose 4-tuple is fully specified lives in conns. */
static bool fully_connected(const struct udp_pcb *pcb)
{
    return pcb->connected && pcb->local_addr != 0 && pcb->remote_addr != 0 && pcb->remote_port != 0;
}

static void hash_insert(struct udp_pcb *pcb)
{
    struct udp_state *u = pcb->stack->udp;
    hnode_add(&u->ports[port_bucket(pcb->local_port)], &pcb->port_node);
    pcb->in_conns = fully_connected(pcb);
    if (pcb->in_conns) {
        uint32_t h =
            tuple_hash(u, pcb->local_addr, pcb->local_port, pcb->remote_addr, pcb->remote_port);
        hnode_add(&u->conns[h & (UDP_CONN_BUCKETS - 1)], &pcb->lookup_node);
    } else {
        hnode_add(&u->wild[port_bucket(pcb->local_port)], &pcb->lookup_node);
    }
}

static void hash_remove(struct udp_pcb *pcb)
{
    hnode_del(&pcb->port_node);
    hnode_del(&pcb->lookup_node);
}

/* ---- Addresses ---- */

static bool is_multicast(uint32_t addr)
{
    return addr >> 28 == 0xe;
}

/* The limited broadcast or the directed broadcast of one of our links. */
static bool is_broadcast(const struct stack *stack, uint32_t addr)
{
    if (addr == ADDR_BROADCAST)
        return true;
    for (unsigned i = 0; i < stack->netif_count; i++)
        if (netif_is_broadcast(stack->netifs[i], addr))
            return true;
    return false;
}

/* What bind() accepts, as Linux's inet_addr_type() check does. */
static bool addr_bindable(const struct stack *stack, uint32_t addr)
{
    return addr == 0 || stack_is_local_addr(stack, addr) || is_broadcast(stack, addr) ||
           is_multicast(addr);
}

/* Two bound addresses overlap when equal or when either is the wildcard. */
static bool addr_overlap(uint32_t a, uint32_t b)
{
    return a == b || a == 0 || b == 0;
}

/* ---- Ports ---- */

/* Linux's udp_lib_lport_inuse: another socket on port whose address
 * overlaps, unless both set SO_REUSEADDR or both set SO_REUSEPORT. */
static bool port_conflict(const struct udp_state *u, const struct udp_pcb *pcb, uint32_t addr,
                          uint16_t port, bool honour_reuse)
{
    for (const struct hnode *n = u->ports[port_bucket(port)]; n != NULL; n = n->next) {
        const struct udp_pcb *o = PCB_OF(n, port_node);
        if (o == pcb || o->local_port != port || !addr_overlap(addr, o->local_addr))
            continue;
        if (honour_reuse && ((o->reuseaddr && pcb->reuseaddr) || (o->reuseport && pcb->reuseport)))
            continue;
        return true;
    }
    return false;
}

/* RFC 6056 algorithm 1: a random start in the range, then probe upwards.
 * An ephemeral port is never shared with an overlapping socket, whatever
 * the reuse flags (Linux would share it between two SO_REUSEADDR sockets;
 * they would then steal each other's datagrams). Returns 0 when none is
 * free. */
static uint16_t pick_ephemeral(struct stack *stack, const struct udp_pcb *pcb, uint32_t addr)
{
    const uint32_t n = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
    uint32_t start = (uint32_t)rng_below(&stack->rng, n);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t port = (uint16_t)(UDP_EPHEMERAL_LOW + (start + i) % n);
        if (!port_conflict(stack->udp, pcb, addr, port, false))
            return port;
    }
    return 0;
}

/* Implicit bind of connect() and sendto(): the wildcard address and an
 * ephemeral port, neither of them locked. */
static int autobind(struct udp_pcb *pcb)
{
    if (pcb->local_port != 0)
        return 0;
    uint16_t port = pick_ephemeral(pcb->stack, pcb, 0);
    if (port == 0)
        return -EAGAIN;
    pcb->local_addr = 0;
    pcb->local_port = port;
    hash_insert(pcb);
    return 0;
}

/* ---- Events ---- */

static void post_event(struct udp_pcb *pcb, unsigned events)
{
    pcb->pending_events |= events;
    if (!hnode_linked(&pcb->event_node))
        hnode_add(&pcb->stack->udp->events, &pcb->event_node);
}

/* Runs the owners' callbacks once all lookups are done, one socket at a
 * time, so that a callback may close any socket (it leaves this list). */
static void flush_events(struct stack *stack)
{
    struct udp_state *u = stack->udp;
    while (u->events != NULL) {
        struct udp_pcb *pcb = PCB_OF(u->events, event_node);
        hnode_del(&pcb->event_node);
        unsigned events = pcb->pending_events;
        pcb->pending_events = 0;
        if (pcb->fn != NULL && events != 0)
            pcb->fn(pcb, pcb->owner, events);
    }
}

/* ---- Input ---- */

/* Linux's compute_score: -1 when the socket cannot take the datagram,
 * else higher for each field it matched exactly. */
static int score(const struct udp_pcb *pcb, uint32_t daddr, uint16_t dport, uint32_t saddr,
                 uint16_t sport)
{
    if (pcb->local_port != dport)
        return -1;
    int s = 0;
    if (pcb->local_addr != 0) {
        if (pcb->local_addr != daddr)
            return -1;
        s += 4;
    }
    if (pcb->remote_addr != 0) {
        if (pcb->remote_addr != saddr)
            return -1;
        s += 4;
    }
    if (pcb->remote_port != 0) {
        if (pcb->remote_port != sport)
            return -1;
        s += 4;
    }
    return s;
}

/* The socket a unicast datagram daddr:dport <- saddr:sport belongs to. */
static struct udp_pcb *lookup_unicast(const struct udp_state *u, uint32_t daddr, uint16_t dport,
                                      uint32_t saddr, uint16_t sport)
{
    uint32_t h = tuple_hash(u, daddr, dport, saddr, sport);
    for (const struct hnode *n = u->conns[h & (UDP_CONN_BUCKETS - 1)]; n != NULL; n = n->next) {
        struct udp_pcb *pcb = PCB_OF(n, lookup_node);
        if (pcb->local_port == dport && pcb->local_addr == daddr && pcb->remote_addr == saddr &&
            pcb->remote_port == sport)
            return pcb;
    }
    struct udp_pcb *best = NULL;
    int best_score = -1;
    unsigned reuse_equals = 0; /* SO_REUSEPORT sockets at best_score */
    const struct hnode *chain = u->wild[port_bucket(dport)];
    for (const struct hnode *n = chain; n != NULL; n = n->next) {
        struct udp_pcb *pcb = PCB_OF(n, lookup_node);
        int s = score(pcb, daddr, dport, saddr, sport);
        if (s > best_score) {
            best = pcb;
            best_score = s;
            reuse_equals = pcb->reuseport ? 1 : 0;
        } else if (s == best_score && s >= 0 && pcb->reuseport && best->reuseport) {
            reuse_equals++;
        }
    }
    if (best == NULL || reuse_equals < 2)
        return best;
    /* A SO_REUSEPORT group: the same flow always reaches the same member. */
    unsigned pick = h % reuse_equals;
    for (const struct hnode *n = chain; n != NULL; n = n->next) {
        struct udp_pcb *pcb = PCB_OF(n, lookup_node);
        if (pcb->reuseport && score(pcb, daddr, dport, saddr, sport) == best_score && pick-- == 0)
            return pcb;
    }
    return best;
}

/* Queues a copy of the datagram on pcb, within its receive bound. A
 * datagram always fits an empty queue, so a small SO_RCVBUF never makes a
 * large datagram impossible (Linux admits while the queue is under the
 * bound). */
static void enqueue(struct udp_pcb *pcb, const struct ipv4_repr *ip, const struct udp_repr *udp)
{
    struct stack *stack = pcb->stack;
    size_t charge = udp->payload_len + UDP_DGRAM_OVERHEAD;
    if (pcb->q_count > 0 && pcb->q_charge + charge > pcb->rcvbuf) {
        STAT_INC(stack, udp_drop_queue_full);
        return;
    }
    struct udp_dgram *d = malloc(sizeof(*d) + udp->payload_len);
    if (d == NULL) {
        STAT_INC(stack, udp_drop_no_memory);
        return;
    }
    d->next = NULL;
    d->src = ip->src;
    d->dst = ip->dst;
    d->sport = udp->src_port;
    d->len = udp->payload_len;
    if (udp->payload_len > 0)
        memcpy(d->data, udp->payload, udp->payload_len);
    if (pcb->tail != NULL)
        pcb->tail->next = d;
    else
        pcb->head = d;
    pcb->tail = d;
    pcb->q_charge += charge;
    pcb->q_payload += d->len;
    pcb->q_count++;
    STAT_INC(stack, udp_rx_delivered);
    post_event(pcb, UDP_EV_READABLE);
}

/* Broadcast (and multicast) go to every socket on the port that could
 * take them: bound to the wildcard or to that very address, and either
 * unconnected or connected to the sender (Linux's __udp_is_mcast_sock). */
static unsigned deliver_broadcast(struct stack *stack, const struct ipv4_repr *ip,
                                  const struct udp_repr *udp)
{
    unsigned delivered = 0;
    for (struct hnode *n = stack->udp->ports[port_bucket(udp->dst_port)]; n != NULL; n = n->next) {
        struct udp_pcb *pcb = PCB_OF(n, port_node);
        if (score(pcb, ip->dst, udp->dst_port, ip->src, udp->src_port) < 0)
            continue;
        enqueue(pcb, ip, udp);
        delivered++;
    }
    return delivered;
}

void udp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
               bool broadcast)
{
    struct udp_repr udp;
    enum wire_err err = udp_parse_ipv4(data, len, ip->src, ip->dst, &udp);
    if (err == WIRE_BAD_CHECKSUM) {
        STAT_INC(stack, udp_rx_bad_checksum);
        return;
    }
    if (err != WIRE_OK) {
        STAT_INC(stack, udp_rx_malformed);
        return;
    }
    STAT_INC(stack, udp_rx_datagrams);
    if (stack->udp == NULL) {
        STAT_INC(stack, udp_rx_no_port);
        icmp_send_error(stack, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, ip, data, len, broadcast);
        return;
    }
    /* Which sockets see it depends on the IP destination: a unicast
     * address in a link broadcast frame is still unicast (as in Linux),
     * but draws no ICMP error. */
    if (is_broadcast(stack, ip->dst) || is_multicast(ip->dst)) {
        if (deliver_broadcast(stack, ip, &udp) == 0)
            STAT_INC(stack, udp_rx_no_port); /* never an ICMP error */
    } else {
        struct udp_pcb *pcb =
            lookup_unicast(stack->udp, ip->dst, udp.dst_port, ip->src, udp.src_port);
        if (pcb != NULL) {
            enqueue(pcb, ip, &udp);
        } else {
            STAT_INC(stack, udp_rx_no_port);
            icmp_send_error(stack, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, ip, data, len,
                            broadcast);
        }
    }
    flush_events(stack);
}

/* Errors Linux reports to a connected socket without IP_RECVERR: the
 * "fatal" ones of icmp_err_convert (port and protocol unreachable,
 * parameter problem). Network and host unreachable, time exceeded,
 * fragmentation needed and local ARP failures are soft and ignored. */
static bool error_is_hard(int err)
{
    return err == ECONNREFUSED || err == ENOPROTOOPT || err == EPROTO || err == EHOSTDOWN ||
           err == ENONET;
}

void udp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err)
{
    if (stack->udp == NULL || payload_len < UDP_HDR_LEN)
        return;
    uint16_t sport = be16_get(payload), dport = be16_get(payload + 2);
    /* The socket that would receive the reply sent that datagram. */
    struct udp_pcb *pcb = lookup_unicast(stack->udp, orig->src, sport, orig->dst, dport);
    if (pcb == NULL || !pcb->connected || !error_is_hard(err))
        return;
    pcb->error = err;
    post_event(pcb, UDP_EV_ERROR);
    flush_events(stack);
}

/* ---- Module ---- */

int udp_init(struct stack *stack)
{
    if (stack->udp != NULL)
        return 0;
    struct udp_state *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    rng_os_bytes(u->hash_key, sizeof(u->hash_key));
    stack->udp = u;
    return 0;
}

static void queue_free(struct udp_pcb *pcb)
{
    struct udp_dgram *d = pcb->head;
    while (d != NULL) {
        struct udp_dgram *next = d->next;
        free(d);
        d = next;
    }
    pcb->head = pcb->tail = NULL;
    pcb->q_charge = pcb->q_payload = pcb->q_count = 0;
}

void udp_destroy(struct stack *stack)
{
    struct udp_state *u = stack->udp;
    if (u == NULL)
        return;
    while (u->all != NULL)
        udp_close(PCB_OF(u->all, all_node));
    free(u);
    stack->udp = NULL;
}

/* ---- Socket API ---- */

struct udp_pcb *udp_pcb_new(struct stack *stack)
{
    struct udp_state *u = stack->udp;
    if (u == NULL || u->count >= UDP_MAX_PCBS)
        return NULL;
    struct udp_pcb *pcb = calloc(1, sizeof(*pcb));
    if (pcb == NULL)
        return NULL;
    pcb->stack = stack;
    pcb->rcvbuf = UDP_RCVBUF_DEFAULT;
    hnode_add(&u->all, &pcb->all_node);
    u->count++;
    return pcb;
}

void udp_set_owner(struct udp_pcb *pcb, udp_event_fn fn, void *owner)
{
    pcb->fn = fn;
    pcb->owner = owner;
}

void *udp_owner(const struct udp_pcb *pcb)
{
    return pcb->owner;
}

void udp_close(struct udp_pcb *pcb)
{
    struct udp_state *u = pcb->stack->udp;
    hash_remove(pcb);
    hnode_del(&pcb->event_node);
    hnode_del(&pcb->all_node);
    u->count--;
    queue_free(pcb);
    free(pcb);
}

void udp_set_reuse(struct udp_pcb *pcb, bool reuseaddr, bool reuseport)
{
    pcb->reuseaddr = reuseaddr;
    pcb->reuseport = reuseport;
}

void udp_set_broadcast(struct udp_pcb *pcb, bool on)
{
    pcb->broadcast = on;
}

bool udp_get_broadcast(const struct udp_pcb *pcb)
{
    return pcb->broadcast;
}

void udp_set_rcvbuf(struct udp_pcb *pcb, size_t bytes)
{
    if (bytes < UDP_RCVBUF_MIN)
        bytes = UDP_RCVBUF_MIN;
    if (bytes > UDP_RCVBUF_MAX)
        bytes = UDP_RCVBUF_MAX;
    pcb->rcvbuf = bytes;
}

size_t udp_get_rcvbuf(const struct udp_pcb *pcb)
{
    return pcb->rcvbuf;
}

void udp_set_tx_opts(struct udp_pcb *pcb, const struct ipv4_tx_opts *opts)
{
    pcb->ttl = opts != NULL ? opts->ttl : 0;
    pcb->tos = opts != NULL ? opts->tos : 0;
}

int udp_bind(struct udp_pcb *pcb, uint32_t addr, uint16_t port, bool reuseaddr, bool reuseport)
{
    struct stack *stack = pcb->stack;
    if (pcb->local_port != 0)
        return -EINVAL;
    if (!addr_bindable(stack, addr))
        return -EADDRNOTAVAIL;
    pcb->reuseaddr = reuseaddr;
    pcb->reuseport = reuseport;
    if (port == 0) {
        port = pick_ephemeral(stack, pcb, addr);
        if (port == 0)
            return -EADDRINUSE;
        pcb->port_locked = false;
    } else {
        if (port_conflict(stack->udp, pcb, addr, port, true))
            return -EADDRINUSE;
        pcb->port_locked = true;
    }
    pcb->local_addr = addr;
    /* Bound to a broadcast or multicast address, the socket sends from
     * the route's address (Linux clears saddr for those). */
    pcb->src_addr = stack_is_local_addr(stack, addr) ? addr : 0;
    pcb->addr_locked = addr != 0;
    pcb->local_port = port;
    hash_insert(pcb);
    return 0;
}

/* Linux's __udp_disconnect. */
static void disconnect(struct udp_pcb *pcb)
{
    bool bound = pcb->local_port != 0;
    if (bound)
        hash_remove(pcb);
    pcb->connected = false;
    pcb->remote_addr = 0;
    pcb->remote_port = 0;
    if (!pcb->addr_locked) {
        pcb->local_addr = 0;
        pcb->src_addr = 0;
    }
    if (!pcb->port_locked)
        pcb->local_port = 0;
    if (pcb->local_port != 0)
        hash_insert(pcb);
}

int udp_connect(struct udp_pcb *pcb, uint32_t addr, uint16_t port)
{
    struct stack *stack = pcb->stack;
    if (addr == 0) {
        disconnect(pcb);
        return 0;
    }
    if (is_broadcast(stack, addr) && !pcb->broadcast)
        return -EACCES;
    uint32_t route_src = ipv4_source_for(stack, addr);
    if (route_src == 0)
        return -ENETUNREACH;
    int rc = autobind(pcb);
    if (rc < 0)
        return rc;
    hash_remove(pcb);
    if (pcb->src_addr == 0)
        pcb->src_addr = route_src;
    if (pcb->local_addr == 0)
        pcb->local_addr = pcb->src_addr;
    pcb->remote_addr = addr;
    pcb->remote_port = port;
    pcb->connected = true;
    hash_insert(pcb);
    return 0;
}

long udp_sendto(struct udp_pcb *pcb, uint32_t dst, uint16_t port, const void *data, size_t len)
{
    struct stack *stack = pcb->stack;
    int rc = autobind(pcb);
    if (rc < 0)
        return rc;
    if (dst == 0) {
        if (!pcb->connected)
            return -EDESTADDRREQ;
        dst = pcb->remote_addr;
        port = pcb->remote_port;
    }
    if (port == 0)
        return -EINVAL;
    if (len > UDP_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (is_broadcast(stack, dst) && !pcb->broadcast)
        return -EACCES;
    uint32_t src = pcb->src_addr != 0 ? pcb->src_addr : ipv4_source_for(stack, dst);
    if (src == 0) {
        STAT_INC(stack, udp_tx_errors);
        return -ENETUNREACH;
    }
    struct pkt *pkt = pkt_alloc(UDP_HDR_LEN + len);
    if (pkt == NULL) {
        STAT_INC(stack, udp_tx_errors);
        return -ENOBUFS;
    }
    if (len > 0)
        memcpy(pkt->data + UDP_HDR_LEN, data, len);
    struct udp_repr udp = {
        .src_port = pcb->local_port,
        .dst_port = port,
        .payload = pkt->data + UDP_HDR_LEN,
        .payload_len = len,
    };
    udp_emit_ipv4(&udp, src, dst, pkt->data);
    struct ipv4_tx_opts opts = {.ttl = pcb->ttl, .tos = pcb->tos, .dont_fragment = false};
    rc = ipv4_output(stack, pkt, IP_PROTO_UDP, src, dst, &opts);
    if (rc < 0) {
        STAT_INC(stack, udp_tx_errors);
        return rc;
    }
    STAT_INC(stack, udp_tx_datagrams);
    return (long)len;
}

long udp_recv(struct udp_pcb *pcb, void *buf, size_t len, uint32_t *src, uint16_t *sport,
              uint32_t *dst_addr, bool peek, size_t *full_len)
{
    if (pcb->error != 0) {
        int err = pcb->error;
        pcb->error = 0;
        return -err;
    }
    struct udp_dgram *d = pcb->head;
    if (d == NULL)
        return -EAGAIN;
    size_t n = d->len < len ? d->len : len;
    if (n > 0)
        memcpy(buf, d->data, n);
    if (src != NULL)
        *src = d->src;
    if (sport != NULL)
        *sport = d->sport;
    if (dst_addr != NULL)
        *dst_addr = d->dst;
    if (full_len != NULL)
        *full_len = d->len;
    if (!peek) {
        pcb->head = d->next;
        if (pcb->head == NULL)
            pcb->tail = NULL;
        pcb->q_charge -= d->len + UDP_DGRAM_OVERHEAD;
        pcb->q_payload -= d->len;
        pcb->q_count--;
        free(d);
    }
    return (long)n;
}

int udp_take_error(struct udp_pcb *pcb)
{
    int err = pcb->error;
    pcb->error = 0;
    return err;
}

int udp_pending_error(const struct udp_pcb *pcb)
{
    return pcb->error;
}

size_t udp_next_len(const struct udp_pcb *pcb)
{
    return pcb->head != NULL ? pcb->head->len : 0;
}

size_t udp_queued(const struct udp_pcb *pcb)
{
    return pcb->q_payload;
}

size_t udp_queued_count(const struct udp_pcb *pcb)
{
    return pcb->q_count;
}

bool udp_is_bound(const struct udp_pcb *pcb)
{
    return pcb->local_port != 0;
}

bool udp_is_connected(const struct udp_pcb *pcb)
{
    return pcb->connected;
}

void udp_local_endpoint(const struct udp_pcb *pcb, uint32_t *addr, uint16_t *port)
{
    if (addr != NULL)
        *addr = pcb->local_addr;
    if (port != NULL)
        *port = pcb->local_port;
}

void udp_remote_endpoint(const struct udp_pcb *pcb, uint32_t *addr, uint16_t *port)
{
    if (addr != NULL)
        *addr = pcb->remote_addr;
    if (port != NULL)
        *port = pcb->remote_port;
}

unsigned udp_pcb_count(const struct stack *stack)
{
    return stack->udp != NULL ? stack->udp->count : 0;
}

void udp_pcb_foreach(struct stack *stack, void (*fn)(struct udp_pcb *pcb, void *ctx), void *ctx)
{
    if (stack->udp == NULL)
        return;
    for (struct hnode *n = stack->udp->all; n != NULL;) {
        struct hnode *next = n->next;
        fn(PCB_OF(n, all_node), ctx);
        n = next;
    }
}
