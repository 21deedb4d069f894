/* The simulator: two toysock stacks joined by an in-process virtual wire
 * on a virtual clock (the idea of smoltcp's tests/netsim.rs).
 *
 *   A 192.0.2.1/24 (MAC 02:00:00:00:00:01) <-- vwire --> B 192.0.2.2/24 (…:02)
 *
 * - The clock starts at SIM_T0_US and only moves when both stacks are idle
 *   at the current instant: then it jumps to the earliest timer deadline of
 *   the two. An RTO of 60 s costs microseconds of test time, and every run
 *   with the same seeds is the same run.
 * - Optional seeded impairment (drivers/impair.h grammar) sits on A's netif
 *   and so affects both directions.
 * - A tap wraps both netifs' drivers: every frame handed to the wire is
 *   parsed and recorded (direction, flags, seq, ack, window, options, length)
 *   in a bounded ring, and a scripted filter may drop it there.
 * - Frames can be forged and injected into either stack, so a test can play
 *   a scripted peer against one real TCP.
 * - Connections are wrapped in struct sim_conn, which can produce a seeded
 *   byte stream and consume/verify one (SHA-256 and byte-by-byte), in both
 *   directions at once.
 *
 * Everything runs on the caller's thread; the stacks never see a real clock. */
#ifndef TOYSOCK_TEST_SIM_H
#define TOYSOCK_TEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sha256.h"
#include "stack.h"
#include "tcp.h"
#include "toysock/toysock.h"
#include "wire/tcp_wire.h"
#include "wire/wire.h"

struct sim;

enum sim_side { SIM_A = 0, SIM_B = 1 };
#define SIM_ANY (-1) /* "either side" in searches */

#define SIM_ADDR_A 0xc0000201u /* 192.0.2.1 */
#define SIM_ADDR_B 0xc0000202u /* 192.0.2.2 */
#define SIM_PREFIX 24
#define SIM_T0_US 1000000ull /* the virtual clock's start */

#define SIM_MAX_CONNS 65536 /* conns one sim may wrap, in all */
#define SIM_ACCEPTQ_MAX 256 /* accepted conns a listener holds for sim_accept */
#define SIM_RING_FRAMES (1u << 16)

static inline enum sim_side sim_other(enum sim_side s)
{
    return s == SIM_A ? SIM_B : SIM_A;
}

struct sim_options {
    /* Configuration of each stack (TCP tunables: tcp_timewait_ms,
     * tcp_syn_retries). Filled with toysock_config_defaults. */
    struct toysock_config cfg[2];
    uint64_t seed[2];   /* stack RNG seeds (ISNs, ports) */
    const char *impair; /* NULL or "": a clean wire */
};
void sim_options_defaults(struct sim_options *o);

/* ---- Frame records ---- */
enum sim_frame_kind {
    SIM_FRAME_TCP,
    SIM_FRAME_ARP,
    SIM_FRAME_IP,    /* IPv4, not TCP (ICMP, UDP) */
    SIM_FRAME_BAD,   /* did not parse (a corrupted frame, say) */
    SIM_FRAME_OTHER, /* another ethertype */
};

struct sim_frame {
    uint64_t index;     /* position in the sequence of all frames */
    uint64_t t_us;      /* virtual time when it was handed to the wire */
    enum sim_side from; /* the stack that sent it (for injected frames: the
                           side whose wire end carried it) */
    bool injected;      /* forged by the test */
    bool dropped;       /* dropped by the filter or a block */
    enum sim_frame_kind kind;
    size_t frame_len;
    uint8_t eth_src[ETHER_ADDR_LEN];
    uint8_t eth_dst[ETHER_ADDR_LEN];
    /* SIM_FRAME_TCP and SIM_FRAME_IP: */
    uint32_t ip_src, ip_dst;
    uint8_t ip_proto;
    /* SIM_FRAME_TCP: the parsed segment (payload pointer cleared; the
     * length is tcp.payload_len). */
    struct tcp_repr tcp;
    /* SIM_FRAME_ARP */
    struct arp_repr arp;
};

/* Sequence space the segment occupies: payload + SYN + FIN. */
uint32_t sim_seg_len(const struct sim_frame *f);

/* ---- The filter ---- */
enum sim_verdict { SIM_DELIVER, SIM_DROP };
/* Sees every frame a stack sends (after recording it); injected frames do
 * not pass through it. frame/len are the raw bytes. */
typedef enum sim_verdict (*sim_filter_fn)(struct sim *sim, const struct sim_frame *f,
                                          const uint8_t *frame, size_t len, void *ctx);

/* ---- Connections ---- */
struct sim_conn {
    struct sim *sim;
    enum sim_side side;
    struct tcp_pcb *pcb; /* NULL once the test closed or aborted it */
    unsigned id;         /* for messages */
    unsigned events;     /* every TCP_EV_* seen so far */
    unsigned last_events;
    uint64_t event_calls;
    bool connected; /* TCP_EV_CONNECTED, or accepted */
    bool closed;    /* TCP_EV_CLOSED came (also sent on entering TIME_WAIT) */
    int error;      /* tcp_error() at TCP_EV_CLOSED */
    uint64_t closed_at_us;
    uint64_t connected_at_us;
    /* Listener: connections accepted and not yet taken by sim_accept. */
    bool listener;
    bool auto_accept; /* tcp_accept at every turn (default on) */
    struct sim_conn *parent;
    struct sim_conn *acceptq[SIM_ACCEPTQ_MAX];
    unsigned acceptq_len;
    unsigned accepted_total;
    /* Producer: a seeded stream fed into tcp_send whenever there is room. */
    struct {
        bool active;
        uint64_t seed;
        uint64_t total;
        uint64_t sent; /* bytes tcp_send took */
        bool shutdown_when_done;
        bool shut;        /* tcp_shutdown_write called */
        bool digest_done; /* all sent: digest holds the stream's hash */
        int send_error;   /* negative tcp_send result, if any */
        uint32_t chunk;   /* largest single tcp_send (default 64 KiB) */
        struct sha256 sha;
        uint8_t digest[SHA256_DIGEST_LEN];
    } tx;
    /* Consumer: tcp_recv everything, hash, compare with the stream. */
    struct {
        bool active;
        bool paused; /* stop reading (the window closes) */
        uint64_t seed;
        uint64_t expected; /* UINT64_MAX: unknown */
        uint64_t received;
        bool need_eof; /* complete only once EOF is seen too */
        bool eof;      /* tcp_recv_eof seen */
        bool mismatch;
        uint64_t first_mismatch; /* offset of the first wrong byte */
        struct sha256 sha;
        uint8_t digest[SHA256_DIGEST_LEN];
        bool digest_done;
        uint64_t eof_at_us;
    } rx;
};

/* ---- Lifetime ---- */
struct sim *sim_create(const struct sim_options *o); /* NULL o: defaults */
void sim_destroy(struct sim *sim);
struct stack *sim_stack(struct sim *sim, enum sim_side side);
struct netif *sim_netif(struct sim *sim, enum sim_side side);
uint32_t sim_addr(enum sim_side side);
const uint8_t *sim_mac(struct sim *sim, enum sim_side side);
uint64_t sim_now(const struct sim *sim);
/* Short label "A"/"B". */
const char *sim_side_name(enum sim_side side);

/* ---- Running ---- */
enum sim_rc {
    SIM_OK,       /* the predicate holds (or the time given has passed) */
    SIM_TIMEOUT,  /* virtual time ran out first */
    SIM_DEADLOCK, /* nothing scheduled, wire idle, predicate false */
    SIM_STORM,    /* the stacks never went idle at one instant */
    SIM_STUCK,    /* iteration cap */
};
const char *sim_rc_name(enum sim_rc rc);
typedef bool (*sim_pred_fn)(struct sim *sim, void *ctx);

/* Runs both stacks until pred holds, at most max_virtual_us of virtual time.
 * On anything but SIM_OK prints why, the connections and the last frames to
 * stderr (desc names the condition in the message). */
enum sim_rc sim_run_until_desc(struct sim *sim, sim_pred_fn pred, void *ctx,
                               uint64_t max_virtual_us, const char *desc);
#define sim_run_until(sim, pred, ctx, max) sim_run_until_desc(sim, pred, ctx, max, #pred)
/* Runs for exactly us of virtual time (idle periods are fine). */
enum sim_rc sim_run_for(struct sim *sim, uint64_t us);
/* Brings both stacks to rest at the current instant without moving time. */
enum sim_rc sim_settle(struct sim *sim);

/* ---- Frames ---- */
/* The index the next recorded frame will get. */
uint64_t sim_frame_mark(const struct sim *sim);
/* The frame with that index, or NULL (not yet recorded, or overwritten). */
const struct sim_frame *sim_frame_get(const struct sim *sim, uint64_t index);
/* The next TCP frame at index >= *cursor sent by side (SIM_ANY: either)
 * with every bit of flags_all set and none of flags_none; advances *cursor
 * past it. NULL when there is none. */
const struct sim_frame *sim_next_tcp(const struct sim *sim, uint64_t *cursor, int side,
                                     uint8_t flags_all, uint8_t flags_none);
/* Counts such frames from index `from` on. */
unsigned sim_count_tcp(const struct sim *sim, uint64_t from, int side, uint8_t flags_all,
                       uint8_t flags_none);
/* The last TCP frame sent by side (not injected), or NULL. */
const struct sim_frame *sim_last_tcp(const struct sim *sim, int side);
/* The sequence number just past the highest segment side has sent (SYN
 * and FIN count; reset by each SYN), i.e. the peer's rcv_nxt once all of it
 * arrived, and the ack field of side's last ACK. Injected frames are not
 * counted. */
uint32_t sim_snd_nxt(const struct sim *sim, enum sim_side side);
uint32_t sim_last_ack(const struct sim *sim, enum sim_side side);
/* A segment answering f: ports swapped, SEQ = f's ACK, ACK = f's SEQ +
 * its length, flags ACK, window 65535, no options. */
void sim_reply_repr(const struct sim_frame *f, struct tcp_repr *out);
int sim_frame_fmt(const struct sim_frame *f, char *out, size_t outlen);
/* Prints frames [from, mark) (at most max, the last ones) to out. */
void sim_dump_frames(const struct sim *sim, FILE *out, uint64_t from, unsigned max);
/* Whether to record data segments at all (on by default). */
void sim_set_recording(struct sim *sim, bool on);

void sim_set_filter(struct sim *sim, sim_filter_fn fn, void *ctx);
/* Drops (after recording) every TCP frame side sends: the peer "vanishes"
 * for TCP while ARP keeps working. */
void sim_block_tcp(struct sim *sim, enum sim_side side, bool on);
/* Drops (after recording) every frame side sends, ARP included. */
void sim_block_all(struct sim *sim, enum sim_side side, bool on);

/* ---- Forging ---- */
/* Queues a raw Ethernet frame for `to` (it arrives at to's next turn),
 * recorded as injected. */
int sim_inject_frame(struct sim *sim, enum sim_side to, const uint8_t *frame, size_t len);
/* Forges Ethernet + IPv4 + TCP from src_ip/src_mac (NULL: the other side's
 * MAC) to `to`'s address and MAC, with r's fields (payload included). */
int sim_inject_tcp(struct sim *sim, enum sim_side to, uint32_t src_ip, const uint8_t *src_mac,
                   const struct tcp_repr *r);
/* An ARP request from src_ip/src_mac asking for to's address: the stack
 * learns the asker (RFC 826), so it can send IP to it without resolving. */
int sim_inject_arp_request(struct sim *sim, enum sim_side to, uint32_t src_ip,
                           const uint8_t *src_mac);

/* ---- Connections ---- */
/* A fresh pcb on side wrapped in a conn, before bind/connect/listen (set
 * options on conn->pcb first if needed). */
struct sim_conn *sim_conn_new(struct sim *sim, enum sim_side side);
int sim_conn_connect(struct sim_conn *c, uint32_t addr, uint16_t port);
int sim_conn_listen(struct sim_conn *c, uint16_t port, int backlog);
/* Shorthands: new + listen / new + connect; NULL (and a message) on error. */
struct sim_conn *sim_listen(struct sim *sim, enum sim_side side, uint16_t port, int backlog);
struct sim_conn *sim_connect(struct sim *sim, enum sim_side side, uint32_t addr, uint16_t port);
/* The oldest accepted connection not taken yet, or NULL. */
struct sim_conn *sim_accept(struct sim_conn *listener);
/* Listener on B:port, connect from A, run until both ends are established.
 * *server is the accepted conn (its parent is the listener). */
enum sim_rc sim_open_pair(struct sim *sim, uint16_t port, struct sim_conn **client,
                          struct sim_conn **server);
/* tcp_close / tcp_abort; the conn keeps its records, pcb becomes NULL. */
void sim_conn_close(struct sim_conn *c);
void sim_conn_abort(struct sim_conn *c);
enum tcp_state sim_conn_state(const struct sim_conn *c);

/* Producer: total bytes of the seeded stream; FIN after the last byte when
 * shutdown_when_done. Consumer: expected bytes (UINT64_MAX: until EOF). */
void sim_send_stream(struct sim_conn *c, uint64_t total, uint64_t seed, bool shutdown_when_done);
void sim_recv_stream(struct sim_conn *c, uint64_t expected, uint64_t seed, bool need_eof);
void sim_recv_pause(struct sim_conn *c, bool paused);
/* Feeds and drains every conn now (also done after each turn). */
void sim_pump(struct sim *sim);
/* rx got all expected bytes (and EOF when need_eof), without a mismatch. */
bool sim_rx_complete(const struct sim_conn *c);
/* The stream's SHA-256 for [0, total). */
void sim_stream_digest(uint64_t seed, uint64_t total, uint8_t out[SHA256_DIGEST_LEN]);
void sim_stream_fill(uint64_t seed, uint64_t offset, uint8_t *buf, size_t len);

/* Predicates for sim_run_until (ctx: a struct sim_conn *). */
bool sim_pred_connected(struct sim *sim, void *conn);
bool sim_pred_closed(struct sim *sim, void *conn);
bool sim_pred_rx_eof(struct sim *sim, void *conn);
/* Every conn with an active consumer is complete (ctx unused). */
bool sim_pred_streams_done(struct sim *sim, void *ctx);

/* ---- A whole transfer ---- */
/* Opens a pair over a wire with the given impairment, moves bytes_ab from A
 * to B and bytes_ba from B to A at the same time (each ends with FIN),
 * checks both streams byte for byte and by SHA-256, then closes both ends
 * and checks that every connection is gone after TIME_WAIT. */
struct sim_transfer {
    const char *impair; /* NULL: clean wire */
    uint64_t bytes_ab;
    uint64_t bytes_ba;
    uint64_t seed;           /* stream seeds; also mixed into the stack seeds */
    uint64_t max_virtual_us; /* 0: one virtual hour */
    bool skip_close;         /* stop after the data, leave the connections */
    /* Results: */
    enum sim_rc rc;
    uint64_t virtual_us; /* handshake to last byte */
    struct toysock_tcp_info info_a, info_b;
    struct stack_stats stats_a, stats_b;
    char why[256]; /* the first failure, "" when it passed */
};
/* Returns true when everything checked out; otherwise why says what did not
 * (already printed to stderr). */
bool sim_transfer_run(struct sim_transfer *t);

/* Prints every conn's state and progress. */
void sim_dump_conns(struct sim *sim, FILE *out);

#endif
