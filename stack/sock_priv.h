/* The socket layer's shared parts: struct sock and the table, for the
 * stream (sock.c) and datagram (sock_dgram.c) halves. Private to them. */
#ifndef TOYSOCK_SOCK_PRIV_H
#define TOYSOCK_SOCK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl_proto.h"
#include "loop.h"
#include "sock.h"
#include "tcp.h"
#include "timer.h"
#include "toysock/tcp_info.h"

struct tcp_pcb;
struct udp_pcb;

#define SOCK_HASH_BUCKETS 1024
#define SOCK_SCRATCH 65536
#define SOCK_MAX 65536
#define SOCK_ZOMBIES_MAX 1024
/* Bytes the listener bridge may hold in accepted-but-unclaimed
 * connections; beyond it the stack keeps them in TCP's accept queue. */
#define LISTENER_BRIDGE_SNDBUF 32768

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum sock_kind { SOCK_KIND_STREAM, SOCK_KIND_LISTENER, SOCK_KIND_DGRAM };

struct sock {
    struct loop_watch watch; /* the stack end; fd -1 once closed */
    struct sock_table *table;
    struct sock *hash_next;
    struct sock *work_next; /* on the pending-work list */
    struct sock *zombie_next;
    dev_t prog_dev;
    ino_t prog_ino;
    enum sock_kind kind;
    struct tcp_pcb *pcb; /* NULL once released */
    struct udp_pcb *udp; /* SOCK_KIND_DGRAM */
    uint64_t dgram_cookie;
    uint32_t interest;   /* epoll events asked for */
    bool hup_seen;       /* the bridge reported EPOLLHUP */
    bool watch_parked;   /* out of epoll: a hang-up we cannot act on yet */
    bool on_work_list;
    bool zombie;

    /* TCP to program. */
    bool rx_blocked;    /* TCP holds data the full bridge did not take yet */
    bool fin_forwarded; /* our end shut for writing: the program reads EOF */
    bool rx_discard;    /* the program no longer reads: drop what arrives */

    /* Program to TCP. */
    bool tx_eof; /* the program shut down writing */

    /* Connect in progress. */
    bool connecting;
    bool connect_waiting; /* a CTL_F_WAIT request waits for the outcome */
    uint64_t connect_cookie;
    uint32_t connect_id;
    uint32_t filler_len;
    struct timer connect_timer;

    bool closed_event; /* TCP said CLOSED */
    int error;         /* pending error (SO_ERROR); cleared when read */
    int final_error;   /* what ended the connection (read/write status) */
    bool eof_seen;
    struct ctl_endpoint local, remote;
    /* TCP_INFO as it was when the pcb went back to TCP. */
    bool have_last_info;
    struct toysock_tcp_info last_info;
    struct tcp_options last_opts;

    /* Listener: an accepted connection the full bridge could not take. */
    struct sock *parked;
    int parked_fd;
    bool parked_retry; /* too many fds in flight: retry on a timer, not EPOLLOUT */
};

struct sock_table {
    struct loop *loop;
    sock_reply_fn reply;
    struct sock *buckets[SOCK_HASH_BUCKETS];
    unsigned count;
    struct sock *work;
    struct sock *zombies_head, *zombies_tail;
    unsigned zombie_count;
    uint8_t scratch[SOCK_SCRATCH];
};

/* Shared helpers (sock.c). */
struct sock_table *sock_table_of(const struct stack *stack);
void sock_set_interest(struct sock *s, uint32_t events);
void sock_mark_work(struct sock *s);
void sock_make_zombie(struct sock *s);

/* The datagram half (sock_dgram.c). */
int dgram_bind(struct sock *s, const struct ctl_msg *msg);
int dgram_connect(struct sock *s, const struct ctl_msg *msg);
void dgram_on_bridge(struct sock *s, uint32_t events);
void dgram_do_work(struct sock *s);
void dgram_release(struct sock *s);
int dgram_option(struct sock *s, const struct ctl_msg *msg, struct ctl_msg *reply);
void dgram_status(struct sock *s, struct ctl_msg *reply, bool clear);

#endif
