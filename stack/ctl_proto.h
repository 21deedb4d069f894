/* The control channel's messages. A channel is a SOCK_SEQPACKET
 * connection to the stack's control listener, one per client thread; a
 * request and its reply are one fixed-size message each, matched by id.
 * Messages carry values only (no pointers), so a client may live in
 * another process; fds travel beside them as SCM_RIGHTS. */
#ifndef TOYSOCK_CTL_PROTO_H
#define TOYSOCK_CTL_PROTO_H

#include <stdint.h>
#include <sys/socket.h>

#define CTL_MAX_STATS 160

enum ctl_op {
    CTL_OP_STATS = 1,
    CTL_OP_PING,
    /* Socket operations. The first fd passed with a socket request is the
     * program's end of the bridge: possession names (and authorises) the
     * socket. A second fd, when present, is a new stack end for it. */
    CTL_OP_SOCK_BIND,    /* fds: program end, stack end */
    CTL_OP_SOCK_LISTEN,  /* fds: program end [, seqpacket stack end, its program end] */
    CTL_OP_SOCK_CONNECT, /* fds: program end [, stream stack end] */
    CTL_OP_SOCK_STATUS,  /* fds: program end */
    CTL_OP_SOCK_SETOPT,  /* fds: program end */
    CTL_OP_SOCK_GETOPT,  /* fds: program end */
    CTL_OP_HELLO,        /* a joiner asks for the stack's configuration */
    CTL_OP_USAGE,        /* who still needs the stack (exit: hand over or stop) */
};

/* Request flags. */
#define CTL_F_WAIT 1u        /* connect: reply when the handshake ends */
#define CTL_F_REUSEADDR 2u   /* bind/listen: SO_REUSEADDR was set */
#define CTL_F_CLEAR_ERROR 4u /* status: consume the pending error, as SO_ERROR does */
#define CTL_F_REUSEPORT 8u   /* bind: SO_REUSEPORT was set */

struct ctl_ping {
    uint32_t dst;
    uint16_t seq;
    uint16_t pad;
    uint32_t payload_len;
    uint32_t timeout_ms;
    uint64_t rtt_us; /* reply */
};

struct ctl_stats {
    uint32_t count;
    uint32_t pad;
    uint64_t values[CTL_MAX_STATS];
};

/* IPv4 endpoint in host order (the family field leaves room for IPv6). */
struct ctl_endpoint {
    uint32_t addr;
    uint16_t port;
    uint16_t family;
};

struct ctl_sock {
    struct ctl_endpoint local;  /* bind; reply: the bound address */
    struct ctl_endpoint remote; /* connect; reply: the peer */
    int32_t backlog;
    uint32_t timeout_ms;  /* connect with CTL_F_WAIT: 0 for TCP's own limit */
    uint32_t filler_len;  /* connect: bytes the program wrote to hold POLLOUT back */
    int32_t error;        /* status reply: pending error (positive errno) */
    uint32_t state;       /* status reply: enum tcp_state */
    uint32_t eof;         /* status reply: the peer's FIN was delivered */
    uint32_t proto;       /* IPPROTO_TCP or IPPROTO_UDP (0: from the bridge type) */
    uint64_t cookie;      /* datagram sockets: the bridge's header cookie */
};

/* Datagram (UDP) bridges are SOCK_SEQPACKET pairs, not SOCK_DGRAM: a
 * connected AF_UNIX datagram socket never learns that its peer closed,
 * a seqpacket one sees the hang-up, and both keep message boundaries and
 * MSG_TRUNC lengths. Every datagram crossing a datagram bridge starts with
 * this header,
 * which the program never sees. Program to stack: the destination (addr 0:
 * the connected peer) and the bridge's cookie, so a datagram written
 * behind the shim's back (a raw syscall) is recognised as bare payload.
 * Stack to program: the source, or with DGRAM_F_ERROR an error record
 * (errno in error) that the next receive reports. */
#define DGRAM_F_ERROR 1u

struct dgram_hdr {
    uint64_t cookie;
    uint32_t addr; /* host order */
    uint16_t port;
    uint16_t flags;
    int32_t error;
    uint32_t pad;
};

#define CTL_OPT_MAX 256

struct ctl_opt {
    int32_t level;
    int32_t name;
    uint32_t len;
    uint8_t value[CTL_OPT_MAX];
};

/* What the stack sends, with the connection's bridge fd, over a listener
 * bridge for each accepted connection. */
struct ctl_accept_hdr {
    struct ctl_endpoint local;
    struct ctl_endpoint remote;
};

struct ctl_hello {
    uint32_t addr;
    uint32_t gateway;
    uint32_t mtu;
    uint8_t prefix_len;
    uint8_t pad[3];
    int32_t pid; /* the process whose thread runs the stack */
};

struct ctl_usage {
    uint32_t live_sockets;    /* bridges still open */
    uint32_t unfinished;      /* TCP connections with work left */
    uint32_t foreign_clients; /* channels from other processes */
};

struct ctl_msg {
    uint32_t op;
    uint32_t id;
    int32_t result; /* reply: >= 0, or -errno */
    uint32_t flags;
    union {
        struct ctl_ping ping;
        struct ctl_stats stats;
        struct ctl_sock sock;
        struct ctl_opt opt;
        struct ctl_hello hello;
        struct ctl_usage usage;
    } u;
};

#define CTL_MAX_FDS 3

/* Room for the SCM_RIGHTS of one request. */
union ctl_control {
    char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
    struct cmsghdr align;
};

/* Prepares mh (with iov and control, which the caller keeps alive) to send
 * msg with nfds fds beside it; the caller sends it with its own sendmsg. */
void ctl_msghdr_for_request(struct msghdr *mh, struct iovec *iov, union ctl_control *control,
                            const struct ctl_msg *msg, const int *fds, unsigned nfds);
/* The fd that came with a received message (the first SCM_RIGHTS fd; any
 * others are closed), or -1. */
int ctl_msghdr_take_fd(struct msghdr *mh);

/* The abstract socket name (leading NUL) of the control listener for a
 * link: derived from the network namespace and the interface, so it is
 * also the lock that lets one stack serve a link. Returns its length. */
unsigned ctl_socket_name(const char *iface, char *out, unsigned outlen);

#endif
