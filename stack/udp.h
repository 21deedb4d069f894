/* UDP (RFC 768): the entry points the rest of the stack calls, and the
 * sans-IO socket API that the socket layer and tests drive. Everything here
 * runs on the stack thread only.
 *
 * A socket is a struct udp_pcb. Its owner (a bridged socket, a test) gets
 * events through one callback and moves datagrams with udp_sendto and
 * udp_recv; received datagrams wait in a per-socket queue bounded in bytes.
 * Semantics follow Linux: binding and SO_REUSEADDR/SO_REUSEPORT rules,
 * demultiplexing by best match (udp4_lib_lookup), broadcasts to every
 * matching socket, and ICMP errors reported only to connected sockets.
 *
 * Addresses and ports are in host byte order throughout. */
#ifndef TOYSOCK_UDP_H
#define TOYSOCK_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct stack;
struct udp_pcb;
struct ipv4_tx_opts;

/* ---- Limits and defaults ---- */
#define UDP_MAX_PCBS 65536u
#define UDP_EPHEMERAL_LOW 32768u /* DESIGN §7, Linux's ip_local_port_range */
#define UDP_EPHEMERAL_HIGH 60999u
/* Largest payload: 65535 - IPv4 header (20) - UDP header (8). */
#define UDP_MAX_PAYLOAD 65507u
/* Receive queue bound (SO_RCVBUF as Linux reports it, already doubled). */
#define UDP_RCVBUF_DEFAULT 212992u
#define UDP_RCVBUF_MIN 2304u /* Linux's SOCK_MIN_RCVBUF */
#define UDP_RCVBUF_MAX (64u << 20)
/* What each queued datagram costs against the bound besides its payload,
 * so that a flood of empty datagrams is bounded too. */
#define UDP_DGRAM_OVERHEAD 64u

/* ---- Entry points from IPv4 ---- */
int udp_init(struct stack *stack);
/* Frees every socket and its queue (owners are not told). */
void udp_destroy(struct stack *stack);
/* A datagram for us (reassembled if it was fragmented). broadcast: it came
 * as a link broadcast or to a broadcast address (no ICMP error about it). */
void udp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len,
               bool broadcast);
/* An ICMP or local error about a datagram we sent (orig: its IPv4 header,
 * payload: at least its UDP header); err is a positive errno. */
void udp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err);

/* ---- Events to the owner ---- */
enum udp_event {
    UDP_EV_READABLE = 1 << 0, /* a datagram was queued (once per datagram) */
    UDP_EV_ERROR = 1 << 1,    /* an ICMP error arrived for a connected socket:
                                 udp_take_error() / udp_recv() return it */
};
/* Called after udp_input/udp_error_input have finished their lookups, so
 * the callback may call anything here, udp_close of any socket included
 * (a closed socket gets no further callbacks). */
typedef void (*udp_event_fn)(struct udp_pcb *pcb, void *owner, unsigned events);

/* ---- Socket API ---- */
/* A new unbound socket; NULL when memory or UDP_MAX_PCBS is exhausted (or
 * udp_init was not called). */
struct udp_pcb *udp_pcb_new(struct stack *stack);
void udp_set_owner(struct udp_pcb *pcb, udp_event_fn fn, void *owner);
void *udp_owner(const struct udp_pcb *pcb);
/* Frees the socket and its queue at once. */
void udp_close(struct udp_pcb *pcb);

/* SO_REUSEADDR / SO_REUSEPORT: what later binds by other sockets see. */
void udp_set_reuse(struct udp_pcb *pcb, bool reuseaddr, bool reuseport);
/* SO_BROADCAST: allows sending to (and connecting to) broadcast addresses. */
void udp_set_broadcast(struct udp_pcb *pcb, bool on);
bool udp_get_broadcast(const struct udp_pcb *pcb);
/* SO_RCVBUF in bytes (the value Linux reports, i.e. already doubled),
 * clamped to [UDP_RCVBUF_MIN, UDP_RCVBUF_MAX]. Queued datagrams stay. */
void udp_set_rcvbuf(struct udp_pcb *pcb, size_t bytes);
size_t udp_get_rcvbuf(const struct udp_pcb *pcb);
/* IP_TTL / IP_TOS for what this socket sends (ttl 0: the default). The
 * dont_fragment field is ignored: UDP datagrams are fragmented. */
void udp_set_tx_opts(struct udp_pcb *pcb, const struct ipv4_tx_opts *opts);

/* addr 0 is the wildcard; port 0 picks a random free ephemeral port from
 * UDP_EPHEMERAL_LOW..HIGH. Sets the socket's reuse flags first. Returns 0,
 * -EINVAL (already bound), -EADDRNOTAVAIL (addr is not ours, a broadcast
 * or multicast address), -EADDRINUSE. */
int udp_bind(struct udp_pcb *pcb, uint32_t addr, uint16_t port, bool reuseaddr, bool reuseport);
/* Sets the default peer and filters input to it. Binds an ephemeral port
 * first if unbound, and fixes the local address to the route's source if
 * it was the wildcard. addr 0 disconnects (AF_UNSPEC): the peer is
 * forgotten, a local address or port that connect chose (not bind) is
 * released. Returns 0, -ENETUNREACH (no route), -EACCES (broadcast
 * without SO_BROADCAST), -EAGAIN (no ephemeral port free). */
int udp_connect(struct udp_pcb *pcb, uint32_t addr, uint16_t port);
/* Sends one datagram to dst:port, or with dst 0 to the connected peer.
 * Binds an ephemeral port first if unbound. Returns len, or -EDESTADDRREQ
 * (dst 0, not connected), -EINVAL (port 0), -EMSGSIZE (len >
 * UDP_MAX_PAYLOAD), -EACCES (broadcast without SO_BROADCAST),
 * -ENETUNREACH, -ENOBUFS, -EAGAIN (no ephemeral port free). Does not look
 * at the pending error (see udp_take_error). */
long udp_sendto(struct udp_pcb *pcb, uint32_t dst, uint16_t port, const void *data, size_t len);

/* Takes the oldest queued datagram (or with peek leaves it queued), copying
 * at most len bytes into buf; the rest of a longer datagram is discarded as
 * with MSG_TRUNC, and *full_len gets its real length. src/sport get the
 * sender, dst_addr the address it was sent to (ours or a broadcast). Any
 * out pointer may be NULL. Returns the bytes copied, or the pending error
 * first (-ECONNREFUSED..., once, even with peek, as Linux), or -EAGAIN
 * when nothing is queued. */
long udp_recv(struct udp_pcb *pcb, void *buf, size_t len, uint32_t *src, uint16_t *sport,
              uint32_t *dst_addr, bool peek, size_t *full_len);
/* SO_ERROR: the pending error as a positive errno (0: none), cleared. */
int udp_take_error(struct udp_pcb *pcb);
/* Peeks at the pending error without clearing it. */
int udp_pending_error(const struct udp_pcb *pcb);
/* FIONREAD: the payload length of the next datagram, 0 if none. */
size_t udp_next_len(const struct udp_pcb *pcb);
/* Payload bytes, and datagrams, queued. */
size_t udp_queued(const struct udp_pcb *pcb);
size_t udp_queued_count(const struct udp_pcb *pcb);

bool udp_is_bound(const struct udp_pcb *pcb);
bool udp_is_connected(const struct udp_pcb *pcb);
/* getsockname: the bound address (0: wildcard) and port (0: unbound). */
void udp_local_endpoint(const struct udp_pcb *pcb, uint32_t *addr, uint16_t *port);
/* getpeername: the connected peer, or 0/0. */
void udp_remote_endpoint(const struct udp_pcb *pcb, uint32_t *addr, uint16_t *port);

unsigned udp_pcb_count(const struct stack *stack);
/* Calls fn for every socket (for `toysock stat`); fn must not close any. */
void udp_pcb_foreach(struct stack *stack, void (*fn)(struct udp_pcb *pcb, void *ctx), void *ctx);

#endif
