/* What socket.c shares with io.c and ctl.c: address conversion, requests
 * about one socket, bridge swaps and the status queries behind item 4. */
#ifndef TOYSOCK_SHIM_SOCK_H
#define TOYSOCK_SHIM_SOCK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "fdtable.h"

enum addr_kind {
    AK_ANY,      /* 0.0.0.0, or :: on a dual-stack socket */
    AK_V4,       /* an IPv4 address (plain or ::ffff:a.b.c.d) */
    AK_LOOPBACK, /* 127/8, ::1, ::ffff:127.x */
    AK_V6,       /* a pure IPv6 address: no IPv6 in the stack yet */
    AK_V6_ANY,   /* :: on an IPV6_V6ONLY socket */
};

struct sa_parsed {
    uint32_t addr; /* host order */
    uint16_t port; /* host order */
    enum addr_kind kind;
    bool unspec; /* AF_UNSPEC */
};

/* Parses an address given to bind/connect/sendto on socket s. 0 or -errno
 * (EINVAL, EAFNOSUPPORT as the kernel gives them). */
int sa_parse(const struct tsock *s, const struct sockaddr *sa, socklen_t len, bool for_bind,
             struct sa_parsed *out);
/* Writes addr:port in the socket's family (IPv4-mapped for AF_INET6) into
 * sa, truncated to *len; *len becomes the full size. */
void sa_store(int domain, uint32_t addr, uint16_t port, struct sockaddr *sa, socklen_t *len);

/* One request about s: names it by its program end (possession names
 * the socket to the stack); the first request hands over the pending stack end, or
 * extra_fd when given. Records replies' endpoints. */
int tsock_request(struct tsock *s, int fd, struct ctl_msg *msg, int timeout_ms, int extra_fd);
/* The connection's final error for a read/write that saw EOF, EPIPE or
 * ECONNRESET (CTL_OP_SOCK_STATUS with CTL_F_CLEAR_ERROR; item 4), or 0. */
int tsock_final_error(struct tsock *s, int fd);
/* Puts SO_SNDBUF back once the connect filler is consumed (item 1). */
void tsock_filler_settle(struct tsock *s, int fd);
/* Datagram sockets: bind to an ephemeral port before the first send. */
int tsock_udp_autobind(struct tsock *s, int fd);
/* Replaces fd by a kernel socket of the same kind (loopback, item 13).
 * On success fd is no longer in the table. */
int tsock_swap_to_kernel(int fd, struct tsock *s);
/* For an AF_UNIX fd the table does not know: asks the stack whether it is
 * one of its bridges (item 9), and records it if so. */
struct tsock *tsock_adopt(int fd);

/* The socket behind fd for a control-path call: validated, NULL when not
 * ours (or when the shim must stay out: vfork child, internal thread). */
struct tsock *tsock_lookup_ctl(int fd);
/* What the stack says of a connect in progress: its error (consumed when
 * clear), 0 otherwise; *established when the handshake is done. */
int tsock_connect_progress(struct tsock *s, int fd, bool clear, bool *established);

enum opt_kind {
    OPT_STACK,  /* answered by the stack (SETOPT/GETOPT), recorded for replay */
    OPT_NATIVE, /* applied on the bridge as well as recorded (timeouts) */
    OPT_CACHE,  /* kept by the shim only */
    OPT_RDONLY, /* getsockopt only */
};
/* An enum opt_kind, or -ENOPROTOOPT (sockopt.c). */
int tsock_opt_classify(const struct tsock *s, int level, int name);

/* The AF_UNIX type of a bridge: a byte stream for TCP; SOCK_SEQPACKET for
 * UDP (message boundaries and MSG_TRUNC lengths like SOCK_DGRAM, and the
 * hang-up of a closed end is seen, which a datagram pair never shows). */
static inline int tsock_bridge_type(int type)
{
    return type == SOCK_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
}

/* Raises SIGPIPE on the calling thread, as the kernel does for EPIPE
 * without MSG_NOSIGNAL. */
void shim_raise_sigpipe(void);

#endif
