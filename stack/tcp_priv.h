/* TCP internals shared by the tcp_*.c files: the connection block (struct
 * tcp_pcb, fields named as in RFC 9293 §3.3.1), the module state (pcb
 * tables, secrets), intent flags, limits and the internal calls between
 * input, output, timers and pcb management. Nothing outside stack/tcp*.c
 * includes this.
 *
 *   tcp_input.c    segment arrives (RFC 9293 §3.10.7), demux, RST replies
 *   tcp_output.c   tcp_output(): what to send now, segment emission
 *   tcp_timer.c    retransmit/persist, delayed ACK, keepalive/2MSL, kick
 *   tcp_pcb.c      allocation, hash tables, ports (RFC 6056), ISN (RFC 6528)
 *   tcp_syncookie.c  SYN cookies (RFC 4987)
 *   tcp_api.c      the connection API of tcp.h
 *   tcp.c          module init/destroy, errors from ICMP, events, tcp_info */
#ifndef TOYSOCK_TCP_PRIV_H
#define TOYSOCK_TCP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"
#include "tcp.h"
#include "tcp_buf.h"
#include "tcp_cc.h"
#include "tcp_sack.h"
#include "timer.h"
#include "wire/tcp_seq.h"
#include "wire/tcp_wire.h"

/* ---- Limits: memory is a function of these, never of what peers send ---- */
#define TCP_MAX_PCBS 65536u     /* every state, listeners and TIME_WAIT included */
#define TCP_MAX_TIMEWAIT 8192u  /* beyond this the oldest TIME_WAIT is recycled */
#define TCP_CONN_BUCKETS 16384u /* 4-tuple hash (power of two) */
#define TCP_BIND_BUCKETS 4096u  /* local port hash (power of two) */
#define TCP_BACKLOG_MAX 4096    /* like net.core.somaxconn */
#define TCP_SYNQ_MIN 8          /* a listener's SYN queue holds max(backlog, this) */
#define TCP_OUTPUT_BURST 64     /* segments per tcp_output call, to keep the loop fair */
#define TCP_BUF_MIN 2048u       /* option buffer sizes are clamped to these */
#define TCP_BUF_LIMIT (64u << 20)
#define TCP_DEFAULT_BUF (256u << 10)

/* RFC 6056: the IANA ephemeral range, which DESIGN §7 asks for. */
#define TCP_EPHEMERAL_MIN 32768u
#define TCP_EPHEMERAL_MAX 60999u

/* ---- Segment sizes ---- */
#define TCP_DEFAULT_MSS 536 /* RFC 9293 §3.7.1: when the peer sends no MSS option */
/* Floor of the effective send MSS (payload plus options, as Linux's
 * tcp_min_snd_mss): a peer announcing a tiny MSS (or a forged "fragmentation
 * needed" with a tiny MTU) cannot make us cut the stream into 1-byte
 * segments (CVE-2019-11479). 48 bytes is Linux's default, i.e. 88-byte IP
 * datagrams; a path that truly needs less gets fragmented by IP. */
#define TCP_MIN_SND_MSS 48
#define TCP_TS_OPT_LEN 12 /* timestamps with their two NOPs */

/* ---- Times (µs, the stack clock) ---- */
#define TCP_RTO_INITIAL_US 1000000ull        /* RFC 6298 §2.1 */
#define TCP_RTO_MIN_US 200000ull             /* Linux's floor, not RFC 6298's 1 s */
#define TCP_RTO_MAX_US 120000000ull          /* Linux's TCP_RTO_MAX */
#define TCP_RTO_AFTER_SYN_LOSS_US 3000000ull /* RFC 6298 §5.7 */
#define TCP_DELACK_US 40000ull               /* Linux's TCP_DELACK_MAX */
#define TCP_FIN_WAIT_2_US 60000000ull        /* an orphan in FIN-WAIT-2, tcp_fin_timeout */
#define TCP_SYNACK_RETRIES 5                 /* Linux's tcp_synack_retries */
#define TCP_RETRIES2 15                      /* Linux's tcp_retries2 */
#define TCP_CHALLENGE_ACKS_PER_S 10          /* RFC 5961 §7, per connection */
#define TCP_OOW_ACK_INTERVAL_US 500000ull    /* out-of-window dupACKs, tcp_invalid_ratelimit */
#define TCP_PAWS_IDLE_US (24ull * 24 * 3600 * 1000000) /* RFC 7323 §5.5 */
#define TCP_DUPTHRESH 3                                /* RFC 5681 §3.2, RFC 6675 DupThresh */
#define TCP_TIMEWAIT_REUSE_US 1000000ull /* connect may recycle an older TIME_WAIT tuple */
#define TCP_RXT_TRACK 32                 /* retransmissions remembered in one SACK recovery */

/* ---- Intent and state flags (pcb->flags) ---- */
enum {
    TF_ACKNOW = 1u << 0,         /* send an ACK at the next tcp_output */
    TF_DELACK = 1u << 1,         /* an ACK is owed; the delayed-ACK timer runs */
    TF_DETACHED = 1u << 2,       /* the owner called tcp_close: TCP frees the pcb */
    TF_SHUT_WR = 1u << 3,        /* the owner asked for FIN after the data */
    TF_RCVD_FIN = 1u << 4,       /* the peer's FIN was reached in order */
    TF_FIN_PENDING = 1u << 5,    /* a FIN arrived out of order at rcv_fin_seq */
    TF_WS_OK = 1u << 6,          /* window scaling in use (both SYNs carried it) */
    TF_SACK_OK = 1u << 7,        /* SACK permitted both ways */
    TF_TS_OK = 1u << 8,          /* timestamps in use */
    TF_IN_RECOVERY = 1u << 9,    /* fast recovery (NewReno or RFC 6675) until recover */
    TF_PERSIST = 1u << 10,       /* t_rexmt is the persist timer */
    TF_RTT_TIMING = 1u << 11,    /* rtt_seq is being timed (Karn: not retransmitted) */
    TF_SYN_RETRANS = 1u << 12,   /* our SYN (or SYN-ACK) was sent more than once */
    TF_PASSIVE = 1u << 13,       /* created by a listener from a SYN */
    TF_CLOSED_EV = 1u << 14,     /* TCP_EV_CLOSED was queued: no more events */
    TF_REUSEADDR = 1u << 15,     /* SO_REUSEADDR at bind */
    TF_BOUND = 1u << 16,         /* in the bind table */
    TF_PORT_AUTO = 1u << 17,     /* the port came from connect, not bind/listen */
    TF_HASHED = 1u << 18,        /* in the 4-tuple table */
    TF_LISTEN_HASHED = 1u << 19, /* in the listener table */
    TF_PARTIAL_SEEN = 1u << 20,  /* a partial ACK was seen in this recovery */
    TF_FORCE_ONE = 1u << 21,     /* persist: send one segment whatever the window */
    TF_RTO_LOSS = 1u << 22,      /* after an RTO, until snd_una passes recover */
    TF_HAD_RTT = 1u << 23,       /* srtt/rttvar hold a measurement */
    TF_WND_PROBE = 1u << 24,     /* send a zero-window probe (seq snd_una - 1) */
    TF_OPTS_LOCKED = 1u << 27,   /* buffers exist: sizes can no longer change */
    TF_WND_CHECK = 1u << 28,     /* the owner read: is a window update due? */
    TF_RESCUED = 1u << 29,       /* RFC 6675 rule 4 used in this recovery */
};

/* Intrusive lists. hlist: a singly linked chain with a back pointer, for
 * hash buckets; dlist: circular, for queues and the TIME_WAIT order. */
struct tcp_hnode {
    struct tcp_hnode *next;
    struct tcp_hnode **pprev;
};

struct tcp_dnode {
    struct tcp_dnode *next;
    struct tcp_dnode *prev;
};

struct tcp_queue {
    struct tcp_dnode head;
    unsigned len;
};

#define TCP_CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* The transmission control block (RFC 9293 §3.3.1). Sequence variables
 * keep the RFC's names; everything compares through wire/tcp_seq.h. */
struct tcp_pcb {
    struct stack *stack;
    enum tcp_state state;
    uint32_t flags; /* TF_* */

    /* Tables and queues. */
    struct tcp_hnode conn_node;   /* 4-tuple table (SYN-SENT .. TIME-WAIT) */
    struct tcp_hnode bind_node;   /* bind table, by local port */
    struct tcp_hnode listen_node; /* listener table, by local port */
    struct tcp_dnode all_node;    /* every pcb, for tcp_destroy */
    struct tcp_dnode q_node;      /* a child in its listener's SYN or accept queue,
                                     or a pcb in the TIME_WAIT order */
    struct tcp_pcb *listener;     /* a child's listener until tcp_accept */
    bool in_acceptq;              /* q_node is in listener->acceptq (else synq) */
    bool in_timewait_list;        /* q_node is in the TIME_WAIT order */

    /* Listener only. */
    struct tcp_queue synq;     /* embryonic children (SYN-RECEIVED) */
    struct tcp_queue acceptq;  /* established children awaiting tcp_accept */
    unsigned backlog;          /* accept queue bound */
    unsigned synq_max;         /* SYN queue bound */
    uint64_t last_overflow_us; /* last time cookies were sent (0: never) */

    /* Endpoints (host order). */
    uint32_t local_addr;
    uint32_t remote_addr;
    uint16_t local_port;
    uint16_t remote_port;

    /* Owner. */
    tcp_event_fn owner_fn;
    void *owner;
    unsigned ev_pending; /* TCP_EV_* bits not yet delivered */
    bool in_callback;    /* the owner's callback is running */
    bool user_held;      /* a user (tcp_pcb_new, tcp_accept) holds it
                            until tcp_close/tcp_abort */
    struct tcp_options opts;
    int error;      /* positive errno once the connection failed */
    int soft_error; /* last ICMP soft error (RFC 1122 §4.2.3.9) */

    /* Send sequence space (RFC 9293 §3.3.1, Figure 4). */
    uint32_t iss;         /* initial send sequence number */
    uint32_t snd_una;     /* oldest unacknowledged sequence number */
    uint32_t snd_nxt;     /* next sequence number to send */
    uint32_t snd_max;     /* highest sequence number sent + 1 (HighData) */
    uint32_t snd_wnd;     /* peer's window, scaled to bytes */
    uint32_t snd_wl1;     /* segment seq used for the last window update */
    uint32_t snd_wl2;     /* segment ack used for the last window update */
    uint32_t max_sndwnd;  /* largest window the peer offered (SWS, RFC 5961 §5.2) */
    uint32_t snd_buf_seq; /* sequence number of the send buffer's first byte */
    uint32_t snd_sml;     /* end of the last small segment sent (Minshall's Nagle) */
    uint8_t snd_wscale;   /* shift applied to the peer's window field */

    /* Receive sequence space (RFC 9293 §3.3.1, Figure 5). */
    uint32_t irs;           /* initial receive sequence number */
    uint32_t rcv_nxt;       /* next sequence number expected */
    uint32_t rcv_wnd;       /* window in our last segment, bytes */
    uint32_t rcv_adv;       /* right edge advertised: never moves left */
    uint32_t last_ack_sent; /* ack field of our last segment (RFC 7323 §4.3) */
    uint32_t rcv_fin_seq;   /* sequence number of an out-of-order FIN */
    uint8_t rcv_wscale;     /* our shift, offered in the SYN */
    uint32_t rcv_unacked;   /* in-order bytes received since our last ACK */
    uint32_t ooo_left;      /* the latest out-of-order segment, for the first SACK block */

    /* Segment sizes. */
    uint16_t advmss;   /* MSS we announced */
    uint16_t peer_mss; /* MSS the peer announced (536 without the option) */
    uint16_t mtu_mss;  /* MSS the path allows (route MTU, ICMP) minus 40 */
    uint16_t rcv_mss;  /* estimate of the peer's segment size, for delayed ACKs */

    /* Timestamps (RFC 7323). */
    uint32_t ts_offset;    /* added to the ms clock, per 4-tuple (§5.4) */
    uint32_t ts_recent;    /* TS.Recent */
    uint64_t ts_recent_us; /* when TS.Recent was set (PAWS idle rule, §5.5) */

    /* Round-trip time and retransmission timeout (RFC 6298). */
    uint32_t srtt_us;
    uint32_t rttvar_us;
    uint32_t rto_us;  /* without backoff */
    uint32_t rtt_seq; /* the segment being timed ends after this seq */
    uint64_t rtt_start_us;
    uint8_t rxtshift;      /* consecutive timeouts (backoff exponent) */
    uint8_t persist_shift; /* zero-window probe backoff */
    uint8_t keep_probes;   /* keepalive probes without answer */

    /* Loss recovery (RFC 5681, RFC 6582, RFC 6675). */
    uint32_t dupacks;
    uint32_t recover;  /* RecoveryPoint / NewReno "recover" */
    uint32_t high_rxt; /* end of data retransmitted in this recovery */
    struct tcp_scoreboard sb;
    /* Retransmissions of this SACK recovery in the order they were sent:
     * when a later one is SACKed and an earlier one is not, the earlier
     * was lost again (the idea of RFC 8985's RACK, for retransmissions). */
    struct tcp_rxt_rec {
        uint32_t seq;
        uint32_t end;
        uint32_t order;
        uint32_t high_at; /* snd_max when it was sent: SACKs above it came later */
        bool lost;
    } rxt[TCP_RXT_TRACK];
    unsigned rxt_count;
    uint32_t rxt_order;
    struct tcp_cc cc;
    bool cc_ready; /* cc initialised (after the handshake) */

    /* Buffers (allocated when the connection can first carry data). */
    struct tcp_sndbuf snd;
    struct tcp_rcvbuf rcv;

    /* Rate limits. */
    uint64_t chall_window_us; /* RFC 5961 §7: start of the current second */
    uint32_t chall_count;
    uint64_t oow_last_us; /* last out-of-window dupACK sent */

    /* Liveness. */
    uint64_t last_rcv_us;  /* last segment received (keepalive idle) */
    uint64_t last_send_us; /* last data segment sent (restart after idle) */
    uint64_t tw_start_us;  /* entered TIME_WAIT */

    /* Timers. */
    struct timer t_rexmt;  /* retransmit, SYN/SYN-ACK retries, or persist */
    struct timer t_delack; /* delayed ACK */
    struct timer t_keep;   /* keepalive, 2MSL, FIN-WAIT-2 orphan timeout */
    struct timer t_kick;   /* zero delay: deferred events and output */

    /* tcp_info counters. */
    uint64_t bytes_acked;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t bytes_retrans;
    uint32_t segs_in;
    uint32_t segs_out;
    uint32_t total_retrans;
};

/* The module's state: struct stack's `tcp`. */
struct tcp_stack {
    struct tcp_hnode **conn_hash;   /* TCP_CONN_BUCKETS chains */
    struct tcp_hnode **bind_hash;   /* TCP_BIND_BUCKETS chains */
    struct tcp_hnode **listen_hash; /* TCP_BIND_BUCKETS chains */
    struct tcp_dnode all;           /* every pcb */
    struct tcp_queue timewait;      /* TIME_WAIT pcbs, oldest first */
    unsigned pcb_count;
    unsigned callbacks_running; /* owner callbacks on the call stack */
    uint32_t port_next;         /* RFC 6056 algorithm 3: next_ephemeral */
    /* Keys for SipHash-2-4, drawn from the stack's seeded RNG. */
    uint8_t hash_key[16];   /* table buckets */
    uint8_t isn_key[16];    /* RFC 6528 F() */
    uint8_t port_key[16];   /* RFC 6056 F() */
    uint8_t ts_key[16];     /* timestamp offsets */
    uint8_t cookie_key[16]; /* SYN cookies */
};

/* ---- Predicates ---- */
static inline bool tcp_state_synchronized(enum tcp_state s)
{
    return s >= TCP_ESTABLISHED;
}

/* The FIN is ours to send (or sent): the owner shut the write side. */
static inline bool tcp_fin_queued(const struct tcp_pcb *pcb)
{
    return pcb->state == TCP_FIN_WAIT_1 || pcb->state == TCP_CLOSING || pcb->state == TCP_LAST_ACK;
}

/* Sequence number just past the last byte in the send buffer; the FIN's
 * sequence number once it is queued. */
static inline uint32_t tcp_snd_end(const struct tcp_pcb *pcb)
{
    return pcb->snd_buf_seq + (uint32_t)pcb->snd.len;
}

/* ---- tcp_pcb.c ---- */
uint64_t tcp_siphash(const uint8_t key[16], const void *data, size_t len);
struct tcp_pcb *tcp_pcb_alloc(struct stack *stack);
void tcp_pcb_free(struct tcp_pcb *pcb);
void tcp_conn_hash_insert(struct tcp_pcb *pcb);
void tcp_conn_hash_remove(struct tcp_pcb *pcb);
struct tcp_pcb *tcp_conn_lookup(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                uint16_t rport);
void tcp_listen_hash_insert(struct tcp_pcb *pcb);
void tcp_listen_hash_remove(struct tcp_pcb *pcb);
struct tcp_pcb *tcp_listener_lookup(struct stack *stack, uint32_t laddr, uint16_t lport);
void tcp_bind_insert(struct tcp_pcb *pcb);
void tcp_bind_remove(struct tcp_pcb *pcb);
/* Binding checks of tcp_bind/tcp_listen/tcp_connect (0 or -errno). */
int tcp_bind_check(struct stack *stack, const struct tcp_pcb *self, uint32_t addr, uint16_t port,
                   bool reuse);
int tcp_listen_check(struct stack *stack, const struct tcp_pcb *self);
int tcp_port_pick_bind(struct stack *stack, struct tcp_pcb *pcb, uint32_t addr);
int tcp_port_pick_connect(struct stack *stack, struct tcp_pcb *pcb);
uint32_t tcp_isn(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                 uint16_t rport);
uint32_t tcp_ts_offset(struct stack *stack, uint32_t laddr, uint16_t lport, uint32_t raddr,
                       uint16_t rport);
void tcp_queue_init(struct tcp_queue *q);
void tcp_queue_push(struct tcp_queue *q, struct tcp_dnode *n);
void tcp_queue_remove(struct tcp_queue *q, struct tcp_dnode *n);
struct tcp_dnode *tcp_queue_first(const struct tcp_queue *q);
/* TIME_WAIT entry and its bound; kills the oldest beyond TCP_MAX_TIMEWAIT. */
void tcp_timewait_enter(struct tcp_pcb *pcb);
/* Removes a TIME_WAIT pcb now (recycled, or 2MSL over). */
void tcp_timewait_kill(struct tcp_pcb *pcb);

/* ---- tcp.c: lifetime and events ---- */
/* Queues events for the owner (delivered by tcp_events_flush). */
void tcp_event_post(struct tcp_pcb *pcb, unsigned events);
/* Queues TCP_EV_CLOSED once; nothing is posted after it. */
void tcp_event_post_closed(struct tcp_pcb *pcb);
/* Delivers queued events if the pcb has an owner and no callback runs. */
void tcp_events_flush(struct tcp_pcb *pcb);
/* The connection is over: timers off, out of the 4-tuple table, state
 * CLOSED, error recorded (0: orderly), TCP_EV_CLOSED queued. The pcb is
 * not freed here: see tcp_pcb_release. */
void tcp_set_closed(struct tcp_pcb *pcb, int err);
/* At the end of an entry point (input, timer, API call): deliver events,
 * and free the pcb when it is CLOSED and no owner holds it. Returns true
 * when the pcb was freed. */
bool tcp_pcb_release(struct tcp_pcb *pcb);
/* Removes a passive child from its listener's queues. */
void tcp_child_unlink(struct tcp_pcb *pcb);
/* Allocates the send and receive buffers (idempotent). 0 or -ENOMEM. */
int tcp_buffers_alloc(struct tcp_pcb *pcb);
/* Connection established: congestion control, RTO rules, events. */
void tcp_established(struct tcp_pcb *pcb);
/* The failure error: an ICMP soft error seen meanwhile wins over ETIMEDOUT. */
int tcp_timeout_error(const struct tcp_pcb *pcb);
/* Our announced MSS and the path's, from the route (and TCP_MAXSEG). */
void tcp_mss_init(struct tcp_pcb *pcb);
/* Payload bytes per full segment: MSS minus the options every segment carries. */
uint32_t tcp_eff_mss(const struct tcp_pcb *pcb);
void tcp_cc_setup(struct tcp_pcb *pcb);
/* The peer's MSS changed (ICMP, user_mss): update cc. */
void tcp_mss_changed(struct tcp_pcb *pcb);
void tcp_options_default(struct tcp_options *o);

/* ---- tcp_output.c ---- */
void tcp_output(struct tcp_pcb *pcb);
/* An RST for pcb's connection (abort, data after close): seq snd_max. */
void tcp_send_rst(struct tcp_pcb *pcb);
/* An RST answering a segment that has no connection (RFC 9293 §3.10.7.1). */
void tcp_send_rst_reply(struct stack *stack, const struct ipv4_repr *ip,
                        const struct tcp_repr *seg);
/* An ACK now: acceptability failures, PAWS, etc. Rate-limited variant for
 * RFC 5961 challenge ACKs (returns false when suppressed). */
void tcp_send_ack(struct tcp_pcb *pcb);
bool tcp_send_challenge_ack(struct tcp_pcb *pcb);
/* Retransmits one segment at seq (at most maxlen bytes), outside the
 * normal window checks: fast retransmit, partial ACKs. */
void tcp_retransmit_at(struct tcp_pcb *pcb, uint32_t seq, uint32_t maxlen);
/* SACK recovery: forgets what was retransmitted (recovery ends), and
 * marks retransmissions lost once later ones were delivered. */
void tcp_rxt_reset(struct tcp_pcb *pcb);
void tcp_rxt_detect_lost(struct tcp_pcb *pcb);
/* A SYN-ACK for a SYN cookie: no pcb exists. */
void tcp_send_cookie_synack(struct stack *stack, const struct tcp_pcb *listener,
                            const struct ipv4_repr *ip, const struct tcp_repr *syn, uint32_t iss,
                            uint16_t mss, uint32_t ts_val, uint32_t ts_offset);
/* The timestamp clock: ms since the stack's epoch plus the pcb's offset. */
uint32_t tcp_ts_now(const struct tcp_pcb *pcb);
uint32_t tcp_ts_clock(const struct stack *stack);
/* Would an ACK now open the window enough to be worth sending? */
bool tcp_window_update_due(const struct tcp_pcb *pcb);

/* ---- tcp_timer.c ---- */
void tcp_timers_init(struct tcp_pcb *pcb);
void tcp_timers_cancel(struct tcp_pcb *pcb);
/* The current RTO with backoff, capped. */
uint64_t tcp_rto_backed_off(const struct tcp_pcb *pcb);
void tcp_rexmt_arm(struct tcp_pcb *pcb); /* (re)start the retransmit timer */
void tcp_rexmt_cancel(struct tcp_pcb *pcb);
void tcp_persist_arm(struct tcp_pcb *pcb); /* if not already running */
void tcp_delack_arm(struct tcp_pcb *pcb);
void tcp_keep_reset(struct tcp_pcb *pcb);   /* keepalive idle restarts */
void tcp_timewait_arm(struct tcp_pcb *pcb); /* 2MSL from now */
void tcp_finwait2_arm(struct tcp_pcb *pcb);
/* Runs deferred work (events, a continued output burst) at the next turn. */
void tcp_kick(struct tcp_pcb *pcb);
/* An RTT sample (µs) per RFC 6298 §2. */
void tcp_rtt_sample(struct tcp_pcb *pcb, uint32_t rtt_us);

/* ---- tcp_syncookie.c ---- */
/* The ISS that encodes mss (a table index) for this SYN, and the MSS the
 * cookie will restore. */
uint32_t tcp_cookie_make(struct stack *stack, const struct ipv4_repr *ip,
                         const struct tcp_repr *syn, uint16_t *mss);
/* Validates ack - 1 of a returning ACK; on success the MSS it encodes. */
bool tcp_cookie_check(struct stack *stack, const struct ipv4_repr *ip, const struct tcp_repr *ack,
                      uint16_t *mss);
/* Options the cookie's SYN-ACK carried in the low bits of ts_val. */
uint32_t tcp_cookie_ts_encode(uint32_t ts_now, const struct tcp_repr *syn);
void tcp_cookie_ts_decode(uint32_t ts_ecr, bool *sack, int *wscale);

/* ---- tcp_input.c ---- */
/* A SYN reached a listener: a child in SYN-RECEIVED, or a cookie. */
void tcp_listen_input(struct tcp_pcb *listener, const struct ipv4_repr *ip,
                      const struct tcp_repr *seg);

#endif
