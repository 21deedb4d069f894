/* The shim's per-fd cache: which of the program's fds are toysock sockets
 * and what the shim knows about them. A socket is a struct tsock shared by
 * every fd that refers to it (dup, dup2, fcntl F_DUPFD), reference
 * counted. The table is a cache validated by (st_dev, st_ino) of the
 * program end on every control-plane call (item 9); the read/write/close
 * paths only read it, with no lock and no allocation (item 16). */
#ifndef TOYSOCK_SHIM_FDTABLE_H
#define TOYSOCK_SHIM_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "ctl_proto.h"

enum tsock_state {
    TS_UNCONNECTED, /* never connected, or a failed connect was reported */
    TS_CONNECTING,  /* connect sent, outcome not seen yet */
    TS_CONNECTED,
    TS_LISTENING,
};

/* A recorded setsockopt: replayed when the socket first reaches the stack
 * (options set before that have nowhere else to go), onto a fresh bridge
 * (the native ones) and onto a kernel socket swapped in for loopback. */
#define TS_OPT_VAL_MAX 40
struct ts_opt {
    int32_t level;
    int32_t name;
    uint32_t len;
    uint8_t val[TS_OPT_VAL_MAX];
};
#define TS_MAX_OPTS 24

/* An epoll registration of one of the socket's fds, re-added after the fd
 * is replaced with dup2 (listen, loopback swap, fresh bridge; item 13). */
struct ts_epreg {
    int epfd;
    int fd;
    struct epoll_event ev;
};
#define TS_MAX_EPOLL 8

struct tsock {
    atomic_int refs;
    atomic_flag lock; /* short sections on the option and epoll lists only */
    int domain;       /* AF_INET or AF_INET6, as socket() was asked */
    int type;         /* SOCK_STREAM or SOCK_DGRAM */
    int protocol;     /* IPPROTO_TCP or IPPROTO_UDP */
    atomic_int state; /* enum tsock_state */
    dev_t dev;        /* the program end's identity */
    ino_t ino;
    /* The stack end kept by the shim (hidden, >= 1024) until the first
     * request hands it over; -1 after that. */
    int stack_end;
    bool contacted;    /* the stack knows the socket */
    bool fresh_needed; /* the bridge is spent (failed connect, fork child) */
    bool bound;        /* local holds the bound address */
    bool v6only;
    bool reuseaddr;
    bool reuseport;
    bool udp_connected;
    bool shut_wr;
    atomic_bool filler_pending; /* SO_SNDBUF shrunk for a connect (item 1) */
    int saved_sndbuf;           /* the program end's SO_SNDBUF before */
    int connect_error;          /* a failed connect's error not yet reported */
    struct ctl_endpoint local;
    struct ctl_endpoint remote;
    uint64_t cookie; /* datagram bridge cookie */
    unsigned nopts;
    struct ts_opt opts[TS_MAX_OPTS];
    unsigned nep;
    struct ts_epreg ep[TS_MAX_EPOLL];
    struct tsock *next_free;
};

/* A new socket object (refs 1), zeroed with stack_end -1; NULL when
 * memory is exhausted. Control path only. */
struct tsock *tsock_new(void);
void tsock_ref(struct tsock *s);
/* Drops a reference; the last closes the hidden fds and recycles the
 * object. Safe on the close path (syscalls only). */
void tsock_unref(struct tsock *s);

/* The socket behind fd, unvalidated (data paths), or NULL. */
struct tsock *fdt_get(int fd);
/* Validated: fstat(fd) must match the socket's program end; a stale entry
 * is dropped. st receives the fstat result when not NULL. */
struct tsock *fdt_lookup(int fd);
/* Points fd at s (taking a reference); a previous entry is released. */
int fdt_set(int fd, struct tsock *s);
/* Forgets fd. */
void fdt_clear(int fd);
/* Forgets every fd in [first, last]. */
void fdt_clear_range(unsigned first, unsigned last);
/* Calls fn for every fd with an entry (fork child, exit linger). */
void fdt_for_each(void (*fn)(int fd, struct tsock *s, void *arg), void *arg);

/* Option and epoll records (lock held briefly). */
void tsock_lock(struct tsock *s);
void tsock_unlock(struct tsock *s);
const struct ts_opt *tsock_opt_find(struct tsock *s, int level, int name);
/* Records (or replaces) an option; false when the record is full. */
bool tsock_opt_record(struct tsock *s, int level, int name, const void *val, unsigned len);
void tsock_ep_record(struct tsock *s, int epfd, int op, int fd, const struct epoll_event *ev);
void tsock_ep_forget_epfd(int epfd);

/* Identity of an fd for the table. */
bool fd_identity(int fd, dev_t *dev, ino_t *ino);

#endif
