/* The control channel's messages. A channel is a SOCK_SEQPACKET
 * connection to the stack's control listener, one per client thread; a
 * request and its reply are one fixed-size message each, matched by id.
 * Messages carry values only (no pointers), so a client may live in
 * another process; fds travel beside them as SCM_RIGHTS. */
#ifndef TOYSOCK_CTL_PROTO_H
#define TOYSOCK_CTL_PROTO_H

#include <stdint.h>

#define CTL_MAX_STATS 160

enum ctl_op {
    CTL_OP_STATS = 1,
    CTL_OP_PING,
};

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

struct ctl_msg {
    uint32_t op;
    uint32_t id;
    int32_t result; /* reply: >= 0, or -errno */
    uint32_t flags;
    union {
        struct ctl_ping ping;
        struct ctl_stats stats;
    } u;
};

/* The abstract socket name (leading NUL) of the control listener for a
 * link: derived from the network namespace and the interface, so it is
 * also the lock that lets one stack serve a link. Returns its length. */
unsigned ctl_socket_name(const char *iface, char *out, unsigned outlen);

#endif
