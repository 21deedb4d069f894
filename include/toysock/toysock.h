/* toysock: a user-space TCP/IP stack. This is the native C API: configure a
 * stack, start it (it runs in its own thread), talk to it, stop it.
 *
 * Errors are returned as negative errno values. Every call is safe from any
 * thread: calls become messages to the stack thread and never touch its
 * state directly. */
#ifndef TOYSOCK_TOYSOCK_H
#define TOYSOCK_TOYSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TOYSOCK_API __attribute__((visibility("default")))

enum toysock_log_level {
    TOYSOCK_LOG_ERROR,
    TOYSOCK_LOG_WARN,
    TOYSOCK_LOG_INFO,
    TOYSOCK_LOG_DEBUG,
    TOYSOCK_LOG_TRACE,
};

/* Everything a stack needs to come up. Addresses are in host byte order.
 * toysock_config_from_env() fills it from the TOYSOCK_* variables. */
struct toysock_config {
    char driver[16];  /* "tap" or "pcap" */
    char iface[16];   /* TAP device, or the interface pcap opens */
    uint32_t addr;
    uint8_t prefix_len;
    uint32_t gateway; /* 0: none */
    uint8_t mac[6];
    unsigned mtu;
    enum toysock_log_level log_level;
    char pcap_path[256]; /* "" : no capture */
    char log_file[256];  /* "" : stderr */
    char impair[128];    /* "" : no impairment; see TOYSOCK_IMPAIR */
    bool loopback_stack; /* TOYSOCK_LOOPBACK=stack */
    /* TCP tunables (TOYSOCK_TCP_*), kernel defaults from toysock_config_defaults. */
    unsigned tcp_syn_retries;
    unsigned tcp_timewait_ms;
};

/* Defaults for every field but the address. */
TOYSOCK_API void toysock_config_defaults(struct toysock_config *cfg);

/* Reads TOYSOCK_* from the environment. On a bad or missing setting returns
 * -EINVAL and writes one line naming the variable and the reason to err. */
TOYSOCK_API int toysock_config_from_env(struct toysock_config *cfg, char *err, size_t errlen);

struct toysock;

/* Brings a stack up on the configured link and starts its thread. On
 * failure returns a negative errno and explains in err. */
TOYSOCK_API int toysock_open(const struct toysock_config *cfg, struct toysock **out, char *err,
                             size_t errlen);
/* Stops the thread, closes the link and frees everything. */
TOYSOCK_API void toysock_close(struct toysock *ts);

/* Counters, by name. Fills up to max entries, returns how many exist. */
struct toysock_stat {
    const char *name;
    uint64_t value;
};
TOYSOCK_API int toysock_stats(struct toysock *ts, struct toysock_stat *out, size_t max);

/* Sends one ICMP echo request to dst (host order) with payload_len bytes of
 * payload and waits up to timeout_ms for the reply. Returns 0 and the round
 * trip in *rtt_us, -ETIMEDOUT, -EHOSTUNREACH (no ARP answer) or
 * -ENETUNREACH (no route). */
TOYSOCK_API int toysock_ping(struct toysock *ts, uint32_t dst, uint16_t seq, size_t payload_len,
                             int timeout_ms, uint64_t *rtt_us);

/* ---- TCP ----
 * A connection is a file descriptor (one end of a local socketpair that the
 * stack bridges to the TCP connection), so read, write, poll, epoll and
 * O_NONBLOCK work on it directly; the calls below add what a plain fd
 * cannot say (connect, accept, errors, TCP_INFO). Addresses are IPv4 in
 * host byte order. */
#include "toysock/tcp_info.h"

/* Connects to addr:port and waits for the handshake, at most timeout_ms
 * (0: TCP's own SYN retries). Returns the connection's fd, or
 * -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ENETUNREACH, ... */
TOYSOCK_API int toysock_tcp_connect(struct toysock *ts, uint32_t addr, uint16_t port,
                                    int timeout_ms);
/* Listens on addr:port (addr 0: any, port 0: ephemeral). Returns the
 * listener's fd; it is readable when a connection waits. */
TOYSOCK_API int toysock_tcp_listen(struct toysock *ts, uint32_t addr, uint16_t port,
                                   int backlog);
/* Takes the next connection (blocking unless the listener fd is
 * O_NONBLOCK: then -EAGAIN). peer_addr/peer_port may be NULL. */
TOYSOCK_API int toysock_tcp_accept(struct toysock *ts, int listen_fd, uint32_t *peer_addr,
                                   uint16_t *peer_port);
/* The local endpoint of a connection or listener. */
TOYSOCK_API int toysock_tcp_local(struct toysock *ts, int fd, uint32_t *addr, uint16_t *port);
/* write/read that report what ended the connection: -ECONNRESET,
 * -ETIMEDOUT, ... instead of a short EOF or EPIPE. recv returns 0 only at
 * the peer's orderly FIN. */
TOYSOCK_API ssize_t toysock_tcp_send(struct toysock *ts, int fd, const void *buf, size_t len);
TOYSOCK_API ssize_t toysock_tcp_recv(struct toysock *ts, int fd, void *buf, size_t len);
/* The connection's state and measurements. */
TOYSOCK_API int toysock_tcp_info(struct toysock *ts, int fd, struct toysock_tcp_info *info);
/* setsockopt-style options (SOL_SOCKET / IPPROTO_TCP names). */
TOYSOCK_API int toysock_tcp_setopt(struct toysock *ts, int fd, int level, int name,
                                   const void *value, unsigned len);

#ifdef __cplusplus
}
#endif

#endif
