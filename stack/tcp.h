/* TCP (RFC 9293 and friends): the entry points the rest of the stack calls,
 * and the sans-IO connection API that the socket layer and the simulator
 * drive. Everything here runs on the stack thread only.
 *
 * A connection is a struct tcp_pcb. Its owner (a socket, a test) gets
 * events through one callback and moves bytes with tcp_send/tcp_recv,
 * which copy into and out of the connection's bounded buffers. */
#ifndef TOYSOCK_TCP_H
#define TOYSOCK_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toysock/tcp_info.h"
#include "wire/wire.h"

struct stack;
struct tcp_pcb;

/* ---- Entry points from IPv4 ---- */
int tcp_init(struct stack *stack);
void tcp_destroy(struct stack *stack);
void tcp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *seg, size_t len);
/* An ICMP or local error about a segment we sent (payload: its TCP header,
 * at least 8 bytes); mtu is the next-hop MTU for "fragmentation needed". */
void tcp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err, unsigned mtu);

/* ---- States, ordered so that predicates are comparisons ---- */
enum tcp_state {
    TCP_CLOSED,
    TCP_LISTEN,
    TCP_SYN_SENT,
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_CLOSE_WAIT,
    TCP_FIN_WAIT_1,
    TCP_CLOSING,
    TCP_LAST_ACK,
    TCP_FIN_WAIT_2,
    TCP_TIME_WAIT,
};
const char *tcp_state_name(enum tcp_state state);

/* ---- Events to the owner ---- */
enum tcp_event {
    TCP_EV_CONNECTED = 1 << 0,  /* active open completed */
    TCP_EV_READABLE = 1 << 1,   /* in-order data or the peer's FIN arrived */
    TCP_EV_WRITABLE = 1 << 2,   /* send buffer space was freed */
    TCP_EV_ACCEPTABLE = 1 << 3, /* listener: a connection waits in tcp_accept */
    TCP_EV_CLOSED = 1 << 4,     /* the connection is over; tcp_error() tells why
                                   (0: orderly). No event follows this one. The
                                   pcb stays valid (state CLOSED, data already
                                   received still readable) until the owner
                                   releases it with tcp_close() or tcp_abort(),
                                   which then free it at once. */
};
/* Called from inside tcp_input and timers. The callback may call
 * tcp_send, tcp_recv, tcp_accept and the getters; it must not call
 * tcp_close or tcp_abort (defer those to after the callback returns). */
typedef void (*tcp_event_fn)(struct tcp_pcb *pcb, void *owner, unsigned events);

/* ---- Options a socket can set (defaults follow Linux) ---- */
struct tcp_options {
    uint32_t sndbuf;         /* send buffer bytes (default 256 KiB) */
    uint32_t rcvbuf;         /* receive buffer bytes (default 256 KiB) */
    bool nodelay;            /* TCP_NODELAY: no Nagle */
    bool keepalive;          /* SO_KEEPALIVE */
    uint32_t keepidle_s;     /* TCP_KEEPIDLE (7200) */
    uint32_t keepintvl_s;    /* TCP_KEEPINTVL (75) */
    uint32_t keepcnt;        /* TCP_KEEPCNT (9) */
    uint16_t user_mss;       /* TCP_MAXSEG, 0: from the route */
    uint8_t syn_retries;     /* TCP_SYNCNT, 0: the stack's configured default */
    bool linger_zero;        /* SO_LINGER with l_linger 0: close sends RST */
    char congestion[16];     /* "cubic" (default) or "reno" */
};

/* ---- Connection API ---- */
/* A new closed connection with default options; NULL on exhaustion. */
struct tcp_pcb *tcp_pcb_new(struct stack *stack);
void tcp_set_owner(struct tcp_pcb *pcb, tcp_event_fn fn, void *owner);
void *tcp_owner(const struct tcp_pcb *pcb);
/* Options take effect from now on (buffer sizes: before connect/listen). */
const struct tcp_options *tcp_get_options(const struct tcp_pcb *pcb);
int tcp_set_options(struct tcp_pcb *pcb, const struct tcp_options *opts);

/* addr 0 is the wildcard; port 0 asks for an ephemeral port. -EADDRINUSE,
 * -EADDRNOTAVAIL (not one of our addresses), -EINVAL (already bound). */
int tcp_bind(struct tcp_pcb *pcb, uint32_t addr, uint16_t port, bool reuseaddr);
/* Passive open with an accept backlog. */
int tcp_listen(struct tcp_pcb *pcb, int backlog);
/* Active open: sends the SYN. Completion comes as TCP_EV_CONNECTED, or
 * TCP_EV_CLOSED with tcp_error() = ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH,
 * ENETUNREACH. Returns 0 or -errno for immediate failures. */
int tcp_connect(struct tcp_pcb *pcb, uint32_t addr, uint16_t port);
/* The next established connection from a listener, or NULL. The caller
 * becomes its owner. */
struct tcp_pcb *tcp_accept(struct tcp_pcb *listener);

/* Copies up to len bytes into the send buffer; returns how many it took
 * (0 when full). -EPIPE after shutdown/close, -ENOTCONN before connect,
 * the connection's error once it has failed. */
long tcp_send(struct tcp_pcb *pcb, const void *data, size_t len);
size_t tcp_send_space(const struct tcp_pcb *pcb);
/* Bytes sent but not acknowledged, plus bytes not yet sent. */
size_t tcp_send_queued(const struct tcp_pcb *pcb);
/* Copies up to len in-order bytes out, opening the window; returns how
 * many (0 when none are waiting: check tcp_recv_eof). */
size_t tcp_recv(struct tcp_pcb *pcb, void *buf, size_t len);
/* Copies up to len in-order bytes out without consuming them; a later
 * tcp_recv(pcb, NULL, n) drops the n bytes the caller managed to use. */
size_t tcp_recv_peek(const struct tcp_pcb *pcb, void *buf, size_t len);
size_t tcp_recv_available(const struct tcp_pcb *pcb);
/* The peer's FIN has arrived and every byte before it was received. */
bool tcp_recv_eof(const struct tcp_pcb *pcb);

/* Sends FIN once the buffered data is out (SHUT_WR). */
int tcp_shutdown_write(struct tcp_pcb *pcb);
/* Closes: the owner is detached and gets no more events; TCP finishes the
 * exchange (FIN after buffered data, TIME_WAIT) and frees the pcb itself.
 * Unread received data, or linger_zero, aborts with RST instead (RFC 9293
 * §3.10.4, as Linux does). */
void tcp_close(struct tcp_pcb *pcb);
/* Sends RST (unless closed/listening) and frees the pcb now. */
void tcp_abort(struct tcp_pcb *pcb);

enum tcp_state tcp_get_state(const struct tcp_pcb *pcb);
/* The connection's pending error (positive errno) or 0. */
int tcp_error(const struct tcp_pcb *pcb);
void tcp_local_endpoint(const struct tcp_pcb *pcb, uint32_t *addr, uint16_t *port);
void tcp_remote_endpoint(const struct tcp_pcb *pcb, uint32_t *addr, uint16_t *port);
void tcp_get_info(const struct tcp_pcb *pcb, struct toysock_tcp_info *info);

/* Connections in any state (listeners and TIME_WAIT included). */
unsigned tcp_pcb_count(const struct stack *stack);
/* Connections that still have something to do: every pcb not CLOSED,
 * LISTEN or TIME_WAIT (orphans in FIN-WAIT/LAST-ACK/CLOSING included). */
unsigned tcp_unfinished_count(const struct stack *stack);

#endif
